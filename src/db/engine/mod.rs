//! The two engines behind one connection: a SQLite file ([`sqlite`]) or a MySQL /
//! MariaDB server ([`mysql`]).
//!
//! Table modules write each statement once, with `?N` placeholders, and bind
//! [`Arg`]s; rows come back through [`Row::get`]. Where the dialects differ, the table
//! function matches on [`Conn::engine`] next to the statement. The writer and the
//! readers use the transaction verbs here (`begin_write`, `commit`, savepoints), so
//! they run the same code on both engines.

mod holder;
pub mod mysql;
mod sqlite;

use super::{DbError, Result};

pub use holder::{Claim, Holder};
pub use mysql::{Password, Server, Tls};

/// Which engine a connection talks to: the one thing a table module may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Mysql,
}

/// A bound value. Timestamps are their own kind ([`ts`]): SQLite keeps the RFC 3339
/// text, MySQL a `TIMESTAMP(6)`/`DATETIME(6)` value (it refuses the text's `Z`).
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
    Time(&'a str),
}

/// What may be bound to a placeholder.
pub trait Arg {
    fn param(&self) -> Param<'_>;
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn param(&self) -> Param<'_> {
                Param::Int(i64::from(*self))
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u16, u8, bool);

impl Arg for f64 {
    fn param(&self) -> Param<'_> {
        Param::Real(*self)
    }
}

impl Arg for str {
    fn param(&self) -> Param<'_> {
        Param::Text(self)
    }
}

impl Arg for String {
    fn param(&self) -> Param<'_> {
        Param::Text(self)
    }
}

impl Arg for [u8] {
    fn param(&self) -> Param<'_> {
        Param::Blob(self)
    }
}

impl Arg for Vec<u8> {
    fn param(&self) -> Param<'_> {
        Param::Blob(self)
    }
}

impl<T: Arg + ?Sized> Arg for &T {
    fn param(&self) -> Param<'_> {
        (**self).param()
    }
}

impl<T: Arg> Arg for Option<T> {
    fn param(&self) -> Param<'_> {
        match self {
            Some(v) => v.param(),
            None => Param::Null,
        }
    }
}

/// A timestamp in the store's text form (`db::format_ts`), bound as a time.
#[derive(Debug, Clone, Copy)]
pub struct Ts<'a>(pub Option<&'a str>);

/// Binds `s` (the store's RFC 3339 text) as a timestamp.
pub fn ts(s: &str) -> Ts<'_> {
    Ts(Some(s))
}

/// Binds an optional timestamp.
pub fn ts_opt(s: Option<&str>) -> Ts<'_> {
    Ts(s)
}

impl Arg for Ts<'_> {
    fn param(&self) -> Param<'_> {
        match self.0 {
            Some(s) => Param::Time(s),
            None => Param::Null,
        }
    }
}

/// `args![a, b, ts(&now)]`: the values for a statement's placeholders, in order.
macro_rules! args {
    () => { &[][..] };
    ($($a:expr),+ $(,)?) => {
        &[$($crate::db::engine::Arg::param(&$a)),+][..]
    };
}
pub(crate) use args;

/// One result row.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Mysql(&'r ::mysql_async::Row),
}

impl Row<'_> {
    /// Column `i` (0-based) as `T`.
    pub fn get<T: Column>(&self, i: usize) -> Result<T> {
        let got = match self {
            Row::Sqlite(r) => r
                .get_ref(i)
                .map_err(|e| e.to_string())
                .and_then(T::from_sqlite),
            Row::Mysql(r) => match r.as_ref(i) {
                Some(v) => T::from_mysql(v),
                None => Err("no such column".to_string()),
            },
        };
        got.map_err(|reason| DbError::Column {
            index: i,
            source: reason.into(),
        })
    }

    /// Column `i`'s JSON text as `T`; `NULL` is `None`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<Option<T>> {
        let Some(text) = self.get::<Option<String>>(i)? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| DbError::Column {
                index: i,
                source: e.into(),
            })
    }
}

