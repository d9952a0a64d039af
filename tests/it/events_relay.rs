//! Events from every host (issue 25, "Events everywhere"): two relays over two
//! `Store`s on one MariaDB database stand for two hosts in one process. An event
//! published on host A reaches host B's subscribers within a second, once; rows whose
//! AUTO_INCREMENT ids commit out of order all arrive. On MariaDB whatever the run's
//! engine: the relay runs only on a server store.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use numhubd::api::JobState;
use numhubd::events::{Event, EventBus, Message};
use numhubd::relay::{self, Relay};
use numhubd::shutdown::{self, ShutdownSender};
use tokio::sync::broadcast;

use crate::mariadb_support::{self, TestDatabase};
use crate::test_engine::TestStore;

fn job(job_id: i64) -> Message {
    Message::Event(Event::JobFinished {
        tenant_id: 1,
        job_id,
        state: JobState::Done,
    })
}

/// A host: its bus, with the relay running over its own store.
fn start_host(
    rt: &tokio::runtime::Runtime,
    db: &TestStore,
    node: &str,
) -> (EventBus, ShutdownSender) {
    let store = db.side_store();
    let (bus, relayed) = EventBus::with_relay(1024);
    let (stop, shutdown) = shutdown::channel();
    let relay = Relay {
        store,
        bus: bus.clone(),
        relayed,
        node: node.into(),
    };
    rt.spawn(relay::run(relay, shutdown));
    (bus, stop)
}

/// The next event on `rx` within `within`, if any.
async fn next(rx: &mut broadcast::Receiver<Message>, within: Duration) -> Option<Message> {
    tokio::time::timeout(within, rx.recv()).await.ok()?.ok()
}

/// Publishes warm-up events on `from` until `rx` sees one: both relays are tailing.
async fn until_relayed(from: &EventBus, rx: &mut broadcast::Receiver<Message>) {
    let deadline = Instant::now() + crate::support::TIMEOUT;
    for n in 1_000_000.. {
        assert!(
            Instant::now() < deadline,
            "no event ever crossed between the hosts"
        );
        from.publish(job(n));
        if next(rx, Duration::from_millis(500)).await.is_some() {
            // Whatever else of the warm-up is on its way arrives; then quiet.
            while next(rx, Duration::from_millis(800)).await.is_some() {}
            return;
        }
    }
}

#[test]
fn an_event_published_on_one_host_reaches_the_other_within_a_second_once() {
    if !mariadb_support::available() {
        return;
    }
    let db = TestStore::Mariadb(mariadb_support::fresh_database());
    let rt = crate::support::rt();
    let (a, _stop_a) = start_host(&rt, &db, "host-a");
    let (b, _stop_b) = start_host(&rt, &db, "host-b");
    rt.block_on(async {
        let mut on_a = a.subscribe();
        let mut on_b = b.subscribe();
        until_relayed(&a, &mut on_b).await;
        while on_a.try_recv().is_ok() {}

        let published = Instant::now();
        a.publish(job(1));
        let got = next(&mut on_b, Duration::from_secs(5)).await;
        let took = published.elapsed();
        assert_eq!(got, Some(job(1)));
        assert!(took < Duration::from_secs(1), "took {took:?}");
        // A's own subscriber had it once, locally, and never again from the table.
        assert_eq!(next(&mut on_a, Duration::from_secs(1)).await, Some(job(1)));

        // Once: the next event is the one after it, on both hosts.
        b.publish(job(2));
        assert_eq!(next(&mut on_a, Duration::from_secs(5)).await, Some(job(2)));
        a.publish(job(3));
        assert_eq!(next(&mut on_b, Duration::from_secs(5)).await, Some(job(2)));
        assert_eq!(next(&mut on_b, Duration::from_secs(5)).await, Some(job(3)));
        assert_eq!(next(&mut on_b, Duration::from_secs(2)).await, None);
        assert_eq!(next(&mut on_a, Duration::from_secs(2)).await, Some(job(3)));
        assert_eq!(next(&mut on_a, Duration::from_secs(1)).await, None);
    });
    // Both hosts wrote theirs, with their node names.
    let nodes = db.column("SELECT DISTINCT node FROM numhubd_events ORDER BY node");
    assert_eq!(nodes, vec![Some("host-a".into()), Some("host-b".into())]);
}

