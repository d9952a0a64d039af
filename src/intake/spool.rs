//! The spool: numhubd's own copies of taken files, named by their SHA-256, which
//! every upload is sent from. On a server store several hosts share, each copy is
//! also put into the store before its upload is queued ([`Spool::share`]), and a
//! host that lacks a copy fetches it from there ([`Spool::for_sending`]), so
//! whichever host leads sends a file any host took.

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::db::{spool as stored, DbError, Location, Store};

/// numhubd's own copies of taken files (mode 0700, under the state directory), named
/// by their SHA-256: an upload and each of its retries read the copy, never the
/// original path, and check its hash before each send.
///
/// On a server store (several hosts) every copy is also put into the store
/// ([`Spool::share`], before its upload is queued), and a sender that lacks the
/// file fetches it from there: whichever host leads sends a file any host took.
#[derive(Clone)]
pub struct Spool {
    dir: PathBuf,
    /// The server store copies are shared through; None on SQLite.
    store: Option<Store>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .field("shared", &self.store.is_some())
            .finish()
    }
}

/// A copy being written; removed unless [`SpoolFile::keep`] names it.
pub(super) struct SpoolFile {
    file: File,
    tmp: PathBuf,
    dir: PathBuf,
    kept: bool,
}

impl SpoolFile {
    /// Copies `from` into the copy, one buffer at a time, and returns its SHA-256.
    /// `each` sees every chunk before it is written and may stop the copy with its
    /// error; read and write failures become errors by `read_err` and `write_err`.
    pub(super) fn fill<E>(
        &mut self,
        from: &mut File,
        read_err: impl Fn(std::io::Error) -> E,
        write_err: impl Fn(std::io::Error) -> E,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<String, E> {
        use std::io::Write;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => return Ok(hex(&hash.finalize())),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            let chunk = &buf[..n];
            each(chunk)?;
            hash.update(chunk);
            self.file.write_all(chunk).map_err(&write_err)?;
        }
    }

    /// Makes the copy durable under its hash's name.
    pub(super) fn keep(mut self, sha256: &str) -> std::io::Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.tmp, self.dir.join(sha256))?;
        File::open(&self.dir)?.sync_all()?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// How a partial copy's name starts.
const TMP_PREFIX: &str = ".tmp-";

