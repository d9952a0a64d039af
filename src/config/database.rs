//! `[database]` beyond the SQLite file: the MySQL/MariaDB `url`, where its password
//! comes from, and the TLS rule, turned into a [`DatabaseTarget`] the daemon hands
//! to the store.
//!
//! The URL never carries a secret: a password in it is refused, and no message here
//! ever repeats the URL's text (a secret typed into it may sit anywhere — the
//! user-info, a query parameter). The password comes from a systemd credential or a
//! file and lives only in a [`DbPassword`], which prints as `[redacted]`.
//!
//! TLS: a TCP connection to a host that is not loopback always uses TLS, verified
//! against the public CAs built into numhubd (webpki-roots, Mozilla's list) or
//! only `ca_file`'s; only `allow_plaintext = true` turns it
//! off. Loopback and a socket are plaintext unless `ca_file` asks for TLS on
//! loopback. A socket never uses TLS.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::{DatabaseConfig, Synchronous};

/// The systemd credential holding the MySQL password (`$CREDENTIALS_DIRECTORY/…`).
pub const PASSWORD_CREDENTIAL: &str = "database-password";

/// The port a URL without one means (MySQL's and MariaDB's).
pub const DEFAULT_PORT: u16 = 3306;

/// Where to reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MysqlAddress {
    /// A host name or IP address (IPv6 without brackets) and port.
    Tcp { host: String, port: u16 },
    /// A Unix socket on this machine (`?socket=` with host `localhost`).
    Socket(PathBuf),
}

impl MysqlAddress {
    /// Whether the bytes stay on this machine: a socket, `localhost`, 127.0.0.0/8, ::1.
    /// Names are not resolved (a name that happens to resolve to loopback is remote).
    pub fn is_local(&self) -> bool {
        match self {
            MysqlAddress::Socket(_) => true,
            MysqlAddress::Tcp { host, .. } => {
                host.eq_ignore_ascii_case("localhost")
                    || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
            }
        }
    }
}

/// `[database] url`, parsed: everything but the password and TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlUrl {
    pub address: MysqlAddress,
    pub user: String,
    pub database: String,
}

/// Why a URL was refused; never holds any of the URL's text but its scheme, a
/// query parameter's name or the database name (none of them secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

const FORMS: &str = "give mysql://USER@HOST[:PORT]/DATABASE or mysql://USER@localhost/DATABASE?socket=/path/to/mysqld.sock";

fn refuse<T>(reason: impl Into<String>) -> Result<T, UrlError> {
    Err(UrlError(reason.into()))
}

impl FromStr for MysqlUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<MysqlUrl, UrlError> {
        let Ok(url) = reqwest::Url::parse(text) else {
            return refuse(format!("not a URL: {FORMS}"));
        };
        // First, before anything might describe the URL: a secret in it.
        if url.password().is_some() || url.query_pairs().any(|(k, _)| is_password_param(&k)) {
            return refuse(format!(
                "a password in the URL is refused (config files are read by many and copied around): put it in database.password_file or the systemd credential {PASSWORD_CREDENTIAL}"
            ));
        }
        if !matches!(url.scheme(), "mysql" | "mariadb") {
            return refuse(format!(
                "scheme {:?} is not mysql or mariadb: {FORMS}",
                url.scheme()
            ));
        }
        if url.fragment().is_some() {
            return refuse(format!("a #fragment has no meaning here: {FORMS}"));
        }
        let user = percent_decoded(url.username())?;
        if user.is_empty() {
            return refuse(format!("names no user: {FORMS}"));
        }
        let database = database_name(url.path())?;
        let address = address(&url)?;
        Ok(MysqlUrl {
            address,
            user,
            database,
        })
    }
}

/// A query parameter that would carry a password, by any of the names clients use.
fn is_password_param(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "password" | "pass" | "passwd" | "pwd"
    )
}

/// The one path segment: letters, digits, `_` and `$`, 1-64 of them (what MySQL
/// takes unquoted, so every tool and grant statement reads it the same way).
fn database_name(path: &str) -> Result<String, UrlError> {
    let name = path.strip_prefix('/').unwrap_or(path);
    if name.is_empty() {
        return refuse(format!("names no database: {FORMS}"));
    }
    let valid = name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !valid {
        return refuse(
            "the database name must be 1-64 letters, digits, _ or $ (one path segment, e.g. /numhubd)",
        );
    }
    Ok(name.to_string())
}

