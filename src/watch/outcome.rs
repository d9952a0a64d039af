//! What happens to a file once decided: moved out of the inbox into `.processed/` or
//! `.failed/` (never overwriting: a clash gets ` (2)` before the extension), with a
//! reason or duplicate note beside it, and the one log line per file and outcome.
//! Blocking (file system): call from a blocking task.

use std::ffi::{CString, OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::folders;
use super::layout;
use crate::api::DropOutcome;

/// What became of a file (the `outcome` of its log line).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Registered; its upload is queued.
    Taken,
    /// Registered before (same path and content, e.g. before a restart); followed up.
    Resumed,
    /// The same content was already registered for the entity and type.
    Duplicate,
    /// Not taken; the reason.
    Refused(String),
    /// NumHub has it; moved to `.processed/`.
    Uploaded,
    /// Its upload job died; moved to `.failed/`.
    Failed(String),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Taken => "taken",
            Outcome::Resumed => "resumed",
            Outcome::Duplicate => "duplicate",
            Outcome::Refused(_) => "refused",
            Outcome::Uploaded => "uploaded",
            Outcome::Failed(_) => "failed",
        }
    }

    /// As `document.dropped` tells it: a file that did not become an upload.
    pub fn dropped(&self) -> Option<DropOutcome> {
        match self {
            Outcome::Duplicate => Some(DropOutcome::Duplicate),
            Outcome::Refused(_) => Some(DropOutcome::Refused),
            Outcome::Taken | Outcome::Resumed | Outcome::Uploaded | Outcome::Failed(_) => None,
        }
    }
}

/// What a log line says about a file.
#[derive(Debug, Clone, Default)]
pub struct FileFacts {
    pub path: PathBuf,
    pub tenant_id: Option<i64>,
    pub entity_id: Option<String>,
    pub document_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
}

/// The one structured line per file and outcome.
pub fn log(facts: &FileFacts, outcome: &Outcome) {
    let reason = match outcome {
        Outcome::Refused(r) | Outcome::Failed(r) => Some(r.as_str()),
        _ => None,
    };
    tracing::info!(
        path = %shown(&facts.path),
        tenant = facts.tenant_id,
        entity = facts.entity_id.as_deref(),
        document_type = facts.document_type.as_deref(),
        size = facts.size,
        sha256 = facts.sha256.as_deref(),
        outcome = outcome.as_str(),
        reason,
        "drop folder file"
    );
}

/// Moves `from` to `dir/<name>` (a free name), creating `dir` (numhubd's folder mode).
/// Returns where it went. The file keeps its mode: numhubd may not own it, and the
/// folders (no access for others) are what keep it private.
pub fn move_into(from: &Path, dir: &Path, group: Option<u32>) -> std::io::Result<PathBuf> {
    folders::ensure_dir_all(dir, group)?;
    let name = from.file_name().unwrap_or(OsStr::new("file"));
    for n in 1..10_000u32 {
        let to = dir.join(numbered(name, n));
        match rename_noreplace(from, &to) {
            Ok(()) => return Ok(to),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "no free name in the destination folder",
    ))
}

/// `name` for n = 1, `stem (n).ext` after (bytes, so a non-UTF-8 name stays as it is).
fn numbered(name: &OsStr, n: u32) -> OsString {
    if n == 1 {
        return name.to_os_string();
    }
    let bytes = name.as_bytes();
    let dot = bytes
        .iter()
        .rposition(|&b| b == b'.')
        .filter(|&i| i > 0)
        .unwrap_or(bytes.len());
    let mut out = bytes[..dot].to_vec();
    out.extend_from_slice(format!(" ({n})").as_bytes());
    out.extend_from_slice(&bytes[dot..]);
    OsString::from_vec(out)
}

/// rename(2) that fails with EEXIST instead of replacing (renameat2 RENAME_NOREPLACE).
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    let bad = |_| std::io::Error::from_raw_os_error(libc::EINVAL);
    let f = CString::new(from.as_os_str().as_bytes()).map_err(bad)?;
    let t = CString::new(to.as_os_str().as_bytes()).map_err(bad)?;
    // SAFETY: two NUL-terminated paths; AT_FDCWD is valid for absolute and relative paths.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Moves `from` into `dir` (see [`move_into`]) with a note `<moved name><suffix>`
/// beside it. The note is written first, whole, under a dot-name: when it cannot be
/// (a full disk), nothing has moved and the caller tries again later, so a file never
/// sits in `.failed/` without its reason, nor a note half written.
pub fn move_with_note(
    from: &Path,
    dir: &Path,
    group: Option<u32>,
    suffix: &str,
    text: &str,
) -> std::io::Result<PathBuf> {
    folders::ensure_dir_all(dir, group)?;
    let tmp = write_hidden(dir, text)?;
    let placed = move_into(from, dir, group).and_then(|moved| {
        let base = moved
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        place_note(&tmp, dir, &base, suffix)?;
        Ok(moved)
    });
    let _ = std::fs::remove_file(&tmp);
    placed
}

