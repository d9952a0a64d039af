//! Named kill points for crash tests: when `NUMHUBD_KILL_AT` names a point (and,
//! with `name:N`, on its N-th hit), the process kills itself with SIGKILL right there,
//! as a power cut or an OOM kill would. Without the variable a hit costs one relaxed
//! atomic load.
//!
//! Points are named where a crash is most dangerous, e.g. `after_send` (a request
//! reached NumHub, its outcome is not yet committed) and `mid_upload`.
//!
//! Hang points work the same way with `NUMHUBD_HANG_AT=name[:N]`: the thread that
//! reaches the armed hit blocks forever, as a thread stuck in a system call would
//! (`tenant.upsert`: the store's writer, inside its transaction; the watchdog test).
//!
//! Pause points, `NUMHUBD_PAUSE_AT=name[:N]` with `NUMHUBD_PAUSE_FILE=path`: the
//! thread that reaches the armed hit creates `path` and blocks until the test removes
//! it, so a test can change the world at that instant (fill the database's disk
//! between NumHub's answer and its commit: `after_send`). Kill, hang and pause points
//! share their names, and are passed by the same call.
//!
//! End points, `NUMHUBD_END_TASK=<task>[:panic]`, make a supervised daemon task
//! (`rpc`, `outbox`, `poller`, `watcher`, `housekeeping`, `watchdog`) return or panic
//! as soon as it starts, for the supervision tests (`daemon::supervise`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms a kill point.
pub const ENV: &str = "NUMHUBD_KILL_AT";
/// The environment variable that arms a hang point.
pub const HANG_ENV: &str = "NUMHUBD_HANG_AT";
/// The environment variable that arms a pause point.
pub const PAUSE_ENV: &str = "NUMHUBD_PAUSE_AT";
/// The file a pause point creates and waits to see removed.
pub const PAUSE_FILE_ENV: &str = "NUMHUBD_PAUSE_FILE";
/// The environment variable that ends a supervised task (`<task>` or `<task>:panic`).
pub const END_TASK_ENV: &str = "NUMHUBD_END_TASK";

struct Armed {
    name: String,
    nth: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| arm(ENV)).as_ref()
}

fn armed_hang() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| arm(HANG_ENV)).as_ref()
}

fn armed_pause() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| arm(PAUSE_ENV)).as_ref()
}

/// Reads `name[:N]` from the variable `env`.
fn arm(env: &str) -> Option<Armed> {
    let value = std::env::var(env).ok()?;
    let (name, nth) = match value.split_once(':') {
        Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
        None => (value, 1),
    };
    Some(Armed {
        name,
        nth: nth.max(1),
        hits: AtomicU64::new(0),
    })
}

impl Armed {
    /// Counts a pass of `name`; true on the armed hit of the armed point.
    fn fires(&self, name: &str) -> bool {
        self.name == name && self.hits.fetch_add(1, Ordering::Relaxed) + 1 == self.nth
    }
}

/// Passes `name`; blocks this thread forever if it is the armed hang point's hit.
pub fn hang(name: &str) {
    let Some(armed) = armed_hang() else { return };
    if armed.fires(name) {
        eprintln!("numhubd: hang point {name} reached; this thread blocks forever");
        loop {
            std::thread::park();
        }
    }
}

/// Passes `name`: pauses here if it is the armed pause point's hit (see the module
/// doc), then dies here if it is the armed kill point and this is the armed hit.
pub fn hit(name: &str) {
    pause(name);
    let Some(armed) = armed() else { return };
    if armed.fires(name) {
        eprintln!("numhubd: kill point {name} reached; SIGKILL");
        // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, so nothing after
        // this line runs — exactly the crash the tests want.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Creates the pause file and blocks this thread until it is removed.
fn pause(name: &str) {
    let Some(armed) = armed_pause() else { return };
    if !armed.fires(name) {
        return;
    }
    let Some(file) = std::env::var_os(PAUSE_FILE_ENV).map(std::path::PathBuf::from) else {
        eprintln!("numhubd: pause point {name} reached without {PAUSE_FILE_ENV}; not pausing");
        return;
    };
    if let Err(e) = std::fs::write(&file, name) {
        eprintln!(
            "numhubd: pause point {name}: cannot create {}: {e}; not pausing",
            file.display()
        );
        return;
    }
    eprintln!(
        "numhubd: pause point {name} reached; waiting for {} to be removed",
        file.display()
    );
    // Test-only: waits on the condition the test controls.
    while file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// How `NUMHUBD_END_TASK` ends a supervised task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndTask {
    /// The task returns at once, as a loop that broke out by mistake would.
    Return,
    /// The task panics at once (`<task>:panic`).
    Panic,
}

/// Whether `NUMHUBD_END_TASK` names the supervised task `task`, and how it ends.
/// Read once per task at its start; only the supervision tests set it.
pub fn end_task(task: &str) -> Option<EndTask> {
    let value = std::env::var(END_TASK_ENV).ok()?;
    match value.split_once(':') {
        None if value == task => Some(EndTask::Return),
        Some((name, "panic")) if name == task => Some(EndTask::Panic),
        _ => None,
    }
}
