//! Document upload and delete. Uploads stream to disk with their SHA-256 computed on the
//! way, and are checked by content (magic bytes), never by file name.

use std::sync::Arc;

use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::response::Response;
use axum::Extension;
use uuid::Uuid;

use super::{parse_uuid, views};
use crate::clock::eastern;
use crate::error::{ApiError, ApiResult};
use crate::model;
use crate::state::{Caller, Document, Shared};
use crate::storage::{Sniffer, Upload};

struct Stored {
    id: Uuid,
    name: String,
    path: std::path::PathBuf,
    sha256: String,
    size: u64,
    sniff: Sniffer,
}

pub async fn upload(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let received_at_ms = wall_ms();
    let entity = parse_uuid(&id, "NumhubEntityId")?;
    if sh.store().app_of(entity, caller.client_id).is_none() {
        return Err(ApiError::NotFound);
    }
    let mut multipart =
        multipart.map_err(|e| ApiError::bad(format!("expected multipart/form-data: {e}")))?;
    let mut files = Vec::new();
    let mut doc_type = None;
    let mut description = None;
    let read = read_form(
        &sh,
        &mut multipart,
        &mut files,
        &mut doc_type,
        &mut description,
    )
    .await;
    let checked = read.and_then(|()| check_types(doc_type.as_deref(), &files));
    let doc_type = match checked {
        Ok(t) => t,
        Err(e) => {
            discard(&files).await;
            return Err(e);
        }
    };

    let times = (received_at_ms, wall_ms());
    let items = match record(&sh, &caller, entity, doc_type, description, &files, times) {
        Some(items) => items,
        None => {
            discard(&files).await;
            return Err(ApiError::NotFound);
        }
    };
    Ok(sh.json(&model::UploadDocumentResponseModel {
        documents: Some(items),
    }))
}

/// Files are on disk and valid: attach them to the application (`None` if it vanished).
fn record(
    sh: &Shared,
    caller: &Caller,
    entity: Uuid,
    doc_type: &str,
    description: Option<String>,
    files: &[Stored],
    (received_at_ms, stored_at_ms): (u64, u64),
) -> Option<Vec<model::DocumentItem>> {
    let now = sh.now();
    let mut store = sh.store();
    store.app_of(entity, caller.client_id)?;
    let mut items = Vec::new();
    for f in files {
        store.documents.insert(
            f.id,
            Document {
                id: f.id,
                entity_id: entity,
                doc_type: doc_type.to_owned(),
                name: f.name.clone(),
                description: description.clone(),
                sha256: f.sha256.clone(),
                size: f.size,
                created: now,
                created_by: caller.email.clone(),
                received_at_ms,
                stored_at_ms,
            },
        );
        items.push(model::DocumentItem {
            id: f.id,
            url: Some(views::document_url(f.id)),
            name: Some(f.name.clone()),
            created_date: Some(eastern(now)),
            created_by: Some(caller.email.clone()),
        });
    }
    if let Some(app) = store.app_of_mut(entity, caller.client_id) {
        app.document_ids.extend(files.iter().map(|f| f.id));
        if doc_type == "LOA" {
            app.loa_id = files.last().map(|f| f.id);
        }
        app.updated = now;
        app.updated_by = caller.email.clone();
    }
    Some(items)
}

/// Real time in milliseconds since the Unix epoch (not the sandbox clock), for
/// `receivedAtMs` / `storedAtMs` in `/__sandbox/state`.
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn read_form(
    sh: &Shared,
    multipart: &mut Multipart,
    files: &mut Vec<Stored>,
    doc_type: &mut Option<String>,
    description: &mut Option<String>,
) -> ApiResult<()> {
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad(format!("malformed multipart body: {e}")))?
    {
        match field.name() {
            Some("Files") => files.push(store_file(sh, field).await?),
            Some("DocumentType") => *doc_type = Some(text(field).await?),
            Some("Description") => *description = Some(text(field).await?),
            other => {
                return Err(ApiError::bad(format!(
                    "unexpected form field {:?}: expected Files, DocumentType, Description",
                    other.unwrap_or("")
                )))
            }
        }
    }
    Ok(())
}

