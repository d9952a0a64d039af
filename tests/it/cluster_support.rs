//! The cluster tests' fixture: several real `numhubd serve` processes on this machine
//! sharing one database on the test process's throwaway MariaDB (`mariadb_support`)
//! and one sandbox on loopback, as the demo account. Each host has its own folder
//! (config, socket, drop folder, uploads, stderr per run), its own `[cluster] node`
//! (`a`, `b`, `c`, …) and the same age identity, and reaches MariaDB through its own
//! [`CutProxy`], so any one host's database link can be cut or stalled.
//!
//! Hosts are killed (SIGKILL), paused (SIGSTOP / SIGCONT) and restarted in their
//! folders; who leads is read from `daemon.status`'s `cluster` object of the hosts
//! that can answer. Every wait is on a condition. These tests need MariaDB: without
//! it they skip on a developer's machine and fail under `CI=true`
//! ([`mariadb_support::available`]).

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use numhub_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

use crate::cut_proxy::CutProxy;
use crate::mariadb_support::{self, TestDatabase};
use crate::rpc_client::{add_numhub_tenant, try_post};
use crate::support::{spawn_serve, wait_ready, wait_until, Run, TIMEOUT};
use crate::sync_support::{config as sync_config, start_sandbox, two_client_demo};

/// How long a host may take to answer `daemon.status` while the cluster is busy.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// What a cluster is started with.
pub struct Options {
    pub hosts: usize,
    /// `[cluster] lease_secs` on every host.
    pub lease_secs: u64,
    /// The sandbox's requests per window per account (0: unlimited) and its window.
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// `[numhub] rate_limit` / `rate_window_secs` on every host (0: the governor off).
    pub numhub_rate: (u32, u64),
    /// `[sync] poll_interval_secs` on every host.
    pub poll_secs: u64,
    /// `[numhub] request_timeout_secs` on every host: the new leader waits it out
    /// before looking up the old epoch's sends, so short keeps tests quick.
    pub request_timeout_secs: u64,
    /// `[numhub] max_attempts`.
    pub max_attempts: u32,
    /// `[sync] workers`: attempts a leader runs at once.
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hosts: 3,
            lease_secs: 2,
            rate_limit: 0,
            rate_window: Duration::from_secs(60),
            numhub_rate: (0, 60),
            poll_secs: 3600,
            request_timeout_secs: 3,
            max_attempts: 5,
            workers: 4,
        }
    }
}

/// One host: its folder, node name, proxy to the database and current process.
pub struct Host {
    pub node: String,
    pub dir: tempfile::TempDir,
    pub proxy: CutProxy,
    child: Option<Child>,
    /// Runs so far (each has its own stderr file).
    pub runs: usize,
    /// SIGSTOPped: its socket accepts but does not answer, so it is not asked.
    paused: bool,
}

impl Host {
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("numhubd.sock")
    }

    pub fn drop_dir(&self) -> PathBuf {
        self.dir.path().join("drop")
    }

    pub fn is_up(&mut self) -> bool {
        !self.paused
            && self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn pid(&self) -> Option<i32> {
        self.child
            .as_ref()
            .map(|c| i32::try_from(c.id()).expect("pid fits i32"))
    }

    fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, sig) };
        }
    }

    /// Every run's stderr, for failure messages.
    pub fn stderr(&self) -> String {
        (1..=self.runs)
            .map(|r| {
                let f = self.dir.path().join(format!("stderr.{r}.log"));
                let text = std::fs::read_to_string(f).unwrap_or_default();
                format!("--- {} run {r}\n{text}", self.node)
            })
            .collect()
    }

    /// `daemon.status`, `None` when the host does not answer (down, paused, or its
    /// answer is not a result).
    pub fn status(&mut self) -> Option<Value> {
        if !self.is_up() {
            return None;
        }
        let req = json!({"jsonrpc": "2.0", "id": 1, "method": "daemon.status", "params": {}});
        let (_, answer) = post_within(&self.socket(), &req, STATUS_TIMEOUT)?;
        answer.get("result").cloned()
    }

    /// The `cluster` object of its `daemon.status`.
    pub fn cluster(&mut self) -> Option<Value> {
        self.status().map(|s| s["cluster"].clone())
    }
}

/// One JSON-RPC call over the socket with an answer timeout of `limit`.
fn post_within(socket: &Path, req: &Value, limit: Duration) -> Option<(u16, Value)> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    s.set_write_timeout(Some(limit)).ok()?;
    let body = req.to_string();
    let head = format!(
        "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    Some((status, serde_json::from_str(body).ok()?))
}

/// Who leads, as the hosts that answer say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leader {
    /// The leading host's index.
    pub host: usize,
    pub epoch: u64,
}

