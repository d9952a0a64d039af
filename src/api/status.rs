//! `daemon.health` and `daemon.status`: what the daemon is and how it is doing.

use serde::{Deserialize, Serialize};

use crate::api::schema::time;
use crate::api::schema::{string_enum_schema, wire};
use crate::api::{methods, Method};

methods! {
    /// Is the daemon up; its version (the version handshake). Open to everyone.
    "daemon.health" => DaemonHealth(Empty) -> Health;
    /// Version, uptime, database, jobs by state, NumHub and the watcher.
    "daemon.status" => DaemonStatus(Empty) -> Status;
}

wire! { params
    /// A method without params.
    #[derive(Default, PartialEq)]
    pub struct Empty {}
}

wire! { result
    /// `daemon.health`. `ok` is false while `status` is `degraded`.
    #[derive(PartialEq)]
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

wire! { result
    /// One reason the daemon is degraded.
    #[derive(PartialEq, Eq)]
    pub struct Degraded {
        /// What cannot work: `database` (it refuses writes).
        pub component: DegradedComponent,
        /// The cause, e.g. SQLite's "database or disk is full".
        pub cause: String,
        /// Since when (RFC 3339, UTC).
        pub since: String = time(),
    }
}

/// The part of the daemon a [`Degraded`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegradedComponent {
    /// The database refuses writes: nothing is saved, uploads whose outcome could
    /// not be recorded are settled once it takes writes again.
    Database,
}

wire! { result
    /// `daemon.status`. NumHub fields are null until the NumHub client reports them.
    #[derive(PartialEq)]
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
}

wire! { result
    /// `daemon.status`'s `cluster`: who leads the daemons sharing one server store.
    #[derive(PartialEq)]
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
}

wire! { result
    #[derive(PartialEq)]
    pub struct ClusterNode {
        pub node: String,
        pub last_seen: String,
    }
}

wire! { result
    /// The drop folder's watcher in `daemon.status`.
    #[derive(Default, PartialEq)]
    pub struct WatcherStatus {
        pub state: WatcherState,
        /// The drop folder.
        pub dir: String,
        /// Files seen in the inbox and not yet taken, refused or moved.
        pub backlog: u64,
        /// The newest problem with the folder itself or a file (null: none since start).
        pub last_error: Option<String>,
    }
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

wire! { result
    /// One blocked NumHub login in `daemon.status`.
    #[derive(PartialEq)]
    pub struct BlockedLogin {
        pub account: String,
        pub reason: String,
        pub status_code: Option<u16>,
        pub since: String,
    }
}

string_enum_schema! {
    HealthState => &["ok", "degraded"],
    DegradedComponent => &["database"],
    WatcherState => &["starting", "watching", "unavailable", "stopped"],
}
