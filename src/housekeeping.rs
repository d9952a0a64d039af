//! Database housekeeping: the one task that owns the periodic purges. Every hour,
//! expired `numhub_tokens` rows (the `expires_at` index serves it) and jobs `done`
//! for longer than `[sync] done_retention_days`; every 24 hours, audit rows older
//! than `[audit] retention_days`. Each purge deletes in short batches
//! ([`Store::delete_in_batches`]), so none holds the writer for long. With each
//! pass, spool copies no upload needs any more (left by a crash, a deleted document,
//! an upgrade) are removed: the files, and on a server store its copies in the
//! database (and the chunks a host left when it died mid-copy). On a server store,
//! every minute, the events other hosts have tailed ([`EVENTS_KEPT`]) go.

use std::time::Duration;

use chrono::Utc;

use crate::cluster::Leadership;
use crate::db::{self, documents, event_log, jobs, spool, sync_logs, tokens, Location, Store};
use crate::intake::Spool;
use crate::shutdown::Shutdown;

/// How often the task runs (the audit purge every 24th run).
const EVERY: Duration = Duration::from_secs(3600);
const AUDIT_EVERY_NTH: u64 = 24;

/// How long rows are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// `done` jobs.
    pub done_jobs: Duration,
    /// `numhub_sync_logs` rows.
    pub audit: Duration,
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub expired_tokens: usize,
    pub done_jobs: usize,
    pub audit_rows: usize,
}

/// One pass; the audit rows only when `purge_audit`.
pub async fn run_once(
    store: &Store,
    retention: Retention,
    purge_audit: bool,
) -> Result<Purged, db::DbError> {
    let now = db::now_ts();
    let expired_tokens = store
        .write(move |tx| tokens::delete_expired(tx, &now))
        .await?;
    let before = cut_off(retention.done_jobs);
    let done_jobs = store
        .delete_in_batches(move |tx, batch| jobs::purge_done(tx, &before, batch))
        .await?;
    let mut audit_rows = 0;
    if purge_audit {
        let before = cut_off(retention.audit);
        audit_rows = store
            .delete_in_batches(move |tx, batch| sync_logs::purge_older_than(tx, &before, batch))
            .await?;
    }
    Ok(Purged {
        expired_tokens,
        done_jobs,
        audit_rows,
    })
}

/// A spool entry younger than this is never swept: it may be a copy whose
/// registering transaction has not committed yet.
const SPOOL_GRACE: Duration = Duration::from_secs(3600);

/// Removes spool copies (and partial copies) older than [`SPOOL_GRACE`] that no
/// upload which may still be sent needs. Returns how many went.
pub async fn sweep_spool(store: &Store, spool: &Spool) -> Result<usize, db::DbError> {
    let needed = store.read(documents::spool_copies_needed).await?;
    let spool = spool.clone();
    let swept = tokio::task::spawn_blocking(move || {
        let now = std::time::SystemTime::now();
        let mut swept = 0;
        for (name, modified) in spool.entries().unwrap_or_default() {
            let old = now.duration_since(modified).unwrap_or_default() > SPOOL_GRACE;
            if old
                && !needed.contains(&name)
                && std::fs::remove_file(spool.dir().join(&name)).is_ok()
            {
                swept += 1;
            }
        }
        swept
    })
    .await
    .unwrap_or(0);
    Ok(swept)
}

/// Removes the server store's copies stored (or last wanted) over [`SPOOL_GRACE`]
/// ago that no upload which may still be sent needs, then chunks as old whose copy
/// has no head. Returns how many copies went. Nothing to do on SQLite.
pub async fn sweep_store_spool(store: &Store) -> Result<usize, db::DbError> {
    if !matches!(store.location(), Location::Server(_)) {
        return Ok(0);
    }
    let before = cut_off(SPOOL_GRACE);
    let b = before.clone();
    let copies = store
        .delete_in_batches(move |tx, batch| spool::purge_heads(tx, &b, batch))
        .await?;
    store
        .delete_in_batches(move |tx, batch| spool::purge_orphan_chunks(tx, &before, batch))
        .await?;
    Ok(copies)
}

/// How long a server store keeps the events its hosts published: far longer than
/// any host's tail lags behind (under a second), short enough to stay small.
pub const EVENTS_KEPT: Duration = Duration::from_secs(300);

/// How often the events are purged.
const EVENTS_EVERY: Duration = Duration::from_secs(60);

/// Deletes events published over [`EVENTS_KEPT`] ago (server stores). Returns how
/// many went.
pub async fn purge_events(store: &Store) -> Result<usize, db::DbError> {
    if !matches!(store.location(), Location::Server(_)) {
        return Ok(0);
    }
    let before = cut_off(EVENTS_KEPT);
    store
        .delete_in_batches(move |tx, batch| event_log::purge_older_than(tx, &before, batch))
        .await
}

/// The task: a pass at start (audit rows included), then every hour, until shutdown;
/// on a server store the events' purge every minute. The purges run only while this
/// node leads (on SQLite, always); the sweep of this host's own spool folder runs on
/// every node.
pub async fn run(
    store: Store,
    retention: Retention,
    spool: Spool,
    leadership: Leadership,
    mut shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(EVERY);
    let mut events_tick = tokio::time::interval(EVENTS_EVERY);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = events_tick.tick() => {
                if leadership.term().is_none() {
                    continue;
                }
                if let Err(e) = purge_events(&store).await {
                    tracing::warn!(error = %e, "purging the hosts' events failed; will try again");
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        let purge_audit = ticks.is_multiple_of(AUDIT_EVERY_NTH);
        ticks += 1;
        match sweep_spool(&store, &spool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(spool_copies = n, "housekeeping"),
            Err(e) => tracing::warn!(error = %e, "spool sweep failed"),
        }
        if leadership.term().is_none() {
            continue;
        }
        match sweep_store_spool(&store).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(stored_spool_copies = n, "housekeeping"),
            Err(e) => tracing::warn!(error = %e, "sweeping the spool in the database failed"),
        }
        match run_once(&store, retention, purge_audit).await {
            Ok(p) if p != Purged::default() => tracing::info!(
                expired_tokens = p.expired_tokens,
                done_jobs = p.done_jobs,
                audit_rows = p.audit_rows,
                "housekeeping"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed; will try again"),
        }
    }
}

/// The timestamp `age` ago; a retention too long to subtract keeps everything.
fn cut_off(age: Duration) -> String {
    let cut = chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| Utc::now().checked_sub_signed(age))
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    db::format_ts(cut)
}
