//! Rows as values of their column's [`Kind`], on either engine: read a page in key
//! order, write a page, and hash what was read.
//!
//! The same code reads the source while copying and both sides when verifying, so a
//! difference the engines make (a timestamp's form, a type) cannot hide in two ways
//! of reading.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use super::tables::{Kind, Table};
use crate::db::engine::{Param, Row};
use crate::db::{Result, Sql, Tx};

/// One column's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    /// The store's RFC 3339 text (MySQL's times are read in that form).
    Time(String),
}

impl Value {
    fn read(row: &Row<'_>, i: usize, kind: Kind) -> Result<Value> {
        Ok(match kind {
            Kind::Int => row.get::<Option<i64>>(i)?.map_or(Value::Null, Value::Int),
            Kind::Text => row
                .get::<Option<String>>(i)?
                .map_or(Value::Null, Value::Text),
            Kind::Time => row
                .get::<Option<String>>(i)?
                .map_or(Value::Null, Value::Time),
        })
    }

    fn param(&self) -> Param<'_> {
        match self {
            Value::Null => Param::Null,
            Value::Int(i) => Param::Int(*i),
            Value::Text(s) => Param::Text(s),
            Value::Time(s) => Param::Time(s),
        }
    }
}

pub type Values = Vec<Value>;

/// Up to `limit` rows of `table` after the key `after` (from the start: `None`), in
/// key order.
pub fn read_page(
    sql: &Sql<'_>,
    table: &Table,
    after: Option<&Value>,
    limit: usize,
) -> Result<Vec<Values>> {
    let (columns, key) = (table.column_list(), table.key());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let from_row = |r: &Row<'_>| {
        table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| Value::read(r, i, *kind))
            .collect::<Result<Values>>()
    };
    match after {
        None => sql.rows(
            &format!(
                "SELECT {columns} FROM {} ORDER BY {key} LIMIT ?1",
                table.name
            ),
            &[Param::Int(limit)],
            from_row,
        ),
        Some(last) => sql.rows(
            &format!(
                "SELECT {columns} FROM {} WHERE {key} > ?1 ORDER BY {key} LIMIT ?2",
                table.name
            ),
            &[last.param(), Param::Int(limit)],
            from_row,
        ),
    }
}

/// Bound values per INSERT statement: far below both engines' limits, large enough
/// that a page costs a few round trips to a server.
const VALUES_PER_STATEMENT: usize = 2000;

/// Inserts `rows` as they are (ids included), the deferred column left NULL.
pub fn insert_rows(tx: &Tx<'_>, table: &Table, rows: &[Values]) -> Result<()> {
    let width = table.columns.len();
    let deferred = table
        .deferred
        .and_then(|d| table.columns.iter().position(|(n, _)| *n == d));
    for chunk in rows.chunks((VALUES_PER_STATEMENT / width).max(1)) {
        let params: Vec<Param<'_>> = chunk
            .iter()
            .flat_map(|row| {
                row.iter().enumerate().map(|(i, v)| match deferred {
                    Some(d) if d == i => Param::Null,
                    _ => v.param(),
                })
            })
            .collect();
        tx.execute(&insert_statement(table, chunk.len()), &params)?;
    }
    Ok(())
}

/// `INSERT INTO t (a, b) VALUES (?1, ?2), (?3, ?4)…` for `n` rows.
fn insert_statement(table: &Table, n: usize) -> String {
    let width = table.columns.len();
    let tuples: Vec<String> = (0..n)
        .map(|r| {
            let marks: Vec<String> = (1..=width).map(|c| format!("?{}", r * width + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        table.name,
        table.column_list(),
        tuples.join(", ")
    )
}

/// Sets the deferred column of the rows that have a value.
pub fn set_deferred(
    tx: &Tx<'_>,
    table: &Table,
    column: &str,
    rows: &[(Value, Value)],
) -> Result<()> {
    let statement = format!(
        "UPDATE {} SET {column} = ?2 WHERE {} = ?1",
        table.name,
        table.key()
    );
    for (key, value) in rows {
        tx.execute(&statement, &[key.param(), value.param()])?;
    }
    Ok(())
}

/// A running hash over a table's rows, in the order they are fed.
pub struct RowHash {
    hasher: Sha256,
    rows: u64,
}

impl RowHash {
    pub fn new() -> RowHash {
        RowHash {
            hasher: Sha256::new(),
            rows: 0,
        }
    }

    /// Adds one row: each value tagged by kind and length-prefixed, so no two rows
    /// encode alike; a time as its instant (`…T…Z`, nanoseconds), whatever form the
    /// engine gave it in.
    pub fn add(&mut self, row: &[Value]) {
        self.rows += 1;
        for v in row {
            match v {
                Value::Null => self.hasher.update(b"N"),
                Value::Int(i) => {
                    self.hasher.update(b"I");
                    self.hasher.update(i.to_be_bytes());
                }
                Value::Text(s) => self.text(b"T", s),
                Value::Time(s) => match DateTime::parse_from_rfc3339(s) {
                    Ok(t) => self.text(
                        b"S",
                        &t.with_timezone(&Utc)
                            .to_rfc3339_opts(SecondsFormat::Nanos, true),
                    ),
                    // Not a time: hashed as written, so it can only match itself.
                    Err(_) => self.text(b"s", s),
                },
            }
        }
        self.hasher.update(b"\n");
    }

    fn text(&mut self, tag: &[u8], s: &str) {
        self.hasher.update(tag);
        self.hasher.update((s.len() as u64).to_be_bytes());
        self.hasher.update(s.as_bytes());
    }

    /// The row count and the hash in hex.
    pub fn finish(self) -> (u64, String) {
        let hex = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (self.rows, hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(rows: &[Values]) -> String {
        let mut h = RowHash::new();
        rows.iter().for_each(|r| h.add(r));
        h.finish().1
    }

    #[test]
    fn a_time_hashes_as_its_instant_and_text_as_its_bytes() {
        let z = vec![Value::Time("2026-01-02T03:04:05.120000Z".into())];
        let offset = vec![Value::Time("2026-01-01T22:04:05.12-05:00".into())];
        assert_eq!(hash(std::slice::from_ref(&z)), hash(&[offset]));
        let later = vec![Value::Time("2026-01-02T03:04:05.120001Z".into())];
        assert_ne!(hash(std::slice::from_ref(&z)), hash(&[later]));
        let as_text = vec![Value::Text("2026-01-02T03:04:05.120000Z".into())];
        assert_ne!(hash(&[z]), hash(&[as_text]));
    }

    #[test]
    fn values_cannot_run_into_each_other() {
        let a = vec![Value::Text("ab".into()), Value::Text("c".into())];
        let b = vec![Value::Text("a".into()), Value::Text("bc".into())];
        assert_ne!(hash(&[a]), hash(&[b]));
        assert_ne!(
            hash(&[vec![Value::Null]]),
            hash(&[vec![Value::Text(String::new())]])
        );
        assert_ne!(
            hash(&[vec![Value::Int(1)], vec![Value::Int(2)]]),
            hash(&[vec![Value::Int(2)], vec![Value::Int(1)]])
        );
    }
}
