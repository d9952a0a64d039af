//! The drop folder as operators use it, beyond one clean copy: a writer that closes
//! and reopens the file with pauses, the same file dropped again, the commonest wrong
//! formats, names that are too long or hold a newline, folders an earlier start left
//! with the wrong mode, folders made by the operator with a file copied in at once,
//! and a folder numhubd cannot make. Each ends with one truthful outcome: sent once
//! and whole, or a note beside the file whose reason names the fix.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use numhubd::watch::layout;

use crate::drop_support::{pdf, sha, Drop};
use crate::support::{wait_until, TIMEOUT};

/// `numhubctl documents --follow --json`, its output collected in a file.
struct Follow {
    child: Child,
    out: PathBuf,
}

impl Follow {
    fn start(d: &Drop) -> Follow {
        let out = d.h.dir.path().join("follow.jsonl");
        let child = Command::new(env!("CARGO_BIN_EXE_numhubctl"))
            .arg("--socket")
            .arg(d.h.socket())
            .args(["documents", "--follow", "--json"])
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(Stdio::null())
            .spawn()
            .expect("numhubctl");
        Follow { child, out }
    }

    fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn dropped(&self, file_ends: &str) -> Option<serde_json::Value> {
        self.events().into_iter().find(|e| {
            e["type"] == "document.dropped"
                && e["file"].as_str().is_some_and(|f| f.ends_with(file_ends))
        })
    }
}

impl std::ops::Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn note(moved: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(moved.display().to_string() + suffix)
}

#[test]
fn a_file_written_with_pauses_is_sent_once_whole() {
    let d = Drop::new("");
    let bytes = pdf(50, 6_000);
    let path = d.type_dir("loa").join("appended.pdf");
    // Three sessions of an appending writer, each closed, with pauses longer than
    // settle_ms (200 ms here): the first two leave a PDF without its %%EOF.
    for (i, part) in bytes.chunks(2_500).enumerate() {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open");
        f.write_all(part).expect("append");
        drop(f);
        if i < 2 {
            std::thread::sleep(Duration::from_millis(900));
        }
    }
    d.assert_uploaded("loa", "appended.pdf", &bytes);
    assert_eq!(
        d.sandbox_documents(),
        1,
        "a part was sent: {}",
        d.h.all_stderr()
    );
    assert!(
        !d.root()
            .join(layout::FAILED)
            .join(d.rel_entity())
            .join("loa")
            .exists(),
        "a part was refused; {}",
        d.h.all_stderr()
    );
}

#[test]
fn a_pdf_cut_short_is_refused_once_it_stays_cut() {
    let d = Drop::new("incomplete_after_secs = 1\n");
    let mut cut = pdf(51, 3_000);
    cut.truncate(2_000);
    std::fs::write(d.type_dir("loa").join("cut.pdf"), &cut).expect("write");
    let moved = d.failed(&d.rel_entity().join("loa/cut.pdf"));
    let why = note(&moved, layout::ERROR_SUFFIX);
    assert!(
        wait_until(TIMEOUT, || why.is_file()),
        "not refused; {}",
        d.h.all_stderr()
    );
    let text = std::fs::read_to_string(&why).expect("note");
    assert!(
        text.contains("%%EOF") && text.contains("drop it again"),
        "{text}"
    );
    assert_eq!(d.sandbox_documents(), 0);
}

#[test]
fn the_same_file_dropped_again_is_a_duplicate_with_its_note() {
    let d = Drop::new("");
    let follow = Follow::start(&d);
    let bytes = pdf(52, 2_000);
    let inbox = d.type_dir("loa").join("signed-loa.pdf");
    std::fs::write(&inbox, &bytes).expect("write");
    d.assert_uploaded("loa", "signed-loa.pdf", &bytes);
    std::fs::write(&inbox, &bytes).expect("drop again");
    let again = d.processed("loa", "signed-loa (2).pdf");
    let dup = note(&again, ".duplicate.txt");
    assert!(
        wait_until(TIMEOUT, || dup.is_file()),
        "no duplicate note; {}",
        d.h.all_stderr()
    );
    let text = std::fs::read_to_string(&dup).expect("note");
    assert!(text.contains("did not upload this file again"), "{text}");
    assert_eq!(d.at_sandbox(&sha(&bytes)), 1);
    let log = d.h.all_stderr();
    assert!(
        log.contains("outcome=\"duplicate\"") || log.contains("outcome=duplicate"),
        "{log}"
    );
    assert!(
        wait_until(TIMEOUT, || follow.dropped("signed-loa.pdf").is_some()),
        "documents --follow showed no duplicate: {:?}",
        follow.events()
    );
    assert_eq!(
        follow.dropped("signed-loa.pdf").expect("event")["outcome"],
        "duplicate"
    );
}