/// A row type from a statement's columns, in the order its fields are listed, so no
/// column's index is written by hand: `read_row!(r => Brand { id, tenant_id, name })`
/// reads columns 0, 1 and 2. A field `: json` reads its column's JSON text (`NULL`:
/// `None`), `: json_or_default` the same with `NULL` as the type's default.
macro_rules! read_row {
    ($r:ident => $ty:ident { $($field:ident $(: $how:ident)?),+ $(,)? }) => {{
        let mut columns = 0usize..;
        let mut next = || columns.next().unwrap_or_default();
        Ok($ty { $($field: $crate::db::engine::read_row!(@read $r, next() $(, $how)?)),+ })
    }};
    (@read $r:ident, $i:expr) => { $r.get($i)? };
    (@read $r:ident, $i:expr, json) => { $r.json($i)? };
    (@read $r:ident, $i:expr, json_or_default) => { $r.json($i)?.unwrap_or_default() };
}
pub(crate) use read_row;

/// A Rust type a column converts into.
pub trait Column: Sized {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String>;
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String>;
}

/// A connection to either engine. Only `db` holds one.
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Mysql(mysql::MyConn),
}

impl Conn {
    pub fn engine(&self) -> Engine {
        match self {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Mysql(_) => Engine::Mysql,
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, args: &[Param<'_>]) -> Result<usize> {
        match self {
            Conn::Sqlite(c) => sqlite::execute(c, sql, args),
            Conn::Mysql(c) => c.execute(sql, args),
        }
    }

    /// Runs an INSERT; returns the id the table gave the new row.
    pub fn insert(&self, sql: &str, args: &[Param<'_>]) -> Result<i64> {
        match self {
            Conn::Sqlite(c) => {
                sqlite::execute(c, sql, args)?;
                Ok(c.last_insert_rowid())
            }
            Conn::Mysql(c) => c.insert(sql, args),
        }
    }

    /// Every row of a query, each through `f`.
    pub fn rows<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match self {
            Conn::Sqlite(c) => sqlite::rows(c, sql, args, f),
            Conn::Mysql(c) => c.rows(sql, args, f),
        }
    }

    /// The first row of a query, if any.
    pub fn row<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self {
            Conn::Sqlite(c) => sqlite::row(c, sql, args, f),
            Conn::Mysql(c) => c.row(sql, args, f),
        }
    }

    /// The first row of a query that always returns one (an aggregate, EXISTS).
    pub fn one<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.row(sql, args, f)?.ok_or_else(|| DbError::Column {
            index: 0,
            source: "the query returned no row".into(),
        })
    }

