//! `daemon.backup`: a consistent copy of the database, written by the daemon (as its
//! own user, mode 0600) while it goes on serving and committing; `db::backup` makes it.
//! Admin only, and over every tenant: the copy holds all of them. A folder on a mount
//! of the service's own (systemd's `PrivateTmp=`) is refused when the caller does not
//! share numhubd's mounts: the copy would be where the caller cannot find it.

use std::path::Path;
use std::sync::Arc;

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{method, MethodDef, Scope};
use super::Rpc;
use crate::api::{BackupTaken, BackupTo, DaemonBackup};
use crate::mounts;

pub fn methods() -> Vec<MethodDef> {
    vec![method::<DaemonBackup>(
        "Writes a consistent copy of the database to `path` (absolute, new; its folder must exist and be writable by numhubd) while the daemon keeps serving. The copy is mode 0600 and marked as a backup: its first start looks up unfinished creates and uploads at NumHub before sending them.",
        Role::Admin,
        Scope::Global,
        backup,
    )]
}

async fn backup(rpc: Arc<Rpc>, caller: Caller, p: BackupTo) -> Result<BackupTaken, RpcError> {
    visible_to(&p.path, caller.peer.pid)?;
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

/// Refuses `path` when its folder is on a mount private to the service and the
/// caller (`pid`) is not known to see numhubd's mounts. A path whose folder cannot be
/// resolved is left to the store's own checks, which name what is wrong with it.
/// (Two small reads of /proc, done inline.)
fn visible_to(path: &Path, pid: Option<i32>) -> Result<(), RpcError> {
    if pid.and_then(mounts::shares_mounts_with) == Some(true) {
        return Ok(());
    }
    let Some(folder) = path.parent().and_then(|f| f.canonicalize().ok()) else {
        return Ok(());
    };
    match mounts::private_mount_of(&folder) {
        None => Ok(()),
        Some(m) => Err(RpcError::invalid(
            "path",
            format!(
                "{}: {} is numhubd's private {} (systemd PrivateTmp=): you cannot see a copy there and it is deleted when numhubd stops; choose a folder below /var/lib/numhubd (e.g. /var/lib/numhubd/backups)",
                path.display(),
                folder.display(),
                m.mount_point.display()
            ),
        )),
    }
}
