//! The shutdown signal every task listens to. One [`ShutdownSender`] in the daemon
//! (`daemon::serve` fires it, the one place shutdown happens); each subsystem takes a
//! [`Shutdown`] as a parameter and returns when it fires. It lives here, not in
//! `daemon`, so that no subsystem depends on the daemon that wires it.

use tokio::sync::watch;

/// The daemon's half: fires once.
pub struct ShutdownSender(watch::Sender<bool>);

/// A task's half: cheap to clone, resolves once shutdown has begun.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (ShutdownSender, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownSender(tx), Shutdown(rx))
}

impl ShutdownSender {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until shutdown begins (or the sender is gone, which means the same).
    pub async fn recv(&mut self) {
        let _ = self.0.wait_for(|&down| down).await;
    }
}
