//! What a NumHub call can end in. Messages never carry a secret: no token, password,
//! OTP or query string (reqwest errors are stripped of their URL before they get here).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum NumhubError {
    /// NumHub refused the request (a 4xx other than 401/429): not retried. `message`
    /// is NumHub's `{"message": …}` when it sent one.
    #[error("NumHub answered {status} to {endpoint}: {}", message.as_deref().unwrap_or("(no message)"))]
    Rejected {
        status: u16,
        endpoint: String,
        message: Option<String>,
    },
    /// Still failing after every attempt (5xx, 429, connect errors, timeouts).
    #[error("{endpoint}: gave up after {attempts} attempts; last: {last}")]
    Exhausted {
        endpoint: String,
        attempts: u32,
        last: String,
    },
    /// A 401 right after a fresh login.
    #[error("{endpoint}: NumHub refused a freshly issued token (401)")]
    Unauthorized { endpoint: String },
    /// NumHub rejected the account's login (400/403 at the token operation); no
    /// further attempt until its credentials change or an operator retries.
    #[error("NumHub login for {account} is blocked: {reason} (change the credentials or retry the login)")]
    LoginBlocked { account: String, reason: String },
    /// No credentials for this tenant and no global account configured.
    #[error("no NumHub credentials for {account}: set [numhub] email/password_file or the tenant's credentials")]
    NoCredentials { account: String },
    /// The tenant's callers used up their share of interactive calls for this minute.
    #[error("tenant {tenant_id} has started its {limit} NumHub calls of the last minute ([numhub] tenant_interactive_per_min); try again in {retry_after_secs} s")]
    TenantBudget {
        tenant_id: i64,
        limit: u32,
        retry_after_secs: u64,
    },
    /// The tenant cannot be sent to NumHub (unknown, or no `numhub_client_id`).
    #[error("tenant {tenant_id}: {reason}")]
    Tenant { tenant_id: i64, reason: String },
    /// A create whose outcome could not be established: the request may or may not
    /// have created the application, and the attestation list could not settle it.
    /// Resending could duplicate it, so nothing was resent.
    #[error(
        "create of {company_name:?}: outcome unknown ({reason}); not resent to avoid a duplicate"
    )]
    OutcomeUnknown {
        company_name: String,
        reason: String,
    },
    /// A 2xx whose body is not what the document declares.
    #[error("{endpoint}: unexpected answer: {reason}")]
    Decode { endpoint: String, reason: String },
    /// A local file to upload could not be read.
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("building the HTTP client: {0}")]
    Setup(String),
    /// A stored secret this host's age identity cannot open: the store was written
    /// with another identity (another host's, or before a restore).
    #[error("{what} cannot be decrypted with this host's age identity ({public_key}, from {identity}): {reason}. The store's secrets were encrypted to another identity; every host sharing a store needs the same one: install the identity of the hosts that wrote it (the identity file or the systemd credential age-identity) and start again. Nothing was changed")]
    ForeignIdentity {
        what: String,
        public_key: String,
        identity: String,
        reason: String,
    },
    /// A leader's request not sent: its term ended first (see `Client::gated`).
    #[error(
        "not sent: this node stopped leading the cluster; the next leader carries the work on"
    )]
    NotLeading,
    #[error("database: {0}")]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl NumhubError {
    /// NumHub's HTTP status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            NumhubError::Rejected { status, .. } => Some(*status),
            NumhubError::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }
}
