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
pub mod options;
pub mod origin;
mod port;
mod sandbox;
pub mod supervise;
pub mod systemd;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::signal::unix::{signal, SignalKind};

use crate::cluster;
use crate::config::{Config, ConfigError};
use crate::crypto::{Crypto, CryptoError};
use crate::db::{self, DbError, Store};
use crate::events::{EventBus, Relayed};
use crate::exit;
use crate::housekeeping;
use crate::intake::{AllowedDir, Spool, Uploads};
use crate::numhub::{self, NumhubError};
use crate::rpc;
use crate::shutdown;
pub use options::location_of;
use supervise::TaskName;

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
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
            DaemonError::Db(e) => store_exit_code(e),
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

/// The exit of a store that cannot be opened or used: its server unreachable (69),
/// unusable (78), held by another process (75), newer than this binary (65), anything
/// else 1. The daemon and the offline commands exit alike.
pub fn store_exit_code(e: &DbError) -> i32 {
    match e {
        DbError::Unavailable { .. } => exit::UNAVAILABLE,
        DbError::Unsupported { .. } => exit::CONFIG,
        DbError::InUse { .. } => exit::IN_USE,
        DbError::SchemaTooNew { .. } => exit::DATA,
        _ => exit::FAILURE,
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
    let (store, sandbox) = open(&mut config, &location, &options).await?;
    let (ctx, relayed) = context(&config, store, options.sandbox).await?;
    // The rules every connection checks its calls against; SIGHUP sends new ones.
    let (access_tx, access) = rpc::access::Rules::channel(options::access_rules(&config));
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
    spawn_background(&mut tasks, &ctx, &config, &node, relayed, &leadership);
    let sync = spawn_sync_and_watch(&mut tasks, &ctx, &config, &leadership);
    let rpc_ctx = rpc_context(&ctx, &config, &node, sync);
    let rpc_options = options::server(&config, access);
    tasks.spawn(
        TaskName::Rpc,
        rpc::serve(bound, rpc_ctx, rpc_options, shutdown.clone()),
    );

    let mut signals = Signals::new()?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        database = %location.shown(),
        "numhubd ready"
    );
    systemd::ready("serving");
    let mut running = config;
    let death = signals
        .wait(&mut tasks, &source, &mut running, &log, &access_tx)
        .await;
    shutdown_tx.fire();
    stop(Stopping {
        tasks,
        store: ctx.store,
        node,
        leadership,
        deadline: running.shutdown_timeout(),
        sandbox,
    })
    .await?;
    match death {
        None => Ok(()),
        Some(d) => Err(DaemonError::TaskEnded {
            task: d.task,
            cause: d.cause,
        }),
    }
}

