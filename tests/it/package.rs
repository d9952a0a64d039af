//! The .deb that .ci/package builds (target/debian/): every file with its mode, the
//! conffile marked, the maintainer scripts, the units verified against the binaries
//! unpacked from it, its sysusers.d/tmpfiles.d files applied to a scratch root, and a
//! numhubd without the sandbox. Skipped when no package was built on a developer
//! machine; under CI=true a missing package fails.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::packaging_support::{
    assert_scratch_root, assert_units_verify, exposure, have_tool, package, root_or_skip,
    units_for_test,
};

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .expect("dpkg-deb");
    assert!(
        out.status.success(),
        "dpkg-deb {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn unpacked(deb: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dir.path())
        .output()
        .expect("dpkg-deb -x");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn the_package_holds_every_file_with_its_mode_and_marks_the_conffile() {
    let Some(deb) = package() else {
        eprintln!("skipped: no .deb built (bash .ci/package)");
        return;
    };
    let listing = dpkg_deb(&["-c"], &deb);
    // "-rwxr-xr-x root/root 123 2026-01-01 00:00 ./usr/bin/numhubd"
    let entries: Vec<(String, String, String)> = listing
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6).then(|| {
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[5].trim_start_matches('.').to_string(),
                )
            })
        })
        .collect();
    for (path, mode) in [
        ("/usr/bin/numhubd", "-rwxr-xr-x"),
        ("/usr/bin/numhubctl", "-rwxr-xr-x"),
        ("/etc/numhubd/numhubd.toml", "-rw-r--r--"),
        ("/usr/lib/systemd/system/numhubd.service", "-rw-r--r--"),
        ("/usr/lib/systemd/system/numhubd.socket", "-rw-r--r--"),
        ("/usr/lib/sysusers.d/numhubd.conf", "-rw-r--r--"),
        ("/usr/lib/tmpfiles.d/numhubd.conf", "-rw-r--r--"),
        ("/usr/share/man/man8/numhubd.8.gz", "-rw-r--r--"),
        ("/usr/share/man/man1/numhubctl.1.gz", "-rw-r--r--"),
        (
            "/usr/share/bash-completion/completions/numhubd",
            "-rw-r--r--",
        ),
        ("/usr/share/zsh/vendor-completions/_numhubd", "-rw-r--r--"),
        (
            "/usr/share/fish/vendor_completions.d/numhubd.fish",
            "-rw-r--r--",
        ),
        (
            "/usr/share/bash-completion/completions/numhubctl",
            "-rw-r--r--",
        ),
        ("/usr/share/zsh/vendor-completions/_numhubctl", "-rw-r--r--"),
        (
            "/usr/share/fish/vendor_completions.d/numhubctl.fish",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/numhubd/OPERATIONS.md", "-rw-r--r--"),
        ("/usr/share/doc/numhubd/README.md", "-rw-r--r--"),
    ] {
        let entry = entries
            .iter()
            .find(|(_, _, p)| p == path)
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"));
        assert_eq!(entry.0, mode, "{path}: mode");
        assert!(
            entry.1 == "root/root" || entry.1 == "0/0",
            "{path}: owner {}",
            entry.1
        );
    }
    // Man pages and completions are rendered, not empty files.
    for (_, _, path) in entries.iter().filter(|(mode, _, p)| {
        mode.starts_with('-') && (p.starts_with("/usr/share/man/") || p.contains("completion"))
    }) {
        let size = listing
            .lines()
            .find(|l| l.ends_with(&format!(".{path}")))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        assert!(size > 100, "{path} is {size} bytes");
    }
    // Nothing world-writable, no setuid/setgid file in the package.
    for (mode, _, path) in &entries {
        assert!(
            !mode.ends_with('w') && !mode.contains('s') && !mode.contains('S'),
            "{path}: mode {mode}"
        );
    }

    let conffiles = dpkg_deb(&["-I"], &deb);
    assert!(
        conffiles.contains("conffiles"),
        "no conffiles member:\n{conffiles}"
    );
    let marked = Command::new("dpkg-deb")
        .args(["--info"])
        .arg(&deb)
        .arg("conffiles")
        .output()
        .expect("conffiles");
    let marked = String::from_utf8_lossy(&marked.stdout);
    assert!(
        marked
            .lines()
            .any(|l| l.trim() == "/etc/numhubd/numhubd.toml"),
        "the config is not a conffile: {marked:?}"
    );
    for script in ["postinst", "prerm", "postrm"] {
        assert!(
            conffiles.contains(script),
            "no {script} in the package:\n{conffiles}"
        );
    }
    let postinst = Command::new("dpkg-deb")
        .args(["--info"])
        .arg(&deb)
        .arg("postinst")
        .output()
        .expect("postinst");
    let postinst = String::from_utf8_lossy(&postinst.stdout);
    for line in [
        "systemd-sysusers numhubd.conf",
        "systemd-tmpfiles --create numhubd.conf",
        "deb-systemd-helper enable",
    ] {
        assert!(
            postinst.contains(line),
            "postinst lacks {line}:\n{postinst}"
        );
    }
    // The scripts parse (sh -n) as dpkg will run them.
    let control = tempfile::tempdir().expect("tempdir");
    let out = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(control.path().join("DEBIAN"))
        .output()
        .expect("dpkg-deb -e");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.path().join("DEBIAN").join(script);
        let mode = std::fs::metadata(&path).expect(script).permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "{script}: mode {mode:o}");
        let check = Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("sh -n");
        assert!(
            check.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    // Enabled, never started at install (the operator configures NumHub first).
    assert!(
        !postinst.contains("deb-systemd-invoke start"),
        "postinst starts the daemon:\n{postinst}"
    );
}

