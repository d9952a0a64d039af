//! A small pool of read-only connections. WAL mode lets them read a consistent
//! snapshot while the writer commits.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::{exec_cached, open_connection, DbError, Result, Sql, StoreOptions};

pub(super) struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    pub(super) fn open(path: &Path, options: &StoreOptions) -> Result<Readers> {
        let n = options.readers.max(1);
        let idle = (0..n)
            .map(|_| open_connection(path, true, options))
            .collect::<Result<Vec<_>>>()?;
        Ok(Readers {
            idle: Mutex::new(idle),
            permits: Semaphore::new(n),
        })
    }

    pub(super) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Sql<'_>) -> Result<T> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| DbError::Closed)?;
        let conn = self
            .idle
            .lock()
            .map_err(|_| DbError::Closed)?
            .pop()
            .ok_or(DbError::Closed)?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = in_snapshot(&conn, f);
            (conn, result)
        })
        .await
        .map_err(|e| DbError::Commit {
            reason: format!("read task failed: {e}"),
        })?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result
    }

    /// Runs `f` on the caller's thread if a connection is idle now (None otherwise).
    /// For point reads by key, which take microseconds from the page cache: the hop
    /// to the blocking pool would cost more than the query.
    pub(super) fn try_run_inline<T, F>(&self, f: F) -> Option<Result<T>>
    where
        F: FnOnce(&Sql<'_>) -> Result<T>,
    {
        let _permit = self.permits.try_acquire().ok()?;
        let conn = self.idle.lock().ok()?.pop()?;
        let result = in_snapshot(&conn, f);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        Some(result)
    }
}

/// Runs `f` in one read transaction, so all its statements see one snapshot: a row
/// and its pending job, a page and its rows' jobs, the several tables `daemon.status`
/// reads, even while the writer commits between two of them.
fn in_snapshot<T>(conn: &Connection, f: impl FnOnce(&Sql<'_>) -> Result<T>) -> Result<T> {
    // A transaction left open by a failure below would pin this connection to an
    // old snapshot for every later read.
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    exec_cached(conn, "BEGIN")?;
    let result = f(&Sql { conn });
    // Ending a read transaction only releases its snapshot; nothing is written.
    if exec_cached(conn, "COMMIT").is_err() {
        conn.execute_batch("ROLLBACK")?;
    }
    result
}
