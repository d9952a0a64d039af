//! Documents: `documents` (a table, or `--follow` for their status changes) and
//! `upload`, which has numhubd register a file and queue it for NumHub.

use std::path::Path;

use serde_json::json;

use numhubd::client::{Client, ClientError};

use crate::output::{cell, out, print_json, print_table};
use crate::session::in_tenants;

/// `documents`: the documents of the tenants covered (of one entity).
pub fn list(
    c: &mut Client,
    json_out: bool,
    tenant: Option<i64>,
    entity: Option<&str>,
) -> Result<(), ClientError> {
    let items = in_tenants(c, tenant, "document.list", |t| {
        let mut p = json!({"tenant_id": t});
        if let Some(e) = entity {
            p["entity_id"] = json!(e);
        }
        p
    })?;
    print_table(
        json_out,
        &json!({"items": items}),
        &items,
        &[
            "id",
            "entity_id",
            "document_type",
            "filename",
            "status",
            "sha256",
            "sync.state",
        ],
        |d| {
            vec![
                cell(&d["id"]),
                cell(&d["entity_id"]),
                cell(&d["document_type"]),
                cell(&d["filename"]),
                cell(&d["status"]),
                cell(&d["sha256"]),
                cell(&d["sync"]["state"]),
            ]
        },
    )
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
pub fn upload(c: &mut Client, json_out: bool, u: &Upload<'_>) -> Result<(), ClientError> {
    let path = u
        .file
        .canonicalize()
        .map_err(|e| ClientError::Protocol(format!("{}: {e}", u.file.display())))?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if !json_out {
        eprintln!("[1/3] {} ({size} bytes)", path.display());
        eprintln!("[2/3] numhubd hashes and checks it, and queues the upload…");
    }
    let mut p = json!({"tenant_id": u.tenant, "entity_id": u.entity, "document_type": u.document_type, "path": path});
    if let Some(d) = u.description {
        p["description"] = json!(d);
    }
    let doc = c.call("document.upload", p)?;
    if json_out {
        return print_json(&doc);
    }
    eprintln!(
        "[3/3] queued for NumHub as job {}",
        cell(&doc["sync"]["job_id"])
    );
    out!(
        "document {} sha256 {} status {}",
        cell(&doc["id"]),
        cell(&doc["sha256"]),
        cell(&doc["status"])
    );
    Ok(())
}

/// `documents --follow`: their status changes and refused drops as they happen.
pub fn follow(
    socket: &Path,
    json_out: bool,
    tenant: Option<i64>,
    entity: Option<&str>,
) -> Result<(), ClientError> {
    let mut p = json!({"kinds": ["document.status_changed", "document.dropped"]});
    if let Some(t) = tenant {
        p["tenant_id"] = json!(t);
    }
    crate::events::follow(socket, json_out, p, entity)
}
