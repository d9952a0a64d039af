//! The store: the one module that touches SQL.
//!
//! It owns the database: a SQLite file, or a database on a MySQL/MariaDB server
//! ([`engine`] holds what differs between the two). All writes go through one writer
//! thread ([`writer`]), which groups whatever is queued into one transaction (one
//! call's failure does not undo the others) and acknowledges each caller after the
//! commit. Reads use a small pool of read connections ([`readers`]), which WAL mode
//! (SQLite) or a consistent snapshot (MySQL) lets run beside the writer.
//!
//! Other modules compose table functions inside [`Store::write`] / [`Store::read`]
//! closures. They receive a [`Tx`] or a [`Sql`], which expose no SQL of their own:
//! the table modules are the only places that hold statements.

pub mod backup;
pub mod brands;
pub mod budget;
pub mod cluster;
pub mod copy;
pub mod credentials;
pub mod documents;
pub mod engine;
pub mod entities;
mod enums;
mod error;
pub mod event_log;
pub mod identities;
pub mod jobs;
pub mod login_blocks;
mod migrate;
pub mod origin;
mod purge;
mod readers;
pub mod reviews;
pub mod spool;
pub mod sync_logs;
pub mod tenants;
mod time;
pub mod tokens;
mod write_health;
mod writer;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use engine::{args, Conn, Param, Row};
pub use engine::{ts, ts_opt, Engine, Password, Server, Tls};
pub use engine::{Claim, Holder};

pub use enums::*;
pub use error::DbError;
pub use migrate::{latest_version, migrate_at, migrate_file, schema_version};
pub use time::{format_ts, now_ts, parse_ts};
pub use write_health::{storage_cause, Refusal};

/// Result of every store call.
pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// A read view of the database: a pooled read connection, or the writer's
/// transaction seen through [`Tx`]. Table modules run their statements through it.
pub struct Sql<'a> {
    conn: &'a Conn,
}

impl Sql<'_> {
    /// Which engine runs the statements: for the few where the dialects differ.
    pub fn engine(&self) -> Engine {
        self.conn.engine()
    }

    /// Runs a statement; returns how many rows it changed (matched, on MySQL too).
    fn execute(&self, statement: &str, args: &[Param<'_>]) -> Result<usize> {
        self.conn.execute(statement, args)
    }

    /// Runs a statement that changes the row `what` `id`: no row changed means there
    /// is no such row.
    fn update_row(
        &self,
        what: &'static str,
        id: impl ToString,
        statement: &str,
        args: &[Param<'_>],
    ) -> Result<()> {
        match self.execute(statement, args)? {
            0 => Err(DbError::not_found(what, id)),
            _ => Ok(()),
        }
    }

    /// Runs an INSERT; returns the new row's id.
    fn insert(&self, statement: &str, args: &[Param<'_>]) -> Result<i64> {
        self.conn.insert(statement, args)
    }

    /// Runs a query and collects its rows.
    fn rows<T>(
        &self,
        statement: &str,
        args: &[Param<'_>],
        from_row: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.conn.rows(statement, args, from_row)
    }

    /// The first row of a query, if any.
    fn row<T>(
        &self,
        statement: &str,
        args: &[Param<'_>],
        from_row: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.conn.row(statement, args, from_row)
    }

    /// The row of a query that always returns one (a count, EXISTS).
    fn one<T>(
        &self,
        statement: &str,
        args: &[Param<'_>],
        from_row: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.conn.one(statement, args, from_row)
    }
}

/// The writer's open transaction. Only the writer thread creates one.
pub struct Tx<'a> {
    sql: Sql<'a>,
}

impl<'a> Deref for Tx<'a> {
    type Target = Sql<'a>;
    fn deref(&self) -> &Sql<'a> {
        &self.sql
    }
}

/// Holds what this process needs of a server database until dropped — a daemon its
/// node's name, an offline command the whole database — or says who is in the way;
/// before anything else touches the database, so a refused start changes nothing. A
/// SQLite file's lock is the daemon's own (a lock file): None.
pub fn hold(location: &Location, claim: Claim) -> Result<Option<Holder>> {
    match location {
        Location::File(_) => Ok(None),
        Location::Server(server) => {
            let probe = engine::mysql::MyConn::connect(server, engine::mysql::Role::Own)?;
            engine::mysql::check_server(&probe, server)?;
            let probe = Conn::Mysql(probe);
            let newer = migrate::refuse_newer_on_server(&probe);
            let _ = probe.close();
            newer?;
            engine::Holder::take(server, claim).map(Some)
        }
    }
}

/// Where the store is: a SQLite file, or a database on a MySQL/MariaDB server.
#[derive(Debug, Clone)]
pub enum Location {
    File(PathBuf),
    Server(Server),
}

impl Location {
    /// For messages and status: the file, or the server and database (no password).
    pub fn shown(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Server(s) => s.shown(),
        }
    }
}

/// How the store opens its file.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Read-only connections kept for queries.
    pub readers: usize,
    /// How long a connection waits on a lock before giving up.
    pub busy_timeout: std::time::Duration,
    /// Calls queued for the writer before callers wait (backpressure).
    pub writer_queue: usize,
    /// `synchronous=FULL`: every commit is on disk before it is acknowledged, so a
    /// power cut loses no acknowledged commit. `false` (the default): NORMAL, where the
    /// last commits before a power cut may be lost (never torn), except those made
    /// with `Store::write_durable`.
    pub full_sync: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            readers: 4,
            busy_timeout: std::time::Duration::from_secs(5),
            writer_queue: 4096,
            full_sync: false,
        }
    }
}

