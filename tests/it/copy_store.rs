//! `numhubd copy-store`: a replica moved between SQLite and MariaDB with the real
//! binary, the real sandbox and the test MariaDB (`mariadb_support`).
//!
//! The move: a daemon on SQLite with a tenant, applications (submitted and not), a
//! document and a NumHub token, jobs queued behind a disabled tenant and one left
//! `running` by a kill -9 after its create reached NumHub; copied to MariaDB; a
//! daemon started there finishes every job, each create reaching the sandbox once,
//! with the copied token. Refusals: a running source (75), a non-empty target (naming
//! the table), a bad `--to` (64), an unreachable server (69). The list of tables and
//! columns copy-store keeps is checked against both engines' schemas.
//!
//! These run on MariaDB whatever `NUMHUBD_TEST_ENGINE` says (the copy is between the
//! two engines); without `mariadbd` they skip, except under `CI=true`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::mariadb_support::{self, TestDatabase};
use crate::rpc_client::ok;
use crate::support::TIMEOUT;
use crate::sync_support::{create_entity, settle, upload, write_pdf, Harness};
use crate::test_engine::{database_section, TestStore};

/// Every table copy-store copies, in its order.
const TABLES: [&str; 15] = [
    "tenants",
    "brands",
    "numhub_tokens",
    "numhub_entities",
    "numhub_identities",
    "brand_phone_numbers",
    "documents",
    "numhub_documents",
    "numhub_sync_logs",
    "jobs",
    "numhub_credentials",
    "numhub_login_blocks",
    "numhub_origin",
    "backup_marker",
    "numhub_reviews",
];

/// `copy-store`'s exit code, stdout and stderr.
struct Run {
    code: i32,
    out: String,
    err: String,
}

fn copy_store(config: &Path, to: &str) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_numhubd"))
        .args(["copy-store", "--config"])
        .arg(config)
        .args(["--to", to])
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .expect("run numhubd copy-store");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstdout:\n{}stderr:\n{}",
            self.code, self.out, self.err
        )
    }
}

/// The table lines of a successful copy: table → (rows, hash).
fn table_lines(run: &Run) -> BTreeMap<String, (u64, String)> {
    let mut lines = BTreeMap::new();
    for line in run.out.lines() {
        let Some((table, rest)) = line.split_once(": ") else {
            continue;
        };
        if !TABLES.contains(&table) {
            continue;
        }
        let mut words = rest.split([' ', ',']).filter(|w| !w.is_empty());
        let rows = words.next().and_then(|n| n.parse().ok());
        let hash = words.skip_while(|w| *w != "hash").nth(1);
        if let (Some(rows), Some(hash)) = (rows, hash) {
            lines.insert(table.to_string(), (rows, hash.to_string()));
        }
    }
    assert_eq!(
        lines.keys().map(String::as_str).collect::<Vec<_>>().len(),
        TABLES.len(),
        "one line per table expected:\n{run}"
    );
    lines
}

/// The harness's config with its store at `source.db`, and `[database]`'s password
/// and TLS keys for the MariaDB target (as an operator sets them before the move).
fn sqlite_config(h: &Harness, db: &TestDatabase) -> String {
    crate::sync_support::config(&h.sandbox.base_url(), 3).replacen(
        "[database]\npath = \"numhubd.db\"\n",
        &source_section(db),
        1,
    )
}

/// The same config pointed at the MariaDB database (the move's last step).
fn mysql_config(h: &Harness, db: &TestDatabase) -> String {
    crate::sync_support::config(&h.sandbox.base_url(), 3).replacen(
        "[database]\npath = \"numhubd.db\"\n",
        &database_section(&db.url_tcp, &db.password_file),
        1,
    )
}

