//! `GET /application/{NumhubEntityId}/downloadtemplate`, the signed "BCID Appendix A –
//! TN Authorization" template, and its admin controls (`/__sandbox/template…`).
//!
//! The document says only "200 `IActionResult`" with text/plain, application/json and
//! text/json: it is silent on what the body is. So the sandbox does not pick one
//! reading for the client to match; it plays each ([`TemplateForm`], chosen by
//! `POST /__sandbox/template`) and tests check that the client copes with all of them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{parse_json, parse_uuid};
use crate::error::{ApiError, ApiResult};
use crate::state::{App, Caller, Shared};

/// How the template's bytes are put in the answer: every reasonable reading of the
/// document's `IActionResult`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateForm {
    /// The PDF as `application/pdf` (an ASP.NET `FileResult`): what a file download
    /// most likely is, so the default.
    #[default]
    Pdf,
    /// The PDF as `application/octet-stream`.
    Octet,
    /// A serialized ASP.NET `FileContentResult` (`fileContents` base64) as
    /// `application/json`.
    Json,
    /// The same object as `text/json`, the document's other JSON content type.
    TextJson,
    /// The base64 text alone as `text/plain`.
    Base64,
}

/// The template of one application: a small PDF-looking byte string that names it.
/// Not valid UTF-8 (a binary comment line, as real PDFs have), so a client that
/// decodes it as text would corrupt it.
pub fn template_bytes(app: &App) -> Vec<u8> {
    let company = app.company().unwrap_or_default();
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    out.extend_from_slice(
        format!(
            "1 0 obj << /Type /Catalog /Title (BCID Appendix A - TN Authorization) >> endobj\n\
             % NumHub sandbox LOA template for application {} ({}) {}\n\
             trailer << /Root 1 0 R >>\n%%EOF\n",
            app.application_id, app.id, company
        )
        .as_bytes(),
    );
    out
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SHA-256 of an application's template, whoever's client it is.
pub fn template_sha256(sh: &Shared, id: uuid::Uuid) -> Option<String> {
    let bytes = template_bytes(sh.store().apps.get(&id)?);
    Some(hex_sha256(&bytes))
}

/// The API route: 404 for an application unknown to the caller's client.
pub async fn download(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubEntityId")?;
    let (bytes, file_name) = {
        let store = sh.store();
        let app = store
            .app_of(id, caller.client_id)
            .ok_or(ApiError::NotFound)?;
        (
            template_bytes(app),
            format!("BCID-Appendix-A-{}.pdf", app.application_id),
        )
    };
    let form = sh.template_form();
    let disposition = format!("attachment; filename=\"{file_name}\"");
    let b64 = || base64::engine::general_purpose::STANDARD.encode(&bytes);
    let file_result = || {
        json!({
            "fileContents": b64(),
            "contentType": "application/pdf",
            "fileDownloadName": file_name,
            "lastModified": null,
            "entityTag": null,
            "enableRangeProcessing": false,
        })
        .to_string()
    };
    Ok(match form {
        TemplateForm::Pdf => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response(),
        TemplateForm::Octet => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response(),
        TemplateForm::Json => (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            file_result(),
        )
            .into_response(),
        TemplateForm::TextJson => (
            [(header::CONTENT_TYPE, "text/json; charset=utf-8")],
            file_result(),
        )
            .into_response(),
        TemplateForm::Base64 => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], b64()).into_response()
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetForm {
    form: TemplateForm,
}

/// `POST /__sandbox/template {"form": …}`: how the next downloads answer.
pub async fn set_form(
    State(sh): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let s: SetForm = parse_json(&body)?;
    sh.set_template_form(s.form);
    Ok(Json(json!({ "form": s.form })))
}

/// `GET /__sandbox/template/{id}`: the template's size and SHA-256 (and the bytes'
/// current form), so tests can check what the client wrote is byte-identical.
pub async fn describe(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = parse_uuid(&id, "id")?;
    let bytes = {
        let store = sh.store();
        template_bytes(store.apps.get(&id).ok_or(ApiError::NotFound)?)
    };
    Ok(Json(json!({
        "numhubEntityId": id,
        "form": sh.template_form(),
        "size": bytes.len(),
        "sha256": hex_sha256(&bytes),
    })))
}
