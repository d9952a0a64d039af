//! `documents` (local files we received) and `numhub_documents` (their upload to an
//! entity at NumHub).

use super::engine::{args, read_row, ts, Row};
use serde::{Deserialize, Serialize};

use super::jobs;
use super::{
    check_json, check_len, check_not_blank, new_id, now_ts, require_tenant, DbError,
    DocumentSource, DocumentStatus, DocumentType, Result, Sql, Tx,
};

/// The content types NumHub's upload accepts (by DocumentType: LOA PDF, LOGO BMP,
/// DOCUMENTS PDF/XLSX/CSV), as detected from the bytes, never the name.
pub const CONTENT_TYPES: &[&str] = &[
    "application/pdf",
    "image/bmp",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LocalDocument {
    pub id: i64,
    pub tenant_id: i64,
    pub original_filename: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub content_type: String,
    pub source: DocumentSource,
    pub source_path: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone)]
pub struct NewLocalDocument {
    pub tenant_id: i64,
    pub original_filename: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub content_type: String,
    pub source: DocumentSource,
    pub source_path: String,
}

/// The row as the protocol shows it: one type for the table and the wire.
pub use crate::api::Document;

pub fn insert_local(tx: &Tx<'_>, new: NewLocalDocument) -> Result<LocalDocument> {
    check_not_blank("original_filename", &new.original_filename)?;
    check_len("original_filename", &new.original_filename, 255)?;
    if new.size_bytes < 0 {
        return Err(DbError::invalid("size_bytes", "must not be negative"));
    }
    if new.sha256.len() != 64
        || !new
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(DbError::invalid(
            "sha256",
            "must be 64 lower-case hex digits",
        ));
    }
    if !CONTENT_TYPES.contains(&new.content_type.as_str()) {
        return Err(DbError::invalid(
            "content_type",
            format!("{:?} is not one NumHub accepts", new.content_type),
        ));
    }
    require_tenant(tx, new.tenant_id)?;
    let id = tx.insert(
        "INSERT INTO documents (tenant_id, original_filename, size_bytes, sha256, content_type, source,
             source_path, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        args![
            new.tenant_id,
            new.original_filename,
            new.size_bytes,
            new.sha256,
            new.content_type,
            new.source.as_str(),
            new.source_path,
            ts(&now_ts())
        ],
    )?;
    get_local(tx, new.tenant_id, id)
}

/// A taken file to register for upload to an entity.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub tenant_id: i64,
    pub entity_id: String,
    pub document_type: DocumentType,
    pub local: NewLocalDocument,
    /// Sent with the upload (NumHub's `description` field).
    pub description: Option<String>,
}

/// Registers a taken file: its `documents` row, its `numhub_documents` row and its
/// upload job, in the caller's one transaction. Returns the document and the job.
pub fn register_upload(tx: &Tx<'_>, new: NewUpload) -> Result<(Document, jobs::Job)> {
    let filename = new.local.original_filename.clone();
    let payload = jobs::JobPayload::DocumentUpload(jobs::DocumentUpload {
        description: new.description,
        content_type: Some(new.local.content_type.clone()),
    });
    let local = insert_local(tx, new.local)?;
    let doc = create(
        tx,
        new.tenant_id,
        &new.entity_id,
        Some(local.id),
        new.document_type,
        &filename,
    )?;
    let job = jobs::enqueue(
        tx,
        jobs::NewJob {
            document_id: Some(doc.id.clone()),
            ..jobs::NewJob::on_entity(new.tenant_id, new.entity_id, payload)
        },
    )?;
    Ok((doc, job))
}

/// The upload jobs that may still send a file: any not `done` (a `dead` one can be
/// retried). Their spool copies must stay.
pub(super) const UNSENT_UPLOADS: &str = "SELECT d.sha256 FROM jobs j
     JOIN numhub_documents nd ON nd.id = j.document_id
     JOIN documents d ON d.id = nd.local_document_id
     WHERE j.kind = 'document.upload' AND j.state != 'done'";

