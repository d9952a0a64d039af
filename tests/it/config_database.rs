//! `[database] url` and its password through the real binary: a URL carrying a
//! password and an unreadable password file stop `serve` and `check-config` with
//! exit 78 and one line naming the key or file — never the password — and a valid
//! MySQL target is printed by `check-config` without it.

use std::path::Path;
use std::process::Command;

const SECRET: &str = "Hunter2Secret";

/// Runs numhubd outside systemd (no credential folder, no state folder).
fn numhubd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_numhubd"))
        .args(args)
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("STATE_DIRECTORY")
        .env_remove("RUNTIME_DIRECTORY")
        .env_remove("NUMHUBD_DATABASE_URL")
        .env_remove("NUMHUBD_DATABASE_PASSWORD_FILE")
        .output()
        .expect("run numhubd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `serve` and `check-config` on `config` both exit 78 with one line naming every
/// one of `names`, never the secret, and make nothing.
fn assert_refused(dir: &Path, config: &str, names: &[&str]) {
    let path = dir.join("numhubd.toml");
    std::fs::write(&path, config).expect("write config");
    let path = path.to_string_lossy().to_string();
    for cmd in ["serve", "check-config"] {
        let (code, stdout, stderr) = numhubd(&[cmd, "--config", &path]);
        assert_eq!(code, 78, "{cmd}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{cmd}: want one line, got:\n{stderr}");
        for name in names {
            assert!(
                lines[0].contains(name),
                "{cmd}: {stderr} does not name {name}"
            );
        }
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "{cmd} printed the password:\n{stdout}{stderr}"
        );
    }
    let made: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n != "numhubd.toml" && n != "pw")
        .collect();
    assert!(made.is_empty(), "a refused config made {made:?}");
}

#[test]
fn a_password_in_the_database_url_stops_numhubd_with_exit_78_without_printing_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in [
        format!("mysql://numhubd:{SECRET}@db.internal:3306/numhubd"),
        format!("mysql://numhubd@db.internal/numhubd?password={SECRET}"),
    ] {
        assert_refused(
            dir.path(),
            &format!("[database]\nurl = \"{url}\"\n"),
            &["database.url", "password_file", "database-password"],
        );
    }
}

#[test]
fn an_unreadable_database_password_file_stops_numhubd_with_exit_78_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-password");
    assert_refused(
        dir.path(),
        "[database]\nurl = \"mysql://numhubd@127.0.0.1:9/numhubd\"\npassword_file = \"no-such-password\"\n",
        &[
            "database.password_file",
            &missing.display().to_string(),
            "No such file",
        ],
    );
}

#[test]
fn check_config_names_the_mysql_target_and_its_tls_without_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pw"), format!("{SECRET}\n")).expect("write pw");
    let path = dir.path().join("numhubd.toml");
    std::fs::write(
        &path,
        "[database]\nurl = \"mariadb://numhubd@db.internal/numhubd\"\npassword_file = \"pw\"\n",
    )
    .expect("write config");
    let (code, stdout, stderr) = numhubd(&["check-config", "--config", &path.to_string_lossy()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(
            "config ok: database mysql://numhubd@db.internal:3306/numhubd (TLS, public CAs), socket "
        ),
        "{stdout}"
    );
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
}
