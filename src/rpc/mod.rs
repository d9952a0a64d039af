//! The local API: JSON-RPC 2.0 over HTTP/1.1 (`POST /`) and WebSocket on one Unix
//! socket (jsonrpsee). Each accepted connection is admitted by its peer uid
//! ([`admission`]), then gets its peer credentials resolved into a
//! [`Caller`](access::Caller) on a blocking thread before its first request is read
//! (user database lookups may be slow; the accept loop never waits on them); every
//! request of the connection carries it in its extensions (in a
//! [`Conn`](middleware::Conn), which re-resolves it when reloaded rules arrive), and
//! the method table checks it before anything runs.
//!
//! - [`socket`]: binding (or systemd's socket), folder checks, stale-socket handling.
//! - [`admission`]: connection limits overall, per uid, and kept for admins;
//!   [`backoff`]: accept errors (EMFILE) wait, growing to a second, logged once.
//! - [`connection`]: serving one connection; [`clock`] its deadlines; [`envelope`]
//!   JSON-RPC ids and notifications as the specification has them.
//! - [`access`]: peer credentials → role and tenants; the rules in force.
//! - [`methods`]: the table, registration, access and parameter checks.
//! - [`tenancy`], [`entities`], [`identities`], [`documents`], [`operations`],
//!   [`backup`]: the handlers, one file per resource; `rows` what the row handlers
//!   share.
//! - [`schema`]: parameter schemas and their validator; [`openrpc`]: `rpc.discover`.
//! - [`middleware`]: grants re-checked, per-connection rate limit, subscriptions
//!   refused over HTTP, notifications run, a batch's answers within their budget.
//! - [`error`]: the one mapping from errors to JSON-RPC error codes.
//! - [`port`]: the seam to NumHub for methods that must ask it now.

pub mod access;
pub mod admission;
mod backoff;
pub mod backup;
mod clock;
mod connection;
pub mod documents;
pub mod entities;
mod envelope;
pub mod error;
pub mod identities;
pub mod methods;
pub mod middleware;
pub mod openrpc;
pub mod operations;
pub mod port;
mod rows;
pub mod schema;
pub mod socket;
pub mod tenancy;
mod wire;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::server::{stop_channel, BatchRequestConfig, Server, ServerConfig};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};

use crate::crypto::Crypto;
use crate::db::Store;
use crate::events::{Event, EventBus};
use crate::shutdown::Shutdown;
use access::{Peer, Role, Rules};
use admission::{Admission, Limits};
use clock::{Clock, ConnIo};
use connection::BodyLimits;
use error::RpcError;
use middleware::{Conn, Gate, RateLimiter, Transport};
use port::NumhubPort;

/// What every method handler can reach.
pub struct Rpc {
    pub store: Store,
    pub events: EventBus,
    pub crypto: Arc<Crypto>,
    /// The NumHub seam: None until the NumHub client is wired in.
    pub numhub: Option<Arc<dyn NumhubPort>>,
    pub started: Instant,
    /// Where `document.upload` may read files, their size limit, the spool.
    pub uploads: crate::intake::Uploads,
    /// The drop folder (`entity.drop_path`, the LOA template).
    pub drop_dir: PathBuf,
    /// The drop folder's watcher, for `daemon.status`.
    pub watcher: crate::watch::StatusHandle,
    /// Connections open now (for `daemon.status`).
    pub connections: Arc<AtomicU64>,
    /// Values NumHub sent that the replica could not hold (the sync engine counts).
    pub sync_anomalies: Arc<AtomicU64>,
    /// Business identifiers in application bodies (`[audit] redact_fields`: EIN,
    /// DUNS…), which a read-role caller sees as `[redacted]` in job payloads, as the
    /// audit trail keeps them only as fingerprints.
    pub business_id_fields: Vec<String>,
    /// This daemon's `[cluster] node` on a server store (None on SQLite: no cluster).
    pub cluster_node: Option<String>,
}

/// What the server needs to run (the daemon fills it from `[rpc]` and `[[access]]`).
#[derive(Clone)]
pub struct ServerOptions {
    /// The socket's path, for the log.
    pub socket: PathBuf,
    pub max_body_bytes: u32,
    pub max_batch: u32,
    pub max_connections: u32,
    pub max_connections_per_uid: u32,
    pub max_requests_per_sec: u32,
    /// A request's headers and body must arrive within this.
    pub header_timeout: Duration,
    /// A kept-alive connection without a request is closed after this.
    pub idle_timeout: Duration,
    /// Largest answer: a call's, or a batch's together.
    pub max_response_bytes: u32,
    /// Who may do what, besides root and the daemon's own user (replaced on reload).
    pub access: Rules,
}

