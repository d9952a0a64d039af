//! What the bench binaries share (each includes this file as `mod common`): the smoke
//! switch, sizes from the environment, waiting on a condition, a process's memory
//! from /proc, and the bench's tenant.

use std::time::{Duration, Instant};

/// `NUMHUBD_BENCH_SMOKE=1`: tiny sizes, every code path, no figure worth reading.
pub fn smoke() -> bool {
    std::env::var("NUMHUBD_BENCH_SMOKE").is_ok_and(|v| v == "1")
}

/// A size from the environment variable `name`, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Polls `cond` every `poll` until it holds; how long that took. Panics, naming
/// `what`, once `limit` has passed.
pub fn wait_for(
    what: &str,
    limit: Duration,
    poll: Duration,
    mut cond: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(poll);
    }
    start.elapsed()
}

/// A figure of `/proc/<pid>/status` in KiB (`key` as `VmHWM:`), `pid` a number or
/// `self`; 0 where it cannot be read.
pub fn status_kib(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Tenant 1, named `name`, on NumHub client `client` if one is given.
pub fn tenant(name: &str, client: Option<&str>) -> numhubd::db::tenants::TenantFields {
    numhubd::db::tenants::TenantFields {
        id: 1,
        name: name.into(),
        numhub_client_id: client.map(str::to_string),
        ..Default::default()
    }
}

/// One JSON-RPC call to the daemon whose socket is `numhubd.sock` in `dir`, over a
/// connection of its own; its result, which must be there.
pub fn call(dir: &std::path::Path, method: &str, params: serde_json::Value) -> serde_json::Value {
    use std::io::{Read, Write};
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string();
    let mut s = std::os::unix::net::UnixStream::connect(dir.join("numhubd.sock")).expect("socket");
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    assert!(v.get("result").is_some(), "{method}: {answer}");
    v["result"].clone()
}
