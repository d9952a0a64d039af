//! The real `numhubd` binary: readiness over the sd_notify protocol, clean shutdown
//! on SIGTERM, live reload on SIGHUP, the watchdog, and exit 78 on a bad config.

use super::support::{base_config, run_numhubd, start_daemon, wait_until, TIMEOUT};

#[test]
fn sigterm_stops_cleanly_with_the_database_intact() {
    let mut d = start_daemon(&base_config("info"), &[]);
    let store = d.store();
    d.signal(libc::SIGTERM);
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", d.stderr());
    if let crate::test_engine::TestStore::File(_) = store {
        assert_eq!(store.value("PRAGMA integrity_check").as_deref(), Some("ok"));
    }
    let version = store.value("SELECT MAX(version) FROM refinery_schema_history");
    let latest = match store {
        crate::test_engine::TestStore::File(_) => numhubd::db::latest_version(),
        crate::test_engine::TestStore::Mariadb(_) => latest_migration("migrations/mysql"),
    };
    assert_eq!(version, Some(latest.to_string()));
    assert!(d.stderr().contains("numhubd stopped"), "{}", d.stderr());
}

/// The highest `V<N>__…` in a migrations folder of the repository.
fn latest_migration(folder: &str) -> i64 {
    std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder))
        .expect("migrations folder")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix('V')?.split("__").next()?.parse().ok()
        })
        .max()
        .expect("a migration")
}

#[test]
fn sigint_stops_cleanly_too() {
    let mut d = start_daemon(&base_config("info"), &[]);
    d.signal(libc::SIGINT);
    assert_eq!(d.wait_exit().code(), Some(0), "stderr:\n{}", d.stderr());
}

#[test]
fn sighup_applies_a_new_log_filter_and_refuses_an_invalid_edit() {
    let mut d = start_daemon(&base_config("info"), &[]);
    assert!(
        !d.stderr().contains("DEBUG"),
        "debug lines before the reload"
    );

    std::fs::write(d.config_path(), base_config("debug")).expect("edit");
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(TIMEOUT, || d.stderr().contains("log filter in effect")),
        "the new filter did not take effect:\n{}",
        d.stderr()
    );
    assert!(d.stderr().contains("DEBUG"));
    d.wait_notify("READY=1");

    // An invalid edit is refused; the daemon keeps running with the old config.
    std::fs::write(
        d.config_path(),
        format!("{}\n[log]\nfiltr = 1\n", base_config("debug")),
    )
    .expect("bad edit");
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(TIMEOUT, || d.stderr().contains("config reload refused")),
        "{}",
        d.stderr()
    );
    assert!(d.is_running());

    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0), "stderr:\n{}", d.stderr());
}

