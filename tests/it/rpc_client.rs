//! Test clients for the local API: raw HTTP/1.1 over the Unix socket (std only, so
//! what goes on the wire is exactly what the test wrote), a WebSocket client for
//! subscriptions, numhubctl run on a socket, the tenant set-up most tests start
//! with, and a daemon started with a socket other users can reach.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use numhubd::rpc::schema::validate;
use serde_json::{json, Value};

use crate::support::{base_config, start_daemon, Daemon};

/// A daemon whose socket (`run/numhubd.sock`) any local user can open (the test
/// opens it to others after the daemon bound it: numhubd itself refuses a
/// `socket_mode` above 0770),
/// with `extra` appended to the config (e.g. `[[access]]` rules).
pub fn start_rpc_daemon(extra: &str) -> Daemon {
    start_rpc_daemon_with("", extra)
}

/// Like [`start_rpc_daemon`], with `rpc_keys` (lines) added to `[rpc]`.
pub fn start_rpc_daemon_with(rpc_keys: &str, extra: &str) -> Daemon {
    let config = base_config("info").replace(
        "socket = \"numhubd.sock\"",
        &format!("socket = \"run/numhubd.sock\"\nupload_dirs = [\"uploads\"]\n{rpc_keys}"),
    ) + extra;
    let daemon = start_daemon(&config, &[]);
    // tempdir is 0700; other users must be able to reach the socket's folder.
    std::fs::set_permissions(daemon.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    std::fs::set_permissions(socket_of(&daemon), std::fs::Permissions::from_mode(0o666))
        .expect("chmod socket");
    std::fs::create_dir_all(daemon.dir.path().join("uploads")).expect("uploads dir");
    daemon
}

pub fn socket_of(d: &Daemon) -> PathBuf {
    d.dir.path().join("run/numhubd.sock")
}

/// Sends `body` as one HTTP POST (`connection: close`); returns the HTTP status and
/// the body exactly as sent (a chunked one joined).
pub fn exchange(socket: &Path, body: &[u8]) -> (u16, String) {
    try_exchange(socket, body).expect("connect to the daemon's socket")
}

/// [`exchange`], `None` when the socket cannot be connected to (the daemon is down).
pub fn try_exchange(socket: &Path, body: &[u8]) -> Option<(u16, String)> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let head = format!(
        "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    // A refused connection (over the limit) or body may be answered and closed before
    // we finish writing; the answer is still there to read.
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or(("", ""));
    match head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        true => Some((status, unchunk(body))),
        false => Some((status, body.to_string())),
    }
}

/// A chunked HTTP body's chunks, joined.
fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Sends `body` as one HTTP POST and returns (HTTP status, body as JSON or Null).
pub fn post(socket: &Path, body: &[u8]) -> (u16, Value) {
    try_post(socket, body).expect("connect to the daemon's socket")
}

/// [`post`], `None` when the socket cannot be connected to (the daemon is down).
pub fn try_post(socket: &Path, body: &[u8]) -> Option<(u16, Value)> {
    let (status, text) = try_exchange(socket, body)?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// One JSON-RPC call; returns the whole response object.
pub fn call(socket: &Path, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    post(socket, req.to_string().as_bytes()).1
}

/// The `result` of a call that must succeed; it must also match the result schema
/// `rpc.discover` publishes for the method, so every answer the suite takes this way
/// checks that schema.
pub fn ok(socket: &Path, method: &str, params: Value) -> Value {
    let r = call(socket, method, params.clone());
    match r.get("result") {
        Some(v) => {
            assert_result_matches(method, v);
            v.clone()
        }
        None => panic!("{method} {params} failed: {r}"),
    }
}

/// Each method's published result schema, by name (the document `rpc.discover`
/// answers with: built from the same table, once).
fn result_schemas() -> &'static BTreeMap<String, Value> {
    static SCHEMAS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let doc = numhubd::rpc::openrpc::document();
        doc["methods"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some((
                    m["name"].as_str()?.to_string(),
                    m["result"]["schema"].clone(),
                ))
            })
            .collect()
    })
}

/// Panics, naming each field and why, when `result` is not what `method`'s
/// published result schema says.
pub fn assert_result_matches(method: &str, result: &Value) {
    let errors = result_problems(method, result);
    assert!(
        errors.is_empty(),
        "{method}'s answer does not match its published result schema: {errors:?}\n{result}"
    );
}

/// What is wrong with `result` as `method`'s answer (a method not in the document
/// is a problem too).
pub fn result_problems(method: &str, result: &Value) -> Vec<String> {
    match result_schemas().get(method) {
        Some(schema) => validate(schema, result)
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.reason))
            .collect(),
        None => vec![format!("{method} is not in rpc.discover")],
    }
}

/// The error code of a call that must fail.
pub fn err_code(socket: &Path, method: &str, params: Value) -> i64 {
    let r = call(socket, method, params.clone());
    r.pointer("/error/code")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{method} {params} should fail: {r}"))
}