#[test]
fn the_commonest_wrong_formats_are_named_with_their_fix() {
    let d = Drop::new("");
    let follow = Follow::start(&d);
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01";
    std::fs::write(d.type_dir("logo").join("logo.png"), png).expect("png");
    // "Café;Zoë" saved as Windows-1252.
    let csv = b"name;city\nCaf\xe9;Zo\xeb\n";
    std::fs::write(d.type_dir("other").join("list.csv"), csv).expect("csv");
    // A name of 250 bytes: the note's name must fit the file system too.
    let long = format!("{}.pdf", "n".repeat(246));
    std::fs::write(d.type_dir("other").join(&long), b"not a pdf at all\x00").expect("long");
    // A newline in a name must not forge a log line or a note line.
    let forged = "x.pdf\nINFO forged line";
    std::fs::write(d.type_dir("other").join(forged), pdf(53, 500)).expect("forged");
    let why = |rel: &str| {
        let moved = d.failed(&d.rel_entity().join(rel));
        let path = note(&moved, layout::ERROR_SUFFIX);
        assert!(
            wait_until(TIMEOUT, || path.is_file()
                || shortened_note(&moved).is_some()),
            "{rel:?} has no note; {}",
            d.h.all_stderr()
        );
        let path = shortened_note(&moved).unwrap_or(path);
        std::fs::read_to_string(path).expect("note")
    };
    let text = why("logo/logo.png");
    assert!(
        text.contains("a PNG image") && text.contains("save it as BMP"),
        "{text}"
    );
    let text = why("other/list.csv");
    assert!(
        text.contains("not UTF-8") && text.contains("save the CSV as UTF-8"),
        "{text}"
    );
    let text = why(&format!("other/{long}"));
    assert!(text.contains("Why: "), "{text}");
    let text = why(&format!("other/{forged}"));
    assert!(
        text.contains("File: ") && text.contains("x.pdf\\nINFO forged line"),
        "{text}"
    );
    assert!(!text.contains("\nINFO forged line"), "{text}");
    let log = d.h.all_stderr();
    assert!(
        !log.contains("\nINFO forged line"),
        "a name split the log: {log}"
    );
    assert!(
        wait_until(TIMEOUT, || follow.dropped("logo.png").is_some()),
        "{:?}",
        follow.events()
    );
    let ev = follow.dropped("logo.png").expect("event");
    assert_eq!(ev["outcome"], "refused");
    assert!(
        ev["reason"].as_str().is_some_and(|r| r.contains("PNG")),
        "{ev}"
    );
    assert_eq!(d.sandbox_documents(), 0);
}

/// The note of a file whose name is too long for `<name>.error.txt`: shortened.
fn shortened_note(moved: &Path) -> Option<PathBuf> {
    let dir = moved.parent()?;
    let stem: String = moved
        .file_name()?
        .to_string_lossy()
        .chars()
        .take(200)
        .collect();
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            n.starts_with(&stem) && n.ends_with(layout::ERROR_SUFFIX)
        })
}

#[test]
fn folders_left_wrong_are_repaired_and_new_folders_are_scanned_again() {
    // SAFETY: getgid(2) cannot fail.
    let gid = unsafe { libc::getgid() };
    let mut d = Drop::new(&format!("group = \"{gid}\"\n"));
    // As a unit that refused the setgid bit left them: no type folders, mode 0700.
    d.h.stop();
    let ent = d.entity_dir();
    std::fs::remove_dir_all(&ent).expect("rm");
    std::fs::create_dir(&ent).expect("mkdir");
    std::fs::set_permissions(&ent, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let failed = d.root().join(layout::FAILED);
    std::fs::set_permissions(&failed, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    assert!(d.h.start(&[]), "restart; {}", d.h.all_stderr());
    let loa = d.type_dir("loa");
    assert!(wait_until(TIMEOUT, || loa.is_dir()), "{}", d.h.all_stderr());
    for dir in [&ent, &loa, &failed] {
        let mode = std::fs::metadata(dir).expect("meta").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o2770, "{dir:?}");
    }
    // Folders the operator makes (DROP/<entity id>/<type>/), each with a file copied in
    // at once: every file is taken, none waits for a restart.
    let mut want = Vec::new();
    for (i, t) in ["loa", "business_license", "tax_id", "other"]
        .iter()
        .enumerate()
    {
        let dir = d.root().join(&d.entity).join(t);
        let bytes = pdf(60 + i as u64, 1_000);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("quick.pdf"), &bytes).expect("write");
        want.push(sha(&bytes));
    }
    assert!(
        wait_until(TIMEOUT, || want.iter().all(|s| d.at_sandbox(s) == 1)),
        "not every file was taken; {}",
        d.h.all_stderr()
    );
}

#[test]
fn a_watcher_that_cannot_make_its_folders_is_unavailable_with_the_reason() {
    let mut d = Drop::new("");
    d.h.stop();
    let failed = d.root().join(layout::FAILED);
    std::fs::remove_dir_all(&failed).expect("rm");
    std::fs::write(&failed, b"in the way").expect("a file where .failed/ goes");
    assert!(d.h.start(&[]), "restart; {}", d.h.all_stderr());
    assert!(
        wait_until(TIMEOUT, || d.watcher()["state"] == "unavailable"),
        "watcher: {}",
        d.watcher()
    );
    let why = d.watcher()["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains(".failed"), "{why}");
    let status = Command::new(env!("CARGO_BIN_EXE_numhubctl"))
        .arg("--socket")
        .arg(d.h.socket())
        .arg("status")
        .output()
        .expect("numhubctl");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("unavailable"), "{text}");
    // Out of the way: watched again within a check.
    std::fs::remove_file(&failed).expect("rm");
    assert!(
        wait_until(TIMEOUT, || d.watcher()["state"] == "watching"),
        "watcher: {}",
        d.watcher()
    );
}
