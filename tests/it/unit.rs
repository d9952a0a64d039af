//! The packaged systemd files: the service and socket units (valid syntax, a hardened
//! exposure score, checked by systemd-analyze), and the sysusers.d and tmpfiles.d
//! files applied to a scratch root. The tools come with .ci/run; elsewhere a test
//! whose tool is missing skips, and under CI=true it fails.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `tool` runs; missing under CI=true is a failure (.ci/run installs it).
pub fn have_tool(tool: &str, probe: &[&str]) -> bool {
    let found = Command::new(tool).args(probe).output().is_ok();
    if !found && under_ci() {
        panic!("{tool} is missing under CI: .ci/run must install it");
    }
    found
}

pub fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether we are root (chown in a scratch root needs it); CI runs as root.
pub fn root_or_skip() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && under_ci() {
        panic!("CI must run as root: the packaging tests chown files in a scratch root");
    }
    root
}

fn systemd_analyze() -> bool {
    have_tool("systemd-analyze", &["--version"])
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The units with their binary path pointed at `numhubd` (the one cargo built, or
/// the one unpacked from the .deb), the socket unit beside the service.
pub fn units_for_test(dir: &Path, numhubd: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_file("systemd/numhubd.service")).expect("unit");
    let text = text.replace("/usr/bin/numhubd", &numhubd.display().to_string());
    let path = dir.join("numhubd.service");
    std::fs::write(&path, text).expect("write unit");
    std::fs::copy(
        repo_file("systemd/numhubd.socket"),
        dir.join("numhubd.socket"),
    )
    .expect("socket unit");
    path
}

/// `systemd-analyze verify` on both units: no complaint about our own units (verify
/// also reports units it cannot find on this machine, e.g. network-online.target in
/// a container; those do not count).
pub fn assert_units_verify(service: &Path) {
    let socket = service.with_extension("socket");
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(service)
        .arg(&socket)
        .output()
        .expect("verify");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("numhubd.service") || l.contains("numhubd.socket"))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze verify:\n{stderr}");
}

/// The exposure score `systemd-analyze security --offline=true` gives the service.
pub fn exposure(service: &Path) -> f64 {
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(service)
        .output()
        .expect("security");
    let out = String::from_utf8_lossy(&security.stdout);
    let line = out
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line:\n{out}"));
    line.split("numhubd.service:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score from {line}"))
}

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

/// Runs sysusers and tmpfiles on `r` (which holds usr/lib/{sysusers,tmpfiles}.d/
/// numhubd.conf) and checks what they made.
pub fn assert_scratch_root(r: &Path) {
    for (tool, args) in [
        ("systemd-sysusers", vec![]),
        ("systemd-tmpfiles", vec!["--create"]),
    ] {
        let out = Command::new(tool)
            .args(&args)
            .arg(format!("--root={}", r.display()))
            .arg("numhubd.conf")
            .output()
            .expect(tool);
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).expect("passwd");
    let user: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("numhubd:"))
        .expect("user numhubd")
        .split(':')
        .collect();
    assert_eq!(user[5], "/var/lib/numhubd", "home");
    assert_eq!(user[6], "/usr/sbin/nologin", "shell");
    let uid: u32 = user[2].parse().expect("uid");
    assert!(uid < 1000, "numhubd must be a system user, got uid {uid}");
    let group = std::fs::read_to_string(r.join("etc/group")).expect("group");
    let gid = |name: &str| -> (u32, String) {
        let fields: Vec<&str> = group
            .lines()
            .find(|l| l.split(':').next() == Some(name))
            .unwrap_or_else(|| panic!("group {name} missing:\n{group}"))
            .split(':')
            .collect();
        (fields[2].parse().expect("gid"), fields[3].to_string())
    };
    let (numhubd_gid, _) = gid("numhubd");
    assert_eq!(
        user[3].parse::<u32>().expect("gid"),
        numhubd_gid,
        "primary group"
    );
    let (clients_gid, _) = gid("numhubd-clients");
    let (drop_gid, drop_members) = gid("numhubd-drop");
    assert!(
        drop_members.split(',').any(|m| m == "numhubd"),
        "numhubd must be in numhubd-drop to hand its folders to it"
    );
    for (path, mode, owner, group) in [
        ("run/numhubd", 0o750, uid, clients_gid),
        ("var/spool/numhubd", 0o2770, uid, drop_gid),
        ("var/lib/numhubd", 0o700, uid, numhubd_gid),
    ] {
        let meta = std::fs::metadata(r.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(meta.is_dir(), "{path} is not a folder");
        assert_eq!(
            meta.mode() & 0o7777,
            mode,
            "{path}: mode {:o}",
            meta.mode() & 0o7777
        );
        assert_eq!((meta.uid(), meta.gid()), (owner, group), "{path}: owner");
    }
}