/// Builds the module: the method table plus the events subscription.
pub fn module(rpc: Rpc) -> Result<RpcModule<Rpc>, String> {
    let mut module = RpcModule::new(rpc);
    let defs = methods::all();
    methods::register(&mut module, &defs)?;
    let sub_def = defs
        .iter()
        .find(|d| d.name == "events.subscribe")
        .cloned()
        .ok_or("events.subscribe missing from the method table")?;
    module
        .register_subscription(
            "events.subscribe",
            "events.event",
            "events.unsubscribe",
            move |params, pending, rpc, ext| {
                let d = sub_def.clone();
                async move { subscribe(&d, params.as_str(), pending, rpc, &ext).await }
            },
        )
        .map_err(|e| e.to_string())?;
    Ok(module)
}

async fn subscribe(
    d: &methods::MethodDef,
    raw: Option<&str>,
    pending: PendingSubscriptionSink,
    rpc: Arc<Rpc>,
    ext: &jsonrpsee::Extensions,
) {
    let (caller, params) = match methods::admit(d, raw, ext) {
        Ok(v) => v,
        Err(e) => {
            pending.reject(e.to_error_object()).await;
            return;
        }
    };
    let only_tenant = params.get("tenant_id").and_then(serde_json::Value::as_i64);
    let kinds: Option<Vec<String>> = params
        .get("kinds")
        .and_then(|k| serde_json::from_value(k.clone()).ok());
    // Subscribe to the bus before accepting, so nothing published after the accept is missed.
    let mut rx = rpc.events.subscribe();
    let Ok(sink) = pending.accept().await else {
        return;
    };
    // The connection, whose grants a reload may change while the subscription runs.
    let conn = ext.get::<Arc<Conn>>().cloned();
    let mut caller = caller;
    let wanted = |e: &Event, caller: &access::Caller| {
        let kind_ok = kinds
            .as_ref()
            .is_none_or(|k| k.iter().any(|k| k == e.kind()));
        let tenant_ok = match e.tenant_id() {
            Some(t) => caller.may_see_tenant(t) && only_tenant.is_none_or(|o| o == t),
            // Global events (the global account's token, sync failures without a
            // tenant) go to callers over every tenant only.
            None => caller.all_tenants() && only_tenant.is_none(),
        };
        kind_ok && tenant_ok && !e.is_internal()
    };
    loop {
        let event = tokio::select! {
            _ = sink.closed() => break,
            r = rx.recv() => r,
        };
        if let Some(conn) = &conn {
            conn.recheck().await;
            caller = conn.caller();
            if caller.role < d.role {
                // Its rule was revoked: the subscription ends, as a call would be refused.
                tracing::info!(
                    uid = caller.peer.uid,
                    "subscription ended: access rules changed"
                );
                break;
            }
        }
        let event = match event {
            Ok(e) if wanted(&e, &caller) => e,
            Ok(_) => continue,
            // A slow subscriber is told how many it missed, and stays subscribed.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                Event::Lagged { missed }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        let Ok(msg) = serde_json::value::to_raw_value(&event) else {
            continue;
        };
        if sink.send(SubscriptionMessage::from(msg)).await.is_err() {
            break;
        }
    }
}

