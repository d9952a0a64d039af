//! `daemon.backup`: a consistent copy of the database, written by the daemon (as its
//! own user, mode 0600) while it goes on serving and committing; `db::backup` makes it.
//! Admin only, and over every tenant: the copy holds all of them.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{def, handler, MethodDef, Scope};
use super::schema::{object, string};
use super::Rpc;
use crate::api::BackupTaken;

pub fn methods() -> Vec<MethodDef> {
    vec![def(
        "daemon.backup",
        "Writes a consistent copy of the database to `path` (absolute, new; its folder must exist and be writable by numhubd) while the daemon keeps serving. The copy is mode 0600 and marked as a backup: its first start looks up unfinished creates and uploads at NumHub before sending them.",
        Role::Admin,
        Scope::Global,
        object(&[("path", string(4096))], &[]),
        json!({"type": "object", "properties": {
            "path": {"type": "string"}, "size_bytes": {"type": "integer"},
            "taken_at": {"type": "string", "format": "date-time"}, "source": {"type": "string"}},
            "required": ["path", "size_bytes", "taken_at", "source"]}),
        handler(backup),
    )]
}

#[derive(Deserialize)]
struct Params {
    path: PathBuf,
}

async fn backup(rpc: Arc<Rpc>, caller: Caller, p: Params) -> Result<BackupTaken, RpcError> {
    let b = rpc.store.backup(p.path).await?;
    tracing::info!(
        path = %b.path.display(),
        size_bytes = b.size_bytes,
        taken_at = %b.taken_at,
        uid = caller.peer.uid,
        "backup written"
    );
    Ok(BackupTaken {
        path: b.path.display().to_string(),
        size_bytes: b.size_bytes,
        taken_at: b.taken_at,
        source: b.source.display().to_string(),
    })
}
