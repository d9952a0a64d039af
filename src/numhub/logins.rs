//! One login at a time per account across the hosts sharing a server store.
//!
//! Within a process the account's token slot already makes concurrent callers share
//! one login. Across hosts that is not enough: each would log in, spending the budget
//! and replacing the others' tokens. So a host first takes the account's login lease
//! (`numhub_login_leases`, on the server's clock); the others wait and take the token
//! it stores (encrypted, as every host shares the identity). The holder renews the
//! lease while its login runs, and the lease is short, so a host that dies mid-login
//! holds the account for at most [`LEASE`].

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::governor::shared::answered;
use super::tokens::{Account, CachedToken, Credentials};
use super::{governor::Priority, Client, NumhubError};
use crate::db;

/// How long a login lease holds without renewal: well inside the failover promise, so
/// a leader killed mid-login does not hold the next one's first request back.
const LEASE: Duration = Duration::from_secs(3);

/// How often the holder renews it while its login runs.
const RENEW: Duration = Duration::from_secs(1);

/// How often a waiting host looks for the holder's token.
const LOOK: Duration = Duration::from_millis(100);

impl Client {
    /// Logs `account` in, or waits for the host that is doing so and takes its token.
    /// `since`: only a token stored after it counts (an operator asked for a new one).
    pub(super) async fn login_once(
        &self,
        account: &Account,
        creds: &Credentials,
        priority: Priority,
        since: Option<DateTime<Utc>>,
    ) -> Result<CachedToken, NumhubError> {
        let key = account.key();
        let holder = uuid::Uuid::new_v4().to_string();
        loop {
            if self.take_lease(&key, &holder).await? {
                let result = match self.stored_token(account, since).await {
                    // Stored by a host that held the lease just before.
                    Ok(Some(token)) => Ok(token),
                    Ok(None) => {
                        self.login_holding(&key, &holder, account, creds, priority)
                            .await
                    }
                    Err(e) => Err(e),
                };
                self.release_lease(&key, &holder).await;
                return result;
            }
            tokio::time::sleep(LOOK).await;
            if let Some(token) = self.stored_token(account, since).await? {
                return Ok(token);
            }
            // The holder's login may have been rejected: its block answers us too.
            self.check_block(account, creds).await?;
        }
    }

    /// The login itself, renewing the lease until it ends.
    async fn login_holding(
        &self,
        key: &str,
        holder: &str,
        account: &Account,
        creds: &Credentials,
        priority: Priority,
    ) -> Result<CachedToken, NumhubError> {
        let login = self.login(account, creds, priority);
        tokio::pin!(login);
        let mut renew = tokio::time::interval(RENEW);
        renew.tick().await;
        loop {
            tokio::select! {
                result = &mut login => return result,
                _ = renew.tick() => {
                    if !self.take_lease(key, holder).await? {
                        tracing::warn!(account = %key, "the login lease passed to another host during a login");
                    }
                }
            }
        }
    }

    async fn take_lease(&self, key: &str, holder: &str) -> Result<bool, NumhubError> {
        let (k, h) = (key.to_string(), holder.to_string());
        let store = &self.inner.store;
        let write = store.write(move |tx| db::budget::take_login(tx, &k, &h, LEASE));
        Ok(answered(store, "a NumHub login lease", write).await?)
    }

    /// Best effort: a lease not given back expires by itself.
    async fn release_lease(&self, key: &str, holder: &str) {
        let (k, h) = (key.to_string(), holder.to_string());
        let store = &self.inner.store;
        let write = store.write(move |tx| db::budget::release_login(tx, &k, &h));
        if let Err(e) = answered(store, "a NumHub login lease", write).await {
            tracing::warn!(account = %key, error = %e, "could not give the login lease back; it expires by itself");
        }
    }
}
