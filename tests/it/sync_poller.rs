//! The poller, end to end with the real daemon and a sandbox on loopback: what NumHub
//! holds appears locally (applications with their EID, identities with their numbers),
//! changes made at NumHub follow and are pushed as events, and a value the replica
//! cannot hold keeps the last valid one.

use serde_json::json;

use crate::poller_support::world;
use crate::rpc_client::{ok, Ws};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::settle;

#[test]
fn numhub_state_appears_locally_and_changes_follow_as_events() {
    let w = world(3, "");
    w.enable_tenant();
    assert!(
        wait_until(TIMEOUT, || {
            let e = w.entities();
            e.len() == 3
                && e.iter()
                    .all(|e| e["status"] == "approved" && e["numhub_eid"].is_string())
        }),
        "entities: {:?}\n{}",
        w.entities(),
        w.daemon.stderr()
    );
    assert!(
        wait_until(TIMEOUT, || {
            let i = w.identities();
            i.len() == 3
                && i.iter()
                    .all(|i| i["phone_numbers"].as_array().map(Vec::len) == Some(2))
        }),
        "identities: {:?}",
        w.identities()
    );

    // Changes made at NumHub are pushed to a subscriber.
    let mut ws = w.rt.block_on(Ws::connect(&w.socket()));
    w.rt.block_on(
        ws.send(json!({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {}})),
    );
    let _ack = w.rt.block_on(ws.recv());
    let entity = w.entities()[0].clone();
    let nid = entity["numhub_entity_id"]
        .as_str()
        .expect("nid")
        .to_string();
    w.admin(
        &format!("/__sandbox/entities/{nid}/status"),
        json!({"status": "Rejected", "comment": "test"}),
    );
    let identity = w.identities()[1].clone();
    let iid = identity["numhub_identity_id"]
        .as_str()
        .expect("iid")
        .to_string();
    w.admin(
        &format!("/__sandbox/identities/{iid}"),
        json!({"callerName": "RENAMED BY NUMHUB"}),
    );
    let mut seen_entity = false;
    let mut seen_identity = false;
    while !(seen_entity && seen_identity) {
        let msg = w.rt.block_on(ws.recv());
        let event = &msg["params"]["result"];
        match event["type"].as_str().or(event["event"].as_str()) {
            Some("entity.status_changed") if event["status"] == "rejected" => seen_entity = true,
            Some("identity.changed") => seen_identity = true,
            _ => {}
        }
    }
    assert!(wait_until(TIMEOUT, || w
        .identities()
        .iter()
        .any(|i| i["display_name"] == "RENAMED BY NUMHUB")));

    // A caller name the replica cannot hold (over 32 characters) keeps the last one.
    w.admin(
        &format!("/__sandbox/identities/{iid}"),
        json!({"callerName": "X".repeat(40), "callReason": "changed too"}),
    );
    ok(&w.socket(), "sync.run", json!({}));
    assert!(wait_until(TIMEOUT, || w
        .daemon
        .stderr()
        .contains("NumHub sent a value the replica cannot hold")));
    assert!(w
        .identities()
        .iter()
        .any(|i| i["display_name"] == "RENAMED BY NUMHUB"));
    let status = ok(&w.socket(), "daemon.status", json!({}));
    assert!(
        status["sync_anomalies"].as_u64().unwrap_or(0) >= 1,
        "{status}"
    );
    assert_eq!(status["numhub_reachable"], true, "{status}");
    assert!(status["token_expires_at"].is_string(), "{status}");
}

/// `numhub_reachable` follows what NumHub answers: false while it answers only 503s
/// (a whole outage), true again once it answers.
#[test]
fn numhub_reachable_turns_false_through_an_outage_of_503s_and_back() {
    let w = world(1, "");
    w.enable_tenant();
    let reachable = || ok(&w.socket(), "daemon.status", json!({}))["numhub_reachable"].clone();
    assert!(
        wait_until(TIMEOUT, || reachable() == json!(true)),
        "before the outage: {}",
        reachable()
    );
    w.sandbox.set_faults(numhub_sandbox::Faults {
        p503: 1.0,
        ..numhub_sandbox::Faults::default()
    });
    assert!(
        wait_until(TIMEOUT, || reachable() == json!(false)),
        "NumHub answers only 503 and daemon.status says numhub_reachable {}",
        reachable()
    );
    w.sandbox.set_faults(numhub_sandbox::Faults::default());
    assert!(
        wait_until(TIMEOUT, || reachable() == json!(true)),
        "after the outage: {}",
        reachable()
    );
}

