//! The NumHub client: the only code that speaks HTTP to NumHub.
//!
//! - [`model`]: the document's request/response shapes.
//! - [`transport`]: one exchange (headers, streamed multipart, audit row).
//! - [`governor`]: per-account pacing with interactive priority.
//! - [`tokens`]: accounts, credentials, cached tokens, login blocks; [`logins`]: one
//!   login at a time per account across hosts sharing a server store.
//! - [`ops`]: one method per operation; [`create`]: the create that never duplicates.
//! - [`audit`]: redaction and `numhub_sync_logs` rows; [`rotate`]: re-encrypting
//!   every secret to a new identity; [`readable`]: the start's check that this
//!   identity opens them. (Purging old rows is `crate::housekeeping`.)
//!
//! A call: resolve the tenant (client id, whose login) → valid token (single flight)
//! → governor permit → send → audit → on 401 re-login once and retry once; on
//! connect errors, timeouts, 429, 500/502/503/504 retry with backoff and jitter —
//! except a create or an upload, which after any 5xx or a loss once sent is
//! outcome-unknown and is looked up before anything is resent ([`create`]).

pub mod audit;
pub mod check;
pub mod create;
mod error;
mod file_body;
pub mod governor;
mod logins;
pub mod model;
mod ops;
pub mod paging;
pub mod readable;
pub mod rotate;
pub mod template;
pub mod tokens;
pub mod transport;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde::de::DeserializeOwned;

use crate::crypto::Crypto;
use crate::db::{self, HttpMethod, Store};
pub use error::NumhubError;
pub use governor::{Governor, Priority};
use tokens::CachedToken;
pub use tokens::{Account, Credentials, LoginStatus, Secret, UserClient, UserClients};
use transport::{Auth, Outcome, Request, Transport};

/// The systemd credential that may carry the global account's password.
pub const PASSWORD_CREDENTIAL: &str = "numhub-password";

/// Everything the client needs from the configuration, plus test knobs.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub base_url: String,
    /// `X-Auth-Scheme`; `None` sends no header.
    pub auth_scheme: Option<String>,
    pub request_timeout: Duration,
    pub pacing: Pacing,
    pub retry: Retry,
    pub refresh_margin: f64,
    pub ca_file: Option<PathBuf>,
    pub redact_fields: Vec<String>,
    /// Clock difference tolerated when matching NumHub's dates to ours (create).
    pub clock_skew: Duration,
    /// The global account; `None` = only tenants with their own credentials work.
    pub global: Option<Credentials>,
    /// `[numhub] max_response_bytes`.
    pub max_response_bytes: usize,
    /// `[audit] max_payload_bytes`.
    pub max_audit_payload: usize,
}

/// How fast the client calls NumHub: the account's window, and each tenant's share
/// of the calls its callers start.
#[derive(Debug, Clone)]
pub struct Pacing {
    /// Calls per `rate_window`; 0 = no pacing.
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// `[numhub] tenant_interactive_per_min`; `None` = a fair share.
    pub tenant_interactive_per_min: Option<u32>,
}

/// How often, and how far apart, a failed call is tried again.
#[derive(Debug, Clone)]
pub struct Retry {
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with full jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Retry {
    /// The pause after attempt `attempt` failed.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.backoff_base.as_millis() as u64;
        let cap = self.backoff_max.as_millis() as u64;
        let exp = base
            .saturating_mul(1u64 << (attempt.saturating_sub(1)).min(20))
            .min(cap);
        // Full jitter: spreads retries of many callers hit by the same outage.
        let ms = rand::random::<u64>() % exp.max(1) + exp / 4;
        Duration::from_millis(ms.min(cap))
    }
}

/// Reads the global account's login (`[numhub] email`, given by the daemon): the
/// password from the systemd credential `numhub-password` when present, else
/// `password_file`.
pub fn global_credentials(
    email: Option<&str>,
    password_file: Option<&Path>,
) -> Result<Option<Credentials>, NumhubError> {
    let Some(email) = email else {
        return Ok(None);
    };
    let from_systemd = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|d| PathBuf::from(d).join(PASSWORD_CREDENTIAL))
        .filter(|p| p.exists());
    let Some(path) = from_systemd.or_else(|| password_file.map(Path::to_path_buf)) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| NumhubError::File {
        path: path.display().to_string(),
        source: e.into(),
    })?;
    // One line; a trailing newline from `echo` is not part of the password.
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    Ok(Some(Credentials {
        email: email.to_string(),
        password: Secret::new(password),
    }))
}

