//! Carrying out one outbox job of each kind: read what it acts on, make the one
//! NumHub call (after looking first when a crash interrupted an earlier attempt),
//! then record the local outcome and the job's `done` in ONE transaction. The
//! caller ([`super::outbox`]) records failures and publishes the events returned
//! here, after the commit.
//!
//! `killpoint::hit("after_send")` sits between NumHub's answer and that commit: the
//! most dangerous instant for exactly-once, which the crash tests aim at.
//!
//! # Crash recovery per job kind
//! An attempt interrupted between its send and that commit (a crash, a leader that
//! died, an outcome the full disk refused) is queued again with `resume_since`, and
//! the next attempt settles it before sending anything:
//!
//! | kind | after an interrupted attempt | why that is safe |
//! |---|---|---|
//! | `entity.create` | one application of that legal name modified since `resume_since` (minus `clock_skew`) is ours; none: send; two: `needs_attention`; a row with a `numhub_entity_id` is not sent | POST has no idempotency key; the attestation list shows what the lost attempt did |
//! | `document.upload` | a document of that file name created since then is ours; none: send; two: `needs_attention`; the spool copy's SHA-256 is checked before any send | a resent upload would add the file again |
//! | `entity.update` | redone | the PUT replaces the application with the same body |
//! | `entity.submit` | `GET` first: `Submitted` or further on is recorded, not sent; else `PUT` with `status: Submit` | a second submit is never sent; the body is the application as just read |
//! | `document.delete` | redone; a 404 counts as done | deleting twice leaves the same state |
//! | `identity.*` | redone | a change request carries the wanted values (numbers as a set): a repeat asks for the same state |
//!
//! Every retry of a create or upload (attempt 2 on) looks the same way, from the job's
//! `created_at` when it has no `resume_since`: an earlier attempt may have been sent
//! and lost its answer.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::mapping::PhoneFormat;
use super::{mapping, SyncContext};
use crate::api::{Deleted, DocumentChange};
use crate::db::jobs::{ApplicationChange, JobPayload};
use crate::db::{
    self, brands, documents, entities, format_ts, identities, jobs, now_ts, parse_ts, DbError,
    EntityStatus,
};
use crate::events::Event;
use crate::intake::SpoolError;
use crate::killpoint;
use crate::numhub::model::{
    ApplicationModel, DeactivationRequest, DisplayIdentity, DisplayIdentityUpdate, DocumentItem,
    DocumentType, UploadDocumentResponse, UploadFile, WriteStatus,
};
use crate::numhub::{NumhubError, Priority};

/// Outbox work yields to calls a person is waiting for.
const P: Priority = Priority::Background;

/// Why an attempt did not finish its job, and so what becomes of the job.
#[derive(Debug)]
pub enum Failure {
    /// Transient (NumHub unreachable after the client's own retries, database): the
    /// job is tried again after a backoff, until `job_max_attempts`.
    Retry(String),
    /// NumHub refused it, or it can never work as queued: `dead`.
    Refused(String),
    /// It may or may not have taken effect at NumHub: `needs_attention`.
    Unknown(String),
    /// It cannot start until something outside the job changes (login blocked, no
    /// credentials, tenant without a client id): waits without using an attempt.
    Blocked(String),
    /// NumHub may have acted, but the database refused to record the outcome (its
    /// disk full): queued again to look at NumHub before anything is resent, as after
    /// a crash, once the database takes writes.
    Unrecorded(String),
}

impl From<NumhubError> for Failure {
    fn from(e: NumhubError) -> Failure {
        let msg = e.to_string();
        match e {
            NumhubError::Rejected { .. } | NumhubError::File { .. } => Failure::Refused(msg),
            NumhubError::OutcomeUnknown { .. } | NumhubError::Decode { .. } => {
                Failure::Unknown(msg)
            }
            NumhubError::LoginBlocked { .. }
            | NumhubError::NoCredentials { .. }
            | NumhubError::Tenant { .. }
            | NumhubError::Setup(_)
            | NumhubError::Crypto(_)
            | NumhubError::ForeignIdentity { .. } => Failure::Blocked(msg),
            NumhubError::Exhausted { .. }
            | NumhubError::TenantBudget { .. }
            | NumhubError::Unauthorized { .. }
            | NumhubError::Db(_) => Failure::Retry(msg),
            // Earlier requests of the attempt may have gone out: looked up first.
            NumhubError::NotLeading => Failure::Unrecorded(msg),
        }
    }
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Failure {
        Failure::Retry(format!("database: {e}"))
    }
}

