//! `numhub_sync_logs`: one row per HTTP exchange with NumHub. Payloads arrive here
//! already redacted (the `numhub` module's job); the store only keeps them.

use super::engine::{args, read_row, ts, ts_opt, Engine, Row};

use super::{
    check_json, check_len, new_id, now_ts, page_limit, DbError, Direction, HttpMethod, Page,
    Result, Sql, Tx,
};

/// The row as the protocol shows it: one type for the table and the wire.
pub use crate::api::LogEntry as SyncLog;

#[derive(Debug, Clone)]
pub struct NewSyncLog {
    pub tenant_id: Option<i64>,
    pub entity_id: Option<String>,
    pub identity_id: Option<String>,
    pub endpoint: String,
    pub method: HttpMethod,
    pub direction: Direction,
    pub status_code: Option<u16>,
    /// Redacted JSON text.
    pub request_payload: Option<String>,
    /// Redacted JSON text.
    pub response_payload: Option<String>,
    pub response_time_ms: Option<i64>,
    pub error_message: Option<String>,
    pub success: bool,
}

/// `log.list`'s filters and page. `tenant_id` None means every tenant's and the
/// global rows (admins only: the RPC edge decides who may ask for that).
pub use crate::api::LogQuery;

/// Inserts a row that names what it concerns by NumHub's ids (all the HTTP client
/// knows): they are resolved to the local rows here, or left NULL when no local row
/// has them (yet).
pub fn insert_by_numhub_ids(
    tx: &Tx<'_>,
    mut new: NewSyncLog,
    numhub_entity_id: Option<&str>,
    numhub_identity_id: Option<&str>,
) -> Result<String> {
    let local = |statement: &str, numhub_id: Option<&str>| match numhub_id {
        Some(id) => tx.row(statement, args![id], |r| r.get(0)),
        None => Ok(None),
    };
    if new.entity_id.is_none() {
        new.entity_id = local(
            "SELECT id FROM numhub_entities WHERE numhub_entity_id = ?1",
            numhub_entity_id,
        )?;
    }
    if new.identity_id.is_none() {
        new.identity_id = local(
            "SELECT id FROM numhub_identities WHERE numhub_identity_id = ?1",
            numhub_identity_id,
        )?;
    }
    insert(tx, new)
}

pub fn insert(tx: &Tx<'_>, new: NewSyncLog) -> Result<String> {
    check_len("endpoint", &new.endpoint, 255)?;
    if new.endpoint.is_empty() {
        return Err(DbError::invalid("endpoint", "must not be empty"));
    }
    if let Some(p) = &new.request_payload {
        check_json("request_payload", p)?;
    }
    if let Some(p) = &new.response_payload {
        check_json("response_payload", p)?;
    }
    if let Some(code) = new.status_code {
        if !(100..=599).contains(&code) {
            return Err(DbError::invalid(
                "status_code",
                format!("{code} is not an HTTP status"),
            ));
        }
    }
    let id = new_id();
    tx.execute("INSERT INTO numhub_sync_logs (id, tenant_id, numhub_entity_id, numhub_identity_id, endpoint,
                 method, direction, status_code, request_payload, response_payload, response_time_ms,
                 error_message, success, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)", args![
            id,
            new.tenant_id,
            new.entity_id,
            new.identity_id,
            new.endpoint,
            new.method.as_str(),
            new.direction.as_str(),
            new.status_code,
            new.request_payload,
            new.response_payload,
            new.response_time_ms,
            new.error_message,
            new.success,
            ts(&now_ts())
        ])?;
    Ok(id)
}

fn from_row(r: &Row<'_>) -> Result<SyncLog> {
    read_row!(r => SyncLog {
        id, tenant_id, entity_id, identity_id, endpoint, method, direction, status_code,
        request_payload: json, response_payload: json, response_time_ms, error_message, success,
        created_at,
    })
}

/// Newest first; the cursor is the last row's id (uuid v7, so id order is time order).
pub fn list(sql: &Sql<'_>, filter: &LogQuery) -> Result<Page<SyncLog>> {
    let limit = page_limit(filter.limit)?;
    let rows = sql.rows(
        "SELECT id, tenant_id, numhub_entity_id, numhub_identity_id, endpoint, method, direction,
                status_code, request_payload, response_payload, response_time_ms, error_message,
                success, created_at
         FROM numhub_sync_logs
         WHERE (?1 IS NULL OR tenant_id = ?1)
           AND (?2 IS NULL OR numhub_entity_id = ?2)
           AND (?3 IS NULL OR numhub_identity_id = ?3)
           AND (?4 IS NULL OR endpoint = ?4)
           AND (?5 IS NULL OR success = ?5)
           AND (?6 IS NULL OR created_at >= ?6)
           AND (?7 IS NULL OR created_at < ?7)
           AND (?8 IS NULL OR id < ?8)
         ORDER BY id DESC LIMIT ?9",
        args![
            filter.tenant_id,
            filter.entity_id,
            filter.identity_id,
            filter.endpoint,
            filter.success,
            ts_opt(filter.since.as_deref()),
            ts_opt(filter.until.as_deref()),
            filter.cursor,
            limit + 1
        ],
        from_row,
    )?;
    Ok(Page::from_rows(rows, limit, |l| l.id.clone()))
}

/// The newest exchange: (created_at, status_code) — `daemon.status` reads NumHub's
/// reachability from it (an answer, any answer, means reachable).
pub fn last_exchange(sql: &Sql<'_>) -> Result<Option<(String, Option<i64>)>> {
    Ok(sql
        .rows(
            "SELECT created_at, status_code FROM numhub_sync_logs ORDER BY id DESC LIMIT 1",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .pop())
}

/// When each exchange recorded at or after `since` was written, oldest first: what a
/// restarted governor counts as already spent (a row is written after its answer, so
/// it counts a little longer than NumHub does, never shorter).
pub fn recorded_since(sql: &Sql<'_>, since: &str) -> Result<Vec<String>> {
    sql.rows(
        "SELECT created_at FROM numhub_sync_logs WHERE created_at >= ?1 ORDER BY created_at",
        args![ts(since)],
        |r| r.get(0),
    )
}

/// Deletes up to `batch` rows older than `before`; returns how many. Small batches
/// keep each write transaction short, so readers and other writes are not held up.
pub fn purge_older_than(tx: &Tx<'_>, before: &str, batch: u32) -> Result<usize> {
    // MySQL cannot delete from a table it selects from in a subquery, but deletes
    // with an ORDER BY and LIMIT of its own, which SQLite's default build cannot.
    let statement = match tx.engine() {
        Engine::Sqlite => {
            "DELETE FROM numhub_sync_logs WHERE id IN (
                 SELECT id FROM numhub_sync_logs WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)"
        }
        Engine::Mysql => {
            "DELETE FROM numhub_sync_logs WHERE created_at < ?1 ORDER BY created_at LIMIT ?2"
        }
    };
    tx.execute(statement, args![ts(before), batch])
}
