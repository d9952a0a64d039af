//! Every method of the local API, called over the real socket of the real daemon:
//! results, the outbox jobs they queue, the NumHub seam's "unavailable" answer, the
//! events subscription over WebSocket, and a raw curl call.

use serde_json::{json, Value};

use numhubd::db::{jobs, sync_logs, Direction, HttpMethod};

use crate::rpc_client::{add_tenant, call, curl_as, err_code, ok, socket_of, start_rpc_daemon, Ws};
use crate::store_support::seed_identity;
use crate::support::rt;

const UNAVAILABLE: i64 = -32031;

#[test]
fn every_method_works_over_the_socket() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    let rt = rt();
    let store = d.store().side_store();

    let h = ok(&s, "daemon.health", json!({}));
    assert_eq!(h["api_version"], 1);
    assert_eq!(h["daemon_version"], env!("CARGO_PKG_VERSION"));
    let st = ok(&s, "daemon.status", json!({}));
    assert_eq!(st["schema_version"], numhubd::db::latest_version());
    assert!(st["db_size_bytes"].as_i64().unwrap_or(0) > 0);
    assert!(st.get("numhub_reachable").is_some());

    // Tenants and brands.
    let t = ok(
        &s,
        "tenant.upsert",
        json!({"id": 1, "name": "Acme", "numhub_client_id": "1001"}),
    );
    assert_eq!(t["name"], "Acme");
    add_tenant(&s, 2, "Other");
    assert_eq!(
        ok(&s, "tenant.get", json!({"id": 1}))["numhub_client_id"],
        "1001"
    );
    assert_eq!(
        ok(&s, "tenant.list", json!({}))["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let b = ok(
        &s,
        "brand.upsert",
        json!({"tenant_id": 1, "name": "Acme", "display_name": "Acme Inc"}),
    );
    let brand_id = b["id"].as_i64().expect("brand id");
    ok(
        &s,
        "brand.upsert",
        json!({"tenant_id": 1, "id": brand_id, "name": "Acme 2"}),
    );
    let nums = ok(
        &s,
        "brand.phone_numbers.set",
        json!({"tenant_id": 1, "brand_id": brand_id, "phone_numbers": ["+15551230000", "+15551230001"]}),
    );
    assert_eq!(nums["items"].as_array().map(Vec::len), Some(2));
    let bg = ok(&s, "brand.get", json!({"tenant_id": 1, "id": brand_id}));
    assert_eq!(bg["name"], "Acme 2");
    assert_eq!(bg["phone_numbers"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        ok(&s, "brand.list", json!({"tenant_id": 1}))["items"][0]["id"],
        brand_id
    );
    assert_eq!(
        err_code(&s, "brand.get", json!({"tenant_id": 2, "id": brand_id})),
        -32020
    );

    // Credentials: stored encrypted, never returned.
    let c = ok(
        &s,
        "credentials.set",
        json!({"tenant_id": 1, "email": "ops@acme.test", "password": "hunter2-secret"}),
    );
    assert!(!c.to_string().contains("hunter2"));
    let ts = ok(&s, "token.status", json!({"tenant_id": 1}));
    assert_eq!(
        (ts["present"].clone(), ts["credentials_set"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(ok(&s, "token.status", json!({}))["present"], false);
    // On SQLite the file's and WAL's bytes (stale pages too); on MySQL every row.
    let stored = match d.store() {
        crate::test_engine::TestStore::File(db) => {
            let wal = d.dir.path().join("numhubd.db-wal");
            [std::fs::read(db), std::fs::read(wal)]
                .into_iter()
                .map(|b| String::from_utf8_lossy(&b.unwrap_or_default()).into_owned())
                .collect()
        }
        store => vec![store.dump()],
    };
    for text in stored {
        assert!(
            !text.contains("hunter2-secret"),
            "clear-text password in the database"
        );
    }
    assert!(!d.stderr().contains("hunter2"), "password in the log");

    // Applications: written locally with their outbox job.
    let e = ok(
        &s,
        "entity.create",
        json!({"tenant_id": 1, "brand_id": brand_id, "entity_type": "enterprise", "company_name": "Acme LLC", "application": {}, "submit": false}),
    );
    let eid = e["id"].as_str().expect("entity id").to_string();
    assert_eq!(e["status"], "draft");
    assert_eq!(e["sync"]["kind"], "entity.create");
    assert_eq!(e["sync"]["state"], "queued");
    let job_id = e["sync"]["job_id"].as_i64().expect("job id");
    let job = rt
        .block_on(store.read(move |sql| jobs::get_any(sql, job_id)))
        .expect("job");
    let jobs::JobPayload::EntityCreate(change) = &job.payload else {
        panic!("not a create: {job:?}")
    };
    assert_eq!(change.application["status"], "Saved");
    assert_eq!(
        change.application["businessEntityDetails"]["legalBusinessName"],
        "Acme LLC"
    );
    assert_eq!(
        ok(&s, "entity.get", json!({"tenant_id": 1, "id": eid}))["company_name"],
        "Acme LLC"
    );
    assert_eq!(
        err_code(
            &s,
            "entity.get",
            json!({"tenant_id": 1, "numhub_entity_id": "nope"})
        ),
        -32020
    );
    assert_eq!(
        ok(
            &s,
            "entity.list",
            json!({"tenant_id": 1, "status": "draft"})
        )["items"][0]["id"],
        eid.as_str()
    );
    assert_eq!(
        ok(
            &s,
            "entity.list",
            json!({"tenant_id": 1, "status": "approved"})
        )["items"],
        json!([])
    );
    let u = ok(
        &s,
        "entity.update",
        json!({"tenant_id": 1, "id": eid, "application": {"businessEntityDetails": {"city": "Austin"}}}),
    );
    assert_eq!(u["sync"]["kind"], "entity.update");
    let sub = ok(&s, "entity.submit", json!({"tenant_id": 1, "id": eid}));
    assert_eq!(sub["status"], "submitted");
    assert_eq!(
        err_code(&s, "entity.submit", json!({"tenant_id": 1, "id": eid})),
        -32021
    );
    assert_eq!(
        err_code(
            &s,
            "entity.update",
            json!({"tenant_id": 1, "id": eid, "application": {}})
        ),
        -32021
    );
    let code = err_code(
        &s,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "bpo", "company_name": "X", "application": {"status": "Saved"}, "submit": true}),
    );
    assert_eq!(code, -32602);

    // NumHub-backed methods answer "unavailable": the test's NumHub is a closed
    // loopback port (and the sync engine is not running).
    for (m, p) in [
        ("token.refresh", json!({"tenant_id": 1})),
        ("otp.generate", json!({"tenant_id": 1, "entity_id": eid})),
        (
            "otp.verify",
            json!({"tenant_id": 1, "entity_id": eid, "otp": "123456"}),
        ),
        ("entity.refresh", json!({"tenant_id": 1, "entity_id": eid})),
    ] {
        assert_eq!(err_code(&s, m, p), UNAVAILABLE, "{m}");
    }
    assert!(!d.stderr().contains("123456"), "OTP in the log");
    assert_eq!(ok(&s, "sync.run", json!({}))["started"], true);

    // Identities (NumHub creates them; seeded here).
    let iid = seed_identity(&rt, &store, 1, &eid, "nh-ident-1");
    assert_eq!(
        ok(&s, "identity.list", json!({"tenant_id": 1}))["items"][0]["id"],
        iid.as_str()
    );
    assert_eq!(
        ok(
            &s,
            "identity.list",
            json!({"tenant_id": 1, "entity_id": eid})
        )["items"][0]["entity_id"],
        eid.as_str()
    );
    assert_eq!(
        ok(&s, "identity.get", json!({"tenant_id": 1, "id": iid}))["numhub_identity_id"],
        "nh-ident-1"
    );
    let up = ok(
        &s,
        "identity.update",
        json!({"tenant_id": 1, "id": iid, "display_name": "Acme Billing", "call_reason": "Billing"}),
    );
    assert_eq!(
        (up["display_name"].clone(), up["sync"]["kind"].clone()),
        (json!("Acme Billing"), json!("identity.update"))
    );
    let add = ok(
        &s,
        "identity.numbers.add",
        json!({"tenant_id": 1, "id": iid, "phone_numbers": ["+15551239999"]}),
    );
    assert_eq!(
        add["phone_numbers"],
        json!(["+15551230000", "+15551239999"])
    );
    let rm = ok(
        &s,
        "identity.numbers.remove",
        json!({"tenant_id": 1, "id": iid, "phone_numbers": ["+15551230000"]}),
    );
    assert_eq!(rm["phone_numbers"], json!(["+15551239999"]));
    let de = ok(
        &s,
        "identity.deactivate",
        json!({"tenant_id": 1, "id": iid}),
    );
    assert_eq!(
        (de["status"].clone(), de["sync"]["kind"].clone()),
        (json!("inactive"), json!("identity.deactivate"))
    );
    // A list shows each item's own newest unfinished job, and none for an item
    // without one.
    let quiet = seed_identity(&rt, &store, 1, &eid, "nh-ident-2");
    let items = ok(&s, "identity.list", json!({"tenant_id": 1}))["items"].clone();
    let sync_of = |id: &str| {
        items
            .as_array()
            .and_then(|v| v.iter().find(|i| i["id"] == id))
            .map(|i| i["sync"]["kind"].clone())
    };
    assert_eq!(sync_of(&iid), Some(json!("identity.deactivate")));
    assert_eq!(sync_of(&quiet), Some(Value::Null));

    // Documents by path under upload_dirs.
    let pdf = d.dir.path().join("uploads/loa.pdf");
    std::fs::write(&pdf, b"%PDF-1.4 test letter of authorization").expect("write pdf");
    let doc = ok(
        &s,
        "document.upload",
        json!({"tenant_id": 1, "entity_id": eid, "document_type": "loa", "path": pdf, "description": "LOA"}),
    );
    let expected_sha = sha256_hex(b"%PDF-1.4 test letter of authorization");
    assert_eq!(doc["sha256"], expected_sha.as_str());
    assert_eq!(
        (doc["status"].clone(), doc["sync"]["kind"].clone()),
        (json!("pending"), json!("document.upload"))
    );
    let did = doc["id"].as_str().expect("doc id").to_string();
    assert_eq!(
        err_code(
            &s,
            "document.upload",
            json!({"tenant_id": 1, "entity_id": eid, "document_type": "logo", "path": pdf})
        ),
        -32602
    );
    assert_eq!(
        err_code(
            &s,
            "document.upload",
            json!({"tenant_id": 1, "entity_id": eid, "document_type": "loa", "path": "/etc/passwd"})
        ),
        -32602
    );
    let list = ok(
        &s,
        "document.list",
        json!({"tenant_id": 1, "entity_id": eid}),
    );
    assert_eq!(list["items"][0]["sha256"], expected_sha.as_str());
    assert_eq!(list["items"][0]["sync"]["kind"], "document.upload");
    assert_eq!(
        ok(&s, "document.get", json!({"tenant_id": 1, "id": did}))["filename"],
        "loa.pdf"
    );
    assert_eq!(
        ok(&s, "document.delete", json!({"tenant_id": 1, "id": did}))["sync"]["kind"],
        "document.delete"
    );

    // Exchange log: payloads for admin (root is admin).
    let eid2 = eid.clone();
    rt.block_on(store.write(move |tx| {
        sync_logs::insert(
            tx,
            sync_logs::NewSyncLog {
                tenant_id: Some(1),
                entity_id: Some(eid2.clone()),
                identity_id: None,
                endpoint: "/api/v1/application".into(),
                method: HttpMethod::Post,
                direction: Direction::Outbound,
                status_code: Some(200),
                request_payload: Some("{\"a\":1}".into()),
                response_payload: Some("{\"b\":2}".into()),
                response_time_ms: Some(5),
                error_message: None,
                success: true,
            },
        )
    }))
    .expect("seed log");
    let logs = ok(&s, "log.list", json!({"tenant_id": 1, "success": true}));
    assert_eq!(logs["items"][0]["request_payload"], json!({"a": 1}));
    assert_eq!(logs["items"][0]["entity_id"], eid.as_str());
    let listed = ok(&s, "log.list", json!({}))["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert!(listed >= 1);
    assert_eq!(
        ok(&s, "log.purge", json!({"before": "2999-01-01T00:00:00Z"}))["deleted"],
        listed
    );
    assert_eq!(ok(&s, "log.list", json!({}))["items"], json!([]));

    // Jobs: operator actions on dead / needs_attention ones.
    let all = ok(&s, "jobs.list", json!({"tenant_id": 1}));
    assert!(all["items"].as_array().map(Vec::len).unwrap_or(0) >= 8);
    assert_eq!(err_code(&s, "jobs.retry", json!({"id": job_id})), -32021);
    rt.block_on(
        store
            .write(move |tx| jobs::mark_dead(tx, job_id, "NumHub said no", &numhubd::db::now_ts())),
    )
    .expect("mark dead");
    assert_eq!(
        ok(&s, "jobs.list", json!({"state": "dead"}))["items"][0]["id"],
        job_id
    );
    assert_eq!(
        ok(&s, "jobs.retry", json!({"id": job_id}))["state"],
        "queued"
    );
    rt.block_on(store.write(move |tx| {
        jobs::mark_needs_attention(tx, job_id, "timeout", &numhubd::db::now_ts())
    }))
    .expect("mark");
    assert_eq!(
        ok(
            &s,
            "jobs.resolve",
            json!({"id": job_id, "note": "checked at NumHub"})
        )["state"],
        "done"
    );
    assert_eq!(err_code(&s, "jobs.retry", json!({"id": 999_999})), -32020);

    // rpc.discover is exercised in depth by rpc_discover.
    assert!(ok(&s, "rpc.discover", json!({}))["methods"]
        .as_array()
        .is_some());
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn events_are_pushed_over_websocket_and_refused_over_http() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    add_tenant(&s, 1, "Acme");
    add_tenant(&s, 2, "Other");
    // Over plain HTTP: a clear error, not a bare internal error.
    assert_eq!(err_code(&s, "events.subscribe", json!({})), -32023);
    let rt = rt();
    rt.block_on(async {
        let mut ws = Ws::connect(&s).await;
        ws.send(json!({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {"tenant_id": 1}})).await;
        let sub = ws.recv().await;
        let sub_id = sub["result"].clone();
        assert!(!sub_id.is_null(), "{sub}");
        // Another tenant's change is not delivered to this subscription; ours is.
        let s2 = s.clone();
        tokio::task::spawn_blocking(move || {
            ok(&s2, "entity.create", json!({"tenant_id": 2, "entity_type": "bpo", "company_name": "Other", "application": {}, "submit": false}));
            ok(&s2, "entity.create", json!({"tenant_id": 1, "entity_type": "direct", "company_name": "Acme", "application": {}, "submit": true}))
        })
        .await
        .expect("calls");
        let ev = ws.recv().await;
        assert_eq!(ev["method"], "events.event", "{ev}");
        assert_eq!(ev["params"]["result"]["type"], "entity.status_changed");
        assert_eq!(ev["params"]["result"]["tenant_id"], 1);
        assert_eq!(ev["params"]["result"]["status"], "submitted");
        // Calls work on the same WebSocket, and unsubscribe ends the subscription.
        ws.send(json!({"jsonrpc": "2.0", "id": 2, "method": "daemon.health"})).await;
        assert_eq!(ws.recv().await["result"]["ok"], true);
        ws.send(json!({"jsonrpc": "2.0", "id": 3, "method": "events.unsubscribe", "params": [sub_id]})).await;
        assert_eq!(ws.recv().await["result"], true);
    });
}

#[test]
fn curl_reaches_the_socket_as_documented() {
    let d = start_rpc_daemon("");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"daemon.health"}"#;
    let Some(v) = curl_as(0, 0, &socket_of(&d), body) else {
        return;
    };
    assert_eq!(v["result"]["ok"], true);
    let _ = call(&socket_of(&d), "daemon.health", Value::Null);
}

/// A `wait_s` that runs out is not an error: the answer is the row, its `sync`
/// object showing the job still queued (README, "wait_s"). No NumHub is configured
/// here, so no job ever runs. What the daemon's outbox finishes is answered as soon
/// as it finishes (sync_outbox::wait_s_answers_as_soon_as_the_job_finishes).
#[test]
fn wait_s_running_out_answers_with_the_row_still_queued() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    let rt = rt();
    let store = d.store().side_store();
    add_tenant(&s, 1, "Acme");
    let started = std::time::Instant::now();
    let e = call(
        &s,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "direct", "company_name": "A", "application": {}, "submit": false, "wait_s": 1}),
    );
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(1) && waited < std::time::Duration::from_secs(10),
        "{waited:?}"
    );
    let row = &e["result"];
    assert_eq!(row["status"], "draft", "{e}");
    assert_eq!(row["sync"]["kind"], "entity.create", "{e}");
    assert_eq!(row["sync"]["state"], "queued", "{e}");
    assert_eq!(row["sync"]["attempts"], 0, "{e}");
    let eid = row["id"].as_str().expect("id").to_string();
    let create = row["sync"]["job_id"].as_i64().expect("job id");
    rt.block_on(store.write(move |tx| jobs::mark_done(tx, create, &numhubd::db::now_ts())))
        .expect("done");
    // The same for a submit: the row as it is locally now, the job still queued.
    let submitted = ok(
        &s,
        "entity.submit",
        json!({"tenant_id": 1, "id": eid, "wait_s": 1}),
    );
    assert_eq!(submitted["status"], "submitted", "{submitted}");
    assert_eq!(submitted["sync"]["kind"], "entity.submit", "{submitted}");
    assert_eq!(submitted["sync"]["state"], "queued", "{submitted}");
    // A refused change is refused before any wait.
    let conflict = call(
        &s,
        "entity.update",
        json!({"tenant_id": 1, "id": eid, "application": {}, "wait_s": 60}),
    );
    assert_eq!(
        conflict["error"]["code"], -32021,
        "submitted applications cannot change: {conflict}"
    );
}

#[test]
fn secrets_stay_out_of_the_log_even_at_trace() {
    let d = crate::support::start_daemon(
        &crate::support::base_config("trace")
            .replace("socket = \"numhubd.sock\"", "socket = \"api.sock\""),
        &[],
    );
    let s = d.dir.path().join("api.sock");
    add_tenant(&s, 1, "Acme");
    ok(
        &s,
        "credentials.set",
        json!({"tenant_id": 1, "email": "ops@acme.test", "password": "pw-SECRET-4711"}),
    );
    let e = ok(
        &s,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "direct", "company_name": "A", "application": {}, "submit": false}),
    );
    err_code(
        &s,
        "otp.verify",
        json!({"tenant_id": 1, "entity_id": e["id"], "otp": "OTP-99887766"}),
    );
    let log = d.stderr();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the daemon should log at trace"
    );
    assert!(
        !log.contains("pw-SECRET-4711") && !log.contains("OTP-99887766"),
        "a secret reached the log"
    );
}
