//! Methods over BCID applications (entities), display identities and documents. Every
//! change NumHub must see is written locally together with its outbox job in one
//! transaction; the answer is the local state, with a `sync` object showing the job.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{def, handler, MethodDef, Scope};
use super::schema::{
    application, boolean, cursor, e164, id, limit, object, one_of, string, text, wait_s,
};
use super::Rpc;
use crate::api::SyncState;
use crate::db::{
    self, documents, entities, identities, jobs, DocumentType, EntityStatus, EntityType,
    IdentityStatus, Sql,
};
use crate::events::Event;

fn obj() -> Value {
    json!({"type": "object", "properties": {"id": {"type": "string"}, "sync": {"type": ["object", "null"]}}})
}

fn page_schema() -> Value {
    json!({"type": "object", "properties": {"items": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}}, "required": ["items", "next_cursor"]})
}

fn local_id() -> Value {
    string(100)
}

fn statuses() -> Vec<&'static str> {
    EntityStatus::ALL.iter().map(|s| s.as_str()).collect()
}

pub fn methods() -> Vec<MethodDef> {
    use Role::*;
    use Scope::*;
    let entity_types: Vec<&str> = EntityType::ALL.iter().map(|t| t.as_str()).collect();
    let doc_types: Vec<&str> = DocumentType::ALL.iter().map(|t| t.as_str()).collect();
    vec![
        def("entity.create", "Saves a BCID application locally and queues it for NumHub (submit: vet it now).", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("entity_type", one_of(&entity_types)), ("company_name", string(255)), ("application", application()), ("submit", boolean())],
                   &[("brand_id", id()), ("wait_s", wait_s())]),
            obj(), handler(entity_create)),
        def("entity.update", "Changes a draft or rejected application; queued for NumHub.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id()), ("application", application())], &[("wait_s", wait_s())]),
            obj(), handler(entity_update)),
        def("entity.submit", "Submits a draft (or resubmits a rejected) application for vetting; queued for NumHub.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[("wait_s", wait_s())]),
            obj(), handler(entity_submit)),
        def("entity.get", "One application, by local id or by NumHub's numhub_entity_id (exactly one).", Read, Tenant("tenant_id"),
            object(&[("tenant_id", id())], &[("id", local_id()), ("numhub_entity_id", string(100))]),
            obj(), handler(entity_get)).cached(),
        def("entity.list", "The tenant's applications, optionally of one status.", Read, Tenant("tenant_id"),
            object(&[("tenant_id", id())], &[("status", one_of(&statuses())), ("cursor", cursor()), ("limit", limit())]),
            page_schema(), handler(entity_list)),
        def("identity.list", "The tenant's display identities (of one entity, if given).", Read, Tenant("tenant_id"),
            object(&[("tenant_id", id())], &[("entity_id", local_id()), ("cursor", cursor()), ("limit", limit())]),
            page_schema(), handler(identity_list)),
        def("identity.get", "One display identity.", Read, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[]),
            obj(), handler(identity_get)).cached(),
        def("identity.update", "Changes what an identity shows (display_name at most 32 characters); queued for NumHub.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[("display_name", string(32)), ("call_reason", text(255)), ("logo_url", text(500)), ("wait_s", wait_s())]),
            obj(), handler(identity_update)),
        def("identity.deactivate", "Deactivates an identity; queued for NumHub.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[("wait_s", wait_s())]),
            obj(), handler(identity_deactivate)),
        def("identity.numbers.add", "Adds E.164 numbers to an identity; queued for NumHub.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id()), ("phone_numbers", json!({"type": "array", "items": e164(), "minItems": 1, "maxItems": 1000}))], &[("wait_s", wait_s())]),
            obj(), handler(identity_numbers_add)),
        def("identity.numbers.remove", "Removes E.164 numbers from an identity; queued for NumHub.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id()), ("phone_numbers", json!({"type": "array", "items": e164(), "minItems": 1, "maxItems": 1000}))], &[("wait_s", wait_s())]),
            obj(), handler(identity_numbers_remove)),
        def("document.upload", "Registers a file under [rpc] upload_dirs for upload to an application (hashed, type detected from the bytes); queued for NumHub.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("entity_id", local_id()), ("document_type", one_of(&doc_types)), ("path", string(4096))], &[("description", text(500)), ("wait_s", wait_s())]),
            obj(), handler(document_upload)),
        def("document.list", "The tenant's documents (of one entity, if given), each with sha256 and status.", Read, Tenant("tenant_id"),
            object(&[("tenant_id", id())], &[("entity_id", local_id()), ("cursor", cursor()), ("limit", limit())]),
            page_schema(), handler(document_list)),
        def("document.get", "One document.", Read, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[]),
            obj(), handler(document_get)).cached(),
        def("document.delete", "Queues the removal of a document at NumHub; the row goes once NumHub confirms.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[]),
            obj(), handler(document_delete)),
    ]
}

