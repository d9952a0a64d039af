//! Nothing blocks the accept loop: while one connection's peer lookup (getpwuid_r,
//! getgrouplist — LDAP or SSSD on real hosts) is held, other connections are still
//! accepted and answered.
//!
//! The lookup is held for real: the daemon runs in its own mount namespace where
//! `/etc/passwd` is a FIFO, so glibc's `files` lookup blocks in open(2) until the test
//! opens the other end (then glibc finds no regular file and asks the next NSS
//! module). Needs root (the user switch and the mount); skipped without.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::rpc_client::{curl_as, curl_present, socket_of};
use crate::support::{base_config, start_wrapped, wait_until, TIMEOUT};

/// A user without a rule (not the overflow uid: that one is refused before any lookup).
const NOBODY: u32 = 4242;

fn can_mount_namespaces() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if std::env::var("CI").as_deref() == Ok("true") {
        assert!(root && curl_present(), "CI runs as root with curl");
    }
    // A container without CAP_SYS_ADMIN refuses the mount namespace: that is the
    // machine's limit, not a missing tool, so it skips (loudly) even under CI.
    root && curl_present()
        && std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

/// `daemon.health` over a fresh connection, or None if no answer came in `wait`.
fn health_within(socket: &Path, wait: Duration) -> Option<Value> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "daemon.health"}).to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// Whether a thread of `pid` is blocked opening a FIFO no one writes to.
fn opening_a_fifo(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("wchan")).is_ok_and(|w| w == "wait_for_partner")
    })
}

#[test]
fn a_held_peer_lookup_does_not_stop_other_connections() {
    if !can_mount_namespaces() {
        eprintln!("skipped: needs root, curl and unshare --mount");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    let fifo = dir.path().join("passwd.fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo(3) with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    let config =
        base_config("info").replace("socket = \"numhubd.sock\"", "socket = \"run/numhubd.sock\"");
    let wrapper = crate::support::in_private_mounts(
        r#"mount --bind "$0" /etc/passwd && exec "$@""#,
        &[fifo.as_os_str()],
    );
    let d = start_wrapped(dir, &config, &[], &wrapper);
    let socket = socket_of(&d);
    // The config may not open the socket to others (above 0770); nobody needs it, so
    // the test opens it after the bind.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))
        .expect("chmod socket");

    // nobody matches no rule by uid, so its groups are looked up: held on the FIFO.
    let s = socket.clone();
    let held = std::thread::spawn(move || {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "daemon.health"}).to_string();
        curl_as(NOBODY, NOBODY, &s, &body)
    });
    // One of the daemon's threads waits in the FIFO's open: the lookup is held.
    assert!(
        wait_until(TIMEOUT, || opening_a_fifo(d.pid())),
        "the daemon never looked nobody up; stderr:\n{}",
        d.stderr()
    );
    let answer = health_within(&socket, Duration::from_secs(3));
    assert_eq!(
        answer.as_ref().map(|a| &a["result"]["ok"]),
        Some(&json!(true)),
        "root's call waited on nobody's lookup: {answer:?}"
    );
    assert!(!held.is_finished(), "nobody's lookup was not held");

    assert!(opening_a_fifo(d.pid()), "the lookup went on by itself");

    // Released (the lookup's open returns): nobody's connection is served too.
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open the FIFO's other end");
    drop(writer);
    let v = held.join().expect("curl thread").expect("curl");
    assert_eq!(v["result"]["ok"], true, "{v}");
}
