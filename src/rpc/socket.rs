//! The listening socket: systemd socket activation (`LISTEN_FDS`) when given, our own
//! bind otherwise. Our own bind checks the folder (created if missing; refused if a
//! symlink, owned by another user, or world-writable), replaces a stale socket file
//! but never a live daemon's, and sets mode and group between bind and listen: a
//! socket that is not listening yet refuses every connect, so nobody can connect
//! before its permissions are the configured ones, and no process-wide umask is
//! touched.

use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::io::FromRawFd;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};
use thiserror::Error;
use tokio::net::UnixListener;

/// Connections the kernel queues before we accept them (std's own default).
const BACKLOG: i32 = 128;

#[derive(Debug, Error)]
pub enum SocketError {
    #[error("socket folder {path}: {reason}")]
    Folder { path: String, reason: String },
    #[error("socket folder {path}: {what}: {source}")]
    FolderIo {
        path: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another numhubd is already serving on {path}; stop it first (systemctl stop numhubd)"
    )]
    InUse { path: String },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: String },
    #[error("rpc.socket_group: no group named {0:?}")]
    UnknownGroup(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
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
            source: e,
        }
    };
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(io("creating"))?;
    let address = SockAddr::unix(path).map_err(io("naming"))?;
    socket.bind(&address).map_err(io("binding"))?;
    // Bound but not listening: a connect now is refused, whatever the file's mode.
    if let Some(gid) = gid {
        chown_group(path, gid).map_err(io("setting the group of"))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io("setting the mode of"))?;
    socket.listen(BACKLOG).map_err(io("listening on"))?;
    socket.set_nonblocking(true).map_err(io("configuring"))?;
    let std_listener = std::os::unix::net::UnixListener::from(socket);
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
        source: e,
    };
    std_listener.set_nonblocking(true).map_err(err)?;
    Ok(Some(UnixListener::from_std(std_listener).map_err(err)?))
}

fn folder_io(dir: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> SocketError {
    let path = dir.display().to_string();
    move |source| SocketError::FolderIo { path, what, source }
}

fn check_folder(dir: &Path) -> Result<(), SocketError> {
    let bad = |reason: String| SocketError::Folder {
        path: dir.display().to_string(),
        reason,
    };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(folder_io(dir, "cannot create it"))?;
            // Traversable by the socket's group and others: access is decided by the
            // socket's own mode and group, and by [[access]].
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(folder_io(dir, "cannot set its mode"))?;
            Ok(())
        }
        Err(e) => Err(folder_io(dir, "cannot inspect it")(e)),
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
                source: e,
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
        source: e,
    })
}

/// A group by name or number (`getgrnam_r`); also resolves `[drop] group`.
pub fn lookup_group(name: &str) -> Result<u32, SocketError> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let unknown = || SocketError::UnknownGroup(name.to_string());
    let c = CString::new(name).map_err(|_| unknown())?;
    // getgrnam_r(3), not getgrnam: the entry lands in our buffer, not in static
    // storage another thread's lookup could overwrite.
    let mut buf = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: all-zero is a valid `group` (null pointers, gid 0); it is only read
        // after getgrnam_r reports success, which fills it from `buf`.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: `c` is NUL-terminated; every pointer is valid for the call and
        // `buf.len()` is the buffer's true size.
        let rc = unsafe {
            libc::getgrnam_r(
                c.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        match rc {
            0 if result.is_null() => return Err(unknown()),
            0 => return Ok(grp.gr_gid),
            // A group with many members needs a bigger buffer.
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            rc => {
                return Err(SocketError::Io {
                    what: "looking up the group",
                    path: name.to_string(),
                    source: std::io::Error::from_raw_os_error(rc),
                })
            }
        }
    }
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
