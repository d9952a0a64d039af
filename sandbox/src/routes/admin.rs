//! `/__sandbox/…`: the test and benchmark controls. Outside auth, rate limits and faults.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{parse_json, parse_uuid};
use crate::error::{ApiError, ApiResult};
use crate::faults::Faults;
use crate::model::GetBCApplicationDtoStatus as Status;
use crate::state::{Flag, FlagComment, ListStatusSpellings, Shared};

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/__sandbox/state", get(state))
        .route("/__sandbox/clock/advance", post(advance))
        .route("/__sandbox/faults", post(faults))
        .route("/__sandbox/tokens/expire", post(expire))
        .route("/__sandbox/seed", post(seed))
        .route("/__sandbox/rate-limit", post(rate_limit))
        .route("/__sandbox/entities/{id}/status", post(entity_status))
        .route(
            "/__sandbox/spellings/attestation-status",
            post(list_status_spellings),
        )
        .route(
            "/__sandbox/entities/{id}/flag",
            post(entity_flag).delete(entity_unflag),
        )
        .route("/__sandbox/identities/{id}", post(identity))
        .route(
            "/__sandbox/spellings/identity-status",
            post(identity_status_spellings),
        )
        .route("/__sandbox/documents/{id}", get(document))
        .route("/__sandbox/template", post(super::templates::set_form))
        .route("/__sandbox/template/{id}", get(super::templates::describe))
}

