//! Shared test helpers: temp folders, waiting on conditions (never bare sleeps),
//! and a running daemon process with its stderr captured to a file.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Whether the tests run as root; under CI they must.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root"
        );
    }
    root
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A runtime of its own for a test's async parts (a store, a sandbox, a WebSocket),
/// with two workers as the daemon's writer and readers need.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A test's seed: `var` from the environment (to repeat a failed run), else `default`.
pub fn seed_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A daemon started from the real binary, with a config in its own temp folder and
/// a notify socket standing in for systemd.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub notify: UnixDatagram,
}

impl Daemon {
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("numhubd.toml")
    }

    /// The SQLite file (on SQLite only: tests for either engine use [`Daemon::store`]).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("numhubd.db")
    }

    /// The daemon's store, on whichever engine the test run uses.
    pub fn store(&self) -> crate::test_engine::TestStore {
        crate::test_engine::store_for(self.dir.path())
    }

    /// The rows of `sql` (portable SQL) in the daemon's store.
    pub fn rows(&self, sql: &str) -> Vec<crate::test_engine::Row> {
        self.store().rows(sql)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the next sd_notify datagram containing `what`.
    pub fn wait_notify(&self, what: &str) -> String {
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        while start.elapsed() < TIMEOUT {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                if msg.contains(what) {
                    return msg;
                }
            }
        }
        panic!("no {what} from the daemon; stderr:\n{}", self.stderr());
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        while start.elapsed() < TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("daemon did not exit; stderr:\n{}", self.stderr());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config every daemon test starts from: all paths inside the temp folder. Its
/// `[database]` names the SQLite file; the daemon starters put the test run's engine
/// there ([`crate::test_engine::place`]).
pub fn base_config(filter: &str) -> String {
    format!(
        "[database]\npath = \"numhubd.db\"\n[rpc]\nsocket = \"numhubd.sock\"\n\
         [crypto]\nidentity_file = \"identity.txt\"\n[drop]\ndir = \"drop\"\n\
         [log]\nfilter = \"{filter}\"\n[daemon]\nshutdown_timeout_secs = 5\n\
         [numhub]\nbase_url = \"http://127.0.0.1:9\"\nmax_attempts = 1\n"
    )
}

/// Starts `numhubd serve` with `config` and extra environment, and waits for READY=1.
pub fn start_daemon(config: &str, env: &[(&str, &str)]) -> Daemon {
    start_in(tempfile::tempdir().expect("tempdir"), config, env)
}

/// Starts the daemon in `dir` (its config, database and logs live there).
pub fn start_in(dir: tempfile::TempDir, config: &str, env: &[(&str, &str)]) -> Daemon {
    start_wrapped(dir, config, env, &[])
}

/// Like [`start_in`], with the daemon's command line run by `wrapper` (a program and
/// its arguments, e.g. `unshare …`), which must exec it.
pub fn start_wrapped(
    dir: tempfile::TempDir,
    config: &str,
    env: &[(&str, &str)],
    wrapper: &[&std::ffi::OsStr],
) -> Daemon {
    std::fs::write(dir.path().join("numhubd.toml"), config).expect("write config");
    let run = Run {
        notify: dir.path().join("notify.sock"),
        stderr: dir.path().join("stderr.log"),
    };
    let (child, notify) = spawn_serve(dir.path(), &run, env, wrapper);
    let mut daemon = Daemon { dir, child, notify };
    if !wait_ready(&mut daemon.child, &daemon.notify, &run) {
        panic!(
            "numhubd exited before READY=1; stderr:\n{}",
            daemon.stderr()
        );
    }
    crate::test_engine::assert_on_engine(daemon.dir.path());
    daemon
}

/// A wrapper for [`start_wrapped`]: `unshare --mount --propagation private sh -c
/// SCRIPT ARGS…`, so what `script` mounts stays in the daemon's own namespace
/// (`script` ends with `exec "$@"`; `args` come first as `$0`…).
pub fn in_private_mounts<'a>(
    script: &'a str,
    args: &[&'a std::ffi::OsStr],
) -> Vec<&'a std::ffi::OsStr> {
    let mut wrapper: Vec<&std::ffi::OsStr> = ["unshare", "--mount", "--propagation", "private"]
        .into_iter()
        .chain(["sh", "-c", script])
        .map(std::ffi::OsStr::new)
        .collect();
    wrapper.extend_from_slice(args);
    wrapper
}

