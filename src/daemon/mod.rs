//! The daemon: wires the store and the subsystems together, and owns the process's
//! life — systemd readiness, the watchdog, signals, reload, and the one place where
//! shutdown happens.
//!
//! Every subsystem is a task that receives a [`Shutdown`](crate::shutdown::Shutdown)
//! and returns when it fires, run under [`supervise`].
//! On SIGTERM/SIGINT — or when a task ends or panics before it (then exit 70) — the
//! daemon fires it, waits for the tasks (at most `daemon.shutdown_timeout_secs`), then
//! lets the store finish its queued writes and close the file.

pub mod copy_store;
pub mod files;
pub mod logging;
pub mod origin;
mod port;
mod sandbox;
pub mod supervise;
pub mod systemd;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::signal::unix::{signal, SignalKind};

use std::sync::Arc;

use crate::cluster;
use crate::config::{Config, ConfigError, DatabaseTarget, MysqlAddress, TenantScope};
use crate::crypto::{Crypto, CryptoError};
use crate::db::{self, DbError, Store, StoreOptions};
use crate::events::EventBus;
use crate::exit;
use crate::housekeeping;
use crate::intake::{AllowedDir, Spool, Uploads};
use crate::numhub::{self, NumhubError};
use crate::rpc;
use crate::shutdown;
use supervise::TaskName;

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("{what}: {reason}")]
    Io { what: String, reason: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("numhub client: {0}")]
    Numhub(#[from] NumhubError),
    #[error("local API socket: {0}")]
    Socket(#[from] crate::rpc::socket::SocketError),
    /// The database belongs to another NumHub (see `origin`).
    #[error("{0}")]
    WrongNumhub(String),
    /// The database file is another user's or writable by others (see `files`).
    #[error("{0}")]
    UnsafeDatabase(String),
    /// Another daemon holds the database's lock (see `files`).
    #[error("{0}")]
    InUse(String),
    /// A supervised task ended or panicked while the daemon ran (see `supervise`).
    #[error("task {task} ended while numhubd ran: {cause}")]
    TaskEnded {
        task: supervise::TaskName,
        cause: String,
    },
}

impl DaemonError {
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Config(_) => exit::CONFIG,
            DaemonError::Db(DbError::SchemaTooNew { .. }) => exit::DATA,
            DaemonError::Db(DbError::Unavailable { .. }) => exit::UNAVAILABLE,
            DaemonError::Db(DbError::Unsupported { .. }) => exit::CONFIG,
            DaemonError::Db(DbError::InUse { .. }) => exit::IN_USE,
            DaemonError::Db(_) => exit::FAILURE,
            DaemonError::Io { .. } | DaemonError::Socket(_) => exit::IO,
            DaemonError::Crypto(_) => exit::CONFIG,
            DaemonError::Numhub(_) => exit::CONFIG,
            DaemonError::WrongNumhub(_) => exit::CONFIG,
            // 65 like a newer schema: the file is not one numhubd may use, and
            // systemd must not restart into the same refusal (RestartPreventExitStatus).
            DaemonError::UnsafeDatabase(_) => exit::DATA,
            DaemonError::InUse(_) => exit::IN_USE,
            // Not in the unit's RestartPreventExitStatus: systemd restarts numhubd.
            DaemonError::TaskEnded { .. } => exit::SOFTWARE,
        }
    }
}

/// Where the configuration comes from, so that SIGHUP can read it again.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    File(PathBuf),
    /// No file: built-in defaults with paths under this folder.
    Defaults(PathBuf),
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, ConfigError> {
        match self {
            ConfigSource::File(path) => Config::load(path),
            ConfigSource::Defaults(base) => Config::defaults_in(base),
        }
    }
}

/// Choices made on the command line rather than in the config file.
#[derive(Default)]
pub struct ServeOptions {
    /// Run against an embedded NumHub sandbox (`serve --sandbox`).
    pub sandbox: bool,
    /// The server database held for this daemon (`db::hold`, taken before logging
    /// started); kept until the daemon ends.
    pub held: Option<db::Holder>,
}

/// What the running daemon shares with its subsystems.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub crypto: Arc<Crypto>,
    /// The only way to NumHub (tokens, pacing, retries, audit).
    pub numhub: numhub::Client,
    pub started: Instant,
    /// Published to after changes commit; `events.subscribe` reads it.
    pub events: EventBus,
    /// numhubd's copies of taken files, which uploads are sent from.
    pub spool: Spool,
}

