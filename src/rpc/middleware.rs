//! What every call passes before it reaches a method, whatever the method: the
//! connection's caller checked against the access rules in force (re-resolved when a
//! reload changed them), the per-connection rate limit, and the clear refusal of a
//! subscription over plain HTTP (jsonrpsee alone answers those with a bare -32603).
//! Also what jsonrpsee leaves out of JSON-RPC 2.0: notifications are run (jsonrpsee
//! drops them), and a batch's answers together stay within `[rpc]
//! max_response_bytes`: a call whose answer no longer fits gets -32008 on its own.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, RpcServiceT};
use jsonrpsee::server::{BatchResponseBuilder, MethodResponse};
use jsonrpsee::types::{Id, Request, TwoPointZero};

use super::access::{self, Caller, Rules};
use super::error::RpcError;

/// How the connection talks, set per HTTP request by the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Http,
    WebSocket,
}

/// What the accept loop knows of a connection, in every request's extensions as one
/// shared value: jsonrpsee clones a request's extensions for every call, and each
/// entry is a boxed clone of its own.
pub struct Conn {
    caller: RwLock<Caller>,
    /// The rules `caller` was resolved against; held across a re-resolution, so a
    /// call that comes meanwhile waits for the new grants.
    rules: tokio::sync::Mutex<Rules>,
    daemon_uid: u32,
    pub limiter: Arc<RateLimiter>,
    pub transport: Transport,
}

impl Conn {
    pub fn new(
        caller: Caller,
        rules: Rules,
        daemon_uid: u32,
        limiter: Arc<RateLimiter>,
        transport: Transport,
    ) -> Conn {
        Conn {
            caller: RwLock::new(caller),
            rules: tokio::sync::Mutex::new(rules),
            daemon_uid,
            limiter,
            transport,
        }
    }

    /// Who the connection is and what it may do, under the rules last checked.
    pub fn caller(&self) -> Caller {
        self.caller
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-resolves the caller if the rules changed since the last call (a reload):
    /// on a blocking thread, as at connect (the user database may be slow).
    pub async fn recheck(&self) {
        let mut rules = self.rules.lock().await;
        let Some(new) = rules.changed() else {
            return;
        };
        let old = self.caller();
        let (peer, daemon_uid) = (old.peer, self.daemon_uid);
        let caller = tokio::task::spawn_blocking(move || access::resolve(peer, &new, daemon_uid))
            .await
            // A lookup that panicked grants nothing.
            .unwrap_or_else(|_| access::nobody(peer));
        if caller != old {
            tracing::info!(
                uid = peer.uid,
                pid = peer.pid,
                role = caller.role.as_str(),
                was = old.role.as_str(),
                "access rules changed: an open connection's grants re-resolved"
            );
        }
        *self.caller.write().unwrap_or_else(|p| p.into_inner()) = caller;
    }
}

/// A token bucket per connection: `rate` calls per second, bursts up to `rate`.
pub struct RateLimiter {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(rate: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate),
            state: Mutex::new((f64::from(rate), Instant::now())),
        }
    }

    /// Takes `n` tokens if there are; false means over the limit.
    pub fn take(&self, n: usize) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
        s.0 = (s.0 + refill).min(self.rate);
        s.1 = now;
        if s.0 >= n as f64 {
            s.0 -= n as f64;
            true
        } else {
            false
        }
    }
}

#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    /// `[rpc] max_response_bytes`: what a batch's answers may take together.
    max_response_bytes: usize,
}

impl<S> Gate<S> {
    pub fn new(inner: S, max_response_bytes: u32) -> Gate<S> {
        Gate {
            inner,
            max_response_bytes: max_response_bytes as usize,
        }
    }
}

fn refuse(id: Id<'_>, e: RpcError) -> MethodResponse {
    MethodResponse::error(id, e.to_error_object())
}

fn limited() -> RpcError {
    RpcError::LimitExceeded(
        "too many requests on this connection ([rpc] max_requests_per_sec); slow down".into(),
    )
}

/// The connection's state from a call's extensions, its grants brought up to date.
async fn conn_of(ext: &jsonrpsee::Extensions) -> Option<Arc<Conn>> {
    let conn = ext.get::<Arc<Conn>>()?.clone();
    conn.recheck().await;
    Some(conn)
}

