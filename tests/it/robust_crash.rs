//! Crash under load (#15): the real daemon is SIGKILLed while client threads keep RPC
//! writes in flight (`tenant.upsert`, `brand.upsert`, `entity.create`, and writes the
//! daemon must refuse), at seeded moments: after a random number of acknowledged
//! writes. Each call is recorded as acknowledged, refused or unanswered. After the last
//! restart every acknowledged write is in the file, no refused one is, and the file
//! passes `PRAGMA integrity_check`. Unanswered calls may have landed either way.
//!
//! Default: 4 kills; `NUMHUBD_STRESS=1`: 25. `NUMHUBD_CRASH_SEED=N` picks the seed.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::rpc_client::try_post;
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{application, Harness};

const THREADS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Tenant,
    Brand,
    Entity,
}

#[derive(Default)]
struct Record {
    acked: BTreeSet<(Kind, String)>,
    refused: BTreeSet<(Kind, String)>,
    unanswered: u64,
    /// Calls sent (the socket took them).
    tried: u64,
    /// Refused calls that were answered with a result: a refusal that wrote.
    accepted_bad: Vec<String>,
}

#[test]
fn kill_9_under_rpc_writes_keeps_every_acknowledged_write_and_no_refused_one() {
    let stress = std::env::var_os("NUMHUBD_STRESS").is_some();
    let seed = crate::support::seed_from_env("NUMHUBD_CRASH_SEED", 0x15_c4a5);
    let kills = if stress { 25 } else { 4 };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = Harness::new(1);
    assert!(h.start(&[]));
    h.tenant(false);
    let record = Arc::new(Mutex::new(Record::default()));
    let serial = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let context = |h: &Harness| format!("seed {seed}\n{}", h.all_stderr());

    for kill in 0..=kills {
        if kill > 0 {
            assert!(h.start(&[]), "restart {kill}: {}", context(&h));
        }
        if kill == kills {
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (socket, stop, record, serial, acked) = (
                    h.socket(),
                    stop.clone(),
                    record.clone(),
                    serial.clone(),
                    acked.clone(),
                );
                let mut rng = fastrand::Rng::with_seed(seed ^ (kill as u64) << 8 ^ t as u64);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let n = serial.fetch_add(1, Ordering::SeqCst);
                        let (kind, key, bad, body) = write_call(&mut rng, n);
                        // Not connected: the daemon is down and the call was never sent.
                        let Some((_, a)) = try_post(&socket, body.to_string().as_bytes()) else {
                            continue;
                        };
                        let mut r = record.lock().unwrap_or_else(|e| e.into_inner());
                        r.tried += 1;
                        match a {
                            a if a.get("result").is_some() => {
                                if bad {
                                    r.accepted_bad.push(format!("{key}: {a}"));
                                }
                                r.acked.insert((kind, key));
                                acked.fetch_add(1, Ordering::SeqCst);
                            }
                            a if a.get("error").is_some() => {
                                r.refused.insert((kind, key));
                            }
                            _ => r.unanswered += 1,
                        }
                    }
                })
            })
            .collect();
        // The kill lands after a seeded number of acknowledged writes: mid-stream.
        let target = acked.load(Ordering::SeqCst) + rng.u64(5..60);
        let reached = wait_until(TIMEOUT, || acked.load(Ordering::SeqCst) >= target);
        h.kill9();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().expect("worker");
        }
        assert!(
            reached,
            "no acknowledged writes before kill {kill}: {}",
            context(&h)
        );
    }
    h.stop();

    let r = record.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        r.accepted_bad.is_empty(),
        "bad writes accepted: {:?}",
        r.accepted_bad
    );
    let store = h.store();
    if let crate::test_engine::TestStore::File(_) = store {
        assert_eq!(store.value("PRAGMA integrity_check").as_deref(), Some("ok"));
    }
    let in_file = |kind: Kind, key: &str| -> bool {
        let (table, column) = match kind {
            Kind::Tenant => ("tenants", "name"),
            Kind::Brand => ("brands", "name"),
            Kind::Entity => ("numhub_entities", "company_name"),
        };
        let key = key.replace('\'', "''");
        store.count(&format!(
            "SELECT COUNT(*) FROM {table} WHERE {column} = '{key}'"
        )) > 0
    };
    let lost: Vec<_> = r
        .acked
        .iter()
        .filter(|(k, key)| !in_file(*k, key))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged, not in the file: {lost:?}; {}",
        context(&h)
    );
    let kept: Vec<_> = r
        .refused
        .iter()
        .filter(|(k, key)| in_file(*k, key))
        .collect();
    assert!(
        kept.is_empty(),
        "refused, yet in the file: {kept:?}; {}",
        context(&h)
    );
    assert!(!h.all_stderr().contains("panicked"), "{}", context(&h));
    eprintln!(
        "robust_crash: seed {seed}: {kills} kills, {} writes sent: {} acknowledged (all in the file), \
         {} refused (none in the file), {} unanswered",
        r.tried,
        r.acked.len(),
        r.refused.len(),
        r.unanswered
    );
}

/// One write: its kind, the name that finds its row, whether the daemon must refuse
/// it, and the request. A quarter are refused (a bidirectional override in a shown
/// name, an unknown field).
fn write_call(rng: &mut fastrand::Rng, n: u64) -> (Kind, String, bool, Value) {
    let bad = rng.u8(0..4) == 0;
    let key = format!("w{n}");
    let shown = if bad {
        format!("{key}\u{202e}")
    } else {
        key.clone()
    };
    let (kind, params) = match rng.u8(0..3) {
        0 => (
            Kind::Tenant,
            json!({"id": 1000 + n, "name": key, "numhub_enabled": false,
                   "zz_unknown": if bad { json!(1) } else { Value::Null }}),
        ),
        1 => (
            Kind::Brand,
            json!({"tenant_id": 1, "name": key, "display_name": shown}),
        ),
        _ => (
            Kind::Entity,
            json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": shown,
                   "application": application(&key), "submit": false}),
        ),
    };
    let mut params = params;
    if kind == Kind::Tenant && !bad {
        if let Some(o) = params.as_object_mut() {
            o.remove("zz_unknown");
        }
    }
    let method = match kind {
        Kind::Tenant => "tenant.upsert",
        Kind::Brand => "brand.upsert",
        Kind::Entity => "entity.create",
    };
    // Entities are found by the name without the override; a refused one must not
    // exist under either spelling, and the override spelling is what was sent.
    let key = if kind == Kind::Entity { shown } else { key };
    (
        kind,
        key,
        bad,
        json!({"jsonrpc": "2.0", "id": n, "method": method, "params": params}),
    )
}
