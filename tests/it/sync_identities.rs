//! Display identities as NumHub's document has them (#14 items 3 and 4), end to end
//! with the real daemon and the sandbox on loopback: a change request sends back the
//! `isFeeChecked` NumHub holds (the sandbox reads a missing one as `false`, as the
//! document's non-nullable boolean does), a deactivation carries the identity's
//! `dirId` (the sandbox refuses one without it), and identity statuses in other
//! spellings map while an unknown one is counted, kept raw and never taken as active.

use serde_json::{json, Value};

use crate::rpc_client::ok;
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::settle;
use crate::sync_support::Harness;

const IDENTITY_FETCH: &str = "GET /api/v1/applications/newidentities/{NumhubIdentityId}";

/// A daemon syncing tenant 1 with a sandbox seeded with `seeded` applications (one
/// identity each); `before` runs against the sandbox before the daemon first syncs.
fn synced(seeded: usize, before: impl FnOnce(&Harness)) -> Harness {
    let mut h = Harness::new(3);
    h.sandbox.seed_applications(1001, seeded);
    before(&h);
    assert!(h.start(&[]));
    h.tenant(true);
    ok(&h.socket(), "sync.run", json!({}));
    assert!(
        wait_until(TIMEOUT, || identities(&h).len() == seeded),
        "never imported: {:?}\n{}",
        identities(&h),
        h.all_stderr()
    );
    h
}

fn identities(h: &Harness) -> Vec<Value> {
    crate::sync_support::identities(&h.socket())
}

/// The sandbox's record of the identity NumHub knows as `numhub_identity_id`.
fn at_numhub(h: &Harness, numhub_identity_id: &Value) -> Value {
    h.state()["identities"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|i| &i["numhubIdentityId"] == numhub_identity_id)
                .cloned()
        })
        .unwrap_or(Value::Null)
}

fn identity_fetches(h: &Harness) -> u64 {
    h.state()["requests"][IDENTITY_FETCH].as_u64().unwrap_or(0)
}

