//! Access control by peer credentials: clients run as other real users (curl with
//! another uid/gid), against the real daemon's socket.

use serde_json::{json, Value};

use numhubd::rpc::methods::{self, Scope};
use numhubd::rpc::schema;

use crate::rpc_client::{
    add_numhub_tenant, add_tenant, curl_as, curl_present, ok, socket_of, start_rpc_daemon,
};

/// Another local user (no passwd entry needed): not the kernel's overflow uid, which
/// is never granted (tests/it/userns.rs).
const OTHER: u32 = 4242;
const FORBIDDEN: i64 = -32003;

fn rpc(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

fn code(v: &Value) -> Option<i64> {
    v.pointer("/error/code").and_then(Value::as_i64)
}

/// Whether this test can run: root (to switch users) and curl.
fn can_switch_users() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !curl_present() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root with curl"
        );
        return false;
    }
    true
}

#[test]
fn without_a_rule_only_health_is_allowed_and_refusals_are_logged() {
    if !can_switch_users() {
        return;
    }
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    add_tenant(&s, 1, "Acme");
    let health = curl_as(OTHER, OTHER, &s, &rpc("daemon.health", json!({}))).expect("curl");
    assert_eq!(health["result"]["ok"], true);
    for (m, p) in [
        ("tenant.list", json!({})),
        ("tenant.get", json!({"id": 1})),
        ("daemon.status", json!({})),
        ("tenant.upsert", json!({"id": 1, "name": "Hijacked"})),
    ] {
        let v = curl_as(OTHER, OTHER, &s, &rpc(m, p)).expect("curl");
        assert_eq!(code(&v), Some(FORBIDDEN), "{m}: {v}");
    }
    assert_eq!(
        ok(&s, "tenant.get", json!({"id": 1}))["name"],
        "Acme",
        "nothing was done"
    );
    assert!(crate::support::wait_until(crate::support::TIMEOUT, || d
        .stderr()
        .contains("forbidden RPC call")));
    assert!(d.stderr().contains("uid=4242"), "{}", d.stderr());
}