/// Cheap to clone; every clone shares tokens, governors and the HTTP pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Set on a leader's handle ([`Client::gated`]).
    gate: Option<Gate>,
}

/// Asked right before each request goes out (after any wait for budget): false stops
/// it with [`NumhubError::NotLeading`]. A leader's sync engine sends only while its own
/// term holds, so a leader that could not renew its lease in time starts nothing more.
pub type Gate = Arc<dyn Fn() -> bool + Send + Sync>;

struct Inner {
    opts: ClientOptions,
    transport: Transport,
    store: Store,
    crypto: Arc<Crypto>,
    /// Per NumHub login (lower-cased email): one governor.
    governors: Mutex<HashMap<String, Arc<Governor>>>,
    /// The store is a server several hosts may share: the budget and logins are
    /// kept in it (`governor::shared`, [`logins`]), not in this process.
    shared: bool,
    /// Per account: the token slot (single flight).
    slots: Mutex<HashMap<Account, Arc<tokio::sync::Mutex<Option<CachedToken>>>>>,
    /// Each tenant's share of the calls started over the socket.
    interactive: governor::TenantBudget,
}

/// A tenant as a call needs it.
struct TenantCtx {
    tenant_id: i64,
    client_id: i32,
    account: Account,
    credentials: Credentials,
}

impl Client {
    pub fn new(
        opts: ClientOptions,
        store: Store,
        crypto: Arc<Crypto>,
    ) -> Result<Client, NumhubError> {
        let http = transport::build_http(opts.request_timeout, opts.ca_file.as_ref())?;
        let redactor =
            audit::Redactor::new(&opts.redact_fields, crypto.derive_key("audit fingerprints"));
        let shared = matches!(store.location(), db::Location::Server(_));
        Ok(Client {
            inner: Arc::new(Inner {
                transport: Transport {
                    http,
                    base_url: opts.base_url.clone(),
                    store: store.clone(),
                    redactor,
                    origin_recorded: Default::default(),
                    max_response_bytes: opts.max_response_bytes,
                    max_audit_payload: opts.max_audit_payload,
                },
                opts,
                crypto,
                governors: Mutex::new(HashMap::new()),
                slots: Mutex::new(HashMap::new()),
                interactive: match shared {
                    true => governor::TenantBudget::Shared(store.clone()),
                    false => governor::TenantBudget::Local(Default::default()),
                },
                store,
                shared,
            }),
            gate: None,
        })
    }

    /// This client, sending each request only while `gate` allows it.
    pub fn gated(&self, gate: Gate) -> Client {
        Client {
            inner: self.inner.clone(),
            gate: Some(gate),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Counts one call a tenant's caller starts over the socket against the tenant's
    /// share (`[numhub] tenant_interactive_per_min`, else the account's rate per
    /// minute divided among the tenants that use NumHub); the sync engine's calls
    /// are not counted. Refused with [`NumhubError::TenantBudget`] when it is used up.
    pub async fn spend_interactive(&self, tenant_id: i64) -> Result<(), NumhubError> {
        let o = &self.inner.opts.pacing;
        let limit = match o.tenant_interactive_per_min {
            Some(n) => n,
            None if o.rate_limit == 0 => return Ok(()),
            None => {
                let tenants = self.inner.store.read(db::tenants::count_enabled).await?;
                let per_min = u64::from(o.rate_limit) * 60 / o.rate_window.as_secs().max(1);
                u32::try_from(per_min / tenants.max(1))
                    .unwrap_or(u32::MAX)
                    .max(1)
            }
        };
        match self.inner.interactive.spend(tenant_id, limit).await? {
            None => Ok(()),
            Some(wait) => Err(NumhubError::TenantBudget {
                tenant_id,
                limit,
                retry_after_secs: wait.as_secs() + 1,
            }),
        }
    }

    /// The account's governor: on a shared store, over the budget kept there;
    /// otherwise in memory, where the first of this process resumes what the last
    /// span spent (the audit table's rows of it), so a restart does not spend
    /// NumHub's window twice. Rows are not told apart by account: with several
    /// accounts this counts the others' too, which only paces more carefully for one
    /// span.
    async fn governor(&self, email: &str) -> Arc<Governor> {
        let key = email.to_ascii_lowercase();
        if let Some(g) = self.governors().get(&key) {
            return g.clone();
        }
        let pacing = &self.inner.opts.pacing;
        let (limit, window) = (pacing.rate_limit, pacing.rate_window);
        if self.inner.shared {
            let store = self.inner.store.clone();
            return self
                .governors()
                .entry(key)
                .or_insert_with(|| Arc::new(Governor::shared(store, email, limit, window)))
                .clone();
        }
        let started = if limit == 0 {
            Vec::new()
        } else {
            self.recently_started(governor::span(window)).await
        };
        let fresh = if started.is_empty() {
            Governor::new(limit, window)
        } else {
            Governor::resumed(limit, window, started)
        };
        self.governors()
            .entry(key)
            .or_insert_with(|| Arc::new(fresh))
            .clone()
    }

    fn governors(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Governor>>> {
        match self.inner.governors.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        }
    }

    /// When the exchanges of the last `span` started, as instants of this process.
    /// A store that cannot be read gives none: the governor then starts fresh.
    async fn recently_started(&self, span: Duration) -> Vec<tokio::time::Instant> {
        let now_wall = Utc::now();
        let now = tokio::time::Instant::now();
        let since = now_wall - chrono::Duration::from_std(span).unwrap_or_default();
        let since = db::format_ts(since);
        let rows = match self
            .inner
            .store
            .read(move |sql| db::sync_logs::recorded_since(sql, &since))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the last minute's NumHub exchanges; pacing starts fresh");
                return Vec::new();
            }
        };
        rows.iter()
            .filter_map(|ts| db::parse_ts("created_at", ts).ok())
            .map(|at| {
                let ago = (now_wall - at).to_std().unwrap_or_default();
                now.checked_sub(ago).unwrap_or(now)
            })
            .collect()
    }

