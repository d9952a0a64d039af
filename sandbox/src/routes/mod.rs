//! The router (every documented path, one template per path as the defects require) and
//! the small extractors the handlers share: strict JSON bodies, path ids, query params.

mod account;
mod admin;
mod applications;
mod documents;
mod identities;
mod templates;
mod views;

pub use templates::{template_sha256, TemplateForm};

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware;
use axum::routing::{delete, get, post, put};
use axum::Router;
use chrono::{DateTime, FixedOffset};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::Shared;
use crate::SandboxConfig;

/// JSON bodies are small; uploads are multipart and stream to disk instead.
const JSON_BODY_LIMIT: usize = 16 * 1024 * 1024;

pub fn router(sh: Arc<Shared>) -> Router {
    // One parameter name per position: the router rejects two names for one segment, and
    // the document uses several (NumhubEntityId / clientId / EID / ospId).
    let api = Router::new()
        .route("/api/v1/authorize/token", post(account::token))
        .route("/api/v1/authorize/userInfo", get(account::user_info))
        .route("/api/v1/application", post(applications::create))
        .route(
            "/api/v1/application/completedEntities",
            get(applications::completed_for_header),
        )
        .route(
            "/api/v1/application/{id}",
            get(applications::get_one).put(applications::update),
        )
        .route("/api/v1/application/{id}/view", get(applications::get_one))
        .route(
            "/api/v1/application/{id}/completedEntities",
            get(applications::completed_for_path),
        )
        .route(
            "/api/v1/application/vetting-report/{id}",
            get(applications::vetting_report),
        )
        .route(
            "/api/v1/application/attestation/{id}",
            get(applications::attestation_list).put(applications::attestation_submit),
        )
        .route(
            "/api/v1/application/{id}/generateOtp",
            post(applications::generate_otp),
        )
        .route(
            "/api/v1/application/{id}/verifyOtp",
            post(applications::verify_otp),
        )
        .route(
            "/api/v1/application/{id}/documents",
            post(documents::upload),
        )
        .route(
            "/api/v1/application/{id}/documents/{document_id}",
            delete(documents::remove),
        )
        .route(
            "/api/v1/application/{id}/downloadtemplate",
            get(templates::download),
        )
        .route("/api/v1/reports/status", get(applications::status_report))
        .route("/api/v1/notifications", get(applications::notifications))
        .route("/api/v1/notifications/{id}/flag", get(applications::flag))
        .route(
            "/api/v1/applications/newdisplayidentity",
            get(identities::list),
        )
        .route(
            "/api/v1/applications/newidentities/{id}",
            get(identities::get_one),
        )
        .route(
            "/api/v1/applications/updatedisplayidentity",
            put(identities::update),
        )
        .route(
            "/api/v1/applications/deactivationrequest",
            put(identities::deactivate),
        )
        .route(
            "/api/v1/applications/{id}/uploadadditionaltns",
            post(identities::upload_tns),
        )
        .route(
            "/api/v1/applications/{id}/additionaltns",
            delete(identities::delete_tns),
        )
        .route(
            "/api/v1/applications/downloadphonenumbers",
            get(identities::download_numbers),
        )
        // Documented, outside the sandbox's scope.
        .route(
            "/api/v1/confirmationReports/settlementReports",
            get(unsupported),
        )
        .route("/api/v1/deals", get(unsupported).post(unsupported))
        .route("/api/v1/deals/{id}", get(unsupported).put(unsupported))
        .route("/api/v1/deals/{id}/resendEmail", post(unsupported))
        .route(
            "/api/v1/deals/fees/{id}",
            get(unsupported).post(unsupported).put(unsupported),
        )
        .route("/api/v1/Documents", get(unsupported))
        .route("/api/v1/Documents/{id}", get(unsupported))
        .route("/api/v1/application/{id}/enterprise", get(unsupported))
        .route("/api/v1/application/{id}/eids", get(unsupported))
        .route("/api/v1/application/{id}/authorize", post(unsupported))
        .route(
            "/api/v1/application/{id}/notes/{document_id}",
            get(unsupported),
        )
        .route("/api/v1/reports/deals", get(unsupported))
        .route(
            "/api/v1/reports/report-column-preferences",
            get(unsupported).put(unsupported),
        )
        .route(
            "/api/v1/ApplicationReference/create-references/{id}",
            post(unsupported),
        )
        .route(
            "/api/v1/ApplicationReference/{id}/resend-link",
            post(unsupported),
        )
        .route(
            "/api/v1/ApplicationReference/verify/{id}",
            post(unsupported),
        )
        .route("/api/v1/users/{id}", get(unsupported))
        .route_layer(middleware::from_fn_with_state(
            sh.clone(),
            crate::auth::gate,
        ));

    Router::new()
        .merge(api)
        .merge(admin::router())
        // Uploads are bounded per file (max_file_bytes) while they stream, not as a whole.
        .layer(DefaultBodyLimit::disable())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(sh)
}