/// Carries out `job` (claimed, `running`). `Ok`: done and committed; the events are
/// to be published now.
pub async fn execute(ctx: &SyncContext, job: &jobs::Job) -> Result<Vec<Event>, Failure> {
    match &job.payload {
        JobPayload::EntityCreate(change) => entity_create(ctx, job, change).await,
        JobPayload::EntityUpdate(change) => entity_update(ctx, job, change).await,
        JobPayload::EntitySubmit(_) => entity_submit(ctx, job).await,
        JobPayload::DocumentUpload(upload) => document_upload(ctx, job, upload).await,
        JobPayload::DocumentDelete(_) => document_delete(ctx, job).await,
        JobPayload::IdentityUpdate(u) => {
            identity_change(ctx, job, IdentityChange::Display(u)).await
        }
        JobPayload::IdentityDeactivate(_) => {
            identity_change(ctx, job, IdentityChange::Deactivate).await
        }
        JobPayload::IdentityNumbersAdd(n) => {
            identity_change(ctx, job, IdentityChange::Add(&n.phone_numbers)).await
        }
        JobPayload::IdentityNumbersRemove(n) => {
            identity_change(ctx, job, IdentityChange::Remove(&n.phone_numbers)).await
        }
    }
}

/// Passes the crash tests' kill point with NumHub's answer in hand, nothing committed.
fn sent<T>(r: Result<T, NumhubError>) -> Result<T, NumhubError> {
    killpoint::hit("after_send");
    r
}

/// Since when a create or upload must be looked for at NumHub before it is sent:
/// the start of the earliest attempt a crash interrupted (see
/// `jobs::mark_interrupted`), else, on any retry, the job's creation (an earlier
/// attempt may have been sent and lost its answer: a 5xx, a reset, a failed look).
/// `None`: the first attempt, nothing was sent before. A date that does not parse
/// leaves the outcome unknown rather than letting the job send blindly.
fn look_since(job: &jobs::Job) -> Result<Option<DateTime<Utc>>, Failure> {
    let (field, raw) = match (&job.resume_since, job.attempts > 1) {
        (Some(r), _) => ("resume_since", r),
        (None, true) => ("created_at", &job.created_at),
        (None, false) => return Ok(None),
    };
    parse_ts(field, raw).map(Some).map_err(|e| {
        Failure::Unknown(format!(
            "cannot tell whether an earlier attempt reached NumHub: {e}"
        ))
    })
}

/// NumHub has acted: a failure to record it must not lead to sending it again. The
/// database refusing the write (a full disk) is settled like a crash after the send:
/// the next attempt looks at NumHub first (every kind can: this module's opening comment,
/// "Crash recovery per job kind"). Anything else goes to an operator with what NumHub
/// said.
fn unrecorded(what: String) -> impl FnOnce(DbError) -> Failure {
    move |e| {
        let msg = format!("NumHub accepted {what} but recording it failed: {e}");
        if e.is_write_refused() {
            Failure::Unrecorded(msg)
        } else {
            Failure::Unknown(msg)
        }
    }
}

fn need<T>(v: Option<T>, what: &str) -> Result<T, Failure> {
    v.ok_or_else(|| Failure::Refused(format!("the job has no {what}")))
}

async fn entity_of(ctx: &SyncContext, job: &jobs::Job) -> Result<entities::Entity, Failure> {
    let (tenant, id) = (job.tenant_id, need(job.entity_id.clone(), "entity")?);
    Ok(ctx
        .store
        .read(move |sql| entities::get(sql, tenant, &id))
        .await?)
}

/// NumHub's id of the entity; its create job always runs first (one entity's jobs
/// run in order), so a missing id means the create was settled without one.
fn numhub_id(e: &entities::Entity) -> Result<Uuid, Failure> {
    let id = e.numhub_entity_id.as_deref().ok_or_else(|| {
        Failure::Refused(format!(
            "entity {} has no NumHub id (its create never reached NumHub)",
            e.id
        ))
    })?;
    Uuid::parse_str(id).map_err(|_| Failure::Refused(format!("NumHub id {id:?} is not a uuid")))
}