pub struct Cluster {
    pub db: TestDatabase,
    /// Runs the sandbox; kept as long as the cluster.
    pub rt: tokio::runtime::Runtime,
    pub sandbox: Sandbox,
    pub hosts: Vec<Host>,
    pub options: Options,
}

/// Whether the cluster tests can run here (MariaDB installed); a failure under CI.
pub fn available() -> bool {
    mariadb_support::available()
}

impl Cluster {
    /// Starts the sandbox and `options.hosts` hosts, and waits until one leads.
    pub fn start(options: Options) -> Cluster {
        let mut c = Cluster::new(options);
        for i in 0..c.hosts.len() {
            assert!(
                c.start_host(i, &[]),
                "{} did not start; {}",
                c.hosts[i].node,
                c.stderr()
            );
        }
        c.wait_leader(TIMEOUT);
        c
    }

    /// The database, the sandbox and the hosts' folders, no host running yet.
    pub fn new(options: Options) -> Cluster {
        let db = mariadb_support::fresh_database();
        let (rt, sandbox) = start_sandbox(SandboxConfig {
            rate_limit: options.rate_limit,
            rate_window: options.rate_window,
            users: vec![two_client_demo()],
            ..SandboxConfig::default()
        });
        let shared = tempfile::tempdir().expect("tempdir");
        let identity = shared.path().join("identity.txt");
        numhubd::crypto::generate_identity_file(&identity).expect("age identity");
        let hosts = (0..options.hosts)
            .map(|i| new_host(&db, &sandbox, &options, &identity, node_name(i)))
            .collect();
        Cluster {
            db,
            rt,
            sandbox,
            hosts,
            options,
        }
    }

    /// Adds a host named `node` (not started) with the cluster's config; its index.
    pub fn add_host(&mut self, node: &str) -> usize {
        let identity = self.hosts[0].dir.path().join("identity.txt");
        let host = new_host(
            &self.db,
            &self.sandbox,
            &self.options,
            &identity,
            node.into(),
        );
        self.hosts.push(host);
        self.hosts.len() - 1
    }

    pub fn socket(&self, i: usize) -> PathBuf {
        self.hosts[i].socket()
    }

    /// Every host's stderr, for failure messages.
    pub fn stderr(&self) -> String {
        self.hosts.iter().map(Host::stderr).collect()
    }

    /// Starts host `i` with extra environment (an armed kill point) and waits for
    /// READY=1 or its death; whether it is running.
    pub fn start_host(&mut self, i: usize, env: &[(&str, &str)]) -> bool {
        let h = &mut self.hosts[i];
        assert!(h.child.is_none(), "{} is already running", h.node);
        h.runs += 1;
        let run = Run {
            notify: h.dir.path().join(format!("notify.{}.sock", h.runs)),
            stderr: h.dir.path().join(format!("stderr.{}.log", h.runs)),
        };
        let (mut child, notify) = spawn_serve(h.dir.path(), &run, env, &[]);
        let ready = wait_ready(&mut child, &notify, &run);
        h.child = Some(child);
        h.paused = false;
        ready
    }

    /// SIGKILL, as a power cut or the OOM killer would; reaped before it returns.
    pub fn kill9(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        h.signal(libc::SIGKILL);
        if let Some(mut c) = h.child.take() {
            let _ = c.wait();
        }
        h.paused = false;
    }

    /// SIGSTOP: the whole process stands still, as in a long stall.
    pub fn stop(&mut self, i: usize) {
        self.hosts[i].signal(libc::SIGSTOP);
        self.hosts[i].paused = true;
    }

    /// SIGCONT after [`Cluster::stop`].
    pub fn cont(&mut self, i: usize) {
        self.hosts[i].signal(libc::SIGCONT);
        self.hosts[i].paused = false;
    }

    /// SIGKILL and a start in the same folder.
    pub fn restart(&mut self, i: usize, env: &[(&str, &str)]) -> bool {
        self.kill9(i);
        self.start_host(i, env)
    }

    /// Waits (bounded) for host `i` to exit by itself (an armed kill point fired);
    /// whether it did. A dead host is reaped.
    pub fn wait_exit(&mut self, i: usize, timeout: Duration) -> bool {
        crate::support::wait_child_exit(&mut self.hosts[i].child, timeout)
    }

