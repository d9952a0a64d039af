//! Talking to systemd: readiness, reload and stop notices, the watchdog, status text.
//! Every call is a no-op outside systemd (no `NOTIFY_SOCKET`).

use std::time::Duration;

use sd_notify::NotifyState;

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

pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Pings the watchdog at half its interval until shutdown. The ping comes from the
/// runtime's own task, so a wedged runtime stops pinging and systemd restarts us.
pub async fn run_watchdog(interval: Duration, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tokio::select! {
            _ = tick.tick() => send(&[NotifyState::Watchdog]),
            _ = shutdown.recv() => return,
        }
    }
}
