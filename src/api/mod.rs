//! The local API's protocol, shared by numhubd and numhubctl (one definition, so the
//! two cannot drift): version numbers, error codes, roles, and one marker type per
//! method ([`Method`]) naming it and its params and result types. The files below
//! mirror `src/rpc/`: a resource group's wire types, each with the [`Schema`] the
//! daemon validates with and `rpc.discover` publishes (declared together by
//! [`wire!`](schema::wire)). Nothing here knows the daemon: `rpc` converts between
//! these types and `db`'s.

use serde::de::DeserializeOwned;
use serde::Serialize;

pub mod backup;
pub mod documents;
pub mod entities;
pub mod events;
pub mod identities;
pub mod operations;
pub mod rows;
pub mod schema;
pub mod status;
pub mod tenancy;

pub use backup::*;
pub use documents::*;
pub use entities::*;
pub use events::*;
pub use identities::*;
pub use operations::*;
pub use rows::*;
pub use schema::{Schema, WireEnum};
pub use status::*;
pub use tenancy::*;

/// One method of the local API: its name on the wire and its params and result
/// types. The daemon's table registers its handler from it (`rpc::methods`) and
/// numhubctl calls it with `Client::request::<M>`, so a change to either type is a
/// compile error on both sides.
pub trait Method {
    /// The JSON-RPC method name, e.g. `tenant.list`.
    const NAME: &'static str;
    type Params: Serialize + DeserializeOwned + Schema;
    type Result: Serialize + DeserializeOwned + Schema;
}

/// A subscription (over WebSocket): its name, params, the method that ends it, and
/// what each notification carries.
pub trait Subscription {
    const NAME: &'static str;
    /// The notification method each item arrives as.
    const NOTIFICATION: &'static str;
    const UNSUBSCRIBE: &'static str;
    type Params: Serialize + DeserializeOwned + Schema;
    type Item: Serialize + DeserializeOwned;
}

/// Declares the marker type of each method: `name => Marker(Params) -> Result`.
macro_rules! methods {
    ($($(#[$m:meta])* $name:literal => $marker:ident($params:ty) -> $result:ty;)+) => {
        $(
            $(#[$m])*
            #[derive(Debug, Clone, Copy)]
            pub struct $marker;

            impl Method for $marker {
                const NAME: &'static str = $name;
                type Params = $params;
                type Result = $result;
            }
        )+
    };
}
pub(crate) use methods;

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

/// A secret a caller passes (a NumHub password, the applicant's one-time code): a
/// string on the wire, `[redacted]` in `Debug`, so no log of a params value shows it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Schema for Secret {
    fn schema() -> serde_json::Value {
        serde_json::json!({"type": "string"})
    }
}
