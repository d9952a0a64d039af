//! The socket under load from a peer (issue #15): one uid holding many half-open
//! connections locks out neither another uid nor an admin; half-open and idle
//! connections are closed after their timeouts; a reload's `[[access]]` rules reach
//! connections already open. Peers of other uids connect from a thread that changed
//! only its own credentials (raw setresuid: the kernel records the connecting
//! thread's credentials as the peer's). Needs root; skipped without, unless CI.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde_json::{json, Value};

use crate::rpc_client::{
    add_tenant, call, keep_alive_call, ok, socket_of, start_rpc_daemon, start_rpc_daemon_with,
};
use crate::support::{wait_until, TIMEOUT};

const FORBIDDEN: i64 = -32003;
const LIMIT: i64 = -32022;

fn root() -> bool {
    let root = crate::support::is_root();
    if !root {
        eprintln!("skipped: needs root to connect as other uids");
    }
    root
}

/// A connection whose peer is `uid`/`gid`: made on a thread that set only its own
/// credentials (the raw syscalls; glibc's wrappers would change every thread's).
fn connect_as(uid: u32, socket: &Path) -> UnixStream {
    let socket = socket.to_path_buf();
    std::thread::spawn(move || {
        // SAFETY: setresgid/setresuid on this thread only; it connects and ends.
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_setresgid, uid, uid, uid),
                0,
                "setresgid"
            );
            assert_eq!(
                libc::syscall(libc::SYS_setresuid, uid, uid, uid),
                0,
                "setresuid"
            );
        }
        UnixStream::connect(&socket).expect("connect")
    })
    .join()
    .expect("connecting thread")
}

/// Half a request line, then nothing: what a peer holding connections sends.
fn half_open(uid: u32, socket: &Path) -> UnixStream {
    let mut c = connect_as(uid, socket);
    let _ = c.write_all(b"POST / HT");
    c
}

/// The JSON-RPC error code of a connection the server refused (503, then closed).
fn refused_code(c: &mut UnixStream) -> Option<i64> {
    c.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let body = text.split_once("\r\n\r\n")?.1;
    serde_json::from_str::<Value>(body)
        .ok()?
        .pointer("/error/code")
        .and_then(Value::as_i64)
}

fn health(c: &mut UnixStream) -> Value {
    c.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    keep_alive_call(
        c,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "daemon.health"}).to_string(),
    )
}

/// Whether the server closed `c` (a read gives end of file) within TIMEOUT.
fn closed_by_server(c: &mut UnixStream) -> bool {
    c.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut buf = [0u8; 64];
    matches!(c.read(&mut buf), Ok(0))
}

#[test]
fn one_uid_holding_half_open_connections_locks_out_no_other_uid_nor_an_admin() {
    if !root() {
        return;
    }
    // Long enough that the held connections stay held for the whole test.
    let d = start_rpc_daemon_with(
        "max_connections = 8\nmax_connections_per_uid = 3\nheader_timeout_ms = 600000",
        "",
    );
    let s = socket_of(&d);
    // uid 4242 opens far more than its share: accepted in order, the first three are
    // held, each later one is refused.
    let mut held: Vec<UnixStream> = (0..12).map(|_| half_open(4242, &s)).collect();
    for c in &mut held[3..] {
        assert_eq!(refused_code(c), Some(LIMIT), "beyond its share, -32022");
    }
    // The first three are held open (root's status call is the fourth).
    assert!(
        wait_until(TIMEOUT, || ok(&s, "daemon.status", json!({}))
            ["connections"]
            == 4),
        "{}",
        ok(&s, "daemon.status", json!({}))
    );
    // Another uid is served.
    let mut other = connect_as(4243, &s);
    assert_eq!(health(&mut other)["result"]["ok"], true);
    // Others fill what is not kept for admins (8 - 3 = 5: 4242's three, 4243's
    // two)…
    let mut second = connect_as(4243, &s);
    assert_eq!(health(&mut second)["result"]["ok"], true);
    let mut third_uid = half_open(4244, &s);
    assert_eq!(
        refused_code(&mut third_uid),
        Some(LIMIT),
        "others' share is full"
    );
    // …and root is still served, from the connections kept for admins.
    let mut root = UnixStream::connect(&s).expect("connect as root");
    assert_eq!(health(&mut root)["result"]["ok"], true);
    drop(held);
}

