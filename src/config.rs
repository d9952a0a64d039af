//! The configuration: a TOML file, overridden key by key by `NUMHUBD_<SECTION>_<KEY>`
//! environment variables, validated whole before the daemon uses any of it.
//!
//! Unknown keys and wrong types are errors (a typo must not silently fall back to a
//! default). Relative paths are resolved against the config file's folder, except
//! that under systemd the database and identity resolve into `$STATE_DIRECTORY` and
//! the socket into `$RUNTIME_DIRECTORY`. `[database] url` and what the store is
//! given for it live in [`database`].

mod cluster;
mod database;
mod validate;

pub use cluster::ClusterConfig;

pub use database::{
    read_password, tls_for, DatabaseTarget, DbPassword, MysqlAddress, MysqlTarget, MysqlUrl,
    PasswordError, Tls, UrlError, PASSWORD_CREDENTIAL,
};

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Deserializer};
use thiserror::Error;

use crate::api::Role;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config {path}: cannot read: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("config {path}: {key}: {reason}")]
    BadValue {
        path: String,
        key: String,
        reason: String,
    },
    /// A `[database]` key that contradicts another, found when a target is built.
    #[error("{key}: {reason}")]
    Database { key: String, reason: String },
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// The whole configuration, with every path already resolved.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub rpc: RpcConfig,
    pub numhub: NumhubConfig,
    pub drop: DropConfig,
    pub crypto: CryptoConfig,
    pub log: LogConfig,
    pub daemon: DaemonConfig,
    pub audit: AuditConfig,
    pub sync: SyncConfig,
    pub cluster: ClusterConfig,
    /// Who may do what over the socket, by peer uid or gid (`[[access]]`).
    pub access: Vec<AccessRule>,
}

/// One `[[access]]` rule: a uid or a gid gets a role over some tenants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `read`, `write` or `admin`.
    #[serde(deserialize_with = "grantable_role")]
    pub role: Role,
    /// Tenant ids, or `"*"` for every tenant.
    pub tenants: TenantScope,
}

/// `tenants = "*"` or `tenants = [1, 2]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TenantScope {
    All(String),
    Some(Vec<i64>),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// MySQL/MariaDB instead of SQLite: `mysql://USER@HOST[:PORT]/DATABASE` or
    /// `mysql://USER@localhost/DATABASE?socket=PATH`, never with a password. `""`
    /// or unset: the SQLite file at `path`.
    #[serde(deserialize_with = "database::mysql_url")]
    pub url: Option<MysqlUrl>,
    /// The SQLite file. With `url` set, its folder still holds the spool.
    pub path: PathBuf,
    /// Read-only connections kept for queries (pooled, on either engine).
    pub readers: usize,
    /// SQLite's `synchronous`: `normal` (the last commits before a power cut may be
    /// lost, never torn; the outbox's claims are durable all the same) or `full`
    /// (every acknowledged commit survives a power cut). SQLite only: `full` with
    /// `url` is refused (on MySQL the server's settings decide).
    pub synchronous: Synchronous,
    /// A file whose first line is the MySQL password (or the systemd credential
    /// `database-password`, read first). Neither: no password.
    pub password_file: Option<PathBuf>,
    /// A PEM file of the CA that signed the MySQL server's certificate (a private
    /// CA), then the only CAs trusted for it; unset: the public CAs built in. On a
    /// loopback host it turns TLS on.
    pub ca_file: Option<PathBuf>,
    /// A `url` host that is not loopback is reached over TLS unless this is true.
    pub allow_plaintext: bool,
}

/// `[database] synchronous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    #[default]
    Normal,
    Full,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// The Unix socket co-located apps connect to.
    pub socket: PathBuf,
    /// The socket's permission bits, written as octal text (`"0660"`) and read as a
    /// number: set before it accepts. Never more than 0770 (no access for others).
    #[serde(deserialize_with = "socket_mode")]
    pub socket_mode: u32,
    /// The socket's group (name or number); unset keeps the daemon's group.
    pub socket_group: Option<String>,
    /// Largest request body accepted.
    pub max_body_bytes: u32,
    /// Most calls in one batch.
    pub max_batch: u32,
    /// Most connections open at once. The last `max_connections_per_uid` of them are
    /// kept for admin callers, so a crowd of others can never lock an operator out.
    pub max_connections: u32,
    /// Most connections one peer uid may hold at once (admins included): one uid can
    /// never take every connection. Below `max_connections`.
    pub max_connections_per_uid: u32,
    /// How long a connection may take to send a request's headers and body, from its
    /// connect or from the first byte of its next request; slower ones are closed.
    pub header_timeout_ms: u64,
    /// How long a keep-alive connection may sit with no request before it is closed.
    pub idle_timeout_secs: u64,
    /// Largest answer: a call's, or a batch's together; over it, per-call errors.
    pub max_response_bytes: u32,
    /// Calls per second one connection may make (a token bucket of that size).
    pub max_requests_per_sec: u32,
    /// Folders `document.upload` may read files from; empty: no uploads by path.
    pub upload_dirs: Vec<UploadDir>,
}

