//! NumHub's values onto the seed's, in one place. The document's application status
//! enum is `Saved, Submitted, Resubmitted, PendingReview, InProgress, Complete,
//! Rejected`; it never says what each means, so the match is by name (see
//! docs/SCHEMA.md). A value this table does not know maps to `None`: the
//! caller keeps the row's last valid value, keeps the raw answer in `api_response`,
//! and counts the anomaly — an unknown value never breaks a CHECK.
//!
//! Phone numbers: the replica keeps E.164; NumHub's document types them as plain
//! strings (its one example is `818-444-5555`), so [`phone_from_numhub`] reads every
//! reasonable spelling and [`phone_to_numhub`] writes `[numhub] phone_format`.

use crate::db::{EntityStatus, IdentityStatus, VettingStatus};

/// How a NANP number is written in what is sent to NumHub (`[numhub] phone_format`,
/// chosen by the daemon): `818-444-5555`, `+18184445555` or `8184445555`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneFormat {
    Dashed,
    E164,
    Digits,
}

/// Separators a written number may carry between its digits.
fn phone_separator(c: char) -> bool {
    matches!(c, '-' | ' ' | '.' | '(' | ')')
}

/// A number as NumHub wrote it → E.164, or None when it is no number we can read:
/// E.164 (`+18184445555`, separators allowed), 10 digits (`8184445555`, NANP) and 11
/// with a leading 1 (`18184445555`), dashed, spaced, dotted or parenthesised
/// (`818-444-5555`, `(818) 444-5555`).
pub fn phone_from_numhub(written: &str) -> Option<String> {
    let t = written.trim();
    let (plus, rest) = match t.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, t),
    };
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || phone_separator(c))
    {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let e164 = match (plus, digits.len()) {
        (true, _) => format!("+{digits}"),
        (false, 10) => format!("+1{digits}"),
        (false, 11) if digits.starts_with('1') => format!("+{digits}"),
        _ => return None,
    };
    crate::db::brands::validate_e164("phone_numbers", &e164)
        .is_ok()
        .then_some(e164)
}

/// An E.164 number as sent to NumHub. Only NANP numbers (`+1` and 10 digits) have a
/// dashed or digits form; any other number is sent as E.164 whatever the format.
pub fn phone_to_numhub(e164: &str, format: PhoneFormat) -> String {
    let nanp = e164
        .strip_prefix("+1")
        .filter(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()));
    match (format, nanp) {
        (PhoneFormat::Dashed, Some(d)) => format!("{}-{}-{}", &d[..3], &d[3..6], &d[6..]),
        (PhoneFormat::Digits, Some(d)) => d.to_string(),
        _ => e164.to_string(),
    }
}

/// A number an operator wrote in an application body, as sent: read in any form,
/// written in `format`; text that is no number is sent as written (NumHub judges it).
pub fn phone_outgoing(written: &str, format: PhoneFormat) -> String {
    match phone_from_numhub(written) {
        Some(e164) => phone_to_numhub(&e164, format),
        None => written.to_string(),
    }
}

/// Whether the replica can hold a `dirId` NumHub sent (`numhub_identities.dir_id` is
/// at most 100 characters; the document bounds it only on the update, at 36). Empty
/// means none.
pub fn holdable_dir_id(dir_id: &str) -> bool {
    !dir_id.is_empty() && dir_id.chars().count() <= 100
}

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
/// the field no enum, so the words NumHub may use are read in any case and with any
/// spacing or punctuation (`Active`, `ACTIVE`, `In Progress`, `in_progress`).
/// Anything else is unknown (`None`; the caller counts it and keeps the raw answer):
/// only a word that says so means `active` — `Complete` or `Approved` might describe
/// the vetting rather than the identity, so they are never guessed to be active.
pub fn identity_status(numhub: &str) -> Option<IdentityStatus> {
    let word: String = numhub
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    match word.as_str() {
        "active" | "activated" => Some(IdentityStatus::Active),
        "inactive" | "deactivated" | "disabled" | "rejected" | "deleted" => {
            Some(IdentityStatus::Inactive)
        }
        "pending" | "pendingreview" | "pendingactivation" | "inprogress" | "submitted"
        | "resubmitted" | "saved" => Some(IdentityStatus::Pending),
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
            "/numhub-api/brandcontrol-v1.swagger.json"
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
    fn numhub_phone_forms_read_as_e164() {
        for written in [
            "+18184445555",
            "818-444-5555",
            "8184445555",
            "18184445555",
            "1-818-444-5555",
            "(818) 444-5555",
            "818 444 5555",
            "818.444.5555",
            " +1 (818) 444-5555 ",
        ] {
            assert_eq!(
                phone_from_numhub(written).as_deref(),
                Some("+18184445555"),
                "{written}"
            );
        }
        assert_eq!(
            phone_from_numhub("+44 20 7946 0958").as_deref(),
            Some("+442079460958")
        );
        for bad in [
            "",
            "+",
            "818-444-555",
            "28184445555",
            "818444555512",
            "ext. 12",
            "818-444-5555 x2",
            "+0123456",
            "++18184445555",
        ] {
            assert_eq!(phone_from_numhub(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn numbers_are_sent_in_the_configured_form() {
        let n = "+18184445555";
        assert_eq!(phone_to_numhub(n, PhoneFormat::Dashed), "818-444-5555");
        assert_eq!(phone_to_numhub(n, PhoneFormat::Digits), "8184445555");
        assert_eq!(phone_to_numhub(n, PhoneFormat::E164), n);
        for f in [PhoneFormat::Dashed, PhoneFormat::Digits, PhoneFormat::E164] {
            assert_eq!(phone_to_numhub("+442079460958", f), "+442079460958");
            assert_eq!(
                phone_from_numhub(&phone_to_numhub(n, f)).as_deref(),
                Some(n)
            );
        }
        assert_eq!(phone_outgoing("(818) 444-5555", PhoneFormat::E164), n);
        assert_eq!(
            phone_outgoing("not a number", PhoneFormat::Dashed),
            "not a number"
        );
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

    #[test]
    fn identity_statuses_in_any_spelling_and_never_guessed_active() {
        use IdentityStatus as I;
        for (numhub, want) in [
            ("Active", Some(I::Active)),
            ("ACTIVE", Some(I::Active)),
            (" active ", Some(I::Active)),
            ("Activated", Some(I::Active)),
            ("Inactive", Some(I::Inactive)),
            ("IN_ACTIVE", Some(I::Inactive)),
            ("Deactivated", Some(I::Inactive)),
            ("In Progress", Some(I::Pending)),
            ("in-progress", Some(I::Pending)),
            ("InProgress", Some(I::Pending)),
            ("PENDING", Some(I::Pending)),
            ("Pending Review", Some(I::Pending)),
            ("Complete", None),
            ("Approved", None),
            ("Live", None),
            ("", None),
        ] {
            assert_eq!(identity_status(numhub), want, "{numhub:?}");
        }
    }
}
