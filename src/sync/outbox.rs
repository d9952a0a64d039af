//! The outbox loop: claims due jobs and runs up to `workers` at once (one entity's
//! jobs in order, different entities side by side), records each failure with its
//! consequence (backoff, `dead`, `needs_attention`, waiting). What each kind does at
//! NumHub is in [`super::jobs_exec`]; old `done` jobs are purged by
//! `crate::housekeeping`.
//!
//! At start, attempts a crash or stop left `running` are queued again to be looked
//! up at NumHub before anything is resent (`jobs::mark_interrupted`); on a restored
//! backup's first start, so are all its unfinished creates and uploads
//! (`jobs::mark_restored`). While running, an attempt whose outcome the database
//! refused to record (its disk full) is kept in memory and settled the same way
//! (`jobs::mark_unrecorded`) as soon as the database takes writes again: never left
//! `running` for a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::jobs_exec::{self, Failure};
use super::{SyncContext, SyncOptions};
use crate::cluster::Term;
use crate::db::{backup, format_ts, jobs, now_ts, JobState};
use crate::events::Event;
use crate::shutdown::Shutdown;

/// A job blocked by something outside it (login, credentials) looks again after this
/// (or `retry_max`, if shorter).
const BLOCKED_WAIT: Duration = Duration::from_secs(30);

/// Before the first claim, in one transaction: a restored backup's unfinished creates
/// and uploads, then the attempts the last stop interrupted, are marked to be looked
/// up at NumHub before anything is sent; the backup's marker goes in the same
/// commit, so the rule is applied exactly once. False when that failed: nothing may
/// be sent then.
async fn prepare(ctx: &SyncContext, term: Term) -> bool {
    let prepared = ctx
        .store
        .write(move |tx| {
            let now = now_ts();
            let restored = backup::take_marker(tx)?;
            let looked_up = match &restored {
                Some(m) => jobs::mark_restored(tx, &m.taken_at, &now)?,
                None => 0,
            };
            let resend_at = after(term.resend_after);
            let interrupted = jobs::mark_interrupted(tx, &now, &resend_at)?;
            Ok((restored, looked_up, interrupted))
        })
        .await;
    match prepared {
        Ok((restored, looked_up, interrupted)) => {
            if let Some(m) = restored {
                tracing::warn!(
                    taken_at = %m.taken_at,
                    source = %m.source_path,
                    jobs = looked_up,
                    "first start on a restored backup: its unfinished creates and uploads are looked up at NumHub before anything is sent"
                );
            }
            if interrupted > 0 {
                tracing::info!(
                    jobs = interrupted,
                    "resuming jobs interrupted by the last stop; NumHub is checked before resending"
                );
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "could not prepare the outbox's jobs at start; nothing is sent to NumHub until numhubd is restarted");
            false
        }
    }
}

