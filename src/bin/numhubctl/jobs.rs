//! `jobs`: the outbox (`list`), and settling a job by hand (`retry`, `resolve`).

use serde_json::json;

use numhubd::api::{self, ById, JobQuery, JobResolve};

use crate::output::{simple, table};
use crate::session::{named, Outcome, Session};

/// `jobs list`: every job (of a tenant, in a state), newest first.
pub fn list(s: &mut Session, tenant: Option<i64>, state: Option<&str>) -> Outcome {
    let query = JobQuery {
        tenant_id: tenant,
        state: state.map(|name| named("state", name)).transpose()?,
        cursor: None,
        limit: None,
    };
    let items = s.all_pages::<api::JobsList, _>(query)?;
    table!(s.json, &json!({"items": items}), &items;
        id, tenant_id, kind, state, attempts, entity_id, last_error)
}

/// `jobs retry ID`: the job is due again now.
pub fn retry(s: &mut Session, id: i64) -> Outcome {
    let job = s.request::<api::JobsRetry>(&ById { id })?;
    simple(s.json, &job, &format!("job {id} queued again"))
}

/// `jobs resolve ID`: the job is settled by hand (done), with a note.
pub fn resolve(s: &mut Session, id: i64, note: Option<&str>) -> Outcome {
    let resolve = JobResolve {
        id,
        note: note.map(str::to_string),
    };
    let job = s.request::<api::JobsResolve>(&resolve)?;
    simple(s.json, &job, &format!("job {id} resolved"))
}
