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

#[test]
fn systemd_socket_activation_is_used_when_passed() {
    use std::os::unix::io::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let activated = dir.path().join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&activated).expect("bind");
    let fd = listener.as_raw_fd();
    let cfg = dir.path().join("numhubd.toml");
    std::fs::write(&cfg, base_config("info")).expect("config");
    let mut cmd = std::process::Command::new("sh");
    // LISTEN_PID must be the daemon's pid: the shell exports its own, then execs.
    cmd.arg("-c")
        .arg("export LISTEN_PID=$$ LISTEN_FDS=1; exec \"$0\" serve --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_numhubd"))
        .arg(&cfg)
        .env_remove("RUNTIME_DIRECTORY")
        .env_remove("STATE_DIRECTORY")
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("log"));
    // SAFETY: dup2(2) is async-signal-safe; it puts the listener at fd 3 in the child.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it in that case.
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn");
    let answered = crate::support::wait_until(crate::support::TIMEOUT, || {
        std::os::unix::net::UnixStream::connect(&activated).is_ok()
            && crate::rpc_client::call(&activated, "daemon.health", json!({}))["result"]["ok"]
                == true
    });
    let own_socket = dir.path().join("numhubd.sock").exists();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(
        answered,
        "the daemon did not serve on the passed socket: {log}"
    );
    assert!(
        !own_socket,
        "the daemon bound its own socket despite activation"
    );
    assert!(
        activated.exists(),
        "systemd's socket must not be removed by the daemon"
    );
}
