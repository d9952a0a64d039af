//! Asking numhubd to talk to NumHub now: `sync` (a cycle), `numhub check` (is each
//! tenant's client one the account may act for) and `token status`.

use serde_json::json;

use numhubd::api::{self, CheckVerdict, MaybeTenant, TenantCheck};
use numhubd::exit;

use crate::output::{cell, out, print_json, simple};
use crate::session::{Outcome, Session};

/// `sync`: a sync cycle starts now (the leader runs it).
pub fn sync(s: &mut Session, tenant: Option<i64>) -> Outcome {
    let started = s.request::<api::SyncRun>(&MaybeTenant { tenant_id: tenant })?;
    simple(s.json, &started, "sync started")
}

/// `numhub check`: one line per tenant; exits 1 when one is not listed (or could not
/// be checked).
pub fn check(s: &mut Session, tenant: Option<i64>) -> Outcome {
    let r = s.request::<api::NumhubCheckRun>(&MaybeTenant { tenant_id: tenant })?;
    if s.json {
        print_json(&r)?;
    } else {
        r.tenants.iter().for_each(print_check);
    }
    if !r.ok {
        // The answer is printed (as JSON for scripts); the exit status says
        // a tenant failed, without a second error object on stdout.
        std::process::exit(exit::FAILURE);
    }
    Ok(())
}

/// One tenant's verdict.
fn print_check(t: &TenantCheck) {
    let verdict = match t.verdict {
        CheckVerdict::Listed => format!("ok ({})", cell(&t.client_name)),
        CheckVerdict::NotListed => {
            let clients: Vec<String> = t.account_clients.iter().map(i32::to_string).collect();
            format!("NOT LISTED: the account may act for {}", clients.join(", "))
        }
        CheckVerdict::NotReported => {
            "unchecked: NumHub listed no clients for the account".to_string()
        }
        CheckVerdict::Failed => format!("FAILED: {}", cell(&t.reason)),
    };
    out!(
        "tenant {} ({}) client {} via {}: {verdict}",
        t.tenant_id,
        t.name,
        cell(&t.numhub_client_id),
        cell(&t.account),
    );
}

/// `token status`: whether a token is held and when it expires (never the token).
pub fn token_status(s: &mut Session, tenant: Option<i64>) -> Outcome {
    let r = s.request::<api::TokenStatusGet>(&MaybeTenant { tenant_id: tenant })?;
    if s.json {
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