#[test]
fn half_open_and_idle_connections_are_closed() {
    if !root() {
        return;
    }
    let d = start_rpc_daemon_with("header_timeout_ms = 300\nidle_timeout_secs = 1", "");
    let s = socket_of(&d);
    // Half a request line, never finished.
    let mut half = half_open(4242, &s);
    assert!(
        closed_by_server(&mut half),
        "a half-open connection stayed open"
    );
    // Headers whole but the body short of its content-length: also half a request.
    let mut short = UnixStream::connect(&s).expect("connect");
    short
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"jsonrpc\"")
        .expect("write");
    assert!(closed_by_server(&mut short), "a half-sent body stayed open");
    // One answered request, then quiet: closed as idle.
    let mut idle = UnixStream::connect(&s).expect("connect");
    assert_eq!(health(&mut idle)["result"]["ok"], true);
    assert!(
        closed_by_server(&mut idle),
        "an idle keep-alive connection stayed open"
    );
    // The places were given back: the server still serves.
    assert_eq!(call(&s, "daemon.health", json!({}))["result"]["ok"], true);
}

/// uid 4242's rule: read over every tenant.
const READER_RULE: &str = "[[access]]\nuid = 4242\nrole = \"read\"\ntenants = \"*\"\n";

/// A daemon where uid 4242 may read, with tenant 1; and its socket.
fn with_reader() -> (crate::support::Daemon, std::path::PathBuf) {
    let d = start_rpc_daemon(READER_RULE);
    let s = socket_of(&d);
    add_tenant(&s, 1, "Acme");
    (d, s)
}

/// Takes uid 4242's rule out of the config and reloads; returns once it applies.
fn revoke_reader(d: &crate::support::Daemon) {
    let config = std::fs::read_to_string(d.config_path()).expect("config");
    std::fs::write(d.config_path(), config.replace(READER_RULE, "")).expect("write config");
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(TIMEOUT, || d.stderr().contains("[[access]] rules applied")),
        "no reload: {}",
        d.stderr()
    );
}

#[test]
fn a_revoked_rule_refuses_the_next_call_on_an_open_connection() {
    if !root() {
        return;
    }
    let (d, s) = with_reader();
    let get =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tenant.get", "params": {"id": 1}}).to_string();
    let mut open = connect_as(4242, &s);
    open.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    assert_eq!(keep_alive_call(&mut open, &get)["result"]["name"], "Acme");
    revoke_reader(&d);
    let after = keep_alive_call(&mut open, &get);
    assert_eq!(
        after.pointer("/error/code").and_then(Value::as_i64),
        Some(FORBIDDEN),
        "the open connection kept its old grant: {after}"
    );
    // A new connection gets the new rules too.
    let mut fresh = connect_as(4242, &s);
    fresh.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let v = keep_alive_call(&mut fresh, &get);
    assert_eq!(
        v.pointer("/error/code").and_then(Value::as_i64),
        Some(FORBIDDEN),
        "{v}"
    );
}

/// A subscription of a uid whose rule a reload revoked ends at its next event, as its
/// next call would be refused: the event is not delivered.
#[test]
fn a_revoked_rule_ends_an_open_subscription() {
    if !root() {
        return;
    }
    let (d, s) = with_reader();
    let create = |name: &str| {
        let s = s.clone();
        let name = name.to_string();
        move || {
            ok(
                &s,
                "entity.create",
                json!({"tenant_id": 1, "entity_type": "direct", "company_name": name,
                       "application": {}, "submit": false}),
            )
        }
    };
    let rt = crate::support::rt();
    let std_stream = connect_as(4242, &s);
    std_stream.set_nonblocking(true).expect("nonblocking");
    // Kept open to the end: a closed WebSocket would end the subscription by itself.
    let _ws = rt.block_on(async {
        let stream = tokio::net::UnixStream::from_std(std_stream).expect("tokio stream");
        let mut ws = crate::rpc_client::Ws::over(stream).await;
        ws.send(json!({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {}}))
            .await;
        assert!(!ws.recv().await["result"].is_null(), "subscribed");
        tokio::task::spawn_blocking(create("Before LLC"))
            .await
            .expect("create");
        let ev = ws.recv().await;
        assert_eq!(
            ev["params"]["result"]["type"], "entity.status_changed",
            "{ev}"
        );
        ws
    });
    revoke_reader(&d);
    create("After LLC")();
    assert!(
        wait_until(TIMEOUT, || d
            .stderr()
            .contains("subscription ended: access rules changed")),
        "the revoked uid's subscription went on: {}",
        d.stderr()
    );
}
