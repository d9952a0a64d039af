//! The single writer: one thread owns the read-write connection, so writes never
//! contend for SQLite's lock (on MySQL: one session writes, so this daemon's own
//! writes never deadlock each other).
//!
//! Group commit: the thread takes everything queued (up to a batch limit), runs the
//! calls in one transaction, commits once, and only then answers each caller. A
//! failing call undoes only its own changes: on SQLite it runs inside its own
//! SAVEPOINT and rolls back to it; on MySQL, where a savepoint costs a round trip per
//! call, the failure rolls the transaction back, the call is answered, and the calls
//! before it run again (store calls are `Fn`: they may run more than once, and only
//! the run that commits answers). A panicking call is caught and fails alone.
//!
//! No caller is told "failed" for a row that is in the database, nor "ok" for one
//! that is not. A failure after which SQLite rolled back the whole transaction (disk
//! full, I/O error) fails the calls that ran in it; the rest of the batch runs in a
//! new one. A transaction MySQL ended before its commit took (a deadlock, a lost
//! connection) runs again, and a COMMIT whose answer is lost is looked up before
//! anyone is answered (`engine::mysql`). A refusal by the storage (no space, an I/O
//! error) is recorded in [`WriteHealth`] until a commit writes again, and answered as
//! [`DbError::WriteRefused`].

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::engine::Conn;
use super::write_health::WriteHealth;
use super::{DbError, Result, Sql, Tx};

/// The most calls one transaction takes; bounds how long a reply can wait.
const MAX_BATCH: usize = 512;

/// How long a batch waits for callers expected back before it commits anyway.
/// A commit costs ~70 µs (docs/BENCHMARKS.md), so sharing one is worth a short wait;
/// a lone caller never waits (it is the only one expected).
const GATHER_WINDOW: Duration = Duration::from_micros(200);

/// How many times the idle writer yields before it sleeps on the queue.
const SPIN_ROUNDS: u32 = 50;

/// What the writer hands back after running a call: whether it failed (so its
/// savepoint is rolled back) and how to deliver its answer after the commit. A run
/// whose transaction the database ended before its commit is dropped undelivered and
/// the call runs again.
struct Ran {
    failed: bool,
    /// The call failed because the storage refused the write: why.
    refused: Option<String>,
    deliver: Box<dyn FnOnce(Result<()>) + Send>,
}

