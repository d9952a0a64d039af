//! NumHub's review feedback, end to end with the real daemon, its socket and a sandbox
//! on loopback: a flagged application shows its sections and comments in
//! `entity.get` and one `entity.flagged` event within a poll cycle, `vetting_status`
//! reads `in_review` while the review stands and follows the status again once NumHub
//! stops alerting, `numhubctl entity show` prints it, and alerts that name no
//! application or several are anomalies.

use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

use crate::poller_support::{cycles, requests, world, World};
use crate::rpc_client::{ok, Ws};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::create_entity;

impl World {
    fn entity_by_name(&self, name: &str) -> Value {
        let found = self
            .entities()
            .into_iter()
            .find(|e| e["company_name"] == name);
        found.unwrap_or(Value::Null)
    }

    fn get(&self, id: &str) -> Value {
        ok(
            &self.socket(),
            "entity.get",
            json!({"tenant_id": 1, "id": id}),
        )
    }

    fn unflag(&self, nid: &str) {
        let url = format!("{}/__sandbox/entities/{nid}/flag", self.sandbox.base_url());
        let status = self
            .rt
            .block_on(async { reqwest::Client::new().delete(url).send().await })
            .expect("unflag")
            .status();
        assert!(status.is_success(), "{status}");
    }
}

/// The next event of `kind` (skipping others), with the ones of `other_kind` seen on
/// the way.
fn next_event(w: &World, ws: &mut Ws, kind: &str, other_kind: &str) -> (Value, usize) {
    let mut others = 0;
    loop {
        let msg = w.rt.block_on(ws.recv());
        let event = msg["params"]["result"].clone();
        match event["type"].as_str() {
            Some(k) if k == kind => return (event, others),
            Some(k) if k == other_kind => others += 1,
            _ => {}
        }
    }
}

#[test]
fn a_flagged_application_shows_its_review_and_one_event_within_a_poll_cycle() {
    let w = world(0, "");
    w.admin(
        "/__sandbox/seed",
        json!({"client_id": 1001, "count": 1, "status": "PendingReview"}),
    );
    w.enable_tenant();
    assert!(wait_until(TIMEOUT, || !w
        .entity_by_name("Seeded Company 1")
        .is_null()));
    let entity = w.entity_by_name("Seeded Company 1");
    let id = entity["id"].as_str().expect("id").to_string();
    let nid = entity["numhub_entity_id"]
        .as_str()
        .expect("nid")
        .to_string();
    assert_eq!(entity["vetting_status"], "pending");
    assert!(w.get(&id)["review"].is_null());

    let mut ws = w.rt.block_on(Ws::connect(&w.socket()));
    w.rt.block_on(
        ws.send(json!({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {}})),
    );
    let _ack = w.rt.block_on(ws.recv());
    let flagged_since = Instant::now();
    w.admin(
        &format!("/__sandbox/entities/{nid}/flag"),
        json!({"message": "Please correct two sections", "comments": [
            {"sectionNumber": 2, "sectionName": "Business Entity Details", "comments": "Address does not match the registry"},
            {"sectionNumber": 3, "sectionName": "Business Identity Details", "comments": "EIN document unreadable"}]}),
    );
    let (event, _) = next_event(&w, &mut ws, "entity.flagged", "");
    // One poll cycle is at most twice the 1-second interval; the margin is for a
    // loaded machine, far below the full sweep (an hour) that would find it anyway.
    assert!(flagged_since.elapsed().as_secs() < 10, "{event}");
    assert_eq!(event["entity_id"], id.as_str());
    assert_eq!(event["numhub_entity_id"], nid.as_str());
    assert_eq!(event["message"], "Please correct two sections");
    assert_eq!(
        event["flagged_comments"][1]["comments"],
        "EIN document unreadable"
    );

    let got = w.get(&id);
    assert_eq!(got["vetting_status"], "in_review", "{got}");
    assert_eq!(got["status"], "pending_vetting", "{got}");
    let review = &got["review"];
    assert_eq!(review["message"], "Please correct two sections");
    assert_eq!(
        review["flagged_comments"],
        json!([
            {"section_number": 2, "section_name": "Business Entity Details", "comments": "Address does not match the registry"},
            {"section_number": 3, "section_name": "Business Identity Details", "comments": "EIN document unreadable"}
        ])
    );
    assert!(review["flagged_at"].is_string());

    // numhubctl prints each flagged section and its comment.
    let out = Command::new(env!("CARGO_BIN_EXE_numhubctl"))
        .arg("--socket")
        .arg(w.socket())
        .args(["entity", "show", &id, "--tenant", "1"])
        .output()
        .expect("numhubctl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("review") && text.contains("Please correct two sections"),
        "{text}"
    );
    assert!(
        text.contains("section 3 Business Identity Details: EIN document unreadable"),
        "{text}"
    );

    // Quiet cycles with the alert still listed fetch no comments again.
    let flag_route = "GET /api/v1/notifications/{NumhubEntityId}/flag";
    cycles(&w, 1);
    let fetched = requests(&w, flag_route);
    cycles(&w, 4);
    assert_eq!(requests(&w, flag_route), fetched);

    // NumHub stops alerting: the review goes, vetting_status follows the status again
    // (pushed as a status change, after the one to in_review the flag brought), and no
    // second entity.flagged was published for the one flag.
    w.unflag(&nid);
    let mut flagged_again = 0;
    loop {
        let (e, n) = next_event(&w, &mut ws, "entity.status_changed", "entity.flagged");
        flagged_again += n;
        if e["entity_id"] == id.as_str() && e["vetting_status"] == "pending" {
            break;
        }
    }
    assert_eq!(flagged_again, 0);
    let got = w.get(&id);
    assert!(got["review"].is_null(), "{got}");
    assert_eq!(got["vetting_status"], "pending", "{got}");
}

