//! `numhubd copy-store`: a stopped replica copied into an empty store of either
//! engine (SQLite → MySQL/MariaDB to outgrow one host, and back), then verified.
//!
//! Both stores are open (so both are held: the lock file or the server's named lock)
//! and migrated to this binary's latest schema before this runs. Then:
//! 1. both schemas are checked against the list in [`tables`], and the target must
//!    have no row in any of its tables (otherwise nothing is written);
//! 2. every table is copied in foreign-key order, rows as they are (ids kept), a page
//!    at a time, each page in one of the target writer's transactions;
//! 3. each table's high-water id goes with it, so a new row never reuses an id;
//! 4. every table is read back from both sides by the same code ([`rows`]) and its
//!    row count and hash compared.
//!
//! Jobs are copied in whatever state they are: a `running` one (its daemon was
//! killed mid-attempt) is queued again by the daemon that starts on the target, with
//! `resume_since`, so NumHub is looked at before anything is sent twice.

mod rows;
pub mod tables;

use crate::db::engine::{args, Conn};
use crate::db::{DbError, Engine, Location, Result, Store};
use rows::{RowHash, Value, Values};
pub use tables::{check_schema, Ids, Table, TABLES};

/// Rows read (and written) at a time.
const PAGE: usize = 500;

/// One table's count and hash on each side, and the id it continues from.
#[derive(Debug, Clone)]
pub struct TableCheck {
    pub table: &'static str,
    pub source_rows: u64,
    pub source_hash: String,
    pub target_rows: u64,
    pub target_hash: String,
    /// Tables whose database assigns ids: the highest id ever given, on each side
    /// (the target's is at least the source's where its engine can keep it).
    pub high_water: Option<(i64, i64)>,
}

impl TableCheck {
    pub fn matches(&self) -> bool {
        let ids_kept = self.high_water.is_none_or(|(s, t)| t >= s);
        self.source_rows == self.target_rows && self.source_hash == self.target_hash && ids_kept
    }
}

/// What `copy` did.
#[derive(Debug, Clone)]
pub struct Report {
    pub tables: Vec<TableCheck>,
    /// Jobs copied in state `running` (their daemon was killed mid-attempt).
    pub running_jobs: i64,
}

impl Report {
    pub fn matches(&self) -> bool {
        self.tables.iter().all(TableCheck::matches)
    }

    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.source_rows).sum()
    }
}

/// Which store a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Reading either store before anything was written.
    #[error(transparent)]
    Db(#[from] DbError),

    #[error("the {side} {location} does not have the schema this copy-store knows ({}); nothing was written", differences.join("; "))]
    Schema {
        side: Side,
        location: String,
        differences: Vec<String>,
    },

    #[error("the target {location} is not empty: table {table} has {rows} row(s); copy-store writes only into an empty database; nothing was written")]
    NotEmpty {
        location: String,
        table: &'static str,
        rows: i64,
    },

    #[error("copying {table} failed: {source}; the target {location} now holds part of the copy: empty it (drop and create the database, or remove the file) before running copy-store again")]
    Partial {
        table: &'static str,
        location: String,
        #[source]
        source: DbError,
    },
}

/// Copies `source` into the empty `target` and verifies the copy. A mismatch is in
/// the report (the target is left as it is); an `Err` is a refusal before anything
/// was written, or a failure partway ([`CopyError::Partial`]).
pub async fn copy(source: &Store, target: &Store) -> Result<Report, CopyError> {
    check_side(source, Side::Source).await?;
    check_side(target, Side::Target).await?;
    refuse_rows(target).await?;
    let location = target.location().shown();
    let partial = |table: &'static Table| {
        let location = location.clone();
        move |source| CopyError::Partial {
            table: table.name,
            location,
            source,
        }
    };
    let mut copied = Vec::new();
    for table in TABLES {
        let c = copy_table(source, target, table)
            .await
            .map_err(partial(table))?;
        copied.push(c);
    }
    for (table, c) in TABLES.iter().zip(&copied) {
        set_deferred(target, table, c.deferred.clone())
            .await
            .map_err(partial(table))?;
        carry_high_water(source, target, table)
            .await
            .map_err(partial(table))?;
    }
    let mut report = Report {
        tables: Vec::new(),
        running_jobs: running_jobs(source).await?,
    };
    for (table, c) in TABLES.iter().zip(copied) {
        report
            .tables
            .push(check_table(source, target, table, c.hash).await?);
    }
    Ok(report)
}

