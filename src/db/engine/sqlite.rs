//! The SQLite side of [`super::Conn`]: statements from the connection's cache, so a
//! statement that runs on every call is parsed once.

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::Connection;

use super::{Param, Row};
use crate::db::Result;

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Param::Null => ToSqlOutput::Owned(Value::Null),
            Param::Int(i) => ToSqlOutput::Owned(Value::Integer(i)),
            Param::Real(r) => ToSqlOutput::Owned(Value::Real(r)),
            Param::Text(s) | Param::Time(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

pub(super) fn execute(c: &Connection, sql: &str, args: &[Param<'_>]) -> Result<usize> {
    let mut stmt = c.prepare_cached(sql)?;
    Ok(stmt.execute(rusqlite::params_from_iter(args))?)
}

pub(super) fn rows<T>(
    c: &Connection,
    sql: &str,
    args: &[Param<'_>],
    mut f: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(&Row::Sqlite(r))?);
    }
    Ok(out)
}

pub(super) fn row<T>(
    c: &Connection,
    sql: &str,
    args: &[Param<'_>],
    f: impl FnOnce(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    match rows.next()? {
        Some(r) => f(&Row::Sqlite(r)).map(Some),
        None => Ok(None),
    }
}

pub(super) fn batch(c: &Connection, sql: &str) -> Result<()> {
    // One statement (the transaction verbs on every call): cached. Several: parsed.
    if sql.contains(';') {
        c.execute_batch(sql)?;
    } else {
        c.prepare_cached(sql)?.execute([])?;
    }
    Ok(())
}
