//! The watcher's state as `daemon.status` shows it (`watcher`), shared between the
//! watcher, which updates it, and the RPC, which reads it.

use std::sync::{Arc, Mutex};

use crate::api::WatcherStatus;

/// A handle on the watcher's state; clones share it.
#[derive(Debug, Clone, Default)]
pub struct StatusHandle(Arc<Mutex<Option<WatcherStatus>>>);

impl StatusHandle {
    /// The state now (None: no watcher runs).
    pub fn get(&self) -> Option<WatcherStatus> {
        self.0.lock().map(|s| s.clone()).unwrap_or(None)
    }

    /// Changes the state (a watcher starting sets it first).
    pub fn update(&self, f: impl FnOnce(&mut WatcherStatus)) {
        if let Ok(mut s) = self.0.lock() {
            f(s.get_or_insert_with(WatcherStatus::default));
        }
    }
}