/// An `[rpc] upload_dirs` entry: a folder (any tenant the caller may write), or
/// `{ path = "...", tenants = [1, 2] }` (only for those tenants).
#[derive(Debug, Clone, PartialEq)]
pub enum UploadDir {
    Any(PathBuf),
    Tenants(TenantsDir),
}

/// An upload folder for some tenants only.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsDir {
    pub path: PathBuf,
    pub tenants: Vec<i64>,
}

impl<'de> Deserialize<'de> for UploadDir {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Any(PathBuf),
            Tenants(TenantsDir),
        }
        // serde's own message for an untagged enum names no shape; say what fits.
        match Either::deserialize(d) {
            Ok(Either::Any(p)) => Ok(UploadDir::Any(p)),
            Ok(Either::Tenants(t)) => Ok(UploadDir::Tenants(t)),
            Err(_) => Err(serde::de::Error::custom(
                "each entry is a folder path, or a table { path = \"...\", tenants = [tenant ids] }",
            )),
        }
    }
}

impl UploadDir {
    pub fn path(&self) -> &Path {
        match self {
            UploadDir::Any(p) | UploadDir::Tenants(TenantsDir { path: p, .. }) => p,
        }
    }

    /// The tenants it is limited to (None: any).
    pub fn tenants(&self) -> Option<&[i64]> {
        match self {
            UploadDir::Any(_) => None,
            UploadDir::Tenants(d) => Some(&d.tenants),
        }
    }

    fn path_mut(&mut self) -> &mut PathBuf {
        match self {
            UploadDir::Any(p) | UploadDir::Tenants(TenantsDir { path: p, .. }) => p,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumhubConfig {
    /// NumHub's base URL; the API lives under `/api/v1/`. `""` in the file: none.
    #[serde(deserialize_with = "base_url")]
    pub base_url: Option<Url>,
    /// The global account's login. Tenants may have their own (set over the RPC).
    pub email: Option<String>,
    /// A file holding the global account's password (or the systemd credential
    /// `numhub-password`). Never the password itself in this file.
    pub password_file: Option<PathBuf>,
    /// The `X-Auth-Scheme` header sent with every call but the token call
    /// (`ATLAASROPG` or `ATLAASAACG`; empty = not sent).
    pub auth_scheme: String,
    /// Seconds one HTTP exchange may take before it counts as failed.
    pub request_timeout_secs: u64,
    /// Requests per window per NumHub account (NumHub allows 100 a minute); 0 = no pacing.
    pub rate_limit: u32,
    /// The rate window in seconds.
    pub rate_window_secs: u64,
    /// Attempts per call (first try included) for retryable failures.
    pub max_attempts: u32,
    /// A token is renewed once less than this fraction of its life is left (0.0-0.9).
    pub refresh_margin: f64,
    /// A PEM bundle of extra CAs trusted for NumHub (e.g. a TLS-inspecting proxy).
    pub ca_file: Option<PathBuf>,
    /// The form phone numbers are sent to NumHub in (the replica keeps E.164).
    pub phone_format: PhoneFormat,
    /// NumHub calls one tenant's callers may start over the socket per minute
    /// (`entity.refresh`, `otp.*`, `token.refresh`, …). Unset: a fair share, the
    /// account's rate per minute divided among the tenants that use NumHub.
    pub tenant_interactive_per_min: Option<u32>,
    /// The largest answer read from NumHub, in bytes (by `Content-Length` and while
    /// reading); a larger one is an error naming the operation.
    pub max_response_bytes: u64,
}

/// `[numhub] phone_format`: how a NANP number is written in what is sent to NumHub.
/// The document types numbers as plain strings; its one example is `818-444-5555`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneFormat {
    /// `818-444-5555`, the document's example.
    #[default]
    Dashed,
    /// `+18184445555`.
    E164,
    /// `8184445555`.
    Digits,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Audit rows (`numhub_sync_logs`) older than this many days are deleted daily.
    pub retention_days: u32,
    /// Request/response fields kept only as a short keyed fingerprint in audit rows
    /// (business identifiers). Empty = none.
    pub redact_fields: Vec<String>,
    /// An audit row's request or response payload is cut to this many bytes (with a
    /// marker saying how much was left out).
    pub max_payload_bytes: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_days: 90,
            redact_fields: DEFAULT_REDACT_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_payload_bytes: 64 << 10,
        }
    }
}