/// The store, checked against this NumHub (`origin`) and opened; with `--sandbox`,
/// the embedded NumHub started first and adopted into it.
async fn open(
    config: &mut Config,
    location: &db::Location,
    options: &ServeOptions,
) -> Result<(Store, Option<sandbox::Running>), DaemonError> {
    let (checked, at) = (config.clone(), location.clone());
    let with_sandbox = options.sandbox;
    // Both may wait on a database server: off the async threads.
    blocking(move || origin::check(&checked, &at, with_sandbox)).await?;
    let sandbox = match options.sandbox {
        true => Some(sandbox::start(config).await?),
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
    Ok((store, sandbox))
}

/// What the subsystems share: secrets, the NumHub client, the spool, the event bus
/// (and, on a server store, what the relay task sends to the other hosts).
async fn context(
    config: &Config,
    store: Store,
    sandbox: bool,
) -> Result<(Context, Option<Relayed>), DaemonError> {
    let crypto = Arc::new(Crypto::load(
        &config.crypto.identity_file,
        &config.crypto.recipients,
    )?);
    // Every host sharing the store needs the identity that wrote its secrets.
    numhub::readable::check_readable(&store, &crypto).await?;
    let global = match sandbox {
        true => Some(sandbox::demo_credentials()),
        false => numhub::global_credentials(
            config.numhub.email.as_deref(),
            config.numhub.password_file.as_deref(),
        )?,
    };
    if global.is_none() {
        tracing::warn!("no global NumHub account ([numhub] email/password_file); only tenants with their own credentials can sync");
    }
    let client = numhub::Client::new(
        options::client(config, global),
        store.clone(),
        crypto.clone(),
    )?;
    let spool = Spool::open(&config.spool_dir())
        .map_err(|e| DaemonError::Io {
            what: format!("spool folder {}", config.spool_dir().display()),
            source: e.into(),
        })?
        .shared_through(&store);
    // On a server store the hosts share their events (the relay task).
    let (events, relayed) = match store.location() {
        db::Location::Server(_) => {
            let (bus, relayed) = EventBus::with_relay(1024);
            (bus, Some(relayed))
        }
        db::Location::File(_) => (EventBus::default(), None),
    };
    let ctx = Context {
        store,
        crypto,
        numhub: client,
        started: Instant::now(),
        events,
        spool,
    };
    Ok((ctx, relayed))
}

/// The tasks no caller waits on: the watchdog, the relay (server stores) and the
/// periodic purges.
fn spawn_background(
    tasks: &mut supervise::Supervisor,
    ctx: &Context,
    config: &Config,
    node: &str,
    relayed: Option<Relayed>,
    leadership: &cluster::Leadership,
) {
    let shutdown = tasks.shutdown();
    if let Some(interval) = systemd::watchdog_interval() {
        let liveness = tasks.liveness();
        let watchdog =
            systemd::run_watchdog(interval, ctx.store.clone(), liveness, shutdown.clone());
        tasks.spawn(TaskName::Watchdog, watchdog);
    }
    if let Some(relayed) = relayed {
        let relay = crate::relay::Relay {
            store: ctx.store.clone(),
            bus: ctx.events.clone(),
            relayed,
            node: node.to_string(),
        };
        tasks.spawn(TaskName::Relay, crate::relay::run(relay, shutdown.clone()));
    }
    let purges = housekeeping::run(
        ctx.store.clone(),
        options::retention(config),
        ctx.spool.clone(),
        leadership.clone(),
        shutdown,
    );
    tasks.spawn(TaskName::Housekeeping, purges);
}

/// The sync engine's two tasks and the drop folder's watcher, which hands its
/// uploads to the engine.
fn spawn_sync_and_watch(
    tasks: &mut supervise::Supervisor,
    ctx: &Context,
    config: &Config,
    leadership: &cluster::Leadership,
) -> Running {
    let shutdown = tasks.shutdown();
    let sync_ctx = crate::sync::SyncContext {
        store: ctx.store.clone(),
        numhub: ctx.numhub.clone(),
        events: ctx.events.clone(),
        spool: ctx.spool.clone(),
        phone_format: options::phone_format(config),
    };
    let (sync, sync_tasks) = crate::sync::start(
        sync_ctx,
        options::sync(config),
        leadership.clone(),
        shutdown.clone(),
    );
    tasks.spawn(TaskName::Outbox, sync_tasks.outbox);
    tasks.spawn(TaskName::Poller, sync_tasks.poller);
    // Filled in by the drop folder's watcher once it runs.
    let watcher = crate::watch::StatusHandle::default();
    let watch_ctx = crate::watch::WatchContext {
        store: ctx.store.clone(),
        events: ctx.events.clone(),
        spool: ctx.spool.clone(),
        sync: sync.clone(),
    };
    let watch = crate::watch::run(watch_ctx, options::watch(config), watcher.clone(), shutdown);
    tasks.spawn(TaskName::Watcher, watch);
    Running { sync, watcher }
}

/// The handles the local API reads from the running engine and watcher.
struct Running {
    sync: crate::sync::SyncHandle,
    watcher: crate::watch::StatusHandle,
}

/// What the local API's handlers share.
fn rpc_context(ctx: &Context, config: &Config, node: &str, running: Running) -> rpc::Rpc {
    let Running { sync, watcher } = running;
    rpc::Rpc {
        store: ctx.store.clone(),
        events: ctx.events.clone(),
        crypto: ctx.crypto.clone(),
        numhub: Some(Arc::new(port::Port::new(ctx, config, Some(sync.clone())))),
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
        watcher,
        connections: Default::default(),
        sync_anomalies: sync.anomalies.clone(),
        business_id_fields: config.audit.redact_fields.clone(),
        cluster_node: ctx.store.path().is_none().then(|| node.to_string()),
    }
}

/// The signals the daemon answers while it runs.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, DaemonError> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(io("SIGTERM handler"))?,
            int: signal(SignalKind::interrupt()).map_err(io("SIGINT handler"))?,
            hup: signal(SignalKind::hangup()).map_err(io("SIGHUP handler"))?,
        })
    }

    /// Serves until SIGTERM/SIGINT (None) or a task's death, reloading on SIGHUP;
    /// tells systemd the daemon is stopping, and why.
    async fn wait(
        &mut self,
        tasks: &mut supervise::Supervisor,
        source: &ConfigSource,
        running: &mut Config,
        log: &logging::LogHandle,
        access: &rpc::access::RulesSender,
    ) -> Option<supervise::Death> {
        let death = loop {
            tokio::select! {
                _ = self.term.recv() => { tracing::info!("SIGTERM: shutting down"); break None; }
                _ = self.int.recv() => { tracing::info!("SIGINT: shutting down"); break None; }
                _ = self.hup.recv() => reload(source, running, log, access),
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
        death
    }
}

/// What the one shutdown sequence takes down, in order.
struct Stopping {
    tasks: supervise::Supervisor,
    store: Store,
    node: String,
    leadership: cluster::Leadership,
    deadline: Duration,
    sandbox: Option<sandbox::Running>,
}

/// After shutdown fired: the tasks end (at most `deadline`), the lease is given
/// up, the store finishes its queued writes, the sandbox stops.
async fn stop(s: Stopping) -> Result<(), DaemonError> {
    let Stopping {
        tasks,
        store,
        node,
        leadership,
        deadline,
        sandbox,
    } = s;
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
    Ok(())
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
    let lease = cluster::run(
        store.clone(),
        options::cluster(config, node),
        publish,
        shutdown.clone(),
    );
    tasks.spawn(TaskName::Lease, lease);
    leadership
}

fn open_store(config: &Config, location: &db::Location) -> Result<Store, DaemonError> {
    if let db::Location::File(path) = location {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DaemonError::Io {
                what: format!("creating {}", dir.display()),
                source: e.into(),
            })?;
        }
    }
    Ok(Store::open_at(location, options::store(config))?)
}

