//! The local API's protocol, shared by numhubd and numhubctl (one definition, so the
//! two cannot drift): version numbers, error codes, and the result types both sides
//! read. Method names and parameter schemas live in `rpc::methods` and are published
//! by `rpc.discover`.

use serde::{Deserialize, Serialize};

/// Bumped when a method or a result changes incompatibly. numhubctl compares it with
/// the daemon's on first contact.
pub const API_VERSION: u32 = 1;

/// The daemon's version (the crate version both binaries are built from).
pub const DAEMON_VERSION: &str = env!("CARGO_PKG_VERSION");

/// JSON-RPC error codes. The standard ones, then the application's.
pub mod codes {
    pub const PARSE_ERROR: i32 = -32700;
    pub const INVALID_REQUEST: i32 = -32600;
    pub const METHOD_NOT_FOUND: i32 = -32601;
    pub const INVALID_PARAMS: i32 = -32602;
    pub const INTERNAL: i32 = -32603;
    /// The caller's role or tenants do not cover the call. Nothing was done.
    pub const FORBIDDEN: i32 = -32003;
    /// jsonrpsee's own: a request body over `[rpc] max_body_bytes`.
    pub const OVERSIZED_REQUEST: i32 = -32007;
    /// jsonrpsee's own: an answer over `[rpc] max_response_bytes`; numhubd also gives
    /// it to each call of a batch whose answer no longer fits with the others'.
    pub const OVERSIZED_RESPONSE: i32 = -32008;
    /// jsonrpsee's own: a batch over `[rpc] max_batch`.
    pub const TOO_BIG_BATCH: i32 = -32010;
    /// The row (or the parent named in `data`) does not exist for this tenant.
    pub const NOT_FOUND: i32 = -32020;
    /// An illegal status transition, or a value already taken.
    pub const CONFLICT: i32 = -32021;
    /// `[rpc] max_requests_per_sec`, `max_connections` or `max_connections_per_uid`
    /// exceeded: slow down.
    pub const LIMIT_EXCEEDED: i32 = -32022;
    /// A subscription was asked over plain HTTP: connect with WebSocket.
    pub const SUBSCRIPTION_NEEDS_WEBSOCKET: i32 = -32023;
    /// NumHub refused the request; `data.numhub_message` says why.
    pub const NUMHUB_REJECTED: i32 = -32030;
    /// NumHub cannot be reached now (or the client is not wired), or the database
    /// cannot: nothing was done; queued work is retried, and the call can be repeated.
    /// (A `wait_s` that runs out is not an error: the answer's `sync` shows the job.)
    pub const NUMHUB_UNAVAILABLE: i32 = -32031;
    /// `keys.rotate` could not complete (`message` says why: the identity comes from
    /// systemd, a staged `identity.txt.new` is left over, a file could not be
    /// written). Stored secrets stay readable with the identities on disk.
    pub const KEY_ROTATION_FAILED: i32 = -32040;
    /// numhubd could not write into the drop folder (the LOA template); the message
    /// names the path and the cause (permissions, a full disk).
    pub const DROP_FOLDER_UNWRITABLE: i32 = -32041;
    /// `daemon.backup` could not write its copy (a full disk, an I/O error; the
    /// message names the path and the cause). No file has the asked name. A PATH
    /// refused before anything was written is `INVALID_PARAMS` on `path`.
    pub const BACKUP_FAILED: i32 = -32042;
    /// The database refuses writes (its disk is full, or an I/O error): nothing of
    /// the call was written, and it can be repeated as is once space is back.
    /// `daemon.health` shows the cause while it lasts. Not `INTERNAL`: the caller can
    /// tell an operator what to fix, and knows that retrying later is safe.
    pub const STORE_REFUSES_WRITES: i32 = -32043;
}

/// What a caller may do over the socket, and what a method needs. Ordered: admin
/// may do what write may, write what read may. `[[access]]` rules grant one of
/// read, write or admin; `None` is what a connection matching no rule has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// No rule matched: only `daemon.health` (the version handshake).
    None,
    Read,
    Write,
    Admin,
}

