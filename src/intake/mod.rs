//! File intake: everything numhubd checks about a file before it becomes a document —
//! where it may come from, opening it, the size limit, its SHA-256, its content type
//! (from the bytes, never the name) and NumHub's rule for each document type (LOA: PDF;
//! LOGO: BMP; business documents: PDF, XLSX or CSV). `document.upload` and the drop
//! folder both take files through here, so the rules live once.
//!
//! A file is opened once, below its allowed folder, following no link on the way and
//! without blocking (a FIFO cannot stall the daemon), and every check is made on the
//! open descriptor, so nothing can be swapped in between a check and the read.
//!
//! The functions here block (they read the file): call them from a blocking task.
//! [`format`] knows what the bytes are; [`spool`] keeps numhubd's copies.

pub mod format;
mod spool;

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

pub use format::ContentType;
pub use spool::{Spool, SpoolError};

use crate::db::documents::NewLocalDocument;
use crate::db::{DocumentSource, DocumentType};

/// The largest file taken unless `[drop] max_file_bytes` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 50 * 1024 * 1024;

/// Why a file was not taken. Each names what the sender can change.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("must be an absolute path")]
    NotAbsolute,
    #[error("cannot be read by numhubd: {0}")]
    Unreadable(String),
    #[error("is not under a folder listed in [rpc] upload_dirs")]
    OutsideAllowed,
    #[error("is under a folder that [rpc] upload_dirs allows only for other tenants")]
    OtherTenants,
    #[error("is not a regular file (a folder, FIFO, device or socket)")]
    NotAFile,
    #[error("goes through a symbolic link, which numhubd never follows: give the file's own path")]
    Symlink,
    #[error("has other hard links: copy the file into the folder instead of linking it")]
    HardLink,
    #[error("is {size} bytes; at most {max} are taken")]
    TooLarge { size: u64, max: u64 },
    #[error("is empty")]
    Empty,
    #[error("has a name that cannot be shown safely (control characters, invalid UTF-8 or over 255 bytes): rename it")]
    BadName,
    #[error("could not be copied into numhubd's spool: {0}")]
    Spool(String),
    #[error("is {what}, which NumHub does not take; {fix}")]
    UnknownContent {
        /// The format it is, as far as numhubd can tell.
        what: &'static str,
        /// What the type folder takes and how to make such a file.
        fix: &'static str,
    },
    #[error("is a {}; {}", content_type.name(), format::what_it_takes(*document_type))]
    WrongType {
        document_type: DocumentType,
        content_type: ContentType,
    },
    /// Not finished: still being written, or cut short.
    #[error("is not complete: {0}")]
    Incomplete(String),
    #[error("changed while numhubd read it (it is still being written)")]
    ChangedWhileRead,
}

impl IntakeError {
    /// The param (or property of a dropped file) the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            IntakeError::WrongType { .. } => "document_type",
            _ => "path",
        }
    }
}

/// A file that passed every check, as it was when it was read.
#[derive(Debug, Clone)]
pub struct Taken {
    /// The path it was taken from (no link on the way below its folder).
    pub path: PathBuf,
    pub filename: String,
    pub size_bytes: i64,
    /// Lower-case hex.
    pub sha256: String,
    pub content_type: ContentType,
}

impl Taken {
    /// The `documents` row that records it.
    pub fn local_document(&self, tenant_id: i64, source: DocumentSource) -> NewLocalDocument {
        NewLocalDocument {
            tenant_id,
            original_filename: self.filename.clone(),
            size_bytes: self.size_bytes,
            sha256: self.sha256.clone(),
            content_type: self.content_type.mime().to_string(),
            source,
            source_path: self.path.display().to_string(),
        }
    }
}

