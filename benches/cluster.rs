//! Several hosts on one MySQL store (issue 25), a bench binary, not a timed test:
//! `cargo bench --bench cluster`. Real `numhubd serve` processes on this machine
//! share one database on a throwaway MariaDB (`tests/it/mariadb_support.rs`) and
//! one sandbox on loopback, as `tests/it/cluster_support.rs` sets them up.
//!
//! - **Failover**: three hosts at the default `[cluster] lease_secs`, a create
//!   queued on a follower every 200 ms; the leader is SIGKILLed `CLUSTER_KILLS`
//!   times (default 20), restarted after each. For each kill: the time to the
//!   sandbox's next request (another host's first NumHub request; goal ≤ 10 s) and
//!   to `daemon.status` naming a new leader. p50 and max.
//! - **Thrift on three hosts**: 1,000 applications seeded at the sandbox, replicated
//!   once with the governor off; then under NumHub's limit (100 a minute) and the
//!   30-second poll, the quiet phase's requests per entity per minute with one host,
//!   then with three hosts on the same database, `CLUSTER_MINUTES` each (default 2;
//!   goal: as on one host, ≤ 0.05).
//!
//! `CLUSTER_ONLY=failover` or `thrift` runs one part.
//!
//! `NUMHUBD_BENCH_SMOKE=1`: 2 kills at `lease_secs = 2`, 20 applications, a 1-second
//! poll and 3-second phases; its figures mean nothing. Without `mariadbd` it says it
//! is skipped, unless `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[allow(dead_code)]
mod common;

// The integration tests' throwaway MariaDB, shared rather than copied.
#[path = "../tests/it/mariadb_support.rs"]
#[allow(dead_code)]
mod mariadb_support;

use mariadb_support::TestDatabase;

struct Sizes {
    kills: usize,
    lease_secs: u64,
    entities: usize,
    poll_secs: u64,
    phase: Duration,
}

impl Sizes {
    fn from_env() -> Sizes {
        if common::smoke() {
            return Sizes {
                kills: 2,
                lease_secs: 2,
                entities: 20,
                poll_secs: 1,
                phase: Duration::from_secs(3),
            };
        }
        let knob = common::env_u64;
        Sizes {
            kills: knob("CLUSTER_KILLS", 20) as usize,
            lease_secs: 5,
            entities: 1000,
            poll_secs: 30,
            phase: Duration::from_secs(60 * knob("CLUSTER_MINUTES", 2)),
        }
    }
}

/// One host: its folder and, while it runs, its process.
struct Host {
    node: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Host {
    fn socket(&self) -> PathBuf {
        self.dir.join("numhubd.sock")
    }

    fn start(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("stderr.log"))
            .expect("stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_numhubd"))
            .arg("serve")
            .arg("--config")
            .arg(self.dir.join("numhubd.toml"))
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("numhubd");
        self.child = Some(child);
        let mut exited = false;
        let ready = wait_for(Duration::from_secs(60), || {
            exited = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            exited || self.status().is_some()
        });
        assert!(
            ready && !exited,
            "{} did not start:\n{}",
            self.node,
            self.stderr()
        );
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn status(&self) -> Option<Value> {
        call(&self.socket(), "daemon.status", json!({})).ok()
    }
}

