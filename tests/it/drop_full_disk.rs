//! The drop folder's own disk full, on a real tmpfs: out of inodes once NumHub has a
//! file (its `.processed/` folders cannot be made), out of blocks when a refused
//! file's note cannot be written. Nothing is lost or sent twice, no note is ever
//! empty, and every file leaves the inbox by itself once space comes back. Needs root
//! (mount); skipped off CI without it.

use std::path::{Path, PathBuf};
use std::process::Command;

use numhubd::watch::layout;

use crate::drop_support::{pdf, sha, Drop};
use crate::support::{is_root, wait_until, TIMEOUT};

/// A tmpfs mounted over a folder; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, options: &str) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .expect("mount");
        assert!(ok.success(), "mount -t tmpfs -o {options} {at:?}");
        Tmpfs(at.to_path_buf())
    }
}

impl std::ops::Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Files and bytes used to fill the tmpfs, removed to give the space back.
struct Ballast(PathBuf);

impl Ballast {
    fn new(root: &Path) -> Ballast {
        // A dot-folder: the watcher leaves it alone.
        let dir = root.join(".ballast");
        std::fs::create_dir_all(&dir).expect("ballast");
        Ballast(dir)
    }

    /// Empty files until no inode is left.
    fn take_inodes(&self) {
        for i in 0.. {
            if std::fs::File::create(self.0.join(format!("i{i}"))).is_err() {
                return;
            }
        }
    }

    /// One file grown until no block is left.
    fn take_blocks(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("blocks")).expect("ballast");
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_dir_all(&self.0).expect("free the ballast");
    }
}

/// The drop harness with its folder on a fresh tmpfs of these options.
fn on_tmpfs(options: &str) -> Option<(Drop, Tmpfs)> {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return None;
    }
    let mut d = Drop::new("");
    d.h.stop();
    std::fs::remove_dir_all(d.root()).expect("rm drop");
    let fs = Tmpfs::mount(&d.root(), options);
    assert!(d.h.start(&[]), "restart; {}", d.h.all_stderr());
    let loa = d.type_dir("loa");
    assert!(wait_until(TIMEOUT, || loa.is_dir()), "{}", d.h.all_stderr());
    Some((d, fs))
}

fn backlog(d: &Drop) -> u64 {
    d.watcher()["backlog"].as_u64().unwrap_or(0)
}

#[test]
fn out_of_inodes_the_file_leaves_the_inbox_once_space_is_back() {
    let Some((d, _fs)) = on_tmpfs("size=4m,nr_inodes=400") else {
        return;
    };
    let ballast = Ballast::new(&d.root());
    let bytes = pdf(80, 5_000);
    let staged = ballast.0.join("staged.pdf");
    std::fs::write(&staged, &bytes).expect("stage");
    ballast.take_inodes();
    // A rename needs no inode: the file arrives whole while none is left.
    let inbox = d.type_dir("other").join("no-inodes.pdf");
    std::fs::rename(&staged, &inbox).expect("drop");
    assert!(
        wait_until(TIMEOUT, || d.at_sandbox(&sha(&bytes)) == 1),
        "not uploaded; {}",
        d.h.all_stderr()
    );
    // NumHub has it; its .processed/ folders cannot be made: it waits, counted.
    assert!(
        wait_until(TIMEOUT, || d.h.all_stderr().contains("will try again")),
        "{}",
        d.h.all_stderr()
    );
    assert!(inbox.is_file());
    assert!(backlog(&d) >= 1, "watcher: {}", d.watcher());
    ballast.free();
    let done = d.processed("other", "no-inodes.pdf");
    assert!(
        wait_until(TIMEOUT, || done.is_file() && !inbox.exists()),
        "still in the inbox after space came back; {}",
        d.h.all_stderr()
    );
    assert_eq!(std::fs::read(&done).expect("moved"), bytes);
    assert_eq!(d.at_sandbox(&sha(&bytes)), 1, "sent twice");
    assert!(
        wait_until(TIMEOUT, || backlog(&d) == 0),
        "watcher: {}",
        d.watcher()
    );
    let uploaded_lines =
        d.h.all_stderr()
            .lines()
            .filter(|l| l.contains("no-inodes.pdf") && l.contains("outcome=\"uploaded\""))
            .count();
    assert_eq!(uploaded_lines, 1, "{}", d.h.all_stderr());
}

#[test]
fn out_of_blocks_a_refused_file_waits_and_its_note_is_never_empty() {
    let Some((d, _fs)) = on_tmpfs("size=512k,nr_inodes=4000") else {
        return;
    };
    let ballast = Ballast::new(&d.root());
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01".to_vec();
    let staged = ballast.0.join("staged.png");
    std::fs::write(&staged, &png).expect("stage");
    ballast.take_blocks();
    let inbox = d.type_dir("logo").join("logo.png");
    std::fs::rename(&staged, &inbox).expect("drop");
    assert!(
        wait_until(TIMEOUT, || d.h.all_stderr().contains("will try again")),
        "{}",
        d.h.all_stderr()
    );
    // No note could be written, so nothing moved: no file in .failed/ without its
    // reason, and no empty note.
    let moved = d.failed(&d.rel_entity().join("logo/logo.png"));
    let note = PathBuf::from(moved.display().to_string() + layout::ERROR_SUFFIX);
    assert!(inbox.is_file() && !moved.exists() && !note.exists());
    ballast.free();
    assert!(
        wait_until(TIMEOUT, || note.is_file() && !inbox.exists()),
        "not refused after space came back; {}",
        d.h.all_stderr()
    );
    let text = std::fs::read_to_string(&note).expect("note");
    assert!(text.contains("a PNG image"), "{text:?}");
    // The file's one line follows its move (the look above may come between).
    let refused_lines = || {
        d.h.all_stderr()
            .lines()
            .filter(|l| l.contains("logo.png") && l.contains("outcome=\"refused\""))
            .count()
    };
    assert!(
        wait_until(TIMEOUT, || refused_lines() >= 1),
        "{}",
        d.h.all_stderr()
    );
    assert_eq!(refused_lines(), 1, "{}", d.h.all_stderr());
    assert_eq!(d.sandbox_documents(), 0);
}
