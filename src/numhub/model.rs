//! The document's request and response shapes, written from
//! `brandcontrol-v1.swagger.json` (field names verbatim). Every field is optional:
//! the document is strict about names but marks almost nothing required, and NumHub
//! may add fields (unknown ones are ignored). `None` is left out of request bodies.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A struct whose fields are all `Option`, camelCase on the wire, lenient on input.
macro_rules! dto {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", default)]
        pub struct $name {
            $( $(#[$fm])* #[serde(skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>, )*
        }
    };
}

dto!(
    /// `AccessModel`: the token operation's answer.
    AccessModel { access_token: String, token_type: String, expires_in: i64,
        user: serde_json::Value, user_roles: Vec<serde_json::Value>, user_clients: Vec<UserClientsDto> }
);
dto!(UserClientsDto {
    user_id: i32,
    client_id: i32,
    client_name: String,
    resp_org_id: String,
    osp_id: String,
    assigned: bool,
    has_bcid: bool,
    is_osp: bool
});

/// `BrandControlApiResponse`: `{success, message, result}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Envelope<T> {
    pub success: Option<bool>,
    pub message: Option<String>,
    pub result: Option<T>,
}

dto!(ApplicantInformation { first_name: String, last_name: String, email_address: String,
    phone_number: String, osp_ids: Vec<String>, is_verified: bool });
dto!(BusinessEntityDetails {
    legal_business_name: String,
    business_website: String,
    primary_business_address: String,
    city: String,
    state: String,
    phone: String,
    originating_service_provider: String,
    zip_code: String
});
dto!(BusinessIdentityDetails {
    federal_employer_id_number: String,
    dun_and_bradstreet_number: String,
    state_corporate_registration_number: String,
    state_professional_license_number: String,
    primary_business_domain_sic_code: String
});
dto!(ConsumerProtectionContacts {
    consumer_complaint_email: String,
    consumer_complaint_phone_number: String,
    data_privacy_website_url: String
});
dto!(BusinessAgentOfRecord {
    institution_name: String,
    street_address: String,
    city: String,
    state: String,
    zip_code: String,
    contact_name: String,
    phone_number: String,
    email_address: String
});
dto!(ApplicationRefDetails {
    email: String,
    status: String,
    id: Uuid,
    isverified: bool
});
dto!(References {
    reference_one_name: String,
    reference_one_title: String,
    reference_one_phone: String,
    reference_one_email: String,
    reference_two_name: String,
    reference_two_title: String,
    reference_two_phone: String,
    reference_two_email: String,
    financial_institution_name: String,
    street_address: String,
    city: String,
    state: String,
    zip_code: String,
    contact_name: String,
    phone_number: String,
    email_address: String,
    #[serde(rename = "applicationRef1Details")]
    application_ref1_details: ApplicationRefDetails,
    #[serde(rename = "applicationRef2Details")]
    application_ref2_details: ApplicationRefDetails
});
dto!(
    /// `PhoneNumberInfo` (create) and `PhoneNumber` (update: the same plus
    /// `numhubIdentityId`, which names an identity NumHub already gave an id).
    PhoneNumberInfo { numhub_identity_id: Uuid, phone_numbers: Vec<String>, caller_name: String,
        logo_url: String, call_reason: String }
);
dto!(
    /// `DisplayIdentityInfo` (create) and `DisplayIdentityModel` (update).
    DisplayIdentityInfo { display_identities: Vec<PhoneNumberInfo>, loa_url: String }
);
dto!(RegisterCertificate {
    full_name: String,
    date: String,
    certified: bool,
    is_fee_checked: bool
});

/// `status` of `SaveBCApplicationModel` and `UpdateBCApplicationModel`: what the
/// create or update does ("1: Saved - To Save the Application. 2: Submit - To submit
/// the application for processing").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteStatus {
    Saved,
    Submit,
}

dto!(
    /// `SaveBCApplicationModel` (create) and `UpdateBCApplicationModel` (update, which
    /// is also how an application is submitted: the same plus `applicationId`,
    /// `modifiedSections`, and identity ids in `displayIdentities`).
    ApplicationModel { application_id: String, modified_sections: Vec<String>,
        applicant_information: ApplicantInformation, business_entity_details: BusinessEntityDetails,
        business_identity_details: BusinessIdentityDetails,
        consumer_protection_contacts: ConsumerProtectionContacts,
        business_agent_of_record: BusinessAgentOfRecord, references: References,
        display_identity_information: DisplayIdentityInfo, register_certificate: RegisterCertificate,
        section: i32, status: WriteStatus }
);

