//! Housekeeping the client's tables need: expired `numhub_tokens` rows (hourly; the
//! `expires_at` index serves it) and audit rows older than `[audit] retention_days`
//! (daily, in small batches so no write transaction holds the writer for long).

use std::time::Duration;

use crate::daemon::Shutdown;
use crate::db::{self, Store};

const BATCH: u32 = 500;

/// One pass: returns (tokens deleted, audit rows deleted).
pub async fn run_once(
    store: &Store,
    retention_days: u32,
    purge_audit: bool,
) -> Result<(usize, usize), db::DbError> {
    let now = db::now_ts();
    let tokens = store
        .write(move |tx| db::tokens::delete_expired(tx, &now))
        .await?;
    let mut purged = 0;
    if purge_audit {
        let before =
            db::format_ts(chrono::Utc::now() - chrono::Duration::days(i64::from(retention_days)));
        loop {
            let b = before.clone();
            let n = store
                .write(move |tx| db::sync_logs::purge_older_than(tx, &b, BATCH))
                .await?;
            purged += n;
            if n < BATCH as usize {
                break;
            }
        }
    }
    Ok((tokens, purged))
}

/// The daemon task: a pass at start, tokens every hour, audit rows every 24 hours.
pub async fn run(store: Store, retention_days: u32, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = tick.tick() => {}
        }
        let purge = ticks.is_multiple_of(24);
        ticks += 1;
        match run_once(&store, retention_days, purge).await {
            Ok((t, a)) if t + a > 0 => {
                tracing::info!(expired_tokens = t, audit_rows = a, "housekeeping")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed; will try again"),
        }
    }
}
