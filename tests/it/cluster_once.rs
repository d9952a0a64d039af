//! Exactly once across hosts: creates and uploads sent to all three hosts' sockets
//! while the leader is killed again and again — at random instants and at the named
//! kill points (`after_send`, `mid_upload`) armed on the host that takes over — reach
//! NumHub once each, none missing; and a file dropped on a follower that is killed
//! right after taking it reaches NumHub once, sent by the leader from the shared spool
//! (the dead host's folder moved out of reach meanwhile).
//!
//! Default: a short run. `NUMHUBD_STRESS=1` runs more rounds;
//! `NUMHUBD_CRASH_SEED=N` picks the seed (printed on failure).

use std::collections::BTreeMap;
use std::time::Duration;

use numhub_sandbox::Faults;
use numhubd::watch::layout;

use crate::cluster_support::stress;
use crate::cluster_support::{available, Cluster, Options};
use crate::drop_support::{pdf, sha};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{create_entity, upload, write_pdf};

#[test]
fn creates_and_uploads_on_three_hosts_reach_numhub_once_through_leader_kills() {
    if !available() {
        return;
    }
    let seed = crate::support::seed_from_env("NUMHUBD_CRASH_SEED", 0xc1_u64 << 32 | 0x5eed);
    let rounds = if stress() { 15 } else { 6 };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut c = Cluster::start(Options::default());
    c.sandbox.set_faults(Faults {
        seed,
        p_reset_after_create: 0.1,
        latency_ms: 5,
        ..Faults::default()
    });
    c.tenant(0, true);
    let (mut names, mut docs) = (Vec::new(), Vec::new());
    let mut named_hits = BTreeMap::<&str, usize>::new();
    for round in 0..rounds {
        let leader = c.wait_leader(TIMEOUT);
        match round % 3 {
            0 => {
                queue_round(&mut c, &mut rng, round, &mut names, &mut docs);
                let target = c.requests() + rng.u64(1..=3);
                wait_until(TIMEOUT, || c.requests() >= target || c.all_jobs_done());
                assert!(c.restart(leader.host, &[]), "restart; {}", c.stderr());
            }
            r => {
                // The work is queued after the leader's death, so the host that takes
                // over is the one that carries it (and meets the point).
                let point = if r == 1 { "after_send" } else { "mid_upload" };
                let armed = format!("{point}:{}", rng.u32(1..=2));
                let followers = arm_followers(&mut c, leader.host, &armed);
                c.kill9(leader.host);
                queue_round(&mut c, &mut rng, round, &mut names, &mut docs);
                if wait_until(TIMEOUT, || followers.iter().any(|f| !c.is_alive(*f))) {
                    *named_hits.entry(point).or_default() += 1;
                }
                for i in 0..c.hosts.len() {
                    assert!(c.restart(i, &[]), "restart; {}", c.stderr());
                }
            }
        }
    }
    c.sandbox.set_faults(Faults::default());
    assert!(
        wait_until(Duration::from_secs(90), || c.all_jobs_done()),
        "not drained; seed {seed}; {}",
        c.stderr()
    );
    eprintln!(
        "cluster exactly-once: seed {seed}, {rounds} rounds, named kill points hit {named_hits:?}"
    );
    assert!(
        named_hits.contains_key("after_send"),
        "after_send never fired"
    );
    names.sort();
    docs.sort();
    assert_eq!(
        c.applications(),
        names,
        "applications at NumHub; seed {seed}"
    );
    assert_eq!(c.documents(), docs, "documents at NumHub; seed {seed}");
}

/// The `k`-th host in turn that is up.
fn up_host(c: &mut Cluster, k: usize) -> usize {
    let n = c.hosts.len();
    (0..n)
        .map(|j| (k + j) % n)
        .find(|i| c.hosts[*i].is_up())
        .expect("a host is up")
}

