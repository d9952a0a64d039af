//! Secrets at rest interoperate with the standard `age` CLI (installed by .ci/run):
//! what numhubd stores, `age -d -i identity.txt` decrypts, and the reverse.

use std::io::Write;
use std::process::{Command, Stdio};

use numhubd::crypto::Crypto;

fn age_cli() -> bool {
    let found = Command::new("age").arg("--version").output().is_ok();
    if !found && std::env::var("CI").as_deref() == Ok("true") {
        panic!("the age CLI is missing under CI: .ci/run must install it");
    }
    found
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
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&identity)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(sealed.as_bytes())?;
            child.wait_with_output()
        })
        .expect("age -d");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bearer-token-value");

    let out = Command::new("age")
        .args(["-a", "-r", &crypto.public_key()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"from-the-cli")?;
            child.wait_with_output()
        })
        .expect("age -r");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("armored");
    assert_eq!(crypto.decrypt(&text).expect("decrypt"), "from-the-cli");
}