fn write_config(h: &Harness, text: &str) -> std::path::PathBuf {
    let path = h.dir.path().join("numhubd.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// Rows per table in a store, read by the test's own client.
fn counts(store: &TestStore) -> BTreeMap<String, u64> {
    TABLES
        .iter()
        .map(|t| {
            let n = store.count(&format!("SELECT COUNT(*) FROM {t}"));
            (t.to_string(), u64::try_from(n).expect("count"))
        })
        .collect()
}

fn token_requests(h: &Harness) -> u64 {
    h.state()["totals"]["tokenRequests"].as_u64().unwrap_or(0)
}

/// The jobs' times as the test reads them on each engine, in one form
/// (`2026-01-02 03:04:05.123456`), by id.
fn job_times(store: &TestStore) -> Vec<Vec<Option<String>>> {
    store
        .rows(
            "SELECT id, state, next_attempt_at, started_at, resume_since, created_at, updated_at \
             FROM jobs ORDER BY id",
        )
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.map(|s| s.trim_end_matches('Z').replacen('T', " ", 1)))
                .collect()
        })
        .collect()
}

/// The sandbox's applications named `name`, and how many documents they have.
fn at_numhub(h: &Harness, name: &str) -> (usize, usize) {
    let (ids, docs) = h.at_numhub(name);
    (ids.len(), docs)
}

#[test]
fn a_replica_with_jobs_in_flight_moves_to_mariadb_and_each_create_reaches_numhub_once() {
    if !mariadb_support::available() {
        return;
    }
    let db = mariadb_support::fresh_database();
    let target = TestStore::Mariadb(db.clone());
    let mut h = Harness::new(3);
    let config = write_config(&h, &sqlite_config(&h, &db));
    let source = TestStore::File(h.dir.path().join("source.db"));

    // First, work that reaches NumHub: the token it logs in with is stored.
    assert!(h.start(&[]));
    h.tenant(true);
    let sent_before = "Sent Before The Move LLC";
    create_entity(&h.socket(), sent_before, true).expect("entity.create");
    settle(&h);
    assert!(source.count("SELECT COUNT(*) FROM numhub_tokens") > 0);

    // A running daemon's store is refused, and the target is not touched.
    let refused = copy_store(&config, &db.url_tcp);
    assert_eq!(refused.code, 75, "{refused}");
    assert!(
        refused.err.contains("in use by another numhubd"),
        "{refused}"
    );
    assert_eq!(refused.err.lines().count(), 1, "{refused}");
    assert!(target.tables().is_empty(), "{:?}", target.tables());

    // Work held back: the tenant disabled, creates and an upload queue up.
    h.tenant(false);
    let names = ["Queued One LLC", "Queued Two LLC", "Queued Three LLC"];
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        ids.push(create_entity(&h.socket(), name, i != 1).expect("entity.create"));
    }
    let (pdf, _) = write_pdf(h.dir.path(), "moved.pdf", 70_000, 7);
    upload(&h.socket(), &ids[1], &pdf).expect("document.upload");
    h.stop();

    // A daemon killed right after NumHub answered a create: that job stays `running`.
    assert!(h.start(&[("NUMHUBD_KILL_AT", "after_send")]));
    let _ = h.enable_tenant_racing_a_kill();
    assert!(
        h.wait_exit(TIMEOUT),
        "the kill point never fired: {}",
        h.all_stderr()
    );
    let running = source.count("SELECT COUNT(*) FROM jobs WHERE state = 'running'");
    assert!(
        running >= 1,
        "{:?}",
        source.rows("SELECT id, kind, state FROM jobs")
    );
    let queued = source.count("SELECT COUNT(*) FROM jobs WHERE state <> 'done'");
    let sent_once: Vec<(usize, usize)> = names.iter().map(|n| at_numhub(&h, n)).collect();
    assert!(
        sent_once.iter().any(|(apps, _)| *apps == 1),
        "the killed attempt reached NumHub: {sent_once:?}"
    );
    let tokens_before = token_requests(&h);

    // The move.
    let moved = copy_store(&config, &db.url_tcp);
    assert_eq!(moved.code, 0, "{moved}");
    let lines = table_lines(&moved);
    let want = counts(&source);
    assert_eq!(counts(&target), want, "{moved}");
    for (table, (rows, _)) in &lines {
        assert_eq!(Some(rows), want.get(table), "{table}: {moved}");
    }
    assert!(
        moved.out.contains("every row count and hash matches"),
        "{moved}"
    );
    assert!(
        moved.out.contains(&format!(
            "jobs: {running} running (their daemon stopped mid-attempt)"
        )),
        "{moved}"
    );
    assert!(moved.out.contains("resume_since"), "{moved}");
    // Times exactly as they were, read by each engine's own client.
    assert_eq!(job_times(&target), job_times(&source), "{moved}");
    let max_job: i64 = source.count("SELECT MAX(id) FROM jobs");
    assert!(
        lines["jobs"].0 > 0 && moved.out.contains(&format!("ids continue after {max_job}")),
        "{moved}"
    );

    // Again into the same database: refused naming the first table with rows,
    // nothing written.
    let again = copy_store(&config, &db.url_tcp);
    assert_eq!(again.code, 1, "{again}");
    assert!(
        again
            .err
            .contains("is not empty: table tenants has 1 row(s)"),
        "{again}"
    );
    assert_eq!(again.err.lines().count(), 1, "{again}");
    assert_eq!(counts(&target), want);

    // And back: MariaDB → a new SQLite file gives the same counts and hashes.
    let back = h.dir.path().join("back.db");
    let mysql_cfg = h.dir.path().join("mysql.toml");
    std::fs::write(&mysql_cfg, mysql_config(&h, &db)).expect("config");
    let round = copy_store(&mysql_cfg, back.to_str().expect("utf-8"));
    assert_eq!(round.code, 0, "{round}");
    assert_eq!(table_lines(&round), lines, "{round}\n{moved}");
    assert_eq!(counts(&TestStore::File(back.clone())), want);

    // The daemon on MariaDB finishes what was queued: each create reaches NumHub
    // once (the running one is looked up, not resent), with the copied token.
    write_config(&h, &mysql_config(&h, &db));
    assert!(h.start(&[]), "{}", h.all_stderr());
    settle(&h);
    assert_eq!(at_numhub(&h, sent_before), (1, 0), "{}", h.all_stderr());
    for (i, name) in names.iter().enumerate() {
        let docs = usize::from(i == 1);
        assert_eq!(at_numhub(&h, name), (1, docs), "{name}: {}", h.all_stderr());
    }
    assert_eq!(
        token_requests(&h),
        tokens_before,
        "the daemon on MariaDB logged in again instead of using the copied token"
    );
    assert!(queued > 0);
    let resumed = target.count("SELECT COUNT(*) FROM jobs WHERE resume_since IS NOT NULL");
    assert!(
        resumed >= running,
        "{:?}",
        target.rows("SELECT id, state, resume_since FROM jobs")
    );
    let e = ok(
        &h.socket(),
        "entity.get",
        json!({"tenant_id": 1, "id": ids[0]}),
    );
    assert!(e["numhub_entity_id"].is_string(), "{e}");
    // The daemon on MariaDB holds its database: copy-store refuses it as a source.
    let busy = copy_store(
        &mysql_cfg,
        h.dir.path().join("busy.db").to_str().expect("utf-8"),
    );
    assert_eq!(busy.code, 75, "{busy}");
    assert!(
        busy.err.contains("is in use by node ") && busy.err.contains(": numhubd on "),
        "{busy}"
    );
    assert!(!h.dir.path().join("busy.db").exists(), "{busy}");
    h.stop();
}