/// The accept loop over an already bound listener (tests and benchmarks use it too),
/// until `shutdown` fires.
pub async fn serve(
    bound: socket::Bound,
    rpc: Rpc,
    options: ServerOptions,
    mut shutdown: Shutdown,
) -> Result<(), RpcError> {
    let daemon_uid = unsafe_geteuid();
    let admission = Admission::new(
        Limits {
            max_connections: options.max_connections,
            max_connections_per_uid: options.max_connections_per_uid,
        },
        rpc.connections.clone(),
    );
    let module = module(rpc).map_err(RpcError::Internal)?;
    let methods: jsonrpsee::Methods = module.into();
    let config = ServerConfig::builder()
        .max_request_body_size(options.max_body_bytes)
        .max_response_body_size(options.max_response_bytes)
        .set_batch_request_config(BatchRequestConfig::Limit(options.max_batch))
        .max_connections(options.max_connections)
        .build();
    let max_response = options.max_response_bytes;
    let builder = Server::builder()
        .set_config(config)
        .set_rpc_middleware(RpcServiceBuilder::new().layer_fn(move |s| Gate::new(s, max_response)))
        .to_service_builder();
    let (stop_handle, server_handle) = stop_channel();
    let mut rules = options.access.clone();
    let limits = BodyLimits {
        max_body_bytes: options.max_body_bytes,
        max_batch: options.max_batch,
    };
    tracing::info!(socket = %options.socket.display(), "local API listening");
    let mut backoff = backoff::AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => break,
            accepted = bound.listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff.accepted();
                stream
            }
            Err(e) => {
                // EMFILE and friends: the open connections keep being served while
                // this waits; the pending ones stay in the listen backlog.
                let wait = backoff.failed(&e);
                tokio::select! {
                    _ = shutdown.recv() => break,
                    _ = tokio::time::sleep(wait) => continue,
                }
            }
        };
        let peer = match stream.peer_cred() {
            Ok(c) => Peer {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
            },
            Err(e) => {
                tracing::warn!(error = %e, "no peer credentials; connection dropped");
                continue;
            }
        };
        let admin = rules.admin_by_uid(peer.uid, daemon_uid);
        let ticket = match admission.admit(peer.uid, admin) {
            Ok(t) => t,
            Err(refusal) => {
                // Not logged above debug: a peer that reconnects in a loop would flood the journal.
                tracing::debug!(
                    uid = peer.uid,
                    pid = peer.pid,
                    ?refusal,
                    "connection refused"
                );
                tokio::spawn(refuse_connection(stream, refusal.to_error()));
                continue;
            }
        };
        // Marked seen: a reload from now on is news to this connection's calls.
        let current = rules.current();
        let rules = rules.clone();
        let rate = options.max_requests_per_sec;
        let (header_timeout, idle_timeout) = (options.header_timeout, options.idle_timeout);
        let svc = builder.clone().build(methods.clone(), stop_handle.clone());
        let stop = stop_handle.clone();
        tokio::spawn(async move {
            // The user and group lookups can go to LDAP/SSSD and take seconds: on a
            // blocking thread, in the connection's own task, so a slow one holds up
            // only this connection, never the accepts of the others. The deadlines
            // start after it: a slow lookup is ours, not the peer's (whose
            // connections meanwhile count against its share).
            let resolving =
                tokio::task::spawn_blocking(move || access::resolve(peer, &current, daemon_uid));
            let caller = tokio::select! {
                resolved = resolving => resolved,
                _ = stop.clone().shutdown() => return,
            };
            let caller = match caller {
                Ok(caller) => caller,
                Err(e) => {
                    tracing::warn!(error = %e, "resolving peer credentials failed; connection dropped");
                    return;
                }
            };
            let limiter = Arc::new(RateLimiter::new(rate));
            let conn = |transport| {
                Arc::new(Conn::new(
                    caller.clone(),
                    rules.clone(),
                    daemon_uid,
                    limiter.clone(),
                    transport,
                ))
            };
            let (http, ws) = (conn(Transport::Http), conn(Transport::WebSocket));
            let clock = Clock::new(header_timeout, idle_timeout);
            let io = ConnIo::new(stream, clock.clone(), ticket);
            let stopped = stop.shutdown();
            let handle = {
                let clock = clock.clone();
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    let conn = if jsonrpsee::server::ws::is_upgrade_request(&req) {
                        ws.clone()
                    } else {
                        http.clone()
                    };
                    req.extensions_mut().insert(conn);
                    connection::exchange(req, svc.clone(), clock.clone(), limits)
                }
            };
            connection::serve(io, clock, handle, stopped).await;
        });
    }
    let _ = server_handle.stop();
    // stopped() resolves once every StopHandle is gone: ours too, so drop it first.
    drop(stop_handle);
    server_handle.stopped().await;
    if let Some(path) = &bound.owned_path {
        socket::remove(path);
    }
    tracing::info!("local API stopped");
    Ok(())
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Over a connection limit: one HTTP answer with a JSON-RPC error, then close.
async fn refuse_connection(mut stream: tokio::net::UnixStream, error: RpcError) {
    use tokio::io::AsyncWriteExt;
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": error.to_error_object(),
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The role a method needs, by name (numhubctl uses it for its hints).
pub fn role_of(method: &str) -> Option<Role> {
    methods::all()
        .into_iter()
        .find(|d| d.name == method)
        .map(|d| d.role)
}
