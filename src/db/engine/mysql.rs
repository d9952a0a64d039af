//! The MySQL / MariaDB side of [`super::Conn`]: one server session, driven by the
//! thread that holds it (the writer's, a reader's on the blocking pool) on the
//! session's own runtime, so the store's closures stay synchronous on both engines.
//! (Never from an async task: a network wait there would stall the daemon's other
//! tasks.)
//!
//! What differs from SQLite lives here: `?N` placeholders become positional `?`,
//! timestamps are bound as times, sessions run in UTC under READ COMMITTED (readers:
//! REPEATABLE READ, for one snapshot per read), a lock-wait timeout is retried, and a
//! COMMIT whose answer is lost is resolved by a marker row before anyone is told.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Timelike, Utc};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Params, SslOpts, Value};

use super::{Param, Row};
use crate::db::{DbError, Result};

/// A MySQL server and the database numhubd owns on it.
#[derive(Debug, Clone)]
pub struct Server {
    /// Host name or address (with `socket`: only shown).
    pub host: String,
    pub port: u16,
    /// A Unix socket instead of TCP.
    pub socket: Option<PathBuf>,
    pub user: String,
    pub database: String,
    pub password: Option<Password>,
    pub tls: Tls,
}

impl Server {
    /// Where the database is, for messages: never the password.
    pub fn shown(&self) -> String {
        match &self.socket {
            Some(s) => format!(
                "mysql://{}@localhost/{} (socket {})",
                self.user,
                self.database,
                s.display()
            ),
            None => format!(
                "mysql://{}@{}:{}/{}",
                self.user, self.host, self.port, self.database
            ),
        }
    }
}

/// The database password: shown nowhere.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(s: String) -> Password {
        Password(s)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// TLS to the server.
#[derive(Debug, Clone)]
pub enum Tls {
    Off,
    /// rustls, verifying the server against the built-in roots or `ca_file`.
    Verify {
        ca_file: Option<PathBuf>,
    },
}

/// What a session is for: its isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The store's writer: READ COMMITTED, so a claim's row lock takes no gap lock that
    /// would stall another session's insert; and closed by the server after
    /// [`WRITER_IDLE_SECS`] idle, so a process stopped inside a transaction (SIGSTOP,
    /// a stalled VM) releases its row locks — the lease row's above all, which the
    /// next leader must lock to take over. A working writer is never idle that long
    /// (the lease loop writes every few seconds); a closed idle session is replaced
    /// at its next transaction.
    Writer,
    /// A session of its own (the holder, migrations, copy-store): READ COMMITTED, the
    /// server's idle timeout.
    Own,
    /// Readers: REPEATABLE READ, so every statement of one read sees one snapshot (the
    /// SQLite readers' guarantee); consistent reads take no locks.
    Reader,
}

/// How long the store's writer session may sit idle before the server closes it.
const WRITER_IDLE_SECS: u32 = 5;

/// `sql_mode` for numhubd's sessions: strict (a bad value is refused, not coerced),
/// `||` concatenates and `"` quotes identifiers, as on SQLite.
const SQL_MODE: &str = "STRICT_ALL_TABLES,PIPES_AS_CONCAT,ANSI_QUOTES,NO_ZERO_DATE,\
NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

/// Server error codes numhubd treats specially.
mod code {
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub const DEADLOCK: u16 = 1213;
    pub const UNKNOWN_THREAD: u16 = 1094;
    pub const TABLE_FULL: u16 = 1114;
    pub const DISK_FULL: u16 = 1021;
    pub const OUT_OF_SPACE: u16 = 3;
}

/// How often a lock-wait timeout is retried before the statement fails.
const LOCK_WAIT_RETRIES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    None,
    Open,
    /// The server ended the transaction (deadlock, lost connection): its work is gone.
    Lost,
}

/// `?N` placeholders turned into MySQL's positional `?`: the statement, and for each
/// `?` the index of its argument.
struct Rewrite {
    sql: String,
    order: Vec<usize>,
}

/// A session's own single-threaded runtime: the thread that holds the session drives
/// its socket itself while it waits, so an answer wakes no other thread (a shared I/O
/// thread cost two wake-ups per round trip: docs/BENCHMARKS.md). Shut down without
/// waiting, so a store may be dropped anywhere, also inside an async task.
struct SessionRuntime(Option<tokio::runtime::Runtime>);

