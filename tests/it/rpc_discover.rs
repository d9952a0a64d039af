//! `rpc.discover`: the OpenRPC document lists every registered method, and its param
//! schemas accept the suite's valid requests and reject the bad-input corpus (so a
//! schema of `{}` would fail here).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use numhubd::rpc::schema::validate;

use crate::rpc_client::{ok, socket_of, start_rpc_daemon};

fn registered_methods() -> BTreeSet<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::support::rt();
    rt.block_on(async {
        let store = crate::store_support::side_store(&dir.path().join("x.db"));
        let rpc = crate::store_support::rpc_state(dir.path(), store, Default::default());
        let module = numhubd::rpc::module(rpc).expect("module");
        module.method_names().map(String::from).collect()
    })
}

/// Valid params per method, as the other tests send them.
fn valid_corpus() -> Vec<(&'static str, Value)> {
    vec![
        ("daemon.health", json!({})),
        (
            "tenant.upsert",
            json!({"id": 1, "name": "Acme", "numhub_client_id": "1001", "numhub_enabled": true}),
        ),
        ("tenant.list", json!({"limit": 10})),
        (
            "brand.upsert",
            json!({"tenant_id": 1, "name": "B", "display_name": "Acme Inc"}),
        ),
        (
            "brand.phone_numbers.set",
            json!({"tenant_id": 1, "brand_id": 1, "phone_numbers": ["+15551230000"]}),
        ),
        (
            "credentials.set",
            json!({"tenant_id": 1, "email": "a@b.c", "password": "pw"}),
        ),
        ("token.status", json!({})),
        (
            "entity.create",
            json!({"tenant_id": 1, "brand_id": 1, "entity_type": "enterprise", "company_name": "Acme LLC", "application": {"businessEntityDetails": {"city": "Austin", "state": null}, "section": 1, "status": "Saved"}, "submit": false, "wait_s": 0}),
        ),
        (
            "entity.get",
            json!({"tenant_id": 1, "numhub_entity_id": "abc"}),
        ),
        (
            "entity.list",
            json!({"tenant_id": 1, "status": "draft", "limit": 5}),
        ),
        (
            "entity.drop_path",
            json!({"tenant_id": 1, "id": "019ad1c2-7e4b-7c10-9a3e-5c1b01a2335f"}),
        ),
        (
            "entity.loa_template",
            json!({"tenant_id": 1, "id": "019ad1c2-7e4b-7c10-9a3e-5c1b01a2335f"}),
        ),
        (
            "identity.update",
            json!({"tenant_id": 1, "id": "x", "display_name": "x".repeat(32)}),
        ),
        (
            "identity.numbers.add",
            json!({"tenant_id": 1, "id": "x", "phone_numbers": ["+15551239999"]}),
        ),
        (
            "document.upload",
            json!({"tenant_id": 1, "entity_id": "e", "document_type": "loa", "path": "/x/loa.pdf"}),
        ),
        (
            "log.list",
            json!({"tenant_id": 1, "success": true, "since": "2026-01-01T00:00:00Z"}),
        ),
        ("log.purge", json!({"before": "2999-01-01T00:00:00Z"})),
        ("jobs.list", json!({"state": "dead"})),
        ("jobs.resolve", json!({"id": 1, "note": "ok"})),
        (
            "events.subscribe",
            json!({"tenant_id": 1, "kinds": ["entity.status_changed"]}),
        ),
        ("events.unsubscribe", json!(["abc"])),
        (
            "otp.verify",
            json!({"tenant_id": 1, "entity_id": "e", "otp": "123456"}),
        ),
    ]
}

/// Requests every schema must refuse.
fn bad_corpus() -> Vec<(&'static str, Value)> {
    vec![
        ("tenant.get", json!({})),
        ("tenant.get", json!({"id": "1"})),
        ("tenant.get", json!({"id": 1, "extra": true})),
        ("tenant.upsert", json!({"id": 0, "name": "A"})),
        (
            "identity.update",
            json!({"tenant_id": 1, "id": "x", "display_name": "x".repeat(33)}),
        ),
        (
            "brand.phone_numbers.set",
            json!({"tenant_id": 1, "brand_id": 1, "phone_numbers": ["5551234"]}),
        ),
        (
            "entity.create",
            json!({"tenant_id": 1, "entity_type": "corp", "company_name": "A", "application": {}, "submit": false}),
        ),
        (
            "entity.create",
            json!({"tenant_id": 1, "entity_type": "bpo", "company_name": "A", "application": {"status": "Maybe"}, "submit": false}),
        ),
        (
            "entity.create",
            json!({"tenant_id": 1, "entity_type": "bpo", "company_name": "A", "application": {"bogus": 1}, "submit": false}),
        ),
        ("entity.list", json!({"tenant_id": 1, "limit": 0})),
        ("log.purge", json!({"before": "yesterday"})),
        ("jobs.list", json!({"state": "sleeping"})),
        ("events.subscribe", json!({"kinds": ["everything"]})),
        ("events.unsubscribe", json!({})),
    ]
}

#[test]
fn the_document_lists_every_method_and_its_schemas_check_params() {
    let d = start_rpc_daemon("");
    let doc = ok(&socket_of(&d), "rpc.discover", json!({}));
    assert!(doc["openrpc"].as_str().is_some_and(|v| v.starts_with("1.")));
    let listed: BTreeSet<String> = doc["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .filter_map(|m| m["name"].as_str().map(String::from))
        .collect();
    assert_eq!(
        listed,
        registered_methods(),
        "rpc.discover and the registered methods differ"
    );
    let schema_of = |name: &str| -> Value {
        doc["methods"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["name"] == name))
            .map(|m| m["x-params-schema"].clone())
            .unwrap_or_else(|| panic!("{name} not in the document"))
    };
    for m in doc["methods"].as_array().into_iter().flatten() {
        assert!(
            !m["errors"].as_array().is_none_or(Vec::is_empty),
            "{} lists no errors",
            m["name"]
        );
        assert!(
            m["result"]["schema"].is_object(),
            "{} has no result schema",
            m["name"]
        );
    }
    for (m, p) in valid_corpus() {
        let errors = validate(&schema_of(m), &p);
        assert!(errors.is_empty(), "{m} {p} refused: {errors:?}");
    }
    for (m, p) in bad_corpus() {
        assert!(!validate(&schema_of(m), &p).is_empty(), "{m} {p} accepted");
    }
    // Every object schema refuses an unknown field and a wrong type for each field.
    for m in doc["methods"].as_array().into_iter().flatten() {
        let schema = &m["x-params-schema"];
        if schema["type"] != "object" {
            continue;
        }
        assert!(
            !validate(schema, &json!({"zz_unknown": 1})).is_empty(),
            "{} accepts unknown fields",
            m["name"]
        );
        for field in schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let bad = json!({ field.as_str(): [[]] });
            assert!(
                !validate(schema, &bad).is_empty(),
                "{}.{field} accepts anything",
                m["name"]
            );
        }
    }
}
