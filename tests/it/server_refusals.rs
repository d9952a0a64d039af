//! A server database numhubd cannot use is refused at start with one line naming
//! the cause and its exit code, before anything is written (#24): a server it cannot
//! reach (69), a database that is not utf8mb4 (78), one migrated by a newer numhubd
//! (65). Run in both test runs: each test makes its own MariaDB database (skipped
//! with a line when `mariadbd` is missing, failed when `CI=true`).

use std::path::Path;

use crate::mariadb_support::{self, TestDatabase};
use crate::support::run_numhubd;

fn config(dir: &Path, url: &str, password_file: &Path) -> String {
    let path = dir.join("numhubd.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{url}\"\npassword_file = \"{}\"\n\n[rpc]\nsocket = \"{}\"\n",
            password_file.display(),
            dir.join("numhubd.sock").display()
        ),
    )
    .expect("config");
    path.to_string_lossy().to_string()
}

/// `serve` exits `code` with one line containing each of `names`.
fn assert_refused(config: &str, code: i32, names: &[&str]) {
    let (got, stderr) = run_numhubd(&["serve", "--sandbox", "--config", config]);
    assert_eq!(got, code, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "want one line, got:\n{stderr}");
    for name in names {
        assert!(lines[0].contains(name), "{stderr} does not name {name}");
    }
}

fn tables(db: &TestDatabase) -> Vec<Vec<Option<String>>> {
    mariadb_support::query(
        db,
        &format!(
            "SELECT table_name FROM information_schema.TABLES WHERE table_schema = '{}'",
            db.name
        ),
    )
}

#[test]
fn an_unreachable_server_exits_69_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "x\n").expect("pw");
    // A port nothing listens on: bound and dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("mysql://numhubd@127.0.0.1:{port}/numhubd");
    let config = config(dir.path(), &url, &pw);
    assert_refused(&config, 69, &["cannot reach", &format!("127.0.0.1:{port}")]);
}

#[test]
fn a_database_that_is_not_utf8mb4_exits_78_and_is_left_as_it_was() {
    if !mariadb_support::available() {
        return;
    }
    let db = mariadb_support::fresh_database();
    mariadb_support::execute(
        &db,
        &format!(
            "ALTER DATABASE `{}` CHARACTER SET latin1 COLLATE latin1_swedish_ci",
            db.name
        ),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &db.url_tcp, &db.password_file);
    assert_refused(&config, 78, &["latin1", "utf8mb4"]);
    assert!(tables(&db).is_empty(), "a refused start made tables");
}

#[test]
fn a_database_from_a_newer_numhubd_exits_65_unchanged() {
    if !mariadb_support::available() {
        return;
    }
    let db = mariadb_support::fresh_database();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &db.url_tcp, &db.password_file);
    let (code, stderr) = run_numhubd(&["migrate", "--config", &config]);
    assert_eq!(code, 0, "{stderr}");
    mariadb_support::execute(
        &db,
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES (99, 'from_the_future', '2030-01-01T00:00:00Z', '1')",
    );
    let before = tables(&db);
    assert_refused(&config, 65, &["99", "newer"]);
    assert_eq!(tables(&db), before);
}