/// A handle on the open database. Cheap to clone; every clone shares the writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// Set on a leader's handle ([`Store::fenced`]): each of its writes commits only
    /// while this epoch holds the cluster's lease.
    fence: Option<i64>,
}

struct Inner {
    location: Location,
    options: StoreOptions,
    writer: writer::Writer,
    readers: readers::Readers,
}

impl Store {
    /// Opens (creating if needed) and migrates the SQLite database at `path`.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store> {
        Store::open_at(&Location::File(path.to_path_buf()), options)
    }

    /// Opens and migrates the store at `location`.
    ///
    /// A database whose schema is newer than this binary knows is refused before
    /// anything writes to it. On MySQL the server must be recent enough and the
    /// database utf8mb4. (Who may open it is the caller's: [`hold`].)
    pub fn open_at(location: &Location, options: StoreOptions) -> Result<Store> {
        let (writer_conn, readers) = match location {
            Location::File(path) => {
                migrate::refuse_newer(path)?;
                let mut conn = open_connection(path, false, &options)?;
                migrate::run(&mut conn)?;
                let readers = readers::Readers::open_file(path, &options)?;
                (Conn::Sqlite(conn), readers)
            }
            Location::Server(server) => {
                let conn = engine::mysql::MyConn::connect(server, engine::mysql::Role::Writer)?;
                engine::mysql::check_server(&conn, server)?;
                let conn = Conn::Mysql(conn);
                migrate::run_on_server(&conn, server)?;
                let readers = readers::Readers::open_server(server, &options)?;
                (conn, readers)
            }
        };
        let writer = writer::Writer::start(writer_conn, options.writer_queue, options.full_sync)?;
        Ok(Store {
            inner: Arc::new(Inner {
                location: location.clone(),
                options,
                writer,
                readers,
            }),
            fence: None,
        })
    }

    /// This store, each of whose writes first checks that `epoch` still holds the
    /// cluster's lease (`cluster::fence`) and fails with [`DbError::Fenced`] when it
    /// does not: what a leader's sync engine writes, so a leader that was paused or cut
    /// off and comes back commits nothing under its old epoch. Reads are unchanged.
    pub fn fenced(&self, epoch: i64) -> Store {
        Store {
            inner: self.inner.clone(),
            fence: Some(epoch),
        }
    }

    /// `f`, behind this handle's fence if it has one.
    fn guarded<T, F>(&self, f: F) -> impl Fn(&Tx<'_>) -> Result<T> + Send + 'static
    where
        F: Fn(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let fence = self.fence;
        move |tx| {
            if let Some(epoch) = fence {
                cluster::fence(tx, epoch)?;
            }
            f(tx)
        }
    }

    /// Where the store is.
    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    /// The SQLite file (None on MySQL).
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.location {
            Location::File(p) => Some(p),
            Location::Server(_) => None,
        }
    }

    /// Runs `f` in the writer's transaction and returns once it is committed.
    /// An error from `f` rolls back only `f`'s own changes.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.inner.writer.submit(self.guarded(f), false).await
    }

    /// [`Store::write`] whose commit is on disk before it is acknowledged, also under
    /// `synchronous=NORMAL` (the outbox's claims: a claim lost to a power cut would let
    /// a create or upload be sent again without looking first).
    pub async fn write_durable<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.inner.writer.submit(self.guarded(f), true).await
    }

    /// Queues `f` for the writer without waiting for its commit (audit rows: the
    /// caller must not be slowed by them). Waits only while the queue is full, so
    /// nothing is dropped under load. Failures are logged.
    pub async fn write_detached<F>(&self, what: &'static str, f: F)
    where
        F: Fn(&Tx<'_>) -> Result<()> + Send + 'static,
    {
        self.inner
            .writer
            .submit_detached(what, self.guarded(f))
            .await
    }

    /// Runs `f` on a read connection, in one snapshot.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Sql<'_>) -> Result<T> + Send + 'static,
    {
        self.inner.readers.run(f).await
    }

    /// Runs a point read (one row by key) on the caller's thread when a SQLite
    /// connection is idle, on the blocking pool otherwise. Only for reads that touch a
    /// handful of pages: anything that scans belongs in [`Store::read`].
    pub async fn read_point<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Sql<'_>) -> Result<T> + Send + 'static,
    {
        // The closure is only moved into one of the two paths; a shared slot keeps
        // it for the fallback when no connection was idle.
        let mut slot = Some(f);
        if let Some(result) = self.inner.readers.try_run_inline(|sql| match slot.take() {
            Some(f) => f(sql),
            None => Err(DbError::Closed),
        }) {
            return result;
        }
        match slot {
            Some(f) => self.inner.readers.run(f).await,
            None => Err(DbError::Closed),
        }
    }

    /// Whether the writer thread answers within `deadline`: a message through its
    /// queue, so a writer stuck in the database (or behind a full queue) says no. The
    /// watchdog pings only on a yes.
    pub async fn writer_answers(&self, deadline: std::time::Duration) -> bool {
        self.inner.writer.probe(deadline).await
    }

    /// The write the database last refused (no space, an I/O error), while no commit
    /// has written since: `daemon.health` shows it.
    pub fn write_refusal(&self) -> Option<Refusal> {
        self.inner.writer.health().current()
    }

    /// While writes are refused, tries one that must reach the disk, so the refusal
    /// clears as soon as space is back even when nothing else writes. Returns the
    /// refusal still in force.
    pub async fn recheck_writes(&self) -> Option<Refusal> {
        self.write_refusal()?;
        let probe = self
            .write(|tx| match tx.conn.sqlite() {
                // The header's `user_version`, which numhubd does not use, rewritten
                // with its own value: SQLite writes the page whatever the value.
                Some(conn) => {
                    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                    conn.pragma_update(None, "user_version", v)?;
                    Ok(())
                }
                // A row that must reach the disk: this commit's own marker.
                None => {
                    tx.execute(
                        "INSERT INTO numhubd_commits (marker) VALUES (?1)",
                        args![uuid::Uuid::new_v4().to_string()],
                    )?;
                    Ok(())
                }
            })
            .await;
        if probe.is_ok() {
            self.inner.writer.health().accepted();
        }
        self.write_refusal()
    }

    /// Finishes every queued write and closes the writer (SQLite: checkpoints the
    /// WAL). Later writes fail with [`DbError::Closed`].
    pub async fn close(&self) -> Result<()> {
        self.inner.writer.close().await
    }

    /// Writes a consistent copy of the SQLite database to `dest`, marked as a backup,
    /// while the writer goes on committing (see [`backup`]). On MySQL the server's own
    /// dump tool makes the copy: refused, naming it.
    pub async fn backup(&self, dest: PathBuf) -> Result<backup::Backup> {
        let shown = dest.display().to_string();
        let source = match &self.inner.location {
            Location::File(p) => p.clone(),
            Location::Server(s) => {
                return Err(DbError::Backup {
                    path: shown,
                    reason: format!(
                        "numhubd copies only a SQLite file; for the MySQL database {} use                          `mariadb-dump --single-transaction {}` (MariaDB) or `mysqldump                          --single-transaction {}` (MySQL), as docs/OPERATIONS.md shows",
                        s.shown(),
                        s.database,
                        s.database
                    ),
                })
            }
        };
        let options = self.inner.options.clone();
        tokio::task::spawn_blocking(move || backup::take(&source, &dest, &options))
            .await
            .map_err(|e| DbError::Backup {
                path: shown,
                reason: format!("backup task failed: {e}"),
            })?
    }

    /// The database's size in bytes (SQLite: page count × page size, the WAL aside;
    /// MySQL: data and indexes as the server counts them).
    pub async fn size_bytes(&self) -> Result<i64> {
        self.read(|sql| {
            let statement = match sql.engine() {
                Engine::Sqlite => {
                    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
                }
                Engine::Mysql => {
                    "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS SIGNED)
                     FROM information_schema.TABLES WHERE table_schema = DATABASE()"
                }
            };
            sql.one(statement, args![], |r| r.get(0))
        })
        .await
    }

    /// `PRAGMA integrity_check` on SQLite, for operators and tests ("ok"); a MySQL
    /// server checks its own pages, so there it is always "ok".
    pub async fn integrity_check(&self) -> Result<String> {
        self.read(|sql| match sql.conn.sqlite() {
            Some(conn) => Ok(conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?),
            None => Ok("ok".to_string()),
        })
        .await
    }
}

fn open_connection(path: &Path, read_only: bool, options: &StoreOptions) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| DbError::Open {
        path: path.display().to_string(),
        source: e.into(),
    })?;
    conn.busy_timeout(options.busy_timeout)?;
    // WAL lets readers run beside the writer. synchronous=NORMAL by default: a commit
    // is atomic and the file never corrupts, but a power cut may take back the last
    // acknowledged commits; FULL cost 0.66-0.68 x NORMAL's awaited-commit throughput
    // (docs/BENCHMARKS.md "Durability"). The commits whose loss could repeat work at
    // NumHub (the outbox's claims) are made durable one by one
    // (`Store::write_durable`); `[database] synchronous = "full"` makes every commit so.
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let sync = if options.full_sync { "FULL" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", sync)?;
        // The writer's per-call savepoints journal pages they change; in memory, not
        // a temp file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
    }
    // The query planner's stability guarantee: plans never depend on bound values.
    // Without it SQLite reads the values of LIMIT ?n and of a JOIN's constraints
    // while planning and re-prepares the statement every time they are bound again
    // (a keyset page, a joined point read); that cost 5-10 times the query itself.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// One page of a keyset-paginated list. `next_cursor` is opaque to callers: pass it