/// Host and port, or the socket (the only query parameter there is).
fn address(url: &reqwest::Url) -> Result<MysqlAddress, UrlError> {
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return refuse(format!("names no host: {FORMS}"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut socket = None;
    for (name, value) in url.query_pairs() {
        if name != "socket" {
            return refuse(format!(
                "query parameter {name:?} is not accepted (only socket=); TLS and the password have their own [database] keys"
            ));
        }
        if socket.is_some() {
            return refuse("socket= is given twice");
        }
        let path = PathBuf::from(value.as_ref());
        if !path.is_absolute() {
            return refuse("socket= must be an absolute path (e.g. /run/mysqld/mysqld.sock)");
        }
        socket = Some(path);
    }
    match socket {
        Some(path) => {
            if !host.eq_ignore_ascii_case("localhost") {
                return refuse("socket= is a file on this machine: give localhost as the host");
            }
            if url.port().is_some() {
                return refuse("a port has no meaning with socket=: leave it out");
            }
            Ok(MysqlAddress::Socket(path))
        }
        None if url.port() == Some(0) => refuse("port 0 is not a port to connect to"),
        None => Ok(MysqlAddress::Tcp {
            host: host.to_string(),
            port: url.port().unwrap_or(DEFAULT_PORT),
        }),
    }
}

/// `%40` and friends in the user name (the URL form's way to write `@` or `:`).
fn percent_decoded(s: &str) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                return refuse("the user name has a % not followed by two hex digits");
            };
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError("the user name is not UTF-8".into()))
}

impl fmt::Display for MysqlUrl {
    /// The URL as it names the server, for status lines and logs (it holds no secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = &self.user;
        let db = &self.database;
        match &self.address {
            MysqlAddress::Tcp { host, port } if host.contains(':') => {
                write!(f, "mysql://{user}@[{host}]:{port}/{db}")
            }
            MysqlAddress::Tcp { host, port } => write!(f, "mysql://{user}@{host}:{port}/{db}"),
            MysqlAddress::Socket(p) => {
                write!(f, "mysql://{user}@localhost/{db}?socket={}", p.display())
            }
        }
    }
}

/// `[database] url`: a MySQL/MariaDB URL, or `""` for none (the SQLite file).
pub(super) fn mysql_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MysqlUrl>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// TLS to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Plaintext: a socket, loopback, or a remote host with `allow_plaintext = true`.
    Off,
    /// TLS, the server's certificate and name verified: against `ca_file`'s CAs only
    /// when given (a private CA; the public ones are then not trusted for this
    /// server), else the public CAs built in (webpki-roots, Mozilla's list). Never
    /// "TLS without verification".
    Verify { ca_file: Option<PathBuf> },
}

/// The TLS a connection to `address` uses under `[database] ca_file` and
/// `allow_plaintext`; Err names the key that contradicts the others.
pub fn tls_for(
    address: &MysqlAddress,
    ca_file: Option<&Path>,
    allow_plaintext: bool,
) -> Result<Tls, (&'static str, String)> {
    let verify = || Tls::Verify {
        ca_file: ca_file.map(Path::to_path_buf),
    };
    match address {
        MysqlAddress::Socket(_) if ca_file.is_some() => Err((
            "database.ca_file",
            "a socket= connection never uses TLS (it does not leave this machine): leave ca_file out".into(),
        )),
        MysqlAddress::Socket(_) => Ok(Tls::Off),
        a if a.is_local() => Ok(if ca_file.is_some() { verify() } else { Tls::Off }),
        _ if allow_plaintext && ca_file.is_some() => Err((
            "database.allow_plaintext",
            "allow_plaintext = true turns TLS off, and ca_file is only for TLS: keep one of them".into(),
        )),
        _ if allow_plaintext => Ok(Tls::Off),
        _ => Ok(verify()),
    }
}

/// The MySQL password: printed by `Debug` and `Display` as `[redacted]`, overwritten
/// with zeros when dropped. Never logged; `expose` only to hand it to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DbPassword(String);