async fn check_side(store: &Store, side: Side) -> Result<(), CopyError> {
    let differences = store.read(check_schema).await?;
    if differences.is_empty() {
        return Ok(());
    }
    Err(CopyError::Schema {
        side,
        location: store.location().shown(),
        differences,
    })
}

/// Refuses a target that has a row in any table the copy writes.
async fn refuse_rows(target: &Store) -> Result<(), CopyError> {
    let counts = target
        .read(|sql| {
            TABLES
                .iter()
                .map(|t| {
                    let n: i64 =
                        sql.one(&format!("SELECT COUNT(*) FROM {}", t.name), args![], |r| {
                            r.get(0)
                        })?;
                    Ok((t.name, n))
                })
                .collect::<Result<Vec<_>>>()
        })
        .await?;
    match counts.into_iter().find(|(_, n)| *n > 0) {
        None => Ok(()),
        Some((table, rows)) => Err(CopyError::NotEmpty {
            location: target.location().shown(),
            table,
            rows,
        }),
    }
}

/// What copying one table leaves to do.
struct Copied {
    /// The source's row count and hash, of the rows as read for the copy.
    hash: (u64, String),
    /// The deferred column's values by key, where not NULL.
    deferred: Vec<(Value, Value)>,
}

async fn copy_table(source: &Store, target: &Store, table: &'static Table) -> Result<Copied> {
    let deferred_at = table
        .deferred
        .and_then(|d| table.columns.iter().position(|(n, _)| *n == d));
    let mut hash = RowHash::new();
    let mut deferred = Vec::new();
    let mut after = None;
    while let Some(page) = next_page(source, table, &mut after).await? {
        for row in &page {
            hash.add(row);
            if let Some(v) = deferred_at.map(|i| &row[i]).filter(|v| **v != Value::Null) {
                deferred.push((row[0].clone(), v.clone()));
            }
        }
        target
            .write(move |tx| rows::insert_rows(tx, table, &page))
            .await?;
    }
    Ok(Copied {
        hash: hash.finish(),
        deferred,
    })
}

/// The page after `after` (moved past it), or None at the end of the table.
async fn next_page(
    store: &Store,
    table: &'static Table,
    after: &mut Option<Value>,
) -> Result<Option<Vec<Values>>> {
    let from = after.clone();
    let page = store
        .read(move |sql| rows::read_page(sql, table, from.as_ref(), PAGE))
        .await?;
    match page.last() {
        None => Ok(None),
        Some(last) => {
            *after = Some(last[0].clone());
            Ok(Some(page))
        }
    }
}

async fn set_deferred(
    target: &Store,
    table: &'static Table,
    values: Vec<(Value, Value)>,
) -> Result<()> {
    let Some(column) = table.deferred else {
        return Ok(());
    };
    for chunk in values.chunks(PAGE) {
        let chunk = chunk.to_vec();
        target
            .write(move |tx| rows::set_deferred(tx, table, column, &chunk))
            .await?;
    }
    Ok(())
}

/// Reads one side's table in key order into a count and hash.
async fn hash_table(store: &Store, table: &'static Table) -> Result<(u64, String)> {
    let mut hash = RowHash::new();
    let mut after = None;
    while let Some(page) = next_page(store, table, &mut after).await? {
        page.iter().for_each(|row| hash.add(row));
    }
    Ok(hash.finish())
}

async fn check_table(
    source: &Store,
    target: &Store,
    table: &'static Table,
    copied: (u64, String),
) -> Result<TableCheck> {
    // Read again, not the hash taken while copying: the source is held, so the two
    // agree unless reading itself differs between runs.
    let (source_rows, source_hash) = hash_table(source, table).await?;
    let (target_rows, target_hash) = hash_table(target, table).await?;
    let high_water = match carried(target, table) {
        true => Some((
            high_water(source, table).await?,
            high_water(target, table).await?,
        )),
        false => None,
    };
    let source_hash = match copied == (source_rows, source_hash.clone()) {
        true => source_hash,
        false => format!(
            "{source_hash} (while copying: {} rows, {})",
            copied.0, copied.1
        ),
    };
    Ok(TableCheck {
        table: table.name,
        source_rows,
        source_hash,
        target_rows,
        target_hash,
        high_water,
    })
}

