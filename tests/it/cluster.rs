//! Several hosts on one MariaDB database (issue 25), with real daemons: failover after
//! the leader's SIGKILL, a node name two live daemons cannot share, events from the
//! leader seen on another host, and `daemon.status`'s `cluster` (null on SQLite).
//! Fencing, exactly-once under kills, the drop folder and the shared budget have
//! files of their own (`cluster_fencing`, `cluster_once`, `cluster_budget`).
//!
//! Quick by default (`lease_secs = 2`); `NUMHUBD_STRESS=1` kills more leaders.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster_support::{available, probe_host, stress, Cluster, Options};
use crate::rpc_client::{ok, Ws};
use crate::support::{wait_until, TIMEOUT};

/// The promise: another host's first NumHub request within 10 s of the leader's death.
const FAILOVER: Duration = Duration::from_secs(10);

/// Keeps probing `sockets` (a read and a queuing write each round) from a thread
/// until stopped; what it created and every failure.
struct Prober {
    stop: Arc<AtomicBool>,
    created: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prober {
    fn start(sockets: Vec<PathBuf>, round: usize) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let created = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (s, c, f) = (stop.clone(), created.clone(), failures.clone());
        let thread = std::thread::spawn(move || {
            let mut n = 0usize;
            while !s.load(Ordering::SeqCst) {
                for socket in &sockets {
                    n += 1;
                    let tag = format!("R{round} N{n}");
                    match probe_host(socket, &tag) {
                        Ok(()) => c.lock().expect("lock").push(format!("Probe {tag} LLC")),
                        Err(e) => f
                            .lock()
                            .expect("lock")
                            .push(format!("{}: {e}", socket.display())),
                    }
                }
            }
        });
        Prober {
            stop,
            created,
            failures,
            thread: Some(thread),
        }
    }

    /// Stops probing; (names created, failures).
    fn finish(mut self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("prober");
        }
        let created = std::mem::take(&mut *self.created.lock().expect("lock"));
        let failures = std::mem::take(&mut *self.failures.lock().expect("lock"));
        (created, failures)
    }
}

/// SIGKILL the leader: another host makes the next NumHub request within 10 s, under
/// a new epoch, while the other hosts' sockets answer reads and queuing writes
/// throughout; every create queued meanwhile reaches NumHub once.
#[test]
fn a_killed_leaders_work_goes_on_elsewhere_within_10_s() {
    if !available() {
        return;
    }
    let kills = if stress() { 10 } else { 2 };
    let mut c = Cluster::start(Options::default());
    c.tenant(0, true);
    let mut created = Vec::new();
    let mut times = Vec::new();
    for round in 0..kills {
        let old = c.wait_leader(TIMEOUT);
        let others: Vec<PathBuf> = (0..c.hosts.len())
            .filter(|i| *i != old.host)
            .map(|i| c.socket(i))
            .collect();
        let prober = Prober::start(others, round);
        // Work queued for whoever leads next.
        assert!(wait_until(TIMEOUT, || prober
            .created
            .lock()
            .expect("lock")
            .len()
            >= 4));
        c.kill9(old.host);
        let killed = Instant::now();
        let before = c.requests();
        let took = c.wait_request_after(before, killed, FAILOVER);
        let new = c.wait_new_epoch(old.epoch, TIMEOUT);
        let (names, failures) = prober.finish();
        created.extend(names);
        assert!(
            failures.is_empty(),
            "sockets failed during failover: {failures:?}"
        );
        let took = took.unwrap_or_else(|| {
            panic!(
                "no NumHub request within {FAILOVER:?} of the kill; {}",
                c.stderr()
            )
        });
        assert_ne!(new.host, old.host);
        times.push(took);
        assert!(c.start_host(old.host, &[]), "restart; {}", c.stderr());
    }
    eprintln!("failover: first request after the kill in {times:?}");
    assert!(
        wait_until(Duration::from_secs(60), || c.all_jobs_done()),
        "not drained; {}",
        c.stderr()
    );
    created.sort();
    assert_eq!(c.applications(), created, "one application per create");
}