/// What is wrong with a spool copy at send time.
#[derive(Debug, Error)]
pub enum SpoolError {
    #[error(
        "numhubd's copy of the file is gone, and so is the original ({0}); register the file again"
    )]
    Missing(String),
    #[error("numhubd's copy of the file no longer has the SHA-256 it was registered with; register the file again")]
    Changed,
    #[error("reading numhubd's copy of the file: {0}")]
    Io(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store's copy has no chunk its head promises.
    #[error("numhubd's copy of the file in the database is missing its part {0}; register the file again")]
    Incomplete(u32),
    #[error("numhubd's copy of the file in the database: {0}")]
    Store(#[from] DbError),
}

impl Spool {
    /// Creates (or checks) the folder: a real folder, not a link, mode 0700. Partial
    /// copies a stop left (`.tmp-*`) are removed: at start no take is in flight.
    pub fn open(dir: &Path) -> std::io::Result<Spool> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not a folder (numhubd's spool must be one, not a link)",
                    dir.display()
                )))
            }
            Err(_) => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?,
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        for e in std::fs::read_dir(dir)?.flatten() {
            if e.file_name().as_bytes().starts_with(TMP_PREFIX.as_bytes()) {
                std::fs::remove_file(e.path())?;
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            store: None,
        })
    }

    /// The spool sharing its copies through `store` when that is a server store
    /// (several hosts may share it); on SQLite, as it was.
    pub fn shared_through(self, store: &Store) -> Spool {
        let store = matches!(store.location(), Location::Server(_)).then(|| store.clone());
        Spool { store, ..self }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The copy of the file with this SHA-256.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    pub(super) fn create(&self) -> std::io::Result<SpoolFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = self
            .dir
            .join(format!("{TMP_PREFIX}{}", uuid::Uuid::new_v4()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        Ok(SpoolFile {
            file,
            tmp,
            dir: self.dir.clone(),
            kept: false,
        })
    }

    /// The copy to send a registered file from. It is not read here: the send
    /// checks its SHA-256 as it goes and never lets a changed copy reach NumHub
    /// whole (`numhub::file_body`). A copy missing here is fetched from the store
    /// (another host took the file), its SHA-256 checked before it is kept; failing
    /// that, made again from `original` when that file still has the registered
    /// SHA-256 (uploads registered by a numhubd from before the spool have no copy).
    /// `original` is opened without following a link and must be a regular file; a
    /// changed original is never sent.
    pub async fn for_sending(&self, sha256: &str, original: &Path) -> Result<PathBuf, SpoolError> {
        let (spool, sha) = (self.clone(), sha256.to_string());
        if let Some(path) = blocking(move || spool.present(&sha)).await? {
            return Ok(path);
        }
        if let Some(store) = &self.store {
            if self.fetch(store, sha256).await? {
                return Ok(self.path_of(sha256));
            }
        }
        let (spool, sha, original) = (self.clone(), sha256.to_string(), original.to_path_buf());
        blocking(move || spool.copy_original(&sha, &original)).await
    }

    /// The copy here, if there is one.
    fn present(&self, sha256: &str) -> Result<Option<PathBuf>, SpoolError> {
        let path = self.path_of(sha256);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(path)),
            Ok(_) => Err(SpoolError::Changed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SpoolError::Io(e.into())),
        }
    }

    /// Makes the copy again from the registered file's original path.
    fn copy_original(&self, sha256: &str, original: &Path) -> Result<PathBuf, SpoolError> {
        use std::os::unix::fs::OpenOptionsExt;
        let gone = |e: std::io::Error| SpoolError::Missing(format!("{} ({e})", original.display()));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(original)
            .map_err(gone)?;
        if !file.metadata().map_err(gone)?.is_file() {
            return Err(SpoolError::Changed);
        }
        let io = |e: std::io::Error| SpoolError::Io(e.into());
        let mut copy = self.create().map_err(io)?;
        if copy.fill(&mut file, io, io, |_| Ok(()))? != sha256 {
            return Err(SpoolError::Changed);
        }
        copy.keep(sha256).map_err(io)?;
        Ok(self.path_of(sha256))
    }

    /// Fetches the store's whole copy into this folder, a chunk at a time, and keeps
    /// it only if it has the SHA-256 it is named by. Returns false when the store has
    /// no whole copy.
    async fn fetch(&self, store: &Store, sha256: &str) -> Result<bool, SpoolError> {
        let sha = sha256.to_string();
        let Some(head) = store.read(move |sql| stored::head(sql, &sha)).await? else {
            return Ok(false);
        };
        let io = |e: std::io::Error| SpoolError::Io(e.into());
        let mut copy = self.create().map_err(io)?;
        let mut hash = Sha256::new();
        for seq in 0..head.chunks {
            let sha = sha256.to_string();
            let bytes = store
                .read(move |sql| stored::chunk(sql, &sha, seq))
                .await?
                .ok_or(SpoolError::Incomplete(seq))?;
            hash.update(&bytes);
            copy = blocking(move || {
                use std::io::Write;
                copy.file.write_all(&bytes).map_err(io)?;
                Ok(copy)
            })
            .await?;
        }
        if hex(&hash.finalize()) != sha256 {
            return Err(SpoolError::Changed);
        }
        let sha = sha256.to_string();
        blocking(move || copy.keep(&sha).map_err(io)).await?;
        Ok(true)
    }

    /// Puts the copy with this SHA-256 into the store (a server store; otherwise
    /// nothing to do), before its upload is queued: chunk by chunk, its head last. A
    /// copy stored already (the same bytes, taken before) is only marked as wanted.
    pub async fn share(&self, sha256: &str) -> Result<(), SpoolError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let sha = sha256.to_string();
        if store
            .write(move |tx| stored::touch(tx, &sha, &crate::db::now_ts()))
            .await?
        {
            return Ok(());
        }
        let io = |e: std::io::Error| SpoolError::Io(e.into());
        let mut file = File::open(self.path_of(sha256)).map_err(io)?;
        let (mut hash, mut size, mut seq) = (Sha256::new(), 0u64, 0u32);
        loop {
            let (f, chunk) = blocking(move || {
                let chunk = read_chunk(&mut file, stored::CHUNK_BYTES).map_err(io)?;
                Ok((file, chunk))
            })
            .await?;
            file = f;
            if chunk.is_empty() {
                break;
            }
            hash.update(&chunk);
            size += chunk.len() as u64;
            let (sha, chunk) = (sha256.to_string(), Arc::new(chunk));
            store
                .write(move |tx| stored::put_chunk(tx, &sha, seq, &chunk, &crate::db::now_ts()))
                .await?;
            seq += 1;
        }
        // The copy here is what the take hashed; a copy changed since is not shared.
        if hex(&hash.finalize()) != sha256 {
            return Err(SpoolError::Changed);
        }
        let head = stored::Head {
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            chunks: seq,
        };
        let sha = sha256.to_string();
        store
            .write(move |tx| stored::put_head(tx, &sha, head, &crate::db::now_ts()))
            .await?;
        Ok(())
    }

    /// Removes the copy with this SHA-256 (no error if it is already gone).
    pub fn remove(&self, sha256: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path_of(sha256)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every copy (by SHA-256) and leftover partial copy, with its age, for the sweep
    /// that removes what no job needs any more.
    pub fn entries(&self) -> std::io::Result<Vec<(String, std::time::SystemTime)>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            let modified = e.metadata()?.modified()?;
            out.push((e.file_name().to_string_lossy().to_string(), modified));
        }
        Ok(out)
    }
}

/// Runs `f` on the blocking pool (file reads and writes).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, SpoolError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SpoolError::Io(e.into()))?
}

/// Up to `max` bytes from `file` (fewer only at its end; none once it ended).
fn read_chunk(file: &mut File, max: usize) -> std::io::Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(max);
    file.by_ref().take(max as u64).read_to_end(&mut chunk)?;
    Ok(chunk)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
