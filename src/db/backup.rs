//! Online copies of the database (`daemon.backup`, `numhubctl backup PATH`) and the
//! `backup_marker` row every copy carries (migration V6).
//!
//! *How the copy is made.* `VACUUM INTO` on a read-only connection of its own: one
//! statement in one read transaction, so the copy is the database as of one instant,
//! and in WAL mode a reader never blocks the writer: commits go on into the WAL
//! meanwhile (only the checkpoint cannot pass the copy's snapshot until it is done,
//! so the WAL grows for that long). The pooled readers stay free for the RPC.
//! SQLite's backup API was not taken: stepped page by page it starts over whenever
//! another connection commits, which the daemon does all the time, and in one step it
//! is the same single read transaction. `VACUUM INTO` also writes a compact file (no
//! free pages, rollback journal mode: one self-contained file) into the empty file we
//! created, so the mode is ours.
//!
//! *How it is written.* PATH must be absolute (numhubd writes it, from its own working
//! folder), must not exist (a backup never overwrites), and its folder must exist and
//! take new files from numhubd's user. The copy goes to a temporary name beside it
//! (`.NAME.partial-PID-N`, created exclusively with mode 0600: it holds encrypted
//! tokens and audit rows), is marked, fsynced, then linked to PATH (`link` fails if
//! PATH appeared meanwhile, so nothing is overwritten even then); the temporary name
//! is removed and the folder fsynced. A copy that failed half-way never has the final
//! name.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OpenFlags};

use super::engine::args;

use super::{now_ts, open_connection, DbError, Result, StoreOptions, Tx};

/// A copy [`take`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub path: PathBuf,
    pub size_bytes: u64,
    /// When its snapshot was taken (read just before the read transaction began, so
    /// nothing committed after this instant is in it).
    pub taken_at: String,
    /// The database it is a copy of.
    pub source: PathBuf,
}

/// What a copy says about itself until its first start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupMarker {
    pub taken_at: String,
    pub source_path: String,
}

/// The copy's mode: only numhubd's user may read encrypted tokens and audit rows.
const MODE: u32 = 0o600;

/// Tells apart two backups one process runs at once.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes a marked copy of `source` to `dest` (see the module's text).
pub(super) fn take(source: &Path, dest: &Path, options: &StoreOptions) -> Result<Backup> {
    let (folder, name) = check_dest(dest)?;
    let partial = folder.join(format!(
        ".{name}.partial-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let file = create_partial(dest, &folder, &partial)?;
    let guard = Partial(partial.clone());
    let partial_name = partial
        .to_str()
        .ok_or_else(|| refused(format!("{} is not UTF-8", dest.display())))?;
    let taken_at = now_ts();
    let conn = open_connection(source, true, options)?;
    conn.execute("VACUUM INTO ?1", [partial_name])
        .map_err(|e| failed(dest, format!("copying {}: {e}", source.display())))?;
    drop(conn);
    mark(&partial, &taken_at, source)
        .map_err(|e| failed(dest, format!("marking the copy: {e}")))?;
    still_ours(&file, &partial).map_err(|why| failed(dest, why))?;
    file.sync_all()
        .map_err(|e| failed(dest, format!("flushing the copy to disk: {e}")))?;
    std::fs::hard_link(&partial, dest).map_err(|e| match e.kind() {
        ErrorKind::AlreadyExists => exists(dest),
        _ => failed(dest, format!("giving the copy its name: {e}")),
    })?;
    drop(guard);
    File::open(&folder)
        .and_then(|d| d.sync_all())
        .map_err(|e| failed(dest, format!("flushing folder {}: {e}", folder.display())))?;
    let size_bytes = file
        .metadata()
        .map_err(|e| failed(dest, format!("reading its size: {e}")))?
        .len();
    Ok(Backup {
        path: dest.to_path_buf(),
        size_bytes,
        taken_at,
        source: source.to_path_buf(),
    })
}

/// At a start: the marker of a restored copy, removed in the caller's transaction
/// (None: this file is not a copy that has not been started yet).
pub fn take_marker(tx: &Tx<'_>) -> Result<Option<BackupMarker>> {
    let marker = tx.row(
        "SELECT taken_at, source_path FROM backup_marker WHERE id = 1",
        args![],
        |r| {
            Ok(BackupMarker {
                taken_at: r.get(0)?,
                source_path: r.get(1)?,
            })
        },
    )?;
    if marker.is_some() {
        tx.execute("DELETE FROM backup_marker", args![])?;
    }
    Ok(marker)
}

/// The temporary name, removed when the copy is done with it (given its final name,
/// or failed).
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        // Nothing is left to undo when it is gone already.
        let _ = std::fs::remove_file(&self.0);
    }
}

