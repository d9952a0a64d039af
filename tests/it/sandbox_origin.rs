//! `serve --sandbox` never runs against a database that has talked to a real
//! NumHub, and a real `serve` never against a sandbox's: the real binary, real
//! database files, the refusal checked byte for byte.

use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::support::{base_config, Daemon};

fn sha256(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).expect("read database")).to_vec()
}

/// Runs `numhubd serve --sandbox` on `dir`'s config to completion: (code, stderr).
fn serve_sandbox_refused(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_numhubd"))
        .args(["serve", "--sandbox", "--config"])
        .arg(dir.join("numhubd.toml"))
        .env_remove("STATE_DIRECTORY")
        .env_remove("RUNTIME_DIRECTORY")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("run numhubd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn assert_refused_unchanged(dir: &Path, must_say: &str) {
    let db = dir.join("numhubd.db");
    let before = sha256(&db);
    let (code, stderr) = serve_sandbox_refused(dir);
    assert_eq!(code, 78, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "want one line:\n{stderr}");
    assert!(lines[0].contains(must_say), "{stderr}");
    assert!(lines[0].contains("--sandbox"), "{stderr}");
    assert_eq!(sha256(&db), before, "the refusal changed the database");
    assert!(!dir.join("numhubd.sock").exists(), "something started");
}

#[test]
fn serve_sandbox_refuses_a_database_that_has_talked_to_another_numhub() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("numhubd.toml"), base_config("info")).expect("config");
    let db = dir.path().join("numhubd.db");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store =
            numhubd::db::Store::open(&db, numhubd::db::StoreOptions::default()).expect("open");
        store
            .write(|tx| {
                numhubd::db::origin::record_if_absent(
                    tx,
                    &numhubd::db::origin::NumhubOrigin::Url("https://numhub.example/".into()),
                )
            })
            .await
            .expect("record");
        store.close().await.expect("close");
    });
    assert_refused_unchanged(dir.path(), "NumHub at https://numhub.example/");
}

#[test]
fn serve_sandbox_refuses_an_older_database_with_numhub_traffic_and_no_origin() {
    // The v3 fixture predates origins and holds an audit row and a NumHub id.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("numhubd.toml"), base_config("info")).expect("config");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/v3-with-rows.sqlite"
        ),
        dir.path().join("numhubd.db"),
    )
    .expect("copy fixture");
    assert_refused_unchanged(dir.path(), "before origins were recorded");
}

/// Starts `serve --sandbox` in `dir` and waits for READY=1.
fn start_sandbox(dir: tempfile::TempDir) -> Daemon {
    let notify_path = dir.path().join("notify.sock");
    let _ = std::fs::remove_file(&notify_path);
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify");
    notify
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .expect("timeout");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("stderr.log"))
        .expect("stderr");
    let child = Command::new(env!("CARGO_BIN_EXE_numhubd"))
        .args(["serve", "--sandbox", "--config"])
        .arg(dir.path().join("numhubd.toml"))
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("JOURNAL_STREAM")
        .stderr(stderr)
        .spawn()
        .expect("spawn");
    let d = Daemon { dir, child, notify };
    d.wait_notify("READY=1");
    d
}

fn stop(mut d: Daemon) -> tempfile::TempDir {
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.stderr());
    std::mem::replace(&mut d.dir, tempfile::tempdir().expect("tempdir"))
}

#[test]
fn a_sandbox_database_keeps_working_across_restarts_and_real_serve_refuses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("numhubd.toml"), base_config("info")).expect("config");
    let d = start_sandbox(dir);
    let socket = d.dir.path().join("numhubd.sock");
    let tenant = crate::rpc_client::ok(&socket, "tenant.get", serde_json::json!({"id": 1}));
    assert_eq!(tenant["numhub_client_id"], "1001");
    // Another run: the sandbox has another port, the database is still the sandbox's.
    let d = start_sandbox(stop(d));
    assert!(crate::support::wait_until(crate::support::TIMEOUT, || {
        let logs = crate::rpc_client::ok(
            &d.dir.path().join("numhubd.sock"),
            "log.list",
            serde_json::json!({"tenant_id": 1}),
        );
        logs["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
    }));
    let dir = stop(d);
    // A real serve (base_url 127.0.0.1:9) refuses it, naming both, file unchanged.
    let db = dir.path().join("numhubd.db");
    let before = sha256(&db);
    let (code, stderr) = crate::support::run_numhubd(&[
        "serve",
        "--config",
        &dir.path().join("numhubd.toml").to_string_lossy(),
    ]);
    assert_eq!(code, 78, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("embedded sandbox") && stderr.contains("http://127.0.0.1:9/"),
        "{stderr}"
    );
    assert_eq!(sha256(&db), before);
    // And adopt-origin will not turn it into a real NumHub's.
    let (code, stderr) = crate::support::run_numhubd(&[
        "adopt-origin",
        "--config",
        &dir.path().join("numhubd.toml").to_string_lossy(),
    ]);
    assert_eq!(code, 78, "{stderr}");
}