/// Business identifiers fingerprinted in audit rows unless configured otherwise.
pub const DEFAULT_REDACT_FIELDS: &[&str] = &[
    "federalEmployerIdNumber",
    "dunAndBradstreetNumber",
    "stateCorporateRegistrationNumber",
    "stateProfessionalLicenseNumber",
];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropConfig {
    /// The folder operators drop documents into.
    pub dir: PathBuf,
    /// How long a file's size and mtime must stay still, after it was closed or
    /// renamed into the folder, before it is taken.
    pub settle_ms: u64,
    /// A file whose format's end marker is missing (a PDF without `%%EOF`, ...) is
    /// waited for; unchanged this long, it is refused as cut short.
    pub incomplete_after_secs: u64,
    /// Files in `.processed/` are deleted this many days after they got there.
    pub keep_processed_days: u64,
    /// The operators' group: gets write access to the inbox folders (setgid).
    pub group: Option<String>,
    /// The largest file taken, by the folder and by `document.upload`.
    pub max_file_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CryptoConfig {
    /// The age identity that decrypts stored secrets (created 0600 if absent).
    pub identity_file: PathBuf,
    /// Extra age recipients (`age1…`) every secret is also encrypted to (escrow).
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `RUST_LOG`-style filter, e.g. `info,numhubd::sync=debug`.
    pub filter: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Jobs carried out at once (one entity's jobs always run in order).
    pub workers: usize,
    /// How often the outbox looks for due jobs when nothing woke it.
    pub outbox_poll_ms: u64,
    /// Attempts of one job before it goes `dead` (each attempt itself retries
    /// transient failures `[numhub] max_attempts` times).
    pub job_max_attempts: u32,
    /// Backoff between a job's attempts: doubled from base, capped at max.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// Done jobs are kept this long, then deleted in small batches.
    pub done_retention_days: u64,
    /// How often the poller asks NumHub whether anything changed.
    pub poll_interval_secs: u64,
    /// How often the poller walks every application and identity regardless.
    pub full_sweep_secs: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            workers: 4,
            outbox_poll_ms: 500,
            job_max_attempts: 8,
            retry_base_secs: 5,
            retry_max_secs: 600,
            done_retention_days: 30,
            poll_interval_secs: 60,
            full_sweep_secs: 900,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// How long shutdown waits for tasks to finish before it stops anyway.
    pub shutdown_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            path: "numhubd.db".into(),
            readers: 4,
            synchronous: Synchronous::Normal,
            password_file: None,
            ca_file: None,
            allow_plaintext: false,
        }
    }
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            socket: "numhubd.sock".into(),
            socket_mode: 0o660,
            socket_group: None,
            max_body_bytes: 1024 * 1024,
            max_batch: 100,
            max_connections: 256,
            max_connections_per_uid: 32,
            header_timeout_ms: 5_000,
            idle_timeout_secs: 60,
            max_response_bytes: 16 * 1024 * 1024,
            max_requests_per_sec: 1000,
            upload_dirs: Vec::new(),
        }
    }
}

impl Default for NumhubConfig {
    fn default() -> Self {
        NumhubConfig {
            // NumHub's document names no server (`servers` is null): there is no
            // honest default. None = not configured; nothing is sent anywhere.
            base_url: None,
            email: None,
            password_file: None,
            auth_scheme: "ATLAASROPG".into(),
            request_timeout_secs: 30,
            rate_limit: 100,
            rate_window_secs: 60,
            max_attempts: 5,
            refresh_margin: 0.1,
            ca_file: None,
            phone_format: PhoneFormat::Dashed,
            tenant_interactive_per_min: None,
            max_response_bytes: 16 << 20,
        }
    }
}

impl Default for DropConfig {
    fn default() -> Self {
        DropConfig {
            dir: "drop".into(),
            settle_ms: 500,
            incomplete_after_secs: 600,
            keep_processed_days: 30,
            group: None,
            max_file_bytes: 50 * 1024 * 1024,
        }
    }
}

impl Default for CryptoConfig {
    fn default() -> Self {
        CryptoConfig {
            identity_file: "identity.txt".into(),
            recipients: Vec::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
        }
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            shutdown_timeout_secs: 5,
        }
    }
}

/// Every section of the file with its keys: the one list of keys, read from the
/// structs themselves (serde's own field lists), so it cannot drift from what the
/// file may hold. Environment overrides, unknown-key messages and the example-config
/// test all use it. `access` is the `[[access]]` array's rule.
pub fn sections() -> [(&'static str, &'static [&'static str]); 11] {
    [
        ("database", fields::<DatabaseConfig>()),
        ("rpc", fields::<RpcConfig>()),
        ("access", fields::<AccessRule>()),
        ("numhub", fields::<NumhubConfig>()),
        ("drop", fields::<DropConfig>()),
        ("crypto", fields::<CryptoConfig>()),
        ("log", fields::<LogConfig>()),
        ("daemon", fields::<DaemonConfig>()),
        ("audit", fields::<AuditConfig>()),
        ("sync", fields::<SyncConfig>()),
        ("cluster", fields::<ClusterConfig>()),
    ]
}

/// The keys a section may hold; None for a section that does not exist.
pub fn keys_of(section: &str) -> Option<&'static [&'static str]> {
    sections()
        .into_iter()
        .find(|(s, _)| *s == section)
        .map(|(_, keys)| keys)
}

/// The field names serde's derive hands to `deserialize_struct`: a deserializer
/// that only records them.
fn fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::value::Error;
    use serde::de::Visitor;
    struct Grab<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Grab<'_> {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(serde::de::Error::custom("field list only"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("field list only"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut found: &'static [&'static str] = &[];
    let _ = T::deserialize(Grab(&mut found));
    found
}

/// `[[access]] role`: one of the roles a rule may grant.
fn grantable_role<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
    let name = String::deserialize(d)?;
    Role::grantable(&name).ok_or_else(|| {
        let names: Vec<&str> = Role::GRANTABLE.iter().map(|r| r.as_str()).collect();
        serde::de::Error::custom(format!("{name:?} is not one of {}", names.join(", ")))
    })
}