    fn slot(&self, account: &Account) -> Arc<tokio::sync::Mutex<Option<CachedToken>>> {
        let mut map = match self.inner.slots.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.entry(account.clone()).or_default().clone()
    }

    /// The tenant's client id and whose login it uses: its own credentials when set,
    /// else the global account.
    async fn tenant(&self, tenant_id: i64) -> Result<TenantCtx, NumhubError> {
        let (tenant, creds) = self
            .inner
            .store
            .read(move |sql| {
                Ok((
                    db::tenants::find(sql, tenant_id)?,
                    db::credentials::get(sql, tenant_id)?,
                ))
            })
            .await?;
        let tenant = tenant.ok_or(NumhubError::Tenant {
            tenant_id,
            reason: "no such tenant".into(),
        })?;
        let client_id = tenant
            .numhub_client_id
            .as_deref()
            .and_then(|c| c.parse::<i32>().ok())
            .ok_or(NumhubError::Tenant {
                tenant_id,
                reason: "has no numhub_client_id".into(),
            })?;
        let (account, credentials) = match creds {
            Some(c) => (
                Account::Tenant(tenant_id),
                Credentials {
                    email: self.inner.crypto.decrypt(&c.email_armored)?,
                    password: Secret::new(self.inner.crypto.decrypt(&c.password_armored)?),
                },
            ),
            None => self.global_account(format!(
                "tenant:{tenant_id} (no own credentials, no global account)"
            ))?,
        };
        Ok(TenantCtx {
            tenant_id,
            client_id,
            account,
            credentials,
        })
    }

    /// A usable bearer token for the tenant's account, logging in when it is missing
    /// or within the refresh margin of expiry. Concurrent callers share one login.
    pub async fn valid_token(&self, tenant_id: i64) -> Result<Secret, NumhubError> {
        let ctx = self.tenant(tenant_id).await?;
        self.token_for(&ctx.account, &ctx.credentials, Priority::Interactive)
            .await
            .map(|t| t.token)
    }