/// The queued application as NumHub's model. The RPC validated it against NumHub's
/// schema; one that still does not read can never be sent.
/// Its display identities' numbers (the caller-id ones) go in `[numhub] phone_format`.
fn application(
    change: &ApplicationChange,
    format: PhoneFormat,
) -> Result<ApplicationModel, Failure> {
    let mut model: ApplicationModel =
        serde_json::from_value(Value::Object(change.application.clone()))
            .map_err(|e| Failure::Refused(format!("payload.application: {e}")))?;
    let identities = model
        .display_identity_information
        .iter_mut()
        .flat_map(|d| d.display_identities.iter_mut().flatten());
    for n in identities.flat_map(|i| i.phone_numbers.iter_mut().flatten()) {
        *n = mapping::phone_outgoing(n, format);
    }
    Ok(model)
}

/// The replica's E.164 numbers as sent to NumHub.
fn outgoing(numbers: &[String], format: PhoneFormat) -> Vec<String> {
    numbers
        .iter()
        .map(|n| mapping::phone_to_numhub(n, format))
        .collect()
}

/// Marks the job done with no other change.
async fn done(ctx: &SyncContext, job_id: i64) -> Result<Vec<Event>, Failure> {
    ctx.store
        .write(move |tx| jobs::mark_done(tx, job_id, &now_ts()))
        .await
        .map_err(unrecorded(format!("job {job_id}")))?;
    Ok(Vec::new())
}

async fn entity_create(
    ctx: &SyncContext,
    job: &jobs::Job,
    change: &ApplicationChange,
) -> Result<Vec<Event>, Failure> {
    let e = entity_of(ctx, job).await?;
    if e.numhub_entity_id.is_some() {
        // Already linked (by the poller, or an operator): nothing to send.
        return done(ctx, job.id).await;
    }
    let model = application(change, ctx.phone_format)?;
    let name = model
        .business_entity_details
        .as_ref()
        .and_then(|b| b.legal_business_name.clone())
        .unwrap_or_else(|| e.company_name.clone());
    let tenant = job.tenant_id;
    // After a crash mid-attempt, or a lost answer, the create may have reached
    // NumHub: look first.
    let found = match look_since(job)? {
        Some(since) => {
            ctx.numhub
                .find_created_application(tenant, P, &name, since)
                .await?
        }
        None => None,
    };
    let resp = match found {
        Some(r) => {
            tracing::info!(
                job = job.id,
                "the interrupted create had reached NumHub; not resending"
            );
            r
        }
        None => sent(ctx.numhub.create_application(tenant, P, &model).await)?,
    };
    let nid = resp
        .numhub_entity_id
        .ok_or_else(|| {
            Failure::Unknown("NumHub answered the create without a numhubEntityId".into())
        })?
        .to_string();
    let submitted = model.status == Some(WriteStatus::Submit);
    let ids = Recorded {
        nid: nid.clone(),
        eid: resp.eid,
        submitted,
        link_brand: true,
    };
    let e = record_ids(ctx, job, &e, ids)
        .await
        .map_err(unrecorded(format!("application {nid}")))?;
    Ok(vec![Event::entity_changed(&e)])
}

/// A PUT replaces the application with the same body: repeating it is harmless.
async fn entity_update(
    ctx: &SyncContext,
    job: &jobs::Job,
    change: &ApplicationChange,
) -> Result<Vec<Event>, Failure> {
    let e = entity_of(ctx, job).await?;
    let nid = numhub_id(&e)?;
    let model = application(change, ctx.phone_format)?;
    sent(
        ctx.numhub
            .update_application(job.tenant_id, P, nid, &model)
            .await,
    )?;
    done(ctx, job.id).await
}

