//! Which store engine the tests' daemons run on, the one place that writes a daemon's
//! `[database]` section for it, and one way for tests to read rows on either engine.
//!
//! `NUMHUBD_TEST_ENGINE` unset or `sqlite`: every daemon keeps its SQLite file
//! `numhubd.db` in its folder, as it always has. `mariadb`: every daemon folder gets a
//! fresh database on the test process's throwaway MariaDB (`mariadb_support`), made on
//! first use and remembered in the folder (`test-database.json`), so a restart in the
//! same folder finds the same database.
//!
//! Tests that are SQLite-only by nature call [`sqlite_only`] first, which skips them
//! on MariaDB with a line saying why. The list, kept short on purpose:
//! - `backup` (all five): `numhubctl backup` copies the SQLite file, and the restore
//!   tests restore that file (MySQL's backup is `mariadb-dump`, the engine's tests);
//! - `private_files::a_database_others_may_write_is_refused`,
//!   `…a_database_of_another_user_is_refused`: the SQLite file's owner and mode
//!   (`files_are_private_after_a_start_with_umask_000` checks the file's modes on
//!   SQLite only and the rest on both);
//! - `robust_disk`: a full disk under the SQLite file (a MySQL server's disk is not
//!   numhubd's).
//!
//! Tests that need a server store (several hosts on one database, a dump) call
//! [`mariadb_only`] first, which skips them on SQLite with a line saying why.
//!
//! Where a test searched the file's bytes for a clear-text secret (`rpc_methods`),
//! it searches every row on MySQL. `PRAGMA integrity_check` runs on SQLite only.
//!
//! Tests that open a store of their own in the test process (`Store::open` on a
//! file: `schema`, `store`, `housekeeping`, the `numhub_*` client tests,
//! `rpc_discover`, `rpc_events_lag`, `numhub_tokens`' keys-rotate test, and
//! `first_run`, which starts with no config at all) do not follow the engine yet:
//! they run on SQLite in both runs. Seeding beside a running daemon goes through
//! [`TestStore::side_store`], which opens the daemon's own store on either engine
//! (`db::Location::Server` on MariaDB) — the way to move those tests over.

use std::path::{Path, PathBuf};

use crate::mariadb_support::{self, TestDatabase};

/// The environment variable that picks the engine.
pub const ENV: &str = "NUMHUBD_TEST_ENGINE";

/// The folder's file that names its MariaDB database.
const DATABASE_FILE: &str = "test-database.json";

/// The folder's copy of the database's password.
pub const PASSWORD_FILE: &str = "database.password";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Mariadb,
}

/// The engine of this test run, from [`ENV`].
pub fn engine() -> Engine {
    match std::env::var(ENV).as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Engine::Sqlite,
        Ok("mariadb") => Engine::Mariadb,
        Ok(other) => panic!("{ENV}={other:?}: expected \"sqlite\" or \"mariadb\""),
    }
}

pub fn on_mariadb() -> bool {
    engine() == Engine::Mariadb
}

/// For a test that is SQLite-only by nature: on MariaDB, prints why it is skipped
/// and returns true (the test returns); on SQLite, false.
pub fn sqlite_only(why: &str) -> bool {
    let skip = on_mariadb();
    if skip {
        eprintln!("skipped on MariaDB (SQLite-only): {why}");
    }
    skip
}

/// For a test that needs a server store (several hosts on one database, a dump):
/// on SQLite, prints why it is skipped and returns true (the test returns); on
/// MariaDB, false.
pub fn mariadb_only(why: &str) -> bool {
    let skip = !on_mariadb();
    if skip {
        eprintln!("skipped on SQLite ({ENV}=mariadb runs it): {why}");
    }
    skip
}

/// Where the daemons of one folder keep their rows.
#[derive(Clone, Debug)]
pub enum TestStore {
    File(PathBuf),
    Mariadb(TestDatabase),
}

/// The store of the daemons in `dir`: its `numhubd.db`, or on MariaDB the database
/// made for it (made now if there is none yet).
pub fn store_for(dir: &Path) -> TestStore {
    match engine() {
        Engine::Sqlite => TestStore::File(dir.join("numhubd.db")),
        Engine::Mariadb => TestStore::Mariadb(database_for(dir)),
    }
}

fn database_for(dir: &Path) -> TestDatabase {
    let file = dir.join(DATABASE_FILE);
    if let Ok(text) = std::fs::read_to_string(&file) {
        return serde_json::from_str(&text).expect("test-database.json");
    }
    let db = mariadb_support::fresh_database();
    let text = serde_json::to_string_pretty(&db).expect("serialize");
    std::fs::write(&file, text).expect("write test-database.json");
    db
}

/// `config` with its `[database]` section pointed at `dir`'s store: on SQLite as
/// given; on MariaDB its `path = "numhubd.db"` becomes the database's URL and
/// password file. A config naming another file (a test about paths) or none is left
/// as it is.
pub fn place(dir: &Path, config: &str) -> String {
    place_on(engine(), dir, config)
}

