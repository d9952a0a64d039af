//! `jobs`: the outbox (`list`), and settling a job by hand (`retry`, `resolve`).

use serde_json::json;

use numhubd::client::{Client, ClientError};

use crate::output::{cell, print_table, simple};
use crate::session::all_pages_by_name;

/// `jobs list`: every job (of a tenant, in a state), newest first.
pub fn list(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    state: Option<&str>,
) -> Result<(), ClientError> {
    let mut p = json!({});
    if let Some(t) = tenant {
        p["tenant_id"] = json!(t);
    }
    if let Some(s) = state {
        p["state"] = json!(s);
    }
    let items = all_pages_by_name(c, "jobs.list", p)?;
    print_table(
        json_out,
        &json!({"items": items}),
        &items,
        &[
            "id",
            "tenant_id",
            "kind",
            "state",
            "attempts",
            "entity_id",
            "last_error",
        ],
        |j| {
            vec![
                cell(&j["id"]),
                cell(&j["tenant_id"]),
                cell(&j["kind"]),
                cell(&j["state"]),
                cell(&j["attempts"]),
                cell(&j["entity_id"]),
                cell(&j["last_error"]),
            ]
        },
    )
}

/// `jobs retry ID`: the job is due again now.
pub fn retry(c: &mut Client, json_out: bool, id: i64) -> Result<(), ClientError> {
    let r = c.call("jobs.retry", json!({"id": id}))?;
    simple(json_out, &r, &format!("job {id} queued again"))
}

/// `jobs resolve ID`: the job is settled by hand (done), with a note.
pub fn resolve(
    c: &mut Client,
    json_out: bool,
    id: i64,
    note: Option<&str>,
) -> Result<(), ClientError> {
    let mut p = json!({"id": id});
    if let Some(n) = note {
        p["note"] = json!(n);
    }
    let r = c.call("jobs.resolve", p)?;
    simple(json_out, &r, &format!("job {id} resolved"))
}