dto!(
    /// `CreateEntityResponseModel`.
    CreateEntityResponse { numhub_entity_id: Uuid, application_id: String, eid: String }
);

dto!(GetNewDisplayIdentityInfo { numhub_identity_id: Uuid, dir_id: String, phone_numbers: Vec<String>,
    caller_name: String, logo_url: String, logo_id: Uuid, call_reason: String, status: String,
    created_date: String, updated_date: String, updated_by: String, activation_date: String });
dto!(GetNewDisplayIdentity { display_identities: Vec<GetNewDisplayIdentityInfo>, loa_url: String, loa_id: Uuid });
dto!(DocumentsDto {
    document_id: Uuid,
    name: String,
    url: String,
    created_date: String,
    modified_date: String,
    created_by: String
});

dto!(
    /// `GetBCApplicationDto` (get, view). The vetting report's
    /// `GetVettedApplicationDto` has the same top level with per-section vetting
    /// fields; it is kept as JSON ([`VettingReport`]).
    Application { numhub_entity_id: Uuid, application_id: String, section: i32, client_id: i32,
        certified_role: String, status: String, applicant_information: ApplicantInformation,
        business_entity_details: BusinessEntityDetails, business_identity_details: BusinessIdentityDetails,
        consumer_protection_contacts: ConsumerProtectionContacts,
        business_agent_of_record: BusinessAgentOfRecord, references: References,
        display_identity_information: GetNewDisplayIdentity, register_certificate: RegisterCertificate,
        documents: Vec<DocumentsDto>, created_date: String, last_updated_date: String,
        last_updated_by: String, eid: String, business_id: String, verification_count: i32 }
);

impl Application {
    /// The application as NumHub holds it, as the `UpdateBCApplicationModel` that
    /// writes it back unchanged apart from `status`: every section as read, each
    /// display identity with its `numhubIdentityId` (so none is taken for a new one or
    /// left out) and its numbers as NumHub wrote them. Read-only fields (`documents`,
    /// dates, `eid`, the identities' `dirId`/`status`/dates, `loaId`) have no place in
    /// the update model and are left out.
    pub fn into_update(self, status: WriteStatus) -> ApplicationModel {
        let identities = self
            .display_identity_information
            .map(|d| DisplayIdentityInfo {
                display_identities: d.display_identities.map(|list| {
                    list.into_iter()
                        .map(|i| PhoneNumberInfo {
                            numhub_identity_id: i.numhub_identity_id,
                            phone_numbers: i.phone_numbers,
                            caller_name: i.caller_name,
                            logo_url: i.logo_url,
                            call_reason: i.call_reason,
                        })
                        .collect()
                }),
                loa_url: d.loa_url,
            });
        ApplicationModel {
            application_id: self.application_id,
            modified_sections: None,
            applicant_information: self.applicant_information,
            business_entity_details: self.business_entity_details,
            business_identity_details: self.business_identity_details,
            consumer_protection_contacts: self.consumer_protection_contacts,
            business_agent_of_record: self.business_agent_of_record,
            references: self.references,
            display_identity_information: identities,
            register_certificate: self.register_certificate,
            section: self.section,
            status: Some(status),
        }
    }
}

/// `GetVettedApplicationDto`: every section carries `vettingReview`, `comments`,
/// `path`, `documentName`; callers read what they need from the JSON.
pub type VettingReport = serde_json::Value;

dto!(
    /// `AttestationResponseDto`: one application in the attestation list.
    AttestationItem { numhub_entity_id: Uuid, last_modified_date: String, applicant_name: String,
        company_name: String, status: String, eid: String, logo_url: String, telephone_numbers: i32 }
);
dto!(
    /// `AttestationResponseDtoPaginatedResult`.
    AttestationPage { total_count: i32, page_number: i32, page_size: i32, results: Vec<AttestationItem> }
);

dto!(
    /// `EntitiesResponseDto`-shaped items of `completedEntities` (the document leaves
    /// `result` untyped).
    CompletedEntity { numhub_entity_id: Uuid, application_id: String, company_name: String,
        client_id: i32, user_name: String, logo_url: String, tn_count: i32, status: String,
        created_date: String, modified_date: String, eid: String, is_flagged: bool,
        has_pending_change_request: bool }
);

dto!(DocumentItem {
    id: Uuid,
    url: String,
    name: String,
    created_date: String,
    created_by: String
});
dto!(
    /// `UploadDocumentResponseModel`.
    UploadDocumentResponse { documents: Vec<DocumentItem> }
);
dto!(
    /// `DeleteDocumentResponseModel` (documents and additional TNs).
    DeleteResponse { success: bool, message: String }
);

