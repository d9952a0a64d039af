//! One budget across hosts: a backlog of uploads queued on all three hosts while
//! callers on each host make interactive NumHub calls (`entity.refresh`). NumHub (the
//! sandbox, 20 requests per 2-second window for the account) refuses nothing, no
//! window holds more than the limit, and the windows while the backlog lasts use at
//! least 95 % of it.

use std::time::Duration;

use serde_json::json;

use crate::cluster_support::{available, Cluster, Options};
use crate::rpc_client::call;
use crate::support::wait_until;
use crate::sync_support::{create_entity, upload, write_pdf};

const LIMIT: u32 = 20;
const WINDOW_SECS: u64 = 2;

#[test]
fn hosts_together_stay_under_numhubs_limit_and_use_it() {
    if !available() {
        return;
    }
    let stress = crate::cluster_support::stress();
    let (uploads_per_host, calls_per_host) = if stress { (80, 20) } else { (25, 8) };
    let c = Cluster::start(Options {
        rate_limit: LIMIT,
        rate_window: Duration::from_secs(WINDOW_SECS),
        numhub_rate: (LIMIT, WINDOW_SECS),
        ..Options::default()
    });
    c.tenant(0, true);
    let hosts = c.hosts.len();
    let entities: Vec<String> = (0..hosts)
        .map(|h| create_entity(&c.socket(h), &format!("Budget {h} LLC"), false).expect("entity"))
        .collect();
    assert!(
        wait_until(Duration::from_secs(60), || c.all_jobs_done()),
        "creates not sent; {}",
        c.stderr()
    );
    // The backlog, on every host.
    for (h, id) in entities.iter().enumerate() {
        for k in 0..uploads_per_host {
            let dir = c.hosts[h].dir.path().to_path_buf();
            let (path, _) = write_pdf(&dir, &format!("b{k}.pdf"), 4_000, (h * 1000 + k) as u64);
            upload(&c.socket(h), id, &path).expect("upload queued");
        }
    }
    // Interactive callers on every host, meanwhile.
    let callers: Vec<_> = entities
        .iter()
        .enumerate()
        .map(|(h, id)| {
            let (socket, id) = (c.socket(h), id.clone());
            std::thread::spawn(move || {
                (0..calls_per_host)
                    .filter(|_| {
                        let r = call(
                            &socket,
                            "entity.refresh",
                            json!({"tenant_id": 1, "entity_id": id}),
                        );
                        r.get("result").is_none()
                    })
                    .count()
            })
        })
        .collect();
    let failed: usize = callers.into_iter().map(|t| t.join().expect("caller")).sum();
    assert!(
        wait_until(Duration::from_secs(120), || c.all_jobs_done()),
        "backlog not drained; {}",
        c.stderr()
    );
    let (closed, current) = c.windows();
    eprintln!(
        "cluster budget: {LIMIT} per {WINDOW_SECS} s; windows {closed:?} + open {current}; \
         {} x 429; {failed} interactive calls failed",
        c.refused_429()
    );
    assert_eq!(c.refused_429(), 0, "NumHub refused requests");
    assert_eq!(failed, 0, "interactive calls failed");
    assert!(closed.iter().all(|n| *n <= u64::from(LIMIT)));
    // The first window holds the start (logins, the creates), the last the drain.
    let busy = closed.get(1..closed.len().saturating_sub(1)).unwrap_or(&[]);
    assert!(busy.len() >= 2, "too few busy windows: {closed:?}");
    let used: u64 = busy.iter().sum();
    let share = used as f64 / (busy.len() as f64 * f64::from(LIMIT));
    assert!(
        share >= 0.95,
        "the busy windows used {share:.3} of the budget: {closed:?}"
    );
}
