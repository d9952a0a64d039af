//! numhubd: keeps a SQLite replica of a BrandCall platform's NumHub BrandControl state,
//! serves it to co-located apps over a Unix socket, and syncs it with NumHub.
//!
//! Modules, each owning one concern:
//! - [`config`]: the TOML config file, `NUMHUBD_*` overrides, validation.
//! - [`crypto`]: age encryption of secrets at rest (tokens, credentials).
//! - [`db`]: the store (a SQLite file or a MySQL/MariaDB database) — migrations, the single writer, read pool, every SQL statement.
//! - [`daemon`]: wiring, signals (SIGTERM/SIGINT/SIGHUP), systemd notify and watchdog, logging.
//! - [`exit`]: process exit codes shared by both binaries.
//! - [`intake`]: the rules a file passes before it becomes a document (RPC and drop folder).
//! - [`numhub`]: the only code that speaks HTTP to NumHub — typed calls, tokens,
//!   pacing, retries, the audit trail.
//! - [`killpoint`]: named SIGKILL points for crash tests (`NUMHUBD_KILL_AT`).
//! - [`sync`]: the outbox and the poller (NumHub's values onto the seed's in `sync::mapping`).
//! - [`api`]: the local API's protocol (versions, error codes, result types), shared by
//!   numhubd and numhubctl.
//! - [`client`]: the local API client numhubctl uses.
//! - [`events`]: the in-process event bus behind `events.subscribe`.
//! - [`relay`]: events from every host sharing a server store, through the store.
//! - [`rpc`]: the local API on the Unix socket (JSON-RPC 2.0, jsonrpsee).
//! - [`shutdown`]: the signal every task receives and returns on.
//! - [`cluster`]: which node leads when several daemons share a server store (the lease).
//! - [`housekeeping`]: the periodic purges (expired tokens, done jobs, old audit rows).
//! - [`watch`]: the drop folder: files dropped per entity and type become uploads.
//! - [`userns`]: what a user namespace hides (the kernel's overflow uid/gid).
//! - [`mounts`]: what the service's mounts hide from its callers (systemd's `PrivateTmp=`).

pub mod api;
pub mod client;
pub mod cluster;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod db;
pub mod events;
pub mod exit;
pub mod housekeeping;
pub mod intake;
pub mod killpoint;
pub mod mounts;
pub mod numhub;
pub mod relay;
pub mod rpc;
pub mod shutdown;
pub mod sync;
pub mod userns;
pub mod watch;
