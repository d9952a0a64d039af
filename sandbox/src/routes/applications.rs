//! Applications: create, read, update, the completed/attestation listings, the vetting
//! report, status report, notifications and the OTP pair.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use uuid::Uuid;

use super::{page, parse_i32, parse_uuid, views, JsonBody, Params};
use crate::error::{ApiError, ApiResult};
use crate::model::{
    self, GetBCApplicationDtoStatus as Status, SaveBCApplicationModelStatus,
    UpdateBCApplicationModelStatus,
};
use crate::state::{status_str, App, Caller, Flag, RequestedIdentity, Sections, Shared, Store};

const ALL_STATUSES: [Status; 7] = [
    Status::Saved,
    Status::Submitted,
    Status::Resubmitted,
    Status::PendingReview,
    Status::InProgress,
    Status::Complete,
    Status::Rejected,
];

pub async fn create(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<model::SaveBCApplicationModel>,
) -> ApiResult<Response> {
    let now = sh.now();
    let sections = Sections {
        applicant: body.applicant_information,
        entity: body.business_entity_details,
        identity: body.business_identity_details,
        contacts: body.consumer_protection_contacts,
        agent: body.business_agent_of_record,
        references: body.references,
        certificate: body.register_certificate,
        section: body.section,
    };
    let requested = body
        .display_identity_information
        .display_identities
        .unwrap_or_default()
        .into_iter()
        .map(|d| RequestedIdentity {
            numhub_identity_id: None,
            phone_numbers: d.phone_numbers.unwrap_or_default(),
            caller_name: d.caller_name,
            logo_url: d.logo_url,
            call_reason: d.call_reason,
        })
        .collect();
    let mut store = sh.store();
    let id = store.create_app(caller.client_id, &caller.email, sections, requested, now);
    if let Some(app) = store.apps.get_mut(&id) {
        app.loa_url = body.display_identity_information.loa_url;
    }
    if body.status == SaveBCApplicationModelStatus::Submit {
        store.set_status(id, Status::Submitted, now, None);
    }
    let app = store.apps.get(&id).ok_or(ApiError::NotFound)?;
    let out = model::CreateEntityResponseModel {
        numhub_entity_id: id,
        application_id: Some(app.application_id.clone()),
        eid: app.eid.clone(),
    };
    Ok(sh.json(&out))
}