/// Opens `path`, which must lie inside one of `dirs`. The folder itself is opened as
/// configured; every component below it is opened relative to the one before with
/// `O_NOFOLLOW`, so a symbolic link anywhere below the folder (or a `..`) is refused
/// rather than followed. The file is opened non-blocking and must be a regular file
/// with one link.
pub fn open_within(dirs: &[PathBuf], path: &Path) -> Result<File, IntakeError> {
    if !path.is_absolute() {
        return Err(IntakeError::NotAbsolute);
    }
    // A folder is matched as configured or as its real path, so a caller may name
    // the file either way; below the folder no link is followed.
    let (dir, rest) = dirs
        .iter()
        .flat_map(|d| [Some(d.clone()), d.canonicalize().ok()])
        .flatten()
        .find_map(|d| {
            let rest = path.strip_prefix(&d).ok()?.to_path_buf();
            Some((d, rest))
        })
        .ok_or(IntakeError::OutsideAllowed)?;
    let mut names = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(name) => names.push(name),
            // `..` could climb out; `.` never appears after strip_prefix but means nothing.
            _ => return Err(IntakeError::OutsideAllowed),
        }
    }
    let Some((file_name, folders)) = names.split_last() else {
        return Err(IntakeError::NotAFile);
    };
    let unreadable = |e: std::io::Error| IntakeError::Unreadable(e.to_string());
    let mut at: OwnedFd = File::open(&dir).map_err(unreadable)?.into();
    for name in folders {
        at = open_at(&at, name, libc::O_DIRECTORY)?;
    }
    let file = File::from(open_at(&at, file_name, libc::O_NONBLOCK)?);
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(IntakeError::NotAFile);
    }
    if meta.nlink() > 1 {
        return Err(IntakeError::HardLink);
    }
    Ok(file)
}

/// `openat(at, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | extra)`.
fn open_at(at: &OwnedFd, name: &std::ffi::OsStr, extra: i32) -> Result<OwnedFd, IntakeError> {
    let c = CString::new(name.as_bytes()).map_err(|_| IntakeError::OutsideAllowed)?;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | extra;
    // SAFETY: `at` is an open descriptor and `c` a NUL-terminated name; the returned
    // descriptor, when valid, is owned by nobody else.
    let fd = unsafe { libc::openat(at.as_raw_fd(), c.as_ptr(), flags) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            // ELOOP: the last component is a link; ENOTDIR with O_DIRECTORY: a
            // folder component is a link (to a file) or a file.
            Some(libc::ELOOP) => IntakeError::Symlink,
            Some(libc::ENOTDIR) if is_link(at, &c) => IntakeError::Symlink,
            _ => IntakeError::Unreadable(e.to_string()),
        });
    }
    // SAFETY: `fd` was just returned by openat and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether `name` in the folder `at` is a symbolic link (for the error's wording).
