//! NumHub's values onto the seed's, in one place. The document's application status
//! enum is `Saved, Submitted, Resubmitted, PendingReview, InProgress, Complete,
//! Rejected`; it never says what each means, so the match is by name (see
//! docs/ARCHITECTURE.md). A value this table does not know maps to `None`: the
//! caller keeps the row's last valid value, keeps the raw answer in `api_response`,
//! and counts the anomaly — an unknown value never breaks a CHECK.

use crate::db::{EntityStatus, IdentityStatus, VettingStatus};

/// Every application status the document defines, verbatim.
pub const NUMHUB_APPLICATION_STATUSES: &[&str] = &[
    "Saved",
    "Submitted",
    "Resubmitted",
    "PendingReview",
    "InProgress",
    "Complete",
    "Rejected",
];

/// `numhub_entities.status` and `.vetting_status` for a NumHub application status.
pub fn application_status(numhub: &str) -> Option<(EntityStatus, VettingStatus)> {
    use EntityStatus as S;
    use VettingStatus as V;
    Some(match numhub {
        "Saved" => (S::Draft, V::Pending),
        "Submitted" | "Resubmitted" => (S::Submitted, V::Pending),
        "PendingReview" => (S::PendingVetting, V::Pending),
        "InProgress" => (S::PendingVetting, V::InReview),
        "Complete" => (S::Approved, V::Approved),
        "Rejected" => (S::Rejected, V::Rejected),
        _ => return None,
    })
}

/// `numhub_identities.status` for a display identity's status. The document gives
/// the field no enum, so this matches case-insensitively on the words NumHub's
/// own values are likely to use; anything else is unknown.
pub fn identity_status(numhub: &str) -> Option<IdentityStatus> {
    match numhub.trim().to_ascii_lowercase().as_str() {
        "active" | "activated" | "complete" | "completed" | "approved" => {
            Some(IdentityStatus::Active)
        }
        "inactive" | "deactivated" | "rejected" | "deleted" => Some(IdentityStatus::Inactive),
        "pending" | "submitted" | "inprogress" | "in progress" | "pendingreview" | "saved" => {
            Some(IdentityStatus::Pending)
        }
        _ => None,
    }
}

/// The NumHub `DocumentType` a local document type is uploaded as.
pub fn numhub_document_type(kind: crate::db::DocumentType) -> &'static str {
    use crate::db::DocumentType as D;
    match kind {
        D::Loa => "LOA",
        D::Logo => "LOGO",
        D::BusinessLicense | D::TaxId | D::Other => "DOCUMENTS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of the document's enum has a mapping, read from the document itself.
    #[test]
    fn every_status_in_the_document_is_mapped() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/numhub/brandcontrol-v1.swagger.json"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("document")).expect("json");
        let values = doc["components"]["schemas"]["GetBCApplicationDto"]["properties"]["status"]
            ["enum"]
            .as_array()
            .expect("status enum");
        assert_eq!(values.len(), NUMHUB_APPLICATION_STATUSES.len());
        for v in values {
            let v = v.as_str().expect("string");
            assert!(NUMHUB_APPLICATION_STATUSES.contains(&v), "{v}");
            assert!(application_status(v).is_some(), "{v} is not mapped");
        }
    }

    #[test]
    fn the_table() {
        use EntityStatus as S;
        use VettingStatus as V;
        let want = [
            ("Saved", S::Draft, V::Pending),
            ("Submitted", S::Submitted, V::Pending),
            ("Resubmitted", S::Submitted, V::Pending),
            ("PendingReview", S::PendingVetting, V::Pending),
            ("InProgress", S::PendingVetting, V::InReview),
            ("Complete", S::Approved, V::Approved),
            ("Rejected", S::Rejected, V::Rejected),
        ];
        for (numhub, s, v) in want {
            assert_eq!(application_status(numhub), Some((s, v)), "{numhub}");
        }
    }

    #[test]
    fn unknown_values_map_to_none() {
        assert_eq!(application_status("Archived"), None);
        assert_eq!(
            application_status("complete"),
            None,
            "the enum is case-sensitive"
        );
        assert_eq!(identity_status("Quarantined"), None);
        assert_eq!(identity_status("Active"), Some(IdentityStatus::Active));
    }
}