#[test]
fn the_watchdog_is_pinged_when_systemd_asks_for_it() {
    // start_daemon returns on READY=1, which comes after the socket is bound.
    let mut d = start_daemon(&base_config("info"), &[("WATCHDOG_USEC", "200000")]);
    let socket = d.dir.path().join("numhubd.sock");
    assert_eq!(
        crate::rpc_client::ok(&socket, "daemon.health", serde_json::json!({}))["ok"],
        true
    );
    d.wait_notify("WATCHDOG=1");
    d.wait_notify("WATCHDOG=1");
    d.wait_notify("WATCHDOG=1");
    d.signal(libc::SIGHUP);
    let reloading = d.wait_notify("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    d.wait_notify("READY=1");
    d.wait_notify("WATCHDOG=1");
    d.signal(libc::SIGTERM);
    let stopping = d.wait_notify("STOPPING=1");
    assert!(stopping.contains("STOPPING=1"));
    assert_eq!(d.wait_exit().code(), Some(0));
}

#[test]
fn a_second_daemon_on_the_same_database_exits_naming_the_first() {
    let d = start_daemon(&base_config("info"), &[]);
    let config = d.config_path().to_string_lossy().to_string();
    let (code, stderr) = run_numhubd(&["serve", "--config", &config]);
    assert_eq!(code, numhubd::exit::IN_USE, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "want one line, got:\n{stderr}");
    // On SQLite the lock file's database; on MySQL the first daemon's host (#24).
    let names = match d.store() {
        crate::test_engine::TestStore::File(path) => path.display().to_string(),
        crate::test_engine::TestStore::Mariadb(_) => {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .expect("hostname")
                .trim()
                .to_string()
        }
    };
    assert!(
        lines[0].contains(&format!("pid {}", d.pid())) && lines[0].contains(&names),
        "{stderr} does not name the running daemon and its database (or host)"
    );
    // The first one still serves, on the socket the second never touched.
    let socket = d.dir.path().join("numhubd.sock");
    let health = crate::rpc_client::ok(&socket, "daemon.health", serde_json::json!({}));
    assert_eq!(health["ok"], true);
    // Offline commands that change the file are refused the same way.
    let (code, stderr) = run_numhubd(&["migrate", "--config", &config]);
    assert_eq!(code, numhubd::exit::IN_USE, "{stderr}");
}

#[test]
fn the_watchdog_stops_when_the_writer_hangs() {
    use std::io::Write;
    const INTERVAL_MS: u64 = 200;
    let d = start_daemon(
        &base_config("info"),
        &[
            ("WATCHDOG_USEC", &(INTERVAL_MS * 1000).to_string()),
            (numhubd::killpoint::HANG_ENV, "tenant.upsert"),
        ],
    );
    d.wait_notify("WATCHDOG=1");
    d.wait_notify("WATCHDOG=1");
    // One write over the socket; the writer blocks inside it and never answers, so
    // the request is sent and its answer never read.
    let mut conn = std::os::unix::net::UnixStream::connect(d.dir.path().join("numhubd.sock"))
        .expect("connect");
    let body =
        r#"{"jsonrpc":"2.0","id":1,"method":"tenant.upsert","params":{"id":1,"name":"Acme"}}"#;
    write!(
        conn,
        "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    assert!(
        wait_until(TIMEOUT, || d.stderr().contains("watchdog ping skipped")),
        "the watchdog never noticed the hung writer:\n{}",
        d.stderr()
    );
    // Pings sent before the miss are still queued on the socket: drain them.
    d.notify.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 4096];
    while d.notify.recv(&mut buf).is_ok() {}
    d.notify.set_nonblocking(false).expect("blocking");
    // From the miss on, no ping may come. systemd would act after one interval
    // without a ping; 3 intervals is a bounded look for a ping that must not arrive
    // (it proves nothing by waiting longer), not a sleep the outcome depends on.
    let look = std::time::Duration::from_millis(3 * INTERVAL_MS);
    let start = std::time::Instant::now();
    while start.elapsed() < look {
        if let Ok(n) = d.notify.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]);
            assert!(
                !msg.contains("WATCHDOG=1"),
                "pinged with the writer hung: {msg}"
            );
        }
    }
    // Drop kills the daemon: a hung writer cannot shut down cleanly.
}

fn assert_config_error(config: Option<&str>, must_name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("numhubd.toml");
    if let Some(text) = config {
        std::fs::write(&path, text).expect("write");
    }
    let path = path.to_string_lossy().to_string();
    for cmd in ["serve", "check-config"] {
        let (code, stderr) = run_numhubd(&[cmd, "--config", &path]);
        assert_eq!(code, 78, "{cmd}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{cmd}: want one line, got:\n{stderr}");
        assert!(
            lines[0].contains(must_name),
            "{cmd}: {stderr} does not name {must_name}"
        );
    }
    assert!(
        !dir.path().join("numhubd.db").exists(),
        "a bad config started something"
    );
}

#[test]
fn an_unknown_key_stops_the_daemon_with_exit_78_naming_it() {
    assert_config_error(Some("[database]\npth = \"x.db\"\n"), "database.pth");
}

#[test]
fn a_wrong_type_stops_the_daemon_with_exit_78_naming_the_key() {
    assert_config_error(Some("[database]\nreaders = \"four\"\n"), "database.readers");
}

#[test]
fn an_unknown_role_stops_the_daemon_with_exit_78_naming_the_key() {
    assert_config_error(
        Some("[[access]]\nuid = 33\nrole = \"wirte\"\ntenants = \"*\"\n"),
        "access[0].role: \"wirte\" is not one of read, write, admin",
    );
}

