//! Asking numhubd to talk to NumHub now: `sync` (a cycle), `numhub check` (is each
//! tenant's client one the account may act for) and `token status`.

use serde_json::{json, Value};

use numhubd::api::{self, MaybeTenant};
use numhubd::client::{Client, ClientError};
use numhubd::exit;

use crate::output::{cell, out, print_json, simple};

/// `{"tenant_id": t}`, or `{}` for every tenant.
fn of_tenant(tenant: Option<i64>) -> Value {
    tenant.map(|t| json!({"tenant_id": t})).unwrap_or(json!({}))
}

/// `sync`: a sync cycle starts now (the leader runs it).
pub fn sync(c: &mut Client, json_out: bool, tenant: Option<i64>) -> Result<(), ClientError> {
    let r = c.call("sync.run", of_tenant(tenant))?;
    simple(json_out, &r, "sync started")
}

/// `numhub check`: one line per tenant; exits 1 when one is not listed (or could not
/// be checked).
pub fn check(c: &mut Client, json_out: bool, tenant: Option<i64>) -> Result<(), ClientError> {
    let r = c.call("numhub.check", of_tenant(tenant))?;
    if json_out {
        print_json(&r)?;
    } else {
        for t in r["tenants"].as_array().into_iter().flatten() {
            print_check(t);
        }
    }
    if r["ok"].as_bool() != Some(true) {
        // The answer is printed (as JSON for scripts); the exit status says
        // a tenant failed, without a second error object on stdout.
        std::process::exit(exit::FAILURE);
    }
    Ok(())
}

/// One tenant's verdict.
fn print_check(t: &Value) {
    let clients: Vec<String> = t["account_clients"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c.to_string())
        .collect();
    let verdict = match t["verdict"].as_str() {
        Some("listed") => format!("ok ({})", cell(&t["client_name"])),
        Some("not_listed") => {
            format!("NOT LISTED: the account may act for {}", clients.join(", "))
        }
        Some("not_reported") => "unchecked: NumHub listed no clients for the account".to_string(),
        _ => format!("FAILED: {}", cell(&t["reason"])),
    };
    out!(
        "tenant {} ({}) client {} via {}: {verdict}",
        t["tenant_id"],
        cell(&t["name"]),
        cell(&t["numhub_client_id"]),
        cell(&t["account"]),
    );
}

/// `token status`: whether a token is held and when it expires (never the token).
pub fn token_status(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
) -> Result<(), ClientError> {
    let r = c.request::<api::TokenStatusGet>(&MaybeTenant { tenant_id: tenant })?;
    if json_out {
        return print_json(&r);
    }
    if r.present {
        // A JSON number, or `null` when NumHub gave no lifetime.
        let left = json!(r.seconds_left);
        out!(
            "token held; expires {} ({left} s left)",
            cell(&r.expires_at)
        );
    } else {
        out!("no token held");
    }
    Ok(())
}
