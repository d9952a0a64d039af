//! The BCID applications and what hangs off them: `entities`, `entity show` (with
//! NumHub's review), `identities`, `drop-path` and `loa-template`.

use serde_json::{json, Value};

use numhubd::client::{Client, ClientError};

use crate::output::{cell, out, print_json, print_table};
use crate::session::{in_tenants, on_entity};

/// `entities`: every application of the tenants covered, optionally of one status.
pub fn list(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    status: Option<&str>,
) -> Result<(), ClientError> {
    let items = in_tenants(c, tenant, "entity.list", |t| {
        let mut p = json!({"tenant_id": t});
        if let Some(s) = status {
            p["status"] = json!(s);
        }
        p
    })?;
    print_table(
        json_out,
        &json!({"items": items}),
        &items,
        &[
            "id",
            "tenant_id",
            "company_name",
            "status",
            "vetting_status",
            "numhub_entity_id",
            "sync.state",
        ],
        |e| {
            vec![
                cell(&e["id"]),
                cell(&e["tenant_id"]),
                cell(&e["company_name"]),
                cell(&e["status"]),
                cell(&e["vetting_status"]),
                cell(&e["numhub_entity_id"]),
                cell(&e["sync"]["state"]),
            ]
        },
    )
}

/// `entity show`: every field one a line, then NumHub's review.
pub fn show(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    id: &str,
) -> Result<(), ClientError> {
    let e = on_entity(c, tenant, id, "entity.get")?;
    if json_out {
        return print_json(&e);
    }
    for (k, v) in e.as_object().into_iter().flatten() {
        if k != "review" {
            out!("{k:<18} {}", cell(v));
        }
    }
    print_review(&e["review"]);
    Ok(())
}

/// `entity show`'s review: NumHub's message, then each flagged section and its
/// comment, one a line.
fn print_review(review: &Value) {
    if review.is_null() {
        out!("{:<18} -", "review");
        return;
    }
    out!(
        "{:<18} flagged {}: {}",
        "review",
        cell(&review["flagged_at"]),
        cell(&review["message"])
    );
    for c in review["flagged_comments"].as_array().into_iter().flatten() {
        out!(
            "  section {} {}: {}",
            cell(&c["section_number"]),
            cell(&c["section_name"]),
            cell(&c["comments"])
        );
    }
}

/// `identities`: the display identities of the tenants covered (of one entity).
pub fn identities(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    entity: Option<&str>,
) -> Result<(), ClientError> {
    let items = in_tenants(c, tenant, "identity.list", |t| {
        let mut p = json!({"tenant_id": t});
        if let Some(e) = entity {
            p["entity_id"] = json!(e);
        }
        p
    })?;
    print_table(
        json_out,
        &json!({"items": items}),
        &items,
        &[
            "id",
            "entity_id",
            "display_name",
            "status",
            "dir_id",
            "phone_numbers",
            "sync.state",
        ],
        |i| {
            vec![
                cell(&i["id"]),
                cell(&i["entity_id"]),
                cell(&i["display_name"]),
                cell(&i["status"]),
                cell(&i["dir_id"]),
                cell(&i["phone_numbers"]),
                cell(&i["sync"]["state"]),
            ]
        },
    )
}

/// `drop-path`: the entity's drop folder, one line.
pub fn drop_path(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    entity: &str,
) -> Result<(), ClientError> {
    let d = on_entity(c, tenant, entity, "entity.drop_path")?;
    print_path(json_out, &d)
}

/// `loa-template`: NumHub's LOA template, fetched into the drop folder; its path.
pub fn loa_template(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    entity: &str,
) -> Result<(), ClientError> {
    let t = on_entity(c, tenant, entity, "entity.loa_template")?;
    print_path(json_out, &t)
}

fn print_path(json_out: bool, answer: &Value) -> Result<(), ClientError> {
    if json_out {
        return print_json(answer);
    }
    out!("{}", answer["path"].as_str().unwrap_or_default());
    Ok(())
}
