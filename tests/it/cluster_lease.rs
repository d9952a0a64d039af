//! The cluster's lease on a real MariaDB (`db::cluster`, `Store::fenced`), with two
//! stores on one database as two hosts would have: one leader at a time, the epoch
//! raised at each change, an old epoch's writes refused, a restarted node taking its
//! own lease back at once. The daemons themselves: `cluster*.rs`.

use std::time::{Duration, Instant};

use numhubd::db::{cluster, DbError, Store};

use crate::mariadb_support::{available, block_on, fresh_database};
use crate::test_engine::TestStore;

/// Two stores (two hosts) on one fresh database.
fn two_hosts() -> Option<(Store, Store)> {
    if !available() {
        return None;
    }
    let store = TestStore::Mariadb(fresh_database());
    Some((store.side_store(), store.side_store()))
}

fn take(store: &Store, node: &'static str, lease_ms: i64) -> Option<cluster::Taken> {
    let me = cluster::Holder {
        node: node.into(),
        host: Some("test-host".into()),
        pid: Some(1),
    };
    block_on(store.write(move |tx| cluster::take(tx, &me, lease_ms))).expect("take")
}

/// A write that goes through the fence (any statement would do).
fn fenced_write(store: &Store, epoch: i64) -> Result<(), DbError> {
    block_on(store.fenced(epoch).write(|tx| cluster::seen(tx, "a")))
}

#[test]
fn one_leader_at_a_time_and_an_old_epoch_writes_nothing() {
    let Some((a, b)) = two_hosts() else { return };
    let first = take(&a, "a", 800).expect("a takes a free lease");
    assert!(take(&b, "b", 800).is_none(), "b took a live lease");
    fenced_write(&a, first.epoch).expect("the leader's fenced write");
    let lease = block_on(b.read(cluster::lease)).expect("lease");
    assert_eq!(lease.leader.as_deref(), Some("a"));
    assert_eq!(lease.epoch, first.epoch);

    // The lease runs out (server clock); b takes it under the next epoch.
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        if let Some(t) = take(&b, "b", 60_000) {
            break t;
        }
        assert!(Instant::now() < deadline, "b never took the expired lease");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(second.epoch, first.epoch + 1);
    assert!(second.previous_left_ms <= 0, "the old lease had run out");

    // a wakes up: its epoch writes nothing and cannot renew.
    match fenced_write(&a, first.epoch) {
        Err(DbError::Fenced { epoch }) => assert_eq!(epoch, first.epoch),
        other => panic!("an old epoch's write was not fenced: {other:?}"),
    }
    let renewed = block_on(a.write(move |tx| cluster::renew(tx, "a", first.epoch, 60_000)));
    assert!(!renewed.expect("renew"), "an old epoch renewed the lease");
    assert!(take(&a, "a", 60_000).is_none(), "a took b's live lease");
    fenced_write(&b, second.epoch).expect("the new leader writes");
}

#[test]
fn a_node_started_again_takes_its_own_lease_at_once_under_a_new_epoch() {
    let Some((old, new)) = two_hosts() else {
        return;
    };
    let first = take(&old, "a", 60_000).expect("take");
    // The same node name again: its previous process is gone (its name's lock was
    // free), so the lease is taken without waiting, and the epoch moves on.
    let again = take(&new, "a", 60_000).expect("a's new process takes its lease");
    assert_eq!(again.epoch, first.epoch + 1);
    let previous = again.previous.as_ref().expect("the previous holder");
    assert_eq!(
        (
            previous.node.as_str(),
            previous.host.as_deref(),
            previous.pid
        ),
        ("a", Some("test-host"), Some(1))
    );
    assert!(
        again.previous_left_ms > 50_000,
        "the rest of the old lease is what the new leader waits out: {}",
        again.previous_left_ms
    );
    assert!(matches!(
        fenced_write(&old, first.epoch),
        Err(DbError::Fenced { .. })
    ));
}

#[test]
fn a_released_lease_is_taken_at_once() {
    let Some((a, b)) = two_hosts() else { return };
    let first = take(&a, "a", 60_000).expect("take");
    block_on(a.write(move |tx| cluster::release(tx, "a", first.epoch))).expect("release");
    let second = take(&b, "b", 60_000).expect("b takes a released lease at once");
    assert_eq!(second.epoch, first.epoch + 1);
    assert!(second.previous_left_ms <= 0);
}

/// A numhubd from before several hosts holds the whole database under its bare name
/// and knows no lease: an upgraded daemon (or an offline command) starting beside it
/// is refused, so two senders never run on one database during an upgrade.
#[test]
fn a_daemon_of_the_version_before_the_lease_keeps_the_database_to_itself() {
    use mysql_async::prelude::Queryable;
    if !available() {
        return;
    }
    let db = fresh_database();
    let location = db.location();
    // The older daemon's lock, on a session of its own.
    let mut old = block_on(mysql_async::Conn::new(db.opts_via(db.port))).expect("connect");
    let got: Option<i64> =
        block_on(old.query_first(format!("SELECT GET_LOCK('numhubd:{}', 0)", db.name)))
            .expect("lock")
            .flatten();
    assert_eq!(got, Some(1));
    for claim in [
        numhubd::db::Claim::Node("a".into()),
        numhubd::db::Claim::Offline,
    ] {
        match numhubd::db::hold(&location, claim.clone()) {
            Err(e @ DbError::InUse { .. }) => {
                assert!(e.to_string().contains("an older version"), "{e}")
            }
            Err(e) => panic!("{claim:?}: {e}"),
            Ok(_) => panic!("{claim:?} held the database beside an older numhubd"),
        }
    }
    block_on(old.disconnect()).expect("disconnect");
    assert!(numhubd::db::hold(&location, numhubd::db::Claim::Node("a".into())).is_ok());
}