/// A second daemon with a live node's name is refused, naming the first; the first
/// keeps serving. Once the first is gone, the name is free again.
#[test]
fn a_second_daemon_with_a_live_nodes_name_is_refused_naming_it() {
    if !available() {
        return;
    }
    let mut c = Cluster::start(Options {
        hosts: 1,
        ..Options::default()
    });
    let twin = c.add_host("a");
    assert!(!c.start_host(twin, &[]), "a second `a` started");
    assert!(c.wait_exit(twin, TIMEOUT));
    let stderr = c.hosts[twin].stderr();
    let first = c.hosts[0].pid().expect("a runs");
    assert!(
        stderr.contains("\"a\"") || stderr.contains(" a ") || stderr.contains("node a"),
        "the refusal names the node: {stderr}"
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert!(
        stderr.contains(&first.to_string()) || stderr.contains(host.trim()),
        "the refusal names the first daemon (pid {first} on {}): {stderr}",
        host.trim()
    );
    assert!(c.hosts[0].status().is_some(), "the first stopped answering");
    // The name is free once its holder is gone.
    c.kill9(0);
    assert!(c.start_host(twin, &[]), "{}", c.stderr());
}

/// `daemon.status` carries `cluster` with its fixed names; every host lists every
/// node, and all agree on the leader.
#[test]
fn daemon_status_shows_the_cluster_on_every_host() {
    if !available() {
        return;
    }
    let mut c = Cluster::start(Options::default());
    let leader = c.wait_leader(TIMEOUT);
    let leader_node = c.hosts[leader.host].node.clone();
    for i in 0..c.hosts.len() {
        let node = c.hosts[i].node.clone();
        let cl = c.cluster(i).expect("answers");
        assert_eq!(cl["node"], json!(node), "{cl}");
        assert_eq!(cl["leader"], json!(leader_node), "{cl}");
        assert_eq!(cl["epoch"], json!(leader.epoch), "{cl}");
        assert!(cl["lease_expires_at"].is_string(), "{cl}");
        let mut nodes: Vec<&str> = cl["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                assert!(n["last_seen"].is_string(), "{n}");
                n["node"].as_str().expect("node")
            })
            .collect();
        nodes.sort();
        assert_eq!(nodes, ["a", "b", "c"], "{cl}");
    }
}

/// On SQLite (one daemon per file) `cluster` is there and null.
#[test]
fn daemon_status_cluster_is_null_on_sqlite() {
    // A file other than the test config's own, so a MariaDB run keeps it on SQLite.
    let config =
        crate::support::base_config("info").replace("path = \"numhubd.db\"", "path = \"solo.db\"");
    let d = crate::support::start_daemon(&config, &[]);
    let status = ok(
        &d.dir.path().join("numhubd.sock"),
        "daemon.status",
        json!({}),
    );
    assert_eq!(
        status.get("cluster"),
        Some(&serde_json::Value::Null),
        "{status}"
    );
}

/// A subscriber on a follower sees the status change the poller on the leader
/// applied, within a few seconds.
#[test]
fn a_subscriber_on_a_follower_sees_what_the_leader_applied() {
    if !available() {
        return;
    }
    let mut c = Cluster::start(Options {
        hosts: 2,
        poll_secs: 1,
        ..Options::default()
    });
    c.sandbox.seed_applications(1001, 1);
    c.tenant(0, true);
    let leader = c.wait_leader(TIMEOUT);
    let follower = 1 - leader.host;
    let list = |c: &Cluster| {
        ok(&c.socket(follower), "entity.list", json!({"tenant_id": 1}))["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        wait_until(TIMEOUT, || list(&c).len() == 1),
        "not replicated; {}",
        c.stderr()
    );
    let nid = list(&c)[0]["numhub_entity_id"]
        .as_str()
        .expect("nid")
        .to_string();
    let mut ws = c.rt.block_on(Ws::connect(&c.socket(follower)));
    c.rt.block_on(
        ws.send(json!({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {}})),
    );
    let _ack = c.rt.block_on(ws.recv());
    crate::sync_support::admin(
        &c.rt,
        &c.sandbox,
        &format!("/__sandbox/entities/{nid}/status"),
        json!({"status": "Rejected", "comment": "cluster"}),
    );
    let changed = Instant::now();
    loop {
        let msg = c.rt.block_on(ws.recv());
        let event = &msg["params"]["result"];
        let kind = event["type"].as_str().or(event["event"].as_str());
        if kind == Some("entity.status_changed") && event["status"] == "rejected" {
            break;
        }
    }
    eprintln!(
        "events: seen on the follower {:?} after the change at NumHub",
        changed.elapsed()
    );
}
