//! What the entity, identity and document handlers share: the outbox wake-up after
//! a job commits, `wait_s` (on the event bus), and a page of an entity's children
//! (identities, documents) with their `sync` objects.

use tokio::sync::broadcast::error::RecvError;

use super::error::RpcError;
use super::wire::ToWire;
use super::Rpc;
use crate::api::{ChildQuery, Page, WithSync};
use crate::db::{jobs, JobState};
use crate::events::{Event, Message};

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
                Ok(Ok(Message::Event(Event::JobFinished { job_id: id, .. }))) if id == job_id => {
                    break
                }
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(_))) => break,
                // The bus lives as long as `rpc`: no sender means no outcome to wait for.
                Ok(Err(RecvError::Closed)) => return Ok(()),
            }
        }
    }
}

/// One page of a tenant's identities or documents (of one entity, if given), each
/// with its `sync` object.
pub(super) async fn child_page<T: jobs::Child + ToWire + Send + 'static>(
    rpc: &Rpc,
    p: ChildQuery,
) -> Result<Page<WithSync<T::Wire>>, RpcError> {
    let page = rpc
        .store
        .read(move |sql| {
            jobs::children::<T>(
                sql,
                p.tenant_id,
                p.entity_id.as_deref(),
                p.cursor.as_deref(),
                p.limit,
            )
        })
        .await?;
    page.to_wire()
}