#[test]
fn copy_stores_list_of_columns_matches_both_schemas_and_sees_a_new_one() {
    use numhubd::db::{self, copy::check_schema, Location, Store, StoreOptions};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("numhubd.db");
    let store = Store::open(&path, StoreOptions::default()).expect("open");
    let differences = rt.block_on(store.read(check_schema)).expect("check");
    assert_eq!(differences, Vec::<String>::new());
    rt.block_on(store.close()).expect("close");
    // A column a migration might add without the list knowing: seen.
    TestStore::File(path.clone()).execute("ALTER TABLE documents ADD COLUMN checksum TEXT");
    let store = Store::open(&path, StoreOptions::default()).expect("open");
    let differences = rt.block_on(store.read(check_schema)).expect("check");
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert!(
        differences[0].starts_with("documents: columns are"),
        "{differences:?}"
    );
    rt.block_on(store.close()).expect("close");

    if !mariadb_support::available() {
        return;
    }
    let t = mariadb_support::fresh_database();
    let location = Location::Server(db::Server {
        host: "127.0.0.1".into(),
        port: t.port,
        socket: None,
        user: t.user.clone(),
        database: t.name.clone(),
        password: Some(db::Password::new(t.password())),
        tls: db::Tls::Off,
    });
    let store = Store::open_at(&location, StoreOptions::default()).expect("open on MariaDB");
    let differences = rt.block_on(store.read(check_schema)).expect("check");
    assert_eq!(differences, Vec::<String>::new());
    rt.block_on(store.close()).expect("close");
    drop(store);
    mariadb_support::execute(
        &t,
        "ALTER TABLE jobs MODIFY next_attempt_at VARCHAR(40) NOT NULL",
    );
    let store = Store::open_at(&location, StoreOptions::default()).expect("open on MariaDB");
    let differences = rt.block_on(store.read(check_schema)).expect("check");
    assert_eq!(
        differences,
        vec!["jobs.next_attempt_at: declared varchar, copy-store reads it as Time".to_string()]
    );
    rt.block_on(store.close()).expect("close");
}

