//! The poller's world: a sandbox seeded with applications (rate limit off) on a
//! runtime of its own, a daemon polling it every second as the demo account, and
//! what the tests read of it: the sandbox's requests per route, poll cycles.

use serde_json::{json, Value};

use crate::rpc_client::{add_numhub_tenant, ok, socket_of, start_rpc_daemon};
use crate::support::{wait_until, Daemon, TIMEOUT};
use crate::sync_support::{admin, identities, start_sandbox};

/// A sandbox (unlimited rate) on a runtime of its own, and a daemon pointed at it
/// with the demo account, no pacing and a 1-second poll.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub sandbox: numhub_sandbox::Sandbox,
    pub daemon: Daemon,
}

pub fn world(seeded: usize, extra: &str) -> World {
    world_on(numhub_sandbox::SandboxConfig::default(), seeded, extra)
}

/// As [`world`], on a sandbox configured as `sandbox` (its rate limit off).
pub fn world_on(sandbox: numhub_sandbox::SandboxConfig, seeded: usize, extra: &str) -> World {
    let (rt, sandbox) = start_sandbox(numhub_sandbox::SandboxConfig {
        rate_limit: 0,
        ..sandbox
    });
    sandbox.seed_applications(1001, seeded);
    let password = tempfile::NamedTempFile::new().expect("password file");
    std::fs::write(password.path(), "demo-password\n").expect("write password");
    let (_, password_path) = password.keep().expect("keep");
    let config = format!(
        "[sync]\npoll_interval_secs = 1\nfull_sweep_secs = 3600\noutbox_poll_ms = 50\n\
         retry_base_secs = 1\nretry_max_secs = 2\n{extra}"
    );
    let daemon = start_rpc_daemon(&config);
    // start_rpc_daemon's base config points NumHub at a closed port; aim it at the
    // sandbox by rewriting the config and restarting.
    let text = std::fs::read_to_string(daemon.config_path()).expect("config");
    let text = text
        .replace(
            "base_url = \"http://127.0.0.1:9\"",
            &format!(
                "base_url = \"{}\"\nemail = \"demo@numhub.test\"\npassword_file = \"{}\"",
                sandbox.base_url(),
                password_path.display()
            ),
        )
        // The sandbox is unlimited, so the daemon need not pace itself either.
        .replace("max_attempts = 1", "max_attempts = 3\nrate_limit = 0");
    let daemon = daemon.restart_with(&text);
    World {
        rt,
        sandbox,
        daemon,
    }
}

impl World {
    pub fn socket(&self) -> std::path::PathBuf {
        socket_of(&self.daemon)
    }

    /// Calls a sandbox admin route (outside auth and rate limits).
    pub fn admin(&self, path: &str, body: Value) {
        admin(&self.rt, &self.sandbox, path, body);
    }

    pub fn enable_tenant(&self) {
        add_numhub_tenant(&self.socket(), 1, "Demo", "1001", true);
        ok(&self.socket(), "sync.run", json!({}));
    }

    pub fn entities(&self) -> Vec<Value> {
        ok(
            &self.socket(),
            "entity.list",
            json!({"tenant_id": 1, "limit": 500}),
        )["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn identities(&self) -> Vec<Value> {
        identities(&self.socket())
    }
}

/// Requests the sandbox saw on one route.
pub fn requests(w: &World, route: &str) -> u64 {
    w.sandbox.state()["requests"][route].as_u64().unwrap_or(0)
}

/// Waits until `n` more poll cycles have begun; each cycle starts with one status
/// report, so the `n - 1` before the last have finished, identity sweep included.
pub fn cycles(w: &World, n: u64) {
    const STATUS_REPORT: &str = "GET /api/v1/reports/status";
    let start = requests(w, STATUS_REPORT);
    assert!(
        wait_until(TIMEOUT, || requests(w, STATUS_REPORT) >= start + n),
        "the poller stopped cycling\n{}",
        w.daemon.stderr()
    );
}
