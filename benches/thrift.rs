//! Poller thrift benchmark (a bench binary, not a timed test):
//! `cargo bench --bench thrift` (`THRIFT_MINUTES=N` per phase, default 2).
//!
//! 1,000 applications (each with a display identity and two numbers) are seeded
//! straight into a sandbox through its library (creating them over the 100/min limit
//! would take ten minutes). The real daemon first replicates them with its governor
//! off; it is then restarted under NumHub's real limit (100 requests a minute) and the
//! 30-second poll, and the sandbox's own request counters are read over:
//! - a quiet phase (nothing changes): requests per minute and per entity per minute,
//!   next to the one-GET-per-entity-per-minute approach (1.0 per entity per minute,
//!   which 100/min could not even sustain for 1,000 entities);
//!   Twenty applications stay flagged throughout, so every quiet cycle reads their
//!   alerts (and fetches no comments again);
//! - a changing phase: one change at NumHub every 10 s (in turn an application's
//!   status, an identity's caller name, a new flag with its comments); for each, the
//!   time until it is visible in the daemon's database.
//!
//! `NUMHUBD_BENCH_SMOKE=1` is the smoke mode CI runs (`.ci/run`): 20 applications (2
//! flagged), a 1-second poll, a 3-second quiet phase and one change of each kind a
//! second apart; seconds, and its figures mean nothing. Every change must still
//! become visible.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(dead_code)]
mod common;

/// The run's sizes: the bench's, or the smoke mode's.
struct Sizes {
    entities: usize,
    /// Applications flagged before the measured phases (their alerts listed every cycle).
    flagged: usize,
    poll_secs: u64,
    quiet: Duration,
    changes: usize,
    /// Between two changes at NumHub.
    change_every: Duration,
    /// How long every change may take to show, after the last one is made.
    visible_within: Duration,
}

impl Sizes {
    fn from_env() -> Sizes {
        if common::smoke() {
            return Sizes {
                entities: 20,
                flagged: 2,
                poll_secs: 1,
                quiet: Duration::from_secs(3),
                changes: 3,
                change_every: Duration::from_secs(1),
                visible_within: Duration::from_secs(60),
            };
        }
        let minutes: u64 = std::env::var("THRIFT_MINUTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        Sizes {
            entities: 1000,
            flagged: 20,
            poll_secs: 30,
            quiet: Duration::from_secs(60 * minutes),
            changes: (minutes * 6) as usize,
            change_every: Duration::from_secs(10),
            visible_within: Duration::from_secs(600),
        }
    }
}

fn total_requests(sandbox: &numhub_sandbox::Sandbox) -> u64 {
    sandbox.state()["totals"]["requests"].as_u64().unwrap_or(0)
}

fn config(dir: &Path, base_url: &str, limit: u32, poll_secs: u64) -> String {
    format!(
        "[database]\npath = \"numhubd.db\"\n[rpc]\nsocket = \"numhubd.sock\"\n\
         [crypto]\nidentity_file = \"identity.txt\"\n[log]\nfilter = \"warn\"\n\
         [numhub]\nbase_url = \"{base_url}\"\nemail = \"demo@numhub.test\"\n\
         password_file = \"{}\"\nrate_limit = {limit}\nrate_window_secs = 60\n\
         [sync]\npoll_interval_secs = {poll_secs}\nfull_sweep_secs = 900\n",
        dir.join("password.txt").display()
    )
}

