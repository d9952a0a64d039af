//! Files seen in the inbox and not yet taken: when each counts as complete. A file is
//! complete after a close-after-write or a rename into the folder (or, found by a
//! scan, unless data is written to it afterwards), and is ready once its size, mtime
//! and inode have not changed for the settle time. A file a take found unfinished
//! (its format's end marker missing, or written to while read) is deferred: taken
//! again at a set time, or sooner once it changes and settles again.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What was last seen of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    size: u64,
    mtime_ns: i128,
    ino: u64,
}

fn seen(path: &Path) -> Option<Seen> {
    let m = std::fs::symlink_metadata(path).ok()?;
    Some(Seen {
        size: m.size(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        ino: m.ino(),
    })
}

#[derive(Debug)]
struct Entry {
    /// Closed after writing, renamed in, or found by a scan and not written since.
    complete: bool,
    last: Option<Seen>,
    since: Instant,
    /// Deferred: not taken before this, unless it changes.
    not_before: Option<Instant>,
}

/// The pending files, by path.
#[derive(Debug, Default)]
pub struct Pending {
    files: HashMap<PathBuf, Entry>,
}

impl Pending {
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }

    fn set(&mut self, path: &Path, complete: bool) {
        let e = self.files.entry(path.to_path_buf()).or_insert(Entry {
            complete,
            last: None,
            since: Instant::now(),
            not_before: None,
        });
        e.complete = complete;
        e.last = seen(path);
        e.since = Instant::now();
        e.not_before = None;
    }

    /// Found unfinished by a take: taken again at `until`, or once it changed and
    /// settled again.
    pub fn defer(&mut self, path: &Path, until: Instant) {
        self.set(path, true);
        if let Some(e) = self.files.get_mut(path) {
            e.not_before = Some(until);
        }
    }

    /// Created or written to: wait for its close.
    pub fn writing(&mut self, path: &Path) {
        self.set(path, false);
    }

    /// Closed after writing, or renamed into the folder.
    pub fn complete(&mut self, path: &Path) {
        self.set(path, true);
    }

    /// Found by a scan: complete unless a write follows (an existing entry keeps its
    /// state, so a file being written is not taken for a finished one).
    pub fn scanned(&mut self, path: &Path) {
        if !self.files.contains_key(path) {
            self.set(path, true);
        }
    }

    /// Gone (removed or renamed away).
    pub fn forget(&mut self, path: &Path) {
        self.files.remove(path);
    }

    pub fn clear(&mut self) {
        self.files.clear();
    }

    /// The files complete and unchanged for `settle`, removed from the pending set;
    /// files that vanished are dropped.
    pub fn ready(&mut self, settle: Duration) -> Vec<PathBuf> {
        let now = Instant::now();
        let mut out = Vec::new();
        self.files.retain(|path, e| {
            let Some(s) = seen(path) else {
                return false;
            };
            if Some(s) != e.last {
                e.last = Some(s);
                e.since = now;
                e.not_before = None;
                return true;
            }
            if e.not_before.is_some_and(|t| now < t) {
                return true;
            }
            if e.complete && now.duration_since(e.since) >= settle {
                out.push(path.clone());
                return false;
            }
            true
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_ready_only_when_complete_and_still() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("a.pdf");
        std::fs::write(&f, b"x").expect("write");
        let mut p = Pending::default();
        p.writing(&f);
        assert!(p.ready(Duration::ZERO).is_empty(), "not closed yet");
        p.complete(&f);
        assert!(p.ready(Duration::from_secs(60)).is_empty(), "not settled");
        assert_eq!(p.ready(Duration::ZERO), vec![f.clone()]);
        assert!(p.is_empty());
        p.scanned(&f);
        std::fs::write(&f, b"xy").expect("write");
        assert!(p.ready(Duration::ZERO).is_empty(), "changed since seen");
        assert_eq!(p.ready(Duration::ZERO), vec![f.clone()]);
        p.complete(&f);
        std::fs::remove_file(&f).expect("rm");
        assert!(p.ready(Duration::ZERO).is_empty());
        assert!(p.is_empty(), "a vanished file is dropped");
    }
}
