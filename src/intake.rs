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

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::db::DocumentType;

/// The largest file taken (NumHub's uploads are documents and logos).
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// Why a file was not taken. Each names what the sender can change.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("must be an absolute path")]
    NotAbsolute,
    #[error("cannot be read by numhubd: {0}")]
    Unreadable(String),
    #[error("is not under a folder listed in [rpc] upload_dirs")]
    OutsideAllowed,
    #[error("is not a regular file (a folder, FIFO, device or socket)")]
    NotAFile,
    #[error("goes through a symbolic link, which numhubd never follows: give the file's own path")]
    Symlink,
    #[error("has other hard links: copy the file into the folder instead of linking it")]
    HardLink,
    #[error("is {size} bytes; at most {MAX_UPLOAD_BYTES}")]
    TooLarge { size: u64 },
    #[error("is empty")]
    Empty,
    #[error("content is not PDF, BMP, XLSX or CSV text")]
    UnknownContent,
    #[error("{document_type} does not accept {content_type} (loa: PDF; logo: BMP; others: PDF, XLSX, CSV)")]
    WrongType {
        document_type: DocumentType,
        content_type: ContentType,
    },
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

/// The content types NumHub accepts, detected from a file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Pdf,
    Bmp,
    Xlsx,
    Csv,
}

impl ContentType {
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Pdf => "application/pdf",
            ContentType::Bmp => "image/bmp",
            ContentType::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ContentType::Csv => "text/csv",
        }
    }

    /// The content type of these bytes, if NumHub accepts it.
    pub fn detect(bytes: &[u8]) -> Option<ContentType> {
        if bytes.starts_with(b"%PDF-") {
            Some(ContentType::Pdf)
        } else if bytes.starts_with(b"BM") {
            Some(ContentType::Bmp)
        } else if bytes.starts_with(b"PK\x03\x04") {
            Some(ContentType::Xlsx)
        } else if std::str::from_utf8(bytes).is_ok_and(|t| !t.contains('\0')) {
            Some(ContentType::Csv)
        } else {
            None
        }
    }

    /// NumHub's rule: loa takes PDF, logo takes BMP, business documents take the rest.
    pub fn fits(self, t: DocumentType) -> bool {
        match t {
            DocumentType::Loa => self == ContentType::Pdf,
            DocumentType::Logo => self == ContentType::Bmp,
            _ => self != ContentType::Bmp,
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime())
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

/// Opens `path` inside `dirs` (see [`open_within`]) and takes it (see [`take`]).
pub fn take_within(
    dirs: &[PathBuf],
    path: &Path,
    document_type: DocumentType,
) -> Result<Taken, IntakeError> {
    let file = open_within(dirs, path)?;
    take(file, path, document_type)
}

/// Reads the open `file` (found at `path`) within the size limit, hashes it, detects
/// its content type and checks it fits `document_type`.
pub fn take(file: File, path: &Path, document_type: DocumentType) -> Result<Taken, IntakeError> {
    let unreadable = |e: std::io::Error| IntakeError::Unreadable(e.to_string());
    // The checks are made on the opened file, so a swap after them cannot slip past.
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(IntakeError::NotAFile);
    }
    if meta.len() > MAX_UPLOAD_BYTES {
        return Err(IntakeError::TooLarge { size: meta.len() });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_UPLOAD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    let size = bytes.len() as u64;
    if size > MAX_UPLOAD_BYTES {
        return Err(IntakeError::TooLarge { size });
    }
    if bytes.is_empty() {
        return Err(IntakeError::Empty);
    }
    let content_type = ContentType::detect(&bytes).ok_or(IntakeError::UnknownContent)?;
    if !content_type.fits(document_type) {
        return Err(IntakeError::WrongType {
            document_type,
            content_type,
        });
    }
    let sha256 = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let filename = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "upload".into());
    Ok(Taken {
        path: path.to_path_buf(),
        filename,
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        sha256,
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_comes_from_the_bytes() {
        assert_eq!(ContentType::detect(b"%PDF-1.7"), Some(ContentType::Pdf));
        assert_eq!(ContentType::detect(b"BM\x00\x01"), Some(ContentType::Bmp));
        assert_eq!(
            ContentType::detect(b"PK\x03\x04xx"),
            Some(ContentType::Xlsx)
        );
        assert_eq!(ContentType::detect(b"a,b\n1,2\n"), Some(ContentType::Csv));
        assert_eq!(ContentType::detect(b"\xff\xfe\x00"), None);
        assert!(!ContentType::Csv.fits(DocumentType::Loa));
        assert!(ContentType::Bmp.fits(DocumentType::Logo));
        assert!(!ContentType::Bmp.fits(DocumentType::Other));
    }

    #[test]
    fn a_file_is_taken_or_refused_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dirs = [dir.path().to_path_buf()];
        let pdf = dir.path().join("loa.pdf");
        std::fs::write(&pdf, b"%PDF-1.7\n").expect("write");
        let t = take_within(&dirs, &pdf, DocumentType::Loa).expect("taken");
        assert_eq!(t.filename, "loa.pdf");
        assert_eq!(t.size_bytes, 9);
        assert_eq!(t.sha256.len(), 64);
        assert_eq!(
            take_within(&dirs, &pdf, DocumentType::Logo).unwrap_err(),
            IntakeError::WrongType {
                document_type: DocumentType::Logo,
                content_type: ContentType::Pdf
            }
        );
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, b"").expect("write");
        assert_eq!(
            take_within(&dirs, &empty, DocumentType::Other).unwrap_err(),
            IntakeError::Empty
        );
        let big = dir.path().join("big.csv");
        std::fs::File::create(&big)
            .and_then(|f| f.set_len(MAX_UPLOAD_BYTES + 1))
            .expect("sparse file");
        assert!(matches!(
            take_within(&dirs, &big, DocumentType::Other),
            Err(IntakeError::TooLarge { .. })
        ));
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