/// A row and its unfinished outbox job, if any.
#[derive(Serialize)]
pub struct WithSync<T> {
    #[serde(flatten)]
    pub row: T,
    pub sync: Option<SyncState>,
}

/// A row with its newest unfinished job (if any) as the `sync` object.
fn with_sync<T>(row: T, job: Option<jobs::Pending>) -> WithSync<T> {
    WithSync {
        row,
        sync: job.map(|j| SyncState {
            job_id: j.id,
            kind: j.kind,
            state: j.state,
            attempts: j.attempts,
            last_error: j.last_error,
        }),
    }
}

fn entity_with_sync(sql: &Sql<'_>, e: entities::Entity) -> db::Result<WithSync<entities::Entity>> {
    let job = jobs::pending_for_entity(sql, &e.id)?;
    Ok(with_sync(e, job))
}

fn identity_with_sync(
    sql: &Sql<'_>,
    i: identities::Identity,
) -> db::Result<WithSync<identities::Identity>> {
    let job = jobs::pending_for_identity(sql, &i.id)?;
    Ok(with_sync(i, job))
}

fn document_with_sync(
    sql: &Sql<'_>,
    d: documents::Document,
) -> db::Result<WithSync<documents::Document>> {
    let job = jobs::pending_for_document(sql, &d.id)?;
    Ok(with_sync(d, job))
}

/// Wakes the outbox for a job just committed.
fn queued(rpc: &Rpc) {
    if let Some(port) = &rpc.numhub {
        port.jobs_queued();
    }
}

/// `wait_s`: polls the job until it is done, dead or needs attention, or time runs
/// out (the answer then shows it still queued). Bounded by the schema (≤ 60 s).
async fn wait_for(
    rpc: &Rpc,
    tenant_id: i64,
    job_id: i64,
    wait_s: Option<u64>,
) -> Result<(), RpcError> {
    let Some(secs) = wait_s.filter(|s| *s > 0) else {
        return Ok(());
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let job = rpc
            .store
            .read(move |sql| jobs::get(sql, tenant_id, job_id))
            .await?;
        match job.state.as_str() {
            "done" => return Ok(()),
            "dead" => {
                return Err(RpcError::NumhubRejected {
                    status: None,
                    message: job.last_error.unwrap_or_else(|| "refused".into()),
                })
            }
            "needs_attention" => {
                return Err(RpcError::NumhubUnavailable(job.last_error.unwrap_or_else(
                    || "outcome unknown; an operator must retry or resolve the job".into(),
                )))
            }
            _ if tokio::time::Instant::now() >= deadline => return Ok(()),
            _ => {}
        }
    }
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

async fn entity_create(
    rpc: Arc<Rpc>,
    _: Caller,
    mut p: EntityCreate,
) -> Result<WithSync<entities::Entity>, RpcError> {
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
    let payload = json!({"application": p.application}).to_string();
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
                    company_name: p.company_name,
                    submit: p.submit,
                    attestation_level: None,
                },
            )?;
            let job = jobs::enqueue(
                tx,
                jobs::NewJob {
                    tenant_id,
                    kind: "entity.create",
                    entity_id: Some(e.id.clone()),
                    payload,
                    ..Default::default()
                },
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
    let tenant_id = p.tenant_id;
    let id = p.id.clone();
    let payload = json!({"application": p.application}).to_string();
    let job_id = rpc
        .store
        .write(move |tx| {
            let e = entities::get(tx, tenant_id, &id)?;
            // NumHub takes changes only while an application is not being vetted.
            if !matches!(e.status, EntityStatus::Draft | EntityStatus::Rejected) {
                return Err(db::DbError::IllegalTransition {
                    from: e.status.to_string(),
                    to: "updated (only draft or rejected applications can change)".into(),
                });
            }
            let job = jobs::enqueue(
                tx,
                jobs::NewJob {
                    tenant_id,
                    kind: "entity.update",
                    entity_id: Some(id),
                    payload,
                    ..Default::default()
                },
            )?;
            Ok(job.id)
        })
        .await?;
    queued(&rpc);
    wait_for(&rpc, tenant_id, job_id, p.wait_s).await?;
    fresh_entity(&rpc, tenant_id, p.id).await
}

