//! One HTTP/1.1 connection (which may become a WebSocket): hyper serves it until it
//! ends, the server stops (graceful: the request being answered is finished), or one
//! of its deadlines ([`Clock`]) runs out, which closes it. Each request's body is read
//! here, under the header deadline, and goes through [`Envelope`] on its way to
//! jsonrpsee and back.

use std::future::Future;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;
use jsonrpsee::core::http_helpers::{read_body, HttpError};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::http::{content_type_is_json, response};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use tokio::net::UnixStream;
use tower::Service;

use super::clock::{Clock, ConnIo};
use super::envelope::Envelope;

/// What a request's body may be (`[rpc] max_body_bytes`, `max_batch`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_body_bytes: u32,
    pub max_batch: u32,
}

/// Serves `io` until the connection ends, `stopped` resolves, or a deadline passes.
pub async fn serve<F, R>(
    io: ConnIo<UnixStream>,
    clock: Arc<Clock>,
    handle: F,
    stopped: impl Future<Output = ()>,
) where
    F: Fn(hyper::Request<Incoming>) -> R + Send + 'static,
    R: Future<Output = Result<HttpResponse, std::io::Error>> + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), hyper::service::service_fn(handle))
        .with_upgrades();
    tokio::pin!(conn, stopped);
    let ended = tokio::select! {
        ended = &mut conn => ended,
        _ = &mut stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        expired = clock.expired() => {
            // Dropping the connection closes the stream: nothing is in flight.
            tracing::debug!(?expired, "connection closed: its deadline ran out");
            Ok(())
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Marks a request as being answered until dropped (also when the connection is
/// dropped mid-answer).
struct Busy<'a>(&'a Clock);

impl<'a> Busy<'a> {
    fn start(clock: &'a Clock) -> Busy<'a> {
        clock.request_started();
        Busy(clock)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// One HTTP request: a JSON-RPC POST through the envelope, anything else (the
/// WebSocket upgrade, a wrong method or content type) straight to jsonrpsee.
pub async fn exchange<S>(
    req: hyper::Request<Incoming>,
    mut jsonrpsee: S,
    clock: Arc<Clock>,
    limits: BodyLimits,
) -> Result<HttpResponse, std::io::Error>
where
    S: Service<HttpRequest, Response = HttpResponse, Error = BoxError>,
{
    let io = std::io::Error::other;
    let rpc_post = req.method() == hyper::Method::POST
        && !jsonrpsee::server::ws::is_upgrade_request(&req)
        && content_type_is_json(&req);
    let (parts, body) = req.into_parts();
    if !rpc_post {
        let _busy = Busy::start(&clock);
        let req = HttpRequest::from_parts(parts, HttpBody::new(body));
        return jsonrpsee.call(req).await.map_err(io);
    }
    // Read under the header deadline: a half-sent body is a half-sent request.
    let read = read_body(&parts.headers, body, limits.max_body_bytes).await;
    let _busy = Busy::start(&clock);
    let bytes = match read {
        Ok((bytes, _)) => bytes,
        Err(HttpError::TooLarge) => return Ok(response::too_large(limits.max_body_bytes)),
        Err(HttpError::Malformed) => return Ok(response::malformed()),
        Err(HttpError::Stream(e)) => return Err(io(e)),
    };
    let mut envelope = Envelope::read(bytes, limits.max_batch as usize);
    let answered = match envelope.forward.take() {
        None => None,
        Some(body) => {
            let req = HttpRequest::from_parts(parts, HttpBody::from(body));
            Some(jsonrpsee.call(req).await.map_err(io)?)
        }
    };
    let Some(answered) = answered else {
        return Ok(reply(hyper::StatusCode::OK, envelope.answer(None)));
    };
    // Short answers are read whole: "null" (a notification) becomes no body at all.
    let short = answered.body().size_hint().exact().is_some_and(|n| n <= 4);
    if answered.status() != hyper::StatusCode::OK || (envelope.answer_as_is() && !short) {
        return Ok(answered);
    }
    let (parts, body) = answered.into_parts();
    let bytes = body.collect().await.map_err(io)?.to_bytes();
    Ok(reply(parts.status, envelope.answer(Some(&bytes))))
}

/// A JSON answer, or 204 with no body when there is nothing to say.
fn reply(status: hyper::StatusCode, body: Option<Vec<u8>>) -> HttpResponse {
    match body {
        Some(body) => {
            let mut r = response::ok_response(body);
            *r.status_mut() = status;
            r
        }
        None => {
            let mut r = HttpResponse::new(HttpBody::empty());
            *r.status_mut() = hyper::StatusCode::NO_CONTENT;
            r
        }
    }
}