/// `text` in a new dot-named file in `dir` (0640), synced; removed if that fails.
fn write_hidden(dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    let tmp = dir.join(format!(".note-{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            // The umask may have taken bits; the group reads it, others never.
            f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
            f.sync_all()
        });
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Renames the written note `tmp` to a free `<base>[ (n)]<suffix>` in `dir`.
fn place_note(tmp: &Path, dir: &Path, base: &str, suffix: &str) -> std::io::Result<PathBuf> {
    for n in 1..10_000u32 {
        let path = dir.join(note_name(base, n, suffix));
        match rename_noreplace(tmp, &path) {
            Ok(()) => return Ok(path),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free name for the note"))
}

/// `base[ (n)]suffix` within NAME_MAX (255 bytes), shortening `base` if need be.
fn note_name(base: &str, n: u32, suffix: &str) -> String {
    let number = match n {
        1 => String::new(),
        n => format!(" ({n})"),
    };
    let room = 255usize.saturating_sub(number.len() + suffix.len());
    let mut cut = base.len().min(room);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{number}{suffix}", &base[..cut])
}

/// A path as it may be printed (a log line, a note): control characters, `\` and
/// bytes that are not UTF-8 escaped, so a name cannot forge a line or hide its text.
pub fn shown(path: &Path) -> String {
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c.is_control() || c == '\\' || is_bidi_control(c) {
                true => out.extend(c.escape_default()),
                false => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Characters that reorder how the text around them is shown.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// Moves a refused or failed file to `.failed/<same relative path>` with its reason.
pub fn to_failed(
    root: &Path,
    path: &Path,
    why: &str,
    group: Option<u32>,
) -> std::io::Result<PathBuf> {
    let rel = super::place::relative(root, path);
    let dir = root
        .join(layout::FAILED)
        .join(rel.parent().unwrap_or(Path::new("")));
    let text = format!(
        "numhubd did not upload this file to NumHub.\n\n\
         File: {}\nWhen: {}\nWhy: {}\n\n\
         What to do: fix what is said above, then drop the file again into its entity's \
         type folder (DROP/<tenant>/<entity>/<type>/). This file and this note are kept; \
         delete them when you no longer need them.\n",
        shown(&rel),
        crate::db::now_ts(),
        why
    );
    move_with_note(path, &dir, group, layout::ERROR_SUFFIX, &text)
}

/// Moves a file NumHub has (or already had) to `.processed/<tenant>/<entity>/<type>/`,
/// with `note` beside it (`<file>.duplicate.txt`) when one is given.
pub fn to_processed(
    root: &Path,
    path: &Path,
    place: &super::place::Place,
    group: Option<u32>,
    note: Option<&str>,
) -> std::io::Result<PathBuf> {
    let dir = root
        .join(layout::PROCESSED)
        .join(&place.tenant_dir)
        .join(&place.entity_dir)
        .join(layout::dir_of_type(place.document_type));
    match note {
        Some(text) => move_with_note(path, &dir, group, layout::DUPLICATE_SUFFIX, text),
        None => move_into(path, &dir, group),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashes_are_numbered_and_nothing_is_overwritten() {
        assert_eq!(numbered(OsStr::new("a.pdf"), 2), "a (2).pdf");
        assert_eq!(numbered(OsStr::new("a"), 3), "a (3)");
        assert_eq!(numbered(OsStr::new(".x"), 2), ".x (2)");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        for body in ["one", "two"] {
            let f = dir.path().join("a.pdf");
            std::fs::write(&f, body).expect("write");
            move_into(&f, &out, None).expect("move");
        }
        assert_eq!(
            std::fs::read_to_string(out.join("a.pdf")).expect("a"),
            "one"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("a (2).pdf")).expect("a2"),
            "two"
        );
        let f = dir.path().join("a.pdf");
        std::fs::write(&f, "three").expect("write");
        let moved = move_with_note(&f, &out, None, ".error.txt", "why").expect("move");
        assert_eq!(moved, out.join("a (3).pdf"));
        let note = out.join("a (3).pdf.error.txt");
        assert_eq!(std::fs::read_to_string(&note).expect("note"), "why");
        let mode = std::fs::metadata(&note).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // A name too long for a note beside it: the note's name is shortened.
        let long = "n".repeat(250);
        assert_eq!(note_name(&long, 1, ".error.txt").len(), 255);
        let hidden = std::fs::read_dir(&out)
            .expect("ls")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .count();
        assert_eq!(hidden, 0, "a written note's temporary is left");
    }
}