/// What refuses one call before it runs, whatever the method (not the rate limit,
/// which a batch takes once for all its calls).
/// A subscription call over plain HTTP: there is no subscription to start or end
/// (jsonrpsee would answer an unsubscribe -32603).
fn refusal(conn: &Conn, method: &str) -> Option<RpcError> {
    (conn.transport == Transport::Http
        && matches!(method, "events.subscribe" | "events.unsubscribe"))
    .then_some(RpcError::NeedsWebsocket)
}

/// A call whose answer does not fit in what the batch has left.
fn too_big(id: Id<'_>, max: usize) -> MethodResponse {
    refuse(
        id,
        RpcError::ResponseTooLarge(format!(
            "this call's answer does not fit with the batch's others in [rpc] max_response_bytes ({max}); ask for a smaller page or split the batch"
        )),
    )
}

impl<S> RpcServiceT for Gate<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        async move {
            if let Some(conn) = conn_of(req.extensions()).await {
                if !conn.limiter.take(1) {
                    return refuse(req.id(), limited());
                }
                if let Some(e) = refusal(&conn, req.method_name()) {
                    return refuse(req.id(), e);
                }
            }
            inner.call(req).await
        }
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let gate = self.clone();
        async move {
            let conn = conn_of(batch.extensions()).await;
            if let Some(conn) = &conn {
                if !conn.limiter.take(batch.len()) {
                    return refuse(Id::Null, limited());
                }
            }
            let max = gate.max_response_bytes;
            // The budget is ours; the builder's own limit would refuse the whole batch.
            let mut answers = BatchResponseBuilder::new_with_limit(usize::MAX);
            let mut used = 1; // the opening '['
            let mut notified = false;
            for entry in batch {
                let answer = match entry {
                    Ok(BatchEntry::Call(req)) => {
                        let id = req.id().into_owned();
                        let answer =
                            match conn.as_deref().and_then(|c| refusal(c, req.method_name())) {
                                Some(e) => refuse(req.id(), e),
                                None => gate.inner.call(req).await,
                            };
                        // Each answer and its ',' (the last one's becomes ']').
                        match used + answer.as_json().get().len() + 1 > max {
                            true => too_big(id, max),
                            false => answer,
                        }
                    }
                    Ok(BatchEntry::Notification(n)) => {
                        notified = true;
                        gate.run_notification(conn.as_deref(), n).await;
                        continue;
                    }
                    Err(e) => {
                        let (err, id) = e.into_parts();
                        MethodResponse::error(id, err)
                    }
                };
                used += answer.as_json().get().len() + 1;
                // Unlimited builder: append cannot fail.
                let _ = answers.append(answer);
            }
            match answers.is_empty() && notified {
                true => MethodResponse::notification(),
                // An empty batch is answered -32600 by the builder, as the spec asks.
                false => MethodResponse::from_batch(answers.finish()),
            }
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        let gate = self.clone();
        async move {
            let conn = conn_of(&n.extensions).await;
            if conn.as_ref().is_none_or(|c| c.limiter.take(1)) {
                gate.run_notification(conn.as_deref(), n).await;
            }
            MethodResponse::notification()
        }
    }
}

impl<S> Gate<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse> + Send + Sync,
{
    /// Runs a notification as the call it is, and drops the answer: the specification
    /// says the server must not reply, not that it may skip the work (jsonrpsee
    /// alone skips it). A subscription asked as a notification has nobody to send to.
    async fn run_notification(&self, conn: Option<&Conn>, n: Notification<'_>) {
        if n.method.starts_with("events.") || conn.is_some_and(|c| refusal(c, &n.method).is_some())
        {
            return;
        }
        let req = Request {
            jsonrpc: TwoPointZero,
            id: Id::Null,
            method: n.method,
            params: n.params,
            extensions: n.extensions,
        };
        let answer = self.inner.call(req).await;
        if let Some(code) = answer.as_error_code() {
            tracing::debug!(
                code,
                "a notification failed (nobody is told, as JSON-RPC has it)"
            );
        }
    }
}
