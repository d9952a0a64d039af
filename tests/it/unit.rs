//! The packaged systemd files: the service and socket units (valid syntax, a hardened
//! exposure score, checked by systemd-analyze), and the sysusers.d and tmpfiles.d
//! files applied to a scratch root. The tools come with .ci/run; elsewhere a test
//! whose tool is missing skips, and under CI=true it fails.

use std::path::Path;
use std::process::Command;

use crate::packaging_support::{
    assert_scratch_root, assert_units_verify, exposure, have_tool, repo_file, root_or_skip,
    systemd_analyze, units_for_test,
};

#[test]
fn the_unit_is_type_notify_with_watchdog_and_reload() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/numhubd.service"
    ))
    .expect("unit");
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "RestartPreventExitStatus=65 78",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "unit lacks {line}"
        );
    }
    // A dead task's exit (70) must be restarted, never prevented.
    let software = numhubd::exit::SOFTWARE.to_string();
    assert!(
        text.lines()
            .filter(|l| l.starts_with("Restart"))
            .all(|l| !l.split(['=', ' ']).any(|w| w == software)),
        "the unit keeps systemd from restarting exit {software}"
    );
    assert!(text.lines().any(|l| l == "Restart=on-failure"));
}

#[test]
fn the_unit_verifies_and_is_hardened() {
    if !systemd_analyze() {
        eprintln!("skipped: systemd-analyze not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = units_for_test(dir.path(), Path::new(env!("CARGO_BIN_EXE_numhubd")));
    assert_units_verify(&unit);
    let score = exposure(&unit);
    assert!(score <= 2.0, "exposure {score} is above 2.0");
}

#[test]
fn the_unit_keeps_peer_credentials_and_the_socket_unit_holds_the_socket() {
    let service = std::fs::read_to_string(repo_file("systemd/numhubd.service")).expect("unit");
    let keys: Vec<&str> = service.lines().filter(|l| !l.starts_with('#')).collect();
    // A user namespace turns every app's uid into 65534 (no [[access]] rule matches).
    assert!(
        !keys.iter().any(|l| l.starts_with("PrivateUsers=")),
        "PrivateUsers= is set"
    );
    // RuntimeDirectory= would chown the socket unit's socket to numhubd:numhubd at each
    // start and delete it at each stop.
    assert!(
        !keys.iter().any(|l| l.starts_with("RuntimeDirectory")),
        "RuntimeDirectory= is set"
    );
    for line in [
        "StateDirectory=numhubd",
        "StateDirectoryMode=0700",
        "ConfigurationDirectory=numhubd",
        "LoadCredentialEncrypted=numhub-password",
        "LoadCredentialEncrypted=age-identity",
        "LoadCredentialEncrypted=database-password",
        "LimitCORE=0",
        "PrivateIPC=yes",
        "Restart=on-failure",
        "User=numhubd",
    ] {
        assert!(keys.contains(&line), "unit lacks {line}");
    }
    assert!(
        keys.iter().any(|l| l.starts_with("MemoryMax=")),
        "no MemoryMax="
    );
    assert!(
        keys.iter().any(|l| l.starts_with("TasksMax=")),
        "no TasksMax="
    );
    // TimeoutStopSec= outlasts the longest shutdown_timeout_secs the config allows.
    let stop: u64 = keys
        .iter()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.strip_suffix('s'))
        .and_then(|v| v.parse().ok())
        .expect("TimeoutStopSec=<n>s");
    let cfg = tempfile::tempdir().expect("tempdir");
    let at_max = cfg.path().join("max.toml");
    std::fs::write(&at_max, "[daemon]\nshutdown_timeout_secs = 600\n").expect("write");
    let over = cfg.path().join("over.toml");
    std::fs::write(&over, "[daemon]\nshutdown_timeout_secs = 601\n").expect("write");
    let check = |p: &Path| {
        Command::new(env!("CARGO_BIN_EXE_numhubd"))
            .arg("check-config")
            .arg("--config")
            .arg(p)
            .output()
            .expect("check-config")
            .status
            .code()
    };
    assert_eq!(check(&at_max), Some(0), "600 s must be allowed");
    assert_eq!(check(&over), Some(78), "601 s must be refused");
    assert!(
        stop > 600,
        "TimeoutStopSec={stop}s is not longer than 600 s"
    );

    let socket = std::fs::read_to_string(repo_file("systemd/numhubd.socket")).expect("socket");
    let socket: Vec<&str> = socket.lines().filter(|l| !l.starts_with('#')).collect();
    let config = std::fs::read_to_string(repo_file("config/numhubd.toml")).expect("config");
    let config_socket = config
        .lines()
        .find_map(|l| l.strip_prefix("socket = "))
        .expect("[rpc] socket in the packaged config")
        .trim_matches('"');
    assert!(
        socket.contains(&format!("ListenStream={config_socket}").as_str()),
        "the socket unit and the packaged config disagree on {config_socket}"
    );
    // The drop folder tmpfiles.d makes is the packaged [drop] dir, with its group.
    let tmpfiles =
        std::fs::read_to_string(repo_file("systemd/numhubd.tmpfiles")).expect("tmpfiles");
    assert!(
        config.lines().any(|l| l == "dir = \"/var/spool/numhubd\""),
        "[drop] dir"
    );
    assert!(
        config.lines().any(|l| l == "group = \"numhubd-drop\""),
        "[drop] group"
    );
    assert!(
        tmpfiles
            .lines()
            .any(|l| l == "d /var/spool/numhubd 2770 numhubd numhubd-drop -"),
        "tmpfiles.d and [drop] disagree"
    );
    for line in [
        "SocketMode=0660",
        "SocketGroup=numhubd-clients",
        "RemoveOnStop=no",
    ] {
        assert!(socket.contains(&line), "socket unit lacks {line}");
    }
}

/// `systemd-sysusers` and `systemd-tmpfiles --create` with the packaged files on a
/// scratch root: the user, the groups, the folders with their owners and modes.
#[test]
fn sysusers_and_tmpfiles_make_the_user_groups_and_folders() {
    if !have_tool("systemd-sysusers", &["--version"])
        || !have_tool("systemd-tmpfiles", &["--version"])
    {
        eprintln!("skipped: systemd-sysusers/systemd-tmpfiles not installed");
        return;
    }
    if !root_or_skip() {
        eprintln!("skipped: not root (tmpfiles chowns the folders)");
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    for (from, to) in [
        (
            "systemd/numhubd.sysusers",
            "usr/lib/sysusers.d/numhubd.conf",
        ),
        (
            "systemd/numhubd.tmpfiles",
            "usr/lib/tmpfiles.d/numhubd.conf",
        ),
    ] {
        let to = r.join(to);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(repo_file(from), to).expect("copy");
    }
    std::fs::create_dir_all(r.join("etc")).expect("etc");
    assert_scratch_root(r);
}
