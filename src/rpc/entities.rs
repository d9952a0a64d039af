//! `entity.*`: BCID applications. Every change NumHub must see is written locally
//! together with its outbox job in one transaction; the answer is the local state,
//! with a `sync` object showing the job. Also where an entity's drop folder is
//! (`entity.drop_path`) and its LOA template (`entity.loa_template`, via the port).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{def, handler, MethodDef, Scope};
use super::port::LoaTemplate;
use super::rows::{local_id, obj, page_schema, queued, wait_for, with_sync, RowWait, WithSync};
use super::schema::{
    self, application, application_update, boolean, cursor, id, limit, object, one_of, shown_text,
    string, wait_s,
};
use super::Rpc;
use crate::db::{self, entities, jobs, reviews, tenants, EntityStatus, EntityType, Sql};
use crate::events::Event;
use crate::watch::layout;

fn statuses() -> Vec<&'static str> {
    EntityStatus::ALL.iter().map(|s| s.as_str()).collect()
}

pub fn methods() -> Vec<MethodDef> {
    use Role::*;
    use Scope::*;
    let entity_types: Vec<&str> = EntityType::ALL.iter().map(|t| t.as_str()).collect();
    vec![
        def(
            "entity.create",
            "Saves a BCID application locally and queues it for NumHub (submit: vet it now).",
            Write,
            Tenant("tenant_id"),
            object(
                &[
                    ("tenant_id", id()),
                    ("entity_type", one_of(&entity_types)),
                    ("company_name", shown_text(1, 255)),
                    ("application", application()),
                    ("submit", boolean()),
                ],
                &[("brand_id", id()), ("wait_s", wait_s())],
            ),
            obj(),
            handler(entity_create),
        ),
        def(
            "entity.update",
            "Changes a draft or rejected application; queued for NumHub.",
            Write,
            Tenant("tenant_id"),
            object(
                &[
                    ("tenant_id", id()),
                    ("id", local_id()),
                    ("application", application_update()),
                ],
                &[("wait_s", wait_s())],
            ),
            obj(),
            handler(entity_update),
        ),
        def(
            "entity.submit",
            "Submits a draft (or resubmits a rejected) application for vetting; queued for NumHub.",
            Write,
            Tenant("tenant_id"),
            object(
                &[("tenant_id", id()), ("id", local_id())],
                &[("wait_s", wait_s())],
            ),
            obj(),
            handler(entity_submit),
        ),
        def(
            "entity.get",
            "One application, by local id or by NumHub's numhub_entity_id (exactly one).",
            Read,
            Tenant("tenant_id"),
            object(
                &[("tenant_id", id())],
                &[("id", local_id()), ("numhub_entity_id", string(100))],
            ),
            detail_schema(),
            handler(entity_get),
        ),
        def(
            "entity.list",
            "The tenant's applications, optionally of one status.",
            Read,
            Tenant("tenant_id"),
            object(
                &[("tenant_id", id())],
                &[
                    ("status", one_of(&statuses())),
                    ("cursor", cursor()),
                    ("limit", limit()),
                ],
            ),
            page_schema(),
            handler(entity_list),
        ),
        def(
            "entity.drop_path",
            "Where the application's drop folder is: the folder, its type folders, the LOA template's path.",
            Read,
            Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[]),
            obj(),
            handler(entity_drop_path),
        ),
        def(
            "entity.loa_template",
            "Downloads NumHub's LOA template (BCID Appendix A) into the application's drop folder.",
            Write,
            Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[]),
            obj(),
            handler(entity_loa_template),
        ),
    ]
}

#[derive(Deserialize)]
struct EntityRef {
    tenant_id: i64,
    id: String,
}

/// Computed from the layout alone: the folder may not exist yet (the watcher or the
/// LOA template makes it).
async fn entity_drop_path(rpc: Arc<Rpc>, _: Caller, p: EntityRef) -> Result<Value, RpcError> {
    let tenant_id = p.tenant_id;
    let (entity, tenant) = rpc
        .store
        .read(move |sql| {
            Ok((
                entities::get(sql, tenant_id, &p.id)?,
                tenants::get(sql, tenant_id)?,
            ))
        })
        .await?;
    let dir = layout::entity_dir(
        &rpc.drop_dir,
        tenant_id,
        tenant.slug.as_deref(),
        &entity.id,
        &entity.company_name,
    );
    let type_dirs: Map<String, Value> = layout::TYPE_DIRS
        .iter()
        .map(|(name, _)| (name.to_string(), json!(dir.join(name))))
        .collect();
    Ok(json!({
        "path": dir,
        "type_dirs": type_dirs,
        "template": dir.join(layout::TEMPLATE),
    }))
}

async fn entity_loa_template(
    rpc: Arc<Rpc>,
    _: Caller,
    p: EntityRef,
) -> Result<LoaTemplate, RpcError> {
    let tenant_id = p.tenant_id;
    let id = p.id.clone();
    // A missing row is a not-found before NumHub is asked anything.
    rpc.store
        .read(move |sql| entities::get(sql, tenant_id, &id))
        .await?;
    Ok(super::operations::port(&rpc)?
        .loa_template(p.tenant_id, p.id)
        .await?)
}