fn is_link(at: &OwnedFd, name: &CString) -> bool {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, NUL-terminated name, `st` writable.
    let r = unsafe {
        libc::fstatat(
            at.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    r == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFLNK
}

/// A folder `document.upload` may read from, for any tenant or only some.
#[derive(Debug, Clone)]
pub struct AllowedDir {
    pub path: PathBuf,
    pub tenants: Option<Vec<i64>>,
}

/// What `document.upload` takes files under: `[rpc] upload_dirs`, the size limit
/// and the spool.
#[derive(Debug, Clone)]
pub struct Uploads {
    pub dirs: Vec<AllowedDir>,
    pub max_bytes: u64,
    pub spool: Spool,
}

impl Uploads {
    /// Takes `path` for `tenant_id`: it must lie in a folder allowed for that tenant.
    pub fn take(
        &self,
        tenant_id: i64,
        path: &Path,
        document_type: DocumentType,
    ) -> Result<Taken, IntakeError> {
        let (mine, others): (Vec<_>, Vec<_>) = self
            .dirs
            .iter()
            .partition(|d| d.tenants.as_ref().is_none_or(|t| t.contains(&tenant_id)));
        let mine: Vec<PathBuf> = mine.into_iter().map(|d| d.path.clone()).collect();
        match take_within(&mine, path, document_type, self.max_bytes, &self.spool) {
            Err(IntakeError::OutsideAllowed)
                if others.iter().any(|d| path.starts_with(&d.path)) =>
            {
                Err(IntakeError::OtherTenants)
            }
            r => r,
        }
    }
}

/// Opens `path` inside `dirs` (see [`open_within`]) and takes it into `spool` (see
/// [`take`]).
pub fn take_within(
    dirs: &[PathBuf],
    path: &Path,
    document_type: DocumentType,
    max_bytes: u64,
    spool: &Spool,
) -> Result<Taken, IntakeError> {
    let file = open_within(dirs, path)?;
    // The app hands over a finished file: its format's end marker is not asked for.
    take(file, path, document_type, max_bytes, spool, Whole::Trusted)
}

/// Whether a file must be whole by its format's end marker ([`ContentType::whole`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whole {
    /// The drop folder: nobody says a file is finished, so its bytes must.
    Required,
    /// `document.upload`: the caller says it is.
    Trusted,
}

/// How much of a file's head decides its content type.
const SNIFF_BYTES: usize = 8192;

/// Copies the open `file` (found at `path`) into `spool` while hashing it, within
/// `max_bytes`, detects its content type and checks it fits `document_type`. Memory
/// stays one buffer whatever the file's size; the copy is what is uploaded later, so
/// the original may change or go once this returns.
pub fn take(
    mut file: File,
    path: &Path,
    document_type: DocumentType,
    max_bytes: u64,
    spool: &Spool,
    whole: Whole,
) -> Result<Taken, IntakeError> {
    let unreadable = |e: std::io::Error| IntakeError::Unreadable(e.to_string());
    let filename = shown_name(path)?;
    // The checks are made on the opened file, so a swap after them cannot slip past.
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(IntakeError::NotAFile);
    }
    if meta.len() > max_bytes {
        return Err(IntakeError::TooLarge {
            size: meta.len(),
            max: max_bytes,
        });
    }
    let mut copy = spool.create().map_err(spool_err)?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut tail = Tail::default();
    let mut text = TextCheck::default();
    let mut size = 0u64;
    let sha256 = copy.fill(&mut file, unreadable, spool_err, |chunk| {
        size += chunk.len() as u64;
        if size > max_bytes {
            // Grew past the limit while being read.
            return Err(IntakeError::TooLarge {
                size,
                max: max_bytes,
            });
        }
        let room = SNIFF_BYTES.saturating_sub(head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..room]);
        tail.push(chunk);
        text.feed(chunk);
        Ok(())
    })?;
    if size == 0 {
        return Err(IntakeError::Empty);
    }
    let Some(content_type) = ContentType::classify(&head, text.finish()) else {
        return Err(format::unknown(&head, document_type));
    };
    if !content_type.fits(document_type) {
        return Err(IntakeError::WrongType {
            document_type,
            content_type,
        });
    }
    if whole == Whole::Required {
        content_type
            .whole(&head, tail.as_slice(), size)
            .map_err(IntakeError::Incomplete)?;
    }
    if changed_since(&file, &meta) {
        return Err(IntakeError::ChangedWhileRead);
    }
    copy.keep(&sha256).map_err(spool_err)?;
    Ok(Taken {
        path: path.to_path_buf(),
        filename,
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        sha256,
        content_type,
    })
}

/// Whether the open file's size or mtime differ from `before` (a writer at work).
fn changed_since(file: &File, before: &std::fs::Metadata) -> bool {
    match file.metadata() {
        Ok(now) => {
            now.len() != before.len()
                || now.mtime() != before.mtime()
                || now.mtime_nsec() != before.mtime_nsec()
        }
        Err(_) => true,
    }
}

/// The last [`format::TAIL_BYTES`] of a stream of chunks.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.0.extend_from_slice(chunk);
        let extra = self.0.len().saturating_sub(format::TAIL_BYTES);
        self.0.drain(..extra);
    }

    fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