    async fn token_for(
        &self,
        account: &Account,
        creds: &Credentials,
        priority: Priority,
    ) -> Result<CachedToken, NumhubError> {
        let slot = self.slot(account);
        let mut guard = slot.lock().await;
        let now = Utc::now();
        if let Some(t) = guard.as_ref().filter(|t| t.usable(now)) {
            return Ok(t.clone());
        }
        // Not in memory (or due): the stored one may still be good (after a restart,
        // or another host's login on a shared store).
        if guard.is_none() || self.inner.shared {
            if let Some(cached) = self.stored_token(account, None).await? {
                *guard = Some(cached.clone());
                return Ok(cached);
            }
        }
        self.check_block(account, creds).await?;
        let fresh = self.login_any(account, creds, priority, None).await?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    /// The account's stored token when it is usable (and, with `since`, stored after
    /// it).
    async fn stored_token(
        &self,
        account: &Account,
        since: Option<chrono::DateTime<Utc>>,
    ) -> Result<Option<CachedToken>, NumhubError> {
        let tenant = account.tenant_id();
        let Some(row) = self
            .inner
            .store
            .read(move |sql| db::tokens::get_access(sql, tenant))
            .await?
        else {
            return Ok(None);
        };
        let issued = db::parse_ts("created_at", &row.created_at)?;
        if since.is_some_and(|s| issued < s) {
            return Ok(None);
        }
        let expires = db::parse_ts("expires_at", &row.expires_at)?;
        let token = Secret::new(self.inner.crypto.decrypt(&row.access_token)?);
        let cached = CachedToken::new(
            token,
            issued,
            expires,
            self.inner.opts.refresh_margin,
            UserClients::from_scopes(row.scopes.as_ref()),
        );
        Ok(cached.usable(Utc::now()).then_some(cached))
    }

    /// A login: on a shared store one host's at a time ([`logins`]), whose token the
    /// others take from the store; otherwise this process's own.
    async fn login_any(
        &self,
        account: &Account,
        creds: &Credentials,
        priority: Priority,
        since: Option<chrono::DateTime<Utc>>,
    ) -> Result<CachedToken, NumhubError> {
        match self.inner.shared {
            true => self.login_once(account, creds, priority, since).await,
            false => self.login(account, creds, priority).await,
        }
    }

    /// Drops `bad` (answered 401) unless another caller already replaced it: in
    /// memory, and in the store only while the stored token is still `bad` (another
    /// host sharing the store may have stored a new one already).
    async fn invalidate(&self, account: &Account, bad: &Secret) -> Result<(), NumhubError> {
        let slot = self.slot(account);
        let mut guard = slot.lock().await;
        if guard.as_ref().is_some_and(|t| &t.token == bad) || guard.is_none() {
            *guard = None;
            let tenant = account.tenant_id();
            let stored = self
                .inner
                .store
                .read(move |sql| db::tokens::get_access(sql, tenant))
                .await?;
            let Some(row) = stored else {
                return Ok(());
            };
            // A token this identity cannot read is no use either.
            let same = self
                .inner
                .crypto
                .decrypt(&row.access_token)
                .map_or(true, |t| t == bad.expose());
            if same {
                let id = row.id;
                self.inner
                    .store
                    .write(move |tx| db::tokens::delete_one(tx, id).map(|_| ()))
                    .await?;
            }
        }
        Ok(())
    }

    /// Refuses to log in while the account is blocked with these same credentials;
    /// lifts a block whose credentials have since changed.
    async fn check_block(&self, account: &Account, creds: &Credentials) -> Result<(), NumhubError> {
        let key = account.key();
        let k = key.clone();
        let Some(block) = self
            .inner
            .store
            .read(move |sql| db::login_blocks::get(sql, &k))
            .await?
        else {
            return Ok(());
        };
        let rejected: Option<Credentials> = self
            .inner
            .crypto
            .decrypt(&block.credentials_armored)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok());
        if rejected.as_ref() == Some(creds) {
            return Err(NumhubError::LoginBlocked {
                account: key,
                reason: block.reason,
            });
        }
        tracing::info!(account = %key, "credentials changed since NumHub rejected the login; trying again");
        self.inner
            .store
            .write(move |tx| db::login_blocks::delete(tx, &key).map(|_| ()))
            .await?;
        Ok(())
    }

