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
//!   share, `wire` the conversion of `db` rows into `api` types; `subscription`
//!   runs `events.subscribe`.
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
mod subscription;
pub mod tenancy;
mod wire;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::core::{BoxError, RegisterMethodError};
use jsonrpsee::server::{
    stop_channel, BatchRequestConfig, HttpRequest, HttpResponse, Server, ServerConfig, StopHandle,
};
use jsonrpsee::RpcModule;

use crate::crypto::Crypto;
use crate::db::Store;
use crate::events::EventBus;
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
pub fn module(rpc: Rpc) -> Result<RpcModule<Rpc>, RegisterMethodError> {
    let mut module = RpcModule::new(rpc);
    let defs = methods::all();
    methods::register(&mut module, &defs)?;
    subscription::register(&mut module, &defs)?;
    Ok(module)
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
    let methods: jsonrpsee::Methods = module(rpc)
        .map_err(|e| RpcError::failed("registering the methods", e))?
        .into();
    let max_response = options.max_response_bytes;
    let builder = Server::builder()
        .set_config(server_config(&options))
        .set_rpc_middleware(RpcServiceBuilder::new().layer_fn(move |s| Gate::new(s, max_response)))
        .to_service_builder();
    let (stop_handle, server_handle) = stop_channel();
    let mut rules = options.access.clone();
    let setup = ConnSetup::new(&options, daemon_uid);
    tracing::info!(socket = %options.socket.display(), "local API listening");
    let mut backoff = backoff::AcceptBackoff::default();
    while let Some(stream) = next_stream(&bound, &mut backoff, &mut shutdown).await {
        let Some(peer) = peer_of(&stream) else {
            continue;
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
        let accepted = Accepted {
            stream,
            peer,
            ticket,
            // Marked seen: a reload from now on is news to this connection's calls.
            rules_now: rules.current(),
            rules: rules.clone(),
        };
        let svc = builder.clone().build(methods.clone(), stop_handle.clone());
        tokio::spawn(run_connection(accepted, setup, svc, stop_handle.clone()));
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

fn server_config(options: &ServerOptions) -> ServerConfig {
    ServerConfig::builder()
        .max_request_body_size(options.max_body_bytes)
        .max_response_body_size(options.max_response_bytes)
        .set_batch_request_config(BatchRequestConfig::Limit(options.max_batch))
        .max_connections(options.max_connections)
        .build()
}

/// The next accepted connection, or None once `shutdown` fires. An accept error
/// (EMFILE and friends) waits: the open connections keep being served meanwhile and
/// the pending ones stay in the listen backlog.
async fn next_stream(
    bound: &socket::Bound,
    backoff: &mut backoff::AcceptBackoff,
    shutdown: &mut Shutdown,
) -> Option<tokio::net::UnixStream> {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => return None,
            accepted = bound.listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                backoff.accepted();
                return Some(stream);
            }
            Err(e) => {
                let wait = backoff.failed(&e);
                tokio::select! {
                    _ = shutdown.recv() => return None,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

fn peer_of(stream: &tokio::net::UnixStream) -> Option<Peer> {
    match stream.peer_cred() {
        Ok(c) => Some(Peer {
            uid: c.uid(),
            gid: c.gid(),
            pid: c.pid(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "no peer credentials; connection dropped");
            None
        }
    }
}

/// An admitted connection: its peer, its place in the limits, the rules it starts
/// under.
struct Accepted {
    stream: tokio::net::UnixStream,
    peer: Peer,
    ticket: admission::Ticket,
    rules_now: Arc<[access::Rule]>,
    rules: Rules,
}

/// What every connection is served with.
#[derive(Clone, Copy)]
struct ConnSetup {
    daemon_uid: u32,
    rate: u32,
    header_timeout: Duration,
    idle_timeout: Duration,
    limits: BodyLimits,
}

impl ConnSetup {
    fn new(options: &ServerOptions, daemon_uid: u32) -> ConnSetup {
        ConnSetup {
            daemon_uid,
            rate: options.max_requests_per_sec,
            header_timeout: options.header_timeout,
            idle_timeout: options.idle_timeout,
            limits: BodyLimits {
                max_body_bytes: options.max_body_bytes,
                max_batch: options.max_batch,
            },
        }
    }
}

/// Serves one admitted connection until it ends or the server stops. The user and
/// group lookups can go to LDAP/SSSD and take seconds: on a blocking thread, in the
/// connection's own task, so a slow one holds up only this connection, never the
/// accepts of the others. The deadlines start after it: a slow lookup is ours, not
/// the peer's (whose connections meanwhile count against its share).
async fn run_connection<S>(accepted: Accepted, setup: ConnSetup, svc: S, stop: StopHandle)
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let Accepted {
        stream,
        peer,
        ticket,
        rules_now,
        rules,
    } = accepted;
    let daemon_uid = setup.daemon_uid;
    let resolving =
        tokio::task::spawn_blocking(move || access::resolve(peer, &rules_now, daemon_uid));
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
    let limiter = Arc::new(RateLimiter::new(setup.rate));
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
    let clock = Clock::new(setup.header_timeout, setup.idle_timeout);
    let io = ConnIo::new(stream, clock.clone(), ticket);
    let handle = {
        let clock = clock.clone();
        move |mut req: hyper::Request<hyper::body::Incoming>| {
            let conn = if jsonrpsee::server::ws::is_upgrade_request(&req) {
                ws.clone()
            } else {
                http.clone()
            };
            req.extensions_mut().insert(conn);
            connection::exchange(req, svc.clone(), clock.clone(), setup.limits)
        }
    };
    connection::serve(io, clock, handle, stop.shutdown()).await;
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