/// `[rpc] socket_mode`: octal text such as `"0660"`, at most 0770.
fn socket_mode<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let text = String::deserialize(d)?;
    let mode = u32::from_str_radix(text.trim_start_matches("0o"), 8).map_err(|_| {
        serde::de::Error::custom(format!("{text:?} is not an octal mode like \"0660\""))
    })?;
    // The socket is the API's only door; others (world) must never get through it.
    if mode & !0o770 != 0 {
        return Err(serde::de::Error::custom(format!(
            "{text:?} is above 0770: the socket must never be accessible to others (use 0660 or 0770 with socket_group)"
        )));
    }
    Ok(mode)
}

/// `[numhub] base_url`: an http(s) URL with a host, or `""` for none.
fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    let url = Url::parse(&text)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(serde::de::Error::custom(format!(
            "{text:?} is not an http(s) URL with a host"
        )));
    }
    // The token call carries the password in its query string: in clear only to
    // this machine (the sandbox, a local proxy).
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if url.scheme() == "http" && !loopback {
        return Err(serde::de::Error::custom(format!(
            "{text:?}: http:// is only for a loopback host (the login sends the password in the URL); use https://"
        )));
    }
    Ok(Some(url))
}

impl Config {
    /// Reads, overrides from the environment, validates and resolves `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.display().to_string(),
            source: e,
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Config::from_toml(&text, &path.display().to_string(), base, std::env::vars())
    }

    /// The configuration a bare `numhubd serve` uses: defaults, with relative paths
    /// under `base` (the README's `./var`), overridden from the environment.
    pub fn defaults_in(base: &Path) -> Result<Config, ConfigError> {
        Config::from_toml("", "(built-in defaults)", base, std::env::vars())
    }

    /// Parses `text` (named `origin` in errors), applies the overrides in `env`,
    /// validates, and resolves relative paths against `base`.
    pub fn from_toml(
        text: &str,
        origin: &str,
        base: &Path,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    path: origin.to_string(),
                    reason: one_line(&describe_toml_error(text, &e)),
                })?;
        apply_env(&mut table, origin, env)?;
        let mut config: Config =
            toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    path: origin.to_string(),
                    reason: one_line(&describe_value_error(&table, &e)),
                })?;
        config.validate(origin)?;
        config.resolve(base);
        Ok(config)
    }

    /// Every path becomes absolute, once: the drop folder's watch reports absolute
    /// paths, and `numhubctl drop-path` must print a folder that means the same thing
    /// in the operator's shell as in the daemon.
    fn resolve(&mut self, base: &Path) {
        let base = &absolute(base);
        let state = std::env::var_os("STATE_DIRECTORY").map(|p| absolute(Path::new(&p)));
        let runtime = std::env::var_os("RUNTIME_DIRECTORY").map(|p| absolute(Path::new(&p)));
        let state_base = first_dir(state.as_deref()).unwrap_or(base);
        let runtime_base = first_dir(runtime.as_deref()).unwrap_or(base);
        self.database.path = under(state_base, &self.database.path);
        self.crypto.identity_file = under(state_base, &self.crypto.identity_file);
        self.rpc.socket = under(runtime_base, &self.rpc.socket);
        self.drop.dir = under(base, &self.drop.dir);
        for d in &mut self.rpc.upload_dirs {
            let p = d.path_mut();
            *p = under(base, p);
        }
        if let Some(p) = &self.numhub.password_file {
            self.numhub.password_file = Some(under(base, p));
        }
        for p in [
            &mut self.numhub.ca_file,
            &mut self.database.password_file,
            &mut self.database.ca_file,
        ]
        .into_iter()
        .flatten()
        {
            *p = under(base, p);
        }
    }

    /// numhubd's own copies of taken files: `spool/` beside the database, in the
    /// state directory.
    pub fn spool_dir(&self) -> PathBuf {
        self.database
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join("spool")
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.daemon.shutdown_timeout_secs)
    }
}

/// systemd may pass several colon-separated folders; the first is ours.
fn first_dir(dirs: Option<&Path>) -> Option<&Path> {
    let s = dirs?.to_str()?;
    let first = s.split(':').next()?;
    (!first.is_empty()).then(|| Path::new(first))
}