/// Submits the way the document says: `PUT /application/{id}` with `status: Submit`
/// ("2: Submit - To submit the application for processing"). That PUT writes its body
/// as the application, so the body is the application as NumHub holds it, read just
/// before, with every display identity carried by its `numhubIdentityId`: a submit
/// can never drop or duplicate an identity. (The document offers no version check; a
/// change made at NumHub between the read and the PUT, a moment apart, is the one
/// thing this cannot carry.) Resubmitting a rejected application is the same call
/// (NumHub's `Resubmitted`).
///
/// A redo after a crash (or a lost answer) is harmless: the read comes first, and an
/// application NumHub already holds as submitted, or further on, is only recorded,
/// not submitted again, whatever NumHub would make of a second submit.
async fn entity_submit(ctx: &SyncContext, job: &jobs::Job) -> Result<Vec<Event>, Failure> {
    let e = entity_of(ctx, job).await?;
    let nid = numhub_id(&e)?;
    let tenant = job.tenant_id;
    let current = ctx.numhub.get_application(tenant, P, nid).await?;
    let eid = if already_submitted(current.status.as_deref()) {
        tracing::info!(
            job = job.id,
            status = current.status.as_deref().unwrap_or(""),
            "NumHub already holds the application as submitted; not resending"
        );
        current.eid
    } else {
        let body = current.into_update(WriteStatus::Submit);
        sent(ctx.numhub.update_application(tenant, P, nid, &body).await)?.eid
    };
    let ids = Recorded {
        nid: nid.to_string(),
        eid,
        submitted: true,
        link_brand: false,
    };
    let e = record_ids(ctx, job, &e, ids)
        .await
        .map_err(unrecorded(format!("the submit of {nid}")))?;
    Ok(vec![Event::entity_changed(&e)])
}

/// What NumHub's answer to a create or submit gave the entity.
struct Recorded {
    nid: String,
    eid: Option<String>,
    /// The entity was submitted now.
    submitted: bool,
    /// The entity's brand is linked to NumHub's id (a create).
    link_brand: bool,
}

/// Records NumHub's ids on the entity (and its brand), and the job done, in one
/// transaction.
async fn record_ids(
    ctx: &SyncContext,
    job: &jobs::Job,
    e: &entities::Entity,
    ids: Recorded,
) -> Result<entities::Entity, db::DbError> {
    let (tenant, job_id, entity_id) = (job.tenant_id, job.id, e.id.clone());
    ctx.store
        .write(move |tx| {
            let now = now_ts();
            let submitted_at = ids.submitted.then_some(now.as_str());
            let (nid, eid) = (&ids.nid, ids.eid.as_deref());
            let e = entities::set_numhub_ids(tx, tenant, &entity_id, nid, eid, submitted_at)?;
            if let Some(brand) = e.brand_id.filter(|_| ids.link_brand) {
                brands::set_numhub_entity_id(tx, tenant, brand, nid)?;
            }
            jobs::mark_done(tx, job_id, &now)?;
            Ok(e)
        })
        .await
}

/// Whether NumHub's status shows a submit already happened: any status a submitted
/// application moves through. `Saved` and `Rejected` wait for one; a missing or
/// unknown status is submitted (NumHub decides, and a refusal reaches an operator).
fn already_submitted(numhub_status: Option<&str>) -> bool {
    numhub_status
        .and_then(mapping::application_status)
        .is_some_and(|(s, _)| !matches!(s, EntityStatus::Draft | EntityStatus::Rejected))
}

fn upload_type(t: db::DocumentType) -> DocumentType {
    match mapping::numhub_document_type(t) {
        "LOA" => DocumentType::Loa,
        "LOGO" => DocumentType::Logo,
        _ => DocumentType::Documents,
    }
}

/// The spool copy of a registered file (fetched from a server store when another
/// host took it; made again from the original for an upload registered before
/// numhubd had a spool); the send checks it still has the SHA-256 it was registered
/// with, so a retry never sends something else. A refusal names the document.
async fn spool_copy(
    ctx: &SyncContext,
    doc: &documents::Document,
    local: &documents::LocalDocument,
) -> Result<std::path::PathBuf, Failure> {
    let original = std::path::Path::new(&local.source_path);
    match ctx.spool.for_sending(&local.sha256, original).await {
        Ok(path) => Ok(path),
        // The database did not answer: not the file's fault.
        Err(e @ SpoolError::Store(_)) => Err(Failure::Retry(format!("checking the file: {e}"))),
        Err(e) => Err(Failure::Refused(format!(
            "document {} ({:?}): {e}",
            doc.id, doc.filename
        ))),
    }
}

