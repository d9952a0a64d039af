//! `sync.run {"tenant_id": T}` polls T only: two tenants on two NumHub clients of
//! one sandbox account, the real daemon, and the audit rows of each tenant counted.

use serde_json::{json, Value};

use crate::support::{base_config, wait_until, TIMEOUT};

/// The tenant's `GET /reports/status` exchanges: one per poll of that tenant.
fn polls(socket: &std::path::Path, tenant: i64) -> usize {
    let logs = crate::rpc_client::ok(
        socket,
        "log.list",
        json!({"tenant_id": tenant, "limit": 500}),
    );
    logs["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|l| {
                    l["endpoint"]
                        .as_str()
                        .is_some_and(|e| e.contains("reports/status"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn sync_run_with_a_tenant_polls_that_tenant_only() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let user = crate::sync_support::two_client_demo();
    let sandbox = rt
        .block_on(numhub_sandbox::start(
            "127.0.0.1:0".parse().expect("addr"),
            numhub_sandbox::SandboxConfig {
                rate_limit: 0,
                users: vec![user],
                ..Default::default()
            },
        ))
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("password"), "demo-password\n").expect("password");
    // A poll interval long enough that only sync.run polls during the test.
    let config = base_config("info").replace(
        "base_url = \"http://127.0.0.1:9\"\nmax_attempts = 1",
        &format!(
            "base_url = \"{}\"\nemail = \"demo@numhub.test\"\npassword_file = \"password\"\n\
             [sync]\npoll_interval_secs = 3600\nfull_sweep_secs = 3600",
            sandbox.base_url()
        ),
    );
    let d = crate::support::start_in(dir, &config, &[]);
    let socket = d.dir.path().join("numhubd.sock");
    for (id, client) in [(1, "1001"), (2, "1002")] {
        crate::rpc_client::add_numhub_tenant(&socket, id, &format!("T{id}"), client, true);
    }
    crate::rpc_client::ok(&socket, "sync.run", json!({}));
    assert!(
        wait_until(TIMEOUT, || polls(&socket, 1) >= 1 && polls(&socket, 2) >= 1),
        "{}",
        d.stderr()
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (one, two) = (polls(&socket, 1), polls(&socket, 2));

    let started: Value = crate::rpc_client::ok(&socket, "sync.run", json!({"tenant_id": 2}));
    assert_eq!(started, json!({"started": true, "tenant_id": 2}));
    assert!(
        wait_until(TIMEOUT, || polls(&socket, 2) > two),
        "{}",
        d.stderr()
    );
    // Tenant 1 comes first in a cycle over all: had it been polled, its row is there.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(polls(&socket, 1), one, "tenant 1 was polled too");
}
