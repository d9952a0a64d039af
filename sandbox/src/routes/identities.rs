//! Display identities: listing, detail, change requests (update / deactivation) and the
//! additional-numbers file (upload as CSV, delete, download).

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use uuid::Uuid;

use super::documents::{drain, stream_part};
use super::{page, parse_uuid, views, JsonBody, Params};
use crate::error::{ApiError, ApiResult};
use crate::model;
use crate::phone;
use crate::state::{Caller, ChangeRequest, Shared};

pub async fn list(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Response> {
    let page_number = params.int32("pageNumber")?.unwrap_or(1).max(1);
    let page_size = params.int32("pageSize")?.unwrap_or(50).clamp(1, 1000);
    let search = params
        .get("searchKey")
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let start = params.date_time("startDate")?;
    let end = params.date_time("endDate")?;
    let store = sh.store();
    let mut matching: Vec<&crate::state::Identity> = store
        .identity_order
        .iter()
        .filter_map(|id| store.identities.get(id))
        .filter(|i| i.client_id == caller.client_id)
        // The window is on the identity's modifiedDate, so a poller sees every change.
        .filter(|i| start.is_none_or(|s| i.modified >= s))
        .filter(|i| end.is_none_or(|e| i.modified <= e))
        .filter(|i| {
            let Some(key) = &search else { return true };
            let company = store
                .apps
                .get(&i.entity_id)
                .and_then(|a| a.company())
                .unwrap_or_default()
                .to_lowercase();
            i.dir_id.to_lowercase().contains(key)
                || i.caller_name
                    .as_deref()
                    .unwrap_or("")
                    .to_lowercase()
                    .contains(key)
                || company.contains(key)
                || i.all_numbers().iter().any(|n| n.contains(key.as_str()))
        })
        .collect();
    matching.sort_by_key(|i| (i.modified, i.id));
    let items: Vec<model::NewDisplayIdentityDto> =
        page(&sh.config, &matching, page_number, page_size)
            .items
            .into_iter()
            .map(|i| views::identity_list_item(&store, i))
            .collect();
    drop(store);
    Ok(sh.json(&items))
}

pub async fn get_one(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubIdentityId")?;
    let store = sh.store();
    let identity = store
        .identity_of(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    let out = views::identity_detail(&store, identity);
    drop(store);
    Ok(sh.json(&out))
}

fn change_result(id: i64) -> model::ChangeRequestResultBrandControlApiResponse {
    model::ChangeRequestResultBrandControlApiResponse {
        success: true,
        message: None,
        result: model::ChangeRequestResult {
            change_request_id: id,
        },
    }
}

/// The sandbox approves change requests at once: NumHub's review is not modelled.
pub async fn update(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<model::NewDisplayIdentityInfoUpdateRequestDto>,
) -> ApiResult<Response> {
    if body.dir_id.as_ref().is_some_and(|d| d.chars().count() > 36) {
        return Err(ApiError::bad(
            "invalid request body at `dirId`: longer than 36 characters",
        ));
    }
    for n in body.tn_added.iter().flatten() {
        phone::check(n)
            .map_err(|e| ApiError::bad(format!("invalid request body at `tnAdded`: {e}")))?;
    }
    let now = sh.now();
    let mut store = sh.store();
    let cr_id = store.next_change_request();
    // This operation documents no 404: an unknown identity is a bad request.
    let identity = store
        .identity_of_mut(body.numhub_identity_id, caller.client_id)
        .ok_or_else(|| {
            ApiError::bad("numhubIdentityId does not name one of this client's display identities")
        })?;
    let old = identity.snapshot();
    if let Some(v) = body.caller_name {
        identity.caller_name = Some(v);
    }
    if let Some(v) = body.call_reason {
        identity.call_reason = Some(v);
    }
    if let Some(v) = body.logo_url {
        identity.logo_url = Some(v);
    }
    // Numbers are kept as sent; a number is the same number in any spelling.
    for n in body.tn_added.unwrap_or_default() {
        if !identity.phone_numbers.iter().any(|m| phone::same(m, &n)) {
            identity.phone_numbers.push(n);
        }
    }
    let removed = body.tn_removed.unwrap_or_default();
    let kept = |n: &String| !removed.iter().any(|r| phone::same(r, n));
    identity.phone_numbers.retain(kept);
    identity.additional_tns.retain(kept);
    identity.is_fee_checked = body.is_fee_checked;
    if body.is_deactivation {
        identity.status = "Inactive".into();
        identity.deactivation = Some(now);
    }
    identity.modified = now;
    let new = identity.snapshot();
    identity.change_request = Some(ChangeRequest {
        id: cr_id,
        is_deactivation: body.is_deactivation,
        old,
        new,
    });
    drop(store);
    Ok(sh.json(&change_result(cr_id)))
}

/// The operation's description lists `NumhubIdentityID`, `dirId` and
/// `IsDeactivationRequest`: the sandbox takes that as "`dirId` must be sent, and be the
/// identity's", so a client that leaves it out (or sends another identity's) is told.
fn check_dir_id(sent: Option<&str>, held: &str) -> ApiResult<()> {
    match sent {
        None | Some("") => Err(ApiError::bad(
            "invalid request body at `dirId`: required (the identity's dirId)",
        )),
        Some(d) if d != held => Err(ApiError::bad(format!(
            "invalid request body at `dirId`: {d:?} is not this identity's dirId"
        ))),
        Some(_) => Ok(()),
    }
}

pub async fn deactivate(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<model::DisplayIdentitiesDeactivationRequestDto>,
) -> ApiResult<Response> {
    let now = sh.now();
    let mut store = sh.store();
    let cr_id = store.next_change_request();
    let identity = store
        .identity_of_mut(body.numhub_identity_id, caller.client_id)
        .ok_or_else(|| {
            ApiError::bad("numhubIdentityId does not name one of this client's display identities")
        })?;
    check_dir_id(body.dir_id.as_deref(), &identity.dir_id)?;
    let old = identity.snapshot();
    if body.is_deactivation_request {
        identity.status = "Inactive".into();
        identity.deactivation = Some(now);
    } else {
        identity.status = "Active".into();
        identity.deactivation = None;
        identity.activation = Some(now);
    }
    identity.modified = now;
    let new = identity.snapshot();
    identity.change_request = Some(ChangeRequest {
        id: cr_id,
        is_deactivation: body.is_deactivation_request,
        old,
        new,
    });
    drop(store);
    Ok(sh.json(&change_result(cr_id)))
}

/// The sandbox reads the `File` part as CSV text: one phone number per line (any form
/// [`phone::check`] accepts, kept as written), blank lines
/// ignored. A bad line is a 400 naming its line number.
pub async fn upload_tns(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubIdentityId")?;
    if sh.store().identity_of(id, caller.client_id).is_none() {
        return Err(ApiError::NotFound);
    }
    let mut multipart =
        multipart.map_err(|e| ApiError::bad(format!("expected multipart/form-data: {e}")))?;
    let file_id = Uuid::new_v4();
    let stored = match read_tns_form(&sh, &mut multipart, file_id).await {
        Ok(stored) => stored,
        Err(e) => {
            drain(&mut multipart).await;
            return Err(e);
        }
    };
    let (name, path) = stored;
    let parsed = tokio::fs::read(&path)
        .await
        .map_err(ApiError::from)
        .and_then(|bytes| {
            let text =
                String::from_utf8(bytes).map_err(|_| ApiError::bad("File: not UTF-8 CSV text"))?;
            let mut numbers = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let n = line.trim().trim_matches('"');
                if n.is_empty() {
                    continue;
                }
                phone::check(n).map_err(|e| ApiError::bad(format!("File line {}: {e}", i + 1)))?;
                numbers.push(n.to_owned());
            }
            Ok(numbers)
        });
    let numbers = match parsed {
        Ok(n) => n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
    };
    let now = sh.now();
    let count = numbers.len();
    let mut store = sh.store();
    let identity = store
        .identity_of_mut(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    identity.additional_tns = numbers;
    identity.additional_tns_path = Some(format!("additionaltns/{file_id}/{name}"));
    identity.modified = now;
    drop(store);
    Ok(sh.json(&model::BrandControlApiResponse {
        success: true,
        message: Some(format!("{count} phone numbers added")),
        result: None,
    }))
}

async fn read_tns_form(
    sh: &Shared,
    multipart: &mut Multipart,
    file_id: Uuid,
) -> ApiResult<(String, std::path::PathBuf)> {
    let mut stored = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad(format!("malformed multipart body: {e}")))?
    {
        if field.name() != Some("File") {
            return Err(ApiError::bad("unexpected form field: expected File"));
        }
        if stored.is_some() {
            let _ = tokio::fs::remove_file(sh.storage.path_for(file_id)).await;
            return Err(ApiError::bad("File: send exactly one file"));
        }
        let (name, path, _, _, _) = stream_part(sh, field, file_id, "File").await?;
        stored = Some((name, path));
    }
    stored.ok_or_else(|| ApiError::bad("File is required"))
}

pub async fn delete_tns(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubIdentityId")?;
    let now = sh.now();
    let mut store = sh.store();
    let identity = store
        .identity_of_mut(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    if identity.additional_tns_path.is_none() {
        return Err(ApiError::NotFound);
    }
    identity.additional_tns.clear();
    identity.additional_tns_path = None;
    identity.modified = now;
    drop(store);
    Ok(sh.json(&model::DeleteDocumentResponseModel {
        success: true,
        message: Some("Additional phone numbers removed".into()),
    }))
}

/// The document promises XLSX; the sandbox answers CSV and says so in Content-Type.
pub async fn download_numbers(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> ApiResult<Response> {
    let identity_id = params
        .uuid("NumhubIdentityId")?
        .ok_or_else(|| ApiError::bad("query parameter NumhubIdentityId is required"))?;
    let entity_id = params
        .uuid("NumhubEntityId")?
        .ok_or_else(|| ApiError::bad("query parameter NumhubEntityId is required"))?;
    let store = sh.store();
    // No 404 is documented for this operation.
    let identity = store
        .identity_of(identity_id, caller.client_id)
        .filter(|i| i.entity_id == entity_id)
        .ok_or_else(|| ApiError::bad("no such display identity for this entity"))?;
    let mut csv = String::new();
    for n in identity.all_numbers() {
        csv.push_str(&n);
        csv.push('\n');
    }
    drop(store);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"phonenumbers.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
