//! Talking to systemd: readiness, reload and stop notices, the watchdog, status text.
//! Every call is a no-op outside systemd (no `NOTIFY_SOCKET`).

use std::time::Duration;

use sd_notify::NotifyState;

use super::supervise::Liveness;
use crate::db::Store;
use crate::shutdown::Shutdown;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn reloading() {
    // systemd >= 253 wants MONOTONIC_USEC with RELOADING=1.
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Stopping because of `why` (shown by `systemctl status`).
pub fn stopping_because(why: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(why)]);
}

pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Pings the watchdog at half its interval until shutdown, each ping only while every
/// supervised task runs and once the store's writer has answered a probe within a
/// quarter of the interval: a dead task, a wedged runtime or a writer stuck in SQLite
/// stops the pings, and systemd restarts us. A missed probe is logged once until the
/// writer answers again.
pub async fn run_watchdog(
    interval: Duration,
    store: Store,
    liveness: Liveness,
    shutdown: Shutdown,
) {
    let ping = || send(&[NotifyState::Watchdog]);
    watchdog_loop(interval, store, liveness, shutdown, ping).await;
}

/// [`run_watchdog`] with the ping given (a test counts them).
async fn watchdog_loop(
    interval: Duration,
    store: Store,
    liveness: Liveness,
    mut shutdown: Shutdown,
    ping: impl Fn(),
) {
    let mut tick = tokio::time::interval(interval / 2);
    let deadline = interval / 4;
    let mut stuck = false;
    let mut dead_told = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.recv() => return,
        }
        let answered = tokio::select! {
            answered = store.writer_answers(deadline) => answered,
            _ = shutdown.recv() => return,
        };
        // Looked at after the probe, right before a ping: the daemon is stopping
        // because of a dead task, and no ping may vouch for it meanwhile.
        if let Some(task) = liveness.dead() {
            if !dead_told {
                tracing::warn!(%task, "a supervised task has ended; watchdog pings stopped");
                dead_told = true;
            }
            continue;
        }
        match (answered, stuck) {
            (true, _) => {
                if stuck {
                    tracing::info!("database writer answers again; watchdog pings resumed");
                    stuck = false;
                }
                ping();
            }
            (false, false) => {
                tracing::warn!(
                    deadline_ms = deadline.as_millis() as u64,
                    "database writer did not answer; watchdog ping skipped (systemd restarts numhubd if this lasts)"
                );
                stuck = true;
            }
            (false, true) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::super::supervise::{Supervisor, TaskName};
    use super::*;
    use crate::db::StoreOptions;

    /// Pings while every task runs; once one has died, at most the ping already past
    /// its check, then none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_ping_once_a_supervised_task_has_died() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("w.db"), StoreOptions::default()).expect("store");
        let (tx, shutdown) = crate::shutdown::channel();
        let mut tasks = Supervisor::new(shutdown.clone());
        let (end, ended) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(TaskName::Poller, async move {
            let _ = ended.await;
        });
        let pings = Arc::new(AtomicU32::new(0));
        let (count, pinged) = (pings.clone(), Arc::new(tokio::sync::Notify::new()));
        let wake = pinged.clone();
        let interval = Duration::from_millis(100);
        let watchdog = tokio::spawn(watchdog_loop(
            interval,
            store.clone(),
            tasks.liveness(),
            shutdown,
            move || {
                count.fetch_add(1, Ordering::SeqCst);
                wake.notify_one();
            },
        ));
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(20), pinged.notified())
                .await
                .expect("no ping while every task runs");
        }
        let _ = end.send(());
        assert_eq!(tasks.death().await.task, TaskName::Poller);
        let at_death = pings.load(Ordering::SeqCst);
        // Ten intervals (twenty ticks) is a bounded look for pings that must not
        // come, not a wait the outcome depends on.
        let _ = tokio::time::timeout(interval * 10, async {
            loop {
                pinged.notified().await;
            }
        })
        .await;
        let after = pings.load(Ordering::SeqCst) - at_death;
        assert!(after <= 1, "{after} pings after a task died");
        tx.fire();
        watchdog.await.expect("watchdog");
        drop(store);
    }
}