#[test]
fn a_bad_target_is_refused_in_one_line_with_its_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("numhubd.toml");
    std::fs::write(
        &config,
        "[database]\npath = \"source.db\"\nallow_plaintext = true\n\
         [rpc]\nsocket = \"numhubd.sock\"\n[crypto]\nidentity_file = \"identity.txt\"\n",
    )
    .expect("config");
    // No source yet: refused before anything is made.
    let missing = copy_store(&config, "/nonexistent/target.db");
    assert_eq!(missing.code, 1, "{missing}");
    assert!(
        missing.err.contains("source.db does not exist"),
        "{missing}"
    );
    assert!(!dir.path().join("source.db").exists());
    numhubd::db::migrate_file(&dir.path().join("source.db")).expect("a source");

    let own = dir.path().join("source.db");
    let cases: [(&str, i32, &str); 4] = [
        (
            "mysql://u:secret@127.0.0.1/numhubd",
            64,
            "a password in the URL is refused",
        ),
        ("", 64, "--to: give a mysql:// URL"),
        (
            own.to_str().expect("utf-8"),
            64,
            "names the config's own database",
        ),
        (
            "mysql://u@127.0.0.1:1/numhubd",
            69,
            "cannot reach the database",
        ),
    ];
    for (to, code, says) in cases {
        let r = copy_store(&config, to);
        assert_eq!(r.code, code, "--to {to:?}: {r}");
        assert!(r.err.contains(says), "--to {to:?}: {r}");
        assert_eq!(r.err.lines().count(), 1, "--to {to:?}: {r}");
        assert!(!r.err.contains("secret"), "{r}");
    }
}

const ARMOR: &str = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3Yx\n-----END AGE ENCRYPTED FILE-----\n";