/// Waits (bounded) for the process in `child` to exit by itself (an armed kill point
/// fired); whether it did. An exited process is reaped and `child` emptied; none
/// counts as exited.
pub fn wait_child_exit(child: &mut Option<Child>, timeout: Duration) -> bool {
    let Some(c) = child.as_mut() else {
        return true;
    };
    let exited = wait_until(timeout, || matches!(c.try_wait(), Ok(Some(_))));
    if exited {
        *child = None;
    }
    exited
}

/// A spawned process killed and reaped when dropped (a second host's daemon, beside a
/// harness that owns the first).
pub struct KilledOnDrop(pub Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where one run of `numhubd serve` in a folder talks: its notify socket and the file
/// its stderr is appended to.
pub struct Run {
    pub notify: PathBuf,
    pub stderr: PathBuf,
}

/// Starts `numhubd serve` on the folder's `numhubd.toml` — the one place every test
/// daemon is started, and where its `[database]` becomes the test run's engine
/// ([`crate::test_engine::place`]) — with a notify socket standing in for systemd.
pub fn spawn_serve(
    dir: &std::path::Path,
    run: &Run,
    env: &[(&str, &str)],
    wrapper: &[&std::ffi::OsStr],
) -> (Child, UnixDatagram) {
    let cfg_path = dir.join("numhubd.toml");
    let cfg = std::fs::read_to_string(&cfg_path).expect("config");
    std::fs::write(&cfg_path, crate::test_engine::place(dir, &cfg)).expect("write config");
    let _ = std::fs::remove_file(&run.notify);
    let notify = UnixDatagram::bind(&run.notify).expect("bind notify socket");
    notify
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&run.stderr)
        .expect("stderr file");
    let mut cmd = match wrapper.split_first() {
        None => Command::new(env!("CARGO_BIN_EXE_numhubd")),
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(env!("CARGO_BIN_EXE_numhubd"));
            c
        }
    };
    cmd.arg("serve")
        .arg("--config")
        .arg(&cfg_path)
        .env("NOTIFY_SOCKET", &run.notify)
        .env_remove("STATE_DIRECTORY")
        .env_remove("RUNTIME_DIRECTORY")
        .env_remove("JOURNAL_STREAM")
        .env_remove("WATCHDOG_USEC")
        .env_remove("RUST_LOG")
        .env_remove(numhubd::killpoint::ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.spawn().expect("spawn numhubd"), notify)
}

/// Waits for READY=1; false if the daemon exits first (a bad config, an armed kill
/// point). Panics after [`TIMEOUT`].
pub fn wait_ready(child: &mut Child, notify: &UnixDatagram, run: &Run) -> bool {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        if let Ok(n) = notify.recv(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
                return true;
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "no READY=1 within {TIMEOUT:?}; stderr:\n{}",
            std::fs::read_to_string(&run.stderr).unwrap_or_default()
        );
    }
}

impl Daemon {
    /// Stops this daemon (SIGTERM, clean exit) and starts another in the same folder
    /// with `config`.
    pub fn restart_with(mut self, config: &str) -> Daemon {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit();
        assert_eq!(status.code(), Some(0), "stderr:\n{}", self.stderr());
        let _ = self.child.wait();
        let dir = self.take_dir();
        start_in(dir, config, &[])
    }

    fn take_dir(&mut self) -> tempfile::TempDir {
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }
}

/// Runs the real binary to completion; returns (exit code, stderr).
pub fn run_numhubd(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_numhubd"))
        .args(args)
        .env_remove("STATE_DIRECTORY")
        .env_remove("RUNTIME_DIRECTORY")
        .output()
        .expect("run numhubd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Whether `unshare ARGS true` works here as root with curl at hand (the namespace
/// tests need all three). Skipped on a developer's machine without them; a failure
/// under CI, which runs as root with both installed.
pub fn can_unshare(args: &[&str]) -> bool {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let works = root
        && crate::rpc_client::curl_present()
        && std::process::Command::new("unshare")
            .args(args)
            .arg("true")
            .status()
            .is_ok_and(|s| s.success());
    if !works {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root with curl and must be able to run unshare {args:?}"
        );
    }
    works
}