#[test]
fn the_packaged_numhubd_has_no_sandbox() {
    let Some(deb) = package() else {
        eprintln!("skipped: no .deb built (bash .ci/package)");
        return;
    };
    let root = unpacked(&deb);
    let out = Command::new(root.path().join("usr/bin/numhubd"))
        .args(["serve", "--sandbox", "--config"])
        .arg(root.path().join("etc/numhubd/numhubd.toml"))
        .output()
        .expect("run the packaged numhubd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("without the embedded sandbox"), "{stderr}");
    // The packaged config is valid as shipped.
    let check = Command::new(root.path().join("usr/bin/numhubd"))
        .args(["check-config", "--config"])
        .arg(root.path().join("etc/numhubd/numhubd.toml"))
        .output()
        .expect("check-config");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_packaged_units_verify_with_the_packaged_binaries() {
    let Some(deb) = package() else {
        eprintln!("skipped: no .deb built (bash .ci/package)");
        return;
    };
    if !have_tool("systemd-analyze", &["--version"]) {
        eprintln!("skipped: systemd-analyze not installed");
        return;
    }
    let root = unpacked(&deb);
    let packaged = root.path().join("usr/lib/systemd/system/numhubd.service");
    let repo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/numhubd.service"
    ))
    .expect("unit");
    assert_eq!(
        std::fs::read_to_string(&packaged).expect("packaged unit"),
        repo,
        "the packaged unit is not systemd/numhubd.service"
    );
    let units = tempfile::tempdir().expect("tempdir");
    let service = units_for_test(units.path(), &root.path().join("usr/bin/numhubd"));
    assert_units_verify(&service);
    let score = exposure(&service);
    assert!(score <= 2.0, "exposure {score} is above 2.0");
}

#[test]
fn the_packaged_sysusers_and_tmpfiles_make_the_user_and_folders() {
    let Some(deb) = package() else {
        eprintln!("skipped: no .deb built (bash .ci/package)");
        return;
    };
    if !have_tool("systemd-sysusers", &["--version"])
        || !have_tool("systemd-tmpfiles", &["--version"])
        || !root_or_skip()
    {
        eprintln!("skipped: needs systemd-sysusers, systemd-tmpfiles and root");
        return;
    }
    let root = unpacked(&deb);
    std::fs::create_dir_all(root.path().join("etc")).expect("etc");
    assert_scratch_root(root.path());
}
