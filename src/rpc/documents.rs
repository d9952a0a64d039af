//! `document.*`: documents of an application (LOA, logo, business documents). A file
//! is taken through [`crate::intake`] (the rules the drop folder shares), registered
//! with its upload job in one transaction, and sent by the outbox.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{def, handler, MethodDef, Scope};
use super::rows::{
    child_page, local_id, obj, page_schema, queued, wait_for, with_sync, ChildList, Row, WithSync,
};
use super::schema::{cursor, id, limit, object, one_of, string, text, wait_s};
use super::Rpc;
use crate::db::{self, documents, jobs, DocumentSource, DocumentType, Sql};
use crate::events::Event;
use crate::intake::SpoolError;

pub fn methods() -> Vec<MethodDef> {
    use Role::*;
    use Scope::*;
    let doc_types: Vec<&str> = DocumentType::ALL.iter().map(|t| t.as_str()).collect();
    vec![
        def("document.upload", "Registers a file under [rpc] upload_dirs for upload to an application (hashed, type detected from the bytes); queued for NumHub.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("entity_id", local_id()), ("document_type", one_of(&doc_types)), ("path", string(4096))], &[("description", text(500)), ("wait_s", wait_s())]),
            obj(), handler(document_upload)),
        def("document.list", "The tenant's documents (of one entity, if given), each with sha256 and status.", Read, Tenant("tenant_id"),
            object(&[("tenant_id", id())], &[("entity_id", local_id()), ("cursor", cursor()), ("limit", limit())]),
            page_schema(), handler(document_list)),
        def("document.get", "One document.", Read, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[]),
            obj(), handler(document_get)),
        def("document.delete", "Queues the removal of a document at NumHub; the row goes once NumHub confirms.", Write, Tenant("tenant_id"),
            object(&[("tenant_id", id()), ("id", local_id())], &[]),
            obj(), handler(document_delete)),
    ]
}

fn document_with_sync(
    sql: &Sql<'_>,
    d: documents::Document,
) -> db::Result<WithSync<documents::Document>> {
    let job = jobs::pending_for_document(sql, &d.id)?;
    Ok(with_sync(d, job))
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

async fn document_upload(
    rpc: Arc<Rpc>,
    _: Caller,
    p: DocumentUpload,
) -> Result<WithSync<documents::Document>, RpcError> {
    let document_type = DocumentType::parse(&p.document_type)?;
    let uploads = rpc.uploads.clone();
    let (path, tenant) = (p.path.clone(), p.tenant_id);
    let taken =
        tokio::task::spawn_blocking(move || uploads.take(tenant, Path::new(&path), document_type))
            .await
            .map_err(|e| RpcError::Internal(e.to_string()))??;
    // Into a server store before the job is queued, so any host may send it.
    rpc.uploads
        .spool
        .share(&taken.sha256)
        .await
        .map_err(|e| match e {
            SpoolError::Store(e) => RpcError::from(e),
            e => RpcError::Internal(e.to_string()),
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

async fn document_list(
    rpc: Arc<Rpc>,
    _: Caller,
    p: ChildList,
) -> Result<db::Page<WithSync<documents::Document>>, RpcError> {
    child_page(&rpc, p, documents::list).await
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
                    document_id: Some(d.id.clone()),
                    ..jobs::NewJob::on_entity(
                        tenant_id,
                        d.entity_id.clone(),
                        jobs::JobPayload::DocumentDelete(jobs::Nothing {}),
                    )
                },
            )?;
            document_with_sync(tx, d)
        })
        .await
        .inspect(|_| queued(&rpc))?)
}