fn entity_with_sync(sql: &Sql<'_>, e: entities::Entity) -> db::Result<WithSync<entities::Entity>> {
    let job = jobs::pending_for_entity(sql, &e.id)?;
    Ok(with_sync(e, job))
}

#[derive(Deserialize)]
struct EntityCreate {
    tenant_id: i64,
    brand_id: Option<i64>,
    entity_type: String,
    company_name: String,
    application: Map<String, Value>,
    submit: bool,
    wait_s: Option<u64>,
}

/// The display identities of an application body are what NumHub shows on phones:
/// their caller name and call reason must read as written and their logo be https,
/// as `identity.update` requires (NumHub's schema, which validates the rest of the
/// body, says nothing of either).
fn check_shown_identities(application: &serde_json::Map<String, Value>) -> Result<(), RpcError> {
    let listed = application
        .get("displayIdentityInformation")
        .and_then(|d| d.get("displayIdentities"))
        .and_then(Value::as_array);
    let mut errors = Vec::new();
    for (i, identity) in listed.into_iter().flatten().enumerate() {
        for (field, check) in [
            (
                "callerName",
                schema::shown_text_problem as fn(&str) -> Option<String>,
            ),
            ("callReason", schema::shown_text_problem),
            ("logoUrl", schema::https_url_problem),
        ] {
            if let Some(reason) = identity.get(field).and_then(Value::as_str).and_then(check) {
                errors.push(schema::FieldError {
                    field: format!(
                        "application.displayIdentityInformation.displayIdentities[{i}].{field}"
                    ),
                    reason,
                });
            }
        }
    }
    match errors.is_empty() {
        true => Ok(()),
        false => Err(RpcError::InvalidParams(errors)),
    }
}

async fn entity_create(
    rpc: Arc<Rpc>,
    _: Caller,
    mut p: EntityCreate,
) -> Result<WithSync<entities::Entity>, RpcError> {
    check_shown_identities(&p.application)?;
    let wanted = if p.submit { "Submit" } else { "Saved" };
    match p.application.get("status").and_then(Value::as_str) {
        Some(s) if s != wanted => {
            return Err(RpcError::invalid(
                "application.status",
                format!("is {s:?} but submit is {} (which means {wanted:?}); make them agree or leave application.status out", p.submit),
            ))
        }
        _ => {}
    }
    p.application
        .insert("status".into(), Value::String(wanted.into()));
    let details = p
        .application
        .entry("businessEntityDetails")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(d) = details {
        if d.get("legalBusinessName").is_none_or(Value::is_null) {
            d.insert(
                "legalBusinessName".into(),
                Value::String(p.company_name.clone()),
            );
        }
    } else if details.is_null() {
        *details = json!({"legalBusinessName": p.company_name});
    }
    let entity_type = EntityType::parse(&p.entity_type)?;
    let payload = jobs::JobPayload::EntityCreate(jobs::ApplicationChange {
        application: p.application,
    });
    let tenant_id = p.tenant_id;
    let (entity, job_id) = rpc
        .store
        .write(move |tx| {
            let e = entities::create(
                tx,
                entities::NewEntity {
                    tenant_id,
                    brand_id: p.brand_id,
                    entity_type,
                    company_name: p.company_name.clone(),
                    submit: p.submit,
                    attestation_level: None,
                },
            )?;
            let job = jobs::enqueue(
                tx,
                jobs::NewJob::on_entity(tenant_id, e.id.clone(), payload.clone()),
            )?;
            Ok((e, job.id))
        })
        .await?;
    queued(&rpc);
    rpc.events.publish(entity_event(&entity));
    wait_for(&rpc, tenant_id, job_id, p.wait_s).await?;
    fresh_entity(&rpc, tenant_id, entity.id).await
}

fn entity_event(e: &entities::Entity) -> Event {
    Event::EntityStatusChanged {
        tenant_id: e.tenant_id,
        entity_id: e.id.clone(),
        numhub_entity_id: e.numhub_entity_id.clone(),
        status: e.status.to_string(),
        vetting_status: e.vetting_status.to_string(),
    }
}

async fn fresh_entity(
    rpc: &Rpc,
    tenant_id: i64,
    id: String,
) -> Result<WithSync<entities::Entity>, RpcError> {
    Ok(rpc
        .store
        .read_point(move |sql| {
            let (e, job) = entities::get_with_pending(sql, tenant_id, &id)?;
            Ok(with_sync(e, job))
        })
        .await?)
}

#[derive(Deserialize)]
struct EntityUpdate {
    tenant_id: i64,
    id: String,
    application: Map<String, Value>,
    wait_s: Option<u64>,
}

