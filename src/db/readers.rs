//! A small pool of read-only connections. WAL mode lets them read a consistent
//! snapshot while the writer commits.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::{open_connection, DbError, Result, Sql, StoreOptions};

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
            let result = f(&Sql { conn: &conn });
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
        let result = f(&Sql { conn: &conn });
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        Some(result)
    }
}