/// back to get the rows after this page; `None` means this was the last page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The most rows one page returns, whatever the caller asks for.
pub const MAX_PAGE: u32 = 500;

impl<T> Page<T> {
    /// The same page with each item turned into something else (the first error wins).
    pub fn try_map<U, E>(
        self,
        f: impl FnMut(T) -> std::result::Result<U, E>,
    ) -> std::result::Result<Page<U>, E> {
        Ok(Page {
            items: self
                .items
                .into_iter()
                .map(f)
                .collect::<std::result::Result<_, E>>()?,
            next_cursor: self.next_cursor,
        })
    }

    /// Builds a page from up to `limit + 1` fetched rows: the extra row only tells
    /// whether another page exists.
    fn from_rows(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

fn page_limit(limit: Option<u32>) -> Result<u32> {
    match limit {
        None => Ok(100),
        Some(0) => Err(DbError::invalid("limit", "must be at least 1")),
        Some(n) if n > MAX_PAGE => Err(DbError::invalid(
            "limit",
            format!("must be at most {MAX_PAGE}"),
        )),
        Some(n) => Ok(n),
    }
}

/// The cursor of a list keyed by an integer id (0 = from the start).
fn int_cursor(cursor: Option<&str>) -> Result<i64> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .parse()
            .map_err(|_| DbError::invalid("cursor", "not a cursor this list returned")),
    }
}