#[test]
fn alerts_are_matched_by_client_and_name_and_one_matching_none_or_several_is_an_anomaly() {
    let w = world(1, "");
    w.enable_tenant();
    // Two applications of one name at NumHub (created through the daemon).
    for _ in 0..2 {
        assert!(create_entity(&w.socket(), "Twin Co", true).is_some());
    }
    // Both sent, and NumHub's seeded application imported by a poll.
    assert!(wait_until(TIMEOUT, || {
        let at_numhub = |name: &str| {
            w.entities()
                .into_iter()
                .filter(|e| e["company_name"] == name && e["numhub_entity_id"].is_string())
                .count()
        };
        at_numhub("Twin Co") == 2 && at_numhub("Seeded Company 1") == 1
    }));
    let twin = w.entity_by_name("Twin Co");
    let seeded = w.entity_by_name("Seeded Company 1");
    let flag = |nid: &Value, extra: Value| {
        let mut body = json!({"message": "m", "comments": [
            {"sectionNumber": 2, "sectionName": "A", "comments": "first"},
            {"sectionNumber": 5, "sectionName": "B", "comments": "second"}]});
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        w.admin(
            &format!("/__sandbox/entities/{}/flag", nid.as_str().expect("nid")),
            body,
        );
    };
    let anomalies = || {
        ok(&w.socket(), "daemon.status", json!({}))["sync_anomalies"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = anomalies();
    flag(&twin["numhub_entity_id"], json!({}));
    flag(
        &seeded["numhub_entity_id"],
        json!({"alertCompanyName": "Nobody Of That Name"}),
    );
    assert!(wait_until(TIMEOUT, || anomalies() >= before + 2));
    cycles(&w, 4);
    // Counted once each while they stay listed, and nothing kept for either.
    assert_eq!(anomalies(), before + 2);
    for e in w.entities() {
        let id = e["id"].as_str().expect("id");
        assert!(w.get(id)["review"].is_null(), "{e}");
    }

    // Another spelling of the name, a clientId of 0 and one alert per section are one
    // review of the one application.
    flag(
        &seeded["numhub_entity_id"],
        json!({"alertCompanyName": "  SEEDED   company 1 ", "alertClientId": 0, "alertPerSection": true}),
    );
    let id = seeded["id"].as_str().expect("id");
    assert!(wait_until(TIMEOUT, || !w.get(id)["review"].is_null()));
    let review = w.get(id)["review"].clone();
    assert_eq!(review["message"], "A: m\nB: m", "{review}");
    assert_eq!(review["flagged_comments"][1]["comments"], "second");
    // A decided application keeps its vetting status under review.
    assert_eq!(w.get(id)["vetting_status"], "approved");

    // An alert for another client is that client's tenant's business.
    flag(
        &seeded["numhub_entity_id"],
        json!({"alertClientId": 4242, "message": "not ours"}),
    );
    assert!(wait_until(TIMEOUT, || w.get(id)["review"].is_null()));
}
