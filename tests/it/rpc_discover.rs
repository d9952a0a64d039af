//! `rpc.discover`: the OpenRPC document lists every registered method, and its param
//! schemas accept the suite's valid requests and reject the bad-input corpus (so a
//! schema of `{}` would fail here).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use numhubd::rpc::schema::validate;

use crate::rpc_client::{ok, result_problems, socket_of, start_rpc_daemon};

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

/// Every method publishes a result schema that says what its answer holds: an
/// object result lists its fields and no others (18 of 42 were a bare
/// `{"type":"object"}`, which any answer matches).
#[test]
fn every_result_schema_names_its_fields() {
    let doc = numhubd::rpc::openrpc::document();
    let methods = doc["methods"].as_array().expect("methods");
    assert!(methods.len() >= 42, "{} methods", methods.len());
    for m in methods {
        let schema = &m["result"]["schema"];
        let name = &m["name"];
        assert!(
            schema.get("type").is_some() || schema.get("$ref").is_some(),
            "{name}'s result schema has no type: {schema}"
        );
        if schema["type"] != "object" {
            continue;
        }
        let fields = schema["properties"].as_object().map_or(0, |p| p.len());
        assert!(
            fields > 0,
            "{name}'s result schema lists no fields: {schema}"
        );
        if name != "rpc.discover" {
            assert_eq!(
                schema["additionalProperties"], false,
                "{name}'s result schema allows fields it does not list"
            );
        }
    }
}

/// The check every `ok()` call runs can fail: a missing, an unknown and a mistyped
/// field of an answer are each named.
#[test]
fn a_result_unlike_its_schema_is_named_field_by_field() {
    let tenant = json!({"id": 1, "name": "Acme", "email": null, "slug": null,
        "numhub_client_id": null, "numhub_osp_id": null, "numhub_enabled": false,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"});
    assert_eq!(result_problems("tenant.get", &tenant), Vec::<String>::new());
    let mut bad = tenant.clone();
    bad.as_object_mut().expect("object").remove("name");
    bad["extra"] = json!(1);
    bad["numhub_enabled"] = json!("no");
    bad["created_at"] = json!("yesterday");
    let problems = result_problems("tenant.get", &bad).join("\n");
    for field in ["name", "extra", "numhub_enabled", "created_at"] {
        assert!(problems.contains(field), "{field} not named in {problems}");
    }
}

/// A representative call of the methods that need no NumHub, each answer checked
/// against its published schema by `ok()` (the suite's other calls are checked the
/// same way wherever they go through `ok()`).
#[test]
fn answers_match_their_published_result_schemas() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    ok(&s, "daemon.health", json!({}));
    ok(&s, "daemon.status", json!({}));
    ok(&s, "rpc.discover", json!({}));
    ok(
        &s,
        "tenant.upsert",
        json!({"id": 1, "name": "Acme", "numhub_client_id": "1001"}),
    );
    ok(&s, "tenant.get", json!({"id": 1}));
    ok(&s, "tenant.list", json!({}));
    let brand = ok(&s, "brand.upsert", json!({"tenant_id": 1, "name": "B"}));
    let numbers =
        json!({"tenant_id": 1, "brand_id": brand["id"], "phone_numbers": ["+15551230000"]});
    ok(&s, "brand.phone_numbers.set", numbers);
    ok(&s, "brand.get", json!({"tenant_id": 1, "id": brand["id"]}));
    ok(&s, "brand.list", json!({"tenant_id": 1}));
    ok(&s, "token.status", json!({"tenant_id": 1}));
    let application = json!({"businessEntityDetails": {"city": "Austin"}});
    let e = ok(
        &s,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "bpo", "company_name": "Acme LLC",
            "application": application, "submit": false}),
    );
    assert!(e["sync"].is_object(), "{e}");
    let row = json!({"tenant_id": 1, "id": e["id"]});
    ok(&s, "entity.get", row.clone());
    ok(&s, "entity.list", json!({"tenant_id": 1}));
    ok(&s, "entity.drop_path", row.clone());
    ok(
        &s,
        "entity.update",
        json!({"tenant_id": 1, "id": e["id"], "application": {"applicationId": "x"}}),
    );
    ok(&s, "identity.list", json!({"tenant_id": 1}));
    ok(
        &s,
        "document.list",
        json!({"tenant_id": 1, "entity_id": e["id"]}),
    );
    let jobs = ok(&s, "jobs.list", json!({}));
    let job = &jobs["items"][0];
    assert_eq!(job["kind"], "entity.update", "{jobs}");
    ok(&s, "log.list", json!({}));
    ok(&s, "log.purge", json!({"before": "2000-01-01T00:00:00Z"}));
    let copy = d.dir.path().join("copy.db");
    if matches!(d.store(), crate::test_engine::TestStore::File(_)) {
        ok(&s, "daemon.backup", json!({"path": copy}));
    }
}

/// numhubctl's side of the same types: `Client::request::<M>` sends `M::Params` and
/// reads the answer into `M::Result` (a flattened row with NumHub's raw answer, a
/// page of jobs, the status), so the daemon's answers are what the types say.
#[test]
fn the_typed_client_reads_each_answer_into_its_type() {
    use numhubd::api::*;
    let d = start_rpc_daemon("");
    let mut c = numhubd::client::Client::connect(&socket_of(&d)).expect("connect");
    let health = c.request::<DaemonHealth>(&Empty {}).expect("health");
    assert_eq!(health.api_version, API_VERSION);
    c.request::<DaemonStatus>(&Empty {}).expect("status");
    let fields = TenantFields {
        id: 1,
        name: "Acme".into(),
        email: None,
        slug: None,
        numhub_client_id: Some("1001".into()),
        numhub_osp_id: None,
        numhub_enabled: None,
    };
    let t = c.request::<TenantUpsert>(&fields).expect("tenant.upsert");
    assert_eq!(t.numhub_client_id.as_deref(), Some("1001"));
    let page = c
        .request::<TenantList>(&PageQuery::default())
        .expect("tenant.list");
    assert_eq!(page.items, vec![t]);
    let application = json!({"businessEntityDetails": {"city": "Austin"}});
    let create = EntityFields {
        tenant_id: 1,
        entity_type: EntityType::Bpo,
        company_name: "Acme LLC".into(),
        application: application.as_object().cloned().unwrap_or_default(),
        submit: false,
        brand_id: None,
        wait_s: None,
    };
    let e = c.request::<EntityCreate>(&create).expect("entity.create");
    assert_eq!(e.row.status, EntityStatus::Draft);
    assert_eq!(
        e.sync.as_ref().map(|s| s.kind.as_str()),
        Some("entity.create")
    );
    let lookup = EntityLookup {
        tenant_id: 1,
        id: Some(e.row.id.clone()),
        numhub_entity_id: None,
    };
    let detail = c.request::<EntityGet>(&lookup).expect("entity.get");
    assert_eq!(detail.entity.row.id, e.row.id);
    assert!(detail.review.is_none());
    let jobs = c
        .request::<JobsList>(&JobQuery::default())
        .expect("jobs.list");
    assert_eq!(jobs.items[0].kind, JobKind::EntityCreate);
    assert!(
        jobs.items[0].payload["application"].is_object(),
        "{:?}",
        jobs.items[0]
    );
    let refused = c.request::<TenantGet>(&ById { id: 99 });
    assert!(
        matches!(refused, Err(numhubd::client::ClientError::Rpc { code, .. }) if code == i64::from(codes::NOT_FOUND)),
        "{refused:?}"
    );
}