/// Issue 23 item 5: NumHub approves an application while its documents' uploads wait
/// (they failed on a 500 and their next try is a minute away): the replica shows
/// `approved` within a poll cycle, uploads still queued. A queued submit of another
/// application still wins over what NumHub reports of it (the local-change rule).
#[test]
fn numhubs_verdict_is_applied_while_uploads_are_queued() {
    use crate::sync_support::{create_entity, upload, write_pdf, Harness};
    use std::time::{Duration, Instant};
    let mut h = Harness::new(1);
    let cfg_path = h.dir.path().join("numhubd.toml");
    let cfg = std::fs::read_to_string(&cfg_path).expect("config");
    let cfg = cfg
        .replace("poll_interval_secs = 3600", "poll_interval_secs = 1")
        .replace(
            "retry_base_secs = 1\nretry_max_secs = 1",
            "retry_base_secs = 60\nretry_max_secs = 60",
        );
    std::fs::write(&cfg_path, cfg).expect("config");
    assert!(h.start(&[]), "start:\n{}", h.all_stderr());
    h.tenant(true);
    let socket = h.socket();
    let approved = create_entity(&socket, "Verdict Co", true).expect("created");
    let held = create_entity(&socket, "Held Co", false).expect("created");
    settle(&h);
    let get = |id: &str| ok(&socket, "entity.get", json!({"tenant_id": 1, "id": id}));
    let nid = get(&approved)["numhub_entity_id"]
        .as_str()
        .expect("at NumHub")
        .to_string();

    // Every NumHub call fails for a moment: the uploads and the submit fail once and
    // wait a minute for their next try.
    h.set_faults(numhub_sandbox::Faults {
        p500: 1.0,
        ..numhub_sandbox::Faults::default()
    });
    for i in 0..3 {
        let (path, _) = write_pdf(h.dir.path(), &format!("doc{i}.pdf"), 4096, i);
        upload(&socket, &approved, &path).expect("upload queued");
    }
    ok(
        &socket,
        "entity.submit",
        json!({"tenant_id": 1, "id": held, "wait_s": 0}),
    );
    let tried = |kind: &str| {
        h.jobs()
            .iter()
            .filter(|j| j["kind"] == kind)
            .any(|j| j["attempts"].as_i64().unwrap_or(0) >= 1 && j["state"] != "running")
    };
    assert!(
        wait_until(TIMEOUT, || tried("document.upload")
            && tried("entity.submit")),
        "{:?}",
        h.jobs()
    );
    h.set_faults(numhub_sandbox::Faults::default());

    h.admin(
        &format!("/__sandbox/entities/{nid}/status"),
        json!({"status": "Complete"}),
    );
    ok(&socket, "sync.run", json!({}));
    let asked = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || get(&approved)["status"]
            == "approved"),
        "NumHub approved it; the replica says {} with uploads queued\n{}",
        get(&approved)["status"],
        h.all_stderr()
    );
    eprintln!("approved in the replica {:?} after NumHub", asked.elapsed());
    // Read after the status, so they were queued while it was applied.
    let queued = h
        .jobs()
        .iter()
        .filter(|j| j["kind"] == "document.upload" && j["state"] != "done")
        .count();
    assert!(queued > 0, "the uploads drained first: {:?}", h.jobs());

    // The submit still queued wins over NumHub's "Saved" for that application.
    assert!(
        wait_until(TIMEOUT, || h
            .stderr_of(h.runs)
            .lines()
            .any(|l| l.contains("the local change wins") && l.contains(&held))),
        "no conflict logged\n{}",
        h.all_stderr()
    );
    assert_eq!(get(&held)["status"], "submitted", "{}", get(&held));
}