/// `p` against the working directory, without touching the file system (the folder
/// may not exist yet); left as it is if the working directory cannot be read.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn under(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Applies `NUMHUBD_<SECTION>_<KEY>=value`. The value is read as TOML when it parses
/// as a TOML value (numbers, booleans), as a plain string otherwise.
fn apply_env(
    table: &mut toml::Table,
    origin: &str,
    env: impl Iterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("NUMHUBD_") else {
            continue;
        };
        let lower = rest.to_ascii_lowercase();
        let Some((section, key)) = lower.split_once('_') else {
            continue;
        };
        if section == "access" || keys_of(section).is_none() {
            continue;
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value.clone()));
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => {
                t.insert(key.to_string(), parsed);
            }
            _ => {
                return Err(ConfigError::BadValue {
                    path: origin.to_string(),
                    key: section.to_string(),
                    reason: format!("must be a table (while applying {name})"),
                })
            }
        }
    }
    Ok(())
}

/// toml's syntax errors carry a span; name the line so the operator finds it.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

/// Type errors from the typed pass: toml names the field for unknown keys but not
/// for wrong types, so find the key whose value fails on its own.
fn describe_value_error(table: &toml::Table, e: &toml::de::Error) -> String {
    let msg = e.message().to_string();
    if msg.contains("unknown field") {
        return match find_unknown_key(table) {
            Some(key) => format!("{key}: unknown key ({msg})"),
            None => msg,
        };
    }
    if let Some(toml::Value::Array(rules)) = table.get("access") {
        if let Some(described) = describe_access_error(rules) {
            return described;
        }
    }
    for (section, value) in table {
        if section == "access" {
            continue;
        }
        let toml::Value::Table(inner) = value else {
            return format!("{section}: must be a table, not a {}", value.type_str());
        };
        for (key, v) in inner {
            let mut probe = toml::Table::new();
            let mut sec = toml::Table::new();
            sec.insert(key.clone(), v.clone());
            probe.insert(section.clone(), toml::Value::Table(sec));
            if let Err(err) = toml::Value::Table(probe).try_into::<Config>() {
                return format!("{section}.{key}: {}", err.message());
            }
        }
    }
    msg
}

/// The `[[access]]` key whose value fails: each key of each rule is tried in a rule
/// that is otherwise valid.
fn describe_access_error(rules: &[toml::Value]) -> Option<String> {
    for (i, rule) in rules.iter().enumerate() {
        let toml::Value::Table(inner) = rule else {
            return Some(format!(
                "access[{i}]: must be a table, not a {}",
                rule.type_str()
            ));
        };
        for (key, v) in inner {
            let mut probe: toml::Table = toml::toml! {
                uid = 0
                role = "read"
                tenants = "*"
            };
            probe.insert(key.clone(), v.clone());
            if let Err(err) = toml::Value::Table(probe).try_into::<AccessRule>() {
                return Some(format!("access[{i}].{key}: {}", err.message()));
            }
        }
    }
    None
}

