//! A COMMIT whose answer is lost (#24): on a network database a COMMIT can succeed
//! while its answer never arrives. numhubd must never tell a caller "failed" for a
//! write that is in the database (a retry would duplicate a create), nor "ok" for one
//! that is not. The daemon reaches its MariaDB through the cut proxy
//! (`cut_proxy`), which loses the answer of the next COMMIT (or the COMMIT itself)
//! whenever a test arms it.
//!
//! MariaDB only: on SQLite a commit is a local call with nothing to lose in between
//! (these tests skip there, saying so).

use std::time::Duration;

use serde_json::{json, Value};

use crate::cut_proxy::CutProxy;
use crate::rpc_client::{add_tenant, call, ok};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{application, settle_within, Harness};
use crate::test_engine::{self, TestStore};

/// Armings per test: enough that a cut lands on the write of a call, not only on
/// a background transaction that happened to commit first.
const ROUNDS: usize = 5;

fn network_database() -> bool {
    let on = test_engine::on_mariadb();
    if !on {
        eprintln!(
            "skipped: a lost COMMIT answer needs a network database \
             ({}=mariadb)",
            test_engine::ENV
        );
    }
    on
}

/// A harness whose daemon reaches its database through a fresh cut proxy.
fn harness_through_proxy() -> (Harness, CutProxy) {
    let h = Harness::new(3);
    let TestStore::Mariadb(db) = h.store() else {
        unreachable!("on MariaDB")
    };
    let proxy = CutProxy::start(db.port);
    h.edit_config(&db.url_tcp, &proxy.url_for(&db));
    (h, proxy)
}

/// Arms the proxy, makes the call, and waits until the armed COMMIT was cut (the
/// call's own, or a background one's that came first).
fn with_cut(proxy: &CutProxy, f: impl FnOnce() -> Value) -> Value {
    let before = proxy.commits_cut();
    proxy.arm();
    let answer = f();
    assert!(
        wait_until(TIMEOUT, || proxy.commits_cut() > before),
        "the armed COMMIT never came through the proxy"
    );
    answer
}

#[test]
fn creates_whose_commit_answer_is_lost_are_answered_ok_stored_once_and_sent_once() {
    if !network_database() {
        return;
    }
    let (mut h, proxy) = harness_through_proxy();
    assert!(h.start(&[]), "{}", h.all_stderr());
    h.tenant(true);
    let socket = h.socket();
    for round in 0..ROUNDS {
        let name = format!("Lost Answer {round} LLC");
        let answer = with_cut(&proxy, || {
            call(
                &socket,
                "entity.create",
                json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": name,
                       "application": application(&name), "submit": true}),
            )
        });
        assert!(
            answer["result"]["id"].is_string(),
            "round {round}: a create whose COMMIT may have happened was answered {answer}; {}",
            h.all_stderr()
        );
    }
    assert_eq!(
        h.store()
            .count("SELECT COUNT(*) FROM numhub_entities WHERE company_name LIKE 'Lost Answer %'"),
        ROUNDS as i64,
        "each create stored once"
    );
    settle_within(&h, Duration::from_secs(60));
    let at_numhub = h.companies_at_numhub();
    let want: Vec<String> = (0..ROUNDS)
        .map(|r| format!("Lost Answer {r} LLC"))
        .collect();
    assert_eq!(at_numhub, want, "each create sent to NumHub once");
}

/// Both halves of the rule with writes that leave no trace elsewhere: the answer is
/// "ok" exactly when the row is in the database, whether the answer or the COMMIT
/// itself was lost.
#[test]
fn an_answer_is_ok_exactly_when_the_write_is_in_the_database() {
    if !network_database() {
        return;
    }
    let (mut h, proxy) = harness_through_proxy();
    assert!(h.start(&[]), "{}", h.all_stderr());
    let socket = h.socket();
    add_tenant(&socket, 1, "warm");
    for round in 0..2 * ROUNDS {
        let id = 100 + round as i64;
        let before = proxy.commits_cut();
        if round % 2 == 0 {
            proxy.arm();
        } else {
            proxy.arm_before_commit();
        }
        let answer = call(
            &socket,
            "tenant.upsert",
            json!({"id": id, "name": format!("round {round}")}),
        );
        assert!(
            wait_until(TIMEOUT, || proxy.commits_cut() > before),
            "the armed COMMIT never came through the proxy"
        );
        let stored = h
            .store()
            .count(&format!("SELECT COUNT(*) FROM tenants WHERE id = {id}"));
        assert!(stored <= 1);
        assert_eq!(
            answer.get("result").is_some(),
            stored == 1,
            "round {round}: answered {answer} with {stored} row(s) stored; {}",
            h.all_stderr()
        );
    }
    // The daemon is still whole: health, and a write with nothing armed.
    assert_eq!(ok(&socket, "daemon.health", json!({}))["ok"], true);
    add_tenant(&socket, 2, "after");
}
