//! Supervised tasks: a long-running task that ends or panics while the daemon runs
//! stops the daemon with exit 70 (systemd restarts it), naming the task and the cause;
//! and the accept loop backs off instead of spinning when it runs out of file
//! descriptors (EMFILE), logging the burst once.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::rpc_client;
use crate::support::{base_config, start_daemon, wait_until, Daemon, TIMEOUT};

/// The tasks `NUMHUBD_END_TASK` can end (README "Testing notes").
const TASKS: [&str; 5] = ["rpc", "outbox", "poller", "watcher", "housekeeping"];

/// Starts a daemon whose `task` the test-only hook ends (`how`: "" returns, ":panic"
/// panics), and returns it once it has exited, with its exit status.
fn ended(task: &str, how: &str, env: &[(&str, &str)]) -> (Daemon, std::process::ExitStatus) {
    let hook = format!("{task}{how}");
    let mut vars = vec![(numhubd::killpoint::END_TASK_ENV, hook.as_str())];
    vars.extend_from_slice(env);
    let mut d = start_daemon(&base_config("info"), &vars);
    let status = d.wait_exit();
    (d, status)
}

#[test]
fn a_task_that_ends_stops_the_daemon_with_exit_70_naming_it() {
    for task in TASKS {
        let (d, status) = ended(task, "", &[]);
        let stderr = d.stderr();
        assert_eq!(
            status.code(),
            Some(numhubd::exit::SOFTWARE),
            "{task}: stderr:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("task={task}")) && stderr.contains("task ended"),
            "{task}: the log does not name the task that ended:\n{stderr}"
        );
        // The shutdown that follows is the ordinary one: the store is closed cleanly.
        assert!(stderr.contains("numhubd stopped"), "{task}:\n{stderr}");
    }
}

#[test]
fn a_task_that_panics_stops_the_daemon_with_exit_70_and_the_panic() {
    let (d, status) = ended("poller", ":panic", &[]);
    let stderr = d.stderr();
    assert_eq!(
        status.code(),
        Some(numhubd::exit::SOFTWARE),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("task=poller") && stderr.contains("panicked"),
        "the log does not say the poller panicked:\n{stderr}"
    );
}

#[test]
fn the_watchdog_task_is_supervised_and_systemd_is_told_why() {
    let (d, status) = ended("watchdog", "", &[("WATCHDOG_USEC", "200000")]);
    assert_eq!(
        status.code(),
        Some(numhubd::exit::SOFTWARE),
        "stderr:\n{}",
        d.stderr()
    );
    // systemd's STATUS= (shown by `systemctl status`) names the task.
    let stopping = d.wait_notify("STOPPING=1");
    assert!(stopping.contains("watchdog"), "{stopping}");
}

/// The daemon's user and system CPU time so far, in clock ticks.
fn cpu_ticks(pid: i32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse().expect("utime"), f[12].parse().expect("stime"))
}

/// Whether `pid` still runs (not exited, not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(Iterator::count)
        .unwrap_or(0)
}

/// Lowers the running daemon's RLIMIT_NOFILE to `limit`.
fn limit_files(pid: i32, limit: u64) {
    let rl = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: prlimit(2) on our own child with a valid struct; no old value asked.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &rl, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[test]
fn a_daemon_out_of_file_descriptors_does_not_spin_on_accept() {
    // Connections that never send a request stay open for the whole flood.
    let config = base_config("info").replace(
        "[rpc]\n",
        "[rpc]\nmax_connections = 4096\nmax_connections_per_uid = 2048\nheader_timeout_ms = 600000\n",
    );
    let d = start_daemon(&config, &[]);
    let socket = d.dir.path().join("numhubd.sock");
    rpc_client::ok(&socket, "daemon.health", serde_json::json!({}));
    let pid = d.pid();
    let headroom = 16;
    let limit = open_fds(pid) + headroom;
    limit_files(pid, limit as u64);
    // More than the daemon can accept, fewer than the listen backlog (128), so no
    // connect blocks: the rest wait in the backlog while accept(2) fails with EMFILE.
    let flood: Vec<UnixStream> = (0..headroom + 64)
        .map(|_| UnixStream::connect(&socket).expect("connect"))
        .collect();
    assert!(
        wait_until(TIMEOUT, || d.stderr().contains("accept failed")),
        "the daemon never ran out of descriptors ({} open):\n{}",
        open_fds(pid),
        d.stderr()
    );
    // A bounded measuring window, not a wait the outcome depends on: the ratio of
    // CPU time to the window's length is what is judged.
    let window = Duration::from_secs(3);
    let tck = ticks_per_second();
    let (u0, s0) = cpu_ticks(pid);
    let start = Instant::now();
    let died = wait_until(window, || !alive(pid));
    assert!(!died, "the daemon died in the flood:\n{}", d.stderr());
    let (u1, s1) = cpu_ticks(pid);
    let seconds = start.elapsed().as_secs_f64();
    let user = (u1 - u0) as f64 / tck / seconds;
    let system = (s1 - s0) as f64 / tck / seconds;
    println!(
        "EMFILE flood: {} connections held, daemon limit {} files: user CPU {user:.3} s/s, system {system:.3} s/s over {seconds:.1} s",
        flood.len(),
        limit
    );
    // A spinning accept loop takes most of a core (before: see docs/BENCHMARKS.md).
    assert!(
        user < 0.05,
        "user CPU {user:.3} s per second while it cannot accept: the accept loop spins"
    );
    // Once per burst: a descriptor another task frees for a moment (the watcher's
    // periodic look at its folder) lets one accept through and ends a burst, so count
    // bursts by their ends rather than expect exactly one.
    let log = d.stderr();
    let (failures, recoveries) = (
        log.matches("accept failed").count(),
        log.matches("accepting again").count(),
    );
    assert_eq!(
        failures,
        recoveries + 1,
        "accept errors logged {failures} times over {} bursts",
        recoveries + 1
    );
    // Connections released: the daemon accepts again and answers.
    drop(flood);
    assert_eq!(
        rpc_client::ok(&socket, "daemon.health", serde_json::json!({}))["ok"],
        true
    );
    assert!(
        wait_until(TIMEOUT, || d.stderr().contains("accepting again")),
        "{}",
        d.stderr()
    );
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf(3) reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    t as f64
}