/// Runs the daemon until SIGTERM/SIGINT. `config` was loaded (and logging set up) by
/// the caller, so that a bad config is reported before anything starts.
pub async fn serve(
    source: ConfigSource,
    mut config: Config,
    options: ServeOptions,
    log: logging::LogHandle,
) -> Result<(), DaemonError> {
    let location = database_location(&config)?;
    let (checked, at) = (config.clone(), location.clone());
    // Both may wait on a database server: off the async threads.
    blocking(move || origin::check(&checked, &at, options.sandbox)).await?;
    let sandbox = match options.sandbox {
        true => Some(sandbox::start(&mut config).await?),
        false => None,
    };
    let (opening, at) = (config.clone(), location.clone());
    let store = blocking(move || open_store(&opening, &at)).await?;
    if let Some(held) = &options.held {
        // Now that the schema exists: a second numhubd's refusal names this one.
        held.record();
    }
    if sandbox.is_some() {
        sandbox::adopt_store(&store).await?;
    }
    let crypto = Arc::new(Crypto::load(
        &config.crypto.identity_file,
        &config.crypto.recipients,
    )?);
    // Every host sharing the store needs the identity that wrote its secrets.
    numhub::readable::check_readable(&store, &crypto).await?;
    let global = match options.sandbox {
        true => Some(sandbox::demo_credentials()),
        false => numhub::global_credentials(&config)?,
    };
    if global.is_none() {
        tracing::warn!("no global NumHub account ([numhub] email/password_file); only tenants with their own credentials can sync");
    }
    let client = numhub::Client::new(
        numhub::ClientOptions::from_config(&config, global),
        store.clone(),
        crypto.clone(),
    )?;
    let spool = Spool::open(&config.spool_dir())
        .map_err(|e| DaemonError::Io {
            what: format!("spool folder {}", config.spool_dir().display()),
            reason: e.to_string(),
        })?
        .shared_through(&store);
    // On a server store the hosts share their events (the relay task, below).
    let (events, relayed) = match store.location() {
        db::Location::Server(_) => {
            let (bus, relayed) = EventBus::with_relay(1024);
            (bus, Some(relayed))
        }
        db::Location::File(_) => (EventBus::default(), None),
    };
    let ctx = Context {
        store: store.clone(),
        crypto,
        numhub: client,
        started: Instant::now(),
        events,
        spool,
    };
    // The rules every connection checks its calls against; SIGHUP sends new ones.
    let (access_tx, access) = rpc::access::Rules::channel(access_rules(&config));
    // Bound here, before READY=1: a live daemon on the socket, or a bad socket folder,
    // stops this start with a clear message.
    let bound = rpc::socket::listen(
        &config.rpc.socket,
        config.rpc.socket_mode,
        config.rpc.socket_group.as_deref(),
    )?;
    let (shutdown_tx, shutdown) = shutdown::channel();
    let mut tasks = supervise::Supervisor::new(shutdown.clone());
    let node = config.cluster.node_name();
    let leadership = lead(&mut tasks, &ctx.store, &config, &node, &shutdown);
    if let Some(interval) = systemd::watchdog_interval() {
        tasks.spawn(
            TaskName::Watchdog,
            systemd::run_watchdog(
                interval,
                ctx.store.clone(),
                tasks.liveness(),
                shutdown.clone(),
            ),
        );
    }
    if let Some(relayed) = relayed {
        let relay = crate::relay::Relay {
            store: ctx.store.clone(),
            bus: ctx.events.clone(),
            relayed,
            node: node.clone(),
        };
        tasks.spawn(TaskName::Relay, crate::relay::run(relay, shutdown.clone()));
    }
    tasks.spawn(
        TaskName::Housekeeping,
        housekeeping::run(
            ctx.store.clone(),
            housekeeping::Retention {
                done_jobs: Duration::from_secs(config.sync.done_retention_days * 86_400),
                audit: Duration::from_secs(u64::from(config.audit.retention_days) * 86_400),
            },
            ctx.spool.clone(),
            leadership.clone(),
            shutdown.clone(),
        ),
    );
    // Filled in by the drop folder's watcher once it runs.
    let watcher = crate::watch::StatusHandle::default();
    let (sync, sync_tasks) = crate::sync::start(
        crate::sync::SyncContext {
            store: ctx.store.clone(),
            numhub: ctx.numhub.clone(),
            events: ctx.events.clone(),
            spool: ctx.spool.clone(),
            phone_format: config.numhub.phone_format,
        },
        crate::sync::SyncOptions::from_config(&config),
        leadership.clone(),
        shutdown.clone(),
    );
    tasks.spawn(TaskName::Outbox, sync_tasks.outbox);
    tasks.spawn(TaskName::Poller, sync_tasks.poller);
    tasks.spawn(
        TaskName::Watcher,
        crate::watch::run(
            crate::watch::WatchContext {
                store: ctx.store.clone(),
                events: ctx.events.clone(),
                spool: ctx.spool.clone(),
                sync: sync.clone(),
            },
            watch_options(&config),
            watcher.clone(),
            shutdown.clone(),
        ),
    );
    {
        let rpc_ctx = rpc::Rpc {
            store: ctx.store.clone(),
            events: ctx.events.clone(),
            crypto: ctx.crypto.clone(),
            numhub: Some(Arc::new(port::Port::new(&ctx, &config, Some(sync.clone())))),
            started: ctx.started,
            uploads: Uploads {
                dirs: config
                    .rpc
                    .upload_dirs
                    .iter()
                    .map(|d| AllowedDir {
                        path: d.path().to_path_buf(),
                        tenants: d.tenants().map(<[i64]>::to_vec),
                    })
                    .collect(),
                max_bytes: config.drop.max_file_bytes,
                spool: ctx.spool.clone(),
            },
            drop_dir: config.drop.dir.clone(),
            watcher: watcher.clone(),
            connections: Default::default(),
            sync_anomalies: sync.anomalies.clone(),
            business_id_fields: config.audit.redact_fields.clone(),
            cluster_node: store.path().is_none().then(|| node.clone()),
        };
        let rpc_options = server_options(&config, access.clone());
        tasks.spawn(
            TaskName::Rpc,
            rpc::serve(bound, rpc_ctx, rpc_options, shutdown.clone()),
        );
    }

    let mut term = signal(SignalKind::terminate()).map_err(io("SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io("SIGINT handler"))?;
    let mut hup = signal(SignalKind::hangup()).map_err(io("SIGHUP handler"))?;

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        database = %location.shown(),
        "numhubd ready"
    );
    systemd::ready("serving");

    let mut running = config;
    let death = loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break None; }
            _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break None; }
            _ = hup.recv() => reload(&source, &mut running, &log, &access_tx),
            death = tasks.death() => break Some(death),
        }
    };

    match &death {
        None => systemd::stopping(),
        Some(d) => {
            tracing::error!(
                task = %d.task,
                cause = %d.cause,
                "task ended while numhubd ran; stopping (exit 70, systemd restarts numhubd)"
            );
            systemd::stopping_because(&format!("task {} ended: {}", d.task, d.cause));
        }
    }
    shutdown_tx.fire();
    let deadline = running.shutdown_timeout();
    tasks.drain(deadline).await;
    cluster::release(&store, &node, &leadership).await;
    match tokio::time::timeout(deadline, store.close()).await {
        Ok(result) => result?,
        Err(_) => tracing::warn!("database writer did not finish by the deadline"),
    }
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    tracing::info!("numhubd stopped");
    match death {
        None => Ok(()),
        Some(d) => Err(DaemonError::TaskEnded {
            task: d.task,
            cause: d.cause,
        }),
    }
}