/// Runs for one term of leadership, until it ends (the daemon's shutdown, or another
/// node leading); attempts in flight are allowed to finish.
pub async fn run(
    ctx: SyncContext,
    options: SyncOptions,
    term: Term,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    if !prepare(&ctx, term).await {
        // Sending without the look-ups could repeat a create or an upload.
        shutdown.recv().await;
        return;
    }
    let workers = options.workers.max(1);
    let mut running: JoinSet<Option<i64>> = JoinSet::new();
    // Which job each attempt runs, for one that panics.
    let mut jobs_of: HashMap<tokio::task::Id, i64> = HashMap::new();
    // Attempts that ended with their outcome unrecorded: still `running` in the file.
    let mut unsettled: Vec<i64> = Vec::new();
    // Whose turn was last: claims go round the tenants (`claim_next_sendable`).
    let mut last_tenant: Option<i64> = None;
    loop {
        settle(&ctx, &mut unsettled).await;
        while running.len() < workers && !shutdown.is_shutdown() {
            match ctx
                .store
                // Durable: a claim a power cut took back would leave the job queued
                // with no trace of the attempt, and it would be sent without a look.
                .write_durable(move |tx| jobs::claim_next_sendable(tx, &now_ts(), last_tenant))
                .await
            {
                Ok(Some(job)) => {
                    last_tenant = Some(job.tenant_id);
                    let id = job.id;
                    let task = running.spawn(attempt(ctx.clone(), options.clone(), job));
                    jobs_of.insert(task.id(), id);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = shutdown.recv() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(options.outbox_poll) => {}
            Some(r) = running.join_next_with_id(), if !running.is_empty() => {
                let unrecorded = match r {
                    Ok((task, unrecorded)) => {
                        jobs_of.remove(&task);
                        unrecorded
                    }
                    Err(e) => {
                        // Its outcome is unknown: settled as one never recorded.
                        tracing::error!(error = %e, "an outbox attempt panicked");
                        jobs_of.remove(&e.id())
                    }
                };
                unsettled.extend(unrecorded);
            }
        }
    }
    // Left `running`: the next start settles them (`jobs::mark_interrupted`).
    while running.join_next().await.is_some() {}
}

/// Queues again, to be looked up at NumHub first, each job whose attempt ended
/// without its outcome recorded; those the database still refuses stay for the next
/// round (the outbox's poll).
async fn settle(ctx: &SyncContext, unsettled: &mut Vec<i64>) {
    let mut still = Vec::new();
    for id in unsettled.drain(..) {
        let error = "the outcome of the last attempt could not be recorded (the database refused the write); NumHub is checked before resending";
        match ctx
            .store
            .write(move |tx| {
                let now = now_ts();
                // Due at once: the database refused everything until now.
                jobs::mark_unrecorded(tx, id, error, &now, &now)
            })
            .await
        {
            Ok(_) => tracing::info!(
                job = id,
                "the database takes writes again: the job whose outcome was not recorded is queued to look at NumHub before resending"
            ),
            Err(e) => {
                tracing::debug!(job = id, error = %e, "the job's outcome still cannot be settled");
                still.push(id);
            }
        }
    }
    *unsettled = still;
}

/// One attempt of one claimed job, start to recorded outcome. Returns the job's id
/// when no outcome could be recorded (it is still `running` in the file).
async fn attempt(ctx: SyncContext, options: SyncOptions, job: jobs::Job) -> Option<i64> {
    tracing::debug!(job = job.id, kind = %job.kind(), attempt = job.attempts, "outbox attempt");
    match jobs_exec::execute(&ctx, &job).await {
        Ok(events) => {
            tracing::info!(
                job = job.id,
                tenant = job.tenant_id,
                entity = job.entity_id.as_deref(),
                document = job.document_id.as_deref(),
                kind = %job.kind(),
                "job done"
            );
            for e in events {
                ctx.events.publish(e);
            }
            ctx.events.publish(finished(&job, JobState::Done));
            None
        }
        Err(f) => {
            let recorded = record_failure(&ctx, &options, &job, f).await;
            (!recorded).then_some(job.id)
        }
    }
}

/// The event of a job's final state (after its commit): what `wait_s` waits for.
fn finished(job: &jobs::Job, state: JobState) -> Event {
    Event::JobFinished {
        tenant_id: job.tenant_id,
        job_id: job.id,
        state,
    }
}

/// What a failure makes of the job.
enum Next {
    Failed(Duration),
    Waiting(Duration),
    Dead,
    NeedsAttention,
    /// Queued again, to look at NumHub before resending; after a backoff, since the
    /// database took this write but not the outcome's (nearly full): each round costs
    /// a look at NumHub.
    Resume(Duration),
}

fn next_for(options: &SyncOptions, job: &jobs::Job, f: &Failure) -> Next {
    match f {
        Failure::Retry(_) if job.attempts >= i64::from(options.job_max_attempts) => Next::Dead,
        Failure::Retry(_) => Next::Failed(backoff(options, job.attempts)),
        Failure::Refused(_) => Next::Dead,
        Failure::Unknown(_) => Next::NeedsAttention,
        Failure::Unrecorded(_) => Next::Resume(backoff(options, job.attempts)),
        Failure::Blocked(_) => {
            Next::Waiting(BLOCKED_WAIT.min(options.retry_max).max(options.outbox_poll))
        }
    }
}

/// Records the failure's consequence; false when the database refused that too.
async fn record_failure(
    ctx: &SyncContext,
    options: &SyncOptions,
    job: &jobs::Job,
    f: Failure,
) -> bool {
    let next = next_for(options, job, &f);
    let exhausted = matches!(f, Failure::Retry(_)) && matches!(next, Next::Dead);
    let (Failure::Retry(msg)
    | Failure::Refused(msg)
    | Failure::Unknown(msg)
    | Failure::Blocked(msg)
    | Failure::Unrecorded(msg)) = f;
    let error = if exhausted {
        format!("{msg} (after {} attempts)", job.attempts)
    } else {
        msg
    };
    let at = after;
    let (id, e) = (job.id, error.clone());
    let (state, write) = match next {
        Next::Failed(d) => (
            JobState::Failed,
            ctx.store
                .write(move |tx| jobs::mark_failed(tx, id, &e, &at(d), &now_ts()))
                .await,
        ),
        Next::Waiting(d) => (
            JobState::Waiting,
            ctx.store
                .write(move |tx| jobs::mark_waiting(tx, id, &e, &at(d), &now_ts()))
                .await,
        ),
        Next::Dead => (
            JobState::Dead,
            ctx.store
                .write(move |tx| jobs::mark_dead(tx, id, &e, &now_ts()))
                .await,
        ),
        Next::NeedsAttention => (
            JobState::NeedsAttention,
            ctx.store
                .write(move |tx| jobs::mark_needs_attention(tx, id, &e, &now_ts()))
                .await,
        ),
        Next::Resume(d) => (
            JobState::Queued,
            ctx.store
                .write(move |tx| jobs::mark_unrecorded(tx, id, &e, &at(d), &now_ts()).map(|_| ()))
                .await,
        ),
    };
    if let Err(e) = write {
        // Still `running`: settled (with a look first) once the database takes writes.
        tracing::error!(job = job.id, error = %e, "could not record a job's failure; it is settled once the database takes writes again");
        return false;
    }
    tracing::warn!(
        job = job.id,
        tenant = job.tenant_id,
        entity = job.entity_id.as_deref(),
        document = job.document_id.as_deref(),
        kind = %job.kind(),
        %state,
        error = %error,
        "job attempt failed"
    );
    if matches!(state, JobState::Dead | JobState::NeedsAttention) {
        ctx.events.publish(Event::SyncFailed {
            tenant_id: Some(job.tenant_id),
            job_id: Some(job.id),
            error,
        });
        ctx.events.publish(finished(job, state));
    }
    true
}

/// The time `d` from now.
fn after(d: Duration) -> String {
    format_ts(Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
}

/// The wait before attempt `attempts + 1`: `retry_base` doubled per attempt made,
/// capped at `retry_max`, then jittered down by up to half so jobs that failed
/// together do not return together. Never below `outbox_poll`, so a zero base
/// cannot spin.
pub fn backoff(options: &SyncOptions, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let capped = options
        .retry_base
        .saturating_mul(1u32 << doublings.min(20))
        .min(options.retry_max);
    let jittered = capped.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
    jittered.max(options.outbox_poll)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(base_ms: u64, max_ms: u64) -> SyncOptions {
        SyncOptions {
            workers: 1,
            outbox_poll: Duration::from_millis(1),
            job_max_attempts: 3,
            retry_base: Duration::from_millis(base_ms),
            retry_max: Duration::from_millis(max_ms),
            poll_interval: Duration::from_secs(1),
            full_sweep: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let o = opts(100, 1000);
        for _ in 0..50 {
            let first = backoff(&o, 1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff(&o, 3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(backoff(&o, 40) <= Duration::from_millis(1000));
        }
        // A zero base never spins: the floor is outbox_poll.
        assert_eq!(backoff(&opts(0, 0), 5), Duration::from_millis(1));
    }
}
