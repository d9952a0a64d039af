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

impl ToWire for tenants::Tenant {
    type Wire = api::Tenant;
    fn to_wire(self) -> Result<api::Tenant, RpcError> {
        Ok(api::Tenant {
            id: self.id,
            name: self.name,
            email: self.email,
            slug: self.slug,
            numhub_client_id: self.numhub_client_id,
            numhub_osp_id: self.numhub_osp_id,
            numhub_enabled: self.numhub_enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl ToWire for brands::Brand {
    type Wire = api::Brand;
    fn to_wire(self) -> Result<api::Brand, RpcError> {
        Ok(api::Brand {
            id: self.id,
            tenant_id: self.tenant_id,
            name: self.name,
            display_name: self.display_name,
            numhub_entity_id: self.numhub_entity_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl ToWire for brands::BrandPhoneNumber {
    type Wire = api::PhoneNumber;
    fn to_wire(self) -> Result<api::PhoneNumber, RpcError> {
        Ok(api::PhoneNumber {
            id: self.id,
            brand_id: self.brand_id,
            phone_number: self.phone_number,
            identity_id: self.identity_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl ToWire for entities::Entity {
    type Wire = api::Entity;
    fn to_wire(self) -> Result<api::Entity, RpcError> {
        Ok(api::Entity {
            id: self.id,
            tenant_id: self.tenant_id,
            brand_id: self.brand_id,
            numhub_entity_id: self.numhub_entity_id,
            numhub_eid: self.numhub_eid,
            entity_type: by_name(self.entity_type.as_str())?,
            company_name: self.company_name,
            status: by_name(self.status.as_str())?,
            vetting_status: by_name(self.vetting_status.as_str())?,
            attestation_level: self
                .attestation_level
                .map(|a| by_name(a.as_str()))
                .transpose()?,
            api_response: self.api_response.map(api::RawJson),
            submitted_at: self.submitted_at,
            approved_at: self.approved_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

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

impl ToWire for identities::Identity {
    type Wire = api::Identity;
    fn to_wire(self) -> Result<api::Identity, RpcError> {
        Ok(api::Identity {
            id: self.id,
            entity_id: self.entity_id,
            numhub_identity_id: self.numhub_identity_id,
            display_name: self.display_name,
            call_reason: self.call_reason,
            logo_url: self.logo_url,
            status: by_name(self.status.as_str())?,
            rich_call_data: self.rich_call_data,
            phone_numbers: self.phone_numbers,
            dir_id: self.dir_id,
            api_response: self.api_response,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl ToWire for documents::Document {
    type Wire = api::Document;
    fn to_wire(self) -> Result<api::Document, RpcError> {
        Ok(api::Document {
            id: self.id,
            entity_id: self.entity_id,
            local_document_id: self.local_document_id,
            numhub_document_id: self.numhub_document_id,
            document_type: by_name(self.document_type.as_str())?,
            filename: self.filename,
            status: by_name(self.status.as_str())?,
            api_response: self.api_response,
            uploaded_at: self.uploaded_at,
            sha256: self.sha256,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl ToWire for sync_logs::SyncLog {
    type Wire = api::LogEntry;
    fn to_wire(self) -> Result<api::LogEntry, RpcError> {
        Ok(api::LogEntry {
            id: self.id,
            tenant_id: self.tenant_id,
            entity_id: self.entity_id,
            identity_id: self.identity_id,
            endpoint: self.endpoint,
            method: by_name(self.method.as_str())?,
            direction: by_name(self.direction.as_str())?,
            status_code: self.status_code,
            request_payload: self.request_payload,
            response_payload: self.response_payload,
            response_time_ms: self.response_time_ms,
            error_message: self.error_message,
            success: self.success,
            created_at: self.created_at,
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
