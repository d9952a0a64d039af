//! An exchange's request before it is sent: the method and URL, the query, the
//! headers (each also written down for the audit row, the bearer token redacted),
//! and the body — JSON, or a multipart body streamed from disk and hashed on its way
//! out, so the audit row names what was actually sent.

use std::path::PathBuf;

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use super::super::audit::REDACTED;
use super::super::file_body;
use super::super::model::UploadFile;
use super::{Auth, Body, NumhubError, Request, Transport};
use crate::db::HttpMethod;

/// A request ready to send, and what its audit row says about it.
pub(super) struct Prepared {
    pub builder: reqwest::RequestBuilder,
    pub audit: Sending,
}

/// What was sent, as the audit row records it.
pub(super) struct Sending {
    pub headers: serde_json::Map<String, Value>,
    /// The redacted JSON body (`Null` for none, replaced for a multipart body by
    /// its files' progress once sent).
    pub body: Value,
    pub files: Vec<Hashed>,
}

/// One file of a multipart body, for the audit row: the SHA-256 of what was
/// actually read and sent comes from the send itself, not a second read.
pub(super) struct Hashed {
    pub progress: file_body::Shared,
    pub path: PathBuf,
    pub size: u64,
    pub name: String,
    pub file_name: String,
    pub content_type: String,
}

impl Transport {
    /// `req` as reqwest sends it; a multipart body opens its files now.
    pub(super) fn prepare(
        &self,
        req: &Request,
        auth: Option<&Auth<'_>>,
    ) -> Result<Prepared, NumhubError> {
        let url = format!("{}{}", self.base_url.trim_end_matches('/'), req.endpoint());
        let mut builder = self.http.request(method(req.method), url);
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        let (mut builder, headers) = with_auth(builder, auth);
        let mut audit = Sending {
            headers,
            body: Value::Null,
            files: Vec::new(),
        };
        match &req.body {
            Body::None => {}
            Body::Json(v) => {
                builder = builder.json(v);
                audit.body = self.redactor.value(v);
            }
            Body::Multipart { files, fields } => {
                let (form, hashed) = multipart(files, fields)?;
                builder = builder.multipart(form);
                audit.files = hashed;
            }
        }
        Ok(Prepared { builder, audit })
    }
}

fn method(m: HttpMethod) -> reqwest::Method {
    match m {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Delete => reqwest::Method::DELETE,
    }
}

/// The headers every call but the token call carries, and their audit record.
fn with_auth(
    mut builder: reqwest::RequestBuilder,
    auth: Option<&Auth<'_>>,
) -> (reqwest::RequestBuilder, serde_json::Map<String, Value>) {
    let mut audit = serde_json::Map::new();
    if let Some(a) = auth {
        builder = builder
            .bearer_auth(a.bearer)
            .header("client-id", a.client_id.to_string());
        audit.insert("Authorization".into(), json!(REDACTED));
        audit.insert("client-id".into(), json!(a.client_id));
        if let Some(s) = a.scheme {
            builder = builder.header("X-Auth-Scheme", s);
            audit.insert("X-Auth-Scheme".into(), json!(s));
        }
    }
    (builder, audit)
}

/// The multipart form: the text fields, then each file streamed from disk through a
/// hasher whose progress the audit row reads after the send.
fn multipart(
    files: &[(String, UploadFile)],
    fields: &[(String, String)],
) -> Result<(Form, Vec<Hashed>), NumhubError> {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.clone(), v.clone());
    }
    let mut hashed = Vec::new();
    for (name, f) in files {
        let (part, progress, size) = file_part(f)?;
        form = form.part(name.clone(), part);
        hashed.push(Hashed {
            progress,
            path: f.path.clone(),
            size,
            name: name.clone(),
            file_name: f.file_name.clone(),
            content_type: f.content_type.clone(),
        });
    }
    Ok((form, hashed))
}

fn file_part(f: &UploadFile) -> Result<(Part, file_body::Shared, u64), NumhubError> {
    let file_err = |e: std::io::Error| NumhubError::File {
        path: f.path.display().to_string(),
        source: e.into(),
    };
    let file = std::fs::File::open(&f.path).map_err(file_err)?;
    let size = file.metadata().map_err(file_err)?.len();
    let (stream, progress) = file_body::stream(file, f.sha256.clone());
    let part = Part::stream_with_length(reqwest::Body::wrap_stream(stream), size)
        .file_name(f.file_name.clone())
        .mime_str(&f.content_type)
        .map_err(|_| NumhubError::File {
            path: f.path.display().to_string(),
            source: format!("{:?} is not a content type", f.content_type).into(),
        })?;
    Ok((part, progress, size))
}
