//! `jobs`: the outbox (`list`), and settling a job by hand (`retry`, `resolve`).

use serde_json::json;

use numhubd::api::{self, ById, JobQuery, JobResolve};
use numhubd::client::{Client, ClientError};

use crate::output::{simple, table};
use crate::session::{all_pages, named};

/// `jobs list`: every job (of a tenant, in a state), newest first.
pub fn list(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    state: Option<&str>,
) -> Result<(), ClientError> {
    let query = JobQuery {
        tenant_id: tenant,
        state: state.map(|s| named("state", s)).transpose()?,
        cursor: None,
        limit: None,
    };
    let items = all_pages::<api::JobsList, _>(c, query)?;
    table!(json_out, &json!({"items": items}), &items;
        id, tenant_id, kind, state, attempts, entity_id, last_error)
}

/// `jobs retry ID`: the job is due again now.
pub fn retry(c: &mut Client, json_out: bool, id: i64) -> Result<(), ClientError> {
    let job = c.request::<api::JobsRetry>(&ById { id })?;
    simple(json_out, &job, &format!("job {id} queued again"))
}

/// `jobs resolve ID`: the job is settled by hand (done), with a note.
pub fn resolve(
    c: &mut Client,
    json_out: bool,
    id: i64,
    note: Option<&str>,
) -> Result<(), ClientError> {
    let resolve = JobResolve {
        id,
        note: note.map(str::to_string),
    };
    let job = c.request::<api::JobsResolve>(&resolve)?;
    simple(json_out, &job, &format!("job {id} resolved"))
}
