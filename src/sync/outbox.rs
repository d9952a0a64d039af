//! The outbox: carries queued jobs to NumHub, each exactly once.

use std::sync::Arc;

use tokio::sync::Notify;

use super::{SyncContext, SyncOptions};
use crate::daemon::Shutdown;

/// Runs until shutdown.
pub async fn run(
    _ctx: SyncContext,
    _options: SyncOptions,
    _wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    shutdown.recv().await;
}
