//! `backup PATH`: numhubd writes a consistent copy of its database; numhubctl says
//! where, how big and of which instant, once it has checked the copy is visible here.

use std::path::Path;

use numhubd::api::{self, BackupTaken, BackupTo};
use numhubd::client::ClientError;

use crate::output::{out, print_json};
use crate::session::{utf8, Outcome, Session};

pub fn backup(s: &mut Session, path: &Path) -> Outcome {
    utf8(path)?;
    let b = s.request::<api::DaemonBackup>(&BackupTo {
        path: path.to_path_buf(),
    })?;
    visible_here(&b)?;
    if s.json {
        return print_json(&b);
    }
    out!("backup written to {}", b.path);
    out!("size          {} bytes", b.size_bytes);
    out!("taken at      {}", b.taken_at);
    out!("copy of       {}", b.source);
    Ok(())
}

/// numhubd wrote the copy in its own view of the file system; a mount of its own
/// that numhubd could not recognise (e.g. systemd's `PrivateTmp=disconnected`) puts
/// it where numhubctl's user cannot find it. Reporting it would be a lie, so that is
/// an error. A copy numhubctl may not look at (a folder closed to its user) is
/// taken on numhubd's word.
fn visible_here(b: &BackupTaken) -> Outcome {
    match std::fs::symlink_metadata(&b.path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ClientError::Protocol(format!(
            "numhubd reports a copy at {} but there is no such file here: numhubd sees another file system at that path (a mount of its own, such as systemd's private /tmp), so the copy is not reachable for you; take the backup in a folder below /var/lib/numhubd",
            b.path
        ))),
        _ => Ok(()),
    }
}
