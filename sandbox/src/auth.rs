//! The gate every `/api/v1` route passes: counting, faults, the Bearer token, the rate
//! limit, the `client-id` and `X-Auth-Scheme` headers, and the `requests-remaining`
//! header on every answer (injected faults included).

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::faults::{After, Before};
use crate::server::ConnCtl;
use crate::state::{Caller, Shared};
use crate::Break;

pub const TOKEN_ROUTE: &str = "/api/v1/authorize/token";
const CREATE_ROUTE: &str = "/api/v1/application";
const UPLOAD_ROUTE: &str = "/api/v1/application/{id}/documents";

/// Which route a request is, as the gate's faults and counters need it.
#[derive(Clone, Copy)]
struct Route {
    is_create: bool,
    is_upload: bool,
    is_token: bool,
}

pub async fn gate(
    State(sh): State<Arc<Shared>>,
    matched: MatchedPath,
    mut req: Request,
    next: Next,
) -> Response {
    let template = matched.as_str().to_owned();
    let route = Route {
        is_create: req.method() == Method::POST && template == CREATE_ROUTE,
        is_upload: req.method() == Method::POST && template == UPLOAD_ROUTE,
        is_token: template == TOKEN_ROUTE,
    };
    count_route(&sh, req.method(), &template);
    let draw = sh.faults.draw();
    if draw.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(draw.latency_ms)).await;
    }
    let conn = req.extensions().get::<Arc<ConnCtl>>().cloned();
    match fault_before(&sh, draw.before, conn.as_ref(), route, &req) {
        Some(Early::Answer(resp)) => return resp,
        // The connection is gone: nothing more is written on it.
        Some(Early::Reset) => return std::future::pending().await,
        None => {}
    }
    let remaining = match admit(&sh, &mut req, route) {
        Ok(remaining) => remaining,
        Err(refused) => return *refused,
    };
    let resp = next.run(req).await;
    if let Some(kind) = draw.malformed.filter(|_| !route.is_token) {
        sh.counters().faults_injected += 1;
        let resp = crate::malformed::answer(kind, resp).await;
        return with_remaining(resp, remaining);
    }
    let committed = resp.status() == StatusCode::OK;
    match draw.after {
        After::Reset if route.is_create && committed => {
            if let Some(conn) = conn {
                sh.counters().faults_injected += 1;
                conn.reset();
                return std::future::pending().await;
            }
        }
        After::Status500 if (route.is_create || route.is_upload) && committed => {
            sh.counters().faults_injected += 1;
            return with_remaining(StatusCode::INTERNAL_SERVER_ERROR.into_response(), remaining);
        }
        _ => {}
    }
    with_remaining(resp, remaining)
}

/// Counts the request under the document's route (`GET /application/{NumhubEntityId}`).
fn count_route(sh: &Shared, method: &Method, template: &str) {
    sh.counters()
        .routes
        .entry(format!(
            "{method} {}",
            crate::routes::document_template(method, template)
        ))
        .and_modify(|n| *n += 1)
        .or_insert(1);
}

/// How a fault injected before the request ends it.
enum Early {
    Answer(Response),
    Reset,
}

/// A fault injected before the request is handled, or None to go on.
fn fault_before(
    sh: &Shared,
    before: Before,
    conn: Option<&Arc<ConnCtl>>,
    route: Route,
    req: &Request,
) -> Option<Early> {
    let status = match before {
        Before::None => return None,
        Before::Status500 => StatusCode::INTERNAL_SERVER_ERROR,
        Before::Status503 => StatusCode::SERVICE_UNAVAILABLE,
        Before::Reset => {
            let conn = conn?;
            sh.counters().faults_injected += 1;
            conn.reset();
            return Some(Early::Reset);
        }
    };
    sh.counters().faults_injected += 1;
    let remaining = peek_remaining(sh, route.is_token, req);
    Some(Early::Answer(with_remaining(
        status.into_response(),
        remaining,
    )))
}