#[derive(Deserialize)]
struct RowWait {
    tenant_id: i64,
    id: String,
    wait_s: Option<u64>,
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
            let e = entities::get(tx, tenant_id, &id)?;
            if e.status == EntityStatus::Submitted {
                return Err(db::DbError::IllegalTransition {
                    from: e.status.to_string(),
                    to: "submitted".into(),
                });
            }
            let e = entities::transition(tx, tenant_id, &id, EntityStatus::Submitted)?;
            let job = jobs::enqueue(
                tx,
                jobs::NewJob {
                    tenant_id,
                    kind: "entity.submit",
                    entity_id: Some(id),
                    payload: "{}".into(),
                    ..Default::default()
                },
            )?;
            Ok((e, job.id))
        })
        .await?;
    queued(&rpc);
    rpc.events.publish(entity_event(&entity));
    wait_for(&rpc, tenant_id, job_id, p.wait_s).await?;
    fresh_entity(&rpc, tenant_id, p.id).await
}

#[derive(Deserialize)]
struct EntityGet {
    tenant_id: i64,
    id: Option<String>,
    numhub_entity_id: Option<String>,
}

async fn entity_get(
    rpc: Arc<Rpc>,
    _: Caller,
    p: EntityGet,
) -> Result<WithSync<entities::Entity>, RpcError> {
    let tenant_id = p.tenant_id;
    match (p.id, p.numhub_entity_id) {
        (Some(id), None) => fresh_entity(&rpc, tenant_id, id).await,
        (None, Some(nid)) => Ok(rpc
            .store
            .read(move |sql| {
                let e = entities::get_by_numhub_id(sql, tenant_id, &nid)?;
                entity_with_sync(sql, e)
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

#[derive(Deserialize)]
struct ChildList {
    tenant_id: i64,
    entity_id: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn identity_list(
    rpc: Arc<Rpc>,
    _: Caller,
    p: ChildList,
) -> Result<db::Page<WithSync<identities::Identity>>, RpcError> {
    Ok(rpc
        .store
        .read(move |sql| {
            let page = identities::list(
                sql,
                p.tenant_id,
                p.entity_id.as_deref(),
                p.cursor.as_deref(),
                p.limit,
            )?;
            page.try_map(|(i, job)| Ok(with_sync(i, job)))
        })
        .await?)
}

#[derive(Deserialize)]
struct Row {
    tenant_id: i64,
    id: String,
}

async fn identity_get(
    rpc: Arc<Rpc>,
    _: Caller,
    p: Row,
) -> Result<WithSync<identities::Identity>, RpcError> {
    Ok(rpc
        .store
        .read_point(move |sql| {
            let i = identities::get(sql, p.tenant_id, &p.id)?;
            identity_with_sync(sql, i)
        })
        .await?)
}

fn identity_event(i: &identities::Identity, tenant_id: i64) -> Event {
    Event::IdentityChanged {
        tenant_id,
        identity_id: i.id.clone(),
        entity_id: i.entity_id.clone(),
        status: i.status.to_string(),
    }
}

/// Applies a local identity change and queues its job, then answers.
async fn change_identity<F>(
    rpc: Arc<Rpc>,
    tenant_id: i64,
    id: String,
    kind: &'static str,
    payload: Value,
    wait_s: Option<u64>,
    change: F,
) -> Result<WithSync<identities::Identity>, RpcError>
where
    F: FnOnce(&db::Tx<'_>) -> db::Result<identities::Identity> + Send + 'static,
{
    let payload = payload.to_string();
    let (identity, job_id) = rpc
        .store
        .write(move |tx| {
            let before = identities::get(tx, tenant_id, &id)?;
            let after = change(tx)?;
            let job = jobs::enqueue(
                tx,
                jobs::NewJob {
                    tenant_id,
                    kind,
                    entity_id: Some(before.entity_id.clone()),
                    identity_id: Some(id),
                    payload,
                    ..Default::default()
                },
            )?;
            Ok((after, job.id))
        })
        .await?;
    queued(&rpc);
    rpc.events.publish(identity_event(&identity, tenant_id));
    wait_for(&rpc, tenant_id, job_id, wait_s).await?;
    let id = identity.id.clone();
    Ok(rpc
        .store
        .read(move |sql| {
            let i = identities::get(sql, tenant_id, &id)?;
            identity_with_sync(sql, i)
        })
        .await?)
}

#[derive(Deserialize)]
struct IdentityUpdate {
    tenant_id: i64,
    id: String,
    display_name: Option<String>,
    call_reason: Option<String>,
    logo_url: Option<String>,
    wait_s: Option<u64>,
}

async fn identity_update(
    rpc: Arc<Rpc>,
    _: Caller,
    p: IdentityUpdate,
) -> Result<WithSync<identities::Identity>, RpcError> {
    if p.display_name.is_none() && p.call_reason.is_none() && p.logo_url.is_none() {
        return Err(RpcError::invalid(
            "display_name",
            "give at least one of display_name, call_reason, logo_url",
        ));
    }
    let payload = json!({"display_name": p.display_name, "call_reason": p.call_reason, "logo_url": p.logo_url});
    let (t, id) = (p.tenant_id, p.id.clone());
    change_identity(
        rpc,
        p.tenant_id,
        p.id,
        "identity.update",
        payload,
        p.wait_s,
        move |tx| {
            identities::update_display(
                tx,
                t,
                &id,
                p.display_name.as_deref(),
                p.call_reason.as_deref(),
                p.logo_url.as_deref(),
            )
        },
    )
    .await
}

async fn identity_deactivate(
    rpc: Arc<Rpc>,
    _: Caller,
    p: RowWait,
) -> Result<WithSync<identities::Identity>, RpcError> {
    let (t, id) = (p.tenant_id, p.id.clone());
    change_identity(
        rpc,
        p.tenant_id,
        p.id,
        "identity.deactivate",
        json!({}),
        p.wait_s,
        move |tx| identities::set_status(tx, t, &id, IdentityStatus::Inactive),
    )
    .await
}

#[derive(Deserialize)]
struct IdentityNumbers {
    tenant_id: i64,
    id: String,
    phone_numbers: Vec<String>,
    wait_s: Option<u64>,
}

async fn identity_numbers_add(
    rpc: Arc<Rpc>,
    _: Caller,
    p: IdentityNumbers,
) -> Result<WithSync<identities::Identity>, RpcError> {
    let (t, id, numbers) = (p.tenant_id, p.id.clone(), p.phone_numbers.clone());
    change_identity(
        rpc,
        p.tenant_id,
        p.id,
        "identity.numbers.add",
        json!({"phone_numbers": p.phone_numbers}),
        p.wait_s,
        move |tx| {
            let mut current = identities::get(tx, t, &id)?.phone_numbers;
            for n in numbers {
                if !current.contains(&n) {
                    current.push(n);
                }
            }
            identities::set_phone_numbers(tx, t, &id, &current)
        },
    )
    .await
}

async fn identity_numbers_remove(
    rpc: Arc<Rpc>,
    _: Caller,
    p: IdentityNumbers,
) -> Result<WithSync<identities::Identity>, RpcError> {
    let (t, id, numbers) = (p.tenant_id, p.id.clone(), p.phone_numbers.clone());
    change_identity(
        rpc,
        p.tenant_id,
        p.id,
        "identity.numbers.remove",
        json!({"phone_numbers": p.phone_numbers}),
        p.wait_s,
        move |tx| {
            let mut current = identities::get(tx, t, &id)?.phone_numbers;
            current.retain(|n| !numbers.contains(n));
            identities::set_phone_numbers(tx, t, &id, &current)
        },
    )
    .await
}

#[derive(Deserialize)]
struct DocumentUpload {
    tenant_id: i64,
    entity_id: String,
    document_type: String,
    path: String,
    description: Option<String>,
    wait_s: Option<u64>,
}

/// The largest file accepted by path (NumHub's uploads are documents and logos).
const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

async fn document_upload(
    rpc: Arc<Rpc>,
    _: Caller,
    p: DocumentUpload,
) -> Result<WithSync<documents::Document>, RpcError> {
    let document_type = DocumentType::parse(&p.document_type)?;
    let path = allowed_path(&rpc.upload_dirs, Path::new(&p.path))?;
    let (bytes, digest) = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || read_and_hash(&path))
            .await
            .map_err(|e| RpcError::Internal(e.to_string()))??
    };
    let content_type = detect_content_type(&bytes)
        .ok_or_else(|| RpcError::invalid("path", "content is not PDF, BMP, XLSX or CSV text"))?;
    check_fits(document_type, content_type)?;
    let filename = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "upload".into());
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let tenant_id = p.tenant_id;
    let source_path = path.display().to_string();
    let payload = json!({"description": p.description, "content_type": content_type}).to_string();
    let entity_id = p.entity_id.clone();
    let (doc, job_id) = rpc
        .store
        .write(move |tx| {
            let local = documents::insert_local(
                tx,
                documents::NewLocalDocument {
                    tenant_id,
                    original_filename: filename.clone(),
                    size_bytes: size,
                    sha256: digest,
                    content_type: content_type.to_string(),
                    source: "rpc".into(),
                    source_path,
                },
            )?;
            let doc = documents::create(
                tx,
                tenant_id,
                &entity_id,
                Some(local.id),
                document_type,
                &filename,
            )?;
            let job = jobs::enqueue(
                tx,
                jobs::NewJob {
                    tenant_id,
                    kind: "document.upload",
                    entity_id: Some(entity_id),
                    document_id: Some(doc.id.clone()),
                    payload,
                    ..Default::default()
                },
            )?;
            Ok((doc, job.id))
        })
        .await?;
    queued(&rpc);
    rpc.events.publish(Event::DocumentStatusChanged {
        tenant_id,
        document_id: doc.id.clone(),
        entity_id: doc.entity_id.clone(),
        status: doc.status.to_string(),
    });
    wait_for(&rpc, tenant_id, job_id, p.wait_s).await?;
    let id = doc.id;
    Ok(rpc
        .store
        .read(move |sql| {
            let d = documents::get(sql, tenant_id, &id)?;
            document_with_sync(sql, d)
        })
        .await?)
}

/// The file must resolve (symlinks followed) inside one of `[rpc] upload_dirs`.
fn allowed_path(dirs: &[PathBuf], path: &Path) -> Result<PathBuf, RpcError> {
    if !path.is_absolute() {
        return Err(RpcError::invalid("path", "must be an absolute path"));
    }
    let real = path
        .canonicalize()
        .map_err(|e| RpcError::invalid("path", format!("cannot be read by numhubd: {e}")))?;
    let inside = dirs
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .any(|d| real.starts_with(&d));
    if !inside {
        return Err(RpcError::invalid(
            "path",
            "is not under a folder listed in [rpc] upload_dirs",
        ));
    }
    if !real.is_file() {
        return Err(RpcError::invalid("path", "is not a regular file"));
    }
    Ok(real)
}

fn read_and_hash(path: &Path) -> Result<(Vec<u8>, String), RpcError> {
    let meta = std::fs::metadata(path).map_err(|e| RpcError::invalid("path", e.to_string()))?;
    if meta.len() > MAX_UPLOAD_BYTES {
        return Err(RpcError::invalid(
            "path",
            format!("is {} bytes; at most {MAX_UPLOAD_BYTES}", meta.len()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| RpcError::invalid("path", e.to_string()))?;
    if bytes.is_empty() {
        return Err(RpcError::invalid("path", "is empty"));
    }
    let digest = Sha256::digest(&bytes);
    let hex = digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok((bytes, hex))
}

/// The content type, from the bytes alone (never the name).
pub fn detect_content_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"BM") {
        Some("image/bmp")
    } else if bytes.starts_with(b"PK\x03\x04") {
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    } else if std::str::from_utf8(bytes).is_ok_and(|t| !t.contains('\0')) {
        Some("text/csv")
    } else {
        None
    }
}

/// loa: PDF; logo: BMP; business documents: PDF, XLSX or CSV (NumHub's rules).
fn check_fits(t: DocumentType, content_type: &str) -> Result<(), RpcError> {
    let ok = match t {
        DocumentType::Loa => content_type == "application/pdf",
        DocumentType::Logo => content_type == "image/bmp",
        _ => content_type != "image/bmp",
    };
    if ok {
        Ok(())
    } else {
        Err(RpcError::invalid(
            "document_type",
            format!(
                "{t} does not accept {content_type} (loa: PDF; logo: BMP; others: PDF, XLSX, CSV)"
            ),
        ))
    }
}

async fn document_list(
    rpc: Arc<Rpc>,
    _: Caller,
    p: ChildList,
) -> Result<db::Page<WithSync<documents::Document>>, RpcError> {
    Ok(rpc
        .store
        .read(move |sql| {
            let page = documents::list(
                sql,
                p.tenant_id,
                p.entity_id.as_deref(),
                p.cursor.as_deref(),
                p.limit,
            )?;
            page.try_map(|(d, job)| Ok(with_sync(d, job)))
        })
        .await?)
}

async fn document_get(
    rpc: Arc<Rpc>,
    _: Caller,
    p: Row,
) -> Result<WithSync<documents::Document>, RpcError> {
    Ok(rpc
        .store
        .read_point(move |sql| {
            let d = documents::get(sql, p.tenant_id, &p.id)?;
            document_with_sync(sql, d)
        })
        .await?)
}

async fn document_delete(
    rpc: Arc<Rpc>,
    _: Caller,
    p: Row,
) -> Result<WithSync<documents::Document>, RpcError> {
    let tenant_id = p.tenant_id;
    Ok(rpc
        .store
        .write(move |tx| {
            let d = documents::get(tx, tenant_id, &p.id)?;
            jobs::enqueue(
                tx,
                jobs::NewJob {
                    tenant_id,
                    kind: "document.delete",
                    entity_id: Some(d.entity_id.clone()),
                    document_id: Some(d.id.clone()),
                    payload: "{}".into(),
                    ..Default::default()
                },
            )?;
            document_with_sync(tx, d)
        })
        .await
        .inspect(|_| queued(&rpc))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_comes_from_the_bytes() {
        assert_eq!(detect_content_type(b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(detect_content_type(b"BM\x00\x01"), Some("image/bmp"));
        assert!(detect_content_type(b"PK\x03\x04xx").is_some_and(|t| t.contains("sheet")));
        assert_eq!(detect_content_type(b"a,b\n1,2\n"), Some("text/csv"));
        assert_eq!(detect_content_type(b"\xff\xfe\x00"), None);
        assert!(check_fits(DocumentType::Loa, "text/csv").is_err());
        assert!(check_fits(DocumentType::Logo, "image/bmp").is_ok());
    }
}