/// Runs curl as another user (uid/gid) against the socket; returns the JSON answer.
/// None when curl is missing and CI is not `true` (the caller skips).
pub fn curl_as(uid: u32, gid: u32, socket: &Path, body: &str) -> Option<Value> {
    use std::os::unix::process::CommandExt;
    if !curl_present() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "curl is required in CI"
        );
        return None;
    }
    let out = std::process::Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(socket)
        .args([
            "http://localhost/",
            "-H",
            "content-type: application/json",
            "-d",
            body,
        ])
        .uid(uid)
        .gid(gid)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    Some(serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!(
            "curl as {uid}: not JSON: {text} / {}",
            String::from_utf8_lossy(&out.stderr)
        )
    }))
}

pub fn curl_present() -> bool {
    std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A WebSocket JSON-RPC client over the Unix socket (soketto, as jsonrpsee serves).
pub struct Ws {
    sender: soketto::connection::Sender<tokio_util::compat::Compat<tokio::net::UnixStream>>,
    receiver: soketto::connection::Receiver<tokio_util::compat::Compat<tokio::net::UnixStream>>,
}

impl Ws {
    pub async fn connect(socket: &Path) -> Ws {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .expect("connect");
        Ws::over(stream).await
    }

    /// A WebSocket over a connection made elsewhere (e.g. as another uid).
    pub async fn over(stream: tokio::net::UnixStream) -> Ws {
        use tokio_util::compat::TokioAsyncReadCompatExt;
        let mut client = soketto::handshake::Client::new(stream.compat(), "localhost", "/");
        match client.handshake().await.expect("handshake") {
            soketto::handshake::ServerResponse::Accepted { .. } => {}
            other => panic!("WebSocket refused: {other:?}"),
        }
        let (sender, receiver) = client.into_builder().finish();
        Ws { sender, receiver }
    }

    pub async fn send(&mut self, v: Value) {
        self.sender.send_text(v.to_string()).await.expect("send");
        self.sender.flush().await.expect("flush");
    }

    /// The next text message, within the suite's timeout.
    pub async fn recv(&mut self) -> Value {
        let mut data = Vec::new();
        tokio::time::timeout(
            crate::support::TIMEOUT,
            self.receiver.receive_data(&mut data),
        )
        .await
        .expect("a message within the timeout")
        .expect("receive");
        serde_json::from_slice(&data).expect("JSON message")
    }
}

/// One request on an open HTTP/1.1 connection; reads exactly one response.
pub fn keep_alive_call(conn: &mut std::os::unix::net::UnixStream, body: &str) -> Value {
    use std::io::{BufRead, BufReader, Read, Write};
    let head = format!(
        "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(head.as_bytes()).expect("write");
    let mut reader = BufReader::new(conn);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read header");
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut buf = vec![0; len];
    reader.read_exact(&mut buf).expect("read body");
    serde_json::from_slice(&buf).unwrap_or(Value::Null)
}

/// Runs numhubctl on `socket` with `args`; its output, whatever its exit.
pub fn ctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_numhubctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("run numhubctl")
}

/// numhubctl on `socket` with `args` (a `--follow`), running: its stdout piped, its
/// stderr dropped.
pub fn ctl_spawn(socket: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_numhubctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("numhubctl {args:?}: {e}"))
}

/// `numhubctl --json ARGS`, which must succeed; its output parsed.
pub fn ctl_json(socket: &Path, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = ctl(socket, &a);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "numhubctl {args:?}: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("numhubctl {args:?} --json: {e}: {text}"))
}

/// Tenant `id` named `name` (`tenant.upsert` with nothing else set); the tenant.
pub fn add_tenant(socket: &Path, id: i64, name: &str) -> Value {
    ok(socket, "tenant.upsert", json!({"id": id, "name": name}))
}

/// Tenant `id` named `name` on NumHub client `client`, its sync on or off; the tenant.
pub fn add_numhub_tenant(socket: &Path, id: i64, name: &str, client: &str, enabled: bool) -> Value {
    ok(
        socket,
        "tenant.upsert",
        json!({"id": id, "name": name, "numhub_client_id": client, "numhub_enabled": enabled}),
    )
}

/// A draft application of tenant `tenant_id` (`entity.create` with an empty
/// application, not submitted); its local id.
pub fn draft_entity(socket: &Path, tenant_id: i64, entity_type: &str, company: &str) -> String {
    let e = ok(
        socket,
        "entity.create",
        json!({"tenant_id": tenant_id, "entity_type": entity_type, "company_name": company,
               "application": {}, "submit": false}),
    );
    e["id"].as_str().expect("entity id").to_string()
}

/// Tenant `id` named `name` on NumHub client `client` (its sync as it is) with a
/// NumHub login of its own, `email` and `password` (`credentials.set`).
pub fn add_tenant_login(
    socket: &Path,
    id: i64,
    name: &str,
    client: &str,
    email: &str,
    password: &str,
) {
    ok(
        socket,
        "tenant.upsert",
        json!({"id": id, "name": name, "numhub_client_id": client}),
    );
    ok(
        socket,
        "credentials.set",
        json!({"tenant_id": id, "email": email, "password": password}),
    );
}