/// One JSON-RPC call over the socket (5 s to answer): its result, or why not.
fn call(socket: &Path, method: &str, params: Value) -> Result<Value, String> {
    use std::io::{Read, Write};
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let (_, body) = answer.split_once("\r\n\r\n").ok_or("no body")?;
    let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    v.get("result").cloned().ok_or_else(|| v.to_string())
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; whether it held.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The hosts' folders on one database, with the same age identity.
fn hosts(db: &TestDatabase, base_url: &str, n: usize, sizes: &Sizes, root: &Path) -> Vec<Host> {
    use std::os::unix::fs::PermissionsExt;
    let identity = root.join("identity.txt");
    numhubd::crypto::generate_identity_file(&identity).expect("identity");
    let password = root.join("database.password");
    std::fs::write(&password, format!("{}\n", db.password())).expect("password");
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let demo = root.join("demo.password");
    std::fs::write(&demo, "demo-password\n").expect("password");
    std::fs::set_permissions(&demo, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (0..n)
        .map(|i| {
            let node = char::from(b'a' + i as u8).to_string();
            let dir = root.join(&node);
            std::fs::create_dir_all(&dir).expect("host dir");
            std::fs::copy(&identity, dir.join("identity.txt")).expect("identity");
            let config = format!(
                "[database]\nurl = \"{}\"\npassword_file = \"{}\"\nallow_plaintext = true\n\
                 [rpc]\nsocket = \"numhubd.sock\"\n[crypto]\nidentity_file = \"identity.txt\"\n\
                 [drop]\ndir = \"drop\"\n[log]\nfilter = \"warn\"\n\
                 [numhub]\nbase_url = \"{base_url}\"\nemail = \"demo@numhub.test\"\n\
                 password_file = \"{}\"\nrate_limit = 100\nrate_window_secs = 60\n\
                 [sync]\npoll_interval_secs = {}\nfull_sweep_secs = 900\noutbox_poll_ms = 50\n\
                 [cluster]\nnode = \"{node}\"\nlease_secs = {}\n",
                db.url_tcp,
                password.display(),
                demo.display(),
                sizes.poll_secs,
                sizes.lease_secs
            );
            std::fs::write(dir.join("numhubd.toml"), config).expect("config");
            Host {
                node,
                dir,
                child: None,
            }
        })
        .collect()
}

fn requests(sandbox: &numhub_sandbox::Sandbox) -> u64 {
    sandbox.state()["totals"]["requests"].as_u64().unwrap_or(0)
}

/// (leader's host index, epoch), as the first answering host says.
fn leader(hosts: &[Host]) -> Option<(usize, u64)> {
    hosts.iter().filter(|h| h.child.is_some()).find_map(|h| {
        let c = h.status()?["cluster"].clone();
        let node = c["leader"].as_str()?;
        let i = hosts.iter().position(|h| h.node == node)?;
        Some((i, c["epoch"].as_u64()?))
    })
}

fn application(name: &str) -> Value {
    json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": name, "submit": false,
           "application": {
               "applicantInformation": {"firstName": "Ada", "lastName": "Lovelace",
                   "emailAddress": "ada@example.com", "phoneNumber": "+15555550100"},
               "businessEntityDetails": {"legalBusinessName": name, "city": "Boston"},
               "section": 1}})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The failover rows: SIGKILL the leader `kills` times with creates queued meanwhile.
/// A sandbox on loopback with its rate limit off.
fn unlimited_sandbox(rt: &tokio::runtime::Runtime) -> numhub_sandbox::Sandbox {
    rt.block_on(numhub_sandbox::start(
        "127.0.0.1:0".parse().expect("addr"),
        numhub_sandbox::SandboxConfig {
            rate_limit: 0,
            ..Default::default()
        },
    ))
    .expect("sandbox")
}

fn failover(db: &TestDatabase, sizes: &Sizes, rt: &tokio::runtime::Runtime) {
    let sandbox = unlimited_sandbox(rt);
    let root = tempfile::tempdir().expect("tempdir");
    let mut hosts = hosts(db, &sandbox.base_url(), 3, sizes, root.path());
    for h in &mut hosts {
        h.start();
    }
    call(
        &hosts[0].socket(),
        "tenant.upsert",
        json!({"id": 1, "name": "Bench", "numhub_client_id": "1001", "numhub_enabled": true}),
    )
    .expect("tenant");
    let (mut to_request, mut to_leader) = (Vec::new(), Vec::new());
    for k in 0..sizes.kills {
        assert!(wait_for(Duration::from_secs(30), || leader(&hosts).is_some()));
        let (old, epoch) = leader(&hosts).expect("a leader");
        let follower = (old + 1) % hosts.len();
        // Work for the next leader: creates queued on a follower.
        for j in 0..3 {
            call(
                &hosts[follower].socket(),
                "entity.create",
                application(&format!("F{k} {j} LLC")),
            )
            .expect("create");
        }
        hosts[old].kill9();
        let killed = Instant::now();
        let before = requests(&sandbox);
        let (mut req_at, mut lead_at) = (None, None);
        let done = wait_for(Duration::from_secs(60), || {
            if req_at.is_none() && requests(&sandbox) > before {
                req_at = Some(killed.elapsed());
            }
            if lead_at.is_none() && leader(&hosts).is_some_and(|(_, e)| e > epoch) {
                lead_at = Some(killed.elapsed());
            }
            req_at.is_some() && lead_at.is_some()
        });
        assert!(done, "no failover within 60 s after kill {k}");
        to_request.extend(req_at);
        to_leader.extend(lead_at);
        hosts[old].start();
    }
    to_request.sort();
    to_leader.sort();
    println!(
        "failover, {} kills, lease_secs = {}: first NumHub request from another host p50 {:.2} s, max {:.2} s (goal <= 10 s); \
         new leader in daemon.status p50 {:.2} s, max {:.2} s",
        sizes.kills,
        sizes.lease_secs,
        percentile(&to_request, 0.5).as_secs_f64(),
        percentile(&to_request, 1.0).as_secs_f64(),
        percentile(&to_leader, 0.5).as_secs_f64(),
        percentile(&to_leader, 1.0).as_secs_f64(),
    );
    for h in &mut hosts {
        h.kill9();
    }
}

/// The quiet phase's requests per entity per minute, with `running` hosts just
/// started (`before`: the sandbox's count before they were).
fn quiet_phase(
    sandbox: &numhub_sandbox::Sandbox,
    sizes: &Sizes,
    running: usize,
    before: u64,
) -> f64 {
    // The first cycle after a leader starts is a full sweep (its list pages): let it
    // pass, and a poll more, before measuring.
    let sweep = before + (sizes.entities / 100) as u64;
    assert!(
        wait_for(Duration::from_secs(120), || requests(sandbox) > sweep),
        "no first cycle"
    );
    std::thread::sleep(Duration::from_secs(sizes.poll_secs));
    let start = requests(sandbox);
    std::thread::sleep(sizes.phase);
    let n = requests(sandbox) - start;
    let per_minute = n as f64 / (sizes.phase.as_secs_f64() / 60.0);
    let per_entity = per_minute / sizes.entities as f64;
    println!(
        "thrift, {running} host(s), {:?} quiet: {n} requests = {per_minute:.2}/min = {per_entity:.4} per entity per minute (goal <= 0.05)",
        sizes.phase
    );
    per_entity
}

/// The thrift rows: one host, then three, on one replicated store.
fn thrift(db: &TestDatabase, sizes: &Sizes, rt: &tokio::runtime::Runtime) {
    let sandbox = unlimited_sandbox(rt);
    sandbox.seed_applications(1001, sizes.entities);
    let root = tempfile::tempdir().expect("tempdir");
    let mut hosts = hosts(db, &sandbox.base_url(), 3, sizes, root.path());
    // Replicate first with the governor off (one host).
    let fast = std::fs::read_to_string(hosts[0].dir.join("numhubd.toml")).expect("config");
    let limited = fast.clone();
    std::fs::write(
        hosts[0].dir.join("numhubd.toml"),
        fast.replace("rate_limit = 100\n", "rate_limit = 0\n"),
    )
    .expect("config");
    hosts[0].start();
    call(
        &hosts[0].socket(),
        "tenant.upsert",
        json!({"id": 1, "name": "Bench", "numhub_client_id": "1001", "numhub_enabled": true}),
    )
    .expect("tenant");
    // Every application approved and every identity with its two numbers: nothing
    // of the first replication left to fetch under the limit.
    let approved = "SELECT COUNT(*) FROM numhub_entities WHERE status = 'approved'";
    let numbered = "SELECT COUNT(*) FROM numhub_identities WHERE JSON_LENGTH(phone_numbers) = 2";
    let want = Some(sizes.entities.to_string());
    let replicated = wait_for(Duration::from_secs(600), || {
        mariadb_support::query(db, approved)[0][0] == want
            && mariadb_support::query(db, numbered)[0][0] == want
    });
    assert!(replicated, "not replicated:\n{}", hosts[0].stderr());
    hosts[0].kill9();
    std::fs::write(hosts[0].dir.join("numhubd.toml"), limited).expect("config");
    sandbox.set_rate_limit(100, Duration::from_secs(60));
    let before = requests(&sandbox);
    hosts[0].start();
    let one = quiet_phase(&sandbox, sizes, 1, before);
    // The same start for three: every host fresh, the leader's full sweep first.
    hosts[0].kill9();
    let before = requests(&sandbox);
    for h in &mut hosts {
        h.start();
    }
    let three = quiet_phase(&sandbox, sizes, 3, before);
    println!(
        "thrift: three hosts / one host = {:.2}; 429s over the run: {}",
        three / one.max(f64::MIN_POSITIVE),
        sandbox.state()["totals"]["rateLimited429"]
    );
    for h in &mut hosts {
        h.kill9();
    }
}

fn main() {
    if !mariadb_support::available() {
        println!("cluster bench: skipped: mariadbd not found");
        return;
    }
    let sizes = Sizes::from_env();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let only = std::env::var("CLUSTER_ONLY").unwrap_or_default();
    if only.is_empty() || only == "failover" {
        failover(&mariadb_support::fresh_database(), &sizes, &rt);
    }
    if only.is_empty() || only == "thrift" {
        thrift(&mariadb_support::fresh_database(), &sizes, &rt);
    }
}
