//! What every call passes before it reaches a method, whatever the method: the
//! per-connection rate limit, and the clear refusal of a subscription over plain
//! HTTP (jsonrpsee alone answers those with a bare -32603).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::server::MethodResponse;
use jsonrpsee::types::{Id, Request};

use super::access::Caller;
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
    pub caller: Caller,
    pub limiter: Arc<RateLimiter>,
    pub transport: Transport,
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
}

impl<S> Gate<S> {
    pub fn new(inner: S) -> Gate<S> {
        Gate { inner }
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
            if let Some(conn) = req.extensions().get::<Arc<Conn>>() {
                if !conn.limiter.take(1) {
                    return refuse(req.id(), limited());
                }
                // An unsubscribe over HTTP has no subscription to end; jsonrpsee would
                // answer it -32603 (robust_rpc's refused phase).
                if conn.transport == Transport::Http
                    && matches!(req.method_name(), "events.subscribe" | "events.unsubscribe")
                {
                    return refuse(req.id(), RpcError::NeedsWebsocket);
                }
            }
            inner.call(req).await
        }
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let inner = self.inner.clone();
        async move {
            let n = batch.len();
            if let Some(conn) = batch.extensions().get::<Arc<Conn>>() {
                if !conn.limiter.take(n) {
                    return refuse(Id::Null, limited());
                }
            }
            inner.batch(batch).await
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }
}