    /// `POST /authorize/token`, retried like any call; a 400/403 blocks the account.
    async fn login(
        &self,
        account: &Account,
        creds: &Credentials,
        priority: Priority,
    ) -> Result<CachedToken, NumhubError> {
        let mut req = Request::new(HttpMethod::Post, "/authorize/token");
        req.query = vec![
            ("Email".into(), creds.email.clone()),
            ("Password".into(), creds.password.expose().to_string()),
        ];
        req.tenant_id = account.tenant_id();
        req.priority = priority;
        let governor = self.governor(&creds.email).await;
        let endpoint = req.endpoint();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let issued = Utc::now();
            let (outcome, _) = self
                .inner
                .transport
                .send_once(&governor, &req, None, self.gate.as_ref())
                .await?;
            refused_for_rate(&outcome, account, &endpoint);
            let last = match outcome {
                Outcome::Answer { status, body, .. } if (200..300).contains(&status) => {
                    return self.logged_in(account, &endpoint, &body, issued).await;
                }
                Outcome::Answer { status, body, .. } if status == 400 || status == 403 => {
                    return Err(self.block_login(account, creds, status, &body).await?);
                }
                Outcome::Answer { status, body, .. } if !retryable_status(status) => {
                    return Err(NumhubError::Rejected {
                        status,
                        endpoint,
                        message: transport::error_message(&body),
                    })
                }
                Outcome::Answer { status, .. } => format!("HTTP {status}"),
                Outcome::Failed { reason, .. } => reason,
            };
            self.after_failure(attempt, &endpoint, last).await?;
        }
    }

    /// A login's token: stored (encrypted, with the clients it may act for) and
    /// cached.
    async fn logged_in(
        &self,
        account: &Account,
        endpoint: &str,
        body: &[u8],
        issued: chrono::DateTime<Utc>,
    ) -> Result<CachedToken, NumhubError> {
        let access: model::AccessModel = decode(endpoint, body)?;
        let token = access
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or(NumhubError::Decode {
                endpoint: endpoint.to_string(),
                reason: "no accessToken".into(),
            })?;
        let expires = issued + chrono::Duration::seconds(access.expires_in.unwrap_or(86400).max(1));
        let clients = UserClients::from_login(access.user_clients.as_deref());
        let armored = self.inner.crypto.encrypt(&token)?;
        let tenant = account.tenant_id();
        let exp = db::format_ts(expires);
        let scopes = clients.to_scopes();
        self.inner
            .store
            .write(move |tx| {
                db::tokens::put_access(tx, tenant, &armored, &exp, scopes.as_deref()).map(|_| ())
            })
            .await?;
        tracing::info!(account = %account.key(), expires = %db::format_ts(expires), "NumHub login ok");
        Ok(CachedToken::new(
            Secret::new(token),
            issued,
            expires,
            self.inner.opts.refresh_margin,
            clients,
        ))
    }

    /// NumHub refused the credentials (400/403): the account is blocked (the
    /// credentials kept, encrypted, to notice when they change) and no further login
    /// is tried. Returns the error to give the caller.
    async fn block_login(
        &self,
        account: &Account,
        creds: &Credentials,
        status: u16,
        body: &[u8],
    ) -> Result<NumhubError, NumhubError> {
        let message = transport::error_message(body);
        let reason = format!(
            "NumHub rejected the login (HTTP {status}{})",
            message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        let armored = self.inner.crypto.encrypt(
            &serde_json::to_string(creds).map_err(|e| NumhubError::Setup(e.to_string()))?,
        )?;
        let key = account.key();
        let r = reason.clone();
        self.inner
            .store
            .write(move |tx| db::login_blocks::put(tx, &key, &r, Some(status), &armored))
            .await?;
        tracing::error!(account = %account.key(), status, "NumHub rejected the login; no further attempts until the credentials change or `retry_login`");
        Ok(NumhubError::LoginBlocked {
            account: account.key(),
            reason,
        })
    }

    /// After attempt `attempt` failed with `last`: `Exhausted` if it was the last one,
    /// else the backoff before the next.
    async fn after_failure(
        &self,
        attempt: u32,
        endpoint: &str,
        last: String,
    ) -> Result<(), NumhubError> {
        if attempt >= self.inner.opts.retry.max_attempts {
            return Err(NumhubError::Exhausted {
                endpoint: endpoint.to_string(),
                attempts: attempt,
                last,
            });
        }
        tracing::debug!(endpoint, attempt, last = %last, "NumHub call failed; retrying");
        tokio::time::sleep(self.inner.opts.retry.delay(attempt)).await;
        Ok(())
    }

    /// Sends `req` for `tenant_id` with tokens, pacing, retries; returns the 2xx body.
    /// `create` (non-idempotent calls: application create, document upload) makes an
    /// unknown outcome an error for the caller to settle instead of a blind retry.
    async fn call(
        &self,
        tenant_id: i64,
        req: Request,
        create: bool,
    ) -> Result<bytes::Bytes, CallError> {
        self.call_answer(tenant_id, req, create)
            .await
            .map(|(body, _)| body)
    }

    /// [`Client::call`], also returning the answer's Content-Type (for bodies the
    /// document does not pin down, such as the LOA template).
    async fn call_answer(
        &self,
        tenant_id: i64,
        mut req: Request,
        create: bool,
    ) -> Result<(bytes::Bytes, Option<String>), CallError> {
        let ctx = self.tenant(tenant_id).await?;
        req.tenant_id = Some(ctx.tenant_id);
        let governor = self.governor(&ctx.credentials.email).await;
        let endpoint = req.endpoint();
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            attempt += 1;
            let cached = self
                .token_for(&ctx.account, &ctx.credentials, req.priority)
                .await?;
            // NumHub answers a client the account may not act for with a 403 on every
            // call; the login already said which it may, so say so instead.
            if !cached.clients.allows(ctx.client_id) {
                return Err(NumhubError::Tenant {
                    tenant_id,
                    reason: foreign_client(ctx.client_id, &ctx.account, &cached.clients),
                }
                .into());
            }
            let token = cached.token;
            let auth = Auth {
                bearer: token.expose(),
                client_id: ctx.client_id,
                scheme: self.inner.opts.auth_scheme.as_deref(),
            };
            let (outcome, _) = self
                .inner
                .transport
                .send_once(&governor, &req, Some(&auth), self.gate.as_ref())
                .await?;
            refused_for_rate(&outcome, &ctx.account, &endpoint);
            let last = match outcome {
                Outcome::Answer {
                    status,
                    body,
                    content_type,
                } if (200..300).contains(&status) => return Ok((body, content_type)),
                Outcome::Answer { status: 401, .. } if !reauthed => {
                    // Expired or revoked: one new login, one retry (not counted).
                    reauthed = true;
                    attempt -= 1;
                    self.invalidate(&ctx.account, &token).await?;
                    continue;
                }
                Outcome::Answer { status: 401, .. } => {
                    return Err(NumhubError::Unauthorized { endpoint }.into())
                }
                Outcome::Answer { status, body, .. } if !retryable_status(status) => {
                    return Err(NumhubError::Rejected {
                        status,
                        endpoint,
                        message: transport::error_message(&body),
                    }
                    .into())
                }
                // Any 5xx can come after NumHub acted (a 500 or 503 after its commit, a
                // gateway's 502/504 whatever happened behind it): outcome unknown. A 429
                // is the only retryable answer that says the request was not handled.
                Outcome::Answer { status, .. } if create && status != 429 => {
                    return Err(CallError::Ambiguous(format!("HTTP {status}")))
                }
                Outcome::Answer { status, .. } => format!("HTTP {status}"),
                Outcome::Failed { sent: true, reason } if create => {
                    return Err(CallError::Ambiguous(reason))
                }
                Outcome::Failed { reason, .. } => reason,
            };
            self.after_failure(attempt, &endpoint, last).await?;
        }
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        tenant_id: i64,
        req: Request,
    ) -> Result<T, NumhubError> {
        let endpoint = req.endpoint();
        let body = self
            .call(tenant_id, req, false)
            .await
            .map_err(CallError::into_error)?;
        decode(&endpoint, &body)
    }

    /// Stores a tenant's own NumHub login (both fields age-encrypted), drops its
    /// token, and lifts any login block of that account. The RPC `credentials.set`
    /// calls this.
    pub async fn set_tenant_credentials(
        &self,
        tenant_id: i64,
        email: &str,
        password: &Secret,
    ) -> Result<(), NumhubError> {
        let email_armored = self.inner.crypto.encrypt(email)?;
        let password_armored = self.inner.crypto.encrypt(password.expose())?;
        let key = Account::Tenant(tenant_id).key();
        // Held across the write: a login of the old credentials finishing meanwhile
        // cannot put its token back after the slot is emptied.
        let slot = self.slot(&Account::Tenant(tenant_id));
        let mut cached = slot.lock().await;
        self.inner
            .store
            .write(move |tx| {
                db::credentials::set(tx, tenant_id, &email_armored, &password_armored)?;
                db::login_blocks::delete(tx, &key)?;
                db::tokens::delete(tx, Some(tenant_id))?;
                Ok(())
            })
            .await?;
        *cached = None;
        Ok(())
    }

    /// The global account and its login; without one, `NoCredentials` naming
    /// `asking` (the account that would have used it).
    fn global_account(&self, asking: String) -> Result<(Account, Credentials), NumhubError> {
        let creds = self.inner.opts.global.clone();
        let creds = creds.ok_or(NumhubError::NoCredentials { account: asking })?;
        Ok((Account::Global, creds))
    }

    /// `token.refresh`: an operator asks for a new token now. Lifts the account's
    /// login block (an operator retry), forgets the cached token and logs in.
    /// `None` is the global account. Returns when the new token expires.
    pub async fn refresh_token(&self, tenant_id: Option<i64>) -> Result<String, NumhubError> {
        let (account, creds) = match tenant_id {
            Some(t) => {
                let ctx = self.tenant(t).await?;
                (ctx.account, ctx.credentials)
            }
            None => self.global_account("global".into())?,
        };
        self.retry_login(&account.key()).await?;
        let slot = self.slot(&account);
        let mut guard = slot.lock().await;
        // On a shared store a login another host finishes from now on answers too.
        let asked = Utc::now();
        let fresh = self
            .login_any(&account, &creds, Priority::Interactive, Some(asked))
            .await?;
        let expires = db::format_ts(fresh.expires_at);
        *guard = Some(fresh);
        Ok(expires)
    }

    /// An operator's "try that login again": lifts the block of `account`
    /// (`global` or `tenant:<id>`). Returns whether there was one.
    pub async fn retry_login(&self, account: &str) -> Result<bool, NumhubError> {
        let key = account.to_string();
        Ok(self
            .inner
            .store
            .write(move |tx| db::login_blocks::delete(tx, &key))
            .await?)
    }

    /// Every blocked login and why (for `daemon.status`).
    pub async fn login_status(&self) -> Result<Vec<LoginStatus>, NumhubError> {
        let blocks = self.inner.store.read(db::login_blocks::all).await?;
        Ok(blocks
            .into_iter()
            .map(|b| LoginStatus {
                account: b.account,
                blocked: true,
                reason: Some(b.reason),
                status_code: b.status_code,
                since: Some(b.blocked_at),
            })
            .collect())
    }
}