impl DbPassword {
    pub fn new(s: impl Into<String>) -> DbPassword {
        DbPassword(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DbPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for DbPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for DbPassword {
    fn drop(&mut self) {
        // Best effort: this copy does not linger in freed memory (the driver keeps
        // its own for reconnects).
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// Everything needed to connect to MySQL/MariaDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlTarget {
    pub address: MysqlAddress,
    pub user: String,
    pub database: String,
    /// None: log in without one (e.g. a socket login by Unix user).
    pub password: Option<DbPassword>,
    pub tls: Tls,
}

/// The store the daemon opens: the SQLite file, or a MySQL/MariaDB database.
/// `[database] readers` applies to both and is read from the config itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite {
        path: PathBuf,
        synchronous: Synchronous,
    },
    Mysql(MysqlTarget),
}

impl fmt::Display for MysqlTarget {
    /// `mysql://user@host:port/db (TLS, public CAs)`: what it connects to, no secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = MysqlUrl {
            address: self.address.clone(),
            user: self.user.clone(),
            database: self.database.clone(),
        };
        let tls = match &self.tls {
            Tls::Off if self.address.is_local() => "plaintext, local",
            Tls::Off => "PLAINTEXT (allow_plaintext)",
            Tls::Verify { ca_file: None } => "TLS, public CAs",
            Tls::Verify { ca_file: Some(_) } => "TLS, ca_file",
        };
        write!(f, "{url} ({tls})")
    }
}

impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseTarget::Sqlite { path, .. } => write!(f, "{}", path.display()),
            DatabaseTarget::Mysql(m) => m.fmt(f),
        }
    }
}

/// A password that could not be read: the key (or credential) and file, and why.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: cannot read the database password from {}: {reason}", file.display())]
pub struct PasswordError {
    /// `database.password_file` or `credential database-password`.
    pub source_name: String,
    pub file: PathBuf,
    pub reason: String,
}

/// The password: the systemd credential when present (under systemd it is the
/// encrypted, private copy), else `password_file`'s first line, else none.
pub fn read_password(
    password_file: Option<&Path>,
    credentials_dir: Option<&Path>,
) -> Result<Option<DbPassword>, PasswordError> {
    let credential = credentials_dir
        .map(|d| d.join(PASSWORD_CREDENTIAL))
        .filter(|p| p.exists());
    let (source_name, file) = match (credential, password_file) {
        (Some(p), _) => (format!("credential {PASSWORD_CREDENTIAL}"), p),
        (None, Some(p)) => ("database.password_file".to_string(), p.to_path_buf()),
        (None, None) => return Ok(None),
    };
    let fail = |reason: String| PasswordError {
        source_name: source_name.clone(),
        file: file.clone(),
        reason,
    };
    let text = DbPassword::new(std::fs::read_to_string(&file).map_err(|e| fail(e.to_string()))?);
    // The first line: a newline left by `echo` or an editor is not part of it.
    let first = text.expose().lines().next().unwrap_or("");
    if first.is_empty() {
        return Err(fail(
            "its first line is empty (for a login without a password, leave password_file out)"
                .into(),
        ));
    }
    Ok(Some(DbPassword::new(first)))
}

impl DatabaseConfig {
    /// The store to open, reading the password when it is MySQL's (at start and by
    /// `check-config`; the credential directory is `$CREDENTIALS_DIRECTORY`).
    pub fn target(&self) -> Result<DatabaseTarget, super::ConfigError> {
        match &self.url {
            None => Ok(DatabaseTarget::Sqlite {
                path: self.path.clone(),
                synchronous: self.synchronous,
            }),
            Some(url) => self.mysql_target(url).map(DatabaseTarget::Mysql),
        }
    }

