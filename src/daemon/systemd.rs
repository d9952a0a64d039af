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
    mut shutdown: Shutdown,
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
        if let Some(task) = liveness.dead() {
            // The daemon is stopping because of it; no ping may vouch for it meanwhile.
            if !dead_told {
                tracing::warn!(%task, "a supervised task has ended; watchdog pings stopped");
                dead_told = true;
            }
            continue;
        }
        let answered = tokio::select! {
            answered = store.writer_answers(deadline) => answered,
            _ = shutdown.recv() => return,
        };
        match (answered, stuck) {
            (true, _) => {
                if stuck {
                    tracing::info!("database writer answers again; watchdog pings resumed");
                    stuck = false;
                }
                send(&[NotifyState::Watchdog]);
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