/// Whether an upload that may still send the file with this SHA-256 exists.
pub fn spool_copy_needed(sql: &Sql<'_>, sha256: &str) -> Result<bool> {
    sql.one(
        &format!("SELECT EXISTS ({UNSENT_UPLOADS} AND d.sha256 = ?1)"),
        args![sha256],
        |r| r.get(0),
    )
}

/// Every SHA-256 an upload that may still be sent needs, for the spool sweep.
pub fn spool_copies_needed(sql: &Sql<'_>) -> Result<std::collections::HashSet<String>> {
    Ok(sql
        .rows(UNSENT_UPLOADS, args![], |r| r.get::<String>(0))?
        .into_iter()
        .collect())
}

pub fn get_local(sql: &Sql<'_>, tenant_id: i64, id: i64) -> Result<LocalDocument> {
    sql.row(
        "SELECT id, tenant_id, original_filename, size_bytes, sha256, content_type, source,
                    source_path, created_at, updated_at
             FROM documents WHERE id = ?1 AND tenant_id = ?2",
        args![id, tenant_id],
        |r| {
            read_row!(r => LocalDocument {
                id, tenant_id, original_filename, size_bytes, sha256, content_type, source,
                source_path, created_at, updated_at,
            })
        },
    )?
    .ok_or_else(|| DbError::not_found("local document", id))
}

const SELECT: &str = "SELECT d.id, d.numhub_entity_id, d.local_document_id, d.numhub_document_id,
    d.document_type, d.filename, d.status, d.api_response, d.uploaded_at, l.sha256, d.created_at, d.updated_at
    FROM numhub_documents d JOIN numhub_entities e ON e.id = d.numhub_entity_id
    LEFT JOIN documents l ON l.id = d.local_document_id";

fn from_row(r: &Row<'_>) -> Result<Document> {
    read_row!(r => Document {
        id, entity_id, local_document_id, numhub_document_id, document_type, filename, status,
        api_response: json, uploaded_at, sha256, created_at, updated_at,
    })
}

/// A document waiting to be uploaded to the entity (status `pending`).
pub fn create(
    tx: &Tx<'_>,
    tenant_id: i64,
    entity_id: &str,
    local_document_id: Option<i64>,
    document_type: DocumentType,
    filename: &str,
) -> Result<Document> {
    check_not_blank("filename", filename)?;
    check_len("filename", filename, 255)?;
    super::entities::get(tx, tenant_id, entity_id).map_err(|_| DbError::UnknownReference {
        field: "entity_id",
        what: "entity of this tenant",
        id: entity_id.to_string(),
    })?;
    if let Some(local) = local_document_id {
        get_local(tx, tenant_id, local).map_err(|_| DbError::UnknownReference {
            field: "local_document_id",
            what: "local document of this tenant",
            id: local.to_string(),
        })?;
    }
    let id = new_id();
    tx.execute(
        "INSERT INTO numhub_documents (id, numhub_entity_id, local_document_id, document_type, filename,
             status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
        args![
            id,
            entity_id,
            local_document_id,
            document_type.as_str(),
            filename,
            ts(&now_ts())
        ],
    )?;
    get(tx, tenant_id, &id)
}

pub fn get(sql: &Sql<'_>, tenant_id: i64, id: &str) -> Result<Document> {
    sql.row(
        &format!("{SELECT} WHERE d.id = ?1 AND e.tenant_id = ?2"),
        args![id, tenant_id],
        from_row,
    )?
    .ok_or_else(|| DbError::not_found("document", id))
}

/// Paged by `jobs::children` (`document.list`).
impl jobs::Child for Document {
    const SELECT: &'static str = SELECT;
    const ALIAS: &'static str = "d";
    const NEWEST_JOB: &'static str = jobs::newest_unfinished_job_id!("document_id", "d.id");
    const COLUMNS: usize = 12;
    fn from_row(r: &Row<'_>) -> Result<Document> {
        from_row(r)
    }
}

