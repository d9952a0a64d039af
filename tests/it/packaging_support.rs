//! Shared parts of the packaging tests (`unit`, `package`, `systemd_host`): whether a
//! tool is at hand (missing under CI=true is a failure), the units pointed at a
//! binary and checked by systemd-analyze, sysusers/tmpfiles applied to a scratch
//! root, and the .deb .ci/package built.

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

/// Whether systemd-analyze is at hand.
pub fn systemd_analyze() -> bool {
    have_tool("systemd-analyze", &["--version"])
}

/// A file of this repository, by its path from the top.
pub fn repo_file(rel: &str) -> PathBuf {
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

/// The newest target/debian/numhubd_*.deb, or None (skip) off CI.
pub fn package() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debian");
    let newest = std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("numhubd_") && n.ends_with(".deb"))
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    if newest.is_none() && under_ci() {
        panic!(
            "no .deb in {}: .ci/run must build it (.ci/package)",
            dir.display()
        );
    }
    if newest.is_some() && !have_tool("dpkg-deb", &["--version"]) {
        return None;
    }
    newest
}
