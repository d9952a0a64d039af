//! The poller: keeps the replica current from NumHub with as few requests as possible.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Notify;

use super::{SyncContext, SyncError, SyncOptions};
use crate::daemon::Shutdown;

/// Runs until shutdown.
pub async fn run(
    _ctx: SyncContext,
    _options: SyncOptions,
    _wake: Arc<Notify>,
    _anomalies: Arc<AtomicU64>,
    mut shutdown: Shutdown,
) {
    shutdown.recv().await;
}

/// Fetches one entity from NumHub now and applies what changed.
pub async fn refresh_entity(
    _ctx: &SyncContext,
    _anomalies: &AtomicU64,
    _tenant_id: i64,
    entity_id: &str,
) -> Result<Value, SyncError> {
    Err(SyncError::NotAtNumhub(entity_id.to_string()))
}
