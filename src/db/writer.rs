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
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{exec_cached, DbError, Result, Sql, Tx};

/// The most calls one transaction takes; bounds how long a reply can wait.
const MAX_BATCH: usize = 512;

/// How long a batch waits for callers expected back before it commits anyway.
/// A commit costs ~70 µs (docs/BENCHMARKS.md), so sharing one is worth a short wait;
/// a lone caller never waits (it is the only one expected).
const GATHER_WINDOW: Duration = Duration::from_micros(200);

/// How many times the idle writer yields before it sleeps on the queue.
const SPIN_ROUNDS: u32 = 50;

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
    /// Answered as soon as the thread takes it: proof the writer is not stuck.
    Probe(oneshot::Sender<()>),
}

pub(super) struct Writer {
    queue: mpsc::Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread.
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

    pub(super) async fn submit_detached<F>(&self, what: &'static str, f: F)
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
        if self.queue.send(Msg::Call(call)).await.is_err() {
            tracing::warn!(what, "background write dropped: the store is closed");
        }
    }

    /// Whether the writer thread takes a message from its queue within `deadline`
    /// (behind whatever is queued before it).
    pub(super) async fn probe(&self, deadline: Duration) -> bool {
        let (seen, answer) = oneshot::channel();
        tokio::time::timeout(deadline, async {
            self.queue.send(Msg::Probe(seen)).await.is_ok() && answer.await.is_ok()
        })
        .await
        .unwrap_or(false)
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
    // Callers answered by the last commit are likely to write again at once: wait
    // (briefly) for as many as that before committing, so they share one commit.
    let mut expected = 1;
    while let Some(first) = next(&mut rx) {
        let close = match first {
            Msg::Call(call) => {
                batch.push(call);
                gather(&mut rx, &mut batch, expected)
            }
            Msg::Close(done) => Some(done),
            Msg::Probe(seen) => {
                let _ = seen.send(());
                None
            }
        };
        if !batch.is_empty() {
            expected = batch.len();
            commit_batch(&conn, &mut batch);
        }
        if let Some(done) = close {
            rx.close();
            // Calls that raced the close still get run, not dropped.
            while let Ok(msg) = rx.try_recv() {
                match msg {
                    Msg::Call(call) => batch.push(call),
                    Msg::Probe(seen) => {
                        let _ = seen.send(());
                    }
                    Msg::Close(_) => {}
                }
            }
            if !batch.is_empty() {
                commit_batch(&conn, &mut batch);
            }
            let _ = done.send(shut(conn));
            return;
        }
    }
}

/// Takes queued calls into `batch` until it holds `expected` calls (or MAX_BATCH),
/// the queue stays empty for GATHER_WINDOW, or a close arrives (returned).
fn gather(
    rx: &mut mpsc::Receiver<Msg>,
    batch: &mut Vec<Call>,
    expected: usize,
) -> Option<oneshot::Sender<Result<()>>> {
    let started = Instant::now();
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(Msg::Call(call)) => batch.push(call),
            Ok(Msg::Close(done)) => return Some(done),
            Ok(Msg::Probe(seen)) => {
                let _ = seen.send(());
            }
            Err(_) if batch.len() < expected && started.elapsed() < GATHER_WINDOW => {
                std::thread::yield_now()
            }
            Err(_) => break,
        }
    }
    None
}

/// The next message: a short spin first (callers answered a moment ago are about to
/// send again), then sleep until one comes. None once every sender is gone.
fn next(rx: &mut mpsc::Receiver<Msg>) -> Option<Msg> {
    for _ in 0..SPIN_ROUNDS {
        match rx.try_recv() {
            Ok(msg) => return Some(msg),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    rx.blocking_recv()
}

fn shut(conn: Connection) -> Result<()> {
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    conn.close().map_err(|(_, e)| DbError::Sqlite(e))
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Call>) {
    if let Err(e) = exec_cached(conn, "BEGIN IMMEDIATE") {
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
    let committed = exec_cached(conn, "COMMIT").map_err(|e| e.to_string());
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
    if let Err(e) = exec_cached(conn, "SAVEPOINT call") {
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
        exec_cached(conn, "ROLLBACK TO call").and_then(|()| exec_cached(conn, "RELEASE call"))
    } else {
        exec_cached(conn, "RELEASE call")
    };
    if let Err(e) = closed {
        tracing::error!(error = %e, "savepoint release failed");
    }
    ran.deliver
}