/// Creates and uploads (one each per `per_round`) on the hosts that are up, in turn.
fn queue_round(
    c: &mut Cluster,
    rng: &mut fastrand::Rng,
    round: usize,
    names: &mut Vec<String>,
    docs: &mut Vec<String>,
) {
    let per_round = if stress() { 6 } else { 3 };
    for k in 0..per_round {
        let host = up_host(c, k);
        let name = format!("Once R{round} E{k} LLC");
        let id = create_entity(&c.socket(host), &name, rng.bool())
            .unwrap_or_else(|| panic!("create refused; {}", c.stderr()));
        let file = format!("r{round}-e{k}.pdf");
        let size = rng.usize(70_000..200_000);
        let (path, sha) = write_pdf(c.hosts[host].dir.path(), &file, size, rng.u64(..));
        upload(&c.socket(host), &id, &path)
            .unwrap_or_else(|| panic!("upload refused; {}", c.stderr()));
        names.push(name);
        docs.push(sha);
    }
}

/// Restarts every follower with `armed` (a kill point); their indexes.
fn arm_followers(c: &mut Cluster, leader: usize, armed: &str) -> Vec<usize> {
    let followers: Vec<usize> = (0..c.hosts.len()).filter(|i| *i != leader).collect();
    for &f in &followers {
        assert!(
            c.restart(f, &[(numhubd::killpoint::ENV, armed)]),
            "restart armed; {}",
            c.stderr()
        );
    }
    followers
}

/// A file dropped on a follower, which is SIGKILLed as soon as the file is taken
/// (registered in the shared store), reaches NumHub once without that host coming
/// back; when it does come back, the file leaves its inbox and is not sent again.
#[test]
fn a_file_taken_by_a_follower_killed_at_once_reaches_numhub_once() {
    if !available() {
        return;
    }
    let mut c = Cluster::start(Options {
        hosts: 2,
        ..Options::default()
    });
    c.tenant(0, true);
    let leader = c.wait_leader(TIMEOUT);
    let f = 1 - leader.host;
    let name = "Dropped On Follower LLC";
    let id = create_entity(&c.socket(f), name, true).expect("entity");
    let rel = std::path::PathBuf::from(layout::tenant_dir_name(1, None))
        .join(layout::entity_dir_name(&id, name))
        .join("other");
    let inbox = c.hosts[f].drop_dir().join(&rel);
    assert!(
        wait_until(TIMEOUT, || inbox.is_dir()),
        "no entity folder on the follower; {}",
        c.stderr()
    );
    // NumHub work for the tenant held back, so only the store can carry the file on.
    assert!(wait_until(TIMEOUT, || c.all_jobs_done()), "{}", c.stderr());
    c.tenant(leader.host, false);
    let bytes = pdf(25, 150_000);
    let digest = sha(&bytes);
    let staged = c.hosts[f].dir.path().join("staged.pdf");
    std::fs::write(&staged, &bytes).expect("stage");
    std::fs::rename(&staged, inbox.join("loa.pdf")).expect("drop");
    let taken = format!("SELECT COUNT(*) FROM documents WHERE sha256 = '{digest}'");
    assert!(
        wait_until(TIMEOUT, || c.rows(&taken)[0][0].as_deref() == Some("1")),
        "the follower never took the file; {}",
        c.stderr()
    );
    c.kill9(f);
    // On one machine the leader could read the dead host's files (its spool, the
    // dropped original); on two it could not: its folder is out of reach until it
    // comes back.
    let folder = c.hosts[f].dir.path().to_path_buf();
    let away = folder.with_extension("away");
    std::fs::rename(&folder, &away).expect("move the follower's folder away");
    let at_numhub = |c: &Cluster| c.documents().iter().filter(|d| **d == digest).count();
    assert_eq!(at_numhub(&c), 0, "sent while the tenant was held back");
    c.tenant(leader.host, true);
    let sent = wait_until(TIMEOUT, || at_numhub(&c) >= 1);
    std::fs::rename(&away, &folder).expect("put the folder back");
    assert!(
        sent,
        "the leader did not send the follower's file (from the shared store); {}",
        c.stderr()
    );
    assert!(c.start_host(f, &[]), "{}", c.stderr());
    let processed = c.hosts[f]
        .drop_dir()
        .join(layout::PROCESSED)
        .join(&rel)
        .join("loa.pdf");
    assert!(
        wait_until(TIMEOUT, || processed.is_file()),
        "the file did not leave the follower's inbox; {}",
        c.stderr()
    );
    assert_eq!(at_numhub(&c), 1, "sent more than once");
}
