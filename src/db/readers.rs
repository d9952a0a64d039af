//! A small pool of read connections: read-only SQLite connections (WAL mode lets them
//! read a consistent snapshot while the writer commits), or MySQL sessions in
//! REPEATABLE READ.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

use super::engine::mysql::{MyConn, Role, Server};
use super::engine::Conn;
use super::{open_connection, DbError, Result, Sql, StoreOptions};

type Idle = Arc<Mutex<Vec<Conn>>>;

pub(super) struct Readers {
    idle: Idle,
    permits: Arc<Semaphore>,
}

/// A connection out of the pool. It goes back when dropped, also when the read
/// panicked or its caller gave up waiting, so every permit finds a connection.
struct Lease {
    conn: Option<Conn>,
    idle: Idle,
}

impl Lease {
    fn read<T>(&self, f: impl FnOnce(&Sql<'_>) -> Result<T>) -> Result<T> {
        match &self.conn {
            Some(conn) => in_snapshot(conn, f),
            None => Err(DbError::Closed),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // The list is whole even if a holder of the lock panicked.
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }
}

impl Readers {
    pub(super) fn open_file(path: &Path, options: &StoreOptions) -> Result<Readers> {
        let n = options.readers.max(1);
        let idle = (0..n)
            .map(|_| open_connection(path, true, options).map(Conn::Sqlite))
            .collect::<Result<Vec<_>>>()?;
        Ok(Readers::of(idle))
    }

    pub(super) fn open_server(server: &Server, options: &StoreOptions) -> Result<Readers> {
        let n = options.readers.max(1);
        let idle = (0..n)
            .map(|_| MyConn::connect(server, Role::Reader).map(Conn::Mysql))
            .collect::<Result<Vec<_>>>()?;
        Ok(Readers::of(idle))
    }

    fn of(idle: Vec<Conn>) -> Readers {
        let n = idle.len();
        Readers {
            idle: Arc::new(Mutex::new(idle)),
            permits: Arc::new(Semaphore::new(n)),
        }
    }

    /// A connection; one is idle whenever the caller holds a permit.
    fn lease(&self) -> Option<Lease> {
        let conn = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()?;
        Some(Lease {
            conn: Some(conn),
            idle: self.idle.clone(),
        })
    }

    pub(super) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Sql<'_>) -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbError::Closed)?;
        let lease = self.lease().ok_or(DbError::Closed)?;
        // The permit travels with the lease: if this future is dropped while the read
        // runs, the permit is released only once the connection is back.
        tokio::task::spawn_blocking(move || {
            let result = lease.read(f);
            drop(lease);
            drop(permit);
            result
        })
        .await
        .map_err(|e| DbError::Commit {
            source: format!("read task failed: {e}").into(),
        })?
    }

    /// Runs `f` on the caller's thread if a SQLite connection is idle now (None
    /// otherwise). For point reads by key, which take microseconds from the page
    /// cache: the hop to the blocking pool would cost more than the query. A MySQL
    /// read waits on the network, which must not block an async thread: never inline.
    pub(super) fn try_run_inline<T, F>(&self, f: F) -> Option<Result<T>>
    where
        F: FnOnce(&Sql<'_>) -> Result<T>,
    {
        let _permit = self.permits.try_acquire().ok()?;
        let lease = self.lease()?;
        if lease.conn.as_ref().is_some_and(|c| c.sqlite().is_none()) {
            return None;
        }
        Some(lease.read(f))
    }
}

/// Runs `f` in one read transaction, so all its statements see one snapshot: a row
/// and its pending job, a page and its rows' jobs, the several tables `daemon.status`
/// reads, even while the writer commits between two of them.
fn in_snapshot<T>(conn: &Conn, f: impl FnOnce(&Sql<'_>) -> Result<T>) -> Result<T> {
    // A transaction left open by a failure below would pin this connection to an
    // old snapshot for every later read.
    conn.rollback();
    conn.begin_read()?;
    let result = f(&Sql { conn });
    // Ending a read transaction only releases its snapshot; nothing is written.
    conn.end_read();
    result
}
