//! Documents: `documents` (a table, or `--follow` for their status changes) and
//! `upload`, which has numhubd register a file and queue it for NumHub.

use std::path::Path;

use serde_json::json;

use numhubd::api::{self, DocumentFile, EventFilter, EventKind};
use numhubd::client::ClientError;

use crate::output::{cell, out, print_json, table};
use crate::session::{named, utf8, Outcome, Session};

/// `documents`: the documents of the tenants covered (of one entity).
pub fn list(s: &mut Session, tenant: Option<i64>, entity: Option<&str>) -> Outcome {
    let items = s.of_entity::<api::DocumentList, _>(tenant, entity)?;
    table!(s.json, &json!({"items": items}), &items;
        id, entity_id, document_type, filename, status, sha256, sync.state)
}

/// `documents --follow`: their status changes and refused drops as they happen.
pub fn follow(s: &Session, tenant: Option<i64>, entity: Option<&str>) -> Outcome {
    let filter = EventFilter {
        tenant_id: tenant,
        kinds: Some(vec![
            EventKind::DocumentStatusChanged,
            EventKind::DocumentDropped,
        ]),
    };
    crate::events::follow(s, &filter, entity)
}

/// What `upload` sends: the file and what it is.
pub struct Upload<'a> {
    pub tenant: i64,
    pub entity: &'a str,
    pub document_type: &'a str,
    pub file: &'a Path,
    pub description: Option<&'a str>,
}

/// `upload`: numhubd reads the file itself (it must be under `[rpc] upload_dirs`);
/// the steps are shown on stderr as they happen, the document on stdout.
pub fn upload(s: &mut Session, u: &Upload<'_>) -> Outcome {
    let path = u
        .file
        .canonicalize()
        .map_err(|e| ClientError::Protocol(format!("{}: {e}", u.file.display())))?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if !s.json {
        eprintln!("[1/3] {} ({size} bytes)", path.display());
        eprintln!("[2/3] numhubd hashes and checks it, and queues the upload…");
    }
    let file = DocumentFile {
        tenant_id: u.tenant,
        entity_id: u.entity.to_string(),
        document_type: named("document_type", u.document_type)?,
        path: utf8(&path)?.to_string(),
        description: u.description.map(str::to_string),
        wait_s: None,
    };
    let doc = s.request::<api::DocumentUpload>(&file)?;
    if s.json {
        return print_json(&doc);
    }
    let job = doc.sync.as_ref().map(|sync| sync.job_id);
    eprintln!("[3/3] queued for NumHub as job {}", cell(&job));
    out!(
        "document {} sha256 {} status {}",
        doc.id,
        cell(&doc.sha256),
        doc.status
    );
    Ok(())
}