/// Reads and drops the rest of a rejected body, so the client gets its 400 instead of a
/// connection closed under a still-sending upload.
pub async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

async fn text(field: Field<'_>) -> ApiResult<String> {
    field
        .text()
        .await
        .map_err(|e| ApiError::bad(format!("malformed multipart body: {e}")))
}

/// Streams one file part to disk, enforcing the per-file limit as bytes arrive.
pub async fn stream_part(
    sh: &Shared,
    mut field: Field<'_>,
    id: Uuid,
    label: &str,
) -> ApiResult<(String, std::path::PathBuf, String, u64, Sniffer)> {
    let name = field
        .file_name()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{id}"));
    let path = sh.storage.path_for(id);
    let mut upload = Upload::create(&path).await?;
    let max = sh.config.max_file_bytes;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(ApiError::bad(format!("malformed multipart body: {e}")));
            }
        };
        if upload.size + chunk.len() as u64 > max {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(ApiError::bad(format!(
                "{label} {name:?} is larger than the {max}-byte limit"
            )));
        }
        if let Err(e) = upload.write(&chunk).await {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e.into());
        }
    }
    let (sha256, size, sniff) = upload.finish().await?;
    Ok((name, path, sha256, size, sniff))
}

async fn store_file(sh: &Shared, field: Field<'_>) -> ApiResult<Stored> {
    let id = Uuid::new_v4();
    let (name, path, sha256, size, sniff) = stream_part(sh, field, id, "file").await?;
    Ok(Stored {
        id,
        name,
        path,
        sha256,
        size,
        sniff,
    })
}

/// The document's enum text: LOA → PDF; LOGO → BMP; DOCUMENTS → PDF, XLSX or CSV.
fn check_types(doc_type: Option<&str>, files: &[Stored]) -> ApiResult<&'static str> {
    // DocumentType is not `required` in the document; without it the most permissive
    // type applies.
    let doc_type = match doc_type.unwrap_or("DOCUMENTS") {
        "LOA" => "LOA",
        "LOGO" => "LOGO",
        "DOCUMENTS" => "DOCUMENTS",
        other => {
            return Err(ApiError::bad(format!(
                "DocumentType {other:?} is not one of LOA, LOGO, DOCUMENTS"
            )))
        }
    };
    if files.is_empty() {
        return Err(ApiError::bad("Files: at least one file is required"));
    }
    for f in files {
        let ok = match doc_type {
            "LOA" => f.sniff.is_pdf(),
            "LOGO" => f.sniff.is_bmp(),
            _ => f.sniff.is_pdf() || f.sniff.is_zip() || f.sniff.is_text(),
        };
        if !ok {
            let wanted = match doc_type {
                "LOA" => "a PDF",
                "LOGO" => "a BMP",
                _ => "a PDF, XLSX or CSV",
            };
            return Err(ApiError::bad(format!(
                "Files: {:?} is not {wanted} (checked by content) as DocumentType {doc_type} requires",
                f.name
            )));
        }
    }
    Ok(doc_type)
}

async fn discard(files: &[Stored]) {
    for f in files {
        let _ = tokio::fs::remove_file(&f.path).await;
    }
}

pub async fn remove(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((id, document_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let entity = parse_uuid(&id, "NumhubEntityId")?;
    let document_id = parse_uuid(&document_id, "documentId")?;
    let now = sh.now();
    {
        let mut store = sh.store();
        let app = store
            .app_of_mut(entity, caller.client_id)
            .ok_or(ApiError::NotFound)?;
        if !app.document_ids.contains(&document_id) {
            return Err(ApiError::NotFound);
        }
        app.document_ids.retain(|d| *d != document_id);
        if app.loa_id == Some(document_id) {
            app.loa_id = None;
        }
        app.updated = now;
        store.documents.remove(&document_id);
    }
    let _ = tokio::fs::remove_file(sh.storage.path_for(document_id)).await;
    Ok(sh.json(&model::DeleteDocumentResponseModel {
        success: true,
        message: Some("Document deleted".into()),
    }))
}