/// A call: run once per attempt at its transaction (again when MySQL ended one before
/// its commit: a deadlock, a lost connection).
type Call = Box<dyn FnMut(&Tx<'_>) -> Ran + Send>;

/// How many times a transaction the database ended before its commit is run again
/// before its callers are told it was not written.
const MAX_RERUNS: u32 = 5;

/// The caller's reply, taken by whichever run is delivered.
type Reply<T> = std::sync::Arc<Mutex<Option<oneshot::Sender<Result<T>>>>>;

fn answer<T>(reply: &Reply<T>, result: Result<T>) {
    let sender = reply.lock().ok().and_then(|mut r| r.take());
    if let Some(sender) = sender {
        let _ = sender.send(result);
    }
}

/// A call and whether its commit must be on disk before it is acknowledged even
/// when the store runs `synchronous=NORMAL` (an outbox claim: losing it to a power cut
/// could send a create twice).
struct Queued {
    call: Call,
    durable: bool,
    /// Answers the caller with an error without running the call (no transaction
    /// could begin).
    refuse: Box<dyn FnOnce(DbError) + Send>,
}

enum Msg {
    Call(Queued),
    Close(oneshot::Sender<Result<()>>),
    /// Answered as soon as the thread takes it: proof the writer is not stuck.
    Probe(oneshot::Sender<()>),
}

pub(super) struct Writer {
    queue: mpsc::Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
    health: std::sync::Arc<WriteHealth>,
}

impl Writer {
    /// Starts the writer thread. `full_sync`: the connection runs `synchronous=FULL`
    /// (every commit durable); otherwise NORMAL, and a batch holding a durable call
    /// is committed under FULL.
    pub(super) fn start(conn: Conn, capacity: usize, full_sync: bool) -> Result<Writer> {
        let (queue, rx) = mpsc::channel(capacity.max(1));
        let health = std::sync::Arc::new(WriteHealth::default());
        let shared = health.clone();
        let thread = std::thread::Builder::new()
            .name("numhubd-db-writer".into())
            .spawn(move || run(conn, rx, full_sync, &shared))
            .map_err(|e| DbError::Open {
                path: "writer thread".into(),
                source: e.into(),
            })?;
        Ok(Writer {
            queue,
            thread: Mutex::new(Some(thread)),
            health,
        })
    }

    /// What the writer last saw of the storage (see [`WriteHealth`]).
    pub(super) fn health(&self) -> &WriteHealth {
        &self.health
    }

    pub(super) async fn submit<T, F>(&self, f: F, durable: bool) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (sender, answered) = oneshot::channel();
        let reply: Reply<T> = std::sync::Arc::new(Mutex::new(Some(sender)));
        let reply_for_refusal = reply.clone();
        let call: Call = Box::new(move |tx| {
            let reply = reply.clone();
            match f(tx) {
                Ok(value) => Ran {
                    failed: false,
                    refused: None,
                    deliver: Box::new(move |committed| {
                        answer(&reply, committed.map(|()| value));
                    }),
                },
                Err(e) => Ran {
                    failed: true,
                    refused: refusal_of(&e),
                    deliver: Box::new(move |_| answer(&reply, Err(e))),
                },
            }
        });
        let refuse: Box<dyn FnOnce(DbError) + Send> = {
            let reply = reply_for_refusal;
            Box::new(move |e| answer(&reply, Err(e)))
        };
        self.queue
            .send(Msg::Call(Queued {
                call,
                durable,
                refuse,
            }))
            .await
            .map_err(|_| DbError::Closed)?;
        answered.await.map_err(|_| DbError::Closed)?
    }

    pub(super) async fn submit_detached<F>(&self, what: &'static str, f: F)
    where
        F: Fn(&Tx<'_>) -> Result<()> + Send + 'static,
    {
        let call: Call = Box::new(move |tx| {
            let result = f(tx);
            let failed = result.is_err();
            Ran {
                failed,
                refused: result.as_ref().err().and_then(refusal_of),
                deliver: Box::new(move |committed| {
                    if let Err(e) = result.and(committed) {
                        tracing::warn!(what, error = %e, "background write failed");
                    }
                }),
            }
        });
        let queued = Queued {
            call,
            durable: false,
            refuse: Box::new(move |e| tracing::warn!(what, error = %e, "background write failed")),
        };
        if self.queue.send(Msg::Call(queued)).await.is_err() {
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

fn run(conn: Conn, mut rx: mpsc::Receiver<Msg>, full_sync: bool, health: &WriteHealth) {
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH);
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
            commit_batch(&conn, &mut batch, full_sync, health);
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
                commit_batch(&conn, &mut batch, full_sync, health);
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
    batch: &mut Vec<Queued>,
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

fn shut(conn: Conn) -> Result<()> {
    conn.close()
}

/// Runs `batch` in as few transactions as it takes. SQLite may roll a whole
/// transaction back when a statement fails with `SQLITE_FULL` or `SQLITE_IOERR`;
/// the next call's SAVEPOINT would then run in autocommit mode and commit on its
/// own while the final COMMIT fails, telling callers whose rows are in the file that
/// they failed (and a retry would duplicate them). So after each call the
/// transaction must still be open: if it is not, the calls run so far are answered
/// as not written (they were not) and the rest go into a new transaction.
///
/// Under `synchronous=NORMAL` a transaction holding a durable call is committed under
/// FULL (the pragma applies to the next commit; it is set back after), so its commit
/// is on disk when its callers are answered; the others share that commit.
fn commit_batch(conn: &Conn, batch: &mut Vec<Queued>, full_sync: bool, health: &WriteHealth) {
    let mut pending: VecDeque<Queued> = batch.drain(..).collect();
    let mut reruns = 0;
    while !pending.is_empty() {
        let durable = !full_sync && pending.iter().any(|q| q.durable);
        if durable {
            if let Err(e) = conn.set_durable(true) {
                tracing::error!(error = %e, "writer could not make a commit durable");
                return;
            }
        }
        if let Err(e) = conn.begin_write() {
            if let Some(cause) = e.storage_cause() {
                health.refused(&cause);
            } else if e.is_unavailable() {
                // `daemon.health` shows it until a write commits again.
                health.refused(&format!("the database server cannot be reached: {e}"));
            }
            tracing::error!(error = %e, calls = pending.len(), "writer could not begin a transaction");
            for queued in pending.drain(..) {
                (queued.refuse)(copy(&e));
            }
            return;
        }
        let attempt = attempt(conn, &mut pending);
        if let Some((deliver, cause)) = attempt.failed_alone {
            // MySQL runs calls without savepoints: a call failed, so the transaction is
            // rolled back, the failed call answered, and the calls before it run again.
            conn.rollback();
            if let Some(cause) = &cause {
                health.refused(cause);
            }
            deliver(Ok(()));
            for queued in attempt.ran.into_iter().rev() {
                pending.push_front(queued);
            }
            continue;
        }
        if attempt.committed.is_err() && conn.may_run_again() && reruns < MAX_RERUNS {
            // Nothing of it is in the database: its calls run again, in their order,
            // and the runs made so far answer nobody.
            reruns += 1;
            tracing::warn!(reruns, calls = attempt.ran.len(), "the database ended the transaction before its commit (a deadlock, a lost connection); running its calls again");
            conn.rollback();
            std::thread::sleep(Duration::from_millis(20) * reruns);
            for queued in attempt.ran.into_iter().rev() {
                pending.push_front(queued);
            }
            continue;
        }
        match &attempt.refused {
            Some(cause) => health.refused(cause),
            None if attempt.committed.is_ok() && attempt.wrote => health.accepted(),
            None => {}
        }
        if durable {
            if let Err(e) = conn.set_durable(false) {
                tracing::warn!(error = %e, "writer stays at synchronous=FULL");
            }
        }
        for deliver in attempt.delivered {
            deliver(attempt.committed.as_ref().map(|_| ()).map_err(copy));
        }
    }
}

/// A failed call's answer and why the storage refused it, if it did.
type Failed = (Box<dyn FnOnce(Result<()>) + Send>, Option<String>);

/// One transaction's try: the calls it ran, their answers to deliver, and its outcome.
struct Attempt {
    ran: Vec<Queued>,
    /// Without savepoints (MySQL): the call that failed, which ended the try.
    failed_alone: Option<Failed>,
    delivered: Vec<Box<dyn FnOnce(Result<()>) + Send>>,
    committed: Result<()>,
    /// Why the storage refused a write in it, if it did.
    refused: Option<String>,
    wrote: bool,
}

/// Runs calls from `pending` in the open transaction until it is empty or the
/// database ends the transaction (then the rest wait for a new one), and commits.
fn attempt(conn: &Conn, pending: &mut VecDeque<Queued>) -> Attempt {
    let tx = Tx { sql: Sql { conn } };
    let changes_before = conn.total_changes();
    let (mut ran, mut delivered) = (Vec::new(), Vec::new());
    let mut refused: Option<String> = None;
    let mut rolled_back = false;
    let savepoints = conn.isolates_calls_with_savepoints();
    while let Some(mut queued) = pending.pop_front() {
        let one = run_one(conn, &tx, &mut queued.call, savepoints);
        if one.failed && !savepoints && conn.in_transaction() {
            return Attempt {
                ran,
                failed_alone: Some((one.deliver, one.refused)),
                delivered,
                committed: Err(DbError::Closed),
                refused,
                wrote: false,
            };
        }
        refused = one.refused.or(refused);
        delivered.push(one.deliver);
        ran.push(queued);
        if !conn.in_transaction() {
            rolled_back = true;
            break;
        }
    }
    let wrote = conn.total_changes() > changes_before;
    let committed = if rolled_back {
        let cause = refused.get_or_insert_with(|| {
            "the database rolled the transaction back after a failed statement (disk full, an I/O error, a lost connection?)".to_string()
        });
        if !conn.may_run_again() {
            tracing::error!(
                lost = ran.len(),
                queued = pending.len(),
                cause = %cause,
                "the database rolled the whole transaction back; its calls are answered as not written, the rest run in a new transaction"
            );
        }
        Err(DbError::WriteRefused {
            cause: cause.clone(),
        })
    } else {
        commit(conn, wrote, &mut refused)
    };
    Attempt {
        ran,
        failed_alone: None,
        delivered,
        committed,
        refused,
        wrote,
    }
}

/// Commits; a refusal by the storage is recorded in `refused`.
fn commit(conn: &Conn, wrote: bool, refused: &mut Option<String>) -> Result<()> {
    let c = conn.commit(wrote).map_err(|e| match e.storage_cause() {
        Some(cause) => {
            *refused = Some(cause.clone());
            DbError::WriteRefused { cause }
        }
        None => match e {
            e @ DbError::Commit { .. } => e,
            e => DbError::Commit { source: e.into() },
        },
    });
    if c.is_err() {
        conn.rollback();
    }
    c
}

/// Runs one call, inside its own savepoint when `savepoint` (so its failure undoes
/// only its own changes).
fn run_one(conn: &Conn, tx: &Tx<'_>, call: &mut Call, savepoint: bool) -> Ran {
    if !savepoint {
        return run_caught(tx, call);
    }
    if let Err(e) = conn.batch("SAVEPOINT one_call") {
        let (refused, reason) = (e.storage_cause(), e.to_string());
        return Ran {
            failed: true,
            refused,
            deliver: Box::new(move |_| tracing::error!(error = %reason, "savepoint failed")),
        };
    }
    let ran = run_caught(tx, call);
    let closed = if ran.failed {
        conn.batch("ROLLBACK TO SAVEPOINT one_call")
            .and_then(|()| conn.batch("RELEASE SAVEPOINT one_call"))
    } else {
        conn.batch("RELEASE SAVEPOINT one_call")
    };
    if let Err(e) = closed {
        tracing::error!(error = %e, "savepoint release failed");
    }
    ran
}

/// Runs a call; a panic fails it alone.
fn run_caught(tx: &Tx<'_>, call: &mut Call) -> Ran {
    catch_unwind(AssertUnwindSafe(|| call(tx))).unwrap_or_else(|_| Ran {
        failed: true,
        refused: None,
        deliver: Box::new(|_| {
            tracing::error!("a store call panicked; its changes were rolled back")
        }),
    })
}

/// Why the storage refused a call's write, if that is why it failed.
fn refusal_of(e: &DbError) -> Option<String> {
    match e {
        DbError::WriteRefused { cause } => Some(cause.clone()),
        e => e.storage_cause(),
    }
}

/// The one failure of a transaction, told to each of its callers.
fn copy(e: &DbError) -> DbError {
    match e {
        lost if lost.is_unavailable() => DbError::Unavailable {
            what: "the server".into(),
            source: lost.to_string().into(),
        },
        DbError::WriteRefused { cause } => DbError::WriteRefused {
            cause: cause.clone(),
        },
        other => DbError::Commit {
            source: other.to_string().into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::engine::args;
    use rusqlite::Connection;

    /// A WAL database with a table `t (id, v BLOB)` that may grow by `pages` pages
    /// only (`max_page_count`): a full disk, without a file system.
    fn capped(path: &std::path::Path, pages: i64) -> Conn {
        let conn = Connection::open(path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL);",
        )
        .expect("schema");
        let now: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .expect("page_count");
        conn.pragma_update(None, "max_page_count", now + pages)
            .expect("max_page_count");
        Conn::Sqlite(conn)
    }

    /// A database that fills mid-batch (`max_page_count`): every caller told "ok"
    /// has its row in the file, and every caller told "failed" has not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_sqlite_rolls_back_is_never_reported_wrongly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("full.db");
        let conn = capped(&path, 40);
        let writer = std::sync::Arc::new(Writer::start(conn, 1024, false).expect("writer"));
        let mut calls = Vec::new();
        for id in 0..300i64 {
            let w = writer.clone();
            calls.push(tokio::spawn(async move {
                let r = w
                    .submit(
                        move |tx| {
                            tx.execute(
                                "INSERT INTO t (id, v) VALUES (?1, zeroblob(6000))",
                                args![id],
                            )?;
                            Ok(())
                        },
                        false,
                    )
                    .await;
                (id, r.is_ok())
            }));
        }
        let mut told = Vec::new();
        for c in calls {
            told.push(c.await.expect("task"));
        }
        writer.close().await.expect("close");
        let conn = Connection::open(&path).expect("reopen");
        let mut stmt = conn.prepare("SELECT id FROM t").expect("select");
        let present: std::collections::HashSet<i64> = stmt
            .query_map([], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("id"))
            .collect();
        // (How many fit depends on how the calls fell into batches: a transaction
        // SQLite rolls back takes its earlier calls with it.)
        assert!(told.iter().any(|(_, ok)| !ok), "the file must fill mid-run");
        for (id, ok) in told {
            assert_eq!(present.contains(&id), ok, "row {id}: told ok={ok}");
        }
    }

    /// A write the full file refuses is recorded with SQLite's cause (and answered as
    /// `WriteRefused`); the next commit that writes clears it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_write_is_recorded_until_a_commit_writes_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = capped(&dir.path().join("f.db"), 2);
        let writer = Writer::start(conn, 16, false).expect("writer");
        let insert = |size: i64| {
            writer.submit(
                move |tx| {
                    tx.execute("INSERT INTO t (v) VALUES (zeroblob(?1))", args![size])?;
                    Ok(())
                },
                false,
            )
        };
        assert!(writer.health().current().is_none());
        let refused = insert(100_000).await.expect_err("the file is full");
        assert!(refused.is_write_refused(), "{refused}");
        let r = writer.health().current().expect("recorded");
        assert!(r.cause.contains("full"), "{}", r.cause);
        // A read-only transaction proves nothing: still refused.
        writer
            .submit(|tx| tx.one("SELECT 1", args![], |r| r.get::<i64>(0)), false)
            .await
            .expect("read");
        assert!(writer.health().current().is_some());
        insert(10).await.expect("a small row fits");
        assert!(
            writer.health().current().is_none(),
            "cleared by a commit that wrote"
        );
    }

    /// Under `synchronous=NORMAL` a durable call's transaction commits under FULL
    /// (SQLite reads the pragma at commit), and the writer is back at NORMAL after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_durable_call_commits_under_full_and_the_rest_under_normal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = Connection::open(dir.path().join("d.db")).expect("open");
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .expect("pragmas");
        let writer = Writer::start(Conn::Sqlite(conn), 16, false).expect("writer");
        let level = |durable| {
            writer.submit(
                |tx| tx.one("PRAGMA synchronous", args![], |r| r.get::<i64>(0)),
                durable,
            )
        };
        assert_eq!(level(false).await.expect("normal"), 1, "NORMAL");
        assert_eq!(level(true).await.expect("durable"), 2, "FULL");
        assert_eq!(
            level(false).await.expect("normal again"),
            1,
            "back to NORMAL"
        );
    }
}
