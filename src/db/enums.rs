//! The seed's enumerated columns as Rust types. Each maps 1:1 onto the CHECK of its
//! column, so a value that parses here is one the table accepts.

use serde::{Deserialize, Serialize};

use super::DbError;
use crate::api::WireEnum;

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

/// One of the seed's enumerated columns whose values the protocol shows as they are:
/// the type is `api`'s (one list of names for the wire, the column and its CHECK);
/// this adds what the store needs: parsing that names the column, and reading it.
macro_rules! column_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        pub use crate::api::$name;

        impl $name {
            pub const ALL: &'static [$name] = <$name as WireEnum>::ALL;

            /// The column's values, as the CHECK lists them.
            pub const NAMES: &'static [&'static str] = <$name as WireEnum>::NAMES;

            pub fn as_str(self) -> &'static str {
                <$name as WireEnum>::as_str(self)
            }

            /// Parses the column's text; an unknown value names the column.
            pub fn parse(s: &str) -> Result<$name, DbError> {
                <$name as WireEnum>::from_name(s).ok_or_else(|| {
                    DbError::invalid(
                        $field,
                        format!("{s:?} is not one of {}", Self::NAMES.join(", ")),
                    )
                })
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
    };
}

column_enum!(
    /// `numhub_entities.entity_type`.
    EntityType, "entity_type"
);

column_enum!(
    /// `numhub_entities.status`: our own view of where an application stands.
    EntityStatus, "status"
);

column_enum!(
    /// `numhub_entities.vetting_status`.
    VettingStatus, "vetting_status"
);

column_enum!(
    /// `numhub_entities.attestation_level` (STIR/SHAKEN).
    AttestationLevel, "attestation_level"
);

column_enum!(
    /// `numhub_identities.status`.
    IdentityStatus, "status"
);

str_enum!(
    /// `documents.source`: where a local document came from.
    DocumentSource, "source" { DropFolder = "drop_folder", Rpc = "rpc" }
);

column_enum!(
    /// `numhub_documents.document_type`: the seed's values plus `logo`.
    DocumentType, "document_type"
);

column_enum!(
    /// `numhub_documents.status`.
    DocumentStatus, "status"
);

column_enum!(
    /// `numhub_sync_logs.method`.
    HttpMethod, "method"
);

column_enum!(
    /// `numhub_sync_logs.direction`.
    Direction, "direction"
);

str_enum!(
    /// `numhub_tokens.token_type`.
    TokenType, "token_type" { Access = "access", Refresh = "refresh" }
);

column_enum!(
    /// `jobs.kind`: what an outbox job does at NumHub.
    JobKind, "kind"
);

column_enum!(
    /// `jobs.state`: where an outbox job stands (migrations V2 and V4 say what each
    /// means).
    JobState, "state"
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