async fn state(State(sh): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(sh.state_json())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

async fn advance(
    State(sh): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let a: Advance = parse_json(&body)?;
    sh.advance_clock(a.seconds);
    Ok(Json(
        json!({ "now": crate::clock::eastern(sh.now()), "offsetSecs": sh.clock.offset_secs() }),
    ))
}

async fn faults(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> ApiResult<Json<Faults>> {
    let f: Faults = parse_json(&body)?;
    sh.faults.set(f.clone());
    Ok(Json(f))
}

async fn expire(State(sh): State<Arc<Shared>>) -> StatusCode {
    sh.expire_tokens();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    client_id: i32,
    count: usize,
    #[serde(default)]
    status: Option<Status>,
}

async fn seed(
    State(sh): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let s: Seed = parse_json(&body)?;
    let ids = sh.seed(s.client_id, s.count, s.status.unwrap_or(Status::Complete));
    Ok(Json(json!({ "ids": ids })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimit {
    limit: u32,
    #[serde(default)]
    window_secs: Option<f64>,
}

async fn rate_limit(
    State(sh): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let r: RateLimit = parse_json(&body)?;
    let window = match r.window_secs {
        Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s),
        Some(_) => return Err(ApiError::bad("window_secs must be a positive number")),
        None => sh.rate.settings().1,
    };
    sh.rate.configure(r.limit, window);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityStatus {
    status: Status,
    /// Shown by the notifications operations when the status is `Rejected`.
    #[serde(default)]
    comment: Option<String>,
}

/// Changes an application at NumHub's side, as a vetting team would.
async fn entity_status(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, "id")?;
    let s: EntityStatus = parse_json(&body)?;
    let now = sh.now();
    let mut store = sh.store();
    if !store.apps.contains_key(&id) {
        return Err(ApiError::NotFound);
    }
    store.set_status(id, s.status, now, s.comment);
    Ok(StatusCode::NO_CONTENT)
}

/// How the attestation list spells each status from now on (`{"InProgress": "In
/// Progress", "Complete": "ACTIVE"}`; a status left out is spelled as the enum; `{}`
/// resets): the list's `status` has no enum in the document, so a client must cope.
async fn list_status_spellings(
    State(sh): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ListStatusSpellings>> {
    let spellings: ListStatusSpellings = parse_json(&body)?;
    sh.set_list_status_spellings(spellings.clone());
    Ok(Json(spellings))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FlagSection {
    section_number: i32,
    section_name: String,
    comments: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FlagBody {
    message: String,
    comments: Vec<FlagSection>,
    /// How the alert spells the company (default: as the application does).
    #[serde(default)]
    alert_company_name: Option<String>,
    /// The alert's `clientId` (default: the application's client).
    #[serde(default)]
    alert_client_id: Option<i32>,
    /// One alert per flagged section instead of one per application.
    #[serde(default)]
    alert_per_section: bool,
}

/// Flags an application as a reviewer would: its alert appears in
/// `GET /notifications`, its sections and comments in `/notifications/{id}/flag` and
/// the vetting report. A second call replaces the flag.
async fn entity_flag(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, "id")?;
    let f: FlagBody = parse_json(&body)?;
    let mut store = sh.store();
    let app = store.apps.get_mut(&id).ok_or(ApiError::NotFound)?;
    app.flag = Some(Flag {
        message: f.message,
        comments: f
            .comments
            .into_iter()
            .map(|c| FlagComment {
                section_number: c.section_number,
                section_name: c.section_name,
                comments: c.comments,
            })
            .collect(),
        alert_company: f.alert_company_name,
        alert_client_id: f.alert_client_id,
        alert_per_section: f.alert_per_section,
    });
    Ok(StatusCode::NO_CONTENT)
}

/// Ends the application's review: NumHub no longer alerts for it.
async fn entity_unflag(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, "id")?;
    let mut store = sh.store();
    let app = store.apps.get_mut(&id).ok_or(ApiError::NotFound)?;
    app.flag = None;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdentityChange {
    caller_name: Option<String>,
    call_reason: Option<String>,
    logo_url: Option<String>,
    status: Option<String>,
    phone_numbers: Option<Vec<String>>,
    is_fee_checked: Option<bool>,
}

/// Changes a display identity at NumHub's side; bumps its modifiedDate.
async fn identity(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, "id")?;
    let c: IdentityChange = parse_json(&body)?;
    let now = sh.now();
    let mut store = sh.store();
    let i = store.identities.get_mut(&id).ok_or(ApiError::NotFound)?;
    if let Some(v) = c.caller_name {
        i.caller_name = Some(v);
    }
    if let Some(v) = c.call_reason {
        i.call_reason = Some(v);
    }
    if let Some(v) = c.logo_url {
        i.logo_url = Some(v);
    }
    if let Some(v) = c.status {
        i.status = v;
    }
    if let Some(v) = c.phone_numbers {
        i.phone_numbers = v;
    }
    if let Some(v) = c.is_fee_checked {
        i.is_fee_checked = v;
    }
    i.modified = now;
    Ok(StatusCode::NO_CONTENT)
}

/// The identity status words the sandbox itself uses; only these can be respelled.
const OWN_IDENTITY_STATUSES: [&str; 3] = ["Active", "Inactive", "Pending"];

/// From now on, identity statuses are answered in these spellings (`{"Active":
/// "ACTIVE"}`; a word left out is answered as the sandbox writes it; `{}` resets).
/// Every answer that carries an identity's status uses them; the stored status and
/// `/__sandbox/state` keep the sandbox's own word.
async fn identity_status_spellings(
    State(sh): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let spellings: std::collections::BTreeMap<String, String> = parse_json(&body)?;
    for (own, answered) in &spellings {
        if !OWN_IDENTITY_STATUSES.contains(&own.as_str()) {
            return Err(ApiError::bad(format!(
                "{own:?}: not an identity status the sandbox uses (one of {OWN_IDENTITY_STATUSES:?})"
            )));
        }
        if answered.is_empty() {
            return Err(ApiError::bad(format!("{own:?}: the spelling is empty")));
        }
    }
    sh.store().identity_status_spellings = spellings;
    Ok(StatusCode::NO_CONTENT)
}

async fn document(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = parse_uuid(&id, "id")?;
    let name = sh
        .store()
        .documents
        .get(&id)
        .map(|d| d.name.clone())
        .ok_or(ApiError::NotFound)?;
    let bytes = tokio::fs::read(sh.storage.path_for(id)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename={name:?}"),
            ),
        ],
        bytes,
    )
        .into_response())
}
