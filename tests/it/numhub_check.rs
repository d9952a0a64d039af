//! `numhub.check` / `numhubctl numhub check` ("Test connection") against the sandbox,
//! and a tenant whose client id its account may not act for: a clear error on its
//! first job, nothing sent for it, instead of a 403 from NumHub on every attempt.

use std::process::Command;

use serde_json::{json, Value};

use crate::rpc_client::{add_numhub_tenant, ok};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{application, Harness};

/// Tenant 1 on the demo account's client (1001), tenant 2 on a client the demo
/// account is not given (999).
fn two_tenants(h: &Harness) {
    h.tenant(true);
    add_numhub_tenant(&h.socket(), 2, "Elsewhere", "999", true);
}

fn verdict(check: &Value, tenant: i64) -> Value {
    check["tenants"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tenant_id"] == tenant))
        .cloned()
        .unwrap_or_else(|| panic!("tenant {tenant} missing from {check}"))
}

#[test]
fn check_reports_a_tenant_on_a_foreign_client() {
    let mut h = Harness::new(3);
    assert!(h.start(&[]), "{}", h.all_stderr());
    two_tenants(&h);

    let check = ok(&h.socket(), "numhub.check", json!({}));
    assert_eq!(check["ok"], false, "{check}");
    let home = verdict(&check, 1);
    assert_eq!(home["verdict"], "listed", "{home}");
    assert_eq!(home["account"], "global", "{home}");
    assert!(home["client_name"].is_string(), "{home}");
    let away = verdict(&check, 2);
    assert_eq!(away["verdict"], "not_listed", "{away}");
    assert_eq!(away["account_clients"], json!([1001, 1002]), "{away}");

    // One tenant only: that one passes.
    let one = ok(&h.socket(), "numhub.check", json!({"tenant_id": 1}));
    assert_eq!(one["ok"], true, "{one}");
    assert_eq!(one["tenants"].as_array().map(Vec::len), Some(1), "{one}");

    let ctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_numhubctl"))
            .arg("--socket")
            .arg(h.socket())
            .args(args)
            .output()
            .expect("numhubctl")
    };
    let out = ctl(&["numhub", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("tenant 1 (Acme) client 1001 via global: ok"),
        "{text}"
    );
    assert!(
        text.contains(
            "tenant 2 (Elsewhere) client 999 via global: NOT LISTED: the account may act for 1001, 1002"
        ),
        "{text}"
    );
    let out = ctl(&["--json", "numhub", "check", "--tenant", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let parsed: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(parsed["tenants"][0]["verdict"], "listed", "{parsed}");
    h.stop();
}

#[test]
fn a_foreign_client_id_fails_its_first_job_clearly_and_sends_nothing() {
    let mut h = Harness::new(3);
    assert!(h.start(&[]), "{}", h.all_stderr());
    two_tenants(&h);
    let r = ok(
        &h.socket(),
        "entity.create",
        json!({"tenant_id": 2, "entity_type": "enterprise", "company_name": "Far Away",
               "application": application("Far Away"), "submit": false}),
    );
    assert!(r["id"].is_string(), "{r}");
    let mut job = Value::Null;
    assert!(
        wait_until(TIMEOUT, || {
            job = ok(&h.socket(), "jobs.list", json!({"tenant_id": 2}))["items"][0].clone();
            job["last_error"].is_string()
        }),
        "no error on the job: {job}"
    );
    let error = job["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("numhub_client_id 999 is not one of the clients NumHub lets account global act for (1001"),
        "{job}"
    );
    assert_eq!(
        job["state"], "waiting",
        "waits for the tenant to be corrected: {job}"
    );
    // Nothing went to NumHub for tenant 2: no exchange of its is in the log.
    let logs = ok(&h.socket(), "log.list", json!({"tenant_id": 2}));
    let sent: Vec<&Value> = logs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["tenant_id"] == 2)
        .collect();
    assert!(sent.is_empty(), "{sent:?}");
    h.stop();
}