impl SessionRuntime {
    fn new() -> std::io::Result<SessionRuntime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(SessionRuntime(Some(rt)))
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.0 {
            Some(rt) => rt.block_on(f),
            // Only `drop` takes it.
            None => unreachable!("a session runtime is used after it was shut down"),
        }
    }
}

impl Drop for SessionRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

pub struct MyConn {
    rt: SessionRuntime,
    opts: Opts,
    conn: RefCell<Option<mysql_async::Conn>>,
    rewrites: RefCell<HashMap<String, Arc<Rewrite>>>,
    changes: Cell<u64>,
    tx: Cell<TxState>,
    /// The last transaction ended with nothing written and may run again.
    rerun: Cell<bool>,
    commits: Cell<u64>,
}

impl MyConn {
    /// Opens a session (exit 69 material when the server cannot be reached).
    pub(crate) fn connect(server: &Server, role: Role) -> Result<MyConn> {
        let rt = SessionRuntime::new().map_err(|e| unavailable(server, e))?;
        let opts = opts(server, role)?;
        let conn = rt
            .block_on(mysql_async::Conn::new(opts.clone()))
            .map_err(|e| unavailable(server, e))?;
        Ok(MyConn {
            rt,
            opts,
            conn: RefCell::new(Some(conn)),
            rewrites: RefCell::default(),
            changes: Cell::new(0),
            tx: Cell::new(TxState::None),
            rerun: Cell::new(false),
            commits: Cell::new(0),
        })
    }

    /// Runs `f` on the session, connecting again first if the last one was lost (not
    /// inside a transaction: that one's work is gone, and the caller must hear it).
    fn run<T>(
        &self,
        f: impl AsyncFnOnce(&mut mysql_async::Conn) -> mysql_async::Result<T>,
    ) -> Result<T> {
        let mut slot = self.conn.borrow_mut();
        if slot.is_none() {
            if self.tx.get() != TxState::None {
                return Err(DbError::Commit {
                    source: "the connection to the database was lost inside the transaction; nothing of it was written".into(),
                });
            }
            let fresh = self
                .rt
                .block_on(mysql_async::Conn::new(self.opts.clone()))?;
            *slot = Some(fresh);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(DbError::Closed);
        };
        let result = self.rt.block_on(f(conn));
        if let Err(e) = &result {
            if connection_lost(e) {
                *slot = None;
            }
            if (connection_lost(e) || server_code(e) == Some(code::DEADLOCK))
                && self.tx.get() == TxState::Open
            {
                self.tx.set(TxState::Lost);
            }
        }
        Ok(result?)
    }

    /// The statement for MySQL and its arguments in placeholder order.
    fn bind(&self, sql: &str, args: &[Param<'_>]) -> (Arc<Rewrite>, Params) {
        let rewrite = self.rewrite(sql);
        let values: Vec<Value> = rewrite
            .order
            .iter()
            .map(|&i| args.get(i).map_or(Value::NULL, value))
            .collect();
        let params = if values.is_empty() {
            Params::Empty
        } else {
            Params::Positional(values)
        };
        (rewrite, params)
    }

    fn rewrite(&self, sql: &str) -> Arc<Rewrite> {
        if let Some(r) = self.rewrites.borrow().get(sql) {
            return r.clone();
        }
        let r = Arc::new(positional(sql));
        self.rewrites
            .borrow_mut()
            .insert(sql.to_string(), r.clone());
        r
    }

    /// Runs one statement, again after a lock-wait timeout (which ends only the
    /// statement: numhubd refuses a server with `innodb_rollback_on_timeout`).
    fn exec_retrying<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        f: impl AsyncFn(&mut mysql_async::Conn, &str, Params) -> mysql_async::Result<T>,
    ) -> Result<T> {
        let (rewrite, params) = self.bind(sql, args);
        let mut tries = 0;
        loop {
            let attempt = self.run(async |c| f(c, &rewrite.sql, params.clone()).await);
            match attempt {
                Err(DbError::Mysql(e))
                    if server_code(&e) == Some(code::LOCK_WAIT_TIMEOUT)
                        && tries < LOCK_WAIT_RETRIES =>
                {
                    tries += 1;
                    tracing::warn!(tries, "lock wait timeout; trying the statement again");
                }
                other => return other,
            }
        }
    }