/// Rows in every table a copy carries, with what could go wrong in a copy: the
/// brands ↔ numhub_entities cycle, 4-byte characters, JSON whose key order and
/// spacing must stay, a 70 KB error, NULLs, times near the ends of their types,
/// 1,200 log rows (pages and multi-row statements), and id gaps with
/// `sqlite_sequence` above the largest id (purged jobs and tokens).
fn seed_every_table(path: &Path, logs: usize) {
    numhubd::db::migrate_file(path).expect("migrate");
    let e1 = "0190a000-0000-7000-8000-0000000000e1";
    let e2 = "0190a000-0000-7000-8000-0000000000e2";
    let i1 = "0190a000-0000-7000-8000-0000000000a1";
    let d1 = "0190a000-0000-7000-8000-0000000000d1";
    let t = "2026-03-04T05:06:07.123456Z";
    let sql = format!(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO tenants VALUES
           (1, 'Acme', 'ops@acme.test', 'acme', '1001', NULL, 1, '{t}', '{t}'),
           (2, 'Zoë 🦷 O''Brien \"Ltd\"', NULL, NULL, '0002', 'osp-9', 0, '2026-01-01T00:00:00.000000Z', '{t}'),
           (9000000000, 'Big id', NULL, 'big', NULL, NULL, 0, '{t}', '{t}');
         INSERT INTO brands VALUES
           (1, 1, 'Acme Brand', 'ACME', 'NH-ENT-1', '{t}', '{t}'),
           (7, 2, 'Zoë brand 🦷', NULL, NULL, '{t}', '2037-12-31T23:59:59.999999Z');
         INSERT INTO numhub_tokens VALUES
           (3, NULL, 'access', '{ARMOR}', '{ARMOR}', '2037-01-01T00:00:00.000001Z', '[\"read\", \"write\"]', '{t}', '{t}');
         INSERT INTO numhub_entities VALUES
           ('{e1}', 1, 1, 'NH-ENT-1', 'EID-1', 'enterprise', 'Acme Inc', 'approved', 'approved', 'A',
            '{{\"b\": 1,  \"a\": [1, 2], \"z\": \"🦷\"}}', '{t}', '2026-03-05T00:00:00.500000Z', '{t}', '{t}'),
           ('{e2}', 2, 7, NULL, NULL, 'bpo', 'Zoë', 'draft', 'pending', NULL, NULL, NULL, NULL, '{t}', '{t}');
         INSERT INTO numhub_identities VALUES
           ('{i1}', '{e1}', 'NH-ID-1', 'Acme', 'Sales', 'https://acme.test/logo.bmp', 'active',
            '{{\"logo\": null}}', '[\"+15555550100\"]', '{t}', '{t}', 'DIR-1', '{{ }}');
         INSERT INTO brand_phone_numbers VALUES
           (1, 1, '+15555550100', '{i1}', '{t}', '{t}'), (5, 7, '+442071234567', NULL, '{t}', '{t}');
         INSERT INTO documents VALUES
           (1, 1, 'loa.pdf', 1234, '{sha}', 'application/pdf', 'rpc', '/var/spool/numhubd/1', '{t}', '{t}', NULL),
           (4, 2, 'Zoë.bmp', 0, '{sha}', 'image/bmp', 'drop_folder', '/srv/drop/2/Zoë.bmp', '{t}', '{t}', '{t}');
         INSERT INTO numhub_documents VALUES
           ('{d1}', '{e1}', 1, 'NH-DOC-1', 'loa', 'loa.pdf', 'uploaded', '{{\"id\": \"NH-DOC-1\"}}', '{t}', '{t}', '{t}');
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {logs})
         INSERT INTO numhub_sync_logs
         SELECT printf('0190b000-0000-7000-8000-%012d', i), CASE WHEN i % 3 = 0 THEN NULL ELSE 1 END,
                '{e1}', CASE WHEN i % 2 = 0 THEN '{i1}' ELSE NULL END, '/api/v1/applications/' || i,
                'POST', 'outbound', 200 + i % 300, json_object('n', i, 'name', 'Zoë 🦷'), NULL, i,
                CASE WHEN i % 400 = 0 THEN replace(hex(zeroblob(35000)), '0', 'x') END, i % 2,
                strftime('%Y-%m-%dT%H:%M:%S', '2026-01-01', '+' || i || ' seconds') || printf('.%06dZ', i * 7919 % 1000000)
         FROM n;
         INSERT INTO jobs VALUES
           (3, 1, 'entity.create', '{e1}', NULL, NULL, '{{\"submit\": true}}', 'done', 1, '{t}', '{t}', NULL, NULL, '{t}', '{t}'),
           (4, 1, 'document.upload', '{e1}', NULL, '{d1}', '{{}}', 'running', 2, '{t}', '2026-03-04T05:06:08.000001Z', NULL, 'timeout', '{t}', '{t}'),
           (9, 2, 'entity.submit', '{e2}', NULL, NULL, '{{}}', 'queued', 0, '2999-12-31T23:59:59.999999Z', NULL, '1999-01-01T00:00:00.000000Z', NULL, '{t}', '{t}');
         UPDATE sqlite_sequence SET seq = 57 WHERE name = 'jobs';
         UPDATE sqlite_sequence SET seq = 10 WHERE name = 'numhub_tokens';
         INSERT INTO numhub_credentials VALUES (2, 2, '{ARMOR}', '{ARMOR}', '{t}', '{t}');
         INSERT INTO numhub_login_blocks VALUES
           ('global', 'NumHub said 401', 401, '{ARMOR}', '{t}'), ('tenant:2', 'bad', NULL, '{ARMOR}', '{t}');
         INSERT INTO numhub_origin VALUES (1, 'sandbox', '{t}');
         INSERT INTO backup_marker VALUES (1, '{t}', '/var/lib/numhubd/numhubd.db');
         INSERT INTO numhub_reviews VALUES ('{e1}', 'please fix', '[\"name\", \"logo\"]', '{t}', '{t}');",
        sha = "ab".repeat(32),
    );
    TestStore::File(path.to_path_buf()).execute(&sql);
    let seq = TestStore::File(path.to_path_buf())
        .rows("SELECT name, seq FROM sqlite_sequence ORDER BY name");
    assert_eq!(
        seq,
        vec![
            vec![Some("jobs".into()), Some("57".into())],
            vec![Some("numhub_tokens".into()), Some("10".into())]
        ]
    );
}

