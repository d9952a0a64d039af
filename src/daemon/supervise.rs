//! The daemon's long-running tasks, supervised. Each runs under its [`TaskName`] in
//! one [`Supervisor`]; every one of them is meant to run until shutdown, so the first
//! that ends or panics before it is a death: [`Supervisor::death`] reports it (with
//! the task's error or panic message), and `daemon::serve` stops and exits 70
//! (`exit::SOFTWARE`) so that systemd restarts numhubd. A restart of the task alone
//! is not attempted: a task's state (the bound socket, the inotify watch, jobs in
//! flight) dies with it, and a fresh process rebuilds all of it from the database.
//!
//! [`Liveness`] turns false the moment a task dies (a guard dropped by the task's own
//! unwinding or return), so the watchdog stops pinging even before the daemon exits.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinSet;

use crate::killpoint::{self, EndTask};
use crate::shutdown::Shutdown;

/// The supervised tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskName {
    /// The local API's accept loop.
    Rpc,
    Outbox,
    Poller,
    /// The drop folder's watcher.
    Watcher,
    Housekeeping,
    /// Pings systemd's watchdog.
    Watchdog,
    /// Takes and renews the cluster's lease (a server store only).
    Lease,
    /// Events to and from the other hosts of a server store (`relay`).
    Relay,
}

impl TaskName {
    const ALL: [TaskName; 8] = [
        TaskName::Rpc,
        TaskName::Outbox,
        TaskName::Poller,
        TaskName::Watcher,
        TaskName::Housekeeping,
        TaskName::Watchdog,
        TaskName::Lease,
        TaskName::Relay,
    ];