#[test]
fn a_world_accessible_socket_mode_stops_the_daemon_with_exit_78_naming_the_key() {
    assert_config_error(Some("[rpc]\nsocket_mode = \"0777\"\n"), "rpc.socket_mode");
}

#[test]
fn an_unreadable_config_stops_the_daemon_with_exit_78_naming_the_file() {
    assert_config_error(None, "numhubd.toml");
}

#[test]
fn check_config_accepts_the_packaged_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/numhubd.toml");
    let (code, stderr) = run_numhubd(&["check-config", "--config", example]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn migrate_creates_the_schema_and_refuses_a_newer_one_with_exit_65() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("numhubd.toml");
    let config = crate::test_engine::place(dir.path(), "[database]\npath = \"numhubd.db\"\n");
    std::fs::write(&cfg, config).expect("write");
    let cfg = cfg.to_string_lossy().to_string();
    let (code, stderr) = run_numhubd(&["migrate", "--config", &cfg]);
    assert_eq!(code, 0, "{stderr}");
    crate::test_engine::store_for(dir.path()).execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
         VALUES (9999, 'future', 'x', '0')",
    );
    let (code, stderr) = run_numhubd(&["migrate", "--config", &cfg]);
    assert_eq!(code, 65, "{stderr}");
    assert!(stderr.contains("newer"), "{stderr}");
}

#[test]
fn serve_sandbox_starts_a_local_numhub_with_the_demo_account() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::test_engine::place(dir.path(), &base_config("info"));
    std::fs::write(dir.path().join("numhubd.toml"), config).expect("config");
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify");
    notify
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .expect("timeout");
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_numhubd"))
        .args(["serve", "--sandbox", "--config"])
        .arg(dir.path().join("numhubd.toml"))
        .env("NOTIFY_SOCKET", &notify_path)
        .stderr(stderr)
        .spawn()
        .expect("spawn");
    let mut d = super::support::Daemon { dir, child, notify };
    d.wait_notify("READY=1");
    let log = d.stderr();
    let url = log
        .split("url=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no sandbox url in the log:\n{log}"))
        .to_string();
    let addr = url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).expect("connect to the sandbox");
    write!(
        conn,
        "POST /api/v1/authorize/token?Email=demo%40numhub.test&Password=demo-password HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"accessToken\""), "{answer}");
    // The first run needs no set-up call: the demo tenant maps to client 1001.
    let socket = d.dir.path().join("numhubd.sock");
    let tenant = crate::rpc_client::ok(&socket, "tenant.get", serde_json::json!({"id": 1}));
    assert_eq!(tenant["numhub_client_id"], "1001");
    assert_eq!(tenant["numhub_enabled"], true);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.stderr());
}

/// Whatever `[log] filter` asks for, the crates that trace whole requests (jsonrpsee
/// with the params of `credentials.set`, the HTTP stack under reqwest with the token
/// call's URL) log nothing above info: a more specific directive cannot lift the floor.
#[test]
fn no_filter_lifts_the_floor_on_request_tracing_crates() {
    let filter = "debug,jsonrpsee-server=trace,jsonrpsee-core=trace,jsonrpsee=trace,hyper=trace,reqwest=trace";
    let d = crate::support::start_daemon(&crate::support::base_config(filter), &[]);
    let s = d.dir.path().join("numhubd.sock");
    crate::rpc_client::add_tenant(&s, 1, "T");
    let secret = "floor-4b1e7c-secret";
    crate::rpc_client::ok(
        &s,
        "credentials.set",
        serde_json::json!({"tenant_id": 1, "email": "ops@t.test", "password": secret}),
    );
    let logs = d.stderr();
    assert!(
        logs.contains("DEBUG"),
        "the filter's debug level applies elsewhere: {logs}"
    );
    assert!(
        !logs.contains(secret),
        "a request body reached the log:\n{logs}"
    );
    assert!(!logs.contains("TRACE jsonrpsee"), "{logs}");
}
