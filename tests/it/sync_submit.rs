//! `entity.submit` end to end, the way NumHub's document says to submit: the real
//! daemon sends `PUT /application/{id}` with `status: Submit` and the application as
//! the sandbox holds it; the sandbox, like NumHub's PUT, takes the body as the whole
//! application, so an identity the body left out would be gone. A redo after a crash
//! is not sent twice.

use serde_json::{json, Value};

use crate::poller_support::{requests, world, World};
use crate::rpc_client::{add_tenant, call, ok};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::create_with_identities;
use crate::sync_support::{settle, Harness};

const UPDATE: &str = "PUT /api/v1/application/{NumhubEntityId}";
const ATTESTATION: &str = "PUT /api/v1/application/attestation/{NumhubEntityId}";

/// NumHub's id of the entity, once the outbox has linked it.
fn linked(socket: &std::path::Path, id: &str) -> String {
    let get = || ok(socket, "entity.get", json!({"tenant_id": 1, "id": id}));
    assert!(
        wait_until(TIMEOUT, || get()["numhub_entity_id"].is_string()),
        "never linked: {}",
        get()
    );
    get()["numhub_entity_id"].as_str().expect("nid").to_string()
}

/// `entity.submit`, its job waited for; the application as NumHub then holds it.
fn submit(w: &World, id: &str, nid: &str) -> Value {
    let s = w.socket();
    let sub = ok(&s, "entity.submit", json!({"tenant_id": 1, "id": id}));
    assert_eq!(sub["status"], "submitted");
    let done = wait_until(TIMEOUT, || {
        jobs_of(&s)
            .iter()
            .any(|j| j["kind"] == "entity.submit" && j["state"] == "done")
    });
    assert!(done, "{:?}\n{}", jobs_of(&s), w.daemon.stderr());
    numhub_application(w, nid)
}

fn jobs_of(socket: &std::path::Path) -> Vec<Value> {
    ok(socket, "jobs.list", json!({"tenant_id": 1, "limit": 500}))["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `GET /application/{id}` at the sandbox, as the demo account.
fn numhub_application(w: &World, nid: &str) -> Value {
    let base = w.sandbox.base_url();
    w.rt.block_on(async {
        let c = reqwest::Client::new();
        let token: Value = c
            .post(format!("{base}/api/v1/authorize/token"))
            .query(&[("Email", "demo@numhub.test"), ("Password", "demo-password")])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        c.get(format!("{base}/api/v1/application/{nid}"))
            .bearer_auth(token["accessToken"].as_str().unwrap_or_default())
            .header("client-id", "1001")
            .send()
            .await
            .expect("get")
            .json::<Value>()
            .await
            .expect("get json")["result"]
            .clone()
    })
}

/// (numhubIdentityId, callerName) of each display identity NumHub shows.
fn shown_identities(app: &Value) -> Vec<(Value, Value)> {
    let mut out: Vec<(Value, Value)> = app["displayIdentityInformation"]["displayIdentities"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|i| (i["numhubIdentityId"].clone(), i["callerName"].clone()))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|(_, name)| name.to_string());
    out
}

fn sandbox_entity(w: &World, nid: &str) -> Value {
    w.sandbox.state()["entities"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["numhubEntityId"] == nid).cloned())
        .unwrap_or(Value::Null)
}

/// The sandbox and the daemon syncing tenant 1, with one application (two display
/// identities) linked at NumHub: (world, socket, local id, NumHub's id).
fn world_with_entity(name: &str, submit: bool) -> (World, std::path::PathBuf, String, String) {
    let w = world(0, "");
    w.enable_tenant();
    let s = w.socket();
    let id = create_with_identities(&s, name, submit);
    let nid = linked(&s, &id);
    (w, s, id, nid)
}

#[test]
fn a_submit_carries_every_display_identity() {
    let (w, _, id, nid) = world_with_entity("Draft Identities LLC", false);
    let before = shown_identities(&numhub_application(&w, &nid));
    assert_eq!(before.len(), 2, "{before:?}");

    let app = submit(&w, &id, &nid);
    assert_eq!(app["status"], "Submitted", "{app}");
    assert_eq!(shown_identities(&app), before, "{app}");
    assert_eq!(
        app["businessEntityDetails"]["legalBusinessName"],
        "Draft Identities LLC"
    );
    assert_eq!((requests(&w, UPDATE), requests(&w, ATTESTATION)), (1, 0));
}

