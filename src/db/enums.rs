//! The seed's enumerated columns as Rust types. Each maps 1:1 onto the CHECK of its
//! column, so a value that parses here is one the table accepts.

use serde::{Deserialize, Serialize};

use super::DbError;

macro_rules! str_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The column's values, as the CHECK lists them.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the column's text; an unknown value names the column.
            pub fn parse(s: &str) -> Result<$name, DbError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(DbError::invalid(
                        $field,
                        format!("{other:?} is not one of {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl super::engine::Column for $name {
            fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
                $name::parse(&String::from_sqlite(v)?).map_err(|e| e.to_string())
            }
            fn from_mysql(v: &mysql_async::Value) -> Result<Self, String> {
                $name::parse(&String::from_mysql(v)?).map_err(|e| e.to_string())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// `numhub_entities.entity_type`.
    EntityType, "entity_type" { Enterprise = "enterprise", Bpo = "bpo", Direct = "direct" }
);

str_enum!(
    /// `numhub_entities.status`: our own view of where an application stands.
    EntityStatus, "status" {
        Draft = "draft",
        Submitted = "submitted",
        PendingVetting = "pending_vetting",
        Approved = "approved",
        Rejected = "rejected",
    }
);

str_enum!(
    /// `numhub_entities.vetting_status`.
    VettingStatus, "vetting_status" {
        Pending = "pending",
        InReview = "in_review",
        Approved = "approved",
        Rejected = "rejected",
    }
);

str_enum!(
    /// `numhub_entities.attestation_level` (STIR/SHAKEN).
    AttestationLevel, "attestation_level" { A = "A", B = "B", C = "C" }
);

str_enum!(
    /// `numhub_identities.status`.
    IdentityStatus, "status" { Active = "active", Inactive = "inactive", Pending = "pending" }
);

str_enum!(
    /// `documents.source`: where a local document came from.
    DocumentSource, "source" { DropFolder = "drop_folder", Rpc = "rpc" }
);

str_enum!(
    /// `numhub_documents.document_type`: the seed's values plus `logo`.
    DocumentType, "document_type" {
        Loa = "loa",
        BusinessLicense = "business_license",
        TaxId = "tax_id",
        Other = "other",
        Logo = "logo",
    }
);

str_enum!(
    /// `numhub_documents.status`.
    DocumentStatus, "status" {
        Pending = "pending",
        Uploaded = "uploaded",
        Verified = "verified",
        Rejected = "rejected",
    }
);

str_enum!(
    /// `numhub_sync_logs.method`.
    HttpMethod, "method" { Get = "GET", Post = "POST", Put = "PUT", Delete = "DELETE" }
);

str_enum!(
    /// `numhub_sync_logs.direction`.
    Direction, "direction" { Outbound = "outbound", Inbound = "inbound" }
);

str_enum!(
    /// `numhub_tokens.token_type`.
    TokenType, "token_type" { Access = "access", Refresh = "refresh" }
);

str_enum!(
    /// `jobs.kind`: what an outbox job does at NumHub.
    JobKind, "kind" {
        EntityCreate = "entity.create",
        EntityUpdate = "entity.update",
        EntitySubmit = "entity.submit",
        DocumentUpload = "document.upload",
        DocumentDelete = "document.delete",
        IdentityUpdate = "identity.update",
        IdentityDeactivate = "identity.deactivate",
        IdentityNumbersAdd = "identity.numbers.add",
        IdentityNumbersRemove = "identity.numbers.remove",
    }
);

str_enum!(
    /// `jobs.state`: where an outbox job stands (migrations V2 and V4 say what each
    /// means).
    JobState, "state" {
        Queued = "queued",
        Running = "running",
        Failed = "failed",
        Waiting = "waiting",
        Done = "done",
        Dead = "dead",
        NeedsAttention = "needs_attention",
    }
);

impl JobKind {
    /// Whether the job changes what NumHub reports of its application (the status):
    /// the poller lets a queued one win over NumHub's word. A document's upload or
    /// delete and an identity's change leave the application's status alone.
    pub fn changes_application_status(self) -> bool {
        use JobKind::*;
        match self {
            // A PUT of the application can move its status at NumHub (a "Saved"
            // rejected application), as a create and a submit do.
            EntityCreate | EntityUpdate | EntitySubmit => true,
            DocumentUpload
            | DocumentDelete
            | IdentityUpdate
            | IdentityDeactivate
            | IdentityNumbersAdd
            | IdentityNumbersRemove => false,
        }
    }
}

impl EntityStatus {
    /// The local status flow: the seed's `draft → submitted → pending_vetting →
    /// approved | rejected`, plus `rejected → submitted` (NumHub's `Resubmitted`).
    pub fn may_become(self, to: EntityStatus) -> bool {
        use EntityStatus::*;
        matches!(
            (self, to),
            (Draft, Submitted)
                | (Submitted, PendingVetting)
                | (PendingVetting, Approved)
                | (PendingVetting, Rejected)
                | (Rejected, Submitted)
        )
    }
}