dto!(
    /// `NewDisplayIdentityDto`: one item of the identity list.
    DisplayIdentityListItem { company_name: String, dir_id: String, logo_url: String, status: String,
        tele_phone_count: i32, numhub_identity_id: Uuid, modified_date: String, caller_name: String,
        numhub_entity_id: Uuid, change_request_id: i64, eid: String }
);
dto!(DisplayIdentityMetadata { caller_name: String, call_reason: String, logo_url: String, dir_id: String,
    activation_date: String, deactivation_date: String, modified_date: String, company_name: String,
    eid: String, numhub_entity_id: Uuid, numhub_identity_id: Uuid, status: String,
    additional_tns_path: String, is_fee_checked: bool, phone_numbers: Vec<String> });
dto!(DisplayIdentitiesChangeRequest {
    change_request_id: i64,
    numhub_identity_id: Uuid,
    dir_id: String,
    is_deactivation_request: bool,
    old_metadata: DisplayIdentityMetadata,
    new_metadata: DisplayIdentityMetadata,
    status: String,
    notes: String
});
dto!(
    /// `DisplayIdentityByIdResponseDto`.
    DisplayIdentity { caller_name: String, call_reason: String, logo_url: String, dir_id: String,
        activation_date: String, deactivation_date: String, modified_date: String, company_name: String,
        eid: String, numhub_entity_id: Uuid, numhub_identity_id: Uuid, status: String,
        additional_tns_path: String, is_fee_checked: bool, phone_numbers: Vec<String>,
        display_identities_change_request: DisplayIdentitiesChangeRequest }
);
dto!(ChangeRequestDto {
    change_request_id: i64,
    numhub_identity_id: Uuid,
    dir_id: String,
    is_deactivation_request: bool,
    old_metadata: DisplayIdentityMetadata,
    new_metadata: DisplayIdentityMetadata
});
dto!(
    /// `NewDisplayIdentityInfoUpdateRequestDto` (`dirId` at most 36 characters).
    DisplayIdentityUpdate { numhub_entity_id: Uuid, numhub_identity_id: Uuid, caller_name: String,
        dir_id: String, logo_url: String, call_reason: String, status: String, is_deactivation: bool,
        tn_added: Vec<String>, tn_removed: Vec<String>, additional_tns_path: String,
        is_fee_checked: bool, display_identities_change_request: ChangeRequestDto }
);
dto!(
    /// `DisplayIdentitiesDeactivationRequestDto` (one object, not an array).
    DeactivationRequest { numhub_identity_id: Uuid, dir_id: String, is_deactivation_request: bool }
);
dto!(
    /// `ChangeRequestResult`.
    ChangeRequestResult { change_request_id: i64 }
);

dto!(
    /// `AlertResponse`.
    Alert { company_name: String, client_id: i32, message: String }
);
dto!(
    /// `FlaggedComments`: one flagged section of an application and NumHub's comment.
    FlaggedComments { section_number: i32, section_name: String, comments: String }
);
dto!(
    /// `FlaggedResponse`: an application's flagged comments.
    FlaggedResponse { company_name: String, flagged_comments: Vec<FlaggedComments>,
        current_status: String, creation_date: String, eid: String }
);
dto!(EntityDetails {
    company_name: String,
    user_name: String,
    status: String
});
dto!(
    /// `ReportResponseDto`.
    StatusReport { entities: Vec<EntityDetails>, total_count: i32,
        status_count: std::collections::BTreeMap<String, i32> }
);

/// `DocumentType` of the upload form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    Loa,
    Logo,
    Documents,
}

impl DocumentType {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::Loa => "LOA",
            DocumentType::Logo => "LOGO",
            DocumentType::Documents => "DOCUMENTS",
        }
    }
}

/// One file to send, streamed from disk.
#[derive(Debug, Clone)]
pub struct UploadFile {
    pub path: std::path::PathBuf,
    /// The name NumHub sees.
    pub file_name: String,
    /// This part's own `Content-Type` (e.g. `application/pdf`, `image/bmp`, `text/csv`).
    pub content_type: String,
    /// The SHA-256 (lower-case hex) the file must have: checked while it is sent,
    /// and a file without it never reaches NumHub whole (see `file_body`).
    pub sha256: Option<String>,
}

/// A window and page of the display-identity list.
#[derive(Debug, Clone, Default)]
pub struct IdentityQuery {
    pub page_number: Option<i32>,
    pub page_size: Option<i32>,
    pub search_key: Option<String>,
    /// RFC 3339 (NumHub filters on the identity's modification date).
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}
