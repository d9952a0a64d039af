//! What a file's bytes are: one of the content types NumHub accepts (from the first
//! bytes, never the name), else the format it is when it is a common one (so a
//! refusal can say "this is a PNG image"), and whether a file of its type looks whole
//! (its format's own end marker), so a file still being written is never sent.

use std::fmt;

use crate::db::DocumentType;

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

    /// The name operators know it by.
    pub fn name(self) -> &'static str {
        match self {
            ContentType::Pdf => "PDF",
            ContentType::Bmp => "BMP image",
            ContentType::Xlsx => "XLSX spreadsheet",
            ContentType::Csv => "CSV file",
        }
    }

    /// The content type of these bytes, if NumHub accepts it.
    pub fn detect(bytes: &[u8]) -> Option<ContentType> {
        let text = std::str::from_utf8(bytes).is_ok_and(|t| !t.contains('\0'));
        ContentType::classify(bytes, text)
    }

    /// The content type of a file whose first bytes are `head` and which, whole, is
    /// text or not.
    pub fn classify(head: &[u8], text: bool) -> Option<ContentType> {
        if head.starts_with(b"%PDF-") {
            Some(ContentType::Pdf)
        } else if head.starts_with(b"BM") {
            Some(ContentType::Bmp)
        } else if head.starts_with(b"PK\x03\x04") {
            Some(ContentType::Xlsx)
        } else if text {
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

    /// Whether a file of this type, `size` bytes long, starting with `head` and
    /// ending with `tail` (at most [`TAIL_BYTES`]), is whole; else what is missing.
    /// CSV has no end marker: only the settle time speaks for it.
    pub fn whole(self, head: &[u8], tail: &[u8], size: u64) -> Result<(), String> {
        match self {
            // PDF readers look for the marker within the last 1,024 bytes.
            ContentType::Pdf if !contains(&tail[tail.len().saturating_sub(1024)..], b"%%EOF") => {
                Err("the PDF does not end with its end-of-file marker (%%EOF)".into())
            }
            ContentType::Bmp => match head.get(2..6) {
                Some(b) => {
                    let declared = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    match declared > size {
                        true => Err(format!(
                            "the BMP's header says {declared} bytes and only {size} are there"
                        )),
                        false => Ok(()),
                    }
                }
                None => Err("the BMP is shorter than its header".into()),
            },
            // The end-of-central-directory record closes every ZIP (and XLSX).
            ContentType::Xlsx if !contains(tail, b"PK\x05\x06") => {
                Err("the XLSX has no end-of-archive record".into())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime())
    }
}

/// How much of a file's end [`ContentType::whole`] looks at: a ZIP's end record with
/// the longest comment it may carry.
pub const TAIL_BYTES: usize = 22 + 65_535;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A format NumHub does not take, recognised so a refusal can name it.
pub fn other_format(head: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"II*\x00", "a TIFF image"),
        (b"MM\x00*", "a TIFF image"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "an old Office file (DOC or XLS)",
        ),
        (b"{\\rtf", "an RTF document"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xbc\xaf", "a 7-Zip archive"),
    ];
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some("a WebP image");
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some("a HEIC/HEIF image or other ISO media file");
    }
    MAGIC
        .iter()
        .find(|(m, _)| head.starts_with(m))
        .map(|(_, name)| *name)
}

/// The refusal of a file in none of NumHub's formats, naming what it seems to be.
pub fn unknown(head: &[u8], t: DocumentType) -> super::IntakeError {
    let (what, fix) = match (other_format(head), legacy_text(head)) {
        (Some(what), _) => (what, what_it_takes(t)),
        (None, true) if !matches!(t, DocumentType::Loa | DocumentType::Logo) => (
            "text that is not UTF-8 (saved as Windows-1252 or another legacy encoding)",
            "save the CSV as UTF-8 (in Excel: Save As, \"CSV UTF-8\") and drop it again",
        ),
        _ => ("not PDF, BMP, XLSX or CSV text", what_it_takes(t)),
    };
    super::IntakeError::UnknownContent { what, fix }
}

/// Whether `head` looks like text in a legacy 8-bit encoding: no NUL, and printable
/// but for bytes above 0x7f (which UTF-8 refused).
pub fn legacy_text(head: &[u8]) -> bool {
    !head.is_empty()
        && head
            .iter()
            .all(|&b| b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r'))
}

/// What each type folder takes and how to make such a file, for refusals.
pub fn what_it_takes(t: DocumentType) -> &'static str {
    match t {
        DocumentType::Loa => "loa/ takes the signed LOA as a PDF: export or print it to PDF",
        DocumentType::Logo => {
            "logo/ takes the logo as a BMP image: save it as BMP (e.g. `convert logo.png logo.bmp`)"
        }
        _ => "this folder takes PDF, XLSX or CSV (UTF-8 text): export the document to one of these",
    }
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
    fn a_file_is_whole_only_with_its_end_marker() {
        let pdf = b"%PDF-1.7\n1 0 obj\n";
        assert!(ContentType::Pdf.whole(pdf, pdf, 17).is_err());
        let done = b"%PDF-1.7\n1 0 obj\n%%EOF\n";
        assert!(ContentType::Pdf.whole(done, done, 23).is_ok());
        let bmp = b"BM\x10\x00\x00\x00";
        assert!(ContentType::Bmp.whole(bmp, bmp, 6).is_err());
        assert!(ContentType::Bmp.whole(bmp, bmp, 16).is_ok());
        assert!(ContentType::Xlsx
            .whole(b"PK\x03\x04", b"PK\x03\x04", 4)
            .is_err());
        assert!(ContentType::Xlsx
            .whole(b"PK\x03\x04", b"..PK\x05\x06\x00", 40)
            .is_ok());
        assert!(ContentType::Csv.whole(b"a,b", b"a,b", 3).is_ok());
    }

    #[test]
    fn common_wrong_formats_are_named() {
        assert_eq!(other_format(b"\x89PNG\r\n\x1a\n...."), Some("a PNG image"));
        assert_eq!(other_format(b"\xff\xd8\xff\xe0"), Some("a JPEG image"));
        assert_eq!(other_format(b"hello"), None);
    }
}
