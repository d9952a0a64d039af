//! What the entity, identity and document handlers share: a row answered with its
//! `sync` object (the newest unfinished outbox job), the outbox wake-up after a job
//! commits, `wait_s` (on the event bus), and the params and result shapes common to all three.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::RpcError;
use super::schema::string;
use super::Rpc;
use tokio::sync::broadcast::error::RecvError;

use crate::api::SyncState;
use crate::db::{self, jobs, JobState, Sql};
use crate::events::Event;

/// The result schema of a single row.
pub(super) fn obj() -> Value {
    json!({"type": "object", "properties": {"id": {"type": "string"}, "sync": {"type": ["object", "null"]}}})
}

/// The result schema of a keyset page.
pub(super) fn page_schema() -> Value {
    json!({"type": "object", "properties": {"items": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}}, "required": ["items", "next_cursor"]})
}

/// A local uuid.
pub(super) fn local_id() -> Value {
    string(100)
}

/// A row and its unfinished outbox job, if any.
#[derive(Serialize)]
pub struct WithSync<T> {
    #[serde(flatten)]
    pub row: T,
    pub sync: Option<SyncState>,
}

/// A row with its newest unfinished job (if any) as the `sync` object.
pub(super) fn with_sync<T>(row: T, job: Option<jobs::Pending>) -> WithSync<T> {
    WithSync {
        row,
        sync: job.map(|j| SyncState {
            job_id: j.id,
            kind: j.kind.to_string(),
            state: j.state.to_string(),
            attempts: j.attempts,
            last_error: j.last_error,
        }),
    }
}

/// Wakes the outbox for a job just committed.
pub(super) fn queued(rpc: &Rpc) {
    if let Some(port) = &rpc.numhub {
        port.jobs_queued();
    }
}

/// `wait_s`: waits for the job's `job.finished` event (`done` → Ok; `dead` or
/// `needs_attention` → the error the caller would have got from NumHub) for up to
/// `wait_s` seconds (≤ 60 by the schema). Running out is not an error: the caller
/// answers with the row, whose `sync` object still shows the job as queued (or
/// `running`, `failed`, `waiting`). The bus is subscribed before the job's state is
/// read, so an outcome committed in between is seen either way; a lagged
/// subscription reads the state again instead of trusting what it missed.
pub(super) async fn wait_for(
    rpc: &Rpc,
    tenant_id: i64,
    job_id: i64,
    wait_s: Option<u64>,
) -> Result<(), RpcError> {
    let Some(secs) = wait_s.filter(|s| *s > 0) else {
        return Ok(());
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut events = rpc.events.subscribe();
    loop {
        let job = rpc
            .store
            .read(move |sql| jobs::get(sql, tenant_id, job_id))
            .await?;
        match job.state {
            JobState::Done => return Ok(()),
            JobState::Dead => {
                return Err(RpcError::NumhubRejected {
                    status: None,
                    message: job.last_error.unwrap_or_else(|| "refused".into()),
                })
            }
            JobState::NeedsAttention => {
                return Err(RpcError::NumhubUnavailable(job.last_error.unwrap_or_else(
                    || "outcome unknown; an operator must retry or resolve the job".into(),
                )))
            }
            JobState::Queued | JobState::Running | JobState::Failed | JobState::Waiting => {}
        }
        // Until this job's outcome (then read it, with its error) or a lag.
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => return Ok(()),
                Ok(Ok(Event::JobFinished { job_id: id, .. })) if id == job_id => break,
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(_))) => break,
                // The bus lives as long as `rpc`: no sender means no outcome to wait for.
                Ok(Err(RecvError::Closed)) => return Ok(()),
            }
        }
    }
}

/// Params naming one row of a tenant.
#[derive(Deserialize)]
pub(super) struct Row {
    pub tenant_id: i64,
    pub id: String,
}

/// Params naming one row of a tenant, for a change that may wait for NumHub.
#[derive(Deserialize)]
pub(super) struct RowWait {
    pub tenant_id: i64,
    pub id: String,
    pub wait_s: Option<u64>,
}

/// How `identities::list` and `documents::list` read a page of an entity's children.
pub(super) type ChildLister<T> = fn(
    &Sql<'_>,
    i64,
    Option<&str>,
    Option<&str>,
    Option<u32>,
) -> db::Result<db::Page<(T, Option<jobs::Pending>)>>;

/// One page of a tenant's identities or documents (of one entity, if given), each
/// with its `sync` object.
pub(super) async fn child_page<T: Send + 'static>(
    rpc: &Rpc,
    p: ChildList,
    list: ChildLister<T>,
) -> Result<db::Page<WithSync<T>>, RpcError> {
    Ok(rpc
        .store
        .read(move |sql| {
            let page = list(
                sql,
                p.tenant_id,
                p.entity_id.as_deref(),
                p.cursor.as_deref(),
                p.limit,
            )?;
            page.try_map(|(row, job)| Ok(with_sync(row, job)))
        })
        .await?)
}

/// Params of a list of an entity's children (identities, documents).
#[derive(Deserialize)]
pub(super) struct ChildList {
    pub tenant_id: i64,
    pub entity_id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// A page of `db` rows as the wire's page of `api` rows.
pub(super) fn page<T, U: From<T>>(page: db::Page<T>) -> crate::api::Page<U> {
    crate::api::Page {
        items: page.items.into_iter().map(U::from).collect(),
        next_cursor: page.next_cursor,
    }
}
