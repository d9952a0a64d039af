//! The BCID applications and what hangs off them: `entities`, `entity show` (with
//! NumHub's review), `identities`, `drop-path` and `loa-template`.

use std::path::Path;

use serde_json::json;

use numhubd::api::{self, EntityLookup, EntityQuery, Review, RowRef};
use numhubd::client::ClientError;

use crate::output::{cell, out, print_json, table};
use crate::session::{named, Outcome, Session};

/// `entities`: every application of the tenants covered, optionally of one status.
pub fn list(s: &mut Session, tenant: Option<i64>, status: Option<&str>) -> Outcome {
    let status = status.map(|name| named("status", name)).transpose()?;
    let items = s.in_tenants::<api::EntityList, _>(tenant, |tenant_id| EntityQuery {
        tenant_id,
        status,
        cursor: None,
        limit: None,
    })?;
    table!(s.json, &json!({"items": items}), &items;
        id, tenant_id, company_name, status, vetting_status, numhub_entity_id, sync.state)
}

/// `entity show`: every field one a line (in the order `--json` has them), then
/// NumHub's review.
pub fn show(s: &mut Session, tenant: Option<i64>, id: &str) -> Outcome {
    let e = s.on_entity::<api::EntityGet>(tenant, id, |tenant_id| EntityLookup {
        tenant_id,
        id: Some(id.to_string()),
        numhub_entity_id: None,
    })?;
    if s.json {
        return print_json(&e);
    }
    let fields =
        serde_json::to_value(&e.entity).map_err(|e| ClientError::Protocol(e.to_string()))?;
    for (k, v) in fields.as_object().into_iter().flatten() {
        out!("{k:<18} {}", cell(v));
    }
    print_review(e.review.as_ref());
    Ok(())
}

/// `entity show`'s review: NumHub's message, then each flagged section and its
/// comment, one a line.
fn print_review(review: Option<&Review>) {
    let Some(review) = review else {
        out!("{:<18} -", "review");
        return;
    };
    out!(
        "{:<18} flagged {}: {}",
        "review",
        review.flagged_at,
        cell(&review.message)
    );
    for c in &review.flagged_comments {
        out!(
            "  section {} {}: {}",
            cell(&c.section_number),
            cell(&c.section_name),
            cell(&c.comments)
        );
    }
}

/// `identities`: the display identities of the tenants covered (of one entity).
pub fn identities(s: &mut Session, tenant: Option<i64>, entity: Option<&str>) -> Outcome {
    let items = s.of_entity::<api::IdentityList, _>(tenant, entity)?;
    table!(s.json, &json!({"items": items}), &items;
        id, entity_id, display_name, status, dir_id, phone_numbers, sync.state)
}

/// `drop-path`: the entity's drop folder, one line.
pub fn drop_path(s: &mut Session, tenant: Option<i64>, entity: &str) -> Outcome {
    let d = s.on_entity::<api::EntityDropPath>(tenant, entity, |t| row(t, entity))?;
    print_path(s.json, &d, &d.path)
}

/// `loa-template`: NumHub's LOA template, fetched into the drop folder; its path.
pub fn loa_template(s: &mut Session, tenant: Option<i64>, entity: &str) -> Outcome {
    let t = s.on_entity::<api::EntityLoaTemplate>(tenant, entity, |t| row(t, entity))?;
    print_path(s.json, &t, &t.path)
}

fn row(tenant_id: i64, id: &str) -> RowRef {
    RowRef {
        tenant_id,
        id: id.to_string(),
    }
}

/// The answer as JSON, or just its `path`.
fn print_path<T: serde::Serialize>(json_out: bool, answer: &T, path: &Path) -> Outcome {
    if json_out {
        return print_json(answer);
    }
    out!("{}", path.display());
    Ok(())
}
