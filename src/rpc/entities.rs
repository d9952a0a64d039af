//! `entity.*`: BCID applications. Every change NumHub must see is written locally
//! together with its outbox job in one transaction; the answer is the local state,
//! with a `sync` object showing the job. Also where an entity's drop folder is
//! (`entity.drop_path`) and its LOA template (`entity.loa_template`, via the port).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{method, MethodDef, Scope};
use super::rows::{queued, wait_for};
use super::schema;
use super::wire::ToWire;
use super::Rpc;
use crate::api::{
    DropPath, Entity, EntityChange, EntityCreate, EntityDetail, EntityDropPath, EntityFields,
    EntityGet, EntityList, EntityLoaTemplate, EntityLookup, EntityQuery, EntitySubmit,
    EntityUpdate, LoaTemplate, Page, RowRef, RowWait, WithSync,
};
use crate::db::{entities, jobs, reviews, tenants};
use crate::events::Event;
use crate::watch::layout;

pub fn methods() -> Vec<MethodDef> {
    use Role::*;
    use Scope::*;
    vec![
        method::<EntityCreate>(
            "Saves a BCID application locally and queues it for NumHub (submit: vet it now).",
            Write,
            Tenant("tenant_id"),
            entity_create,
        ),
        method::<EntityUpdate>(
            "Changes a draft or rejected application; queued for NumHub.",
            Write,
            Tenant("tenant_id"),
            entity_update,
        ),
        method::<EntitySubmit>(
            "Submits a draft (or resubmits a rejected) application for vetting; queued for NumHub.",
            Write,
            Tenant("tenant_id"),
            entity_submit,
        ),
        method::<EntityGet>(
            "One application, by local id or by NumHub's numhub_entity_id (exactly one).",
            Read,
            Tenant("tenant_id"),
            entity_get,
        ),
        method::<EntityList>(
            "The tenant's applications, optionally of one status.",
            Read,
            Tenant("tenant_id"),
            entity_list,
        ),
        method::<EntityDropPath>(
            "Where the application's drop folder is: the folder, its type folders, the LOA template's path.",
            Read,
            Tenant("tenant_id"),
            entity_drop_path,
        ),
        method::<EntityLoaTemplate>(
            "Downloads NumHub's LOA template (BCID Appendix A) into the application's drop folder.",
            Write,
            Tenant("tenant_id"),
            entity_loa_template,
        ),
    ]
}

/// Computed from the layout alone: the folder may not exist yet (the watcher or the
/// LOA template makes it).
async fn entity_drop_path(rpc: Arc<Rpc>, _: Caller, p: RowRef) -> Result<DropPath, RpcError> {
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
    let dir = layout::entity_dir(&rpc.drop_dir, &tenant, &entity);
    let type_dirs = layout::TYPE_DIRS
        .iter()
        .map(|(name, _)| (name.to_string(), dir.join(name)))
        .collect();
    Ok(DropPath {
        template: dir.join(layout::TEMPLATE),
        path: dir,
        type_dirs,
    })
}

async fn entity_loa_template(rpc: Arc<Rpc>, _: Caller, p: RowRef) -> Result<LoaTemplate, RpcError> {
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
    mut p: EntityFields,
) -> Result<WithSync<Entity>, RpcError> {
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
    let entity_type = p.entity_type;
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
    rpc.events.publish(Event::entity_changed(&entity));
    answer_queued(&rpc, tenant_id, job_id, p.wait_s, entity.id).await
}

/// After a change and its job committed: wakes the outbox, waits for the job if the
/// caller asked to, and answers the entity as it is then.
async fn answer_queued(
    rpc: &Rpc,
    tenant_id: i64,
    job_id: i64,
    wait_s: Option<u64>,
    id: String,
) -> Result<WithSync<Entity>, RpcError> {
    queued(rpc);
    wait_for(rpc, tenant_id, job_id, wait_s).await?;
    fresh_entity(rpc, tenant_id, id).await
}

async fn fresh_entity(rpc: &Rpc, tenant_id: i64, id: String) -> Result<WithSync<Entity>, RpcError> {
    rpc.store
        .read_point(move |sql| entities::get_with_pending(sql, tenant_id, &id))
        .await?
        .to_wire()
}

async fn entity_update(
    rpc: Arc<Rpc>,
    _: Caller,
    p: EntityChange,
) -> Result<WithSync<Entity>, RpcError> {
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
    answer_queued(&rpc, tenant_id, job_id, p.wait_s, p.id).await
}

async fn entity_submit(rpc: Arc<Rpc>, _: Caller, p: RowWait) -> Result<WithSync<Entity>, RpcError> {
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
    rpc.events.publish(Event::entity_changed(&entity));
    answer_queued(&rpc, tenant_id, job_id, p.wait_s, p.id).await
}

/// The entity, its job and its review (if NumHub flags it) as `entity.get` shows them.
fn detail(
    (entity, job, review): (
        entities::Entity,
        Option<jobs::Pending>,
        Option<reviews::Review>,
    ),
) -> Result<EntityDetail, RpcError> {
    Ok(EntityDetail {
        entity: (entity, job).to_wire()?,
        review: review.map(ToWire::to_wire).transpose()?,
    })
}

async fn entity_get(rpc: Arc<Rpc>, _: Caller, p: EntityLookup) -> Result<EntityDetail, RpcError> {
    let tenant_id = p.tenant_id;
    let found = match (p.id, p.numhub_entity_id) {
        (Some(id), None) => {
            rpc.store
                .read_point(move |sql| {
                    let (e, job) = entities::get_with_pending(sql, tenant_id, &id)?;
                    let review = reviews::find(sql, &e.id)?;
                    Ok((e, job, review))
                })
                .await?
        }
        (None, Some(nid)) => {
            rpc.store
                .read(move |sql| {
                    let (e, job) =
                        jobs::with_pending(sql, entities::get_by_numhub_id(sql, tenant_id, &nid)?)?;
                    let review = reviews::find(sql, &e.id)?;
                    Ok((e, job, review))
                })
                .await?
        }
        _ => {
            return Err(RpcError::invalid(
                "id",
                "give exactly one of id or numhub_entity_id",
            ))
        }
    };
    detail(found)
}

async fn entity_list(
    rpc: Arc<Rpc>,
    _: Caller,
    p: EntityQuery,
) -> Result<Page<WithSync<Entity>>, RpcError> {
    let status = p.status;
    rpc.store
        .read(move |sql| {
            entities::list_with_pending(sql, p.tenant_id, status, p.cursor.as_deref(), p.limit)
        })
        .await?
        .to_wire()
}