fn anomalies(h: &Harness) -> u64 {
    ok(&h.socket(), "daemon.status", json!({}))["sync_anomalies"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn an_identity_change_sends_back_the_is_fee_checked_numhub_holds() {
    let h = synced(1, |h| {
        let iid = h.state()["identities"][0]["numhubIdentityId"].clone();
        h.admin(
            &format!("/__sandbox/identities/{}", iid.as_str().unwrap_or("")),
            json!({"isFeeChecked": true}),
        );
    });
    let s = h.socket();
    let row = identities(&h)[0].clone();
    let (id, iid) = (row["id"].clone(), row["numhub_identity_id"].clone());
    assert_eq!(row["api_response"]["isFeeChecked"], true, "{row}");

    // Held from the identity's last whole answer: the update sends it back.
    ok(
        &s,
        "identity.update",
        json!({"tenant_id": 1, "id": id, "display_name": "NEW NAME"}),
    );
    settle(&h);
    let i = at_numhub(&h, &iid);
    assert_eq!(i["callerName"], "NEW NAME", "{i}");
    assert_eq!(
        i["isFeeChecked"], true,
        "the update cleared isFeeChecked: {i}"
    );

    // An application's identities do not carry isFeeChecked: a whole fetch of the
    // entity lays its view over the row's answer without losing it, so the next
    // change needs no read first.
    let entity = ok(&s, "entity.list", json!({"tenant_id": 1}))["items"][0]["id"].clone();
    ok(
        &s,
        "entity.refresh",
        json!({"tenant_id": 1, "entity_id": entity}),
    );
    let row = ok(&s, "identity.get", json!({"tenant_id": 1, "id": id}));
    assert_eq!(
        row["api_response"]["isFeeChecked"], true,
        "the application's view dropped isFeeChecked: {row}"
    );
    let fetches = identity_fetches(&h);
    ok(
        &s,
        "identity.numbers.add",
        json!({"tenant_id": 1, "id": id, "phone_numbers": ["+15559990001"]}),
    );
    settle(&h);
    let i = at_numhub(&h, &iid);
    assert_eq!(
        i["isFeeChecked"], true,
        "the change cleared isFeeChecked: {i}"
    );
    assert_eq!(
        identity_fetches(&h),
        fetches,
        "no read needed: {}",
        h.state()["requests"]
    );
    let row = ok(&s, "identity.get", json!({"tenant_id": 1, "id": id}));
    assert_eq!(
        row["api_response"]["isFeeChecked"], true,
        "the read is kept: {row}"
    );
}

#[test]
fn a_deactivation_carries_the_identitys_dir_id() {
    let mut h = synced(2, |_| {});
    let rows = identities(&h);
    for row in &rows {
        let i = at_numhub(&h, &row["numhub_identity_id"]);
        assert_eq!(
            row["dir_id"], i["dirId"],
            "the row keeps NumHub's dirId: {row}"
        );
    }
    let s = h.socket();
    ok(
        &s,
        "identity.deactivate",
        json!({"tenant_id": 1, "id": rows[0]["id"]}),
    );
    settle(&h);
    let i = at_numhub(&h, &rows[0]["numhub_identity_id"]);
    assert_eq!(i["status"], "Inactive", "{i}");

    // A row that does not know its dirId (written before numhubd kept it) has the
    // identity read from NumHub first. The tenant is off across the restart, so the
    // poller's first cycle cannot fetch the identity before the outbox needs it.
    h.tenant(false);
    h.stop();
    let forget = rows[1]["id"].as_str().unwrap_or("").to_string();
    let store = h.store();
    store.execute(&format!(
        "UPDATE numhub_identities SET dir_id = NULL, api_response = NULL WHERE id = '{forget}'"
    ));
    assert_eq!(
        store.count(&format!(
            "SELECT COUNT(*) FROM numhub_identities \
             WHERE id = '{forget}' AND dir_id IS NULL AND api_response IS NULL"
        )),
        1,
        "the dirId not forgotten"
    );
    assert!(h.start(&[]));
    let row = ok(
        &s,
        "identity.get",
        json!({"tenant_id": 1, "id": rows[1]["id"]}),
    );
    assert!(row["dir_id"].is_null(), "{row}");
    let fetches = identity_fetches(&h);
    ok(
        &s,
        "identity.deactivate",
        json!({"tenant_id": 1, "id": rows[1]["id"]}),
    );
    h.tenant(true);
    settle(&h);
    let i = at_numhub(&h, &rows[1]["numhub_identity_id"]);
    assert_eq!(i["status"], "Inactive", "{i}");
    assert_eq!(
        identity_fetches(&h),
        fetches + 1,
        "read once, first: {}",
        h.state()["requests"]
    );
    let row = ok(
        &s,
        "identity.get",
        json!({"tenant_id": 1, "id": rows[1]["id"]}),
    );
    assert_eq!(row["dir_id"], i["dirId"], "the read is kept: {row}");
}

#[test]
fn identity_statuses_in_other_spellings_map_and_unknown_ones_stay_visible() {
    let h = synced(2, |h| {
        h.admin(
            "/__sandbox/spellings/identity-status",
            json!({"Active": "ACTIVE"}),
        );
    });
    for row in identities(&h) {
        assert_eq!(row["status"], "active", "{row}");
        assert_eq!(row["api_response"]["status"], "ACTIVE", "{row}");
    }
    assert_eq!(anomalies(&h), 0);

    // A word the daemon does not know, on an identity it has never seen.
    h.admin(
        "/__sandbox/spellings/identity-status",
        json!({"Active": "Quarantined"}),
    );
    h.sandbox.seed_applications(1001, 1);
    ok(&h.socket(), "sync.run", json!({}));
    assert!(
        wait_until(TIMEOUT, || identities(&h).len() == 3),
        "{:?}\n{}",
        identities(&h),
        h.all_stderr()
    );
    let rows = identities(&h);
    let new = rows
        .iter()
        .find(|r| r["api_response"]["status"] == "Quarantined")
        .unwrap_or_else(|| panic!("the raw status is kept in api_response: {rows:?}"));
    assert_eq!(new["status"], "pending", "never guessed active: {new}");
    assert!(anomalies(&h) >= 1, "the unknown status is counted");
    let log = h.all_stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("identity status") && l.contains("Quarantined")),
        "the unknown status is logged:\n{log}"
    );
}
