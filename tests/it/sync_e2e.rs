//! The whole flow with the real daemon and the sandbox: a tenant, a brand and an
//! application created over the RPC are submitted to NumHub by the outbox; NumHub's
//! vetting clock moves on; the poller brings the approval, the EID and the display
//! identity with its number back, linked to the brand's number — each step pushed to
//! a subscriber.

use serde_json::json;

use crate::poller_support::world;
use crate::rpc_client::{ok, Ws};
use crate::support::{wait_until, TIMEOUT};

#[test]
fn an_application_goes_from_the_rpc_to_approved_with_its_identity() {
    let w = world(0, "");
    w.enable_tenant();
    let s = w.socket();
    let mut ws = w.rt.block_on(Ws::connect(&s));
    w.rt.block_on(
        ws.send(json!({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {}})),
    );
    let _ack = w.rt.block_on(ws.recv());

    let brand = ok(&s, "brand.upsert", json!({"tenant_id": 1, "name": "Acme"}));
    let brand_id = brand["id"].as_i64().expect("brand id");
    ok(
        &s,
        "brand.phone_numbers.set",
        json!({"tenant_id": 1, "brand_id": brand_id, "phone_numbers": ["+15551230001"]}),
    );
    let entity = ok(
        &s,
        "entity.create",
        json!({
            "tenant_id": 1, "brand_id": brand_id, "entity_type": "enterprise",
            "company_name": "Acme Inc", "submit": true,
            "application": {"displayIdentityInformation": {"displayIdentities": [
                {"phoneNumbers": ["+15551230001"], "callerName": "ACME SUPPORT", "callReason": "Support"}
            ]}}
        }),
    );
    let id = entity["id"].as_str().expect("id").to_string();
    assert_eq!(entity["status"], "submitted");
    let get = || ok(&s, "entity.get", json!({"tenant_id": 1, "id": id}));

    // The outbox sends it: NumHub's id arrives, and NumHub holds exactly one.
    assert!(
        wait_until(TIMEOUT, || get()["numhub_entity_id"].is_string()),
        "never sent: {}\n{}",
        get(),
        w.daemon.stderr()
    );
    let entities = w.sandbox.state()["entities"].clone();
    assert_eq!(entities.as_array().map(Vec::len), Some(1), "{entities}");

    // NumHub vets it; the poller brings the outcome back.
    w.sandbox.advance_clock(400);
    ok(&s, "sync.run", json!({}));
    assert!(
        wait_until(TIMEOUT, || {
            let e = get();
            e["status"] == "approved" && e["numhub_eid"].is_string() && e["approved_at"].is_string()
        }),
        "not approved: {}",
        get()
    );
    // The poller records the application, then its identities: the identity follows
    // the approval by one commit.
    let list = || ok(&s, "identity.list", json!({"tenant_id": 1}))["items"].clone();
    assert!(
        wait_until(TIMEOUT, || list()[0].is_object()),
        "no identity: {}",
        list()
    );
    let identities = list();
    assert_eq!(identities[0]["phone_numbers"], json!(["+15551230001"]));
    assert_eq!(identities[0]["display_name"], "ACME SUPPORT");
    let numbers =
        ok(&s, "brand.get", json!({"tenant_id": 1, "id": brand_id}))["phone_numbers"].clone();
    assert_eq!(numbers[0]["identity_id"], identities[0]["id"], "{numbers}");

    // Each step reached the subscriber.
    let mut kinds = Vec::new();
    while !(kinds
        .iter()
        .any(|k: &String| k == "entity.status_changed:approved")
        && kinds.iter().any(|k| k.starts_with("identity.changed")))
    {
        let msg = w.rt.block_on(ws.recv());
        let e = &msg["params"]["result"];
        let kind = e["type"]
            .as_str()
            .or(e["event"].as_str())
            .unwrap_or("")
            .to_string();
        kinds.push(format!("{kind}:{}", e["status"].as_str().unwrap_or("")));
    }
    assert!(
        kinds.iter().any(|k| k.starts_with("entity.status_changed")),
        "{kinds:?}"
    );
}
