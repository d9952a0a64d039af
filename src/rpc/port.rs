//! The seam to NumHub for the methods that must ask it now (token refresh, OTP,
//! entity refresh, a sync run, key rotation, the LOA template). The RPC holds an
//! `Option<Arc<dyn NumhubPort>>`; while it is None those methods answer
//! "NumHub unavailable". `daemon::port` implements it over the NumHub client and
//! the sync engine.
//!
//! Each operation has its own result type, and every failure says what happened
//! ([`PortError`]); `rpc::error` gives each its JSON-RPC code, once.

use std::future::Future;
use std::pin::Pin;

use crate::db::entities::Entity;
use crate::db::DbError;

/// How a call through the seam failed.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// NumHub answered and refused (a 4xx, or a login it rejected earlier and that
    /// stays blocked); its status, when there was one, and its message are passed on.
    #[error("NumHub rejected the request: {message}")]
    Refused {
        status: Option<u16>,
        message: String,
    },
    /// NumHub could not be reached (or kept failing, or is rate-limiting us); retry
    /// later.
    #[error("{reason}")]
    Unreachable { reason: String },
    /// The tenant's callers used up their share of NumHub calls for this minute
    /// (`[numhub] tenant_interactive_per_min`); the reason says when to try again.
    #[error("{reason}")]
    Busy { reason: String },
    /// This tenant cannot talk to NumHub as configured (no credentials, no
    /// `numhub_client_id`), or nothing that talks to NumHub runs in this daemon.
    #[error("{reason}")]
    NotConfigured { reason: String },
    /// The entity's create has not reached NumHub yet: it has no NumHub id to act on.
    #[error("entity {entity_id} has no NumHub id yet: its create is still queued")]
    NotAtNumhub { entity_id: String },
    /// A param that the schema let through but the operation cannot use.
    #[error("{field}: {reason}")]
    InvalidParams { field: &'static str, reason: String },
    /// Reading or writing the local database (a missing row is `DbError::NotFound`).
    #[error(transparent)]
    Db(#[from] DbError),
    /// `keys.rotate` could not complete (the identity comes from systemd, a staged
    /// identity is left over, a file could not be written…). Stored secrets stay
    /// readable: see `numhub::rotate`.
    #[error("key rotation failed: {reason}")]
    KeyRotation { reason: String },
    /// A file numhubd must write into the drop folder (the LOA template) could not
    /// be written; the reason names the path.
    #[error("{reason}")]
    DropFolder { reason: String },
    /// Something on our side that should not happen (an id NumHub gave us that is
    /// not a uuid); logged, not shown.
    #[error("{0}")]
    Internal(String),
}

// What each operation answers: the wire types of `api`, so the daemon's port and
// numhubctl read the same declaration.
pub use crate::api::{
    CheckVerdict, KeysRotated, LoaTemplate, NumhubCheck, OtpSent, OtpVerified, SyncStarted,
    TenantCheck, TokenRefreshed,
};

/// A secret a caller passed (the applicant's one-time code, a NumHub password): never
/// logged, never stored in clear, no `Debug`.
pub struct SecretText(String);

impl SecretText {
    pub fn new(code: String) -> SecretText {
        SecretText(code)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

pub type PortFuture<T> = Pin<Box<dyn Future<Output = Result<T, PortError>> + Send>>;

/// What the RPC asks NumHub to do now. Params are already validated and the
/// tenant and entity exist.
pub trait NumhubPort: Send + Sync {
    /// A new token for the tenant's account (or the global one).
    fn token_refresh(&self, tenant_id: Option<i64>) -> PortFuture<TokenRefreshed>;

    fn otp_generate(&self, tenant_id: i64, entity_id: String, resend: bool) -> PortFuture<OtpSent>;

    fn otp_verify(
        &self,
        tenant_id: i64,
        entity_id: String,
        otp: SecretText,
    ) -> PortFuture<OtpVerified>;

    /// Fetches the entity from NumHub and applies it; the row as it now is.
    fn entity_refresh(&self, tenant_id: i64, entity_id: String) -> PortFuture<Entity>;

    /// Polls the tenant now (every enabled tenant when None) and looks for due jobs.
    fn sync_run(&self, tenant_id: Option<i64>) -> PortFuture<SyncStarted>;

    fn keys_rotate(&self) -> PortFuture<KeysRotated>;

    /// Stores the tenant's own NumHub login (encrypted), drops the token and login
    /// block its account had, so the next call logs in with it.
    fn credentials_set(
        &self,
        tenant_id: i64,
        email: String,
        password: SecretText,
    ) -> PortFuture<()>;

    /// Logs in afresh and compares each tenant's client id (one tenant, or all) with
    /// the clients NumHub lists for its account.
    fn numhub_check(&self, tenant_id: Option<i64>) -> PortFuture<NumhubCheck>;

    /// Downloads the entity's LOA template and writes it into its drop folder
    /// (`watch::layout::TEMPLATE`), replacing any earlier one atomically.
    fn loa_template(&self, tenant_id: i64, entity_id: String) -> PortFuture<LoaTemplate>;

    /// A job was just queued: the outbox may start on it now instead of at its next
    /// poll. Without a sync engine there is nothing to wake.
    fn jobs_queued(&self) {}
}
