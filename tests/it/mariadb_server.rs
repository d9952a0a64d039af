//! The test support for the MySQL engine holds: the throwaway MariaDB
//! (`mariadb_support`) gives each test its own utf8mb4 database and users and dies
//! with the test process, and the proxy (`cut_proxy`) loses a COMMIT's answer after
//! the server has committed. Each test skips without `mariadbd` (fails under CI).

use std::path::Path;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::cut_proxy::CutProxy;
use crate::mariadb_support::{self as mdb, block_on, TestDatabase};
use crate::support::wait_until;

/// Set in the environment of a child test process this file runs itself.
const CHILD_ENV: &str = "NUMHUBD_IT_MARIADB_CHILD";

fn connect(opts: mysql_async::Opts) -> Result<mysql_async::Conn, mysql_async::Error> {
    block_on(mysql_async::Conn::new(opts))
}

fn socket_opts(db: &TestDatabase, user: &str, password: String) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("localhost")
        .socket(Some(db.socket.display().to_string()))
        .user(Some(user))
        .pass(Some(password))
        .db_name(Some(db.name.clone()))
        .into()
}

fn run(conn: &mut mysql_async::Conn, sql: &str) -> Result<(), mysql_async::Error> {
    block_on(conn.query_drop(sql))
}

#[test]
fn a_fresh_database_is_utf8mb4_binary_with_its_own_users() {
    if !mdb::available() {
        return;
    }
    let db = mdb::fresh_database();
    let other = mdb::fresh_database();
    assert_ne!(db.name, other.name);
    assert_eq!(
        mdb::query(
            &db,
            "SELECT @@character_set_database, @@collation_database, @@character_set_server"
        ),
        vec![vec![
            Some("utf8mb4".into()),
            Some("utf8mb4_bin".into()),
            Some("utf8mb4".into())
        ]]
    );
    for file in [&db.password_file, &db.ro_password_file] {
        let mode = std::fs::metadata(file)
            .expect("password file")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "{}",
            file.display()
        );
    }
    assert!(db
        .url_tcp
        .starts_with(&format!("mysql://{}@127.0.0.1:", db.user)));
    assert!(db.url_socket.contains("?socket=/"), "{}", db.url_socket);

    // The owner, over TCP: tables, rows, a named lock, killing its own connection.
    let mut owner = connect(db.opts_via(db.port)).expect("owner over TCP");
    run(
        &mut owner,
        "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(50))",
    )
    .expect("DDL");
    run(&mut owner, "INSERT INTO t VALUES (1, 'Zoë 🦷 Dental')").expect("insert");
    let got: Option<i64> =
        block_on(owner.query_first("SELECT GET_LOCK('numhubd-test', 1)")).expect("GET_LOCK");
    assert_eq!(got, Some(1));
    let mut victim = connect(db.opts_via(db.port)).expect("second connection");
    let victim_id = victim.id();
    run(&mut owner, &format!("KILL {victim_id}")).expect("KILL of its own connection");
    assert!(
        run(&mut victim, "SELECT 1").is_err(),
        "the killed connection is dead"
    );
    assert_eq!(
        mdb::query(&db, "SELECT name FROM t"),
        vec![vec![Some("Zoë 🦷 Dental".into())]],
        "4-byte characters kept"
    );

    // The owner over the socket too; nothing of another test's database.
    let mut by_socket = connect(socket_opts(&db, &db.user, db.password())).expect("socket");
    run(&mut by_socket, "SELECT COUNT(*) FROM t").expect("select over the socket");
    assert!(
        run(&mut owner, &format!("SELECT 1 FROM `{}`.dual", other.name)).is_err()
            || run(
                &mut owner,
                &format!("CREATE TABLE `{}`.x (i INT)", other.name)
            )
            .is_err(),
        "a test's user reaches another test's database"
    );
    assert!(connect(db.opts_via(db.port)).is_ok());

    // The read-only user reads and cannot write.
    let mut ro = connect(socket_opts(&db, &db.ro_user, db.ro_password())).expect("read-only");
    let n: Option<i64> = block_on(ro.query_first("SELECT COUNT(*) FROM t")).expect("ro select");
    assert_eq!(n, Some(1));
    let denied = run(&mut ro, "INSERT INTO t VALUES (2, 'x')").expect_err("ro insert");
    assert!(denied.to_string().contains("denied"), "{denied}");
    for c in [owner, by_socket, ro] {
        let _ = block_on(c.disconnect());
    }
}

