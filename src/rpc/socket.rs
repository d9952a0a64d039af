//! The listening socket: systemd socket activation (`LISTEN_FDS`) when given, our own
//! bind otherwise. Our own bind checks the folder (created if missing; refused if a
//! symlink, owned by another user, or world-writable), replaces a stale socket file
//! but never a live daemon's, and sets mode and group before the first accept.

use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::io::FromRawFd;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tokio::net::UnixListener;

#[derive(Debug, Error)]
pub enum SocketError {
    #[error("socket folder {path}: {reason}")]
    Folder { path: String, reason: String },
    #[error(
        "another numhubd is already serving on {path}; stop it first (systemctl stop numhubd)"
    )]
    InUse { path: String },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: String },
    #[error("rpc.socket_group: no group named {0:?}")]
    UnknownGroup(String),
    #[error("{what} {path}: {reason}")]
    Io {
        what: &'static str,
        path: String,
        reason: String,
    },
}

/// A listener, and the path to remove at shutdown (None when systemd owns it).
pub struct Bound {
    pub listener: UnixListener,
    pub owned_path: Option<PathBuf>,
}

/// Takes systemd's socket if it passed one, binds `path` otherwise.
pub fn listen(path: &Path, mode: u32, group: Option<&str>) -> Result<Bound, SocketError> {
    if let Some(listener) = from_systemd()? {
        return Ok(Bound {
            listener,
            owned_path: None,
        });
    }
    let gid = group.map(lookup_group).transpose()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        check_folder(dir)?;
    }
    remove_if_stale(path)?;
    let io = |what: &'static str| {
        move |e: std::io::Error| SocketError::Io {
            what,
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    };
    // The socket is created under umask 0177 (owner-only), so between bind and chmod
    // nobody but us can connect; mode and group are then widened to the configured ones
    // before the first accept. umask is process-wide; this runs at start, before any
    // other task creates files.
    // SAFETY: umask(2) only swaps the process's file-creation mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let std_listener = bound.map_err(io("binding"))?;
    if let Some(gid) = gid {
        chown_group(path, gid).map_err(io("setting the group of"))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io("setting the mode of"))?;
    std_listener
        .set_nonblocking(true)
        .map_err(io("configuring"))?;
    let listener = UnixListener::from_std(std_listener).map_err(io("registering"))?;
    Ok(Bound {
        listener,
        owned_path: Some(path.to_path_buf()),
    })
}

/// systemd socket activation: fd 3 when `LISTEN_PID` is us and `LISTEN_FDS` ≥ 1.
fn from_systemd() -> Result<Option<UnixListener>, SocketError> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    if !ours || fds == 0 {
        return Ok(None);
    }
    // SAFETY: systemd passed fd 3 to this process (LISTEN_PID matched) as a listening
    // socket; we take ownership of it exactly once.
    let std_listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(3) };
    let err = |e: std::io::Error| SocketError::Io {
        what: "using the systemd socket",
        path: "fd 3".into(),
        reason: e.to_string(),
    };
    std_listener.set_nonblocking(true).map_err(err)?;
    Ok(Some(UnixListener::from_std(std_listener).map_err(err)?))
}

fn check_folder(dir: &Path) -> Result<(), SocketError> {
    let bad = |reason: String| SocketError::Folder {
        path: dir.display().to_string(),
        reason,
    };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| bad(format!("cannot create it: {e}")))?;
            // Traversable by the socket's group and others: access is decided by the
            // socket's own mode and group, and by [[access]].
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| bad(format!("cannot set its mode: {e}")))?;
            Ok(())
        }
        Err(e) => Err(bad(format!("cannot inspect it: {e}"))),
        Ok(meta) => {
            if meta.file_type().is_symlink() {
                return Err(bad("is a symlink; refusing to use it".into()));
            }
            if !meta.is_dir() {
                return Err(bad("is not a folder".into()));
            }
            // SAFETY: geteuid(2) cannot fail.
            let me = unsafe { libc::geteuid() };
            if meta.uid() != me && meta.uid() != 0 {
                return Err(bad(format!(
                    "is owned by uid {}, not by numhubd's user (uid {me}) or root; refusing to use it",
                    meta.uid()
                )));
            }
            if meta.mode() & 0o002 != 0 && meta.mode() & 0o1000 == 0 {
                return Err(bad(format!(
                    "is world-writable (mode {:o}); anyone could replace the socket; refusing to use it",
                    meta.mode() & 0o7777
                )));
            }
            Ok(())
        }
    }
}

/// A socket file nobody answers on is left over from a crash: remove it. One a live
/// daemon answers on is not ours to take.
fn remove_if_stale(path: &Path) -> Result<(), SocketError> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(SocketError::Io {
                what: "inspecting",
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        }
        Ok(m) => m,
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket {
            path: path.display().to_string(),
        });
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(SocketError::InUse {
            path: path.display().to_string(),
        });
    }
    tracing::info!(path = %path.display(), "removing a stale socket left by an earlier run");
    std::fs::remove_file(path).map_err(|e| SocketError::Io {
        what: "removing the stale socket",
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn lookup_group(name: &str) -> Result<u32, SocketError> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let c = CString::new(name).map_err(|_| SocketError::UnknownGroup(name.to_string()))?;
    // SAFETY: getgrnam(3) with a NUL-terminated name; the result is read at once, at
    // start, before other threads could call it.
    let grp = unsafe { libc::getgrnam(c.as_ptr()) };
    if grp.is_null() {
        return Err(SocketError::UnknownGroup(name.to_string()));
    }
    // SAFETY: non-null pointer returned by getgrnam.
    Ok(unsafe { (*grp).gr_gid })
}

fn chown_group(path: &Path, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, None, Some(gid))
}

/// Removes the socket we bound (at shutdown).
pub fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "could not remove the socket");
        }
    }
}