    /// `url` with this section's password and TLS keys: the daemon's own database, or
    /// another one (`copy-store --to URL`, parsed with `MysqlUrl::from_str`).
    pub fn mysql_target(&self, url: &MysqlUrl) -> Result<MysqlTarget, super::ConfigError> {
        let tls = tls_for(&url.address, self.ca_file.as_deref(), self.allow_plaintext).map_err(
            |(key, reason)| super::ConfigError::Database {
                key: key.into(),
                reason,
            },
        )?;
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let password = read_password(self.password_file.as_deref(), credentials.as_deref())?;
        Ok(MysqlTarget {
            address: url.address.clone(),
            user: url.user.clone(),
            database: url.database.clone(),
            password,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MysqlUrl, UrlError> {
        text.parse()
    }

    #[test]
    fn tcp_and_socket_urls_parse() {
        let u = parse("mysql://numhubd@db.internal:3307/numhubd").expect("tcp");
        assert_eq!(
            u.address,
            MysqlAddress::Tcp {
                host: "db.internal".into(),
                port: 3307
            }
        );
        assert_eq!(
            (u.user.as_str(), u.database.as_str()),
            ("numhubd", "numhubd")
        );
        let u = parse("mariadb://app%40x@10.0.0.5/brand_call$1").expect("default port");
        assert_eq!(
            u.address,
            MysqlAddress::Tcp {
                host: "10.0.0.5".into(),
                port: 3306
            }
        );
        assert_eq!(u.user, "app@x");
        assert_eq!(u.database, "brand_call$1");
        let u = parse("mysql://numhubd@localhost/numhubd?socket=/run/mysqld/mysqld.sock")
            .expect("socket");
        assert_eq!(
            u.address,
            MysqlAddress::Socket("/run/mysqld/mysqld.sock".into())
        );
        assert!(u.address.is_local());
        let u = parse("mysql://u@[::1]:3306/d").expect("ipv6");
        assert_eq!(u.to_string(), "mysql://u@[::1]:3306/d");
        assert!(u.address.is_local());
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (text, why) in [
            ("postgres://u@h/d", "is not mysql or mariadb"),
            ("mysql://h/d", "names no user"),
            ("mysql://u@h", "names no database"),
            ("mysql://u@h/", "names no database"),
            ("mysql://u@h/a/b", "1-64 letters"),
            ("mysql://u@h/my-db", "1-64 letters"),
            (&format!("mysql://u@h/{}", "a".repeat(65)), "1-64 letters"),
            ("mysql://u@h/d?sslmode=off", "\"sslmode\" is not accepted"),
            ("mysql://u@h/d?socket=/s", "give localhost"),
            ("mysql://u@localhost/d?socket=run/s", "absolute path"),
            ("mysql://u@localhost/d?socket=/a&socket=/b", "twice"),
            (
                "mysql://u@localhost:3306/d?socket=/s",
                "port has no meaning",
            ),
            ("mysql://u@h/d#x", "fragment"),
            ("mysql://u@h:0/d", "port 0"),
            ("mysql://u@h:99999/d", "not a URL"),
            ("numhubd", "not a URL"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(why), "{text}: {e}");
        }
        assert_eq!(
            parse("mysql://u@h/").expect_err("x").to_string(),
            parse("mysql://u@h").expect_err("y").to_string()
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_repeating_it() {
        for text in [
            "mysql://numhubd:Hunter2Secret@db.internal/numhubd",
            "mysql://numhubd:Hunter2Secret@db.internal/not-valid-db",
            "ftp://numhubd:Hunter2Secret@db.internal/numhubd",
            "mysql://numhubd@db.internal/numhubd?password=Hunter2Secret",
            "mysql://numhubd@db.internal/numhubd?PWD=Hunter2Secret",
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains("password_file"), "{text}: {e}");
            assert!(e.contains(PASSWORD_CREDENTIAL), "{text}: {e}");
            assert!(!e.contains("Hunter2Secret"), "{text}: leaked in {e}");
        }
        // A secret typed where a parameter's name goes is not repeated either.
        let e = parse("mysql://u@h/d?token=Hunter2Secret").expect_err("param");
        assert!(!e.to_string().contains("Hunter2Secret"), "{e}");
    }

    #[test]
    fn tls_is_on_for_remote_hosts_unless_plaintext_is_allowed() {
        let remote = MysqlAddress::Tcp {
            host: "db.internal".into(),
            port: 3306,
        };
        let lo = MysqlAddress::Tcp {
            host: "127.0.0.1".into(),
            port: 3306,
        };
        let sock = MysqlAddress::Socket("/run/mysqld/mysqld.sock".into());
        let ca = Path::new("/etc/numhubd/db-ca.pem");
        let verify = |ca_file: Option<&Path>| {
            Ok(Tls::Verify {
                ca_file: ca_file.map(Path::to_path_buf),
            })
        };
        // (address, ca_file, allow_plaintext) → the TLS, or the key refused.
        type Case<'a> = (
            &'a MysqlAddress,
            Option<&'a Path>,
            bool,
            Result<Tls, &'a str>,
        );
        let cases: [Case; 8] = [
            (&remote, None, false, verify(None)),
            (&remote, Some(ca), false, verify(Some(ca))),
            (&remote, None, true, Ok(Tls::Off)),
            (&remote, Some(ca), true, Err("database.allow_plaintext")),
            (&lo, None, false, Ok(Tls::Off)),
            (&lo, Some(ca), false, verify(Some(ca))),
            (&sock, None, true, Ok(Tls::Off)),
            (&sock, Some(ca), false, Err("database.ca_file")),
        ];
        for (address, ca_file, plaintext, want) in cases {
            let got = tls_for(address, ca_file, plaintext).map_err(|e| e.0);
            assert_eq!(got, want, "{address:?} {ca_file:?} {plaintext}");
        }
        // A name is not resolved: only localhost and loopback addresses are local.
        for host in ["localhost", "LOCALHOST", "127.0.0.2", "::1"] {
            let a = MysqlAddress::Tcp {
                host: host.into(),
                port: 1,
            };
            assert!(a.is_local(), "{host}");
        }
        for host in ["localhost.example", "10.0.0.1", "::2", "db"] {
            let a = MysqlAddress::Tcp {
                host: host.into(),
                port: 1,
            };
            assert!(!a.is_local(), "{host}");
        }
    }

    #[test]
    fn the_password_never_prints() {
        let p = DbPassword::new("Hunter2Secret");
        assert_eq!(format!("{p:?} {p}"), "[redacted] [redacted]");
        let t = MysqlTarget {
            address: MysqlAddress::Tcp {
                host: "db".into(),
                port: 3306,
            },
            user: "numhubd".into(),
            database: "numhubd".into(),
            password: Some(p),
            tls: Tls::Verify { ca_file: None },
        };
        let shown = format!("{t:?} {t} {:?}", DatabaseTarget::Mysql(t.clone()));
        assert!(!shown.contains("Hunter2Secret"), "{shown}");
        assert!(
            t.to_string()
                .starts_with("mysql://numhubd@db:3306/numhubd (TLS"),
            "{t}"
        );
    }

    #[test]
    fn the_password_is_the_credential_or_the_files_first_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("db-password");
        std::fs::write(&file, "s3cret\r\nignored\n").expect("write");
        let got = read_password(Some(&file), None)
            .expect("file")
            .expect("some");
        assert_eq!(got.expose(), "s3cret");
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).expect("mkdir");
        // No credential file in the folder: the password file.
        let got = read_password(Some(&file), Some(&creds))
            .expect("file")
            .expect("some");
        assert_eq!(got.expose(), "s3cret");
        std::fs::write(creds.join(PASSWORD_CREDENTIAL), "from-systemd\n").expect("write");
        let got = read_password(Some(&file), Some(&creds))
            .expect("cred")
            .expect("some");
        assert_eq!(got.expose(), "from-systemd");
        let got = read_password(None, Some(&creds))
            .expect("cred")
            .expect("some");
        assert_eq!(got.expose(), "from-systemd");
        assert_eq!(read_password(None, None).expect("none"), None);
        assert_eq!(read_password(None, Some(&file)).expect("none"), None);
    }

    #[test]
    fn an_unreadable_or_empty_password_file_is_named_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        let e = read_password(Some(&missing), None)
            .expect_err("missing")
            .to_string();
        assert!(e.contains("database.password_file"), "{e}");
        assert!(e.contains(&missing.display().to_string()), "{e}");
        assert!(e.contains("No such file"), "{e}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\nsecond-line-is-not-it\n").expect("write");
        let e = read_password(Some(&empty), None)
            .expect_err("empty")
            .to_string();
        assert!(e.contains("first line is empty"), "{e}");
        assert!(!e.contains("second-line"), "{e}");
    }
}