/// Runs `f` on the blocking pool (a store that opens on a server waits on it).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DaemonError> + Send + 'static,
) -> Result<T, DaemonError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DaemonError::Io {
            what: "opening the store".into(),
            source: e.into(),
        })?
}

/// Where the config's store is: `[database] path`, or `url` with its password (read
/// now) and TLS.
pub fn database_location(config: &Config) -> Result<db::Location, DaemonError> {
    Ok(location_of(config.database.target()?))
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
                access.send(options::access_rules(&new));
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
    let changed = [
        ("database", old.database != new.database),
        ("rpc", old.rpc != new.rpc),
        ("numhub", old.numhub != new.numhub),
        ("drop", old.drop != new.drop),
        ("crypto", old.crypto != new.crypto),
        ("audit", old.audit != new.audit),
    ];
    changed
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> DaemonError {
    move |e| DaemonError::Io {
        what: what.to_string(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// What starting in `dir` fails with, when the config file is absent, the age
    /// identity is a folder (private, so only reading it fails) and the database's
    /// folder is missing.
    fn start_up_errors(dir: &Path) -> [Box<dyn Error>; 3] {
        let identity = dir.join("identity.txt");
        std::fs::create_dir(&identity).expect("folder");
        std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o700)).expect("mode");
        let database = crate::db::Location::File(dir.join("none/numhubd.db"));
        [
            crate::config::Config::load(&dir.join("absent.toml"))
                .expect_err("config")
                .into(),
            crate::crypto::Crypto::load(&identity, &[])
                .expect_err("identity")
                .into(),
            crate::db::Store::open_at(&database, Default::default())
                .err()
                .expect("store")
                .into(),
        ]
    }

    /// A failure keeps what caused it as its `source()`, not only its text.
    #[test]
    fn start_up_errors_keep_their_causes() {
        let dir = tempfile::tempdir().expect("dir");
        let [config, identity, store] =
            start_up_errors(dir.path()).map(|e| format!("{:?}", e.source()));
        assert!(config.starts_with("Some(Os {"), "{config}");
        assert!(identity.starts_with("Some(Os {"), "{identity}");
        assert!(store.starts_with("Some(SqliteFailure("), "{store}");
    }
}