/// Whether `target`'s engine keeps `table`'s high-water id apart from its rows:
/// MySQL's AUTO_INCREMENT on every assigned key, SQLite only under AUTOINCREMENT
/// (its other keys continue from the largest id present, as SQLite always does).
fn carried(target: &Store, table: &Table) -> bool {
    match (engine_of(target), table.ids) {
        (_, Ids::Given) => false,
        (Engine::Mysql, _) => true,
        (Engine::Sqlite, Ids::AssignedOnce) => true,
        (Engine::Sqlite, Ids::Assigned) => false,
    }
}

fn engine_of(store: &Store) -> Engine {
    match store.location() {
        Location::File(_) => Engine::Sqlite,
        Location::Server(_) => Engine::Mysql,
    }
}

/// The highest id `table` has ever given: its largest id, or above it the counter
/// that remembers deleted ones (`sqlite_sequence`, MySQL's AUTO_INCREMENT).
async fn high_water(store: &Store, table: &'static Table) -> Result<i64> {
    store
        .read(move |sql| {
            let largest: Option<i64> = sql.one(
                &format!("SELECT MAX({}) FROM {}", table.key(), table.name),
                args![],
                |r| r.get(0),
            )?;
            let counter = match sql.engine() {
                Engine::Sqlite => sql
                    .one(
                        "SELECT MAX(seq) FROM sqlite_sequence WHERE name = ?1",
                        args![table.name],
                        |r| r.get::<Option<i64>>(0),
                    )?
                    .unwrap_or(0),
                Engine::Mysql => next_auto_increment(sql, table)? - 1,
            };
            Ok(largest.unwrap_or(0).max(counter))
        })
        .await
}

/// MySQL's next AUTO_INCREMENT value, from `SHOW CREATE TABLE`: exact on both
/// servers, where information_schema may show MySQL 8's cached statistics.
fn next_auto_increment(sql: &crate::db::Sql<'_>, table: &Table) -> Result<i64> {
    let ddl: String = sql.one(&format!("SHOW CREATE TABLE {}", table.name), args![], |r| {
        r.get(1)
    })?;
    // The table option, after the closing parenthesis; absent while it is 1.
    let options = ddl.rsplit(')').next().unwrap_or("");
    Ok(options
        .split_whitespace()
        .find_map(|o| o.strip_prefix("AUTO_INCREMENT="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1))
}

/// Moves the target's id counter to the source's high-water mark, so the daemon on
/// the target never hands out an id the source already gave (a purged job's).
async fn carry_high_water(source: &Store, target: &Store, table: &'static Table) -> Result<()> {
    if !carried(target, table) {
        return Ok(());
    }
    let mark = high_water(source, table).await?;
    match target.location().clone() {
        Location::File(_) => {
            target
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO sqlite_sequence (name, seq) SELECT ?1, ?2
                         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?1)",
                        args![table.name, mark],
                    )?;
                    tx.execute(
                        "UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1 AND seq < ?2",
                        args![table.name, mark],
                    )?;
                    Ok(())
                })
                .await
        }
        // DDL commits on its own in MySQL: on a session of its own, never inside the
        // writer's transaction.
        Location::Server(server) => {
            let statement = format!("ALTER TABLE {} AUTO_INCREMENT = {}", table.name, mark + 1);
            tokio::task::spawn_blocking(move || {
                use crate::db::engine::mysql::{MyConn, Role};
                let conn = Conn::Mysql(MyConn::connect(&server, Role::Own)?);
                let done = conn.batch(&statement);
                let _ = conn.close();
                done
            })
            .await
            .map_err(|e| DbError::Commit {
                source: format!("setting {}'s AUTO_INCREMENT: {e}", table.name).into(),
            })?
        }
    }
}

async fn running_jobs(source: &Store) -> Result<i64> {
    source
        .read(|sql| {
            sql.one(
                "SELECT COUNT(*) FROM jobs WHERE state = 'running'",
                args![],
                |r| r.get(0),
            )
        })
        .await
}
