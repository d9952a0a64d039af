//! The socket's life: mode and group set before use, a stale socket replaced, a live
//! daemon's never taken, and the folder refused (with which reason) when unsafe.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use serde_json::json;

use crate::rpc_client::ok;
use crate::support::{base_config, run_numhubd, start_daemon};

fn config_with_socket(socket: &str) -> String {
    base_config("info").replace(
        "socket = \"numhubd.sock\"",
        &format!("socket = \"{socket}\"\nsocket_mode = \"0640\"\nsocket_group = \"65533\""),
    )
}

#[test]
fn mode_and_group_are_set_and_the_socket_goes_at_shutdown() {
    let mut d = start_daemon(&config_with_socket("run/api.sock"), &[]);
    let sock = d.dir.path().join("run/api.sock");
    let meta = std::fs::metadata(&sock).expect("socket exists");
    assert_eq!(meta.mode() & 0o777, 0o640);
    assert_eq!(meta.gid(), 65533);
    assert_eq!(ok(&sock, "daemon.health", json!({}))["ok"], true);
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit().success());
    assert!(!sock.exists(), "socket left behind");
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stale = dir.path().join("numhubd.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists());
    // The first daemon starts over the stale file.
    let d = start_daemon(
        &base_config("info").replace(
            "socket = \"numhubd.sock\"",
            &format!("socket = \"{}\"", stale.display()),
        ),
        &[],
    );
    assert_eq!(ok(&stale, "daemon.health", json!({}))["ok"], true);
    // A second one, same socket, refuses and leaves the first alone.
    let cfg = dir.path().join("second.toml");
    let second = base_config("info")
        .replace(
            "socket = \"numhubd.sock\"",
            &format!("socket = \"{}\"", stale.display()),
        )
        .replace("path = \"numhubd.db\"", "path = \"second.db\"");
    std::fs::write(&cfg, second).expect("config");
    let (code, err) = run_numhubd(&["serve", "--config", cfg.to_str().expect("utf8")]);
    assert_ne!(code, 0);
    assert!(err.contains("another numhubd is already serving"), "{err}");
    assert_eq!(ok(&stale, "daemon.health", json!({}))["ok"], true);
    drop(d);
}

fn refused_with(setup: impl FnOnce(&std::path::Path), expect: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let cfg = dir.path().join("numhubd.toml");
    std::fs::write(
        &cfg,
        base_config("info").replace("socket = \"numhubd.sock\"", "socket = \"run/numhubd.sock\""),
    )
    .expect("config");
    let (code, err) = run_numhubd(&["serve", "--config", cfg.to_str().expect("utf8")]);
    assert_ne!(code, 0, "started despite {expect}");
    assert!(
        err.contains("socket folder") && err.contains(expect),
        "{err}"
    );
}

#[test]
fn an_unsafe_socket_folder_is_refused_saying_why() {
    refused_with(
        |d| std::os::unix::fs::symlink(d.join("elsewhere"), d.join("run")).expect("symlink"),
        "symlink",
    );
    refused_with(
        |d| {
            std::fs::create_dir(d.join("run")).expect("mkdir");
            std::fs::set_permissions(d.join("run"), std::fs::Permissions::from_mode(0o777))
                .expect("chmod");
        },
        "world-writable",
    );
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        refused_with(
            |d| {
                std::fs::create_dir(d.join("run")).expect("mkdir");
                std::os::unix::fs::chown(d.join("run"), Some(65534), Some(65534)).expect("chown");
            },
            "owned by uid 65534",
        );
    }
}
