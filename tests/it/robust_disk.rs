//! A full database disk at the instant an upload's outcome is saved (#23 item 1): the
//! real daemon keeps its database on a small tmpfs; the `after_send` pause point holds
//! the upload between NumHub's answer and its commit while the test fills the tmpfs,
//! so both the result and the failure fail to commit. While full, `daemon.health`
//! and `daemon.status` say `degraded` with the cause and an app write is refused with
//! -32043; once the ballast is removed the same daemon (no restart) settles the
//! upload within seconds, finding it at NumHub: exactly one copy at the sandbox.
//!
//! Needs root (to mount the tmpfs): skipped without it, except under `CI=true`.
//! `NUMHUBD_STRESS=1` runs more rounds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rpc_client::{call, ok};
use crate::support::{is_root, wait_until, TIMEOUT};
use crate::sync_support::{create_entity, settle, upload, write_pdf, Harness};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mount point");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs on {}", at.display());
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` to the last block; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("ballast");
    let mut written = 0u64;
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512] {
        let block = vec![0xa5u8; chunk];
        while f.write_all(&block).is_ok() {
            written += chunk as u64;
        }
    }
    let _ = f.sync_all();
    written
}

fn health(socket: &Path) -> Value {
    ok(socket, "daemon.health", json!({}))
}

#[test]
fn a_full_database_disk_at_an_uploads_commit_heals_without_a_restart() {
    if crate::test_engine::sqlite_only(
        "a full disk under the SQLite file (a MySQL server's disk is not numhubd's)",
    ) {
        return;
    }
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let rounds = if std::env::var_os("NUMHUBD_STRESS").is_some() {
        10
    } else {
        3
    };
    let mount_dir = tempfile::tempdir().expect("tempdir");
    let fs = mount_dir.path().join("fs");
    let _tmpfs = Tmpfs::mount(&fs, "8m");
    // Declared after the mount: dropped (the daemon killed) before it is unmounted.
    let mut h = Harness::new(5);
    let db = fs.join("numhubd.db");
    h.edit_config(
        "path = \"numhubd.db\"",
        &format!("path = \"{}\"", db.display()),
    );
    let socket = h.socket();
    let pause_file = h.dir.path().join("paused");
    let ballast = fs.join("ballast");

    // The entity, created at NumHub before any round.
    assert!(h.start(&[]));
    h.tenant(true);
    let entity = create_entity(&socket, "Full Disk LLC", false).expect("entity.create");
    settle(&h);
    h.stop();

    let mut shas = Vec::new();
    let mut healed = Vec::new();
    for round in 0..rounds {
        let pause_env = [
            (numhubd::killpoint::PAUSE_ENV, "after_send"),
            (
                numhubd::killpoint::PAUSE_FILE_ENV,
                pause_file.to_str().expect("utf-8"),
            ),
        ];
        assert!(h.start(&pause_env), "start round {round}");
        let (path, sha) = write_pdf(h.dir.path(), &format!("full-{round}.pdf"), 30_000, round);
        shas.push(sha);
        upload(&socket, &entity, &path).expect("document.upload");
        // NumHub has the file; its outcome is not committed yet.
        assert!(
            wait_until(TIMEOUT, || pause_file.exists()),
            "never paused after the send; {}",
            h.all_stderr()
        );
        let filled = fill(&ballast);
        assert!(filled > 0, "the tmpfs had no room left to fill");
        std::fs::remove_file(&pause_file).expect("release the pause");

        // While full: degraded with the cause, and app writes refused clearly.
        let degraded = wait_until(TIMEOUT, || health(&socket)["status"] == "degraded");
        let hv = health(&socket);
        assert!(degraded, "health while full: {hv}; {}", h.all_stderr());
        assert_eq!(hv["ok"], false, "{hv}");
        assert_eq!(hv["degraded"][0]["component"], "database", "{hv}");
        let cause = hv["degraded"][0]["cause"].as_str().unwrap_or_default();
        assert!(cause.contains("full"), "cause: {hv}");
        let st = ok(&socket, "daemon.status", json!({}));
        assert_eq!(st["status"], "degraded", "status while full: {st}");
        assert_eq!(st["jobs"]["running"], 1, "the upload is unsettled: {st}");
        let refused = call(&socket, "tenant.upsert", json!({"id": 2, "name": "Later"}));
        assert_eq!(
            refused["error"]["code"], -32043,
            "a write while full: {refused}"
        );
        let msg = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("disk is full"), "{refused}");

        // Space comes back: the same daemon settles the upload by itself.
        std::fs::remove_file(&ballast).expect("free the tmpfs");
        let freed = Instant::now();
        let done = wait_until(Duration::from_secs(10), || h.all_jobs_done());
        let took = freed.elapsed();
        assert!(
            done,
            "not settled {took:?} after space came back: {:?}; {}",
            h.jobs(),
            h.stderr_of(h.runs)
        );
        healed.push(took);
        assert!(
            wait_until(TIMEOUT, || health(&socket)["status"] == "ok"),
            "health after freeing: {}",
            health(&socket)
        );
        assert_eq!(health(&socket)["degraded"], json!([]));
        assert!(
            h.stderr_of(h.runs)
                .contains("the interrupted upload had reached NumHub; not resending"),
            "settled without looking at NumHub first; {}",
            h.stderr_of(h.runs)
        );
        h.stop();
    }

    // NumHub: each file exactly once; locally every job done once, the file intact.
    let st = h.state();
    let mut at_numhub: Vec<String> = st["documents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d["sha256"].as_str().map(String::from))
        .collect();
    at_numhub.sort();
    shas.sort();
    assert_eq!(at_numhub, shas, "documents at NumHub (by SHA-256)");
    let conn = rusqlite::Connection::open(&db).expect("open db");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    let slowest = healed.iter().max().copied().unwrap_or_default();
    eprintln!(
        "full-disk test: {rounds} rounds, {} uploads at NumHub for {} sent, lost 0, duplicated 0; slowest recovery {slowest:?} after space came back",
        at_numhub.len(),
        shas.len()
    );
}
