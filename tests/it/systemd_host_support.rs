//! A booted Debian 12 (systemd 252 as its PID 1) in a container for the systemd host
//! test: the root file system made once per machine with debootstrap and kept in
//! /var/cache/numhubd-tests, a fresh copy of it booted with systemd-nspawn per run,
//! commands run inside through nsenter, waits with deadlines, and a poweroff (or a
//! kill) in Drop so nothing is left running. The recipe is systemd-nspawn --register=no --keep-unit, commands through nsenter.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::packaging_support::{have_tool, root_or_skip};

/// The pristine root file system, shared by every run on this machine.
const CACHE: &str = "/var/cache/numhubd-tests/bookworm-root";
/// What debootstrap puts in it besides minbase: systemd to boot, curl for the apps'
/// calls, procps/iproute2 for an administrator's usual tools.
const INCLUDE: &str = "systemd,systemd-sysv,dbus,curl,ca-certificates,procps,iproute2";
/// The longest any one command inside may run (a hung call must not hang CI).
const COMMAND_LIMIT_SECS: u32 = 180;

/// Progress lines for the CI log: written to the stderr handle itself, which the
/// test harness does not capture, so the first run's debootstrap cost is visible.
pub fn progress(line: &str) {
    let _ = writeln!(std::io::stderr(), "systemd host: {line}");
}

/// Whether this machine can boot the container (root, systemd-nspawn, debootstrap,
/// nsenter); under CI=true a missing one fails (.ci/run installs them).
pub fn tools_or_skip() -> Result<(), &'static str> {
    if !root_or_skip() {
        return Err("not root (systemd-nspawn and debootstrap need root)");
    }
    if !have_tool("systemd-nspawn", &["--version"]) {
        return Err("systemd-nspawn not installed (apt-get install systemd-container)");
    }
    if !have_tool("debootstrap", &["--version"]) {
        return Err("debootstrap not installed (apt-get install debootstrap)");
    }
    if !have_tool("nsenter", &["--version"]) {
        return Err("nsenter not installed (util-linux)");
    }
    Ok(())
}

/// The cached root, made with debootstrap first if this machine has none (about
/// 80-240 s on 2 cores; reported). Concurrent runs wait on a lock for the one making it.
pub fn cached_root() -> PathBuf {
    let cache = PathBuf::from(CACHE);
    let parent = cache.parent().expect("cache has a parent");
    std::fs::create_dir_all(parent).expect("create /var/cache/numhubd-tests");
    let _lock = Lock::take(&parent.join("bookworm-root.lock"));
    if cache.join("etc/os-release").is_file() {
        progress(&format!("using the cached Debian 12 root {CACHE}"));
        return cache;
    }
    let building = parent.join(format!("bookworm-root.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let mirror = debian_mirror();
    progress(&format!(
        "no cached root: debootstrap bookworm from {mirror} into {CACHE} (80-240 s, network-bound, once per machine)"
    ));
    let start = Instant::now();
    let out = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={INCLUDE}"),
            "bookworm",
        ])
        .arg(&building)
        .arg(&mirror)
        .output()
        .expect("run debootstrap");
    assert!(
        out.status.success(),
        "debootstrap failed ({}):\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stdout), 30)
    );
    std::fs::copy("/etc/resolv.conf", building.join("etc/resolv.conf")).expect("resolv.conf");
    std::fs::rename(&building, &cache).expect("move the new root into the cache");
    progress(&format!(
        "debootstrap took {:.0} s",
        start.elapsed().as_secs_f64()
    ));
    cache
}

/// The Debian mirror the host's apt uses (deb822 `URIs:` or a `deb` line), so the
/// container is built from what this machine can reach.
fn debian_mirror() -> String {
    let mut texts = vec![std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.filter_map(Result::ok) {
            texts.push(std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    texts
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("URIs:").or_else(|| l.strip_prefix("deb "))?;
            rest.split_whitespace()
                .find(|w| w.starts_with("http"))
                .map(str::to_string)
        })
        .find(|uri| uri.trim_end_matches('/').ends_with("/debian"))
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_string())
}

/// An exclusive flock(2) on a file, released when dropped.
struct Lock(std::fs::File);

