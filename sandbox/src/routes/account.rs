//! `authorize/token` and `authorize/userInfo`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::Params;
use crate::clock::eastern;
use crate::error::{ApiError, ApiResult};
use crate::model::{self, UserRolesDtoRoleType};
use crate::state::Shared;

pub async fn token(State(sh): State<Arc<Shared>>, params: Params) -> ApiResult<Response> {
    let (Some(email), Some(password)) = (params.get("Email"), params.get("Password")) else {
        return Err(ApiError::bad(
            "Email and Password query parameters are required",
        ));
    };
    let now = sh.now();
    let ttl = chrono::Duration::from_std(sh.config.token_ttl).unwrap_or(chrono::Duration::days(1));
    let mut store = sh.store();
    let Some(idx) = store
        .users
        .iter()
        .position(|u| u.email.eq_ignore_ascii_case(email) && u.password == password)
    else {
        // The operation documents 200/400/403/429 only: bad credentials are a 400.
        return Err(ApiError::bad("invalid email or password"));
    };
    let user = store.users[idx].clone();
    let access_token = store.issue_token(idx, now + ttl);
    drop(store);
    let body = model::AccessModel {
        access_token: Some(access_token),
        token_type: Some("Bearer".into()),
        expires_in: i32::try_from(sh.config.token_ttl.as_secs()).unwrap_or(i32::MAX),
        user: model::UserModelDto {
            user_id: Some(user.user_id),
            user_name: Some(user.email.clone()),
            first_name: None,
            last_name: None,
            email: Some(user.email.clone()),
            phone_number: None,
            send_text_message: Some(false),
            require_multi_factor_auth: Some(false),
            enabled: Some(true),
            last_login_date: Some(eastern(now)),
            insert_date: None,
            insert_name: None,
            modified_date: None,
            modified_name: None,
            is_password_generated: false,
        },
        user_roles: Some(vec![model::UserRolesDto {
            user_id: Some(user.user_id),
            role_type: UserRolesDtoRoleType::Enterprise,
            description: Some("BrandControl: Enterprise".into()),
            assigned: Some(true),
        }]),
        user_clients: Some(
            user.clients
                .iter()
                .map(|c| model::UserClientsDto {
                    user_id: Some(user.user_id),
                    client_id: Some(c.client_id),
                    client_name: Some(c.name.clone()),
                    resp_org_id: None,
                    assigned: Some(true),
                    has_bcid: Some(true),
                    is_osp: Some(c.osp_id.is_some()),
                    osp_id: c.osp_id.clone(),
                })
                .collect(),
        ),
    };
    Ok(sh.json(&body))
}

/// The document declares only a 204 without a body here.
pub async fn user_info() -> StatusCode {
    StatusCode::NO_CONTENT
}