/// Every row of `table` as the test's own client reads it, times in one form.
fn contents(store: &TestStore, table: &str) -> Vec<Vec<Option<String>>> {
    let canonical = |s: String| {
        let b = s.as_bytes();
        if s.len() == 27 && b[10] == b'T' && s.ends_with('Z') {
            s.trim_end_matches('Z').replacen('T', " ", 1)
        } else {
            s
        }
    };
    store
        .rows(&format!("SELECT * FROM {table} ORDER BY 1"))
        .into_iter()
        .map(|row| row.into_iter().map(|v| v.map(canonical)).collect())
        .collect()
}

/// The `[database]` section of a move's source: the SQLite file `source.db`, with
/// the password file and plaintext allowance the MariaDB target needs.
fn source_section(db: &TestDatabase) -> String {
    format!(
        "[database]\npath = \"source.db\"\npassword_file = \"{}\"\nallow_plaintext = true\n",
        db.password_file.display()
    )
}

fn minimal_config(dir: &Path, database: &str) -> std::path::PathBuf {
    let path = dir.join(format!("numhubd-{}.toml", fastrand::u32(..)));
    std::fs::write(
        &path,
        format!(
            "{database}[rpc]\nsocket = \"numhubd.sock\"\n[crypto]\nidentity_file = \"identity.txt\"\n"
        ),
    )
    .expect("config");
    path
}

#[test]
fn every_table_goes_to_mariadb_and_back_unchanged_and_ids_go_on_after_the_high_water_mark() {
    if !mariadb_support::available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let source_path = dir.path().join("source.db");
    seed_every_table(&source_path, 1200);
    let source = TestStore::File(source_path);
    let db = mariadb_support::fresh_database();
    let target = TestStore::Mariadb(db.clone());
    let from_sqlite = minimal_config(dir.path(), &source_section(&db));

    let moved = copy_store(&from_sqlite, &db.url_tcp);
    assert_eq!(moved.code, 0, "{moved}");
    let lines = table_lines(&moved);
    assert_eq!(lines["numhub_sync_logs"].0, 1200, "{moved}");
    assert!(lines.values().all(|(rows, _)| *rows > 0), "{moved}");
    assert!(moved.out.contains("jobs: 1 running"), "{moved}");
    for table in TABLES {
        assert_eq!(
            contents(&target, table),
            contents(&source, table),
            "{table}"
        );
    }
    assert!(moved.out.contains("ids continue after 57"), "{moved}");
    assert!(moved.out.contains("ids continue after 10"), "{moved}");

    // And back into a new file: the same hashes, every value as it was written
    // (times in the store's own text), and sqlite_sequence as it was.
    let back_path = dir.path().join("back.db");
    let from_mariadb = minimal_config(
        dir.path(),
        &database_section(&db.url_tcp, &db.password_file),
    );
    let round = copy_store(&from_mariadb, back_path.to_str().expect("utf-8"));
    assert_eq!(round.code, 0, "{round}");
    assert_eq!(table_lines(&round), lines, "{round}\n{moved}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&back_path)
        .expect("back.db")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the new file is as private as the daemon's"
    );
    let back = TestStore::File(back_path);
    for table in TABLES {
        let all = format!("SELECT * FROM {table} ORDER BY 1");
        assert_eq!(back.rows(&all), source.rows(&all), "{table}");
    }
    let seq = "SELECT name, seq FROM sqlite_sequence ORDER BY name";
    assert_eq!(back.rows(seq), source.rows(seq));

    // On MariaDB the next job and token take ids above everything the source gave.
    mariadb_support::execute(
        &db,
        "INSERT INTO jobs (tenant_id, kind, payload, next_attempt_at, created_at, updated_at)
         VALUES (1, 'entity.update', '{}', NOW(6), NOW(6), NOW(6));
         INSERT INTO numhub_tokens (token_type, access_token, expires_at, created_at, updated_at)
         SELECT token_type, access_token, expires_at, created_at, updated_at FROM numhub_tokens",
    );
    assert_eq!(
        target.value("SELECT MAX(id) FROM jobs").as_deref(),
        Some("58")
    );
    assert_eq!(
        target.value("SELECT MAX(id) FROM numhub_tokens").as_deref(),
        Some("11")
    );
}

