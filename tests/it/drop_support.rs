//! The drop folder's test harness: a running daemon with tenant 1 and one entity
//! whose folders exist, the paths of its inbox, `.processed/` and `.failed/`, and what
//! the sandbox received.

use std::path::{Path, PathBuf};

use numhubd::watch::layout;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::rpc_client::ok;
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{create_entity, Harness};

pub fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn pdf(seed: u64, size: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut bytes = b"%PDF-1.7\n".to_vec();
    while bytes.len() + 7 < size {
        bytes.push(b'a' + rng.u8(0..26));
    }
    // Whole: numhubd waits for a PDF without its end-of-file marker.
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

/// A running daemon with tenant 1 and one entity whose folders exist.
pub struct Drop {
    pub h: Harness,
    pub entity: String,
    pub name: String,
}

impl Drop {
    pub fn new(extra_drop: &str) -> Drop {
        Drop::with(extra_drop, &[])
    }

    /// With other config text replaced (`(from, to)`).
    pub fn with(extra_drop: &str, edits: &[(&str, &str)]) -> Drop {
        let h = Harness::new(3);
        h.edit_config(
            "[drop]\ndir = \"drop\"\n",
            &format!("[drop]\ndir = \"drop\"\nsettle_ms = 200\n{extra_drop}"),
        );
        for (from, to) in edits {
            h.edit_config(from, to);
        }
        let mut d = Drop {
            h,
            entity: String::new(),
            name: "Acme Dental LLC".into(),
        };
        assert!(d.h.start(&[]), "start; {}", d.h.all_stderr());
        d.h.tenant(true);
        d.entity = create_entity(&d.h.socket(), &d.name, true).expect("entity");
        let other = d.type_dir("other");
        assert!(
            wait_until(TIMEOUT, || other.is_dir()),
            "entity folders not created; {}",
            d.h.all_stderr()
        );
        d
    }

    pub fn root(&self) -> PathBuf {
        self.h.dir.path().join("drop")
    }

    pub fn rel_entity(&self) -> PathBuf {
        PathBuf::from(layout::tenant_dir_name(1, None))
            .join(layout::entity_dir_name(&self.entity, &self.name))
    }

    pub fn entity_dir(&self) -> PathBuf {
        self.root().join(self.rel_entity())
    }

    pub fn type_dir(&self, t: &str) -> PathBuf {
        self.entity_dir().join(t)
    }

    pub fn processed(&self, t: &str, name: &str) -> PathBuf {
        self.root()
            .join(layout::PROCESSED)
            .join(self.rel_entity())
            .join(t)
            .join(name)
    }

    pub fn failed(&self, rel: &Path) -> PathBuf {
        self.root().join(layout::FAILED).join(rel)
    }

    pub fn outside(&self) -> PathBuf {
        let d = self.h.dir.path().join("outside");
        std::fs::create_dir_all(&d).expect("outside");
        d
    }

    /// How many documents with this SHA-256 the sandbox received.
    pub fn at_sandbox(&self, sha: &str) -> usize {
        self.h.state()["documents"]
            .as_array()
            .map(|d| d.iter().filter(|d| d["sha256"] == sha).count())
            .unwrap_or(0)
    }

    pub fn sandbox_documents(&self) -> usize {
        self.h.state()["documents"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    }

    /// Waits for the file to be at NumHub once and in `.processed/`, byte-identical.
    pub fn assert_uploaded(&self, t: &str, name: &str, bytes: &[u8]) {
        let s = sha(bytes);
        let done = self.processed(t, name);
        assert!(
            wait_until(TIMEOUT, || done.is_file() && self.at_sandbox(&s) >= 1),
            "{name} not uploaded and processed; {}",
            self.h.all_stderr()
        );
        assert_eq!(self.at_sandbox(&s), 1, "{name} uploaded more than once");
        assert_eq!(std::fs::read(&done).expect("processed"), bytes);
    }

    pub fn watcher(&self) -> serde_json::Value {
        ok(&self.h.socket(), "daemon.status", json!({}))["watcher"].clone()
    }
}
