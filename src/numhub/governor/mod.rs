//! The rate governor: paces every NumHub request of an account so that NumHub's
//! limit (100 a minute) is never exceeded, serving interactive callers first.
//!
//! Two engines behind one shape, chosen once where the client is built: a store one
//! daemon owns (SQLite) keeps the budget in memory ([`local`]); a server store that
//! several hosts share keeps it in the store, since NumHub counts one limit per
//! account whichever host sends ([`shared`]). Both follow the same rule: a sliding
//! span a little longer than NumHub's window ([`span`]), NumHub's
//! `requests-remaining`, a pause after a 429, interactive before background. Each
//! tenant's share of the interactive calls ([`TenantBudget`]) follows the store too.

pub mod local;
pub mod shared;

use std::time::Duration;

use crate::db::{DbError, Store};

/// Who is waiting: a person at the socket, or the sync engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Interactive,
    Background,
}

/// How long a request counts against the limit: NumHub's window plus a margin,
/// because a request starts here a little before NumHub counts it.
pub fn span(window: Duration) -> Duration {
    window + window / 20 + Duration::from_millis(100)
}

/// One account's pacing.
pub enum Governor {
    Local(local::Local),
    Shared(shared::Shared),
}

impl Governor {
    /// An in-memory governor; `limit` 0 turns pacing off.
    pub fn new(limit: u32, window: Duration) -> Governor {
        Governor::Local(local::Local::new(limit, window))
    }

    /// An in-memory governor resuming what a previous process spent
    /// ([`local::Local::resumed`]).
    pub fn resumed(limit: u32, window: Duration, started: Vec<tokio::time::Instant>) -> Governor {
        Governor::Local(local::Local::resumed(limit, window, started))
    }

    /// A governor over the budget kept in `store` for the login `email`, shared with
    /// every daemon on that store.
    pub fn shared(store: Store, email: &str, limit: u32, window: Duration) -> Governor {
        Governor::Shared(shared::Shared::new(store, email, limit, window))
    }

    /// Waits for a permit to send one request. Only a shared budget can fail: the
    /// store did not answer ([`DbError::Unavailable`] when it took too long).
    pub async fn acquire(&self, priority: Priority) -> Result<(), DbError> {
        match self {
            Governor::Local(g) => {
                g.acquire(priority).await;
                Ok(())
            }
            Governor::Shared(g) => g.acquire(priority).await,
        }
    }

    /// Learns from an answer: `requests-remaining` (when sent) and 429.
    pub async fn observe(&self, status: Option<u16>, remaining: Option<u32>) {
        match self {
            Governor::Local(g) => g.observe(status, remaining),
            Governor::Shared(g) => g.observe(status, remaining).await,
        }
    }
}

/// Each tenant's share of the calls its callers start over the socket. The governor
/// paces the account for everyone; this keeps one tenant's callers from taking all
/// of it — on every host together when the store is shared.
pub enum TenantBudget {
    Local(local::LocalShares),
    Shared(Store),
}

impl TenantBudget {
    /// Takes one of the tenant's `per_min` starts: `Ok(None)`, or `Ok(Some(wait))`
    /// when they are used up and the next frees in `wait`.
    pub async fn spend(&self, tenant_id: i64, per_min: u32) -> Result<Option<Duration>, DbError> {
        match self {
            TenantBudget::Local(shares) => Ok(shares.spend(tenant_id, per_min).err()),
            TenantBudget::Shared(store) => shared::spend_share(store, tenant_id, per_min).await,
        }
    }
}