    /// The name in the log (`task=`) and in `NUMHUBD_END_TASK`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskName::Rpc => "rpc",
            TaskName::Outbox => "outbox",
            TaskName::Poller => "poller",
            TaskName::Watcher => "watcher",
            TaskName::Housekeeping => "housekeeping",
            TaskName::Watchdog => "watchdog",
            TaskName::Lease => "lease",
            TaskName::Relay => "relay",
        }
    }

    fn index(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task that ended outside shutdown, and why.
#[derive(Debug, Clone)]
pub struct Death {
    pub task: TaskName,
    pub cause: String,
}

/// What a task's future returns: nothing, or a result whose error is the cause.
pub trait TaskOutcome {
    /// The error it ended with, if any.
    fn cause(self) -> Option<String>;
}

impl TaskOutcome for () {
    fn cause(self) -> Option<String> {
        None
    }
}

impl<E: fmt::Display> TaskOutcome for Result<(), E> {
    fn cause(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// Whether every supervised task still runs. Cheap to clone.
#[derive(Clone, Default)]
pub struct Liveness {
    /// One past the index of the first task that died; 0 while none has.
    dead: Arc<AtomicU8>,
}

impl Liveness {
    /// The first task that died outside shutdown, if any.
    pub fn dead(&self) -> Option<TaskName> {
        match self.dead.load(Ordering::Acquire) {
            0 => None,
            n => TaskName::ALL.get(usize::from(n - 1)).copied(),
        }
    }

    fn mark_dead(&self, task: TaskName) {
        let _ =
            self.dead
                .compare_exchange(0, task.index() + 1, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Held by a running task; dropped when it returns, panics or is aborted.
struct Alive {
    task: TaskName,
    liveness: Liveness,
    shutdown: Shutdown,
}

impl Drop for Alive {
    fn drop(&mut self) {
        if !self.shutdown.is_shutdown() {
            self.liveness.mark_dead(self.task);
        }
    }
}

/// The set of supervised tasks.
pub struct Supervisor {
    tasks: JoinSet<(TaskName, Option<String>)>,
    liveness: Liveness,
    shutdown: Shutdown,
}

impl Supervisor {
    pub fn new(shutdown: Shutdown) -> Supervisor {
        Supervisor {
            tasks: JoinSet::new(),
            liveness: Liveness::default(),
            shutdown,
        }
    }

    /// The signal the supervised tasks take.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    pub fn liveness(&self) -> Liveness {
        self.liveness.clone()
    }

    /// Runs `task` under supervision.
    pub fn spawn<F>(&mut self, name: TaskName, task: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskOutcome,
    {
        let alive = Alive {
            task: name,
            liveness: self.liveness.clone(),
            shutdown: self.shutdown.clone(),
        };
        let hook = killpoint::end_task(name.as_str());
        self.tasks.spawn(async move {
            let _alive = alive;
            let run = async move {
                match hook {
                    None => task.await.cause(),
                    Some(EndTask::Return) => {
                        Some(format!("{} (test hook)", killpoint::END_TASK_ENV))
                    }
                    Some(EndTask::Panic) => {
                        panic!(
                            "{} made task {name} panic (test hook)",
                            killpoint::END_TASK_ENV
                        )
                    }
                }
            };
            // Caught here rather than read from the JoinError, so the name stays with
            // the cause; the panic hook has already printed where it happened.
            let cause = match AssertUnwindSafe(run).catch_unwind().await {
                Ok(cause) => cause,
                Err(payload) => Some(format!("panicked: {}", panic_message(payload.as_ref()))),
            };
            (name, cause)
        });
    }

    /// The first task to end, once one does (never, with no tasks). Outside shutdown
    /// every end is a death. Cancel-safe: call it in a `select!` loop.
    pub async fn death(&mut self) -> Death {
        loop {
            match self.tasks.join_next().await {
                None => std::future::pending::<()>().await,
                Some(Ok((task, cause))) => {
                    return Death {
                        task,
                        cause: cause.unwrap_or_else(|| "returned before shutdown".to_string()),
                    }
                }
                // Only an abort gets here (panics are caught in the task), and
                // nothing aborts a task before `drain`.
                Some(Err(_)) => continue,
            }
        }
    }

    /// After shutdown has fired: waits for every task, at most `deadline`, logging
    /// any that failed on the way out; the rest are aborted.
    pub async fn drain(mut self, deadline: Duration) {
        let joined = tokio::time::timeout(deadline, async {
            while let Some(ended) = self.tasks.join_next().await {
                if let Ok((task, Some(cause))) = ended {
                    tracing::warn!(%task, %cause, "task failed while stopping");
                }
            }
        })
        .await;
        if joined.is_err() {
            tracing::warn!(
                seconds = deadline.as_secs(),
                "tasks still running at the shutdown deadline; stopping anyway"
            );
            self.tasks.abort_all();
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_task_to_end_is_the_death_and_liveness_turns_false_at_once() {
        let (_tx, shutdown) = crate::shutdown::channel();
        let mut s = Supervisor::new(shutdown);
        let liveness = s.liveness();
        s.spawn(TaskName::Poller, std::future::pending::<()>());
        assert_eq!(liveness.dead(), None);
        s.spawn(TaskName::Outbox, async { Err::<(), _>("disk on fire") });
        dies_of(s, liveness, TaskName::Outbox, "disk on fire").await;
    }

    /// The supervisor's death is `task`'s, of `cause`, and liveness says so.
    async fn dies_of(mut s: Supervisor, liveness: Liveness, task: TaskName, cause: &str) {
        let death = s.death().await;
        assert_eq!((death.task, death.cause.as_str()), (task, cause));
        assert_eq!(liveness.dead(), Some(task));
    }

    #[tokio::test]
    async fn a_panic_is_named_by_its_task_and_message() {
        let (_tx, shutdown) = crate::shutdown::channel();
        let mut s = Supervisor::new(shutdown);
        let liveness = s.liveness();
        s.spawn(TaskName::Watcher, async {
            // Not a bare panic: a block that only diverges has no `()` output.
            if std::hint::black_box(true) {
                panic!("inotify gone");
            }
        });
        dies_of(s, liveness, TaskName::Watcher, "panicked: inotify gone").await;
    }

    #[tokio::test]
    async fn tasks_that_end_at_shutdown_are_not_deaths() {
        let (tx, shutdown) = crate::shutdown::channel();
        let mut s = Supervisor::new(shutdown.clone());
        let liveness = s.liveness();
        let mut down = shutdown.clone();
        s.spawn(TaskName::Housekeeping, async move { down.recv().await });
        tx.fire();
        s.drain(Duration::from_secs(5)).await;
        assert_eq!(liveness.dead(), None);
    }
}
