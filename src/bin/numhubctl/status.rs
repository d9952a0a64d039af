//! `status`: the daemon's health and `daemon.status`, every field one a line as
//! docs/OPERATIONS.md lists them (or both answers as JSON).

use std::path::Path;

use serde_json::{json, Value};

use numhubd::api::Health;
use numhubd::client::{Client, ClientError};

use crate::output::{cell, one_line, out, print_json};

pub fn status(c: &mut Client, health: &Health, json_out: bool) -> Result<(), ClientError> {
    let status = c.call("daemon.status", json!({}))?;
    if json_out {
        return print_json(&json!({"socket": c.path(), "health": health, "status": status}));
    }
    print_status(c.path(), health, &status);
    Ok(())
}

/// `health  ok`, or one `degraded` line per cause (the database refusing writes).
fn print_health(status: &Value) {
    let degraded = status["degraded"].as_array().cloned().unwrap_or_default();
    if degraded.is_empty() {
        out!("health        ok");
    }
    for d in &degraded {
        out!(
            "degraded      {} since {}: {}",
            d["component"].as_str().unwrap_or("?"),
            d["since"].as_str().unwrap_or("?"),
            d["cause"].as_str().unwrap_or("?")
        );
    }
}

/// `status` as text: every field of `daemon.status`, one a line (blocked logins one
/// each), as docs/OPERATIONS.md lists them.
fn print_status(socket: &Path, health: &Health, status: &Value) {
    out!(
        "numhubd {} on {} (API v{})",
        health.daemon_version,
        socket.display(),
        health.api_version
    );
    print_health(status);
    out!("uptime        {} s", status["uptime_s"]);
    out!("schema        v{}", status["schema_version"]);
    out!("database      {} bytes", status["db_size_bytes"]);
    let jobs = status["jobs"].as_object().map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    });
    out!(
        "jobs          {}",
        jobs.filter(|s| !s.is_empty())
            .unwrap_or_else(|| "none".into())
    );
    out!(
        "numhub        {}",
        match status["numhub_reachable"].as_bool() {
            Some(true) => "reachable",
            Some(false) => "unreachable (the newest exchange failed to connect or got a 5xx)",
            None => "unknown (no exchange yet)",
        }
    );
    out!(
        "token         {}",
        match status["token_expires_at"].as_str() {
            Some(t) => format!("expires {t}"),
            None => "none held".into(),
        }
    );
    print_watcher(&status["watcher"]);
    print_login_blocks(status);
    out!("connections   {}", status["connections"]);
    out!("anomalies     {}", status["sync_anomalies"]);
    print_cluster(&status["cluster"]);
}

/// `login blocks  none`, or one line per blocked login with NumHub's reason.
fn print_login_blocks(status: &Value) {
    let blocks = status["blocked_logins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if blocks.is_empty() {
        out!("login blocks  none");
    }
    for b in &blocks {
        let code = b["status_code"]
            .as_u64()
            .map(|c| format!(" (HTTP {c})"))
            .unwrap_or_default();
        out!(
            "login blocked {} since {}{code}: {}",
            cell(&b["account"]),
            cell(&b["since"]),
            one_line(&cell(&b["reason"]))
        );
    }
}

/// The daemons sharing the store: who this is, who leads, and each node's last sign.
fn print_cluster(c: &Value) {
    let Ok(Some(c)) = serde_json::from_value::<Option<numhubd::api::ClusterStatus>>(c.clone())
    else {
        out!("cluster       none (one daemon on its SQLite file)");
        return;
    };
    let leader = match &c.leader {
        Some(l) if *l == c.node => "this node leads".to_string(),
        Some(l) => format!("{} leads", one_line(l)),
        None => "no leader now".to_string(),
    };
    let until = c
        .lease_expires_at
        .as_deref()
        .map(|t| format!(", lease until {t}"))
        .unwrap_or_default();
    out!(
        "cluster       node {}: {leader} (epoch {}{until})",
        one_line(&c.node),
        c.epoch
    );
    for n in &c.nodes {
        out!(
            "node          {} last seen {}",
            one_line(&n.node),
            n.last_seen
        );
    }
}

/// The drop folder's watcher: its state (with why, when it gives one), folder and
/// backlog, then its newest problem.
fn print_watcher(w: &Value) {
    if w.is_null() {
        out!("watcher       none");
        return;
    }
    let why = w["reason"]
        .as_str()
        .map(|r| format!(" ({})", one_line(r)))
        .unwrap_or_default();
    out!(
        "watcher       {}{why} {} (backlog {})",
        cell(&w["state"]),
        one_line(&cell(&w["dir"])),
        cell(&w["backlog"])
    );
    out!("watcher error {}", one_line(&cell(&w["last_error"])));
}