fn refused(reason: String) -> DbError {
    DbError::invalid("path", reason)
}

fn exists(dest: &Path) -> DbError {
    refused(format!(
        "{} exists; a backup never overwrites a file: choose a new name or remove it",
        dest.display()
    ))
}

fn failed(dest: &Path, reason: String) -> DbError {
    DbError::Backup {
        path: dest.display().to_string(),
        reason,
    }
}

/// The checks that need nothing written: PATH's form, its folder, its absence.
fn check_dest(dest: &Path) -> Result<(PathBuf, String)> {
    let shown = dest.display();
    if !dest.is_absolute() {
        return Err(refused(format!(
            "{shown} is a relative path; give an absolute one (numhubd writes the copy, from its own working folder)"
        )));
    }
    let name = match dest.file_name() {
        None => return Err(refused(format!("{shown} names no file"))),
        Some(n) => n
            .to_str()
            .ok_or_else(|| refused(format!("{shown} is not UTF-8")))?
            .to_string(),
    };
    let folder = dest
        .parent()
        .ok_or_else(|| refused(format!("{shown} names no file")))?
        .to_path_buf();
    match std::fs::metadata(&folder) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(refused(format!(
                "{shown}: {} is not a folder",
                folder.display()
            )))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(refused(format!(
                "{shown}: folder {} does not exist (create it, writable by numhubd's user)",
                folder.display()
            )))
        }
        Err(e) => {
            return Err(refused(format!(
                "{shown}: folder {} cannot be reached by numhubd: {e}",
                folder.display()
            )))
        }
    }
    match std::fs::symlink_metadata(dest) {
        Ok(_) => Err(exists(dest)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok((folder, name)),
        Err(e) => Err(refused(format!(
            "{shown} cannot be looked at by numhubd: {e}"
        ))),
    }
}

/// The temporary file, new (never one someone placed there) and 0600 whatever the
/// umask.
fn create_partial(dest: &Path, folder: &Path, partial: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(partial)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => refused(format!(
                "{}: numhubd (uid {}) cannot create files in {}: {e}",
                dest.display(),
                // SAFETY: geteuid(2) cannot fail.
                unsafe { libc::geteuid() },
                folder.display()
            )),
            _ => failed(dest, format!("creating {}: {e}", partial.display())),
        })?;
    if let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(MODE)) {
        let _ = std::fs::remove_file(partial);
        return Err(failed(dest, format!("setting mode 0600: {e}")));
    }
    Ok(file)
}

/// Writes the marker into the copy, which stays one file (rollback journal).
fn mark(partial: &Path, taken_at: &str, source: &Path) -> Result<()> {
    let conn = Connection::open_with_flags(
        partial,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    // A copy of a restored file that has not been started yet keeps its older mark:
    // everything since that instant may have been sent.
    conn.execute(
        "INSERT INTO backup_marker (id, taken_at, source_path) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO NOTHING",
        rusqlite::params![taken_at, source.display().to_string()],
    )?;
    conn.close().map_err(|(_, e)| DbError::Sqlite(e))
}

/// The temporary name still leads to the file we created (nobody swapped it while
/// SQLite wrote through the name).
fn still_ours(file: &File, partial: &Path) -> std::result::Result<(), String> {
    let ours = file.metadata().map_err(|e| e.to_string())?;
    let named = std::fs::symlink_metadata(partial).map_err(|e| e.to_string())?;
    if (ours.dev(), ours.ino()) != (named.dev(), named.ino()) {
        return Err(format!(
            "{} was replaced while the copy was written",
            partial.display()
        ));
    }
    Ok(())
}
