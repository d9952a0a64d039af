//! `status`: the daemon's health and `daemon.status`, every field one a line as
//! docs/OPERATIONS.md lists them (or both answers as JSON).

use std::path::Path;

use serde_json::json;

use numhubd::api::{self, ClusterStatus, Empty, Health, Status, WatcherStatus};

use crate::output::{cell, one_line, out, print_json};
use crate::session::{Outcome, Session};

pub fn status(s: &mut Session) -> Outcome {
    let status = s.request::<api::DaemonStatus>(&Empty {})?;
    let (socket, health) = (s.client.path(), &s.health);
    if s.json {
        return print_json(&json!({"socket": socket, "health": health, "status": status}));
    }
    print_status(socket, health, &status);
    Ok(())
}

/// `status` as text: every field of `daemon.status`, one a line (blocked logins one
/// each), as docs/OPERATIONS.md lists them.
fn print_status(socket: &Path, health: &Health, status: &Status) {
    out!(
        "numhubd {} on {} (API v{})",
        health.daemon_version,
        socket.display(),
        health.api_version
    );
    print_health(status);
    out!("uptime        {} s", status.uptime_s);
    out!("schema        v{}", status.schema_version);
    out!("database      {} bytes", status.db_size_bytes);
    let jobs: Vec<String> = status
        .jobs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    out!(
        "jobs          {}",
        if jobs.is_empty() {
            "none".into()
        } else {
            jobs.join(" ")
        }
    );
    out!(
        "numhub        {}",
        match status.numhub_reachable {
            Some(true) => "reachable",
            Some(false) => "unreachable (the newest exchange failed to connect or got a 5xx)",
            None => "unknown (no exchange yet)",
        }
    );
    out!(
        "token         {}",
        match &status.token_expires_at {
            Some(t) => format!("expires {t}"),
            None => "none held".into(),
        }
    );
    print_watcher(status.watcher.as_ref());
    print_login_blocks(status);
    out!("connections   {}", status.connections);
    out!("anomalies     {}", status.sync_anomalies);
    print_cluster(status.cluster.as_ref());
}

/// `health  ok`, or one `degraded` line per cause (the database refusing writes).
fn print_health(status: &Status) {
    if status.degraded.is_empty() {
        out!("health        ok");
    }
    for d in &status.degraded {
        out!(
            "degraded      {} since {}: {}",
            cell(&d.component),
            d.since,
            d.cause
        );
    }
}

/// `login blocks  none`, or one line per blocked login with NumHub's reason.
fn print_login_blocks(status: &Status) {
    if status.blocked_logins.is_empty() {
        out!("login blocks  none");
    }
    for b in &status.blocked_logins {
        let code = b
            .status_code
            .map(|c| format!(" (HTTP {c})"))
            .unwrap_or_default();
        out!(
            "login blocked {} since {}{code}: {}",
            b.account,
            b.since,
            one_line(&b.reason)
        );
    }
}

/// The daemons sharing the store: who this is, who leads, and each node's last sign.
fn print_cluster(c: Option<&ClusterStatus>) {
    let Some(c) = c else {
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

/// The drop folder's watcher: its state, folder and backlog, then its newest
/// problem.
fn print_watcher(w: Option<&WatcherStatus>) {
    let Some(w) = w else {
        out!("watcher       none");
        return;
    };
    out!(
        "watcher       {} {} (backlog {})",
        cell(&w.state),
        one_line(&w.dir),
        w.backlog
    );
    out!("watcher error {}", one_line(&cell(&w.last_error)));
}