/// This node's leadership: on a server store, the lease loop's (spawned here); on a
/// SQLite file the daemon is the only one and leads from the start.
fn lead(
    tasks: &mut supervise::Supervisor,
    store: &Store,
    config: &Config,
    node: &str,
    shutdown: &shutdown::Shutdown,
) -> cluster::Leadership {
    if store.path().is_some() {
        return cluster::Leadership::sole();
    }
    let (publish, leadership) = cluster::channel();
    let options = cluster::ClusterOptions {
        node: node.to_string(),
        lease: Duration::from_secs(config.cluster.lease_secs),
        request_timeout: Duration::from_secs(config.numhub.request_timeout_secs),
    };
    tasks.spawn(
        TaskName::Lease,
        cluster::run(store.clone(), options, publish, shutdown.clone()),
    );
    leadership
}

/// `[drop]` as the watcher takes it; an unknown group is logged and left out (the
/// folders are then numhubd's own group's).
fn watch_options(config: &Config) -> crate::watch::WatchOptions {
    let d = &config.drop;
    let group = d.group.as_deref().and_then(|g| match rpc::socket::lookup_group(g) {
        Ok(gid) => Some(gid),
        Err(e) => {
            tracing::error!(group = g, error = %e, "[drop] group cannot be resolved; drop folders get numhubd's own group");
            None
        }
    });
    crate::watch::WatchOptions {
        dir: d.dir.clone(),
        settle: Duration::from_millis(d.settle_ms),
        incomplete_after: Duration::from_secs(d.incomplete_after_secs),
        keep_processed: Duration::from_secs(d.keep_processed_days * 86_400),
        group,
        max_file_bytes: d.max_file_bytes,
    }
}

/// `[[access]]` as the local API takes it.
fn access_rules(config: &Config) -> Vec<rpc::access::Rule> {
    use rpc::access::{Rule, Tenants};
    config
        .access
        .iter()
        .map(|r| Rule {
            uid: r.uid,
            gid: r.gid,
            role: r.role,
            tenants: match &r.tenants {
                TenantScope::All(_) => Tenants::All,
                TenantScope::Some(ids) => Tenants::Only(Arc::new(ids.iter().copied().collect())),
            },
        })
        .collect()
}

