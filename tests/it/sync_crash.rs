//! Crash safety of the outbox: the real daemon is SIGKILLed at seeded random instants
//! (and at the named kill points `after_send` and `mid_upload`) while it carries a
//! workload of creates and uploads to a sandbox that also injects faults. After every
//! kill it is restarted on the same folder. At the end NumHub holds exactly one
//! application per create and one document per upload (by SHA-256), the local rows
//! match it, the database passes `PRAGMA integrity_check`, and every job is done
//! exactly once.
//!
//! Default: a short run. `NUMHUBD_STRESS=1` runs a longer one;
//! `NUMHUBD_CRASH_SEED=N` picks the seed (printed on failure).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use numhub_sandbox::Faults;
use serde_json::json;

use crate::rpc_client::ok;

use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{create_entity, upload, write_pdf, Harness};

struct Expected {
    /// company name → local entity id
    entities: BTreeMap<String, String>,
    /// (company name, file SHA-256)
    documents: BTreeSet<(String, String)>,
}

#[test]
fn kill_9_at_any_instant_loses_and_duplicates_nothing() {
    let stress = std::env::var_os("NUMHUBD_STRESS").is_some();
    let seed = crate::support::seed_from_env("NUMHUBD_CRASH_SEED", 0x5eed_6006);
    let (batches, per_batch, random_kills_per_batch) = if stress { (40, 6, 5) } else { (5, 4, 4) };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = Harness::new(5);
    h.set_faults(Faults {
        seed,
        p503: 0.02,
        p_reset: 0.02,
        p_reset_after_create: 0.15,
        // A little latency keeps requests in flight long enough for kills to land
        // inside them.
        latency_ms: 5,
        ..Faults::default()
    });
    assert!(h.start(&[]));
    h.tenant(true);
    let mut expected = Expected {
        entities: BTreeMap::new(),
        documents: BTreeSet::new(),
    };
    let mut busy_kills = 0usize;
    let (mut random_kills, mut named_hits) = (0usize, BTreeMap::<&str, usize>::new());
    let context = |h: &Harness| format!("seed {seed}\n{}", h.all_stderr());

    for batch in 0..batches {
        // The tenant is held back while a batch is queued, so that the kills below
        // land in the middle of the outbox's work on it.
        h.tenant(false);
        // The workload: creates, each with one or two uploads (> 64 KiB, so a
        // streamed body has a middle to die in).
        for i in 0..per_batch {
            let name = format!("Crash {seed:x} B{batch} E{i} LLC");
            let id = create_entity(&h.socket(), &name, rng.bool())
                .unwrap_or_else(|| panic!("create refused; {}", context(&h)));
            for k in 0..rng.usize(1..=2) {
                let file = format!("b{batch}-e{i}-d{k}.pdf");
                let (path, sha) =
                    write_pdf(h.dir.path(), &file, rng.usize(70_000..200_000), rng.u64(..));
                upload(&h.socket(), &id, &path)
                    .unwrap_or_else(|| panic!("upload refused; {}", context(&h)));
                expected.documents.insert((name.clone(), sha));
            }
            expected.entities.insert(name, id);
        }
        // Named kill points, each armed on a fresh batch of pending work.
        let named = match batch % 3 {
            0 => Some("after_send"),
            1 => Some("mid_upload"),
            _ => None,
        };
        if let Some(point) = named {
            h.kill9();
            let armed = format!("{point}:{}", rng.u32(1..=3));
            assert!(h.start(&[(numhubd::killpoint::ENV, armed.as_str())]));
            // Enabling the tenant releases the batch; the daemon may die before it
            // answers.
            h.enable_tenant_racing_a_kill();
            let died = h.wait_exit(TIMEOUT);
            assert!(died, "{armed} never fired; {}", context(&h));
            let msg = format!("kill point {point} reached");
            assert!(h.stderr_of(h.runs).contains(&msg), "{}", context(&h));
            *named_hits.entry(point).or_default() += 1;
            assert!(h.start(&[]), "restart after {armed}");
        }
        h.tenant(true);
        // Random kills: after a random number of further requests reach the sandbox
        // (so they land inside the outbox's work), or once it has gone quiet.
        for _ in 0..random_kills_per_batch {
            let target = h.total_requests() + rng.u64(1..=3);
            wait_until(TIMEOUT, || {
                h.total_requests() >= target || h.all_jobs_done()
            });
            if !h.all_jobs_done() {
                busy_kills += 1;
            }
            h.kill9();
            random_kills += 1;
            assert!(h.start(&[]), "restart; {}", context(&h));
        }
    }
    h.set_faults(Faults::default());
    assert!(
        wait_until(Duration::from_secs(60), || h.all_jobs_done()),
        "not drained: {:?}; {}",
        h.jobs()
            .iter()
            .filter(|j| j["state"] != "done")
            .collect::<Vec<_>>(),
        context(&h)
    );
    let jobs = h.jobs();
    h.stop();
    let logs = h.all_stderr();
    let settled_by_look = logs.matches("had reached NumHub; not resending").count();
    let kills = random_kills + named_hits.values().sum::<usize>();
    eprintln!("crash test: seed {seed}, {kills} kills ({random_kills} random of which {busy_kills} with jobs unfinished, {named_hits:?}), {} daemon runs, {settled_by_look} interrupted sends found at NumHub instead of resent", h.runs);
    assert!(kills >= 20);
    assert!(
        settled_by_look >= 1,
        "no kill exercised the look-before-resend path"
    );
    assert!(
        busy_kills >= random_kills / 2,
        "most random kills must hit work in progress"
    );
    assert!(named_hits.get("after_send").is_some_and(|n| *n >= 1));
    assert!(named_hits.get("mid_upload").is_some_and(|n| *n >= 1));

    // NumHub: exactly the expected applications and documents.
    let st = h.state();
    let apps = st["entities"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<String> = apps
        .iter()
        .filter_map(|a| a["companyName"].as_str().map(String::from))
        .collect();
    names.sort();
    let want: Vec<String> = expected.entities.keys().cloned().collect();
    assert_eq!(names, want, "applications at NumHub; seed {seed}");
    let nid_to_name: BTreeMap<String, String> = apps
        .iter()
        .filter_map(|a| {
            Some((
                a["numhubEntityId"].as_str()?.to_string(),
                a["companyName"].as_str()?.to_string(),
            ))
        })
        .collect();
    let mut docs: Vec<(String, String)> = st["documents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|d| {
            Some((
                nid_to_name.get(d["numhubEntityId"].as_str()?)?.clone(),
                d["sha256"].as_str()?.to_string(),
            ))
        })
        .collect();
    docs.sort();
    let want_docs: Vec<(String, String)> = expected.documents.iter().cloned().collect();
    assert_eq!(
        docs, want_docs,
        "documents at NumHub (by SHA-256); seed {seed}"
    );

    // The local database matches, is intact, and every job ran exactly once.
    let store = h.store();
    if let crate::test_engine::TestStore::File(_) = store {
        assert_eq!(store.value("PRAGMA integrity_check").as_deref(), Some("ok"));
    }
    for (name, local) in &expected.entities {
        let nid = store.value(&format!(
            "SELECT numhub_entity_id FROM numhub_entities WHERE id = '{local}'"
        ));
        assert_eq!(nid_to_name.get(nid.as_deref().unwrap_or("")), Some(name));
    }
    let mut local_docs: Vec<(String, String)> = store
        .rows(
            "SELECT e.company_name, l.sha256, d.status, d.numhub_document_id FROM numhub_documents d
             JOIN numhub_entities e ON e.id = d.numhub_entity_id JOIN documents l ON l.id = d.local_document_id",
        )
        .into_iter()
        .map(|r| match &r[..] {
            [Some(name), Some(sha), Some(status), nd] => {
                assert_eq!(status, "uploaded");
                assert!(nd.is_some());
                (name.clone(), sha.clone())
            }
            other => panic!("document row {other:?}"),
        })
        .collect();
    local_docs.sort();
    assert_eq!(local_docs, want_docs, "local documents");
    let sandbox_doc_ids: BTreeSet<String> = st["documents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d["documentId"].as_str().map(String::from))
        .collect();
    let local_doc_ids: BTreeSet<String> = store
        .column("SELECT numhub_document_id FROM numhub_documents")
        .into_iter()
        .map(|id| id.expect("numhub_document_id"))
        .collect();
    assert_eq!(
        local_doc_ids, sandbox_doc_ids,
        "each local row names its NumHub document"
    );
    let creates = jobs.iter().filter(|j| j["kind"] == "entity.create").count();
    let uploads = jobs
        .iter()
        .filter(|j| j["kind"] == "document.upload")
        .count();
    assert_eq!(
        (creates, uploads, jobs.len()),
        (
            expected.entities.len(),
            expected.documents.len(),
            expected.entities.len() + expected.documents.len()
        ),
        "one job per request, none lost, none added"
    );
}

/// An application NumHub completed and its display identities arrive in ONE commit:
/// killed while the identities are being written, the file holds neither the
/// `approved` status nor the identities; the next start brings both.
#[test]
fn an_application_and_its_identities_commit_together() {
    let mut h = Harness::syncing(3);
    let id = crate::sync_support::create_with_identities(&h.socket(), "Together LLC", true);
    let get = |h: &Harness| ok(&h.socket(), "entity.get", json!({"tenant_id": 1, "id": id}));
    assert!(wait_until(TIMEOUT, || get(&h)["numhub_entity_id"].is_string()));
    let nid = get(&h)["numhub_entity_id"]
        .as_str()
        .map(String::from)
        .expect("id");
    h.stop();
    // NumHub completes it (an EID and its display identities) while numhubd is down.
    h.admin(
        &format!("/__sandbox/entities/{nid}/status"),
        json!({"status": "Complete"}),
    );
    assert!(h.start(&[(numhubd::killpoint::ENV, "identity_applied:1")]));
    ok(&h.socket(), "sync.run", json!({"tenant_id": 1}));
    assert!(
        h.wait_exit(TIMEOUT),
        "identity_applied never fired; {}",
        h.all_stderr()
    );
    let row = h.store().rows(&format!(
        "SELECT status, (SELECT COUNT(*) FROM numhub_identities WHERE numhub_entity_id = e.id)
         FROM numhub_entities e WHERE id = '{id}'"
    ));
    let [Some(status), Some(identities)] = &row[0][..] else {
        panic!("entity row {row:?}");
    };
    assert_ne!(
        status, "approved",
        "approved was committed without its identities"
    );
    assert_eq!(identities, "0");
    assert!(h.start(&[]), "{}", h.all_stderr());
    ok(&h.socket(), "sync.run", json!({"tenant_id": 1}));
    assert!(wait_until(TIMEOUT, || get(&h)["status"] == "approved"));
    let listed = ok(
        &h.socket(),
        "identity.list",
        json!({"tenant_id": 1, "entity_id": id}),
    );
    assert!(
        listed["items"].as_array().is_some_and(|a| !a.is_empty()),
        "approved is visible with its identities: {listed}"
    );
    h.stop();
}