async fn entity_update(
    rpc: Arc<Rpc>,
    _: Caller,
    p: EntityUpdate,
) -> Result<WithSync<entities::Entity>, RpcError> {
    check_shown_identities(&p.application)?;
    // The same PUT with "Submit" submits at NumHub: that is entity.submit's, which
    // moves the local status with it.
    if p.application.get("status").and_then(Value::as_str) == Some("Submit") {
        return Err(RpcError::invalid(
            "application.status",
            "\"Submit\" would submit the application; entity.update saves (\"Saved\" or leave it out), entity.submit submits",
        ));
    }
    let tenant_id = p.tenant_id;
    let id = p.id.clone();
    let payload = jobs::JobPayload::EntityUpdate(jobs::ApplicationChange {
        application: p.application,
    });
    let job_id = rpc
        .store
        .write(move |tx| {
            entities::ensure_changeable(tx, tenant_id, &id)?;
            let job = jobs::enqueue(
                tx,
                jobs::NewJob::on_entity(tenant_id, id.clone(), payload.clone()),
            )?;
            Ok(job.id)
        })
        .await?;
    queued(&rpc);
    wait_for(&rpc, tenant_id, job_id, p.wait_s).await?;
    fresh_entity(&rpc, tenant_id, p.id).await
}

async fn entity_submit(
    rpc: Arc<Rpc>,
    _: Caller,
    p: RowWait,
) -> Result<WithSync<entities::Entity>, RpcError> {
    let tenant_id = p.tenant_id;
    let id = p.id.clone();
    let (entity, job_id) = rpc
        .store
        .write(move |tx| {
            let e = entities::submit(tx, tenant_id, &id)?;
            let job = jobs::enqueue(
                tx,
                jobs::NewJob::on_entity(
                    tenant_id,
                    id.clone(),
                    jobs::JobPayload::EntitySubmit(jobs::Nothing {}),
                ),
            )?;
            Ok((e, job.id))
        })
        .await?;
    queued(&rpc);
    rpc.events.publish(entity_event(&entity));
    wait_for(&rpc, tenant_id, job_id, p.wait_s).await?;
    fresh_entity(&rpc, tenant_id, p.id).await
}

/// `entity.get`'s answer: the row, its `sync` object and NumHub's review.
#[derive(Serialize)]
struct EntityDetail {
    #[serde(flatten)]
    entity: WithSync<entities::Entity>,
    /// NumHub's review while it flags the application (null otherwise): the alert's
    /// message and each flagged section with its comment.
    review: Option<reviews::Review>,
}

fn detail_schema() -> Value {
    let text = json!({"type": ["string", "null"]});
    let mut schema = obj();
    schema["properties"]["review"] = json!({
        "type": ["object", "null"],
        "properties": {
            "message": text,
            "flagged_comments": {"type": "array", "items": {"type": "object", "properties": {
                "section_number": {"type": ["integer", "null"]},
                "section_name": text,
                "comments": text,
            }}},
            "flagged_at": {"type": "string"},
            "updated_at": {"type": "string"},
        },
        "required": ["message", "flagged_comments", "flagged_at", "updated_at"],
    });
    schema
}

fn with_review(sql: &Sql<'_>, entity: WithSync<entities::Entity>) -> db::Result<EntityDetail> {
    let review = reviews::find(sql, &entity.row.id)?;
    Ok(EntityDetail { entity, review })
}

#[derive(Deserialize)]
struct EntityGet {
    tenant_id: i64,
    id: Option<String>,
    numhub_entity_id: Option<String>,
}

async fn entity_get(rpc: Arc<Rpc>, _: Caller, p: EntityGet) -> Result<EntityDetail, RpcError> {
    let tenant_id = p.tenant_id;
    match (p.id, p.numhub_entity_id) {
        (Some(id), None) => Ok(rpc
            .store
            .read_point(move |sql| {
                let (e, job) = entities::get_with_pending(sql, tenant_id, &id)?;
                with_review(sql, with_sync(e, job))
            })
            .await?),
        (None, Some(nid)) => Ok(rpc
            .store
            .read(move |sql| {
                let e = entities::get_by_numhub_id(sql, tenant_id, &nid)?;
                with_review(sql, entity_with_sync(sql, e)?)
            })
            .await?),
        _ => Err(RpcError::invalid(
            "id",
            "give exactly one of id or numhub_entity_id",
        )),
    }
}

#[derive(Deserialize)]
struct EntityList {
    tenant_id: i64,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn entity_list(
    rpc: Arc<Rpc>,
    _: Caller,
    p: EntityList,
) -> Result<db::Page<WithSync<entities::Entity>>, RpcError> {
    let status = p.status.as_deref().map(EntityStatus::parse).transpose()?;
    Ok(rpc
        .store
        .read(move |sql| {
            let page = entities::list_with_pending(
                sql,
                p.tenant_id,
                status,
                p.cursor.as_deref(),
                p.limit,
            )?;
            page.try_map(|(e, job)| Ok(with_sync(e, job)))
        })
        .await?)
}
