//! numhubd's own files and process are private: a umask of 077 whatever the caller's
//! (so the database, its -wal/-shm, the identity and the spool are 0600/0700 as
//! created; files others must read are chmod'ed explicitly where they are made), a
//! process that cannot be dumped or ptraced by another user, a database file that
//! only numhubd may write, one daemon per database (an advisory lock on
//! `<database>.lock`), and a warning when the NumHub password file is readable by
//! others.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::DaemonError;

/// Sets the umask to 077 and makes the process non-dumpable. Call first in `serve`,
/// before any file is made.
pub fn harden_process() {
    // SAFETY: umask(2) cannot fail; it changes only this process's creation mask.
    unsafe { libc::umask(0o077) };
    // Not dumpable: no core file holds the decrypted tokens or the password, and
    // only root may ptrace the daemon or read its /proc files (environ, mem).
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc != 0 {
        eprintln!(
            "numhubd: warning: prctl(PR_SET_DUMPABLE, 0) failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Refuses a database file that another user owns or that group or others may
/// write: whoever can write it can queue jobs that numhubd sends to NumHub with its
/// credentials. A file not there yet is fine (numhubd makes it, 0600).
pub fn check_database(path: &Path) -> Result<(), DaemonError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(DaemonError::Io {
                what: format!("database {}", path.display()),
                source: e.into(),
            })
        }
    };
    // SAFETY: geteuid(2) cannot fail.
    let me = unsafe { libc::geteuid() };
    let mode = meta.mode() & 0o7777;
    let unsafe_file = |why: String| {
        Err(DaemonError::UnsafeDatabase(format!(
            "database {}: {why}; refusing to start",
            path.display()
        )))
    };
    if !meta.file_type().is_file() {
        return unsafe_file("is not a regular file (a link or something else)".into());
    }
    if meta.uid() != me {
        return unsafe_file(format!(
            "owned by uid {owner}, not by numhubd's uid {me}: give it to numhubd (chown numhubd: {p} {p}-wal {p}-shm) or point [database] path at numhubd's own file",
            owner = meta.uid(),
            p = path.display()
        ));
    }
    if mode & 0o022 != 0 {
        return unsafe_file(format!(
            "mode {mode:04o} lets group or others write it: chmod 600 {p} (and its -wal, -shm)",
            p = path.display()
        ));
    }
    Ok(())
}

/// Held for as long as the daemon runs: the kernel drops the lock when the process
/// ends, however it ends, so a crashed daemon never blocks the next start.
#[derive(Debug)]
pub struct DatabaseLock {
    _file: File,
}

/// The lock file beside the database.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the database's lock (flock on `<database>.lock`, which then holds our pid),
/// or says which daemon holds it. Taken before migrations, the socket and the
/// requeue of interrupted jobs, so a second daemon changes nothing.
pub fn lock_database(database: &Path) -> Result<DatabaseLock, DaemonError> {
    let path = lock_path(database);
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| DaemonError::Io {
            what: format!("creating {}", dir.display()),
            source: e.into(),
        })?;
    }
    let io = |e: std::io::Error| DaemonError::Io {
        what: format!("lock file {}", path.display()),
        source: e.into(),
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(io)?;
    // SAFETY: flock(2) on a descriptor this function owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io(err));
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let pid = match holder.trim() {
            "" => "unknown pid".to_string(),
            pid => format!("pid {pid}"),
        };
        return Err(DaemonError::InUse(format!(
            "database {} is in use by another numhubd ({pid}, lock {}); stop it first or give this one its own [database] path",
            database.display(),
            path.display()
        )));
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(DatabaseLock { _file: file })
}

/// One warning when the NumHub password file can be read by group or others.
pub fn warn_if_exposed(password_file: Option<&Path>) {
    let Some(path) = password_file else { return };
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.mode() & 0o777;
        if mode & 0o044 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:04o}"),
                "[numhub] password_file is readable by group or others: chmod 600 it (or use the systemd credential numhub-password)"
            );
        }
    }
}
