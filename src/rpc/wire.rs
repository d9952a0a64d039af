//! `db`'s values as `api`'s wire types. A table's row is `api`'s own type (as pueue's
//! daemon stores and sends one `Task`): `db` reads the row into the type the protocol
//! publishes, so the two cannot drift, and a column that changes what a caller sees is
//! a protocol change the compiler points at. So are the params a table takes as they
//! are (`tenant.upsert`'s, `brand.upsert`'s, `log.list`'s), and the enumerated values
//! (`db::enums`). What is converted here is what differs: a job's payload and state,
//! a row with its pending job.

use super::error::RpcError;
use crate::api;
use crate::db::{self, jobs};

/// A `db` row (or value) as the wire shows it.
pub trait ToWire {
    type Wire;
    fn to_wire(self) -> Result<Self::Wire, RpcError>;
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

/// The rows `db` reads as `api`'s own types (one definition for the table and the
/// wire): they go out as they are.
macro_rules! as_is {
    ($($row:ty),+ $(,)?) => {
        $(impl ToWire for $row {
            type Wire = $row;
            fn to_wire(self) -> Result<$row, RpcError> {
                Ok(self)
            }
        })+
    };
}

as_is! { api::Tenant, api::Brand, api::PhoneNumber, api::Entity, api::Identity, api::Document, api::LogEntry, api::Review }

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
            kind: self.kind(),
            payload,
            entity_id: self.entity_id,
            identity_id: self.identity_id,
            document_id: self.document_id,
            state: self.state,
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

    /// The page limit the protocol publishes is the one the daemon uses. (The
    /// enumerated columns and the event kinds are `api`'s own types: nothing to check.)
    #[test]
    fn the_published_page_limit_is_the_daemons() {
        assert_eq!(api::schema::MAX_PAGE, db::MAX_PAGE);
    }
}