/// The test configs' `[database]` section: the SQLite file beside the config.
const SECTION: &str = "[database]\npath = \"numhubd.db\"\n";

fn place_on(engine: Engine, dir: &Path, config: &str) -> String {
    // Placed already (a restart, or a test that rewrote the file): as it is.
    let placed = format!("{SECTION}url = ");
    if engine == Engine::Sqlite || !config.contains(SECTION) || config.contains(&placed) {
        return config.to_string();
    }
    let db = database_for(dir);
    config.replacen(
        SECTION,
        &database_section(&db.url_tcp, &password_in(dir, &db)),
        1,
    )
}

/// The database's password in the daemon's folder, as an operator keeps it beside
/// the config (a test running the daemon as another user gives it that file).
pub fn password_in(dir: &Path, db: &TestDatabase) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(PASSWORD_FILE);
    if !path.exists() {
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .expect("password file");
        std::io::Write::write_all(&mut f, format!("{}\n", db.password()).as_bytes())
            .expect("write password");
    }
    path
}

/// After a daemon in `dir` is ready: on MariaDB, a daemon whose config was placed
/// must not have made the SQLite file (it would pass tests on the wrong engine).
pub fn assert_on_engine(dir: &Path) {
    if on_mariadb() && dir.join(DATABASE_FILE).exists() {
        assert!(
            !dir.join("numhubd.db").exists(),
            "the daemon in {} made numhubd.db: it ignored [database] url",
            dir.display()
        );
    }
}

/// Like [`place`] on MariaDB, with the daemon reaching its database through `proxy`
/// (for the lost-COMMIT tests: `proxy` must stand in front of the test server).
pub fn place_through(dir: &Path, config: &str, proxy: &crate::cut_proxy::CutProxy) -> String {
    assert!(
        config.contains(SECTION),
        "a config with the test [database] section"
    );
    let db = database_for(dir);
    config.replacen(
        SECTION,
        &database_section(&proxy.url_for(&db), &password_in(dir, &db)),
        1,
    )
}

/// The `[database]` section for a database reached at `url` (its own, or a
/// proxy's) with the password in `password_file`. The file's path stays: with `url`
/// set its folder still holds the spool.
pub fn database_section(url: &str, password_file: &Path) -> String {
    format!(
        "{SECTION}url = \"{url}\"\npassword_file = \"{}\"\nallow_plaintext = true\n",
        password_file.display()
    )
}

/// A timestamp literal for SQL a test writes behind the daemon's back, from the
/// RFC 3339 UTC form numhubd keeps on SQLite (`2026-01-01T00:00:00.000000Z`): as
/// given on SQLite, `2026-01-01 00:00:00.000000` on MariaDB (its DATETIME/TIMESTAMP).
pub fn ts(rfc3339: &str) -> String {
    match engine() {
        Engine::Sqlite => rfc3339.to_string(),
        Engine::Mariadb => rfc3339.trim_end_matches('Z').replacen('T', " ", 1),
    }
}

/// A value as text, as [`TestStore::rows`] returns it.
pub type Row = Vec<Option<String>>;

impl TestStore {
    /// The rows of `sql` (portable SQL: no engine-only functions), values as text,
    /// NULL as `None`.
    pub fn rows(&self, sql: &str) -> Vec<Row> {
        match self {
            TestStore::File(path) => sqlite_rows(path, sql),
            TestStore::Mariadb(db) => mariadb_support::query(db, sql),
        }
    }

    /// The one value of `sql`'s one row.
    pub fn value(&self, sql: &str) -> Option<String> {
        let rows = self.rows(sql);
        assert_eq!(rows.len(), 1, "{sql}: expected one row, got {rows:?}");
        assert_eq!(rows[0].len(), 1, "{sql}: expected one column, got {rows:?}");
        rows[0][0].clone()
    }

    /// The count `sql` (a `SELECT COUNT(*) …`) returns.
    pub fn count(&self, sql: &str) -> i64 {
        self.value(sql)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{sql}: not a count"))
    }

    /// The first column of every row.
    pub fn column(&self, sql: &str) -> Vec<Option<String>> {
        self.rows(sql)
            .into_iter()
            .map(|r| r.into_iter().next().flatten())
            .collect()
    }