/// An `UpdateBCApplicationModel` ("Model used to update the application information",
/// the whole application) applied to application `id`: each section becomes what the
/// body carries (one left out is emptied), and so do the display identities. A listed
/// identity with a `numhubIdentityId` stays that identity; one without is new (live
/// once vetting completes); a live identity the body does not list is dropped.
/// `status: Submit` moves `Saved` → `Submitted` and `Rejected` → `Resubmitted` ("2:
/// Submit - To submit the application for processing"); otherwise the status is left
/// alone.
fn apply_update(
    sh: &Shared,
    caller: &Caller,
    id: Uuid,
    body: model::UpdateBCApplicationModel,
) -> ApiResult<model::CreateEntityResponseModel> {
    let now = sh.now();
    let mut store = sh.store();
    let app = store
        .app_of_mut(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    app.sections = Sections {
        applicant: body.applicant_information,
        entity: body.business_entity_details,
        identity: body.business_identity_details,
        contacts: body.consumer_protection_contacts,
        agent: body.business_agent_of_record,
        references: body.references,
        certificate: body.register_certificate,
        section: body.section,
    };
    let listed = body
        .display_identity_information
        .display_identities
        .unwrap_or_default();
    app.requested = listed
        .into_iter()
        .map(|d| RequestedIdentity {
            numhub_identity_id: d.numhub_identity_id,
            phone_numbers: d.phone_numbers.unwrap_or_default(),
            caller_name: d.caller_name,
            logo_url: d.logo_url,
            call_reason: d.call_reason,
        })
        .collect();
    let listed: Vec<Uuid> = app
        .requested
        .iter()
        .filter_map(|r| r.numhub_identity_id)
        .collect();
    let (kept, dropped): (Vec<Uuid>, Vec<Uuid>) = std::mem::take(&mut app.identity_ids)
        .into_iter()
        .partition(|i| listed.contains(i));
    app.identity_ids = kept;
    app.loa_url = body.display_identity_information.loa_url;
    app.updated = now;
    app.updated_by = caller.email.clone();
    let next = match (body.status, app.status) {
        (UpdateBCApplicationModelStatus::Submit, Status::Saved) => Some(Status::Submitted),
        (UpdateBCApplicationModelStatus::Submit, Status::Rejected) => Some(Status::Resubmitted),
        _ => None,
    };
    store.drop_identities(&dropped);
    if let Some(next) = next {
        store.set_status(id, next, now, None);
    }
    let app = store
        .app_of(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    Ok(model::CreateEntityResponseModel {
        numhub_entity_id: id,
        application_id: Some(app.application_id.clone()),
        eid: app.eid.clone(),
    })
}

pub async fn update(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<model::UpdateBCApplicationModel>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubEntityId")?;
    let out = apply_update(&sh, &caller, id, body)?;
    Ok(sh.json(&out))
}

pub async fn get_one(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubEntityId")?;
    let store = sh.store();
    let app = store
        .app_of(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    let out = model::GetBCApplicationDtoBrandControlApiResponse {
        success: true,
        message: None,
        result: views::application(&store, app),
    };
    drop(store);
    Ok(sh.json(&out))
}

pub async fn vetting_report(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubEntityId")?;
    let store = sh.store();
    let app = store
        .app_of(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    let out = model::GetVettedApplicationDtoBrandControlApiResponse {
        success: true,
        message: None,
        result: views::vetting_report(&store, app),
    };
    drop(store);
    Ok(sh.json(&out))
}

/// The path's client must be one of the caller's own.
fn own_client(store: &Store, caller: &Caller, client_id: i32) -> ApiResult<()> {
    let mine = store
        .users
        .get(caller.user)
        .is_some_and(|u| u.clients.iter().any(|c| c.client_id == client_id));
    if mine {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

fn completed(sh: &Shared, client_id: i32) -> Response {
    let store = sh.store();
    let list: Vec<model::EntitiesResponseDto> = store
        .app_order
        .iter()
        .filter_map(|id| store.apps.get(id))
        .filter(|a| a.client_id == client_id && a.status == Status::Complete)
        .map(|a| views::entity_summary(&store, a))
        .collect();
    drop(store);
    let out = model::BrandControlApiResponse {
        success: true,
        message: None,
        result: Some(serde_json::to_value(list).unwrap_or_default()),
    };
    sh.json(&out)
}

pub async fn completed_for_header(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    completed(&sh, caller.client_id)
}

pub async fn completed_for_path(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    let client_id = parse_i32(&client_id, "clientId")?;
    own_client(&sh.store(), &caller, client_id)?;
    Ok(completed(&sh, client_id))
}

pub async fn attestation_list(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(client_id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let client_id = parse_i32(&client_id, "clientId")?;
    let page_number = params.int32("PageNumber")?.unwrap_or(1).max(1);
    let page_size = params.int32("pageSize")?.unwrap_or(10).clamp(1, 1000);
    let spellings = sh.list_status_spellings();
    let store = sh.store();
    own_client(&store, &caller, client_id)?;
    let all: Vec<Uuid> = store
        .app_order
        .iter()
        .filter(|id| store.apps.get(id).is_some_and(|a| a.client_id == client_id))
        .copied()
        .collect();
    let served = page(&sh.config, &all, page_number, page_size);
    let results = served
        .items
        .iter()
        .filter_map(|id| store.apps.get(id))
        .map(|a| views::attestation(&store, a, &spellings))
        .collect();
    let out = model::AttestationResponseDtoPaginatedResultBrandControlApiResponse {
        success: true,
        message: None,
        result: model::AttestationResponseDtoPaginatedResult {
            total_count: i32::try_from(all.len()).unwrap_or(i32::MAX),
            page_number: served.page_number,
            page_size: served.page_size,
            results: Some(results),
        },
    };
    drop(store);
    Ok(sh.json(&out))
}

/// `PUT /application/attestation/{id}`: only what the document says of it (the daemon
/// submits with `PUT /application/{id}`).
pub async fn attestation_submit(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
    JsonBody(body): JsonBody<model::UpdateBCApplicationModel>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubEntityId")?;
    // "The operation performed depends on the `changesRequired` flag", but the document
    // does not say how: the flag is checked, and the body applied as an update.
    params.boolean("changesRequired")?;
    let out = apply_update(&sh, &caller, id, body)?;
    Ok(sh.json(&out))
}

pub async fn status_report(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let store = sh.store();
    let mut counts: BTreeMap<String, i32> = ALL_STATUSES
        .iter()
        .map(|s| (status_str(*s).to_owned(), 0))
        .collect();
    let entities: Vec<model::EntityDetatils> = store
        .app_order
        .iter()
        .filter_map(|id| store.apps.get(id))
        .filter(|a| a.client_id == caller.client_id)
        .map(|a| {
            *counts.entry(status_str(a.status).to_owned()).or_insert(0) += 1;
            model::EntityDetatils {
                company_name: a.company(),
                user_name: Some(a.created_by.clone()),
                status: Some(status_str(a.status).into()),
            }
        })
        .collect();
    drop(store);
    let out = model::ReportResponseDto {
        total_count: i32::try_from(entities.len()).unwrap_or(i32::MAX),
        entities: Some(entities),
        status_count: Some(counts),
    };
    sh.json(&out)
}

pub async fn notifications(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let store = sh.store();
    let alerts: Vec<model::AlertResponse> = store
        .app_order
        .iter()
        .filter_map(|id| store.apps.get(id))
        .filter(|a| a.client_id == caller.client_id)
        .flat_map(|a| a.flag.as_ref().map(|f| alerts_of(a, f)).unwrap_or_default())
        .collect();
    drop(store);
    sh.json(&alerts)
}

/// A flagged application's alerts, as its flag says NumHub spells them.
fn alerts_of(app: &App, flag: &Flag) -> Vec<model::AlertResponse> {
    let alert = |message: &str| model::AlertResponse {
        company_name: flag.alert_company.clone().or_else(|| app.company()),
        client_id: flag.alert_client_id.unwrap_or(app.client_id),
        message: Some(message.to_owned()),
    };
    if flag.alert_per_section && !flag.comments.is_empty() {
        flag.comments
            .iter()
            .map(|c| alert(&format!("{}: {}", c.section_name, flag.message)))
            .collect()
    } else {
        vec![alert(&flag.message)]
    }
}

pub async fn flag(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubEntityId")?;
    let store = sh.store();
    let app = store
        .app_of(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    let comments = app
        .flag
        .iter()
        .flat_map(|f| &f.comments)
        .map(|c| model::FlaggedComments {
            section_number: c.section_number,
            section_name: Some(c.section_name.clone()),
            comments: Some(c.comments.clone()),
        })
        .collect();
    let out = model::FlaggedResponseBrandControlApiResponse {
        success: true,
        message: None,
        result: model::FlaggedResponse {
            company_name: app.company(),
            flagged_comments: Some(comments),
            current_status: Some(status_str(app.status).into()),
            creation_date: crate::clock::eastern(app.updated),
            eid: app.eid.clone(),
        },
    };
    drop(store);
    Ok(sh.json(&out))
}

fn plain(message: &str) -> model::BrandControlApiResponse {
    model::BrandControlApiResponse {
        success: true,
        message: Some(message.into()),
        result: None,
    }
}

pub async fn generate_otp(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubEntityId")?;
    let resend = params.boolean("isResend")?.unwrap_or(false);
    let mut store = sh.store();
    let app = store
        .app_of_mut(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    app.otp.generated = true;
    app.otp.wrong = 0;
    drop(store);
    let msg = if resend { "OTP resent" } else { "OTP sent" };
    Ok(sh.json(&plain(msg)))
}

pub async fn verify_otp(
    State(sh): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, "NumhubEntityId")?;
    let otp = params
        .int32("otp")?
        .ok_or_else(|| ApiError::bad("query parameter otp is required"))?;
    let now = sh.now();
    let max = sh.config.otp_max_attempts;
    let code = sh.config.otp_code;
    let mut store = sh.store();
    let app = store
        .app_of_mut(id, caller.client_id)
        .ok_or(ApiError::NotFound)?;
    if !app.otp.generated {
        return Err(ApiError::bad("no OTP was generated for this application"));
    }
    if app.otp.wrong >= max {
        return Err(ApiError::bad("too many attempts: generate a new OTP"));
    }
    if otp != code {
        app.otp.wrong += 1;
        let left = max - app.otp.wrong;
        return Err(ApiError::bad(format!("invalid OTP ({left} attempts left)")));
    }
    app.otp.verified = true;
    app.otp.generated = false;
    app.sections.applicant.is_verified = true;
    app.updated = now;
    drop(store);
    Ok(sh.json(&plain("OTP verified")))
}
