//! NumHub's paged lists read by the real poller from a sandbox that pages otherwise than
//! asked (#14 items 3 and 5): a server that caps its pages below the size asked for and
//! one that ignores `pageNumber` both give the replica every application and identity,
//! in a bounded number of requests; an attestation-list status spelled in a way the
//! document's enum does not know still brings the application's change.

use serde_json::{json, Value};

use crate::poller_support::{requests, world_on, World};
use crate::rpc_client::ok;
use crate::support::{wait_until, TIMEOUT};

const ATTESTATION_LIST: &str = "GET /api/v1/application/attestation/{clientId}";
const IDENTITY_LIST: &str = "GET /api/v1/applications/newdisplayidentity";
const STATUS_REPORT: &str = "GET /api/v1/reports/status";

/// Waits for `n` approved entities with their EID and `n` identities with their two
/// numbers each.
fn wait_whole_replica(w: &World, n: usize) {
    assert!(
        wait_until(TIMEOUT, || {
            let e = w.entities();
            e.len() == n
                && e.iter()
                    .all(|e| e["status"] == "approved" && e["numhub_eid"].is_string())
        }),
        "{} of {n} entities\n{}",
        w.entities().len(),
        w.daemon.stderr()
    );
    assert!(
        wait_until(TIMEOUT, || {
            let i = w.identities();
            i.len() == n
                && i.iter()
                    .all(|i| i["phone_numbers"].as_array().map(Vec::len) == Some(2))
        }),
        "{} of {n} identities\n{}\n{}",
        w.identities().len(),
        w.sandbox.state()["requests"],
        w.daemon.stderr()
    );
}

/// The attestation list is read in the first (full) sweep only (the status counts
/// never move): at most what its `totalCount` allows plus one. The identity list is
/// read every cycle (one status report each): at most `per_cycle` pages a cycle.
fn assert_bounded(w: &World, attestation_pages: u64, per_cycle: u64) {
    let (lists, identity_lists, cycles) = (
        requests(w, ATTESTATION_LIST),
        requests(w, IDENTITY_LIST),
        requests(w, STATUS_REPORT),
    );
    assert!(
        (1..=attestation_pages).contains(&lists),
        "{lists} attestation pages"
    );
    assert!(
        identity_lists <= per_cycle * cycles,
        "{identity_lists} identity pages over {cycles} cycles"
    );
}

/// The poller against a sandbox paging as `sandbox` says, over `n` applications.
fn read_whole(sandbox: numhub_sandbox::SandboxConfig, n: usize, attestation_pages: u64) {
    let w = world_on(sandbox, n, "");
    w.enable_tenant();
    wait_whole_replica(&w, n);
    assert_bounded(&w, attestation_pages, 3);
}

#[test]
fn a_numhub_capping_pages_below_the_size_asked_is_read_whole() {
    // 20 + 20 + 5 of a totalCount of 45: three pages, four allowed.
    let capped = numhub_sandbox::SandboxConfig {
        max_page_size: Some(20),
        ..Default::default()
    };
    read_whole(capped, 45, 4);
}

#[test]
fn a_numhub_ignoring_page_numbers_is_read_whole_without_looping() {
    // Page 1 (100), "page 2" = page 1 again, then page 1 holding everything.
    let ignoring = numhub_sandbox::SandboxConfig {
        ignore_page_number: true,
        ..Default::default()
    };
    read_whole(ignoring, 120, 3);
}

#[test]
fn an_unknown_list_status_still_brings_the_applications_change() {
    let w = world_on(numhub_sandbox::SandboxConfig::default(), 0, "");
    w.admin(
        "/__sandbox/seed",
        json!({"client_id": 1001, "count": 1, "status": "InProgress"}),
    );
    w.enable_tenant();
    assert!(
        wait_until(TIMEOUT, || w
            .entities()
            .first()
            .is_some_and(|e| e["status"] == "pending_vetting")),
        "{:?}\n{}",
        w.entities(),
        w.daemon.stderr()
    );
    let entity = w.entities()[0].clone();
    let nid = entity["numhub_entity_id"]
        .as_str()
        .expect("nid")
        .to_string();
    assert_eq!(entity["numhub_eid"], Value::Null, "{entity}");

    // NumHub's list spells statuses its own way now; the application completes.
    w.admin(
        "/__sandbox/spellings/attestation-status",
        json!({"InProgress": "In Progress", "Complete": "ACTIVE"}),
    );
    w.admin(
        &format!("/__sandbox/entities/{nid}/status"),
        json!({"status": "Complete"}),
    );
    ok(&w.socket(), "sync.run", json!({}));
    assert!(
        wait_until(TIMEOUT, || w.entities().first().is_some_and(|e| {
            e["status"] == "approved"
                && e["vetting_status"] == "approved"
                && e["numhub_eid"].is_string()
        })),
        "{:?}\n{}",
        w.entities(),
        w.daemon.stderr()
    );
    let status = ok(&w.socket(), "daemon.status", json!({}));
    assert!(
        status["sync_anomalies"].as_u64().unwrap_or(0) >= 1,
        "{status}"
    );
    assert!(
        w.daemon.stderr().contains("attestation list status"),
        "{}",
        w.daemon.stderr()
    );
}