/// Refuses text longer than its column allows (in characters, as SQLite counts).
fn check_len(field: &'static str, value: &str, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n > max {
        return Err(DbError::invalid(
            field,
            format!("is {n} characters; at most {max} allowed"),
        ));
    }
    Ok(())
}

fn check_not_blank(field: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(DbError::invalid(field, "must not be empty"));
    }
    Ok(())
}

/// Refuses text that is not JSON before the column's `json_valid` CHECK would.
fn check_json(field: &'static str, value: &str) -> Result<()> {
    // IgnoredAny checks the syntax without building the value.
    serde_json::from_str::<serde::de::IgnoredAny>(value)
        .map(|_| ())
        .map_err(|e| DbError::invalid(field, format!("is not valid JSON: {e}")))
}

/// `SELECT value FROM …` over the elements of a JSON array bound at `arg` (as
/// `sql_type` on MySQL, which needs a column type): `col IN (…)` with a list of any
/// length in one prepared statement.
fn json_values(engine: Engine, arg: &str, sql_type: &str) -> String {
    match engine {
        Engine::Sqlite => format!("SELECT value FROM json_each({arg})"),
        Engine::Mysql => format!(
            "SELECT value FROM JSON_TABLE({arg}, '$[*]' COLUMNS (value {sql_type} PATH '$')) AS list"
        ),
    }
}

/// A new uuid v7 (time-ordered, so keyset pages by id are pages by age).
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Refuses a tenant id that has no row.
fn require_tenant(sql: &Sql<'_>, tenant_id: i64) -> Result<()> {
    let exists: bool = sql.one(
        "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)",
        args![tenant_id],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(DbError::UnknownReference {
            field: "tenant_id",
            what: "tenant",
            id: tenant_id.to_string(),
        });
    }
    Ok(())
}