async fn document_upload(
    ctx: &SyncContext,
    job: &jobs::Job,
    upload: &jobs::DocumentUpload,
) -> Result<Vec<Event>, Failure> {
    let e = entity_of(ctx, job).await?;
    let (tenant, doc_id) = (job.tenant_id, need(job.document_id.clone(), "document")?);
    let (doc, local) = load_document(ctx, tenant, &doc_id).await?;
    if doc.numhub_document_id.is_some() {
        return done(ctx, job.id).await;
    }
    let local = need(local, "local file")?;
    let nid = numhub_id(&e)?;
    // After a crash mid-attempt (or on a restored backup, or a lost answer) the upload
    // may have reached NumHub: look first, before the spool copy is needed (a restored
    // database may name copies the spool let go of once they were sent).
    let resp = match reached_numhub(ctx, job, nid, &doc.filename).await? {
        Some(r) => r,
        None => send_upload(ctx, job, upload, nid, &doc, &local).await?,
    };
    let (numhub_doc, uploaded_at) = answered_document(&resp, &doc.filename)?;
    let api = serde_json::to_string(&resp)
        .map_err(|e| Failure::Unknown(format!("encoding NumHub's answer: {e}")))?;
    let job_id = job.id;
    let what = format!("document {numhub_doc}");
    let d = ctx
        .store
        .write(move |tx| {
            let d = documents::mark_uploaded(tx, tenant, &doc_id, &numhub_doc, &api, &uploaded_at)?;
            jobs::mark_done(tx, job_id, &now_ts())?;
            Ok(d)
        })
        .await
        .map_err(unrecorded(what))?;
    release_spool_copy(ctx, &local.sha256).await;
    Ok(vec![Event::document_changed(tenant, &d)])
}

/// The document row and its local file's, when it has one.
async fn load_document(
    ctx: &SyncContext,
    tenant: i64,
    doc_id: &str,
) -> Result<(documents::Document, Option<documents::LocalDocument>), Failure> {
    let id = doc_id.to_string();
    let found = ctx
        .store
        .read(move |sql| {
            let d = documents::get(sql, tenant, &id)?;
            let l = match d.local_document_id {
                Some(l) => Some(documents::get_local(sql, tenant, l)?),
                None => None,
            };
            Ok((d, l))
        })
        .await?;
    Ok(found)
}

/// On a retried job: NumHub's answer for the upload an earlier attempt made, when
/// one document of that name appeared since it (two are an unknown outcome).
async fn reached_numhub(
    ctx: &SyncContext,
    job: &jobs::Job,
    nid: Uuid,
    filename: &str,
) -> Result<Option<UploadDocumentResponse>, Failure> {
    let Some(since) = look_since(job)? else {
        return Ok(None);
    };
    let found = ctx
        .numhub
        .find_uploaded_documents(job.tenant_id, P, nid, &[filename], since)
        .await?;
    match found.len() {
        0 => Ok(None),
        1 => {
            tracing::info!(
                job = job.id,
                "the interrupted upload had reached NumHub; not resending"
            );
            Ok(Some(UploadDocumentResponse {
                documents: Some(found),
            }))
        }
        n => Err(Failure::Unknown(format!(
            "{n} documents named {filename:?} appeared at NumHub since the interrupted attempt"
        ))),
    }
}

/// Sends the spool copy (checked against its hash first).
async fn send_upload(
    ctx: &SyncContext,
    job: &jobs::Job,
    upload: &jobs::DocumentUpload,
    nid: Uuid,
    doc: &documents::Document,
    local: &documents::LocalDocument,
) -> Result<UploadDocumentResponse, Failure> {
    let path = spool_copy(ctx, doc, local).await?;
    let content_type = upload
        .content_type
        .clone()
        .unwrap_or_else(|| local.content_type.clone());
    let file = UploadFile {
        path,
        file_name: doc.filename.clone(),
        content_type,
        sha256: Some(local.sha256.clone()),
    };
    let kind = upload_type(doc.document_type);
    let description = upload.description.as_deref();
    let answer = ctx
        .numhub
        .upload_documents(job.tenant_id, P, nid, kind, description, &[file])
        .await;
    Ok(sent(answer)?)
}