#[test]
fn a_copy_that_differs_from_its_source_exits_1_naming_the_table_and_leaves_the_target() {
    if !mariadb_support::available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    seed_every_table(&dir.path().join("source.db"), 1200);
    let db = mariadb_support::fresh_database();
    let from_sqlite = minimal_config(dir.path(), &source_section(&db));
    // Something on the server changes what is written (a trigger, as an app's
    // migration might add): the copy is not what was read.
    let to_mariadb = minimal_config(
        dir.path(),
        &database_section(&db.url_tcp, &db.password_file),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_numhubd"))
        .args(["migrate", "--config"])
        .arg(&to_mariadb)
        .output()
        .expect("numhubd migrate");
    assert!(out.status.success(), "{out:?}");
    mariadb_support::execute(
        &db,
        "CREATE TRIGGER tenants_touch BEFORE INSERT ON tenants FOR EACH ROW
         SET NEW.name = CONCAT(NEW.name, ' ')",
    );
    let run = copy_store(&from_sqlite, &db.url_tcp);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.out.contains("tenants: DIFFERS: source 3 rows"), "{run}");
    assert!(
        run.err
            .contains("the copy differs from the source in tenants;")
            && run.err.contains("left as it is for inspection"),
        "{run}"
    );
    assert_eq!(run.err.lines().count(), 1, "{run}");
    let target = TestStore::Mariadb(db);
    assert_eq!(target.count("SELECT COUNT(*) FROM numhub_sync_logs"), 1200);
}

/// `NUMHUBD_STRESS=1`: how long a larger replica takes to move (printed; the
/// checks are the same as above).
#[test]
fn a_large_replica_moves_and_comes_back_whole() {
    let Some(logs) = std::env::var_os("NUMHUBD_STRESS").map(|_| 100_000) else {
        eprintln!("skipped: set NUMHUBD_STRESS=1 for the large copy");
        return;
    };
    if !mariadb_support::available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    seed_every_table(&dir.path().join("source.db"), logs);
    let db = mariadb_support::fresh_database();
    let from_sqlite = minimal_config(dir.path(), &source_section(&db));
    let started = std::time::Instant::now();
    let moved = copy_store(&from_sqlite, &db.url_tcp);
    let there = started.elapsed();
    assert_eq!(moved.code, 0, "{moved}");
    let from_mariadb = minimal_config(
        dir.path(),
        &database_section(&db.url_tcp, &db.password_file),
    );
    let back = dir.path().join("back.db");
    let started = std::time::Instant::now();
    let round = copy_store(&from_mariadb, back.to_str().expect("utf-8"));
    let back_again = started.elapsed();
    assert_eq!(round.code, 0, "{round}");
    assert_eq!(table_lines(&round), table_lines(&moved));
    let rows: u64 = table_lines(&moved).values().map(|(n, _)| n).sum();
    println!(
        "copy-store: {rows} rows SQLite -> MariaDB in {:.1} s, MariaDB -> SQLite in {:.1} s (copy and verify)",
        there.as_secs_f64(),
        back_again.as_secs_f64()
    );
}
