//! numhubd's files are private whatever the umask it is started with, a database
//! file others could write (or another user's) is refused, and the process is not
//! dumpable. The ownership checks need root (CI is root); skipped elsewhere, failed
//! under CI.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::support::{base_config, is_root, run_numhubd, start_wrapped, wait_until, TIMEOUT};

/// A user other than root that owns nothing here.
const OTHER: u32 = 4242;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

#[test]
fn files_are_private_after_a_start_with_umask_000() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A password file others can read: the daemon warns once.
    let password = dir.path().join("password");
    std::fs::write(&password, "not-a-real-password\n").expect("password");
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let config = format!(
        "{}email = \"ops@example.test\"\npassword_file = \"password\"\n",
        base_config("info")
    );
    let wrapper: Vec<&OsStr> = vec![
        "sh".as_ref(),
        "-c".as_ref(),
        r#"umask 000; exec "$@""#.as_ref(),
        "sh".as_ref(),
    ];
    let d = start_wrapped(dir, &config, &[], &wrapper);
    let db = d.db_path();
    let with = |suffix: &str| {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        std::path::PathBuf::from(p)
    };
    let mut private = vec![(d.dir.path().join("identity.txt"), 0o600)];
    // The database's files, and the spool beside them, exist on SQLite only.
    if !crate::test_engine::on_mariadb() {
        private.extend([
            (db.clone(), 0o600),
            (with("-wal"), 0o600),
            (with("-shm"), 0o600),
            (with(".lock"), 0o600),
            (d.dir.path().join("spool"), 0o700),
        ]);
    }
    for (path, want) in private {
        assert_eq!(mode(&path), want, "{}", path.display());
    }
    // Folders others must use keep the modes they are given explicitly (the
    // watcher makes the drop folder once it runs, after READY=1).
    let drop = d.dir.path().join("drop");
    assert!(wait_until(TIMEOUT, || drop.is_dir()), "no drop folder");
    assert_eq!(mode(&drop) & 0o777, 0o770);
    assert!(
        wait_until(TIMEOUT, || d.stderr().contains("password_file is readable")),
        "no warning about the password file:\n{}",
        d.stderr()
    );
    assert!(!d.stderr().contains("not-a-real-password"));
}

fn refused(prepare: impl FnOnce(&Path), must_name: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("numhubd.toml");
    std::fs::write(&cfg, base_config("info")).expect("config");
    let db = dir.path().join("numhubd.db");
    std::fs::write(&db, b"").expect("db");
    prepare(&db);
    let (code, stderr) = run_numhubd(&["serve", "--config", &cfg.to_string_lossy()]);
    assert_eq!(code, numhubd::exit::DATA, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    for what in must_name {
        assert!(stderr.contains(what), "{stderr} does not say {what}");
    }
    assert_eq!(
        std::fs::metadata(&db).expect("db").len(),
        0,
        "the file was touched"
    );
    assert!(
        !dir.path().join("numhubd.sock").exists(),
        "the socket was bound"
    );
}

#[test]
fn a_database_others_may_write_is_refused() {
    if crate::test_engine::sqlite_only("the SQLite file's owner and mode") {
        return;
    }
    refused(
        |db| std::fs::set_permissions(db, std::fs::Permissions::from_mode(0o666)).expect("chmod"),
        &["mode 0666", "chmod 600"],
    );
}

#[test]
fn a_database_of_another_user_is_refused() {
    if crate::test_engine::sqlite_only("the SQLite file's owner and mode") {
        return;
    }
    if !is_root() {
        eprintln!("skipped: needs root to chown");
        return;
    }
    refused(
        |db| std::os::unix::fs::chown(db, Some(OTHER), Some(OTHER)).expect("chown"),
        &["owned by uid 4242", "chown numhubd:"],
    );
}

#[test]
fn the_daemon_is_not_dumpable() {
    if !is_root() {
        eprintln!("skipped: needs root to run the daemon as another user");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::chown(dir.path(), Some(OTHER), Some(OTHER)).expect("chown");
    // The daemon runs as OTHER; it must still reach the test's notify socket.
    let script = format!(
        r#"chmod 666 "$NOTIFY_SOCKET" && exec setpriv --reuid={OTHER} --regid={OTHER} --clear-groups "$@""#
    );
    let wrapper: Vec<&OsStr> = vec!["sh".as_ref(), "-c".as_ref(), script.as_ref(), "sh".as_ref()];
    let d = start_wrapped(dir, &base_config("info"), &[], &wrapper);
    let proc_dir = format!("/proc/{}", d.pid());
    let status = std::fs::read_to_string(format!("{proc_dir}/status")).expect("status");
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    assert!(
        uid_line.split_whitespace().nth(1) == Some(&OTHER.to_string()),
        "the daemon does not run as {OTHER}: {uid_line}"
    );
    // A dumpable process's /proc files belong to its own uid; the kernel gives a
    // non-dumpable one's to root, so its owner cannot ptrace it or read its memory.
    let environ = std::fs::metadata(format!("{proc_dir}/environ")).expect("environ");
    assert_eq!(
        environ.uid(),
        0,
        "/proc/PID/environ belongs to uid {}: the daemon is dumpable",
        environ.uid()
    );
}
