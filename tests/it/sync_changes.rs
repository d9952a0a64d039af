//! The outbox's change jobs end to end (the real daemon, its socket, the sandbox on
//! loopback): an application update and a document removal, and every identity
//! change, each reach NumHub and the local rows follow.

use serde_json::{json, Value};

use crate::rpc_client::{call, ok};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{application, create_entity, settle, upload, write_pdf, Harness};

#[test]
fn an_update_and_a_document_removal_reach_numhub() {
    let mut h = Harness::syncing(3);
    let s = h.socket();
    let id = create_entity(&s, "Before Rename LLC", false).expect("create");
    let (path, _) = write_pdf(h.dir.path(), "loa.pdf", 20_000, 7);
    let doc = upload(&s, &id, &path).expect("upload");
    settle(&h);

    let updated = ok(
        &s,
        "entity.update",
        json!({"tenant_id": 1, "id": id, "application": application("After Rename LLC")}),
    );
    assert_eq!(updated["sync"]["kind"], "entity.update", "{updated}");
    ok(&s, "document.delete", json!({"tenant_id": 1, "id": doc}));
    settle(&h);

    let st = h.state();
    let names: Vec<&Value> = st["entities"]
        .as_array()
        .map(|a| a.iter().map(|e| &e["companyName"]).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [&json!("After Rename LLC")],
        "one application, renamed"
    );
    assert_eq!(st["documents"], json!([]), "the document is gone at NumHub");
    let gone = call(&s, "document.get", json!({"tenant_id": 1, "id": doc}));
    assert_eq!(gone["error"]["code"], -32020, "and locally: {gone}");
    h.stop();
}

#[test]
fn identity_changes_reach_numhub() {
    let mut h = Harness::new(3);
    h.sandbox.seed_applications(1001, 1);
    assert!(h.start(&[]));
    h.tenant(true);
    let s = h.socket();
    let identities = || ok(&s, "identity.list", json!({"tenant_id": 1}))["items"].clone();
    ok(&s, "sync.run", json!({}));
    assert!(
        wait_until(TIMEOUT, || identities()[0]["id"].is_string()),
        "never imported: {}\n{}",
        identities(),
        h.all_stderr()
    );
    let id = identities()[0]["id"].clone();
    let at_numhub = || h.state()["identities"][0].clone();
    let added = "+15559990001";

    ok(
        &s,
        "identity.update",
        json!({"tenant_id": 1, "id": id, "display_name": "NEW NAME", "call_reason": "Billing"}),
    );
    settle(&h);
    let i = at_numhub();
    assert_eq!(
        (&i["callerName"], &i["callReason"]),
        (&json!("NEW NAME"), &json!("Billing")),
        "{i}"
    );
    assert_eq!(identities()[0]["display_name"], "NEW NAME");

    ok(
        &s,
        "identity.numbers.add",
        json!({"tenant_id": 1, "id": id, "phone_numbers": [added]}),
    );
    settle(&h);
    // NumHub gets it in `[numhub] phone_format`'s default, the document's dashed form.
    let has_added = |i: &Value| {
        i["phoneNumbers"]
            .as_array()
            .is_some_and(|n| n.contains(&json!("555-999-0001")))
    };
    assert!(has_added(&at_numhub()), "{}", at_numhub());
    let local = identities()[0]["phone_numbers"].clone();
    assert!(
        local.as_array().is_some_and(|n| n.contains(&json!(added))),
        "{local}"
    );

    ok(
        &s,
        "identity.numbers.remove",
        json!({"tenant_id": 1, "id": id, "phone_numbers": [added]}),
    );
    settle(&h);
    assert!(!has_added(&at_numhub()), "{}", at_numhub());

    ok(&s, "identity.deactivate", json!({"tenant_id": 1, "id": id}));
    settle(&h);
    assert_eq!(at_numhub()["status"], "Inactive", "{}", at_numhub());
    h.stop();
}
