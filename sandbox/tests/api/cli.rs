//! The stand-alone binary: first stdout line is the base URL, `--users` is read, SIGTERM
//! stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[tokio::test]
async fn binary_prints_url_reads_users_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.json");
    let body = json!([{
        "email": "cli@example.com", "password": "secret", "user_id": 42,
        "clients": [{ "client_id": 77, "name": "Seventy-seven", "osp_id": null }]
    }]);
    std::fs::write(&users, body.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_numhub-sandbox"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "5",
            "--rate-window-secs",
            "60",
        ])
        .arg("--users")
        .arg(&users)
        .arg("--storage-dir")
        .arg(dir.path().join("files"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let http = crate::common::client();
    let r = http
        .post(format!(
            "{base}/api/v1/authorize/token?Email=cli@example.com&Password=secret"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["requests-remaining"], "4");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["userClients"][0]["clientId"], 77);
    assert!(dir.path().join("files").is_dir());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(code) = child.try_wait().unwrap() {
            assert!(code.success(), "{code:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn help_documents_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_numhub-sandbox"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--users",
        "--rate-limit",
        "--rate-window-secs",
        "--max-file-bytes",
        "--storage-dir",
        "--otp-code",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}