/// A connection of a third writer (another host's writer thread, as it were) whose
/// transaction stays open while others commit.
fn open_insert(db: &TestDatabase, job_id: i64) -> (mysql_async::Conn, i64) {
    let opts = db.opts_via(db.port);
    let event = serde_json::to_string(&job(job_id)).expect("json");
    mariadb_support::block_on(async move {
        let mut conn = mysql_async::Conn::new(opts).await?;
        conn.query_drop("BEGIN").await?;
        conn.exec_drop(
            "INSERT INTO numhubd_events (node, event, created_at) VALUES ('host-c', ?, NOW(6))",
            (event,),
        )
        .await?;
        let id = conn.last_insert_id().unwrap_or_default() as i64;
        Ok::<_, mysql_async::Error>((conn, id))
    })
    .expect("open insert")
}

#[test]
fn events_whose_ids_commit_out_of_order_all_arrive_once() {
    if !mariadb_support::available() {
        return;
    }
    let test_db = mariadb_support::fresh_database();
    let db = TestStore::Mariadb(test_db.clone());
    let rt = crate::support::rt();
    let (a, _stop_a) = start_host(&rt, &db, "host-a");
    let (b, _stop_b) = start_host(&rt, &db, "host-b");
    rt.block_on(async {
        let mut on_b = b.subscribe();
        until_relayed(&a, &mut on_b).await;
    });
    // Id n is taken by a transaction that commits only after n + 1 was read by B.
    let (mut late, late_id) = open_insert(&test_db, 10);
    rt.block_on(async {
        let mut on_b = b.subscribe();
        a.publish(job(11));
        assert_eq!(next(&mut on_b, Duration::from_secs(5)).await, Some(job(11)));
        let ids = db.column("SELECT id FROM numhubd_events ORDER BY id DESC LIMIT 1");
        let newest: i64 = ids[0].as_deref().and_then(|s| s.parse().ok()).expect("id");
        assert!(newest > late_id, "the later event got the higher id");
        // A few polls pass with the gap open.
        assert_eq!(next(&mut on_b, Duration::from_secs(1)).await, None);
        mariadb_support::block_on(async move {
            late.query_drop("COMMIT").await?;
            late.disconnect().await
        })
        .expect("commit");
        let committed = Instant::now();
        assert_eq!(next(&mut on_b, Duration::from_secs(5)).await, Some(job(10)));
        assert!(committed.elapsed() < Duration::from_secs(1));
        // Once.
        a.publish(job(12));
        assert_eq!(next(&mut on_b, Duration::from_secs(5)).await, Some(job(12)));
        assert_eq!(next(&mut on_b, Duration::from_secs(1)).await, None);
    });
}