impl Role {
    /// The roles an `[[access]]` rule may grant, as the config file spells them.
    pub const GRANTABLE: [Role; 3] = [Role::Read, Role::Write, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// A role a rule may grant, by its name; `none` is not one (no rule is needed
    /// for that).
    pub fn grantable(name: &str) -> Option<Role> {
        Role::GRANTABLE.into_iter().find(|r| r.as_str() == name)
    }
}

/// `daemon.health`. `ok` is false while `status` is `degraded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    /// Absent from a daemon older than this field: read as `ok`.
    #[serde(default)]
    pub status: HealthState,
    /// Why the daemon is degraded (empty when `ok`).
    #[serde(default)]
    pub degraded: Vec<Degraded>,
    pub daemon_version: String,
    pub api_version: u32,
}

/// Whether the daemon can do its work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    #[default]
    Ok,
    /// Up and answering, but a part of it cannot do its work (see `degraded`).
    Degraded,
}

/// One reason the daemon is degraded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Degraded {
    /// What cannot work: `database` (it refuses writes).
    pub component: DegradedComponent,
    /// The cause, e.g. SQLite's "database or disk is full".
    pub cause: String,
    /// Since when (RFC 3339, UTC).
    pub since: String,
}

/// The part of the daemon a [`Degraded`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegradedComponent {
    /// The database refuses writes: nothing is saved, uploads whose outcome could
    /// not be recorded are settled once it takes writes again.
    Database,
}

/// `daemon.status`. NumHub fields are null until the NumHub client reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// As in [`Health`]: `degraded` while a part of the daemon cannot do its work.
    #[serde(default)]
    pub status: HealthState,
    #[serde(default)]
    pub degraded: Vec<Degraded>,
    pub daemon_version: String,
    pub api_version: u32,
    pub uptime_s: u64,
    pub schema_version: i64,
    pub db_size_bytes: i64,
    /// Jobs per state present (`queued`, `running`, `failed`, `waiting`, `dead`,
    /// `needs_attention`, `done`).
    pub jobs: std::collections::BTreeMap<String, i64>,
    /// Whether NumHub answered the newest exchange (null before any): false when it
    /// failed to connect or got a 5xx.
    pub numhub_reachable: Option<bool>,
    /// Not reported yet: the governor keeps it per account in memory.
    pub numhub_rate_budget: Option<u32>,
    /// The global account's token expiry (never the token).
    pub token_expires_at: Option<String>,
    /// The drop folder's watcher (null when none runs, e.g. in tests building the
    /// server alone).
    pub watcher: Option<WatcherStatus>,
    pub connections: u64,
    /// Logins NumHub rejected, with why: no attempt is made until credentials change
    /// or an operator retries (`token.refresh`).
    pub blocked_logins: Vec<BlockedLogin>,
    /// Values NumHub sent that the replica could not hold (kept out of rows), since start.
    pub sync_anomalies: u64,
    /// The daemons sharing a server store and which of them leads; null on SQLite.
    #[serde(default)]
    pub cluster: Option<ClusterStatus>,
}

/// `daemon.status`'s `cluster`: who leads the daemons sharing one server store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// This daemon's `[cluster] node`.
    pub node: String,
    /// The node holding the lease; null while none holds it.
    pub leader: Option<String>,
    /// Grows at each change of leader.
    pub epoch: i64,
    /// When the lease runs out unless renewed (the database server's clock).
    pub lease_expires_at: Option<String>,
    /// Every node that has run on this database.
    pub nodes: Vec<ClusterNode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub node: String,
    pub last_seen: String,
}

/// `daemon.backup`: the copy numhubd wrote (mode 0600, owned by numhubd's user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupTaken {
    /// Where the copy is.
    pub path: String,
    pub size_bytes: u64,
    /// The instant it holds: every commit before it is in the copy, none after.
    pub taken_at: String,
    /// The database it was taken from.
    pub source: String,
}

/// The drop folder's watcher in `daemon.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatcherStatus {
    pub state: WatcherState,
    /// The drop folder.
    pub dir: String,
    /// Files seen in the inbox and not yet taken, refused or moved.
    pub backlog: u64,
    /// The newest problem with the folder itself or a file (null: none since start).
    pub last_error: Option<String>,
}

/// What the watcher is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatcherState {
    /// Not started yet.
    #[default]
    Starting,
    /// Watching the folder.
    Watching,
    /// The folder is missing or cannot be written; looked at again periodically.
    Unavailable,
    /// Stopped (shutdown).
    Stopped,
}

/// One blocked NumHub login in `daemon.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockedLogin {
    pub account: String,
    pub reason: String,
    pub status_code: Option<u16>,
    pub since: String,
}

/// The `sync` object of a row with changes still on their way to NumHub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    pub job_id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// A page of a list method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