    /// The store's tables (numhubd's and refinery's), by name.
    pub fn tables(&self) -> Vec<String> {
        let sql = match self {
            TestStore::File(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            TestStore::Mariadb(_) => {
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_schema = DATABASE() ORDER BY table_name"
            }
        };
        self.column(sql).into_iter().flatten().collect()
    }

    /// SHA-256 of every row of every table (as text), to show nothing changed.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for t in self.tables() {
            // The MySQL engine's own bookkeeping (commit markers, the lease, the nodes)
            // changes with every commit and heartbeat, not with what callers wrote.
            if matches!(
                t.as_str(),
                "numhubd_commits" | "numhubd_instance" | "numhubd_lease" | "numhubd_nodes"
            ) {
                continue;
            }
            h.update(t.as_bytes());
            for row in self.rows(&format!("SELECT * FROM {t} ORDER BY 1")) {
                h.update(format!("{row:?}|").as_bytes());
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Every row of every table as text, for a test that searches the stored bytes
    /// (a secret that must not be there in clear).
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for t in self.tables() {
            for row in self.rows(&format!("SELECT * FROM {t}")) {
                out.push_str(&format!("{t}: {row:?}\n"));
            }
        }
        out
    }

    /// numhubd's own store API on this store, beside the daemon (to seed rows the
    /// RPC cannot write).
    pub fn side_store(&self) -> numhubd::db::Store {
        match self {
            TestStore::File(path) => numhubd::db::Store::open(
                path,
                numhubd::db::StoreOptions {
                    readers: 1,
                    ..numhubd::db::StoreOptions::default()
                },
            )
            .expect("open store"),
            TestStore::Mariadb(db) => numhubd::db::Store::open_at(
                &db.location(),
                numhubd::db::StoreOptions {
                    readers: 1,
                    ..numhubd::db::StoreOptions::default()
                },
            )
            .expect("open the MariaDB store"),
        }
    }

    /// Runs `sql` (statements) on the store, for a test that changes rows behind the
    /// daemon's back.
    pub fn execute(&self, sql: &str) {
        match self {
            TestStore::File(path) => {
                let conn = rusqlite::Connection::open(path).expect("open the database");
                conn.busy_timeout(crate::support::TIMEOUT).expect("busy");
                conn.execute_batch(sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            TestStore::Mariadb(db) => mariadb_support::execute(db, sql),
        }
    }
}

fn sqlite_rows(path: &Path, sql: &str) -> Vec<Row> {
    use rusqlite::types::ValueRef;
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    conn.busy_timeout(crate::support::TIMEOUT).expect("busy");
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |row| {
            (0..n)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        ValueRef::Null => None,
                        ValueRef::Integer(v) => Some(v.to_string()),
                        ValueRef::Real(v) => Some(v.to_string()),
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            Some(String::from_utf8_lossy(t).into_owned())
                        }
                    })
                })
                .collect::<rusqlite::Result<Row>>()
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.collect::<rusqlite::Result<Vec<Row>>>()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[test]
fn on_mariadb_a_daemon_folder_gets_its_database_once_and_other_configs_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::support::base_config("info");
    assert_eq!(place_on(Engine::Sqlite, dir.path(), &config), config);
    if !mariadb_support::available() {
        return;
    }
    let placed = place_on(Engine::Mariadb, dir.path(), &config);
    let db = database_for(dir.path());
    assert!(
        placed.contains(&format!(
            "[database]\npath = \"numhubd.db\"\nurl = \"{}\"\npassword_file = \"{}\"\nallow_plaintext = true\n[rpc]",
            db.url_tcp,
            dir.path().join(PASSWORD_FILE).display()
        )),
        "{placed}"
    );
    // A restart in the folder finds the same database; a placed config is final.
    assert_eq!(place_on(Engine::Mariadb, dir.path(), &config), placed);
    assert_eq!(place_on(Engine::Mariadb, dir.path(), &placed), placed);
    let other = "[database]\npath = \"other.db\"\n";
    assert_eq!(place_on(Engine::Mariadb, dir.path(), other), other);
    // Through a proxy: the proxy's port, the same database and password.
    let proxy = crate::cut_proxy::CutProxy::start(db.port);
    let through = place_through(dir.path(), &config, &proxy);
    assert!(
        through.contains(&format!("url = \"{}\"", proxy.url_for(&db)))
            && through.contains(&dir.path().join(PASSWORD_FILE).display().to_string()),
        "{through}"
    );
    // Rows are read from it.
    mariadb_support::execute(
        &db,
        "CREATE TABLE t (id BIGINT, name TEXT); INSERT INTO t VALUES (1, NULL)",
    );
    let store = TestStore::Mariadb(db);
    assert_eq!(
        store.rows("SELECT id, name FROM t"),
        vec![vec![Some("1".into()), None]]
    );
    assert_eq!(store.tables(), vec!["t".to_string()]);
}

/// On the run's engine: a daemon's write is seen by `rows`, `count` and the hash.
#[test]
fn a_daemons_rows_are_read_on_the_runs_engine() {
    use crate::rpc_client::add_tenant;
    let d = crate::support::start_daemon(&crate::support::base_config("info"), &[]);
    let store = d.store();
    let before = store.content_hash();
    let socket = d.dir.path().join("numhubd.sock");
    add_tenant(&socket, 7, "Zoë 🦷");
    assert_eq!(
        d.rows("SELECT id, name FROM tenants WHERE id = 7"),
        vec![vec![Some("7".into()), Some("Zoë 🦷".into())]]
    );
    assert_eq!(store.count("SELECT COUNT(*) FROM tenants WHERE id = 7"), 1);
    assert_ne!(store.content_hash(), before, "the hash missed a write");
    assert!(store.dump().contains("Zoë 🦷"));
}
