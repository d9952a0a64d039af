//! `document.*`: documents of an application (LOA, logo, business documents). A file
//! is taken through [`crate::intake`] (the rules the drop folder shares), registered
//! with its upload job in one transaction, and sent by the outbox.

use std::path::Path;
use std::sync::Arc;

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{method, MethodDef, Scope};
use super::rows::{child_page, queued, wait_for};
use super::wire::ToWire;
use super::Rpc;
use crate::api::{
    ChildQuery, Document, DocumentDelete, DocumentFile, DocumentGet, DocumentList, DocumentUpload,
    RowRef, WithSync,
};
use crate::db::{documents, jobs, DocumentSource};
use crate::events::Event;
use crate::intake::SpoolError;

pub fn methods() -> Vec<MethodDef> {
    use Role::*;
    use Scope::*;
    vec![
        method::<DocumentUpload>("Registers a file under [rpc] upload_dirs for upload to an application (hashed, type detected from the bytes); queued for NumHub.", Write, Tenant("tenant_id"), document_upload),
        method::<DocumentList>("The tenant's documents (of one entity, if given), each with sha256 and status.", Read, Tenant("tenant_id"), document_list),
        method::<DocumentGet>("One document.", Read, Tenant("tenant_id"), document_get),
        method::<DocumentDelete>("Queues the removal of a document at NumHub; the row goes once NumHub confirms.", Write, Tenant("tenant_id"), document_delete),
    ]
}

async fn document_upload(
    rpc: Arc<Rpc>,
    _: Caller,
    p: DocumentFile,
) -> Result<WithSync<Document>, RpcError> {
    let document_type = p.document_type;
    let uploads = rpc.uploads.clone();
    let (path, tenant) = (p.path.clone(), p.tenant_id);
    let taken =
        tokio::task::spawn_blocking(move || uploads.take(tenant, Path::new(&path), document_type))
            .await
            .map_err(|e| RpcError::failed("taking the upload", e))??;
    // Into a server store before the job is queued, so any host may send it.
    rpc.uploads
        .spool
        .share(&taken.sha256)
        .await
        .map_err(|e| match e {
            SpoolError::Store(e) => RpcError::from(e),
            e => RpcError::failed("sharing the upload", e),
        })?;
    let tenant_id = p.tenant_id;
    let new = documents::NewUpload {
        tenant_id,
        entity_id: p.entity_id.clone(),
        document_type,
        local: taken.local_document(tenant_id, DocumentSource::Rpc),
        description: p.description,
    };
    let (doc, job) = rpc
        .store
        .write(move |tx| documents::register_upload(tx, new.clone()))
        .await?;
    let job_id = job.id;
    queued(&rpc);
    rpc.events.publish(Event::document_changed(tenant_id, &doc));
    wait_for(&rpc, tenant_id, job_id, p.wait_s).await?;
    let id = doc.id;
    rpc.store
        .read(move |sql| jobs::with_pending(sql, documents::get(sql, tenant_id, &id)?))
        .await?
        .to_wire()
}

async fn document_list(
    rpc: Arc<Rpc>,
    _: Caller,
    p: ChildQuery,
) -> Result<crate::api::Page<WithSync<Document>>, RpcError> {
    child_page::<Document>(&rpc, p).await
}

async fn document_get(rpc: Arc<Rpc>, _: Caller, p: RowRef) -> Result<WithSync<Document>, RpcError> {
    rpc.store
        .read_point(move |sql| jobs::with_pending(sql, documents::get(sql, p.tenant_id, &p.id)?))
        .await?
        .to_wire()
}

async fn document_delete(
    rpc: Arc<Rpc>,
    _: Caller,
    p: RowRef,
) -> Result<WithSync<Document>, RpcError> {
    let tenant_id = p.tenant_id;
    rpc.store
        .write(move |tx| {
            let d = documents::get(tx, tenant_id, &p.id)?;
            jobs::enqueue(
                tx,
                jobs::NewJob {
                    document_id: Some(d.id.clone()),
                    ..jobs::NewJob::on_entity(
                        tenant_id,
                        d.entity_id.clone(),
                        jobs::JobPayload::DocumentDelete(jobs::Nothing {}),
                    )
                },
            )?;
            jobs::with_pending(tx, d)
        })
        .await
        .inspect(|_| queued(&rpc))?
        .to_wire()
}
