//! The governor of a server store several hosts share: one budget per NumHub
//! account for all of them, kept in the store (`db::budget`).
//!
//! Why in the store: NumHub counts one limit per account, whichever host sends, and
//! each host's own count would let them together send a multiple of it (and be
//! answered 429). So every request start is one short transaction on the account's
//! budget row — its lock makes hosts take starts one at a time — that drops the
//! starts older than a span, counts the rest, and records its own start before the
//! request leaves. Times are the database server's (`NOW(6)`), so hosts whose clocks
//! disagree still count one span.
//!
//! What follows from that: a start is recorded before it is sent, so a restarted or
//! newly started host sees every start of the last span — no resume from the audit
//! table and no probe, which the in-memory governor needs because its starts die with
//! it. A start recorded but never sent (its host died) costs one permit until its
//! span passes, never more. A 429 and NumHub's `requests-remaining` are kept on the
//! same row, so one host's answer paces all of them.
//!
//! Interactive first across hosts: a refused interactive caller leaves a mark
//! (`numhub_budget_waiters`) that expires shortly after its next look, and a
//! background start yields while any live mark exists; the mark goes when its caller
//! takes a start. So when nobody interactive waits, background uses the whole budget.
//! Within one host only one background caller at a time looks at the store (the
//! others queue behind it here), so a backlog costs one query per freed permit and
//! host, not one per waiting task.
//!
//! A store that does not answer within [`STORE_ANSWER`] fails the start with
//! `DbError::Unavailable`: the caller gets an error instead of hanging.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Priority;
use crate::db::budget::{self, Start, StartRequest};
use crate::db::{DbError, Store};

/// How long a request start waits for the store before it fails.
pub const STORE_ANSWER: Duration = Duration::from_secs(10);

/// How long a waiting interactive caller's mark outlives its next look: a caller
/// that vanished holds background back no longer than this.
const WAITER_GRACE: Duration = Duration::from_millis(250);

/// How soon a background caller that yielded to an interactive one looks again.
const YIELD_LOOK: Duration = Duration::from_millis(10);

/// The longest a refused caller sleeps before it looks again.
const MAX_SLEEP: Duration = Duration::from_secs(5);

pub struct Shared {
    store: Store,
    /// The account's key in the store: a digest of the login, not the email.
    account: String,
    limit: u32,
    window: Duration,
    /// Held by this host's background caller that is looking at the store.
    background: tokio::sync::Mutex<()>,
}

/// The store's key for the login `email`.
pub fn account_key(email: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"numhubd budget account v1\0");
    h.update(email.to_ascii_lowercase().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes a cancelled interactive caller's mark, so background does not wait out
/// its grace.
struct Mark<'a> {
    governor: &'a Shared,
    waiter: String,
    set: bool,
}

impl Drop for Mark<'_> {
    fn drop(&mut self) {
        if !self.set {
            return;
        }
        let (store, account, waiter) = (
            self.governor.store.clone(),
            self.governor.account.clone(),
            self.waiter.clone(),
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = store
                    .write(move |tx| budget::stop_waiting(tx, &account, &waiter))
                    .await;
            });
        }
    }
}

impl Shared {
    pub fn new(store: Store, email: &str, limit: u32, window: Duration) -> Shared {
        Shared {
            store,
            account: account_key(email),
            limit,
            window,
            background: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for a permit to send one request, taken in the store.
    pub async fn acquire(&self, priority: Priority) -> Result<(), DbError> {
        if self.limit == 0 {
            return Ok(());
        }
        let interactive = priority == Priority::Interactive;
        let _turn = match interactive {
            true => None,
            false => Some(self.background.lock().await),
        };
        let mut mark = Mark {
            governor: self,
            waiter: uuid::Uuid::new_v4().to_string(),
            set: false,
        };
        let request = StartRequest {
            account: self.account.clone(),
            limit: self.limit,
            span: super::span(self.window),
            interactive,
            waiter: mark.waiter.clone(),
            waiter_grace: WAITER_GRACE,
        };
        loop {
            let sleep = match self.take(&request).await? {
                Start::Taken => {
                    // The store dropped the mark with the start.
                    mark.set = false;
                    return Ok(());
                }
                Start::Wait(wait) => {
                    mark.set |= interactive;
                    wait.min(MAX_SLEEP)
                }
                Start::Yield => YIELD_LOOK,
            };
            tokio::time::sleep(sleep).await;
        }
    }

    async fn take(&self, request: &StartRequest) -> Result<Start, DbError> {
        let r = request.clone();
        let write = self.store.write(move |tx| budget::take_start(tx, &r));
        match answered(
            &self.store,
            "a NumHub request start (the shared budget)",
            write,
        )
        .await
        {
            // The server ended it to break a deadlock with another host's batch:
            // nothing was taken, look again.
            Err(e) if budget::may_retry(&e) => Ok(Start::Yield),
            other => other,
        }
    }

    /// Learns from an answer for every host: a 429 pauses the account for a span;
    /// `requests-remaining` lowers what is left. A store that cannot take it is
    /// logged: the answer itself is already in.
    pub async fn observe(&self, status: Option<u16>, remaining: Option<u32>) {
        if self.limit == 0 {
            return;
        }
        let (account, span) = (self.account.clone(), super::span(self.window));
        let told = match (status, remaining) {
            (Some(429), _) => None,
            (_, Some(r)) => Some(r),
            _ => return,
        };
        let write = self.store.write(move |tx| match told {
            None => budget::pause(tx, &account, span),
            Some(r) => budget::told(tx, &account, r, span),
        });
        if let Err(e) = answered(&self.store, "NumHub's answer (the shared budget)", write).await {
            tracing::warn!(error = %e, "could not record NumHub's answer in the shared budget");
        }
    }
}

/// [`super::TenantBudget::spend`] on the store: counted across hosts.
pub async fn spend_share(
    store: &Store,
    tenant_id: i64,
    per_min: u32,
) -> Result<Option<Duration>, DbError> {
    let write = store.write(move |tx| budget::spend_share(tx, tenant_id, per_min));
    answered(store, "a tenant's interactive share", write).await
}

/// `write`'s answer, or [`DbError::Unavailable`] naming `what` once it has taken
/// [`STORE_ANSWER`]: a store that does not answer must not hang a NumHub call.
pub async fn answered<T>(
    store: &Store,
    what: &str,
    write: impl std::future::Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    match tokio::time::timeout(STORE_ANSWER, write).await {
        Ok(result) => result,
        Err(_) => Err(DbError::Unavailable {
            what: store.location().shown(),
            source: format!("{what} had no answer within {} s", STORE_ANSWER.as_secs()).into(),
        }),
    }
}
