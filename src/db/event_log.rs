//! `numhubd_events`: every event a host published, with its node, so that the other
//! hosts sharing a server store deliver it to their own subscribers (the `relay`
//! module tails it). Rows live for minutes: housekeeping purges them.

use super::engine::{args, read_row, ts, Row};
use super::{json_values, Engine, Result, Sql, Tx};

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub id: i64,
    pub node: String,
    /// The event as JSON (`events::Message`'s form).
    pub event: String,
}

/// Appends `events` (JSON each) published on `node`.
pub fn append(tx: &Tx<'_>, node: &str, events: &[String], now: &str) -> Result<()> {
    for e in events {
        tx.insert(
            "INSERT INTO numhubd_events (node, event, created_at) VALUES (?1, ?2, ?3)",
            args![node, e, ts(now)],
        )?;
    }
    Ok(())
}

/// The highest id given so far (0 when none): where a new tail starts.
pub fn newest_id(sql: &Sql<'_>) -> Result<i64> {
    sql.one(
        "SELECT COALESCE(MAX(id), 0) FROM numhubd_events",
        args![],
        |r| r.get(0),
    )
}

/// Up to `limit` rows after `id`, by id (the primary key serves it).
pub fn after(sql: &Sql<'_>, id: i64, limit: u32) -> Result<Vec<Logged>> {
    sql.rows(
        "SELECT id, node, event FROM numhubd_events WHERE id > ?1 ORDER BY id LIMIT ?2",
        args![id, limit],
        from_row,
    )
}

/// The rows among `ids` that exist now (ids seen missing that may have committed
/// since).
pub fn by_ids(sql: &Sql<'_>, ids: &[i64]) -> Result<Vec<Logged>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let statement = format!(
        "SELECT id, node, event FROM numhubd_events WHERE id IN ({}) ORDER BY id",
        json_values(sql.engine(), "?1", "BIGINT")
    );
    sql.rows(&statement, args![list], from_row)
}

fn from_row(r: &Row<'_>) -> Result<Logged> {
    read_row!(r => Logged { id, node, event })
}

/// Deletes up to `batch` rows created before `before`.
pub fn purge_older_than(tx: &Tx<'_>, before: &str, batch: u32) -> Result<usize> {
    // As `sync_logs::purge_older_than`: MySQL deletes with a LIMIT of its own.
    let statement = match tx.engine() {
        Engine::Sqlite => {
            "DELETE FROM numhubd_events WHERE id IN (
                 SELECT id FROM numhubd_events WHERE created_at < ?1 ORDER BY id LIMIT ?2)"
        }
        Engine::Mysql => "DELETE FROM numhubd_events WHERE created_at < ?1 ORDER BY id LIMIT ?2",
    };
    tx.execute(statement, args![ts(before), batch])
}