/// The file's name, if it can be shown safely (in logs, at NumHub, in a reason
/// file): valid UTF-8, no control characters, at most 255 bytes.
fn shown_name(path: &Path) -> Result<String, IntakeError> {
    let name = path.file_name().ok_or(IntakeError::NotAFile)?;
    let name = name.to_str().ok_or(IntakeError::BadName)?;
    if name.chars().any(char::is_control) || name.len() > 255 {
        return Err(IntakeError::BadName);
    }
    Ok(name.to_string())
}

fn spool_err(e: std::io::Error) -> IntakeError {
    IntakeError::Spool(e.to_string())
}

/// Whether a stream of chunks is text (UTF-8 without NUL), fed chunk by chunk: a
/// character split between two chunks is carried over.
#[derive(Default)]
struct TextCheck {
    carry: Vec<u8>,
    broken: bool,
}

impl TextCheck {
    fn feed(&mut self, chunk: &[u8]) {
        if self.broken {
            return;
        }
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        match std::str::from_utf8(&bytes) {
            Ok(t) => self.broken = t.contains('\0'),
            // An incomplete character at the end (error_len None) may finish in the
            // next chunk; anything else is not text.
            Err(e) if e.error_len().is_none() => {
                let (ok, rest) = bytes.split_at(e.valid_up_to());
                self.broken = ok.contains(&0);
                self.carry = rest.to_vec();
            }
            Err(_) => self.broken = true,
        }
    }

