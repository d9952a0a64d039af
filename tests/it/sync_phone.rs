//! Phone numbers in NumHub's form (issue #14 item 2), with the real daemon and a
//! sandbox on loopback generating the document's example form (`818-444-5555`): every
//! number reaches the replica as E.164, quiet cycles fetch no identity again (also with
//! a number that cannot be read, which is counted instead), and numbers are sent in
//! `[numhub] phone_format`.

use serde_json::{json, Value};

use crate::poller_support::{cycles, requests, world, World};
use crate::rpc_client::ok;
use crate::support::{wait_until, TIMEOUT};

const IDENTITY_FETCH: &str = "GET /api/v1/applications/newidentities/{NumhubIdentityId}";

fn numbers_of(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The identity fetches over 5 quiet cycles after the replica settled.
fn fetches_over_five_quiet_cycles(w: &World) -> u64 {
    cycles(w, 1);
    let before = requests(w, IDENTITY_FETCH);
    cycles(w, 6);
    requests(w, IDENTITY_FETCH) - before
}

#[test]
fn dashed_numbers_reach_the_replica_as_e164_and_quiet_cycles_fetch_nothing() {
    let w = world(3, "");
    let at_numhub: Vec<String> = w.sandbox.state()["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .flat_map(|i| numbers_of(i, "phoneNumbers"))
        .collect();
    assert_eq!(at_numhub.len(), 6);
    assert!(
        at_numhub
            .iter()
            .all(|n| n.len() == 12 && n.as_bytes()[3] == b'-'),
        "the sandbox generates the document's form: {at_numhub:?}"
    );
    w.enable_tenant();
    let want: Vec<String> = at_numhub
        .iter()
        .map(|n| format!("+1{}", n.replace('-', "")))
        .collect();
    assert!(
        wait_until(TIMEOUT, || {
            let mut local: Vec<String> = w
                .identities()
                .iter()
                .flat_map(|i| numbers_of(i, "phone_numbers"))
                .collect();
            let mut want = want.clone();
            local.sort();
            want.sort();
            local == want
        }),
        "replica: {:?}, NumHub: {at_numhub:?}\n{}",
        w.identities(),
        w.daemon.stderr()
    );
    assert_eq!(
        fetches_over_five_quiet_cycles(&w),
        0,
        "quiet cycles fetched identities again"
    );
    let status = ok(&w.socket(), "daemon.status", json!({}));
    assert_eq!(status["sync_anomalies"], 0, "{status}");
}

#[test]
fn an_unreadable_number_is_counted_and_logged_not_fetched_every_cycle() {
    let w = world(1, "");
    w.enable_tenant();
    assert!(
        wait_until(TIMEOUT, || w.identities().len() == 1),
        "{}",
        w.daemon.stderr()
    );
    let iid = w.identities()[0]["numhub_identity_id"]
        .as_str()
        .expect("iid")
        .to_string();
    // Three numbers where there were two: the list's count tells the poller to look.
    w.admin(
        &format!("/__sandbox/identities/{iid}"),
        json!({"phoneNumbers": ["(818) 444-5555", "818 444 5556", "818-444-5555 ext. 9"]}),
    );
    ok(&w.socket(), "sync.run", json!({}));
    assert!(
        wait_until(TIMEOUT, || numbers_of(&w.identities()[0], "phone_numbers")
            == ["+18184445555", "+18184445556"]),
        "{:?}\n{}",
        w.identities(),
        w.daemon.stderr()
    );
    let log = w.daemon.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("phone number") && l.contains(&iid) && l.contains("ext. 9")),
        "the unreadable number is logged with its identity:\n{log}"
    );
    let status = ok(&w.socket(), "daemon.status", json!({}));
    assert!(
        status["sync_anomalies"].as_u64().unwrap_or(0) >= 1,
        "{status}"
    );
    assert_eq!(
        fetches_over_five_quiet_cycles(&w),
        0,
        "an identity with an unreadable number was fetched again every cycle"
    );
}

fn numbers_sent_in(format: &str, added: &str, want: &str) {
    let World {
        rt,
        sandbox,
        daemon,
    } = world(1, "");
    let text = std::fs::read_to_string(daemon.config_path()).expect("config");
    let text = text.replace(
        "max_attempts = 3",
        &format!("max_attempts = 3\nphone_format = \"{format}\""),
    );
    let w = World {
        rt,
        sandbox,
        daemon: daemon.restart_with(&text),
    };
    w.enable_tenant();
    assert!(
        wait_until(TIMEOUT, || w.identities().len() == 1),
        "{}",
        w.daemon.stderr()
    );
    let id = w.identities()[0]["id"].clone();
    ok(
        &w.socket(),
        "identity.numbers.add",
        json!({"tenant_id": 1, "id": id, "phone_numbers": [added]}),
    );
    let at_numhub = || numbers_of(&w.sandbox.state()["identities"][0], "phoneNumbers");
    assert!(
        wait_until(TIMEOUT, || at_numhub().len() == 3),
        "never reached NumHub: {:?}\n{}",
        at_numhub(),
        w.daemon.stderr()
    );
    assert!(at_numhub().contains(&want.to_string()), "{:?}", at_numhub());
    ok(
        &w.socket(),
        "identity.numbers.remove",
        json!({"tenant_id": 1, "id": id, "phone_numbers": [added]}),
    );
    assert!(
        wait_until(TIMEOUT, || at_numhub().len() == 2),
        "never removed at NumHub: {:?}\n{}",
        at_numhub(),
        w.daemon.stderr()
    );
}

#[test]
fn numbers_are_sent_dashed_by_phone_format() {
    numbers_sent_in("dashed", "+18184445555", "818-444-5555");
}

#[test]
fn numbers_are_sent_as_digits_by_phone_format() {
    numbers_sent_in("digits", "+18184445555", "8184445555");
}