/// Records NumHub's acceptance of the upload.
pub fn mark_uploaded(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: &str,
    numhub_document_id: &str,
    api_response: &str,
    uploaded_at: &str,
) -> Result<Document> {
    check_len("numhub_document_id", numhub_document_id, 100)?;
    check_json("api_response", api_response)?;
    get(tx, tenant_id, id)?;
    tx.execute(
        "UPDATE numhub_documents SET numhub_document_id = ?2, api_response = ?3, uploaded_at = ?4,
             status = 'uploaded', updated_at = ?5
         WHERE id = ?1",
        args![
            id,
            numhub_document_id,
            api_response,
            ts(uploaded_at),
            ts(&now_ts())
        ],
    )?;
    get(tx, tenant_id, id)
}

pub fn set_status(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: &str,
    status: DocumentStatus,
) -> Result<Document> {
    get(tx, tenant_id, id)?;
    tx.execute(
        "UPDATE numhub_documents SET status = ?2, updated_at = ?3 WHERE id = ?1",
        args![id, status.as_str(), ts(&now_ts())],
    )?;
    get(tx, tenant_id, id)
}

/// Removes the row once NumHub has deleted the document (or it never got there).
pub fn delete(tx: &Tx<'_>, tenant_id: i64, id: &str) -> Result<()> {
    get(tx, tenant_id, id)?;
    tx.execute("DELETE FROM numhub_documents WHERE id = ?1", args![id])?;
    Ok(())
}

/// An earlier document of the same entity and type with the same content, for the
/// drop folder's duplicate check (its upload not `dead`: a dead one may be dropped
/// again to retry).
#[derive(Debug, Clone, PartialEq)]
pub struct Earlier {
    pub document_id: String,
    pub filename: String,
    pub created_at: String,
}

pub fn find_same_content(
    sql: &Sql<'_>,
    tenant_id: i64,
    entity_id: &str,
    document_type: DocumentType,
    sha256: &str,
) -> Result<Option<Earlier>> {
    sql.row(
        "SELECT d.id, d.filename, d.created_at FROM numhub_documents d
             JOIN numhub_entities e ON e.id = d.numhub_entity_id
             JOIN documents l ON l.id = d.local_document_id
             WHERE e.tenant_id = ?1 AND d.numhub_entity_id = ?2 AND d.document_type = ?3
               AND l.sha256 = ?4
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.document_id = d.id
                   AND j.kind = 'document.upload' AND j.state = 'dead')
             ORDER BY d.created_at LIMIT 1",
        args![tenant_id, entity_id, document_type.as_str(), sha256],
        |r| {
            Ok(Earlier {
                document_id: r.get(0)?,
                filename: r.get(1)?,
                created_at: r.get(2)?,
            })
        },
    )
}

/// The newest document registered from the drop folder at `source_path` with this
/// content whose file has not left the inbox (numhubd stopped before moving it), if
/// any.
pub fn find_dropped(sql: &Sql<'_>, source_path: &str, sha256: &str) -> Result<Option<String>> {
    sql.row(
        "SELECT d.id FROM numhub_documents d JOIN documents l ON l.id = d.local_document_id
             WHERE l.source = 'drop_folder' AND l.source_path = ?1 AND l.sha256 = ?2
               AND l.left_inbox_at IS NULL
             ORDER BY d.created_at DESC LIMIT 1",
        args![source_path, sha256],
        |r| r.get(0),
    )
}

/// Records that the dropped file of `document_id` left the inbox.
pub fn mark_left_inbox(tx: &Tx<'_>, document_id: &str) -> Result<()> {
    tx.execute(
        "UPDATE documents SET left_inbox_at = ?2
              WHERE id = (SELECT local_document_id FROM numhub_documents WHERE id = ?1)",
        args![document_id, ts(&now_ts())],
    )?;
    Ok(())
}

/// A document's newest upload job: its id, state and last error (None: it has no
/// upload job).
pub fn upload_state(
    sql: &Sql<'_>,
    document_id: &str,
) -> Result<Option<(i64, super::JobState, Option<String>)>> {
    let row: Option<(i64, String, Option<String>)> = sql.row(
        "SELECT id, state, last_error FROM jobs WHERE document_id = ?1 AND kind = 'document.upload'
             ORDER BY id DESC LIMIT 1",
        args![document_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    row.map(|(id, s, e)| Ok((id, super::JobState::parse(&s)?, e)))
        .transpose()
}