#[test]
fn a_rule_grants_its_role_and_tenants_only() {
    if !can_switch_users() {
        return;
    }
    let d = start_rpc_daemon(
        "[[access]]\nuid = 4242\nrole = \"read\"\ntenants = [1]\n\
         [[access]]\ngid = 65533\nrole = \"write\"\ntenants = \"*\"\n",
    );
    let s = socket_of(&d);
    add_tenant(&s, 1, "Acme");
    add_tenant(&s, 2, "Other");
    let call = |uid, gid, m: &str, p: Value| curl_as(uid, gid, &s, &rpc(m, p)).expect("curl");
    // uid rule: read over tenant 1.
    assert_eq!(
        call(OTHER, OTHER, "tenant.get", json!({"id": 1}))["result"]["name"],
        "Acme"
    );
    assert_eq!(
        code(&call(OTHER, OTHER, "tenant.get", json!({"id": 2}))),
        Some(FORBIDDEN)
    );
    let list = call(OTHER, OTHER, "tenant.list", json!({}));
    assert_eq!(
        list["result"]["items"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    assert_eq!(
        code(&call(
            OTHER,
            OTHER,
            "tenant.upsert",
            json!({"id": 1, "name": "X"})
        )),
        Some(FORBIDDEN)
    );
    assert_eq!(
        code(&call(OTHER, OTHER, "jobs.list", json!({}))),
        Some(FORBIDDEN)
    );
    assert!(call(OTHER, OTHER, "jobs.list", json!({"tenant_id": 1}))["result"].is_object());
    // Log rows: metadata only for a non-admin; payloads for admin (root).
    let rt = crate::support::rt();
    let store = d.store().side_store();
    rt.block_on(store.write(|tx| {
        numhubd::db::sync_logs::insert(
            tx,
            numhubd::db::sync_logs::NewSyncLog {
                tenant_id: Some(1),
                entity_id: None,
                identity_id: None,
                endpoint: "/api/v1/application".into(),
                method: numhubd::db::HttpMethod::Get,
                direction: numhubd::db::Direction::Outbound,
                status_code: Some(200),
                request_payload: Some("{\"q\":1}".into()),
                response_payload: Some("{\"r\":2}".into()),
                response_time_ms: Some(3),
                error_message: None,
                success: true,
            },
        )
    }))
    .expect("seed log");
    let logs = call(OTHER, OTHER, "log.list", json!({"tenant_id": 1}));
    assert_eq!(
        logs["result"]["items"][0]["endpoint"], "/api/v1/application",
        "{logs}"
    );
    assert_eq!(
        logs["result"]["items"][0]["request_payload"],
        Value::Null,
        "{logs}"
    );
    assert_eq!(
        logs["result"]["items"][0]["response_payload"],
        Value::Null,
        "{logs}"
    );
    assert_eq!(
        ok(&s, "log.list", json!({"tenant_id": 1}))["items"][0]["request_payload"],
        json!({"q": 1})
    );
    // gid rule: write over every tenant, but not admin.
    let w = call(
        65533,
        65533,
        "tenant.upsert",
        json!({"id": 2, "name": "Renamed"}),
    );
    assert_eq!(w["result"]["name"], "Renamed", "{w}");
    assert_eq!(
        code(&call(
            65533,
            65533,
            "log.purge",
            json!({"before": "2999-01-01T00:00:00Z"})
        )),
        Some(FORBIDDEN)
    );
    assert_eq!(
        code(&call(
            65533,
            65533,
            "credentials.set",
            json!({"tenant_id": 1, "email": "a@b.c", "password": "pw"})
        )),
        Some(FORBIDDEN)
    );
}

/// Minimal params that pass a method's schema, built from the schema itself.
fn sample(schema_value: &Value) -> Value {
    if let Some(r) = schema_value.get("$ref") {
        let _ = r;
        return json!({});
    }
    if let Some(Value::Array(e)) = schema_value.get("enum") {
        return e[0].clone();
    }
    match schema_value.get("type").and_then(Value::as_str) {
        Some("integer") => json!(1),
        Some("boolean") => json!(false),
        Some("string") => match schema_value.get("format").and_then(Value::as_str) {
            Some("e164") => json!("+15551230000"),
            Some("date-time") => json!("2030-01-01T00:00:00Z"),
            _ => json!("x"),
        },
        Some("array") => json!([sample(&schema_value["items"])]),
        Some("object") => {
            let mut out = serde_json::Map::new();
            for r in schema_value["required"].as_array().into_iter().flatten() {
                let k = r.as_str().unwrap_or_default();
                out.insert(k.to_string(), sample(&schema_value["properties"][k]));
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}

#[test]
fn tenant_isolation_holds_for_every_tenant_scoped_method() {
    if !can_switch_users() {
        return;
    }
    // Admin over tenant 1 only: every call naming tenant 2, and every call over all
    // tenants, must be forbidden — whatever the method.
    let d = start_rpc_daemon("[[access]]\nuid = 4242\nrole = \"admin\"\ntenants = [1]\n");
    let s = socket_of(&d);
    add_tenant(&s, 1, "Acme");
    add_tenant(&s, 2, "Other");
    let mut checked = 0;
    for def in methods::all() {
        // The subscription is admitted by the same check (methods::admit); over HTTP
        // it is refused earlier for needing a WebSocket.
        if def.params.get("type") != Some(&json!("object")) || def.handler.is_none() {
            continue;
        }
        let mut params = sample(&def.params);
        assert!(
            schema::validate(&def.params, &params).is_empty(),
            "{}: sample {params}",
            def.name
        );
        match def.scope {
            Scope::Tenant(key) | Scope::OptionalTenant(key) | Scope::OwnTenants(key) => {
                params[key] = json!(2);
            }
            Scope::Global => {}
            Scope::Open | Scope::ByRow => continue,
        }
        let v = curl_as(OTHER, OTHER, &s, &rpc(def.name, params.clone())).expect("curl");
        assert_eq!(code(&v), Some(FORBIDDEN), "{} {params}: {v}", def.name);
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} methods checked");
    // Nothing was written for tenant 2.
    assert_eq!(ok(&s, "tenant.get", json!({"id": 2}))["name"], "Other");
    assert_eq!(ok(&s, "jobs.list", json!({}))["items"], json!([]));
    assert_eq!(
        ok(&s, "entity.list", json!({"tenant_id": 2}))["items"],
        json!([])
    );
}

/// A writer of tenant 1 may rename it but not move it to another NumHub client (its
/// creates would go out under that client, and the poller would import that client's
/// applications into tenant 1), nor lift and force the shared account's login.
#[test]
fn a_writer_cannot_repoint_its_tenant_or_refresh_the_shared_login() {
    if !can_switch_users() {
        return;
    }
    let d = start_rpc_daemon("[[access]]\nuid = 4242\nrole = \"write\"\ntenants = [1]\n");
    let s = socket_of(&d);
    add_numhub_tenant(&s, 1, "Acme", "1001", true);
    let as_writer = |m: &str, p: Value| curl_as(OTHER, OTHER, &s, &rpc(m, p)).expect("curl");
    for (field, value) in [
        ("numhub_client_id", json!("2002")),
        ("numhub_osp_id", json!("OSP-9")),
        ("numhub_enabled", json!(false)),
    ] {
        let mut p = json!({"id": 1, "name": "Acme"});
        p[field] = value;
        let v = as_writer("tenant.upsert", p);
        assert_eq!(code(&v), Some(FORBIDDEN), "{field}: {v}");
        let msg = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        assert!(msg.contains(field), "the refusal names {field}: {v}");
    }
    // The same values, or none at all, are no change: the rename goes through and the
    // client stays.
    let renamed = as_writer(
        "tenant.upsert",
        json!({"id": 1, "name": "Acme Renamed", "numhub_client_id": "1001"}),
    );
    assert_eq!(renamed["result"]["name"], "Acme Renamed", "{renamed}");
    let renamed = as_writer("tenant.upsert", json!({"id": 1, "name": "Acme Again"}));
    assert_eq!(renamed["result"]["numhub_client_id"], "1001", "{renamed}");
    assert_eq!(renamed["result"]["numhub_enabled"], true, "{renamed}");
    // Tenant 1 has no login of its own: its token is the shared account's.
    for p in [json!({"tenant_id": 1}), json!({})] {
        let v = as_writer("token.refresh", p.clone());
        assert_eq!(code(&v), Some(FORBIDDEN), "{p}: {v}");
    }
    let t = ok(&s, "tenant.get", json!({"id": 1}));
    assert_eq!(
        (
            t["numhub_client_id"].as_str(),
            t["numhub_enabled"].as_bool()
        ),
        (Some("1001"), Some(true)),
        "{t}"
    );
}

/// A reader of tenant 1 sees neither another tenant's business nor its blocked login:
/// `daemon.status` lists only the blocks of the caller's tenants (the shared account's
/// only to a caller of every tenant), and `jobs.list` shows a reader the application
/// bodies with their business identifiers `[redacted]`, as the audit trail keeps them.
#[test]
fn a_reader_sees_only_its_tenants_blocks_and_no_business_ids_in_jobs() {
    if !can_switch_users() {
        return;
    }
    let d = start_rpc_daemon("[[access]]\nuid = 4242\nrole = \"read\"\ntenants = [1]\n");
    let s = socket_of(&d);
    for id in [1, 2] {
        add_tenant(&s, id, &format!("T{id}"));
    }
    let ein = "987654321";
    ok(
        &s,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": "Acme Inc",
               "submit": false,
               "application": {"businessEntityDetails": {"legalBusinessName": "Acme Inc"},
                               "businessIdentityDetails": {"federalEmployerIdNumber": ein}}}),
    );
    let at = crate::test_engine::ts("2026-01-01T00:00:00.000000Z");
    for account in ["global", "tenant:1", "tenant:2"] {
        d.store().execute(&format!(
            "INSERT INTO numhub_login_blocks VALUES ('{account}', 'NumHub answered 403', 403,
             '-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----', '{at}')"
        ));
    }
    let accounts = |v: &Value| -> Vec<String> {
        v.pointer("/blocked_logins")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|b| b["account"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let reader = curl_as(OTHER, OTHER, &s, &rpc("daemon.status", json!({}))).expect("curl");
    assert_eq!(accounts(&reader["result"]), vec!["tenant:1"], "{reader}");
    let admin = ok(&s, "daemon.status", json!({}));
    assert_eq!(accounts(&admin).len(), 3, "{admin}");

    let jobs = curl_as(OTHER, OTHER, &s, &rpc("jobs.list", json!({"tenant_id": 1}))).expect("curl");
    let text = jobs.to_string();
    assert!(
        text.contains("Acme Inc") && text.contains("[redacted]"),
        "{jobs}"
    );
    assert!(!text.contains(ein), "a reader saw the EIN: {jobs}");
    let admin_jobs = ok(&s, "jobs.list", json!({"tenant_id": 1}));
    assert!(admin_jobs.to_string().contains(ein), "{admin_jobs}");
}