/// `[rpc]` as the local API takes it, with the rules in force.
fn server_options(config: &Config, access: rpc::access::Rules) -> rpc::ServerOptions {
    let r = &config.rpc;
    rpc::ServerOptions {
        socket: r.socket.clone(),
        max_body_bytes: r.max_body_bytes,
        max_batch: r.max_batch,
        max_connections: r.max_connections,
        max_connections_per_uid: r.max_connections_per_uid,
        max_requests_per_sec: r.max_requests_per_sec,
        header_timeout: Duration::from_millis(r.header_timeout_ms),
        idle_timeout: Duration::from_secs(r.idle_timeout_secs),
        max_response_bytes: r.max_response_bytes,
        access,
    }
}

fn open_store(config: &Config, location: &db::Location) -> Result<Store, DaemonError> {
    if let db::Location::File(path) = location {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DaemonError::Io {
                what: format!("creating {}", dir.display()),
                reason: e.to_string(),
            })?;
        }
    }
    let options = StoreOptions {
        readers: config.database.readers,
        full_sync: config.database.synchronous == crate::config::Synchronous::Full,
        ..StoreOptions::default()
    };
    Ok(Store::open_at(location, options)?)
}

/// Runs `f` on the blocking pool (a store that opens on a server waits on it).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DaemonError> + Send + 'static,
) -> Result<T, DaemonError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DaemonError::Io {
            what: "opening the store".into(),
            reason: e.to_string(),
        })?
}

/// Where the config's store is: `[database] path`, or `url` with its password (read
/// now) and TLS.
pub fn database_location(config: &Config) -> Result<db::Location, DaemonError> {
    Ok(location_of(config.database.target()?))
}

/// The store's view of a config target.
pub fn location_of(target: DatabaseTarget) -> db::Location {
    match target {
        DatabaseTarget::Sqlite { path, .. } => db::Location::File(path),
        DatabaseTarget::Mysql(m) => {
            let (host, port, socket) = match m.address {
                MysqlAddress::Tcp { host, port } => (host, port, None),
                MysqlAddress::Socket(path) => ("localhost".to_string(), 0, Some(path)),
            };
            db::Location::Server(db::Server {
                host,
                port,
                socket,
                user: m.user,
                database: m.database,
                password: m
                    .password
                    .map(|p| db::Password::new(p.expose().to_string())),
                tls: match m.tls {
                    crate::config::Tls::Off => db::Tls::Off,
                    crate::config::Tls::Verify { ca_file } => db::Tls::Verify { ca_file },
                },
            })
        }
    }
}

/// SIGHUP: re-read the config. An invalid one is refused and the running one stays.
/// Keys that only take effect at start are named so the operator knows to restart.
/// `[[access]]` takes effect at once: new connections get the new rules, and an open
/// connection's next call is checked against them.
fn reload(
    source: &ConfigSource,
    running: &mut Config,
    log: &logging::LogHandle,
    access: &rpc::access::RulesSender,
) {
    systemd::reloading();
    match source.load() {
        Err(e) => {
            tracing::error!(error = %e, "config reload refused; keeping the running configuration")
        }
        Ok(new) => {
            if new.log.filter != running.log.filter {
                if let Err(e) = log.set_filter(&new.log.filter) {
                    tracing::error!(error = %e, "log.filter could not be applied");
                }
            }
            for key in restart_only_changes(running, &new) {
                tracing::warn!(key, "changed in the config file; takes effect at restart");
            }
            if new.access != running.access {
                access.send(access_rules(&new));
                tracing::info!(
                    rules = new.access.len(),
                    "[[access]] rules applied: to new connections, and to the next call of open ones"
                );
            }
            running.log = new.log.clone();
            running.daemon = new.daemon.clone();
            running.access = new.access.clone();
            tracing::info!("configuration reloaded");
            tracing::debug!(filter = %running.log.filter, "log filter in effect");
        }
    }
    systemd::ready("serving");
}

fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.database != new.database {
        keys.push("database");
    }
    if old.rpc != new.rpc {
        keys.push("rpc");
    }
    if old.numhub != new.numhub {
        keys.push("numhub");
    }
    if old.drop != new.drop {
        keys.push("drop");
    }
    if old.crypto != new.crypto {
        keys.push("crypto");
    }
    if old.audit != new.audit {
        keys.push("audit");
    }
    keys
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> DaemonError {
    move |e| DaemonError::Io {
        what: what.to_string(),
        reason: e.to_string(),
    }
}