/// A COMMIT through the armed proxy: the client hears an error, the row is in.
#[test]
fn an_armed_proxy_loses_the_commit_answer_after_the_commit() {
    if !mdb::available() {
        return;
    }
    let db = mdb::fresh_database();
    mdb::query(&db, "CREATE TABLE t (id BIGINT PRIMARY KEY)");
    let proxy = CutProxy::start(db.port);
    assert_eq!(
        proxy.url_for(&db),
        db.url_tcp
            .replace(&format!(":{}/", db.port), &format!(":{}/", proxy.port))
    );
    let mut conn = connect(db.opts_via(proxy.port)).expect("through the proxy");

    run(&mut conn, "START TRANSACTION").expect("begin");
    run(&mut conn, "INSERT INTO t VALUES (1)").expect("insert");
    proxy.arm();
    let lost = run(&mut conn, "COMMIT");
    assert!(lost.is_err(), "the client was told the COMMIT succeeded");
    assert_eq!(proxy.commits_cut(), 1);
    assert!(!proxy.is_armed());
    assert_eq!(
        mdb::query(&db, "SELECT id FROM t"),
        vec![vec![Some("1".into())]],
        "the COMMIT whose answer was lost is not in the database"
    );

    // Disarmed (one COMMIT per arming): a new connection commits and hears it.
    let mut again = connect(db.opts_via(proxy.port)).expect("reconnect");
    run(&mut again, "START TRANSACTION").expect("begin");
    run(&mut again, "INSERT INTO t VALUES (2)").expect("insert");
    run(&mut again, "commit").expect("an unarmed proxy lets the answer through");
    assert_eq!(proxy.commits_cut(), 1);
    assert_eq!(
        mdb::query(&db, "SELECT COUNT(*) FROM t"),
        vec![vec![Some("2".into())]]
    );

    // Armed before the COMMIT: the client hears an error and the row is not in.
    run(&mut again, "START TRANSACTION").expect("begin");
    run(&mut again, "INSERT INTO t VALUES (3)").expect("insert");
    proxy.arm_before_commit();
    assert!(
        run(&mut again, "COMMIT").is_err(),
        "told ok for a cut COMMIT"
    );
    assert_eq!(proxy.commits_cut(), 2);
    // Once the server has ended the cut sessions (rolling back what they held open),
    // the row is not there.
    let gone = vec![vec![Some("0".to_string())]];
    let sessions = format!(
        "SELECT COUNT(*) FROM information_schema.processlist WHERE user = '{}'",
        db.user
    );
    assert!(
        wait_until(Duration::from_secs(10), || mdb::query(&db, &sessions)
            == gone),
        "the cut sessions are still open"
    );
    assert_eq!(
        mdb::query(&db, "SELECT COUNT(*) FROM t"),
        vec![vec![Some("2".into())]],
        "a COMMIT that never reached the server committed"
    );
}

/// Unarmed, the proxy is invisible: handshake, queries, big rows, a transaction
/// rolled back, prepared statements.
#[test]
fn an_unarmed_proxy_passes_everything_through() {
    if !mdb::available() {
        return;
    }
    let db = mdb::fresh_database();
    let proxy = CutProxy::start(db.port);
    let mut conn = connect(db.opts_via(proxy.port)).expect("through the proxy");
    run(
        &mut conn,
        "CREATE TABLE t (id BIGINT PRIMARY KEY, body LONGTEXT)",
    )
    .expect("DDL");
    let big = "x".repeat(3 * 1024 * 1024);
    block_on(conn.exec_drop("INSERT INTO t VALUES (?, ?)", (1, big.clone()))).expect("big row");
    run(&mut conn, "START TRANSACTION").expect("begin");
    run(&mut conn, "INSERT INTO t VALUES (2, 'gone')").expect("insert");
    run(&mut conn, "ROLLBACK").expect("rollback");
    let back: Option<String> =
        block_on(conn.exec_first("SELECT body FROM t WHERE id = ?", (1,))).expect("read back");
    assert_eq!(back.map(|b| b.len()), Some(big.len()));
    assert_eq!(
        mdb::query(&db, "SELECT id FROM t"),
        vec![vec![Some("1".into())]]
    );
    assert_eq!(proxy.commits_cut(), 0);
    let _ = block_on(conn.disconnect());
}

