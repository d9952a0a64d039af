//! File intake: everything numhubd checks about a file before it becomes a document —
//! where it may come from, opening it, the size limit, its SHA-256, its content type
//! (from the bytes, never the name) and NumHub's rule for each document type (LOA: PDF;
//! LOGO: BMP; business documents: PDF, XLSX or CSV). `document.upload` and the drop
//! folder both take files through here, so the rules live once.
//!
//! The functions here block (they read the file): call them from a blocking task.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

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
    #[error("is not a regular file")]
    NotAFile,
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
    /// The resolved path (symlinks followed).
    pub path: PathBuf,
    pub filename: String,
    pub size_bytes: i64,
    /// Lower-case hex.
    pub sha256: String,
    pub content_type: ContentType,
}

/// The file must resolve (symlinks followed) inside one of `dirs`.
pub fn resolve_within(dirs: &[PathBuf], path: &Path) -> Result<PathBuf, IntakeError> {
    if !path.is_absolute() {
        return Err(IntakeError::NotAbsolute);
    }
    let real = path
        .canonicalize()
        .map_err(|e| IntakeError::Unreadable(e.to_string()))?;
    let inside = dirs
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .any(|d| real.starts_with(&d));
    if !inside {
        return Err(IntakeError::OutsideAllowed);
    }
    Ok(real)
}

/// Opens `path` (already resolved), reads it within the size limit, hashes it,
/// detects its content type and checks it fits `document_type`.
pub fn take(path: &Path, document_type: DocumentType) -> Result<Taken, IntakeError> {
    let unreadable = |e: std::io::Error| IntakeError::Unreadable(e.to_string());
    let file = std::fs::File::open(path).map_err(unreadable)?;
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
        let pdf = dir.path().join("loa.pdf");
        std::fs::write(&pdf, b"%PDF-1.7\n").expect("write");
        let t = take(&pdf, DocumentType::Loa).expect("taken");
        assert_eq!(t.filename, "loa.pdf");
        assert_eq!(t.size_bytes, 9);
        assert_eq!(t.sha256.len(), 64);
        assert_eq!(
            take(&pdf, DocumentType::Logo).unwrap_err(),
            IntakeError::WrongType {
                document_type: DocumentType::Logo,
                content_type: ContentType::Pdf
            }
        );
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, b"").expect("write");
        assert_eq!(
            take(&empty, DocumentType::Other).unwrap_err(),
            IntakeError::Empty
        );
        assert_eq!(
            take(dir.path(), DocumentType::Other).unwrap_err(),
            IntakeError::NotAFile
        );
        let big = dir.path().join("big.csv");
        std::fs::File::create(&big)
            .and_then(|f| f.set_len(MAX_UPLOAD_BYTES + 1))
            .expect("sparse file");
        assert!(matches!(
            take(&big, DocumentType::Other),
            Err(IntakeError::TooLarge { .. })
        ));
        assert_eq!(
            resolve_within(&[dir.path().join("sub")], &pdf),
            Err(IntakeError::OutsideAllowed)
        );
        assert_eq!(
            resolve_within(&[], Path::new("rel.pdf")),
            Err(IntakeError::NotAbsolute)
        );
    }
}
