//! numhubd in a user namespace that maps only root (what systemd's `PrivateUsers=`
//! does to every other user): a peer the kernel shows as the overflow uid is refused
//! with a log line naming the cause, and a rule naming the overflow uid is a config
//! error. Needs root and unshare (CI has both); skipped elsewhere, failed under CI.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::rpc_client::{add_tenant, curl_as};
use crate::support::{base_config, can_unshare, run_numhubd, start_wrapped, wait_until, TIMEOUT};

/// Another local user: outside the namespace it has its own uid, inside it is unmapped.
const OTHER: u32 = 4242;
const FORBIDDEN: i64 = -32003;

#[test]
fn a_peer_hidden_by_a_user_namespace_is_refused_with_the_cause_logged() {
    if !can_unshare(&["--user", "--map-root-user"]) {
        eprintln!("skipped: needs root, curl and unshare --user");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let wrapper: Vec<&OsStr> = vec![
        "unshare".as_ref(),
        "--user".as_ref(),
        "--map-root-user".as_ref(),
    ];
    let d = start_wrapped(dir, &base_config("info"), &[], &wrapper);
    let socket = d.dir.path().join("numhubd.sock");
    // The other user must reach the socket at all for the daemon to judge it.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))
        .expect("chmod socket");
    // root is mapped, so it is still recognised as admin.
    add_tenant(&socket, 1, "Acme");

    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tenant.list", "params": {}});
    let v = curl_as(OTHER, OTHER, &socket, &body.to_string()).expect("curl");
    assert_eq!(
        v.pointer("/error/code").and_then(serde_json::Value::as_i64),
        Some(FORBIDDEN),
        "{v}"
    );
    let overflow = numhubd::userns::overflow();
    assert!(
        wait_until(TIMEOUT, || d.stderr().contains("overflow uid/gid")),
        "no refusal line:\n{}",
        d.stderr()
    );
    let log = d.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("peer refused"))
        .unwrap_or_else(|| panic!("no refusal line:\n{log}"));
    assert!(
        line.contains(&format!("uid={}", overflow.uid))
            && line.contains("user namespace")
            && line.contains("PrivateUsers="),
        "the line does not name the cause: {line}"
    );
}

#[test]
fn a_rule_for_the_overflow_uid_or_gid_exits_78_naming_it() {
    let overflow = numhubd::userns::overflow();
    for (key, rule) in [
        ("access[0].uid", format!("uid = {}", overflow.uid)),
        ("access[0].gid", format!("gid = {}", overflow.gid)),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("numhubd.toml");
        std::fs::write(
            &path,
            format!(
                "{}[[access]]\n{rule}\nrole = \"read\"\ntenants = \"*\"\n",
                base_config("info")
            ),
        )
        .expect("write");
        let path = path.to_string_lossy().to_string();
        for cmd in ["serve", "check-config"] {
            let (code, stderr) = run_numhubd(&[cmd, "--config", &path]);
            assert_eq!(code, 78, "{cmd}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{cmd}: one line:\n{stderr}");
            assert!(
                stderr.contains(key) && stderr.contains("overflow"),
                "{cmd}: {stderr}"
            );
        }
        assert!(!dir.path().join("numhubd.db").exists());
    }
}
