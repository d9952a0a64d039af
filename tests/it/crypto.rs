//! Secrets at rest interoperate with the standard `age` CLI (installed by .ci/run):
//! what numhubd stores, `age -d -i identity.txt` decrypts, and the reverse.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use numhubd::crypto::Crypto;

fn age_cli() -> bool {
    let found = Command::new("age").arg("--version").output().is_ok();
    if !found && std::env::var("CI").as_deref() == Ok("true") {
        panic!("the age CLI is missing under CI: .ci/run must install it");
    }
    found
}

/// Runs the age CLI with `args`, `input` on its stdin; its output.
fn age(args: &[&std::ffi::OsStr], input: &[u8]) -> Output {
    Command::new("age")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().expect("stdin").write_all(input)?;
            child.wait_with_output()
        })
        .unwrap_or_else(|e| panic!("age {args:?}: {e}"))
}

#[test]
fn the_age_cli_decrypts_what_numhubd_encrypts_and_back() {
    if !age_cli() {
        eprintln!("skipped: age not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = dir.path().join("identity.txt");
    let crypto = Crypto::load(&identity, &[]).expect("load");
    let sealed = crypto.encrypt("bearer-token-value").expect("encrypt");
    let out = age(
        &["-d".as_ref(), "-i".as_ref(), identity.as_ref()],
        sealed.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bearer-token-value");

    let key = crypto.public_key();
    let out = age(
        &["-a".as_ref(), "-r".as_ref(), key.as_ref()],
        b"from-the-cli",
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("armored");
    assert_eq!(crypto.decrypt(&text).expect("decrypt"), "from-the-cli");
}

/// `keys.rotate` over the socket, with the daemon running: every stored secret moves
/// to the new identity (the age CLI decrypts it with the new file, not the old one),
/// and the daemon goes on reading and writing secrets.
#[test]
fn keys_rotate_over_the_socket_moves_every_secret_to_the_new_identity() {
    use crate::rpc_client::{ok, socket_of, start_rpc_daemon};
    use serde_json::json;
    if !age_cli() {
        eprintln!("skipped: age not installed");
        return;
    }
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    crate::rpc_client::add_tenant_login(
        &s,
        1,
        "T",
        "1001",
        "ops@tenant.test",
        "pw-before-rotation",
    );
    let rotated = ok(&s, "keys.rotate", json!({}));
    assert_eq!(rotated["credentials"], 1, "{rotated}");
    // Written after the rotation, with the same running daemon.
    crate::rpc_client::add_tenant_login(&s, 2, "U", "1002", "ops@other.test", "pw-after-rotation");
    let armored: Vec<(i64, String)> = d
        .rows("SELECT tenant_id, password_armored FROM numhub_credentials ORDER BY tenant_id")
        .into_iter()
        .map(|r| match &r[..] {
            [Some(t), Some(a)] => (t.parse().expect("tenant_id"), a.clone()),
            other => panic!("credentials row {other:?}"),
        })
        .collect();
    let decrypt = |identity: &std::path::Path, text: &str| -> Option<String> {
        let out = age(
            &["-d".as_ref(), "-i".as_ref(), identity.as_ref()],
            text.as_bytes(),
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    };
    let new = d.dir.path().join("identity.txt");
    let old = d.dir.path().join("identity.txt.old");
    assert_eq!(
        decrypt(&new, &armored[0].1).as_deref(),
        Some("pw-before-rotation")
    );
    assert_eq!(
        decrypt(&new, &armored[1].1).as_deref(),
        Some("pw-after-rotation")
    );
    assert_eq!(
        decrypt(&old, &armored[0].1),
        None,
        "the old identity still decrypts"
    );
}
