//! The single writer: one thread owns the read-write connection, so writes never
//! contend for SQLite's lock.
//!
//! Group commit: the thread takes everything queued (up to a batch limit), runs each
//! call inside its own SAVEPOINT of one transaction, commits once, and only then
//! answers each caller. A failing call rolls back to its savepoint and leaves the
//! others' work intact. A panicking call is caught and fails alone.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{DbError, Result, Sql, Tx};

/// The most calls one transaction takes; bounds how long a reply can wait.
const MAX_BATCH: usize = 512;

/// What the writer hands back after running a call: whether it failed (so its
/// savepoint is rolled back) and how to deliver its answer after the commit.
struct Ran {
    failed: bool,
    deliver: Box<dyn FnOnce(Result<()>) + Send>,
}

type Call = Box<dyn FnOnce(&Tx<'_>) -> Ran + Send>;

enum Msg {
    Call(Call),
    Close(oneshot::Sender<Result<()>>),
}

pub(super) struct Writer {
    queue: mpsc::Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(super) fn start(conn: Connection, capacity: usize) -> Result<Writer> {
        let (queue, rx) = mpsc::channel(capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("numhubd-db-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| DbError::Open {
                path: "writer thread".into(),
                reason: e.to_string(),
            })?;
        Ok(Writer {
            queue,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(super) async fn submit<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let call: Call = Box::new(move |tx| match f(tx) {
            Ok(value) => Ran {
                failed: false,
                deliver: Box::new(move |committed| {
                    let _ = reply.send(committed.map(|()| value));
                }),
            },
            Err(e) => Ran {
                failed: true,
                deliver: Box::new(move |_| {
                    let _ = reply.send(Err(e));
                }),
            },
        });
        self.queue
            .send(Msg::Call(call))
            .await
            .map_err(|_| DbError::Closed)?;
        answer.await.map_err(|_| DbError::Closed)?
    }

    pub(super) fn submit_detached<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&Tx<'_>) -> Result<()> + Send + 'static,
    {
        let call: Call = Box::new(move |tx| {
            let result = f(tx);
            let failed = result.is_err();
            Ran {
                failed,
                deliver: Box::new(move |committed| {
                    if let Err(e) = result.and(committed) {
                        tracing::warn!(what, error = %e, "background write failed");
                    }
                }),
            }
        });
        if let Err(e) = self.queue.try_send(Msg::Call(call)) {
            tracing::warn!(what, error = %e, "background write dropped: writer queue full or closed");
        }
    }

    pub(super) async fn close(&self) -> Result<()> {
        let (done, finished) = oneshot::channel();
        if self.queue.send(Msg::Close(done)).await.is_err() {
            return Ok(()); // already closed
        }
        let result = finished.await.map_err(|_| DbError::Closed)?;
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        result
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Msg>) {
    let mut batch: Vec<Call> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        let mut close = None;
        match first {
            Msg::Call(call) => batch.push(call),
            Msg::Close(done) => close = Some(done),
        }
        while close.is_none() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Call(call)) => batch.push(call),
                Ok(Msg::Close(done)) => close = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit_batch(&conn, &mut batch);
        }
        if let Some(done) = close {
            rx.close();
            // Calls that raced the close still get run, not dropped.
            while let Ok(Msg::Call(call)) = rx.try_recv() {
                batch.push(call);
            }
            if !batch.is_empty() {
                commit_batch(&conn, &mut batch);
            }
            let _ = done.send(shut(conn));
            return;
        }
    }
}

fn shut(conn: Connection) -> Result<()> {
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    conn.close().map_err(|(_, e)| DbError::Sqlite(e))
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Call>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Dropping the calls answers each caller with DbError::Closed.
        tracing::error!(error = %e, calls = batch.len(), "writer could not begin a transaction");
        batch.clear();
        return;
    }
    let tx = Tx { sql: Sql { conn } };
    let mut delivered = Vec::with_capacity(batch.len());
    for call in batch.drain(..) {
        delivered.push(run_one(conn, &tx, call));
    }
    let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if committed.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for deliver in delivered {
        deliver(
            committed
                .clone()
                .map_err(|reason| DbError::Commit { reason }),
        );
    }
}

fn run_one(conn: &Connection, tx: &Tx<'_>, call: Call) -> Box<dyn FnOnce(Result<()>) + Send> {
    if let Err(e) = conn.execute_batch("SAVEPOINT call") {
        let reason = e.to_string();
        return Box::new(move |_| tracing::error!(error = %reason, "savepoint failed"));
    }
    let ran = catch_unwind(AssertUnwindSafe(|| call(tx))).unwrap_or_else(|_| Ran {
        failed: true,
        deliver: Box::new(|_| {
            tracing::error!("a store call panicked; its changes were rolled back")
        }),
    });
    let closed = if ran.failed {
        conn.execute_batch("ROLLBACK TO call; RELEASE call")
    } else {
        conn.execute_batch("RELEASE call")
    };
    if let Err(e) = closed {
        tracing::error!(error = %e, "savepoint release failed");
    }
    ran.deliver
}
