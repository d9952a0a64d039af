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

/// One of the clients NumHub says an account may act for (`AccessModel.userClients`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClient {
    pub client_id: i32,
    pub client_name: Option<String>,
}

/// The clients an account may act for, as its last login listed them. `None`: not
/// known (a login answer without `userClients`, or an empty list, which NumHub may
/// well send for an account that may act for any client), so nothing is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClients(pub Option<Vec<UserClient>>);

impl UserClients {
    /// From the login answer's `userClients`: entries without a `clientId` say nothing.
    pub fn from_login(listed: Option<&[super::model::UserClientsDto]>) -> UserClients {
        let clients: Vec<UserClient> = listed
            .unwrap_or_default()
            .iter()
            .filter_map(|c| {
                c.client_id.map(|client_id| UserClient {
                    client_id,
                    client_name: c.client_name.clone(),
                })
            })
            .collect();
        UserClients((!clients.is_empty()).then_some(clients))
    }

    /// Whether a call for `client_id` may go out: refused only when NumHub listed
    /// the account's clients and this one is not among them.
    pub fn allows(&self, client_id: i32) -> bool {
        self.0
            .as_ref()
            .is_none_or(|l| l.iter().any(|c| c.client_id == client_id))
    }

    /// The list as shown in an error: `1001 (Demo Client), 1002`.
    pub fn describe(&self) -> String {
        match &self.0 {
            None => "not listed".into(),
            Some(l) => l
                .iter()
                .map(|c| match &c.client_name {
                    Some(n) => format!("{} ({n})", c.client_id),
                    None => c.client_id.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// `numhub_tokens.scopes`: what the token may be used for, kept beside it so a
    /// restart that reuses the token still knows.
    pub fn to_scopes(&self) -> Option<String> {
        self.0
            .as_ref()
            .map(|l| serde_json::json!({ "userClients": l }).to_string())
    }

    pub fn from_scopes(scopes: Option<&serde_json::Value>) -> UserClients {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Scopes {
            user_clients: Option<Vec<UserClient>>,
        }
        UserClients(
            scopes
                .and_then(|s| Scopes::deserialize(s).ok())
                .and_then(|s| s.user_clients)
                .filter(|l| !l.is_empty()),
        )
    }
}

/// A token in memory.
#[derive(Clone)]
pub struct CachedToken {
    pub token: Secret,
    pub refresh_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub clients: UserClients,
}

impl CachedToken {
    /// `margin` is the fraction of the token's life left when it is renewed.
    pub fn new(
        token: Secret,
        issued: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        margin: f64,
        clients: UserClients,
    ) -> CachedToken {
        let life = (expires_at - issued).num_milliseconds().max(0) as f64;
        let refresh_at = expires_at - chrono::Duration::milliseconds((life * margin) as i64);
        CachedToken {
            token,
            refresh_at,
            expires_at,
            clients,
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
    fn user_clients_refuse_only_what_numhub_listed_without() {
        use super::super::model::UserClientsDto;
        let listed = [
            UserClientsDto {
                client_id: Some(1001),
                client_name: Some("Demo".into()),
                ..Default::default()
            },
            UserClientsDto::default(),
        ];
        let c = UserClients::from_login(Some(&listed));
        assert!(c.allows(1001) && !c.allows(999));
        assert_eq!(c.describe(), "1001 (Demo)");
        let stored: Option<serde_json::Value> = c
            .to_scopes()
            .map(|s| serde_json::from_str(&s).expect("json"));
        assert_eq!(UserClients::from_scopes(stored.as_ref()), c);
        // Nothing listed, an empty list, or scopes of another shape: nothing refused.
        for unknown in [
            UserClients::from_login(None),
            UserClients::from_login(Some(&[])),
            UserClients::from_login(Some(&listed[1..])),
            UserClients::from_scopes(Some(&serde_json::json!([]))),
            UserClients::from_scopes(None),
        ] {
            assert!(unknown.allows(999), "{unknown:?}");
        }
    }

    #[test]
    fn refresh_margin_is_a_fraction_of_life() {
        let now = Utc::now();
        let t = CachedToken::new(
            Secret::new("x"),
            now,
            now + chrono::Duration::seconds(100),
            0.1,
            UserClients::default(),
        );
        assert!(t.usable(now + chrono::Duration::seconds(89)));
        assert!(!t.usable(now + chrono::Duration::seconds(91)));
        assert_eq!(Account::parse("tenant:7"), Some(Account::Tenant(7)));
        assert_eq!(Account::Tenant(7).key(), "tenant:7");
    }
}
