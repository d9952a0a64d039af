//! `db`'s rows as `api`'s wire types: the one place the two meet, so a column can
//! change without changing the protocol (and the reverse). Enumerated values go by
//! name; a test checks that each `api` enum lists exactly its `db` enum's names, so a
//! conversion cannot fail at run time unless the two drift.

use super::error::RpcError;
use crate::api::{self, WireEnum};
use crate::db::{self, brands, documents, entities, identities, jobs, reviews, sync_logs, tenants};

/// A `db` row (or value) as the wire shows it.
pub trait ToWire {
    type Wire;
    fn to_wire(self) -> Result<Self::Wire, RpcError>;
}

/// A `db` enum's value as the `api` enum of the same name.
fn by_name<A: WireEnum>(name: &str) -> Result<A, RpcError> {
    A::from_name(name)
        .ok_or_else(|| RpcError::Internal(format!("{name:?} has no name on the wire")))
}

/// An `api` enum's value as the `db` enum of the same name (for params).
pub fn to_db<A: WireEnum, D>(
    value: A,
    parse: fn(&str) -> Result<D, db::DbError>,
) -> Result<D, RpcError> {
    Ok(parse(value.as_str())?)
}

impl<T: ToWire> ToWire for db::Page<T> {
    type Wire = api::Page<T::Wire>;
    fn to_wire(self) -> Result<Self::Wire, RpcError> {
        Ok(api::Page {
            items: self
                .items
                .into_iter()
                .map(T::to_wire)
                .collect::<Result<_, _>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

/// A row and its newest unfinished job (if any) as the row with its `sync` object.
impl<T: ToWire> ToWire for (T, Option<jobs::Pending>) {
    type Wire = api::WithSync<T::Wire>;
    fn to_wire(self) -> Result<Self::Wire, RpcError> {
        let (row, job) = self;
        Ok(api::WithSync {
            row: row.to_wire()?,
            sync: job.map(|j| api::SyncState {
                job_id: j.id,
                kind: j.kind.to_string(),
                state: j.state.to_string(),
                attempts: j.attempts,
                last_error: j.last_error,
            }),
        })
    }
}

/// `ToWire` for a row whose wire type has the same fields: `moved` as they are,
/// `named` (a `db` enum) by name, `maybe_named` (an optional one) likewise.
macro_rules! same_fields {
    ($db:ty => $api:ident { $($moved:ident),* $(,)? }
        $(named { $($named:ident),* $(,)? })?
        $(maybe_named { $($maybe:ident),* $(,)? })?) => {
        impl ToWire for $db {
            type Wire = api::$api;
            fn to_wire(self) -> Result<api::$api, RpcError> {
                Ok(api::$api {
                    $($moved: self.$moved,)*
                    $($($named: by_name(self.$named.as_str())?,)*)?
                    $($($maybe: self.$maybe.map(|v| by_name(v.as_str())).transpose()?,)*)?
                })
            }
        }
    };
}

same_fields! { tenants::Tenant => Tenant {
    id, name, email, slug, numhub_client_id, numhub_osp_id, numhub_enabled, created_at, updated_at,
} }

same_fields! { brands::Brand => Brand {
    id, tenant_id, name, display_name, numhub_entity_id, created_at, updated_at,
} }

same_fields! { brands::BrandPhoneNumber => PhoneNumber {
    id, brand_id, phone_number, identity_id, created_at, updated_at,
} }

same_fields! { entities::Entity => Entity {
    id, tenant_id, brand_id, numhub_entity_id, numhub_eid, company_name, api_response,
    submitted_at, approved_at, created_at, updated_at,
} named { entity_type, status, vetting_status } maybe_named { attestation_level } }

same_fields! { identities::Identity => Identity {
    id, entity_id, numhub_identity_id, display_name, call_reason, logo_url, rich_call_data,
    phone_numbers, dir_id, api_response, created_at, updated_at,
} named { status } }

same_fields! { documents::Document => Document {
    id, entity_id, local_document_id, numhub_document_id, filename, api_response, uploaded_at,
    sha256, created_at, updated_at,
} named { document_type, status } }

same_fields! { sync_logs::SyncLog => LogEntry {
    id, tenant_id, entity_id, identity_id, endpoint, status_code, request_payload,
    response_payload, response_time_ms, error_message, success, created_at,
} named { method, direction } }

impl ToWire for reviews::Review {
    type Wire = api::Review;
    fn to_wire(self) -> Result<api::Review, RpcError> {
        Ok(api::Review {
            message: self.message,
            flagged_comments: self
                .flagged_comments
                .into_iter()
                .map(|s| api::FlaggedSection {
                    section_number: s.section_number,
                    section_name: s.section_name,
                    comments: s.comments,
                })
                .collect(),
            flagged_at: self.flagged_at,
            updated_at: self.updated_at,
        })
    }
}

impl ToWire for jobs::Job {
    type Wire = api::Job;
    fn to_wire(self) -> Result<api::Job, RpcError> {
        // `kind` and `payload` as the payload's own serde tagging spells them.
        let payload = serde_json::to_value(&self.payload)
            .map_err(|e| RpcError::failed("reading a job's payload", e))?
            .get_mut("payload")
            .map(std::mem::take)
            .unwrap_or_default();
        Ok(api::Job {
            id: self.id,
            tenant_id: self.tenant_id,
            kind: by_name(self.kind().as_str())?,
            payload,
            entity_id: self.entity_id,
            identity_id: self.identity_id,
            document_id: self.document_id,
            state: by_name(self.state.as_str())?,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            started_at: self.started_at,
            resume_since: self.resume_since,
            last_error: self.last_error,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same<A: WireEnum>(db_names: &[&str]) {
        assert_eq!(A::NAMES, db_names, "{}", std::any::type_name::<A>());
    }

    /// Each wire enum lists exactly its db enum's names, so `by_name` cannot fail.
    #[test]
    fn wire_enums_name_what_db_names() {
        same::<api::EntityType>(db::EntityType::NAMES);
        same::<api::EntityStatus>(db::EntityStatus::NAMES);
        same::<api::VettingStatus>(db::VettingStatus::NAMES);
        same::<api::AttestationLevel>(db::AttestationLevel::NAMES);
        same::<api::IdentityStatus>(db::IdentityStatus::NAMES);
        same::<api::DocumentType>(db::DocumentType::NAMES);
        same::<api::DocumentStatus>(db::DocumentStatus::NAMES);
        same::<api::HttpMethod>(db::HttpMethod::NAMES);
        same::<api::Direction>(db::Direction::NAMES);
        same::<api::JobKind>(db::JobKind::NAMES);
        same::<api::JobState>(db::JobState::NAMES);
        same::<api::EventKind>(crate::events::KINDS);
        assert_eq!(api::schema::MAX_PAGE, db::MAX_PAGE);
    }
}