/// The document's template for a routed request: the router needs one parameter name per
/// path position (`{id}`), the document uses several, and the state's request counters
/// speak the document's language.
pub fn document_template(method: &Method, router: &str) -> String {
    let name = match router {
        "/api/v1/application/{id}/completedEntities" => "clientId",
        "/api/v1/application/attestation/{id}" if method == Method::GET => "clientId",
        "/api/v1/application/{id}/enterprise" => "EID",
        "/api/v1/application/{id}/eids" => "ospId",
        "/api/v1/deals/{id}" => "dealId",
        "/api/v1/deals/{id}/resendEmail" => "id",
        "/api/v1/deals/fees/{id}" => "ospId",
        "/api/v1/Documents/{id}" => "Id",
        "/api/v1/ApplicationReference/create-references/{id}" => "numhubEntityId",
        "/api/v1/ApplicationReference/{id}/resend-link" => "referenceId",
        "/api/v1/ApplicationReference/verify/{id}" => "token",
        "/api/v1/users/{id}" => "userId",
        r if r.starts_with("/api/v1/applications/") => "NumhubIdentityId",
        _ => "NumhubEntityId",
    };
    let second = if router.contains("/notes/") {
        "{noteId}"
    } else {
        "{documentId}"
    };
    router
        .replace("{id}", &format!("{{{name}}}"))
        .replace("{document_id}", second)
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn unsupported() -> ApiError {
    ApiError::bad("not supported by the sandbox")
}

/// A JSON request body parsed against the document's schema: unknown fields, wrong
/// enums and wrong types are a 400 naming the field.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let ctype = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mime = ctype.split(';').next().unwrap_or("").trim().to_owned();
        let json_like = mime == "application/json"
            || mime == "text/json"
            || (mime.starts_with("application/") && mime.ends_with("+json"));
        if !json_like {
            return Err(ApiError::bad(
                "Content-Type must be application/json, text/json or application/*+json",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), JSON_BODY_LIMIT)
            .await
            .map_err(|e| ApiError::bad(format!("cannot read request body: {e}")))?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad(format!("invalid request body: {inner}"))
        } else {
            ApiError::bad(format!("invalid request body at `{path}`: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad(format!("invalid request body: {e}")))?;
    Ok(value)
}

/// The query string; names are matched case-insensitively, as ASP.NET binds them.
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Params(
            parts
                .uri
                .query()
                .map(crate::auth::form_pairs)
                .unwrap_or_default(),
        ))
    }
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn int32(&self, name: &str) -> Result<Option<i32>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<i32>()
                    .map_err(|_| ApiError::bad(format!("query parameter {name} must be an int32")))
            })
            .transpose()
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::bad(format!(
                    "query parameter {name} must be true or false"
                ))),
            })
            .transpose()
    }

    pub fn uuid(&self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.get(name).map(|v| parse_uuid(v, name)).transpose()
    }

    pub fn date_time(&self, name: &str) -> Result<Option<DateTime<FixedOffset>>, ApiError> {
        self.get(name)
            .map(|v| {
                DateTime::parse_from_rfc3339(v).map_err(|_| {
                    ApiError::bad(format!(
                        "query parameter {name} must be an RFC 3339 date-time with an offset"
                    ))
                })
            })
            .transpose()
    }
}

pub fn parse_uuid(v: &str, name: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(v).map_err(|_| ApiError::bad(format!("{name} must be a uuid")))
}

pub fn parse_i32(v: &str, name: &str) -> Result<i32, ApiError> {
    v.parse::<i32>()
        .map_err(|_| ApiError::bad(format!("{name} must be an int32")))
}

/// One page of a paged list, as served: its items and the page number and size it
/// really is (what the answer reports where the list has paging metadata).
pub struct Served<T> {
    pub items: Vec<T>,
    pub page_number: i32,
    pub page_size: i32,
}

/// Pages are 1-based; a page past the end is empty. Every paged route pages through here,
/// so `max_page_size` (a NumHub that caps pages) and `ignore_page_number` (one that always
/// answers page 1) apply to all of them alike.
pub fn page<T: Clone>(
    config: &SandboxConfig,
    items: &[T],
    page_number: i32,
    page_size: i32,
) -> Served<T> {
    let page_size = config
        .max_page_size
        .map_or(page_size, |cap| page_size.min(cap))
        .max(1);
    let page_number = if config.ignore_page_number {
        1
    } else {
        page_number.max(1)
    };
    let size = page_size as usize;
    let start = (page_number as usize - 1).saturating_mul(size);
    Served {
        items: items.iter().skip(start).take(size).cloned().collect(),
        page_number,
        page_size,
    }
}
