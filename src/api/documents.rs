//! Documents of an application (LOA, logo, business documents): `document.*`.

use serde_json::Value;

use crate::api::rows::{ChildQuery, Page, RowRef, WithSync};
use crate::api::schema::{id, local_id, sha256, string, text, time, wait_s, wire, wire_enum};
use crate::api::{methods, Method};

methods! {
    /// Registers a file under `[rpc] upload_dirs` for upload; queued for NumHub.
    "document.upload" => DocumentUpload(DocumentFile) -> WithSync<Document>;
    "document.list" => DocumentList(ChildQuery) -> Page<WithSync<Document>>;
    "document.get" => DocumentGet(RowRef) -> WithSync<Document>;
    /// Queues the removal of a document at NumHub.
    "document.delete" => DocumentDelete(RowRef) -> WithSync<Document>;
}

wire_enum! {
    /// What a document is (the seed's values plus `logo`).
    DocumentType {
        Loa = "loa",
        BusinessLicense = "business_license",
        TaxId = "tax_id",
        Other = "other",
        Logo = "logo",
    }
}

wire_enum! {
    /// Where a document stands at NumHub.
    DocumentStatus {
        Pending = "pending",
        Uploaded = "uploaded",
        Verified = "verified",
        Rejected = "rejected",
    }
}

wire! { params
    /// `document.upload`: a file under `[rpc] upload_dirs`.
    pub struct DocumentFile {
        pub tenant_id: i64 = id(),
        pub entity_id: String = local_id(),
        pub document_type: DocumentType,
        pub path: String = string(4096),
        pub description: Option<String> = text(500),
        pub wait_s: Option<u64> = wait_s(),
    }
}

wire! { result
    /// A document of an application.
    #[derive(PartialEq)]
    pub struct Document {
        pub id: String,
        /// The local entity it belongs to.
        pub entity_id: String,
        pub local_document_id: Option<i64>,
        pub numhub_document_id: Option<String>,
        pub document_type: DocumentType,
        pub filename: String,
        pub status: DocumentStatus,
        pub api_response: Option<Value>,
        pub uploaded_at: Option<String> = time(),
        /// The file's hash, when the file was ours.
        pub sha256: Option<String> = sha256(),
        pub created_at: String = time(),
        pub updated_at: String = time(),
    }
}