/// The Bearer token (or the token call's account), the rate limit and the caller's
/// headers: the request's `requests-remaining`, or the refusal to answer with.
fn admit(sh: &Shared, req: &mut Request, route: Route) -> Result<u32, Box<Response>> {
    let (account, caller) = if route.is_token {
        sh.counters().token_requests += 1;
        (token_email(req.uri().query()), None)
    } else {
        match bearer_user(sh, req.headers()) {
            Some((user, email)) => (email.clone(), Some((user, email))),
            None => {
                sh.counters().unauthorized_401 += 1;
                let refused = ApiError::Unauthorized.into_response();
                return Err(Box::new(with_remaining(refused, sh.rate.full())));
            }
        }
    };
    let Ok(remaining) = sh.rate.hit(&account) else {
        sh.counters().rate_limited_429 += 1;
        let refused = ApiError::TooManyRequests.into_response();
        return Err(Box::new(with_remaining(refused, 0)));
    };
    if let Some((user, email)) = caller {
        match check_headers(sh, req.headers(), user) {
            Ok(client_id) => {
                req.extensions_mut().insert(Caller {
                    user,
                    email,
                    client_id,
                });
            }
            Err(e) => return Err(Box::new(with_remaining(e.into_response(), remaining))),
        }
    }
    Ok(remaining)
}

/// What `requests-remaining` says on a fault injected before the request was
/// counted: the caller's window as it stands (an unknown caller: a full window).
fn peek_remaining(sh: &Shared, is_token: bool, req: &Request) -> u32 {
    let account = if is_token {
        Some(token_email(req.uri().query()))
    } else {
        bearer_user(sh, req.headers()).map(|(_, email)| email)
    };
    match account {
        Some(a) => sh.rate.peek(&a),
        None => sh.rate.full(),
    }
}

fn with_remaining(mut resp: Response, remaining: u32) -> Response {
    resp.headers_mut()
        .insert("requests-remaining", HeaderValue::from(remaining));
    resp
}

/// The token call is counted against the account it names; without an Email, against "".
fn token_email(query: Option<&str>) -> String {
    let Some(q) = query else {
        return String::new();
    };
    for (k, v) in form_pairs(q) {
        if k.eq_ignore_ascii_case("Email") {
            return v.to_ascii_lowercase();
        }
    }
    String::new()
}

/// `application/x-www-form-urlencoded` pairs of a query string, in order.
pub fn form_pairs(q: &str) -> Vec<(String, String)> {
    let Ok(uri) = format!("/?{q}").parse::<axum::http::Uri>() else {
        return Vec::new();
    };
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|axum::extract::Query(v)| v)
        .unwrap_or_default()
}

fn bearer_user(sh: &Shared, headers: &HeaderMap) -> Option<(usize, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let now = sh.now();
    let store = sh.store();
    let user = store.resolve_token(token.trim(), now)?;
    let email = store.users.get(user)?.email.to_ascii_lowercase();
    Some((user, email))
}

fn check_headers(sh: &Shared, headers: &HeaderMap, user: usize) -> Result<i32, ApiError> {
    if let Some(scheme) = headers.get("x-auth-scheme") {
        match scheme.to_str() {
            Ok("ATLAASROPG") | Ok("ATLAASAACG") => {}
            _ => {
                return Err(ApiError::bad(
                    "X-Auth-Scheme must be ATLAASROPG or ATLAASAACG, or absent",
                ))
            }
        }
    }
    let client_id = headers
        .get("client-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i32>().ok())
        .ok_or_else(|| ApiError::bad("client-id header is required and must be an int32"))?;
    if sh.config.conformance_break == Some(Break::SkipClientIdCheck) {
        return Ok(client_id);
    }
    let store = sh.store();
    let allowed = store
        .users
        .get(user)
        .is_some_and(|u| u.clients.iter().any(|c| c.client_id == client_id));
    if allowed {
        Ok(client_id)
    } else {
        Err(ApiError::Forbidden)
    }
}
