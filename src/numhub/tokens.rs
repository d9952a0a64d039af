//! Accounts, credentials and bearer tokens: "get a valid token, refresh if needed".
//!
//! One slot per account (the global one, or a tenant with its own login) behind an
//! async mutex: a caller that finds the token missing or near expiry refreshes it
//! while holding the slot, so concurrent callers wait for that one refresh (single
//! flight). Tokens are kept in memory and, age-encrypted, in `numhub_tokens`, so a
//! restart reuses them. A login NumHub rejects blocks the account
//! (`numhub_login_blocks`) until its credentials change or an operator retries.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A secret string: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A NumHub login.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: Secret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The email is personal data and names the account; keep it out of logs too.
        f.write_str("Credentials([redacted])")
    }
}

/// Whose login a call uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    Global,
    Tenant(i64),
}

impl Account {
    /// The `numhub_login_blocks.account` spelling.
    pub fn key(&self) -> String {
        match self {
            Account::Global => "global".into(),
            Account::Tenant(t) => format!("tenant:{t}"),
        }
    }

    /// `numhub_tokens.tenant_id`: NULL for the global account.
    pub fn tenant_id(&self) -> Option<i64> {
        match self {
            Account::Global => None,
            Account::Tenant(t) => Some(*t),
        }
    }

    pub fn parse(key: &str) -> Option<Account> {
        if key == "global" {
            return Some(Account::Global);
        }
        key.strip_prefix("tenant:")?
            .parse()
            .ok()
            .map(Account::Tenant)
    }
}

/// A token in memory.
#[derive(Clone)]
pub struct CachedToken {
    pub token: Secret,
    pub refresh_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl CachedToken {
    /// `margin` is the fraction of the token's life left when it is renewed.
    pub fn new(
        token: Secret,
        issued: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        margin: f64,
    ) -> CachedToken {
        let life = (expires_at - issued).num_milliseconds().max(0) as f64;
        let refresh_at = expires_at - chrono::Duration::milliseconds((life * margin) as i64);
        CachedToken {
            token,
            refresh_at,
            expires_at,
        }
    }

    pub fn usable(&self, now: DateTime<Utc>) -> bool {
        now < self.refresh_at && now < self.expires_at
    }
}

/// Why an account cannot log in, for `daemon.status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginStatus {
    pub account: String,
    pub blocked: bool,
    pub reason: Option<String>,
    pub status_code: Option<u16>,
    pub since: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_debug_print() {
        let c = Credentials {
            email: "a@b.c".into(),
            password: Secret::new("hunter2"),
        };
        let s = format!("{c:?} {:?}", c.password);
        assert!(!s.contains("hunter2") && !s.contains("a@b.c"), "{s}");
    }

    #[test]
    fn refresh_margin_is_a_fraction_of_life() {
        let now = Utc::now();
        let t = CachedToken::new(
            Secret::new("x"),
            now,
            now + chrono::Duration::seconds(100),
            0.1,
        );
        assert!(t.usable(now + chrono::Duration::seconds(89)));
        assert!(!t.usable(now + chrono::Duration::seconds(91)));
        assert_eq!(Account::parse("tenant:7"), Some(Account::Tenant(7)));
        assert_eq!(Account::Tenant(7).key(), "tenant:7");
    }
}