#[test]
fn cut_all_closes_every_connection_and_new_ones_still_work() {
    if !mdb::available() {
        return;
    }
    let db = mdb::fresh_database();
    let proxy = CutProxy::start(db.port);
    let mut a = connect(db.opts_via(proxy.port)).expect("a");
    let mut b = connect(db.opts_via(proxy.port)).expect("b");
    run(&mut a, "SELECT 1").expect("a works");
    proxy.cut_all();
    assert!(
        wait_until(Duration::from_secs(5), || run(&mut a, "SELECT 1").is_err()),
        "a survived the cut"
    );
    assert!(run(&mut b, "SELECT 1").is_err(), "b survived the cut");
    let mut c = connect(db.opts_via(proxy.port)).expect("a new connection after the cut");
    run(&mut c, "SELECT 1").expect("c works");
    assert_eq!(proxy.connections(), 3);
    let _ = block_on(c.disconnect());
}

/// Run in a child test process only: starts the server, writes its pid and folder
/// to the file named in the environment, then panics or waits to be killed.
#[test]
fn child_starts_the_server_then_fails() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return; // not a child
    };
    let (how, out) = spec.split_once(':').expect("HOW:FILE");
    let _ = mdb::fresh_database();
    let s = mdb::server();
    std::fs::write(out, format!("{} {}", mdb::server_pid(), s.dir.display())).expect("write");
    match how {
        "panic" => panic!("a test panics with the server running"),
        _ => std::thread::sleep(Duration::from_secs(600)), // until SIGKILLed
    }
}

/// Runs [`child_starts_the_server_then_fails`] in a test process of its own;
/// returns the server's pid and folder once written, and the child.
fn child(how: &str, out: &Path) -> (std::process::Child, i32, std::path::PathBuf) {
    let child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "mariadb_server::child_starts_the_server_then_fails",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{how}:{}", out.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run the test binary");
    assert!(
        wait_until(Duration::from_secs(120), || std::fs::read_to_string(out)
            .is_ok_and(|s| s.contains(' '))),
        "the child test process did not start its server"
    );
    let text = std::fs::read_to_string(out).expect("pid file");
    let (pid, dir) = text.split_once(' ').expect("PID DIR");
    (child, pid.parse().expect("pid"), dir.into())
}

fn gone(pid: i32) -> bool {
    wait_until(Duration::from_secs(10), || mdb::is_zombie(pid))
}

#[test]
fn the_server_dies_with_a_test_process_that_panics_or_is_killed() {
    if !mdb::available() || std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");

    let (mut panicked, pid, dir) = child("panic", &tmp.path().join("panic"));
    let status = panicked.wait().expect("wait");
    assert!(!status.success(), "the child's test was to fail");
    assert!(
        gone(pid),
        "mariadbd {pid} outlived a test process whose test panicked"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());

    let (mut killed, pid, dir) = child("kill", &tmp.path().join("kill"));
    killed.kill().expect("SIGKILL the child");
    let _ = killed.wait();
    assert!(
        gone(pid),
        "mariadbd {pid} outlived a SIGKILLed test process"
    );
    // Its folder stays until the next test process that starts a server sweeps it.
    assert!(dir.exists());
    let _ = child("panic", &tmp.path().join("sweep")).0.wait();
    assert!(
        !dir.exists(),
        "{} not swept by the next test process",
        dir.display()
    );
}