/// NumHub's id for the uploaded file (the item of that name, else the first) and
/// when it says it was created (now, if it does not say).
fn answered_document(
    resp: &UploadDocumentResponse,
    filename: &str,
) -> Result<(String, String), Failure> {
    let item: DocumentItem = resp
        .documents
        .as_ref()
        .and_then(|d| d.iter().find(|i| i.name.as_deref() == Some(filename)))
        .or_else(|| resp.documents.as_ref().and_then(|d| d.first()))
        .cloned()
        .ok_or_else(|| Failure::Unknown("NumHub answered the upload without a document".into()))?;
    let numhub_doc = item
        .id
        .ok_or_else(|| Failure::Unknown("NumHub answered the upload without a document id".into()))?
        .to_string();
    let uploaded_at = item
        .created_date
        .as_deref()
        .and_then(|s| parse_ts("createdDate", s).ok())
        .map(format_ts)
        .unwrap_or_else(now_ts);
    Ok((numhub_doc, uploaded_at))
}

/// Removes the spool copy once no unfinished upload needs it (the same bytes may be
/// queued for another entity). A copy left by a failure here is swept at start.
async fn release_spool_copy(ctx: &SyncContext, sha256: &str) {
    let sha = sha256.to_string();
    match ctx
        .store
        .read(move |sql| documents::spool_copy_needed(sql, &sha))
        .await
    {
        Ok(false) => {
            if let Err(e) = ctx.spool.remove(sha256) {
                tracing::warn!(error = %e, sha256, "could not remove the spool copy");
            }
        }
        Ok(true) => {}
        Err(e) => {
            tracing::warn!(error = %e, sha256, "could not tell whether the spool copy is still needed")
        }
    }
}