impl Lock {
    fn take(path: &Path) -> Lock {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::create(path).expect("create the cache lock");
        // SAFETY: flock(2) on a descriptor we own; blocks until the lock is ours.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        Lock(file)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: flock(2) on the descriptor this lock owns (closing would do too).
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// A command's outcome inside the container.
pub struct Ran {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The command with its exit code and output, for a failure message.
    pub fn describe(&self) -> String {
        let mut s = format!("`{}` exited {:?}", self.command, self.code);
        if !self.stdout.trim().is_empty() {
            let _ = write!(s, "\n  stdout: {}", tail(&self.stdout, 40));
        }
        if !self.stderr.trim().is_empty() {
            let _ = write!(s, "\n  stderr: {}", tail(&self.stderr, 40));
        }
        s
    }
}

/// A booted container on a private copy of the cached root.
pub struct Host {
    /// Holds the copy of the root and nspawn's log; removed after poweroff.
    dir: tempfile::TempDir,
    nspawn: Child,
    pid1: i32,
}

impl Host {
    /// Copies the cached root (cp -a, so each boot starts clean), boots it and
    /// waits until systemd says the boot is over.
    pub fn boot(cache: &Path, name: &str) -> Host {
        let dir = tempfile::Builder::new()
            .prefix("numhubd-systemd-host-")
            .tempdir_in("/var/tmp")
            .expect("run folder");
        let root = dir.path().join("root");
        let cp = Command::new("cp")
            .arg("-a")
            .arg(cache)
            .arg(&root)
            .output()
            .expect("cp -a");
        assert!(cp.status.success(), "cp -a {}: {cp:?}", cache.display());
        std::fs::write(root.join("etc/hostname"), format!("{name}\n")).expect("hostname");
        let log = std::fs::File::create(dir.path().join("nspawn.log")).expect("nspawn log");
        let mut cmd = Command::new("systemd-nspawn");
        cmd.arg("-D")
            .arg(&root)
            // Without a host systemd and D-Bus, nspawn cannot register a machine or
            // make a scope unit (see SYSTEMD-HOST.md).
            .args(["--boot", "--register=no", "--keep-unit"])
            .arg(format!("--machine={name}"))
            .arg("--console=passive")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // SAFETY: setsid(2) in the child before exec, as the recipe's `setsid`: the
        // container gets a session of its own, away from the test's terminal.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let nspawn = cmd.spawn().expect("spawn systemd-nspawn");
        let mut host = Host {
            dir,
            nspawn,
            pid1: 0,
        };
        host.pid1 = host.find_pid1();
        host.wait_booted();
        host
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn nspawn_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nspawn.log")).unwrap_or_default()
    }

    /// The container's systemd: the child of the nspawn process.
    fn find_pid1(&mut self) -> i32 {
        let parent = i32::try_from(self.nspawn.id()).expect("pid fits i32");
        let found = wait_for(Duration::from_secs(30), || {
            if let Ok(Some(status)) = self.nspawn.try_wait() {
                panic!(
                    "systemd-nspawn exited {status} while booting:\n{}",
                    tail(&self.nspawn_log(), 40)
                );
            }
            child_named(parent, "systemd")
        });
        found.unwrap_or_else(|| {
            panic!(
                "no systemd under systemd-nspawn after 30 s:\n{}",
                tail(&self.nspawn_log(), 40)
            )
        })
    }

    fn wait_booted(&self) {
        let booted = wait_for(Duration::from_secs(120), || {
            let r = self.inside("timeout 90 systemctl is-system-running --wait");
            let state = r.stdout.trim().to_string();
            (state == "running" || state == "degraded").then_some(state)
        });
        match booted {
            Some(state) => progress(&format!("booted ({state})")),
            None => panic!(
                "the container did not finish booting in 120 s:\n{}",
                tail(&self.nspawn_log(), 40)
            ),
        }
    }

    /// Runs `sh -c command` inside as root, in every namespace of the container's
    /// PID 1, with a clean environment and a time limit.
    pub fn inside(&self, command: &str) -> Ran {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid1.to_string(), "-a"])
            .args(["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            .args([
                "LANG=C.UTF-8",
                "HOME=/root",
                "DEBIAN_FRONTEND=noninteractive",
            ])
            .args(["timeout", "--kill-after=5"])
            .arg(COMMAND_LIMIT_SECS.to_string())
            .args(["sh", "-c", command])
            .stdin(Stdio::null())
            .output();
        ran(command, out)
    }

    /// `command` run as `user` (a login's groups, through runuser).
    pub fn as_user(&self, user: &str, command: &str) -> Ran {
        let mut r = self.inside(&format!("runuser -u {user} -- sh -c {}", quote(command)));
        r.command = format!("(as {user}) {command}");
        r
    }

    /// `inside`, failing with the command's output unless it exits 0; its stdout.
    pub fn run(&self, command: &str) -> Result<String, String> {
        let r = self.inside(command);
        if r.ok() {
            Ok(r.stdout)
        } else {
            Err(r.describe())
        }
    }

    /// Asks systemd to power off and waits for nspawn; kills the container's PID 1
    /// (and with it every process in it) if that takes longer than 30 s.
    fn poweroff(&mut self) {
        if matches!(self.nspawn.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = self.inside("systemctl poweroff");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if matches!(self.nspawn.try_wait(), Ok(Some(_))) {
                progress(&format!(
                    "powered off in {:.1} s",
                    start.elapsed().as_secs_f64()
                ));
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        progress("poweroff took over 30 s: killing the container");
        // SAFETY: kill(2) of the container's PID 1 (its pid namespace dies with it).
        unsafe { libc::kill(self.pid1, libc::SIGKILL) };
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.poweroff();
    }
}

fn ran(command: &str, out: std::io::Result<Output>) -> Ran {
    match out {
        Ok(o) => Ran {
            command: command.to_string(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        Err(e) => Ran {
            command: command.to_string(),
            code: None,
            stdout: String::new(),
            stderr: format!("nsenter could not run: {e}"),
        },
    }
}

/// A child process of `parent` whose command name is `comm`.
fn child_named(parent: i32, comm: &str) -> Option<i32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "PID (COMM) STATE PPID ...": COMM may hold spaces, so split after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            ppid == Some(parent) && stat.contains(&format!("({comm})"))
        })
}

/// Polls `f` every 200 ms until it gives a value or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `s` as one single-quoted shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