/// The case: identities NumHub has given ids (vetted once), then a rejection;
/// `entity.submit` resubmits, and NumHub still holds every identity, by its id.
#[test]
fn a_resubmit_keeps_the_identities_numhub_gave_ids() {
    let (w, s, id, nid) = world_with_entity("Vetted Identities LLC", true);
    let get = || ok(&s, "entity.get", json!({"tenant_id": 1, "id": id}));

    // Vetted: the identities are live at NumHub, with ids, and in the replica.
    w.sandbox.advance_clock(400);
    ok(&s, "sync.run", json!({}));
    assert!(
        wait_until(TIMEOUT, || get()["status"] == "approved"
            && w.identities().len() == 2),
        "{}\n{:?}",
        get(),
        w.identities()
    );
    let before = shown_identities(&numhub_application(&w, &nid));
    assert!(before.iter().all(|(i, _)| i.is_string()), "{before:?}");
    let live = sandbox_entity(&w, &nid)["identities"].clone();
    assert_eq!(live.as_array().map(Vec::len), Some(2), "{live}");

    // NumHub rejects it; the poller brings that back; the operator resubmits.
    w.admin(
        &format!("/__sandbox/entities/{nid}/status"),
        json!({"status": "Rejected", "comment": "logo"}),
    );
    ok(&s, "sync.run", json!({}));
    assert!(
        wait_until(TIMEOUT, || get()["status"] == "rejected"),
        "{}",
        get()
    );
    let app = submit(&w, &id, &nid);
    assert_eq!(app["status"], "Resubmitted", "{app}");
    assert_eq!(shown_identities(&app), before, "every identity, by its id");
    assert_eq!(sandbox_entity(&w, &nid)["identities"], live);
    assert_eq!((requests(&w, UPDATE), requests(&w, ATTESTATION)), (1, 0));

    // Vetted again: the same identities, none added.
    w.sandbox.advance_clock(400);
    assert_eq!(numhub_application(&w, &nid)["status"], "Complete");
    assert_eq!(shown_identities(&numhub_application(&w, &nid)), before);
    assert_eq!(
        w.sandbox.state()["identities"].as_array().map(Vec::len),
        Some(2)
    );
}

/// A crash between NumHub's answer and the local commit leaves the submit to be
/// redone; the redo reads the application, sees it submitted, and does not send the
/// submit again.
#[test]
fn a_submit_redone_after_a_crash_is_not_sent_twice() {
    let mut h = Harness::syncing(3);
    let s = h.socket();
    let id = create_with_identities(&s, "Crash Submit LLC", false);
    linked(&s, &id);
    settle(&h);

    // Held back while queued, so the armed kill point meets the submit.
    h.tenant(false);
    ok(&s, "entity.submit", json!({"tenant_id": 1, "id": id}));
    h.kill9();
    assert!(h.start(&[(numhubd::killpoint::ENV, "after_send:1")]));
    h.enable_tenant_racing_a_kill();
    assert!(h.wait_exit(TIMEOUT), "the kill point never fired");
    assert!(h
        .stderr_of(h.runs)
        .contains("kill point after_send reached"));
    let st = h.state();
    assert_eq!(
        st["entities"][0]["status"], "Submitted",
        "sent before the kill"
    );
    assert_eq!(st["requests"][UPDATE], 1);

    assert!(h.start(&[]));
    settle(&h);
    assert_eq!(h.state()["requests"][UPDATE], 1, "not sent again");
    assert!(h
        .stderr_of(h.runs)
        .contains("NumHub already holds the application as submitted; not resending"));
    let e = ok(&s, "entity.get", json!({"tenant_id": 1, "id": id}));
    assert!(e["submitted_at"].is_string(), "{e}");
    h.stop();
}

/// `entity.update` takes NumHub's update model (identity ids, `applicationId`,
/// `modifiedSections`), which a create does not; it refuses a uuid that is not one
/// and `status: Submit` (entity.submit's), naming the field and queueing nothing.
#[test]
fn entity_update_takes_the_update_model() {
    let d = crate::rpc_client::start_rpc_daemon("");
    let s = crate::rpc_client::socket_of(&d);
    add_tenant(&s, 1, "Acme");
    let e = ok(
        &s,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": "Update Model LLC", "application": {}, "submit": false}),
    );
    let id = e["id"].as_str().expect("id");
    let with_id = |identity_id: &str, status: &str| {
        json!({"applicationId": "BC-00000001", "modifiedSections": ["displayIdentityInformation"],
            "status": status,
            "displayIdentityInformation": {"displayIdentities": [
                {"numhubIdentityId": identity_id, "phoneNumbers": ["818-444-5555"], "callerName": "ACME"}]}})
    };
    let known = "0b7b4c1e-58c4-4d0e-9a54-0d1e7b6f1a11";
    let u = ok(
        &s,
        "entity.update",
        json!({"tenant_id": 1, "id": id, "application": with_id(known, "Saved")}),
    );
    assert_eq!(u["sync"]["kind"], "entity.update", "{u}");

    let refused = |method: &str, params: Value, field: &str| {
        let before = jobs_of(&s).len();
        let v = call(&s, method, params);
        assert_eq!(v.pointer("/error/code"), Some(&json!(-32602)), "{v}");
        assert!(v.to_string().contains(field), "{field} not named: {v}");
        assert_eq!(jobs_of(&s).len(), before, "nothing queued");
    };
    let identity_field =
        "application.displayIdentityInformation.displayIdentities[0].numhubIdentityId";
    refused(
        "entity.update",
        json!({"tenant_id": 1, "id": id, "application": with_id("nh-1", "Saved")}),
        identity_field,
    );
    refused(
        "entity.update",
        json!({"tenant_id": 1, "id": id, "application": with_id(known, "Submit")}),
        "application.status",
    );
    refused(
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": "X",
               "application": {"displayIdentityInformation": {"displayIdentities": [{"numhubIdentityId": known}]}},
               "submit": false}),
        identity_field,
    );
}