    /// Statements without arguments or rows (transaction verbs, session settings),
    /// several separated by `;` allowed.
    pub fn batch(&self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => sqlite::batch(c, sql),
            Conn::Mysql(c) => c.batch(sql),
        }
    }

    /// Starts the writer's transaction.
    pub(super) fn begin_write(&self) -> Result<()> {
        match self {
            Conn::Sqlite(c) => sqlite::batch(c, "BEGIN IMMEDIATE"),
            Conn::Mysql(c) => c.begin(),
        }
    }

    /// Starts a read transaction: one snapshot for all its statements.
    pub(super) fn begin_read(&self) -> Result<()> {
        match self {
            Conn::Sqlite(c) => sqlite::batch(c, "BEGIN"),
            Conn::Mysql(c) => c.begin_read(),
        }
    }

    /// Ends a read transaction: only its snapshot is released.
    pub(super) fn end_read(&self) {
        match self {
            Conn::Sqlite(c) => {
                if sqlite::batch(c, "COMMIT").is_err() {
                    let _ = c.execute_batch("ROLLBACK");
                }
            }
            Conn::Mysql(c) => c.rollback(),
        }
    }

    /// Commits the writer's transaction (`wrote`: it changed rows). On MySQL a COMMIT
    /// whose answer is lost is resolved before this returns: `Ok` only if the
    /// transaction is in the database.
    pub(super) fn commit(&self, wrote: bool) -> Result<()> {
        match self {
            Conn::Sqlite(c) => sqlite::batch(c, "COMMIT"),
            Conn::Mysql(c) => c.commit(wrote),
        }
    }

    /// Rolls back whatever transaction is open (none: nothing happens).
    pub(super) fn rollback(&self) {
        match self {
            Conn::Sqlite(c) => {
                if !c.is_autocommit() {
                    let _ = c.execute_batch("ROLLBACK");
                }
            }
            Conn::Mysql(c) => c.rollback(),
        }
    }

    /// Whether a transaction is still open: after a failed statement SQLite (disk
    /// full, I/O error) or MySQL (deadlock, a lost connection) may have ended it.
    pub(super) fn in_transaction(&self) -> bool {
        match self {
            Conn::Sqlite(c) => !c.is_autocommit(),
            Conn::Mysql(c) => c.in_transaction(),
        }
    }

    /// Whether the writer gives each call a savepoint, so that a failing call undoes
    /// only its own changes. SQLite: yes (a savepoint costs microseconds). MySQL: no,
    /// each would cost a round trip per call; a failing call instead rolls the
    /// transaction back and the calls before it run again (they may: see `writer`).
    pub(super) fn isolates_calls_with_savepoints(&self) -> bool {
        matches!(self, Conn::Sqlite(_))
    }

    /// Whether the transaction that just failed left nothing in the database and may
    /// simply run again: MySQL ended it (a deadlock, a lost connection) before or
    /// without its commit taking. Never on SQLite (a rollback there is the disk's).
    pub(super) fn may_run_again(&self) -> bool {
        match self {
            Conn::Sqlite(_) => false,
            Conn::Mysql(c) => c.may_run_again(),
        }
    }

    /// Rows changed on this connection since it opened.
    pub(super) fn total_changes(&self) -> u64 {
        match self {
            Conn::Sqlite(c) => c.total_changes(),
            Conn::Mysql(c) => c.total_changes(),
        }
    }

    /// SQLite's `synchronous` for the next commits (FULL when `durable`). A MySQL
    /// server decides durability itself (`innodb_flush_log_at_trx_commit`).
    pub(super) fn set_durable(&self, durable: bool) -> Result<()> {
        match self {
            Conn::Sqlite(c) => {
                let level = if durable { "FULL" } else { "NORMAL" };
                sqlite::batch(c, &format!("PRAGMA synchronous = {level}"))
            }
            Conn::Mysql(_) => Ok(()),
        }
    }

    /// Closes the connection (SQLite: folds the WAL back into the file first).
    pub(super) fn close(self) -> Result<()> {
        match self {
            Conn::Sqlite(c) => {
                c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
                c.close().map_err(|(_, e)| DbError::Sqlite(e))
            }
            Conn::Mysql(c) => {
                c.close();
                Ok(())
            }
        }
    }

    /// The SQLite connection, for what only SQLite has (backup, pragmas).
    pub(super) fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Conn::Sqlite(c) => Some(c),
            Conn::Mysql(_) => None,
        }
    }
}

impl Column for i64 {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String> {
        v.as_i64().map_err(|e| e.to_string())
    }
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String> {
        mysql::int(v)
    }
}

impl Column for i32 {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String> {
        i32::try_from(i64::from_sqlite(v)?).map_err(|e| e.to_string())
    }
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String> {
        i32::try_from(mysql::int(v)?).map_err(|e| e.to_string())
    }
}

impl Column for u32 {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String> {
        u32::try_from(i64::from_sqlite(v)?).map_err(|e| e.to_string())
    }
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String> {
        u32::try_from(mysql::int(v)?).map_err(|e| e.to_string())
    }
}

impl Column for u16 {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String> {
        u16::try_from(i64::from_sqlite(v)?).map_err(|e| e.to_string())
    }
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String> {
        u16::try_from(mysql::int(v)?).map_err(|e| e.to_string())
    }
}

impl Column for bool {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String> {
        Ok(i64::from_sqlite(v)? != 0)
    }
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String> {
        Ok(mysql::int(v)? != 0)
    }
}

impl Column for f64 {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String> {
        v.as_f64()
            .or_else(|_| v.as_i64().map(|i| i as f64))
            .map_err(|e| e.to_string())
    }
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String> {
        mysql::real(v)
    }
}

impl Column for String {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String> {
        v.as_str().map(str::to_owned).map_err(|e| e.to_string())
    }
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String> {
        mysql::text(v)
    }
}

impl Column for Vec<u8> {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String> {
        v.as_bytes().map(<[u8]>::to_vec).map_err(|e| e.to_string())
    }
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String> {
        match v {
            ::mysql_async::Value::Bytes(b) => Ok(b.clone()),
            other => Err(format!("{} is not bytes", mysql::kind(other))),
        }
    }
}

impl<T: Column> Column for Option<T> {
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            rusqlite::types::ValueRef::Null => Ok(None),
            v => T::from_sqlite(v).map(Some),
        }
    }
    fn from_mysql(v: &::mysql_async::Value) -> std::result::Result<Self, String> {
        match v {
            ::mysql_async::Value::NULL => Ok(None),
            v => T::from_mysql(v).map(Some),
        }
    }
}