fn find_unknown_key(table: &toml::Table) -> Option<String> {
    for (section, value) in table {
        let Some(keys) = keys_of(section) else {
            return Some(section.clone());
        };
        if let toml::Value::Array(rules) = value {
            for (i, rule) in rules.iter().enumerate() {
                if let toml::Value::Table(inner) = rule {
                    if let Some(k) = inner.keys().find(|k| !keys.contains(&k.as_str())) {
                        return Some(format!("{section}[{i}].{k}"));
                    }
                }
            }
        }
        if let toml::Value::Table(inner) = value {
            if let Some(k) = inner.keys().find(|k| !keys.contains(&k.as_str())) {
                return Some(format!("{section}.{k}"));
            }
        }
    }
    None
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            text,
            "test.toml",
            Path::new("/etc/numhubd"),
            std::iter::empty(),
        )
    }

    #[test]
    fn empty_file_gives_defaults_resolved_against_the_config_folder() {
        let c = parse("").expect("defaults");
        assert_eq!(c.database.path, Path::new("/etc/numhubd/numhubd.db"));
        assert_eq!(c.log.filter, "info");
    }

    /// A file that cannot be read names what is wrong and where.
    #[test]
    fn a_bad_file_is_named_by_key_section_or_line() {
        for (text, named) in [
            ("[database]\npaht = \"x\"\n", "database.paht"),
            ("[databse]\npath = \"x\"\n", "databse"),
            (
                "[daemon]\nshutdown_timeout_secs = \"soon\"\n",
                "daemon.shutdown_timeout_secs",
            ),
            ("[log]\nfilter = \n", "line 2"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(named), "{text}: {e}");
        }
    }

    #[test]
    fn env_overrides_keys_and_types() {
        let env = vec![
            ("NUMHUBD_LOG_FILTER".to_string(), "debug".to_string()),
            (
                "NUMHUBD_DAEMON_SHUTDOWN_TIMEOUT_SECS".to_string(),
                "9".to_string(),
            ),
            (
                "NUMHUBD_NUMHUB_BASE_URL".into(),
                "http://127.0.0.1:9".into(),
            ),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let c = Config::from_toml("", "t", Path::new("/x"), env.into_iter()).expect("env");
        assert_eq!(c.log.filter, "debug");
        assert_eq!(c.daemon.shutdown_timeout_secs, 9);
        assert_eq!(
            c.numhub.base_url.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:9/")
        );
    }

    #[test]
    fn env_with_unknown_key_is_refused() {
        let env = vec![("NUMHUBD_LOG_FILTR".to_string(), "debug".to_string())];
        let e = Config::from_toml("", "t", Path::new("/x"), env.into_iter()).expect_err("bad env");
        assert!(e.to_string().contains("log.filtr"), "{e}");
    }

    #[test]
    fn numhub_and_audit_values_are_checked_by_key() {
        for (text, key) in [
            (
                "[numhub]\nrate_window_secs = 0\n",
                "numhub.rate_window_secs",
            ),
            ("[numhub]\nmax_attempts = 0\n", "numhub.max_attempts"),
            ("[numhub]\nrefresh_margin = 1.5\n", "numhub.refresh_margin"),
            ("[numhub]\nauth_scheme = \"BASIC\"\n", "numhub.auth_scheme"),
            (
                "[numhub]\nrequest_timeout_secs = 0\n",
                "numhub.request_timeout_secs",
            ),
            ("[audit]\nretention_days = 0\n", "audit.retention_days"),
            ("[audit]\nretention = 3\n", "audit.retention"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
        let c =
            parse("[numhub]\nrate_limit = 0\nca_file = \"ca.pem\"\n[audit]\nredact_fields = []\n")
                .expect("valid");
        assert_eq!(c.numhub.rate_limit, 0);
        assert_eq!(
            c.numhub.ca_file.as_deref(),
            Some(Path::new("/etc/numhubd/ca.pem"))
        );
        assert!(c.audit.redact_fields.is_empty());
        assert_eq!(Config::default().audit.redact_fields.len(), 4);
    }

    #[test]
    fn drop_keys_and_upload_dirs_are_checked_by_key() {
        for (text, key) in [
            ("[drop]\nsettle_ms = 0\n", "drop.settle_ms"),
            (
                "[drop]\nkeep_processed_days = 0\n",
                "drop.keep_processed_days",
            ),
            ("[drop]\nmax_file_bytes = 0\n", "drop.max_file_bytes"),
            ("[drop]\ngroup = \"\"\n", "drop.group"),
            (
                "[rpc]\nupload_dirs = [{ path = \"a\", tenants = [] }]\n",
                "rpc.upload_dirs[0].tenants",
            ),
            (
                "[rpc]\nupload_dirs = [\"a\", { path = \"b\", tenant = [1] }]\n",
                "tenants = [tenant ids]",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
        let c = parse(
            "[rpc]\nupload_dirs = [\"shared\", { path = \"/srv/acme\", tenants = [1, 2] }]\n\
             [drop]\nsettle_ms = 200\ngroup = \"operators\"\n",
        )
        .expect("valid");
        let dirs = &c.rpc.upload_dirs;
        assert_eq!(dirs[0].path(), Path::new("/etc/numhubd/shared"));
        assert_eq!(dirs[0].tenants(), None);
        assert_eq!(dirs[1].path(), Path::new("/srv/acme"));
        assert_eq!(dirs[1].tenants(), Some(&[1, 2][..]));
        assert_eq!(c.drop.settle_ms, 200);
        assert_eq!(c.drop.group.as_deref(), Some("operators"));
        assert_eq!(c.spool_dir(), Path::new("/etc/numhubd/spool"));
    }

    #[test]
    fn invalid_log_filter_is_refused() {
        let e = parse("[log]\nfilter = \"info,[[[\"\n").expect_err("bad filter");
        assert!(e.to_string().contains("log.filter"), "{e}");
    }

    #[test]
    fn access_rules_and_rpc_limits_are_checked() {
        let c = parse("[[access]]\nuid = 33\nrole = \"write\"\ntenants = \"*\"\n[[access]]\ngid = 5\nrole = \"read\"\ntenants = [1, 2]\n")
            .expect("rules");
        assert_eq!(c.access.len(), 2);
        assert_eq!(c.access[1].tenants, TenantScope::Some(vec![1, 2]));
        for (text, key) in [
            (
                "[[access]]\nuid = 1\ngid = 2\nrole = \"read\"\ntenants = \"*\"\n",
                "access[0]",
            ),
            (
                "[[access]]\nuid = 1\nrole = \"owner\"\ntenants = \"*\"\n",
                "access[0].role",
            ),
            (
                "[[access]]\nuid = 1\nrole = \"read\"\ntenants = \"all\"\n",
                "access[0].tenants",
            ),
            (
                "[[access]]\nuid = 1\nrole = \"read\"\ntenants = \"*\"\ncolor = 1\n",
                "access[0].color",
            ),
            ("[rpc]\nsocket_mode = \"rw\"\n", "rpc.socket_mode"),
            ("[rpc]\nmax_batch = 0\n", "rpc.max_batch"),
            (
                "[rpc]\nmax_connections = 8\nmax_connections_per_uid = 8\n",
                "rpc.max_connections_per_uid",
            ),
            (
                "[rpc]\nmax_connections_per_uid = 0\n",
                "rpc.max_connections_per_uid",
            ),
            ("[rpc]\nheader_timeout_ms = 0\n", "rpc.header_timeout_ms"),
            ("[rpc]\nidle_timeout_secs = 0\n", "rpc.idle_timeout_secs"),
            ("[rpc]\nmax_response_bytes = 10\n", "rpc.max_response_bytes"),
        ] {
            let e = parse(text).expect_err(key);
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
        assert_eq!(c.access[0].role, Role::Write);
        assert_eq!(parse("").expect("defaults").rpc.socket_mode, 0o660);
    }

    #[test]
    fn an_unknown_role_is_named_with_the_roles_there_are() {
        let e =
            parse("[[access]]\nuid = 1\nrole = \"wirte\"\ntenants = \"*\"\n").expect_err("wirte");
        assert!(
            e.to_string()
                .contains("access[0].role: \"wirte\" is not one of read, write, admin"),
            "{e}"
        );
        // `none` is what a connection without a rule has; no rule grants it.
        let e = parse("[[access]]\ngid = 1\nrole = \"none\"\ntenants = [1]\n").expect_err("none");
        assert!(e.to_string().contains("access[0].role"), "{e}");
    }

    #[test]
    fn socket_mode_is_a_number_and_never_lets_others_in() {
        for (text, mode) in [
            ("0660", 0o660),
            ("0770", 0o770),
            ("0600", 0o600),
            ("0o640", 0o640),
        ] {
            let c = parse(&format!("[rpc]\nsocket_mode = \"{text}\"\n")).expect(text);
            assert_eq!(c.rpc.socket_mode, mode, "{text}");
        }
        for text in ["0777", "0666", "0771", "0707", "1770", "9", ""] {
            let e = parse(&format!("[rpc]\nsocket_mode = \"{text}\"\n")).expect_err(text);
            assert!(e.to_string().contains("rpc.socket_mode"), "{text}: {e}");
        }
        // A bare number is not octal text: refused rather than read as decimal.
        let e = parse("[rpc]\nsocket_mode = 660\n").expect_err("number");
        assert!(e.to_string().contains("rpc.socket_mode"), "{e}");
    }

    #[test]
    fn base_url_is_a_parsed_http_url_or_none() {
        assert_eq!(
            parse("[numhub]\nbase_url = \"\"\n")
                .expect("empty")
                .numhub
                .base_url,
            None
        );
        let c = parse("[numhub]\nbase_url = \"https://api.numhub.example/x\"\n").expect("url");
        let url = c.numhub.base_url.expect("some");
        assert_eq!(
            (url.scheme(), url.host_str()),
            ("https", Some("api.numhub.example"))
        );
        for text in [
            "http://127.0.0.1:8085",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            parse(&format!("[numhub]\nbase_url = \"{text}\"\n")).expect(text);
        }
        for text in [
            "numhub.example",
            "ftp://numhub.example",
            "http://",
            "http://api.numhub.example",
            "http://10.0.0.5:8085",
        ] {
            let e = parse(&format!("[numhub]\nbase_url = \"{text}\"\n")).expect_err(text);
            assert!(e.to_string().contains("numhub.base_url"), "{text}: {e}");
        }
    }

    #[test]
    fn phone_format_is_one_of_three_words() {
        assert_eq!(
            parse("").expect("default").numhub.phone_format,
            PhoneFormat::Dashed
        );
        for (text, want) in [
            ("dashed", PhoneFormat::Dashed),
            ("e164", PhoneFormat::E164),
            ("digits", PhoneFormat::Digits),
        ] {
            let c = parse(&format!("[numhub]\nphone_format = \"{text}\"\n")).expect(text);
            assert_eq!(c.numhub.phone_format, want, "{text}");
        }
        for text in ["E164", "dotted", ""] {
            let e = parse(&format!("[numhub]\nphone_format = \"{text}\"\n")).expect_err(text);
            assert!(e.to_string().contains("numhub.phone_format"), "{text}: {e}");
        }
    }

    #[test]
    fn database_url_and_its_keys_are_read_and_resolved() {
        let c = parse("").expect("defaults");
        assert_eq!(c.database.url, None);
        assert!(!c.database.allow_plaintext);
        assert_eq!(
            c.database.target().expect("sqlite"),
            DatabaseTarget::Sqlite {
                path: "/etc/numhubd/numhubd.db".into(),
                synchronous: Synchronous::Normal
            }
        );
        let c = parse(
            "[database]\nurl = \"mysql://numhubd@db.internal/numhubd\"\n\
             password_file = \"db-password\"\nca_file = \"db-ca.pem\"\n",
        )
        .expect("mysql");
        let url = c.database.url.as_ref().expect("url");
        assert_eq!(url.to_string(), "mysql://numhubd@db.internal:3306/numhubd");
        assert_eq!(
            c.database.password_file.as_deref(),
            Some(Path::new("/etc/numhubd/db-password"))
        );
        assert_eq!(
            c.database.ca_file.as_deref(),
            Some(Path::new("/etc/numhubd/db-ca.pem"))
        );
        // `""` is unset: an environment override can go back to SQLite.
        let env = vec![("NUMHUBD_DATABASE_URL".to_string(), String::new())];
        let c = Config::from_toml(
            "[database]\nurl = \"mysql://u@h/d\"\n",
            "t",
            Path::new("/x"),
            env.into_iter(),
        )
        .expect("env");
        assert_eq!(c.database.url, None);
    }

    #[test]
    fn database_keys_that_contradict_url_are_named() {
        for (text, key, why) in [
            (
                "[database]\nurl = \"mysql://numhubd:Hunter2Secret@db/numhubd\"\n",
                "database.url",
                "password_file",
            ),
            (
                "[database]\nurl = \"mysql://u@db/d?ssl=0\"\n",
                "database.url",
                "\"ssl\" is not accepted",
            ),
            (
                "[database]\nurl = \"mysql://u@db/d\"\nsynchronous = \"full\"\n",
                "database.synchronous",
                "SQLite only",
            ),
            (
                "[database]\nurl = \"mysql://u@db/d\"\nallow_plaintext = true\nca_file = \"ca.pem\"\n",
                "database.allow_plaintext",
                "keep one",
            ),
            (
                "[database]\nurl = \"mysql://u@localhost/d?socket=/s\"\nca_file = \"ca.pem\"\n",
                "database.ca_file",
                "never uses TLS",
            ),
            (
                "[database]\npassword_file = \"\"\n",
                "database.password_file",
                "must name a file",
            ),
            ("[database]\nurl = 3306\n", "database.url", "string"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(key), "{text}: {e}");
            assert!(e.contains(why), "{text}: {e}");
            assert!(!e.contains("Hunter2Secret"), "{text}: leaked in {e}");
        }
        // From the environment too, and still without the password.
        let env = vec![(
            "NUMHUBD_DATABASE_URL".to_string(),
            "mysql://u:Hunter2Secret@db/d".to_string(),
        )];
        let e = Config::from_toml("", "t", Path::new("/x"), env.into_iter())
            .expect_err("env")
            .to_string();
        assert!(e.contains("database.url"), "{e}");
        assert!(!e.contains("Hunter2Secret"), "{e}");
        // `normal` is the default and means nothing to MySQL: accepted.
        parse("[database]\nurl = \"mysql://u@db/d\"\nsynchronous = \"normal\"\n").expect("normal");
    }

    #[test]
    fn the_target_reads_the_password_file_and_names_it_when_unreadable() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pw"), "Hunter2Secret\n").expect("write");
        let text = "[database]\nurl = \"mysql://numhubd@127.0.0.1:13306/numhubd\"\npassword_file = \"pw\"\n";
        let c = Config::from_toml(text, "t", dir.path(), std::iter::empty()).expect("valid");
        // The test process has no CREDENTIALS_DIRECTORY unless run under systemd.
        if std::env::var_os("CREDENTIALS_DIRECTORY").is_none() {
            let DatabaseTarget::Mysql(m) = c.database.target().expect("target") else {
                panic!("not mysql");
            };
            assert_eq!(
                m.password.as_ref().map(DbPassword::expose),
                Some("Hunter2Secret")
            );
            assert_eq!(m.tls, Tls::Off);
            assert_eq!(
                m.to_string(),
                "mysql://numhubd@127.0.0.1:13306/numhubd (plaintext, local)"
            );
            std::fs::remove_file(dir.path().join("pw")).expect("rm");
            let e = c.database.target().expect_err("gone").to_string();
            assert!(e.contains("database.password_file"), "{e}");
            assert!(
                e.contains(&dir.path().join("pw").display().to_string()),
                "{e}"
            );
        }
    }

    #[test]
    fn the_key_list_is_every_section_of_the_config() {
        let names: Vec<&str> = sections().iter().map(|(s, _)| *s).collect();
        let mut top = fields::<Config>().to_vec();
        let mut listed = names.clone();
        top.sort_unstable();
        listed.sort_unstable();
        assert_eq!(top, listed);
        assert!(keys_of("rpc").expect("rpc").contains(&"socket_mode"));
        assert!(sections().iter().all(|(_, keys)| !keys.is_empty()));
    }

    #[test]
    fn the_documented_example_config_is_valid_and_complete() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/numhubd.toml");
        let text = std::fs::read_to_string(&path).expect("example config");
        let c = Config::from_toml(&text, "example", Path::new("/"), std::iter::empty())
            .expect("example parses");
        assert!(c.database.path.is_absolute());
        // Every key of every section appears in its own section of the example
        // (commented or not): `# key = …` under `[section]` or `# [[access]]`.
        let mut documented: Vec<(String, String)> = Vec::new();
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim_start_matches('#').trim();
            if let Some(name) = line
                .strip_prefix("[[")
                .and_then(|l| l.strip_suffix("]]"))
                .or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')))
            {
                section = name.to_string();
            } else if let Some((key, _)) = line.split_once('=') {
                let key = key.trim();
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    documented.push((section.clone(), key.to_string()));
                }
            }
        }
        for (section, keys) in sections() {
            for key in keys {
                assert!(
                    documented.iter().any(|(s, k)| s == section && k == key),
                    "config/numhubd.toml does not document {section}.{key} in its section"
                );
            }
        }
    }
}