    /// Whether host `i`'s process is alive (paused counts as alive).
    pub fn is_alive(&mut self, i: usize) -> bool {
        let h = &mut self.hosts[i];
        h.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The cluster object of host `i`'s `daemon.status`, `None` when it cannot answer.
    pub fn cluster(&mut self, i: usize) -> Option<Value> {
        self.hosts[i].cluster()
    }

    /// Who leads, as the answering hosts say (the view with the highest epoch: a host
    /// cut off from the database may still hold an older one); `None` while nobody
    /// leads or no host answers.
    pub fn leader(&mut self) -> Option<Leader> {
        let mut best: Option<(u64, Option<String>)> = None;
        for i in 0..self.hosts.len() {
            let Some(c) = self.cluster(i) else { continue };
            let Some(epoch) = c["epoch"].as_u64() else {
                continue;
            };
            if best.as_ref().is_none_or(|(e, _)| epoch > *e) {
                best = Some((epoch, c["leader"].as_str().map(String::from)));
            }
        }
        let (epoch, node) = best?;
        let host = self
            .hosts
            .iter()
            .position(|h| Some(&h.node) == node.as_ref())?;
        Some(Leader { host, epoch })
    }

    /// The time left on the lease by the database server's clock (zero when it has
    /// run out or nobody holds it).
    pub fn lease_left(&self) -> Duration {
        let rows = self.rows(
            "SELECT GREATEST(0, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at)) \
             FROM numhubd_lease WHERE id = 1",
        );
        let micros = rows
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        Duration::from_micros(micros)
    }

    /// Waits for a leader that is up (alive and not paused).
    pub fn wait_leader(&mut self, timeout: Duration) -> Leader {
        self.wait_leader_where(timeout, |_| true)
    }

    /// Waits for a leader, up, under an epoch after `epoch`.
    pub fn wait_new_epoch(&mut self, epoch: u64, timeout: Duration) -> Leader {
        self.wait_leader_where(timeout, |l| l.epoch > epoch)
    }

    fn wait_leader_where(&mut self, timeout: Duration, want: impl Fn(&Leader) -> bool) -> Leader {
        let mut found = None;
        let held = wait_until(timeout, || {
            found = self
                .leader()
                .filter(|l| want(l) && self.hosts[l.host].is_up());
            found.is_some()
        });
        match found {
            Some(l) if held => l,
            _ => panic!(
                "no leader as wanted within {timeout:?} (last: {:?}); open transactions \
                 (thread, state, started, waiting query, rows locked): {:?}; {}",
                self.leader(),
                self.open_transactions(),
                self.stderr()
            ),
        }
    }

    /// The server's open transactions, for a failure message: who holds what.
    pub fn open_transactions(&self) -> Vec<Vec<Option<String>>> {
        self.rows(
            "SELECT trx_mysql_thread_id, trx_state, trx_started, trx_query, trx_rows_locked \
             FROM information_schema.innodb_trx ORDER BY trx_started",
        )
    }

    /// Cuts host `i`'s database link (every connection closed, new ones refused) or
    /// brings it back.
    pub fn set_db_down(&self, i: usize, down: bool) {
        self.hosts[i].proxy.set_down(down);
    }

    /// Stalls host `i`'s database link (nothing relayed until it resumes) or resumes it.
    pub fn set_db_stalled(&self, i: usize, stalled: bool) {
        self.hosts[i].proxy.set_stalled(stalled);
    }

    /// Tenant 1 on the demo client, through host `i`.
    pub fn tenant(&self, i: usize, enabled: bool) {
        add_numhub_tenant(&self.socket(i), 1, "Acme", "1001", enabled);
    }

    /// The sandbox's state (`GET /__sandbox/state`).
    pub fn state(&self) -> Value {
        self.sandbox.state()
    }

    /// NumHub requests the sandbox has seen (any host, any route).
    pub fn requests(&self) -> u64 {
        self.state()["totals"]["requests"].as_u64().unwrap_or(0)
    }

    /// Waits until the sandbox's request count has held still for `quiet` (a request a
    /// host wrote just before it was stopped is counted when the sandbox reads it);
    /// the count then.
    pub fn settled_requests(&self, quiet: Duration) -> u64 {
        let mut last = (self.requests(), Instant::now());
        let settled = wait_until(TIMEOUT, || {
            let now = self.requests();
            if now != last.0 {
                last = (now, Instant::now());
            }
            last.1.elapsed() >= quiet
        });
        assert!(settled, "the sandbox kept counting requests");
        last.0
    }

    /// Requests the sandbox refused with 429.
    pub fn refused_429(&self) -> u64 {
        self.state()["totals"]["rateLimited429"]
            .as_u64()
            .unwrap_or(0)
    }

    /// The demo account's requests per finished sandbox window, and its open one's.
    pub fn windows(&self) -> (Vec<u64>, u64) {
        let w = &self.state()["rateWindows"][crate::numhub_support::DEMO_EMAIL];
        let closed = w["closed"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        (closed, w["current"].as_u64().unwrap_or(0))
    }

    /// Company names of the applications at NumHub, sorted (duplicates kept).
    pub fn applications(&self) -> Vec<String> {
        crate::sync_support::company_names(&self.state())
    }

    /// SHA-256 of every document at NumHub, sorted (duplicates kept).
    pub fn documents(&self) -> Vec<String> {
        let mut shas: Vec<String> = self.state()["documents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["sha256"].as_str().map(String::from))
            .collect();
        shas.sort();
        shas
    }

    /// The rows of `sql` in the shared database (as root).
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        mariadb_support::query(&self.db, sql)
    }

    /// Whether every job is done, as the shared database holds them.
    pub fn all_jobs_done(&self) -> bool {
        let rows = self.rows("SELECT COUNT(*), COALESCE(SUM(state = 'done'), 0) FROM jobs");
        matches!(&rows[..], [r] if r[0].is_some() && r[0] != Some("0".into()) && r[0] == r[1])
    }

    /// Waits until the sandbox has seen more requests than `before`; how long it took
    /// from `since`.
    pub fn wait_request_after(
        &self,
        before: u64,
        since: Instant,
        timeout: Duration,
    ) -> Option<Duration> {
        wait_until(timeout, || self.requests() > before).then(|| since.elapsed())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.hosts.len() {
            self.kill9(i);
        }
    }
}

/// `a`, `b`, `c`, … .
pub fn node_name(i: usize) -> String {
    char::from(b'a' + u8::try_from(i).expect("few hosts")).to_string()
}

/// A host's folder: the config (its node name, the shared database through its own
/// proxy), the demo password, the identity, `uploads/` and `drop/`.
fn new_host(
    db: &TestDatabase,
    sandbox: &Sandbox,
    o: &Options,
    identity: &Path,
    node: String,
) -> Host {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = CutProxy::start(db.port);
    let password = crate::test_engine::password_in(dir.path(), db);
    let demo_password = dir.path().join("password.txt");
    std::fs::write(&demo_password, "demo-password\n").expect("password");
    std::fs::set_permissions(&demo_password, std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    std::fs::create_dir_all(dir.path().join("uploads")).expect("uploads");
    std::fs::create_dir_all(dir.path().join("drop")).expect("drop");
    let id_copy = dir.path().join("identity.txt");
    std::fs::copy(identity, &id_copy).expect("copy identity");
    std::fs::set_permissions(&id_copy, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = host_config(&sandbox.base_url(), o, &node, &proxy.url_for(db), &password);
    std::fs::write(dir.path().join("numhubd.toml"), config).expect("config");
    Host {
        node,
        dir,
        proxy,
        child: None,
        runs: 0,
        paused: false,
    }
}

fn host_config(base_url: &str, o: &Options, node: &str, url: &str, password: &Path) -> String {
    let (limit, window) = o.numhub_rate;
    sync_config(base_url, o.max_attempts)
        .replacen(
            "[database]\npath = \"numhubd.db\"\n",
            &crate::test_engine::database_section(url, password),
            1,
        )
        .replace(
            "rate_limit = 0\n",
            &format!(
                "rate_limit = {limit}\nrate_window_secs = {window}\nrequest_timeout_secs = {}\n",
                o.request_timeout_secs
            ),
        )
        .replace(
            "poll_interval_secs = 3600\n",
            &format!("poll_interval_secs = {}\n", o.poll_secs),
        )
        .replace("workers = 4\n", &format!("workers = {}\n", o.workers))
        .replace(
            "[drop]\ndir = \"drop\"\n",
            "[drop]\ndir = \"drop\"\nsettle_ms = 200\n",
        )
        + &format!(
            "[cluster]\nnode = \"{node}\"\nlease_secs = {}\n",
            o.lease_secs
        )
}

/// Reads from every answering host's socket that must not fail (an `entity.list`),
/// and a write that queues (`entity.create`); the first failure, if any.
pub fn probe_host(socket: &Path, tag: &str) -> Result<(), String> {
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "entity.list",
                     "params": {"tenant_id": 1, "limit": 5}});
    match post_within(socket, &req, TIMEOUT) {
        Some((_, v)) if v.get("result").is_some() => {}
        other => return Err(format!("entity.list: {other:?}")),
    }
    let name = format!("Probe {tag} LLC");
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "entity.create",
        "params": {"tenant_id": 1, "entity_type": "enterprise", "company_name": name,
                   "application": crate::sync_support::application(&name), "submit": false}});
    match try_post(socket, req.to_string().as_bytes()) {
        Some((_, v)) if v["result"]["id"].is_string() => Ok(()),
        other => Err(format!("entity.create: {other:?}")),
    }
}

/// Whether the long stress variants run (`NUMHUBD_STRESS` set).
pub fn stress() -> bool {
    std::env::var_os("NUMHUBD_STRESS").is_some()
}