    pub(super) fn execute(&self, sql: &str, args: &[Param<'_>]) -> Result<usize> {
        let n = self.exec_retrying(sql, args, async |c, s, p| {
            c.exec_drop(s, p).await?;
            Ok(c.affected_rows())
        })?;
        self.changes.set(self.changes.get() + n);
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn insert(&self, sql: &str, args: &[Param<'_>]) -> Result<i64> {
        let (n, id) = self.exec_retrying(sql, args, async |c, s, p| {
            c.exec_drop(s, p).await?;
            Ok((c.affected_rows(), c.last_insert_id()))
        })?;
        self.changes.set(self.changes.get() + n);
        let id = id.ok_or_else(|| DbError::Column {
            index: 0,
            source: "the INSERT gave no id".into(),
        })?;
        i64::try_from(id).map_err(|e| DbError::Column {
            index: 0,
            source: e.into(),
        })
    }

    pub(super) fn rows<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows: Vec<mysql_async::Row> =
            self.exec_retrying(sql, args, async |c, s, p| c.exec(s, p).await)?;
        rows.iter().map(|r| f(&Row::Mysql(r))).collect()
    }

    pub(super) fn row<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let row: Option<mysql_async::Row> =
            self.exec_retrying(sql, args, async |c, s, p| c.exec_first(s, p).await)?;
        row.as_ref().map(|r| f(&Row::Mysql(r))).transpose()
    }

    /// Text-protocol statements (several allowed): session settings, DDL, verbs.
    pub(super) fn batch(&self, sql: &str) -> Result<()> {
        self.run(async |c| c.query_drop(sql).await)
    }

    pub(super) fn begin(&self) -> Result<()> {
        self.rerun.set(false);
        // Whatever the last transaction left (one whose session was lost on its way to
        // COMMIT is gone with it), this one starts on a session of its own.
        self.tx.set(TxState::None);
        match self.batch("START TRANSACTION") {
            // The session was closed while idle (`Role::Writer`): a new one begins.
            Err(DbError::Mysql(e)) if connection_lost(&e) => self.batch("START TRANSACTION")?,
            other => other?,
        }
        self.tx.set(TxState::Open);
        Ok(())
    }

    pub(super) fn begin_read(&self) -> Result<()> {
        self.batch("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")?;
        self.tx.set(TxState::Open);
        Ok(())
    }

    pub(super) fn may_run_again(&self) -> bool {
        self.rerun.get()
    }

    pub(super) fn in_transaction(&self) -> bool {
        self.tx.get() == TxState::Open
    }

    pub(super) fn total_changes(&self) -> u64 {
        self.changes.get()
    }

    pub(super) fn rollback(&self) {
        if self.tx.get() == TxState::Open {
            let _ = self.batch("ROLLBACK");
        }
        self.tx.set(TxState::None);
    }

    /// Commits with a marker row, so a COMMIT whose answer never came is looked up
    /// instead of guessed: `Ok` only if the transaction is in the database. A
    /// transaction that changed nothing needs no marker: either outcome is "nothing
    /// written".
    pub(super) fn commit(&self, wrote: bool) -> Result<()> {
        if !wrote {
            let committed = self.batch("COMMIT");
            self.tx.set(TxState::None);
            return match committed {
                Err(DbError::Mysql(e)) if connection_lost(&e) => Ok(()),
                other => other,
            };
        }
        let marker = uuid::Uuid::new_v4().to_string();
        self.execute(
            "INSERT INTO numhubd_commits (marker) VALUES (?1)",
            &[Param::Text(&marker)],
        )?;
        let session = self.session_id();
        let committed = self.batch("COMMIT");
        self.tx.set(TxState::None);
        match committed {
            Ok(()) => {
                self.prune_markers();
                Ok(())
            }
            Err(DbError::Mysql(e)) if connection_lost(&e) => match session {
                Some(session) => self.resolve(&marker, session),
                None => Err(DbError::Mysql(e)),
            },
            Err(e) => Err(e),
        }
    }

    fn session_id(&self) -> Option<u32> {
        self.conn.borrow().as_ref().map(|c| c.id())
    }

    /// The outcome of a COMMIT whose answer was lost, from a new session: the old one
    /// is killed first (its COMMIT may still be running), then the marker decides.
    /// Until the server answers, the callers wait: "unknown" is never told as
    /// "failed".
    fn resolve(&self, marker: &str, old_session: u32) -> Result<()> {
        tracing::warn!(
            session = old_session,
            "the answer to a COMMIT was lost; looking up whether it took"
        );
        let mut pause = Duration::from_millis(50);
        loop {
            match self.look_up(marker, old_session) {
                Ok(true) => {
                    tracing::info!(
                        "the COMMIT whose answer was lost took: its callers are told it is written"
                    );
                    return Ok(());
                }
                Ok(false) => {
                    tracing::warn!(
                        "the COMMIT whose answer was lost did not take: its calls run again"
                    );
                    self.rerun.set(true);
                    return Err(DbError::Commit {
                        source: "the connection to the database was lost during COMMIT, and the transaction is not in the database; nothing was written".into(),
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the database to learn a COMMIT's outcome; trying again");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    fn look_up(&self, marker: &str, old_session: u32) -> Result<bool> {
        match self.batch(&format!("KILL CONNECTION {old_session}")) {
            Err(DbError::Mysql(e)) if server_code(&e) == Some(code::UNKNOWN_THREAD) => {}
            other => other?,
        }
        let gone_by = Instant::now() + Duration::from_secs(30);
        while self.one_int(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?1",
            &[Param::Int(i64::from(old_session))],
        )? > 0
        {
            if Instant::now() > gone_by {
                return Err(DbError::Commit {
                    source: format!("session {old_session} does not end after KILL").into(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(self.one_int(
            "SELECT COUNT(*) FROM numhubd_commits WHERE marker = ?1",
            &[Param::Text(marker)],
        )? > 0)
    }

    fn one_int(&self, sql: &str, args: &[Param<'_>]) -> Result<i64> {
        self.row(sql, args, |r| r.get::<i64>(0))?
            .ok_or_else(|| DbError::Column {
                index: 0,
                source: "no row".into(),
            })
    }

    /// Markers are needed only until their COMMIT is answered: old ones go now and
    /// then (in autocommit, outside the callers' transactions).
    fn prune_markers(&self) {
        let n = self.commits.get() + 1;
        self.commits.set(n);
        if n % 1000 != 1 {
            return;
        }
        if let Err(e) = self.execute(
            "DELETE FROM numhubd_commits WHERE committed_at < NOW(6) - INTERVAL 1 HOUR",
            &[],
        ) {
            tracing::warn!(error = %e, "could not prune commit markers");
        }
    }

    /// Runs refinery's migrations on their own short-lived pool (refinery's MySQL
    /// driver takes one), with this session's settings.
    pub(crate) fn migrate(
        &self,
        runner: refinery::Runner,
    ) -> std::result::Result<refinery::Report, refinery::Error> {
        self.rt.block_on(async {
            let mut pool = mysql_async::Pool::new(self.opts.clone());
            let report = runner.run_async(&mut pool).await;
            let _ = pool.disconnect().await;
            report
        })
    }

    /// `GET_LOCK(name, 0)`: whether this session now holds `name`.
    pub(super) fn get_lock(&self, name: &str) -> Result<bool> {
        let got: Option<i64> = self
            .row("SELECT GET_LOCK(?1, 0)", &[Param::Text(name)], |r| r.get(0))?
            .flatten();
        Ok(got == Some(1))
    }

    pub(crate) fn close(self) {
        if let Some(conn) = self.conn.into_inner() {
            let _ = self.rt.block_on(conn.disconnect());
        }
    }
}

/// Refuses a server numhubd cannot run on: older than MariaDB 10.6 / MySQL 8.0 (no
/// SKIP LOCKED), or a database that is not utf8mb4.
pub(crate) fn check_server(conn: &MyConn, server: &Server) -> Result<()> {
    let (version, charset): (String, String) = conn
        .row("SELECT VERSION(), @@character_set_database", &[], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .ok_or_else(|| DbError::Column {
            index: 0,
            source: "no row".into(),
        })?;
    let refuse = |reason: String| DbError::Unsupported {
        what: server.shown(),
        reason,
    };
    if !recent_enough(&version) {
        return Err(refuse(format!(
            "the server is {version}; numhubd needs MariaDB 10.6+ or MySQL 8.0.23+ (SKIP LOCKED, enforced CHECKs, invisible columns)"
        )));
    }
    if !charset.starts_with("utf8mb4") {
        return Err(refuse(format!(
            "database {} has character set {charset}; numhubd needs utf8mb4              (ALTER DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)",
            server.database, server.database
        )));
    }
    Ok(())
}

/// MariaDB 10.6+ or MySQL 8.0.23+ (CHECKs enforced from 8.0.16, INVISIBLE columns from
/// 8.0.23: the schema uses both), from `VERSION()` ("10.11.14-MariaDB-0+deb12u2", "8.0.36").
fn recent_enough(version: &str) -> bool {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    if version.contains("MariaDB") {
        (major, minor) >= (10, 6)
    } else {
        (major, minor, patch) >= (8, 0, 23)
    }
}

fn opts(server: &Server, role: Role) -> Result<Opts> {
    let isolation = match role {
        Role::Writer | Role::Own => "READ COMMITTED",
        Role::Reader => "REPEATABLE READ",
    };
    let mut init = vec![
        format!(
            "SET SESSION time_zone = '+00:00', sql_mode = '{SQL_MODE}', \
             explicit_defaults_for_timestamp = ON, innodb_lock_wait_timeout = 10"
        ),
        "SET NAMES utf8mb4 COLLATE utf8mb4_bin".to_string(),
        format!("SET SESSION TRANSACTION ISOLATION LEVEL {isolation}"),
    ];
    if role == Role::Writer {
        init.push(format!("SET SESSION wait_timeout = {WRITER_IDLE_SECS}"));
    }
    let mut b = OptsBuilder::default()
        .user(Some(server.user.clone()))
        .pass(server.password.as_ref().map(|p| p.0.clone()))
        .db_name(Some(server.database.clone()))
        // UPDATE counts the rows it matched, as SQLite does (not only those it changed).
        .client_found_rows(true)
        .stmt_cache_size(256)
        .tcp_nodelay(true)
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .init(init);
    b = match &server.socket {
        Some(socket) => b
            .ip_or_hostname("localhost")
            .socket(Some(socket.display().to_string())),
        // Never swap TCP for the server's own socket: the address configured is used.
        None => b
            .ip_or_hostname(server.host.clone())
            .tcp_port(server.port)
            .prefer_socket(false),
    };
    if let Tls::Verify { ca_file } = &server.tls {
        let roots = ca_file.iter().map(|p| p.clone().into()).collect();
        // A private CA replaces the built-in roots: only it may vouch for the server.
        b = b.ssl_opts(
            SslOpts::default()
                .with_disable_built_in_roots(ca_file.is_some())
                .with_root_certs(roots),
        );
    }
    Ok(b.into())
}

fn unavailable(server: &Server, e: impl std::fmt::Display) -> DbError {
    DbError::Unavailable {
        what: server.shown(),
        source: e.to_string().into(),
    }
}

/// Whether the session is gone (so the transaction on it is gone too).
pub(crate) fn connection_lost(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Io(_))
        || matches!(
            e,
            mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed)
        )
}

pub(crate) fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// The server refusing for lack of space, as [`crate::db::storage_cause`] does for SQLite.
pub(crate) fn storage_cause(e: &mysql_async::Error) -> Option<String> {
    match server_code(e)? {
        code::TABLE_FULL | code::DISK_FULL | code::OUT_OF_SPACE => Some(e.to_string()),
        _ => None,
    }
}

/// SQLite's `?N` placeholders as positional `?`, outside quotes.
fn positional(sql: &str) -> Rewrite {
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = digits
                    .parse::<usize>()
                    .map_or(order.len(), |n| n.saturating_sub(1));
                order.push(n);
            }
            _ => {}
        }
        if c != '?' || quote.is_some() {
            out.push(c);
        } else {
            out.push('?');
        }
    }
    Rewrite { sql: out, order }
}

fn value(p: &Param<'_>) -> Value {
    match *p {
        Param::Null => Value::NULL,
        Param::Int(i) => Value::Int(i),
        Param::Real(r) => Value::Double(r),
        Param::Text(s) => Value::Bytes(s.as_bytes().to_vec()),
        Param::Blob(b) => Value::Bytes(b.to_vec()),
        Param::Time(s) => time(s),
    }
}

/// The store's RFC 3339 text as a MySQL time in UTC; text that is not one is sent as
/// is, for the server to refuse naming the column.
fn time(s: &str) -> Value {
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            Value::Date(
                u16::try_from(t.year()).unwrap_or(0),
                t.month() as u8,
                t.day() as u8,
                t.hour() as u8,
                t.minute() as u8,
                t.second() as u8,
                t.timestamp_subsec_micros().min(999_999),
            )
        }
        Err(_) => Value::Bytes(s.as_bytes().to_vec()),
    }
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::NULL => "NULL",
        Value::Bytes(_) => "text",
        Value::Int(_) | Value::UInt(_) => "an integer",
        Value::Float(_) | Value::Double(_) => "a number",
        Value::Date(..) => "a time",
        Value::Time(..) => "a duration",
    }
}

pub(super) fn int(v: &Value) -> std::result::Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::UInt(u) => i64::try_from(*u).map_err(|e| e.to_string()),
        Value::Bytes(b) => parsed(b, "an integer"),
        other => Err(format!("{} is not an integer", kind(other))),
    }
}

pub(super) fn real(v: &Value) -> std::result::Result<f64, String> {
    match v {
        Value::Float(f) => Ok(f64::from(*f)),
        Value::Double(d) => Ok(*d),
        Value::Int(i) => Ok(*i as f64),
        Value::UInt(u) => Ok(*u as f64),
        Value::Bytes(b) => parsed(b, "a number"),
        other => Err(format!("{} is not a number", kind(other))),
    }
}

/// A number MySQL sent as text (a `DECIMAL`, an aggregate).
fn parsed<T: std::str::FromStr>(b: &[u8], what: &str) -> std::result::Result<T, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("text that is not {what}"))
}

/// Text, and times in the store's RFC 3339 form (`db::format_ts`).
pub(super) fn text(v: &Value) -> std::result::Result<String, String> {
    match v {
        Value::Bytes(b) => String::from_utf8(b.clone()).map_err(|e| e.to_string()),
        Value::Date(y, mo, d, h, mi, s, us) => Ok(format!(
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z"
        )),
        Value::Int(i) => Ok(i.to_string()),
        Value::UInt(u) => Ok(u.to_string()),
        other => Err(format!("{} is not text", kind(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_positional_outside_quotes() {
        let r = positional("SELECT '?1', \"a?2\" FROM t WHERE a = ?2 AND b = ?1 OR c = ?2");
        assert_eq!(
            r.sql,
            "SELECT '?1', \"a?2\" FROM t WHERE a = ? AND b = ? OR c = ?"
        );
        assert_eq!(r.order, vec![1, 0, 1]);
        let plain = positional("INSERT INTO t VALUES (?, ?)");
        assert_eq!(plain.order, vec![0, 1]);
    }

    #[test]
    fn times_round_trip_in_the_store_form() {
        let v = time("2026-11-25T02:02:03.123456-05:00");
        assert_eq!(text(&v).as_deref(), Ok("2026-11-25T07:02:03.123456Z"));
        assert!(matches!(time("not a time"), Value::Bytes(_)));
    }

    #[test]
    fn servers_older_than_the_schema_needs_are_refused() {
        for ok in [
            "10.6.0-MariaDB",
            "10.11.14-MariaDB-0+deb12u2",
            "11.4.2-MariaDB",
            "8.0.23",
            "8.4.1",
            "9.0.0",
        ] {
            assert!(recent_enough(ok), "{ok}");
        }
        for old in ["10.5.9-MariaDB", "5.5.5-10.4.1-MariaDB", "8.0.22", "5.7.44"] {
            assert!(!recent_enough(old), "{old}");
        }
    }

    #[test]
    fn a_password_is_never_shown() {
        let p = Password::new("hunter2".into());
        assert_eq!(format!("{p:?}"), "[redacted]");
    }
}