fn start(dir: &Path, config: &str) -> Child {
    std::fs::write(dir.join("numhubd.toml"), config).expect("config");
    let _ = std::fs::remove_file(dir.join("numhubd.sock"));
    Command::new(env!("CARGO_BIN_EXE_numhubd"))
        .arg("serve")
        .arg("--config")
        .arg(dir.join("numhubd.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("numhubd")
}

fn stop(mut child: Child) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        dir.join("numhubd.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open db")
}

fn count(dir: &Path, sql: &str) -> i64 {
    db(dir).query_row(sql, [], |r| r.get(0)).unwrap_or(0)
}

fn main() {
    let sizes = Sizes::from_env();
    let entity_count = sizes.entities;
    let dir = tempfile::tempdir().expect("tempdir");
    let dir: PathBuf = dir.path().to_path_buf();
    std::fs::write(dir.join("password.txt"), "demo-password\n").expect("password");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sandbox = rt
        .block_on(numhub_sandbox::start(
            "127.0.0.1:0".parse().expect("addr"),
            numhub_sandbox::SandboxConfig {
                rate_limit: 0,
                ..Default::default()
            },
        ))
        .expect("sandbox");
    let seeded = Instant::now();
    sandbox.seed_applications(1001, entity_count);
    println!(
        "seeded {entity_count} applications at the sandbox in {:?}",
        seeded.elapsed()
    );

    // Warm-up: replicate everything with the governor off.
    let daemon = start(&dir, &config(&dir, &sandbox.base_url(), 0, 1));
    common::wait_for(
        "the socket",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || dir.join("numhubd.sock").exists(),
    );
    common::call(
        &dir,
        "tenant.upsert",
        serde_json::json!({"id": 1, "name": "Bench", "numhub_client_id": "1001", "numhub_enabled": true}),
    );
    let took = common::wait_for(
        "the first replication",
        Duration::from_secs(600),
        Duration::from_millis(200),
        || {
            count(
            &dir,
            "SELECT count(*) FROM numhub_entities WHERE status = 'approved'",
        ) == entity_count as i64
            && count(
                &dir,
                "SELECT count(*) FROM numhub_identities WHERE json_array_length(phone_numbers) = 2",
            ) == entity_count as i64
        },
    );
    println!(
        "first replication (governor off): {entity_count} applications + identities in {took:?}, {} requests",
        total_requests(&sandbox)
    );
    stop(daemon);

    // Applications under review through the whole run: their alerts are listed on
    // every cycle.
    let http = reqwest::Client::new();
    let state = sandbox.state();
    let entities = state["entities"].as_array().cloned().unwrap_or_default();
    let identities = state["identities"].as_array().cloned().unwrap_or_default();
    let flag = |nid: &str, comment: &str| {
        rt.block_on(
            http.post(format!("{}/__sandbox/entities/{nid}/flag", sandbox.base_url()))
                .json(&serde_json::json!({"message": "bench review", "comments": [
                    {"sectionNumber": 2, "sectionName": "Business Entity Details", "comments": comment}]}))
                .send(),
        )
        .expect("admin");
    };
    for e in entities.iter().rev().take(sizes.flagged) {
        flag(e["numhubEntityId"].as_str().expect("nid"), "standing");
    }

    // Steady state under NumHub's limit.
    sandbox.set_rate_limit(100, Duration::from_secs(60));
    let daemon = start(
        &dir,
        &config(&dir, &sandbox.base_url(), 100, sizes.poll_secs),
    );
    // The first cycle after a start is a full sweep; let it pass before measuring.
    let before = total_requests(&sandbox);
    common::wait_for(
        "the first cycle",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || total_requests(&sandbox) > before + (entity_count / 50) as u64,
    );
    std::thread::sleep(Duration::from_secs(sizes.poll_secs.min(5)));

    let quiet = sizes.quiet;
    let start_count = total_requests(&sandbox);
    std::thread::sleep(quiet);
    let quiet_requests = total_requests(&sandbox) - start_count;
    let per_minute = quiet_requests as f64 / (quiet.as_secs_f64() / 60.0);
    println!(
        "quiet phase, {:?}: {quiet_requests} requests = {per_minute:.2}/min = {:.4} per entity per minute \
         (one GET per entity per minute: 1.0; goal <= 0.05)",
        quiet,
        per_minute / entity_count as f64
    );

    // Changing phase.
    let changes = sizes.changes;
    let start_count = total_requests(&sandbox);
    let phase = Instant::now();
    // Changes go out on a fixed schedule; each is checked until it shows locally.
    let mut pending: Vec<(Instant, String)> = Vec::new();
    let mut latencies = Vec::new();
    let mut made = 0;
    while latencies.len() < changes {
        if made < changes && phase.elapsed() >= sizes.change_every * made as u32 {
            let i = made;
            let sql = if i % 3 == 2 {
                let nid = entities[i]["numhubEntityId"]
                    .as_str()
                    .expect("nid")
                    .to_string();
                flag(&nid, &format!("bench flag {i}"));
                format!("SELECT count(*) FROM numhub_reviews r JOIN numhub_entities e ON e.id = r.numhub_entity_id \
                         WHERE e.numhub_entity_id = '{nid}' AND r.flagged_comments LIKE '%bench flag {i}%'")
            } else if i % 3 == 0 {
                let nid = entities[i]["numhubEntityId"]
                    .as_str()
                    .expect("nid")
                    .to_string();
                rt.block_on(
                    http.post(format!(
                        "{}/__sandbox/entities/{nid}/status",
                        sandbox.base_url()
                    ))
                    .json(&serde_json::json!({"status": "Rejected", "comment": "bench"}))
                    .send(),
                )
                .expect("admin");
                format!("SELECT count(*) FROM numhub_entities WHERE numhub_entity_id = '{nid}' AND status = 'rejected'")
            } else {
                let iid = identities[i]["numhubIdentityId"]
                    .as_str()
                    .expect("iid")
                    .to_string();
                let name = format!("RENAMED {i}");
                rt.block_on(
                    http.post(format!("{}/__sandbox/identities/{iid}", sandbox.base_url()))
                        .json(&serde_json::json!({"callerName": name}))
                        .send(),
                )
                .expect("admin");
                format!("SELECT count(*) FROM numhub_identities WHERE numhub_identity_id = '{iid}' AND display_name = '{name}'")
            };
            pending.push((Instant::now(), sql));
            made += 1;
        }
        pending.retain(|(at, sql)| {
            if count(&dir, sql) == 1 {
                latencies.push(at.elapsed());
                false
            } else {
                true
            }
        });
        assert!(
            phase.elapsed() < sizes.change_every * changes as u32 + sizes.visible_within,
            "changes not visible: {}",
            pending.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let changing_requests = total_requests(&sandbox) - start_count;
    let per_minute = changing_requests as f64 / (phase.elapsed().as_secs_f64() / 60.0);
    latencies.sort();
    println!(
        "changing phase: {changes} changes (one per {:?}) in {:?}: {changing_requests} requests = {per_minute:.2}/min = {:.4} per entity per minute; \
         time until visible locally: p50 {:?}, max {:?} (goal: every change within 2 min)",
        sizes.change_every,
        phase.elapsed(),
        per_minute / entity_count as f64,
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    println!(
        "429s served by the sandbox over the whole run: {}",
        sandbox.state()["totals"]["rateLimited429"]
    );
    stop(daemon);
}