/// `NUMHUBD_STRESS=1`: the delay from a publish on A to the delivery on B over 100
/// events a tenth of a second apart; printed for docs/BENCHMARKS.md.
#[test]
fn stress_the_delay_between_hosts() {
    if std::env::var("NUMHUBD_STRESS").as_deref() != Ok("1") || !mariadb_support::available() {
        return;
    }
    let db = TestStore::Mariadb(mariadb_support::fresh_database());
    let rt = crate::support::rt();
    let (a, _stop_a) = start_host(&rt, &db, "host-a");
    let (b, _stop_b) = start_host(&rt, &db, "host-b");
    let mut delays = rt.block_on(async {
        let mut on_b = b.subscribe();
        until_relayed(&a, &mut on_b).await;
        let mut delays = Vec::new();
        for n in 0..100 {
            let published = Instant::now();
            a.publish(job(n));
            assert_eq!(next(&mut on_b, Duration::from_secs(5)).await, Some(job(n)));
            delays.push(published.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        delays
    });
    delays.sort();
    eprintln!(
        "events between hosts over 100: p50 {:?}, p95 {:?}, max {:?}",
        delays[49], delays[94], delays[99]
    );
    assert!(delays[99] < Duration::from_secs(1));
}

/// Housekeeping's purge keeps the last minutes only.
#[test]
fn events_older_than_five_minutes_are_purged() {
    if !mariadb_support::available() {
        return;
    }
    let db = TestStore::Mariadb(mariadb_support::fresh_database());
    let store = db.side_store();
    db.execute(
        "INSERT INTO numhubd_events (node, event, created_at) VALUES \
         ('a', '{}', NOW(6) - INTERVAL 6 MINUTE), ('a', '{}', NOW(6) - INTERVAL 4 MINUTE)",
    );
    let purged =
        mariadb_support::block_on(numhubd::housekeeping::purge_events(&store)).expect("purge");
    assert_eq!(purged, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM numhubd_events"), 1);
}

/// Real daemons (MariaDB runs only: `NUMHUBD_TEST_ENGINE=mariadb`): A leads, B
/// follows on the same database. An upload queued through B's socket with `wait_s`
/// is sent by A, and B answers as soon as A's `job.finished` reaches it through the
/// store, not when the wait runs out.
#[test]
fn a_followers_wait_s_answers_when_the_leader_finishes_the_job() {
    use crate::rpc_client::ok;
    use serde_json::json;
    if crate::test_engine::mariadb_only("events cross hosts only on a server store") {
        return;
    }
    let mut a = crate::sync_support::Harness::syncing(3);
    let entity =
        crate::sync_support::create_entity(&a.socket(), "Relayed LLC", false).expect("entity");
    let (b, _b, stderr_b) = follower(&a);
    let b_socket = b.path().join("numhubd.sock");
    let status = ok(&b_socket, "daemon.status", json!({}));
    assert_eq!(status["cluster"]["node"], "host-b", "{status}");
    assert_ne!(status["cluster"]["leader"], "host-b", "{status}");

    let (path, _) = crate::sync_support::write_pdf(b.path(), "relayed.pdf", 20_000, 7);
    let started = Instant::now();
    let d = ok(
        &b_socket,
        "document.upload",
        json!({"tenant_id": 1, "entity_id": entity, "document_type": "other",
               "path": path.display().to_string(), "wait_s": 15}),
    );
    let took = started.elapsed();
    assert_eq!(d["sync"], serde_json::Value::Null, "{d}; B: {}", stderr_b());
    assert!(
        d["numhub_document_id"].is_string(),
        "{d}; B: {}",
        stderr_b()
    );
    assert!(
        took < Duration::from_secs(10),
        "B answered after {took:?}, not at A's outcome; A: {}",
        a.all_stderr()
    );
    a.stop();
}

/// Host B beside the harness's daemon A, on its database, with its identity and
/// NumHub password: its folder, the running daemon, and B's stderr so far.
fn follower(
    a: &crate::sync_support::Harness,
) -> (
    tempfile::TempDir,
    crate::support::KilledOnDrop,
    impl Fn() -> String,
) {
    use crate::support::{spawn_serve, wait_ready, Run};
    let config = std::fs::read_to_string(a.dir.path().join("numhubd.toml")).expect("config");
    let b = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        b.path().join("numhubd.toml"),
        format!("{config}[cluster]\nnode = \"host-b\"\n"),
    )
    .expect("config");
    for f in ["identity.txt", "password.txt"] {
        std::fs::copy(a.dir.path().join(f), b.path().join(f)).expect("copy");
    }
    std::fs::create_dir(b.path().join("uploads")).expect("uploads");
    let run = Run {
        notify: b.path().join("notify.sock"),
        stderr: b.path().join("stderr.log"),
    };
    let (mut child, notify) = spawn_serve(b.path(), &run, &[], &[]);
    let log = run.stderr.clone();
    let stderr = move || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(wait_ready(&mut child, &notify, &run), "B: {}", stderr());
    (b, crate::support::KilledOnDrop(child), stderr)
}

/// `sync.run` on a host that does not lead reaches the leader (its `sync.asked`
/// travels through the store), whose poller asks NumHub at once — not at its next
/// cycle an hour later.
#[test]
fn sync_run_on_a_follower_makes_the_leader_poll() {
    use crate::rpc_client::ok;
    use serde_json::json;
    if crate::test_engine::mariadb_only("one daemon per file") {
        return;
    }
    let mut a = crate::sync_support::Harness::syncing(3);
    let (b, _b, stderr_b) = follower(&a);
    let b_socket = b.path().join("numhubd.sock");
    let status = ok(&b_socket, "daemon.status", json!({}));
    assert_ne!(status["cluster"]["leader"], "host-b", "{status}");
    // A's first cycle (at start) is over once its requests stop growing.
    let mut seen = a.total_requests();
    assert!(
        crate::support::wait_until(Duration::from_secs(20), || {
            std::thread::sleep(Duration::from_millis(300));
            let now = a.total_requests();
            std::mem::replace(&mut seen, now) == now
        }),
        "A never went quiet"
    );
    let before = a.total_requests();
    ok(&b_socket, "sync.run", json!({"tenant_id": 1}));
    assert!(
        crate::support::wait_until(Duration::from_secs(10), || a.total_requests() > before),
        "the leader did not poll after B's sync.run; A: {}\nB: {}",
        a.all_stderr(),
        stderr_b()
    );
    a.stop();
}