    fn finish(self) -> bool {
        !self.broken && self.carry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_taken_into_the_spool_or_refused_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dirs = [dir.path().to_path_buf()];
        let spool = Spool::open(&dir.path().join("state/spool")).expect("spool");
        let take = |p: &Path, t, max| take_within(&dirs, p, t, max, &spool);
        let pdf = dir.path().join("loa.pdf");
        std::fs::write(&pdf, b"%PDF-1.7\n").expect("write");
        let t = take(&pdf, DocumentType::Loa, 100).expect("taken");
        assert_eq!(t.filename, "loa.pdf");
        assert_eq!(t.size_bytes, 9);
        assert_eq!(
            std::fs::read(spool.path_of(&t.sha256)).expect("copy"),
            b"%PDF-1.7\n"
        );
        spool.remove(&t.sha256).expect("remove");
        assert!(!spool.path_of(&t.sha256).exists());
        assert_eq!(
            take(&pdf, DocumentType::Logo, 100).unwrap_err(),
            IntakeError::WrongType {
                document_type: DocumentType::Logo,
                content_type: ContentType::Pdf
            }
        );
        assert_eq!(
            take(&pdf, DocumentType::Loa, 8).unwrap_err(),
            IntakeError::TooLarge { size: 9, max: 8 }
        );
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, b"").expect("write");
        assert_eq!(
            take(&empty, DocumentType::Other, 100).unwrap_err(),
            IntakeError::Empty
        );
        let big = dir.path().join("big.csv");
        std::fs::File::create(&big)
            .and_then(|f| f.set_len(DEFAULT_MAX_BYTES + 1))
            .expect("sparse file");
        assert!(matches!(
            take(&big, DocumentType::Other, DEFAULT_MAX_BYTES),
            Err(IntakeError::TooLarge { .. })
        ));
        let bad = dir.path().join("bad\u{7}name.pdf");
        std::fs::write(&bad, b"%PDF-1.7\n").expect("write");
        assert_eq!(
            take(&bad, DocumentType::Loa, 100).unwrap_err(),
            IntakeError::BadName
        );
        // Nothing refused left anything in the spool.
        let left: Vec<_> = spool.entries().expect("entries");
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(
            open_within(&[dir.path().join("sub")], &pdf).unwrap_err(),
            IntakeError::OutsideAllowed
        );
        assert_eq!(
            open_within(&dirs, Path::new("rel.pdf")).unwrap_err(),
            IntakeError::NotAbsolute
        );
        assert_eq!(
            open_within(&dirs, &dir.path().join("x/../loa.pdf")).unwrap_err(),
            IntakeError::OutsideAllowed
        );
    }

    #[tokio::test]
    async fn a_missing_copy_is_made_again_only_from_an_unchanged_original() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(&dir.path().join("spool")).expect("spool");
        let original = dir.path().join("old.pdf");
        std::fs::write(&original, b"%PDF-1.7 registered").expect("write");
        let file = File::open(&original).expect("open");
        let t = take(
            file,
            &original,
            DocumentType::Loa,
            100,
            &spool,
            Whole::Trusted,
        )
        .expect("taken");
        spool.remove(&t.sha256).expect("remove");
        assert_eq!(
            spool
                .for_sending(&t.sha256, &original)
                .await
                .expect("restored"),
            spool.path_of(&t.sha256)
        );
        spool.remove(&t.sha256).expect("remove");
        std::fs::write(&original, b"%PDF-1.7 changed").expect("write");
        assert!(matches!(
            spool.for_sending(&t.sha256, &original).await,
            Err(SpoolError::Changed)
        ));
        let link = dir.path().join("link.pdf");
        std::os::unix::fs::symlink(&original, &link).expect("symlink");
        assert!(spool.for_sending(&t.sha256, &link).await.is_err());
        std::fs::remove_file(&original).expect("rm");
        assert!(matches!(
            spool.for_sending(&t.sha256, &original).await,
            Err(SpoolError::Missing(_))
        ));
        assert!(spool.entries().expect("entries").is_empty());
    }

    #[test]
    fn text_is_judged_across_chunk_boundaries() {
        let whole = |chunks: &[&[u8]]| {
            let mut t = TextCheck::default();
            for c in chunks {
                t.feed(c);
            }
            t.finish()
        };
        // "é" split between two chunks is still text; a NUL or a lone byte is not.
        assert!(whole(&[b"a,b\n\xc3", b"\xa9,1\n"]));
        assert!(!whole(&[b"a,b\n", b"\x00"]));
        assert!(!whole(&[b"a,b\n\xc3"]));
        assert!(!whole(&[b"\xff"]));
    }

    #[test]
    fn no_link_fifo_or_folder_is_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dirs = [dir.path().join("in")];
        let real = dir.path().join("in/real");
        std::fs::create_dir_all(&real).expect("mkdir");
        std::fs::write(real.join("a.pdf"), b"%PDF-1.7\n").expect("write");
        std::fs::write(dir.path().join("secret.pdf"), b"%PDF-secret").expect("write");
        // A link as the file, as a folder on the way (even one pointing inside), a
        // hard link to a file elsewhere, a FIFO (must not block), a folder.
        std::os::unix::fs::symlink(
            dir.path().join("secret.pdf"),
            dir.path().join("in/link.pdf"),
        )
        .expect("symlink");
        std::os::unix::fs::symlink(&real, dir.path().join("in/alias")).expect("symlink");
        std::fs::hard_link(
            dir.path().join("secret.pdf"),
            dir.path().join("in/hard.pdf"),
        )
        .expect("hard link");
        let fifo =
            CString::new(dir.path().join("in/fifo.pdf").as_os_str().as_bytes()).expect("path");
        // SAFETY: mkfifo(3) with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
        let open = |p: &str| open_within(&dirs, &dir.path().join(p)).map(|_| ());
        assert_eq!(open("in/real/a.pdf"), Ok(()));
        assert_eq!(open("in/link.pdf"), Err(IntakeError::Symlink));
        assert_eq!(open("in/alias/a.pdf"), Err(IntakeError::Symlink));
        assert_eq!(open("in/hard.pdf"), Err(IntakeError::HardLink));
        assert_eq!(open("in/fifo.pdf"), Err(IntakeError::NotAFile));
        assert_eq!(open("in/real"), Err(IntakeError::NotAFile));
    }
}