/// A redo after a crash finds the document gone (404), which counts as done.
async fn document_delete(ctx: &SyncContext, job: &jobs::Job) -> Result<Vec<Event>, Failure> {
    let (tenant, doc_id) = (job.tenant_id, need(job.document_id.clone(), "document")?);
    let id = doc_id.clone();
    let doc = match ctx
        .store
        .read(move |sql| documents::get(sql, tenant, &id))
        .await
    {
        Ok(d) => d,
        Err(DbError::NotFound { .. }) => return done(ctx, job.id).await,
        Err(e) => return Err(e.into()),
    };
    if let Some(nd) = doc.numhub_document_id.as_deref() {
        let e = entity_of(ctx, job).await?;
        let nid = numhub_id(&e)?;
        let nd = Uuid::parse_str(nd)
            .map_err(|_| Failure::Refused(format!("NumHub document id {nd:?} is not a uuid")))?;
        match sent(ctx.numhub.delete_document(tenant, P, nid, nd).await) {
            Ok(_) | Err(NumhubError::Rejected { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let job_id = job.id;
    ctx.store
        .write(move |tx| {
            jobs::mark_done_detached(tx, job_id, &now_ts())?;
            documents::delete(tx, tenant, &doc_id)
        })
        .await
        .map_err(unrecorded(format!("the delete of document {}", doc.id)))?;
    Ok(vec![Event::DocumentStatusChanged {
        tenant_id: tenant,
        document_id: doc.id,
        entity_id: doc.entity_id,
        status: DocumentChange::Gone(Deleted::Deleted),
    }])
}

/// What an identity job asks NumHub for.
enum IdentityChange<'a> {
    Deactivate,
    Display(&'a jobs::IdentityUpdate),
    Add(&'a [String]),
    Remove(&'a [String]),
}

/// Identity changes are change requests carrying the wanted values (or numbers to
/// add/remove, a set operation): a redo after a crash asks for the same state again.
///
/// NumHub asks an update to "include only the necessary changes", but its
/// `isFeeChecked` is a non-nullable boolean (left out, it reads as `false`): an update
/// sends back the value NumHub holds, and nothing else it does not mean to change. A
/// deactivation carries the identity's `dirId`. Both come from the identity as NumHub
/// last answered it; when the row does not hold what the change needs, the identity is
/// read from NumHub first, and that answer is kept with the job's `done`.
async fn identity_change(
    ctx: &SyncContext,
    job: &jobs::Job,
    change: IdentityChange<'_>,
) -> Result<Vec<Event>, Failure> {
    let e = entity_of(ctx, job).await?;
    let nid = numhub_id(&e)?;
    let (tenant, id) = (job.tenant_id, need(job.identity_id.clone(), "identity")?);
    let i = ctx
        .store
        .read(move |sql| identities::get(sql, tenant, &id))
        .await?;
    let iid = Uuid::parse_str(&i.numhub_identity_id).map_err(|_| {
        Failure::Refused(format!(
            "NumHub identity id {:?} is not a uuid",
            i.numhub_identity_id
        ))
    })?;
    let deactivate = matches!(change, IdentityChange::Deactivate);
    let mut held = Held::of(&i);
    let fresh = if (deactivate && held.dir_id.is_none())
        || (!deactivate && held.is_fee_checked.is_none())
    {
        let whole = ctx.numhub.get_display_identity(tenant, P, iid).await?;
        held = Held::answered(&whole);
        Some(
            serde_json::to_string(&whole)
                .map_err(|e| Failure::Retry(format!("encoding NumHub's identity: {e}")))?,
        )
    } else {
        None
    };
    let mut update = DisplayIdentityUpdate {
        numhub_entity_id: Some(nid),
        numhub_identity_id: Some(iid),
        is_fee_checked: held.is_fee_checked,
        ..Default::default()
    };
    if !deactivate && held.is_fee_checked.is_none() {
        tracing::warn!(job = job.id, identity = %i.id, "NumHub's identity shows no isFeeChecked; the change is sent without it");
    }
    let r = match change {
        IdentityChange::Deactivate => {
            if held.dir_id.is_none() {
                tracing::warn!(job = job.id, identity = %i.id, "NumHub's identity shows no dirId; the deactivation is sent without it");
            }
            let body = DeactivationRequest {
                numhub_identity_id: Some(iid),
                dir_id: held.dir_id.clone(),
                is_deactivation_request: Some(true),
            };
            ctx.numhub
                .deactivate_display_identity(tenant, P, &body)
                .await
        }
        IdentityChange::Display(u) => {
            update.caller_name = u.display_name.clone();
            update.call_reason = u.call_reason.clone();
            update.logo_url = u.logo_url.clone();
            ctx.numhub.update_display_identity(tenant, P, &update).await
        }
        IdentityChange::Add(numbers) => {
            update.tn_added = Some(outgoing(numbers, ctx.phone_format));
            ctx.numhub.update_display_identity(tenant, P, &update).await
        }
        IdentityChange::Remove(numbers) => {
            update.tn_removed = Some(outgoing(numbers, ctx.phone_format));
            ctx.numhub.update_display_identity(tenant, P, &update).await
        }
    };
    sent(r)?;
    let (job_id, row_id, dir_id) = (job.id, i.id.clone(), held.dir_id);
    ctx.store
        .write(move |tx| {
            if let Some(answer) = fresh.as_deref() {
                identities::set_remote(tx, tenant, &row_id, dir_id.as_deref(), Some(answer))?;
            }
            jobs::mark_done(tx, job_id, &now_ts())
        })
        .await
        .map_err(unrecorded(format!("the change of identity {iid}")))?;
    Ok(vec![Event::identity_changed(tenant, &i)])
}

/// What NumHub holds of an identity that a change request must send back.
struct Held {
    dir_id: Option<String>,
    is_fee_checked: Option<bool>,
}

impl Held {
    /// From the row: its `dir_id`, and `isFeeChecked` of its last whole answer (an
    /// application's identities do not carry it).
    fn of(i: &identities::Identity) -> Held {
        Held {
            dir_id: i.dir_id.clone(),
            is_fee_checked: i
                .api_response
                .as_ref()
                .and_then(|a| a.get("isFeeChecked"))
                .and_then(Value::as_bool),
        }
    }

    fn answered(whole: &DisplayIdentity) -> Held {
        Held {
            dir_id: whole.dir_id.clone().filter(|d| mapping::holdable_dir_id(d)),
            is_fee_checked: whole.is_fee_checked,
        }
    }
}