/// What `call` ends in: a plain error, or (for creates) a request that was sent and
/// got no answer.
enum CallError {
    Ambiguous(String),
    Error(NumhubError),
}

impl From<NumhubError> for CallError {
    fn from(e: NumhubError) -> CallError {
        CallError::Error(e)
    }
}

impl CallError {
    fn into_error(self) -> NumhubError {
        match self {
            CallError::Error(e) => e,
            // Only creates ask for ambiguity; anything else treats it as a failure.
            CallError::Ambiguous(reason) => NumhubError::Exhausted {
                endpoint: String::new(),
                attempts: 1,
                last: reason,
            },
        }
    }
}

/// Why a tenant's client id cannot be used with its account.
fn foreign_client(client_id: i32, account: &Account, clients: &UserClients) -> String {
    format!(
        "numhub_client_id {client_id} is not one of the clients NumHub lets account {} act for ({}); correct the tenant's numhub_client_id or its credentials (`numhubctl numhub check` shows both)",
        account.key(),
        clients.describe()
    )
}

fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

fn decode<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, NumhubError> {
    serde_json::from_slice(body).map_err(|e| NumhubError::Decode {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    })
}

/// A 429 means our pacing was not enough (another client on the account, or NumHub
/// counting differently): worth an operator's eye, so it is logged at warn with the
/// account whose budget ran out. The governor pauses that account for a window.
fn refused_for_rate(outcome: &Outcome, account: &Account, endpoint: &str) {
    if let Outcome::Answer { status: 429, .. } = outcome {
        tracing::warn!(account = %account.key(), endpoint = %endpoint,
            "NumHub refused a request for its rate limit (429); pausing this account's calls for a window");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pause doubles from `backoff_base` with full jitter, never past
    /// `backoff_max`, and a late attempt waits at least a quarter of the cap.
    #[test]
    fn retry_delays_grow_jittered_up_to_the_cap() {
        let retry = Retry {
            max_attempts: 12,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        };
        for _ in 0..200 {
            let first = retry.delay(1);
            assert!(first >= Duration::from_millis(125), "{first:?}");
            assert!(first < Duration::from_millis(625), "{first:?}");
            for attempt in 1..=12 {
                assert!(retry.delay(attempt) <= retry.backoff_max);
            }
            assert!(retry.delay(12) >= Duration::from_millis(7_500));
        }
    }
}
