//! The outbox end to end: the real daemon, its real socket, the sandbox on loopback.
//! Creates, submits and uploads reach NumHub exactly once and the rows get NumHub's
//! ids; an outage queues everything and it drains in order; a disabled tenant sends
//! nothing until enabled.

use serde_json::{json, Value};

use numhub_sandbox::Faults;

use crate::rpc_client::{add_numhub_tenant, ok, Ws};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{create_entity, settle, upload, write_pdf, Harness};

fn by_name<'a>(state: &'a Value, name: &str) -> Vec<&'a Value> {
    state["entities"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["companyName"] == name).collect())
        .unwrap_or_default()
}

fn route(h: &Harness, key: &str) -> u64 {
    h.state()["requests"][key].as_u64().unwrap_or(0)
}

#[test]
fn creates_submits_and_uploads_reach_numhub_once_with_events() {
    let mut h = Harness::syncing(3);
    let s = h.socket();
    let rt = crate::support::rt();
    let events: Vec<Value> = rt.block_on(async {
        let mut ws = Ws::connect(&s).await;
        ws.send(json!({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {"tenant_id": 1}}))
            .await;
        assert!(!ws.recv().await["result"].is_null());
        let (s2, dir) = (s.clone(), h.dir.path().to_path_buf());
        let (a, b, doc, sha) = tokio::task::spawn_blocking(move || {
            let a = create_entity(&s2, "Outbox Alpha LLC", false).expect("create a");
            let b = create_entity(&s2, "Outbox Beta LLC", true).expect("create b");
            let (path, sha) = write_pdf(&dir, "alpha-loa.pdf", 150_000, 1);
            let doc = upload(&s2, &a, &path).expect("upload");
            ok(&s2, "entity.submit", json!({"tenant_id": 1, "id": a}));
            (a, b, doc, sha)
        })
        .await
        .expect("calls");
        // Collect events until both NumHub-side outcomes have been announced.
        let mut seen = Vec::new();
        let (mut entity_linked, mut doc_uploaded) = (false, false);
        while !(entity_linked && doc_uploaded) {
            let msg = ws.recv().await;
            let ev = msg["params"]["result"].clone();
            entity_linked |= ev["type"] == "entity.status_changed"
                && ev["entity_id"] == json!(b)
                && ev["numhub_entity_id"].is_string();
            doc_uploaded |= ev["type"] == "document.status_changed"
                && ev["document_id"] == json!(doc)
                && ev["status"] == "uploaded";
            seen.push(ev);
        }
        seen.push(json!({"a": a, "b": b, "doc": doc, "sha": sha}));
        seen
    });
    let ids = events.last().cloned().expect("ids");
    settle(&h);

    let st = h.state();
    let alpha = by_name(&st, "Outbox Alpha LLC");
    let beta = by_name(&st, "Outbox Beta LLC");
    assert_eq!((alpha.len(), beta.len()), (1, 1), "{st}");
    assert_eq!(
        alpha[0]["status"], "Submitted",
        "entity.submit reached NumHub"
    );
    assert_eq!(beta[0]["status"], "Submitted", "created with submit: true");
    assert_eq!(route(&h, "POST /api/v1/application"), 2, "one create each");
    let docs = st["documents"].as_array().cloned().unwrap_or_default();
    assert_eq!(docs.len(), 1, "{st}");
    assert_eq!(docs[0]["sha256"], ids["sha"]);
    assert_eq!(docs[0]["numhubEntityId"], alpha[0]["numhubEntityId"]);

    // The local rows carry NumHub's ids.
    let a = ok(&s, "entity.get", json!({"tenant_id": 1, "id": ids["a"]}));
    assert_eq!(a["numhub_entity_id"], alpha[0]["numhubEntityId"]);
    assert!(a["submitted_at"].is_string(), "{a}");
    assert!(a["sync"].is_null(), "no unfinished job: {a}");
    let b = ok(&s, "entity.get", json!({"tenant_id": 1, "id": ids["b"]}));
    assert_eq!(b["numhub_entity_id"], beta[0]["numhubEntityId"]);
    assert!(b["submitted_at"].is_string());
    let d = ok(
        &s,
        "document.get",
        json!({"tenant_id": 1, "id": ids["doc"]}),
    );
    assert_eq!(d["status"], "uploaded");
    assert_eq!(d["numhub_document_id"], docs[0]["documentId"]);
    assert!(d["uploaded_at"].is_string());
    h.stop();
}

#[test]
fn an_outage_queues_everything_and_it_drains_in_order() {
    let mut h = Harness::syncing(1);
    h.set_faults(Faults {
        seed: 3,
        p503: 1.0,
        ..Faults::default()
    });
    let s = h.socket();
    let first = create_entity(&s, "Outage One LLC", false).expect("accepted during the outage");
    let (path, sha) = write_pdf(h.dir.path(), "outage.pdf", 20_000, 2);
    let doc = upload(&s, &first, &path).expect("upload accepted");
    ok(&s, "entity.submit", json!({"tenant_id": 1, "id": first}));
    for name in ["Outage Two LLC", "Outage Three LLC"] {
        create_entity(&s, name, false).expect("accepted");
    }
    // The creates are being retried (attempts counted, errors kept), nothing landed.
    assert!(
        wait_until(TIMEOUT, || h
            .jobs()
            .iter()
            .filter(|j| j["kind"] == "entity.create")
            .all(
                |j| j["state"] == "failed" && j["attempts"].as_i64() >= Some(2)
            )),
        "{:?}",
        h.jobs()
    );
    assert!(h.jobs().iter().all(|j| j["state"] != "done"));
    assert!(h.state()["entities"].as_array().is_some_and(Vec::is_empty));

    h.set_faults(Faults::default());
    settle(&h);
    let st = h.state();
    for name in ["Outage One LLC", "Outage Two LLC", "Outage Three LLC"] {
        assert_eq!(by_name(&st, name).len(), 1, "{name}: {st}");
    }
    assert_eq!(by_name(&st, "Outage One LLC")[0]["status"], "Submitted");
    assert_eq!(st["documents"][0]["sha256"], json!(sha));
    let d = ok(&s, "document.get", json!({"tenant_id": 1, "id": doc}));
    assert_eq!(d["status"], "uploaded");
    // One entity's jobs finished in the order they were queued.
    let mut mine: Vec<Value> = h
        .jobs()
        .into_iter()
        .filter(|j| j["entity_id"] == json!(first))
        .collect();
    mine.sort_by_key(|j| j["id"].as_i64());
    let kinds: Vec<&str> = mine.iter().filter_map(|j| j["kind"].as_str()).collect();
    assert_eq!(kinds, ["entity.create", "document.upload", "entity.submit"]);
    let finished: Vec<&str> = mine
        .iter()
        .filter_map(|j| j["updated_at"].as_str())
        .collect();
    assert!(finished.windows(2).all(|w| w[0] <= w[1]), "{mine:?}");
    h.stop();
}

#[test]
fn a_disabled_tenant_sends_nothing_until_enabled() {
    let mut h = Harness::new(3);
    assert!(h.start(&[]));
    h.tenant(false);
    let s = h.socket();
    add_numhub_tenant(&s, 2, "Witness", "1002", true);
    let held = create_entity(&s, "Held Back LLC", false).expect("accepted");
    // A later job of an enabled tenant goes through: the outbox ran past ours.
    let witness = ok(
        &s,
        "entity.create",
        json!({"tenant_id": 2, "entity_type": "enterprise", "company_name": "Witness LLC",
               "application": crate::sync_support::application("Witness LLC"), "submit": false}),
    );
    let wid = witness["id"].clone();
    assert!(wait_until(TIMEOUT, || {
        ok(&s, "entity.get", json!({"tenant_id": 2, "id": wid}))["numhub_entity_id"].is_string()
    }));
    let jobs = h.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["state"], "queued", "visible, still queued");
    assert_eq!(jobs[0]["attempts"], 0);
    let st = h.state();
    assert!(by_name(&st, "Held Back LLC").is_empty(), "{st}");
    assert_eq!(by_name(&st, "Witness LLC").len(), 1);

    h.tenant(true);
    settle(&h);
    assert_eq!(by_name(&h.state(), "Held Back LLC").len(), 1);
    let e = ok(&s, "entity.get", json!({"tenant_id": 1, "id": held}));
    assert!(e["numhub_entity_id"].is_string());
    h.stop();
}

/// The upload is sent from numhubd's spool copy, taken when the file was registered:
/// a change to the original afterwards does not reach NumHub (the registered bytes
/// do), and the copy is removed once the upload is done. A copy that no longer has
/// its registered SHA-256 is never sent: the job dies saying so.
#[test]
fn the_registered_bytes_are_sent_from_the_spool_whatever_happens_to_the_original() {
    let mut h = Harness::new(3);
    assert!(h.start(&[]));
    h.tenant(false);
    let s = h.socket();
    let id = create_entity(&s, "Changed File LLC", false).expect("create");
    let (path, registered) = write_pdf(h.dir.path(), "changed.pdf", 10_000, 7);
    upload(&s, &id, &path).expect("upload");
    let spool_copy = h.dir.path().join("spool").join(&registered);
    assert!(spool_copy.is_file(), "no spool copy {spool_copy:?}");
    let (_, changed) = write_pdf(h.dir.path(), "changed.pdf", 10_000, 8);
    assert_ne!(registered, changed);
    h.tenant(true);
    settle(&h);
    let docs = h.state()["documents"].clone();
    assert_eq!(docs.as_array().map(Vec::len), Some(1), "{docs}");
    assert_eq!(docs[0]["sha256"], registered.as_str(), "{docs}");
    // Removed right after the job's `done` commits (which the look above may see first).
    assert!(
        wait_until(TIMEOUT, || !spool_copy.exists()),
        "the spool copy outlived its job"
    );

    // A spool copy altered behind numhubd's back is refused before the send.
    h.tenant(false);
    let (path, sha) = write_pdf(h.dir.path(), "altered.pdf", 10_000, 9);
    upload(&s, &id, &path).expect("upload");
    std::fs::write(h.dir.path().join("spool").join(&sha), b"%PDF-1.7 altered").expect("alter");
    h.tenant(true);
    let upload_job = || {
        h.jobs()
            .into_iter()
            .find(|j| j["kind"] == "document.upload" && j["state"] != "done")
    };
    assert!(
        wait_until(TIMEOUT, || upload_job()
            .is_some_and(|j| j["state"] == "dead")),
        "{:?}",
        h.jobs()
    );
    assert!(upload_job()
        .and_then(|j| j["last_error"].as_str().map(String::from))
        .is_some_and(|e| e.contains("SHA-256")));
    assert_eq!(h.state()["documents"].as_array().map(Vec::len), Some(1));

    // The check happens while the copy is sent: a copy of several chunks, changed in
    // its last byte (same size), has its start sent but never its end, and NumHub
    // stores nothing. (Another entity: a dead job holds back its entity's later jobs.)
    h.tenant(false);
    let other = create_entity(&s, "Tail LLC", false).expect("create");
    let (path, sha) = write_pdf(h.dir.path(), "tail.pdf", 700_000, 10);
    upload(&s, &other, &path).expect("upload");
    let copy = h.dir.path().join("spool").join(&sha);
    let mut bytes = std::fs::read(&copy).expect("copy");
    if let Some(last) = bytes.last_mut() {
        *last ^= 0xff;
    }
    std::fs::write(&copy, &bytes).expect("alter the end");
    h.tenant(true);
    let tail_job = || {
        h.jobs().into_iter().find(|j| {
            j["kind"] == "document.upload"
                && j["state"] == "dead"
                && j["last_error"]
                    != upload_job()
                        .map(|u| u["last_error"].clone())
                        .unwrap_or_default()
        })
    };
    let _ = tail_job;
    assert!(
        wait_until(TIMEOUT, || h
            .jobs()
            .iter()
            .filter(|j| j["kind"] == "document.upload" && j["state"] == "dead")
            .count()
            == 2),
        "{:?}",
        h.jobs()
    );
    assert!(h
        .jobs()
        .iter()
        .filter(|j| j["state"] == "dead")
        .all(|j| j["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("SHA-256"))));
    assert_eq!(h.state()["documents"].as_array().map(Vec::len), Some(1));
    h.stop();
}

#[test]
fn a_blocked_login_keeps_jobs_waiting_without_using_attempts() {
    let mut h = Harness::new(3);
    std::fs::write(h.dir.path().join("password.txt"), "wrong-password\n").expect("password");
    assert!(h.start(&[]));
    h.tenant(true);
    create_entity(&h.socket(), "Blocked LLC", false).expect("accepted");
    let job = || h.jobs().into_iter().next().expect("job");
    assert!(
        wait_until(TIMEOUT, || job()["state"] == "waiting"),
        "{:?}",
        h.jobs()
    );
    let j = job();
    assert_eq!(j["attempts"], 0, "{j}");
    assert!(
        j["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("blocked")),
        "{j}"
    );
    // Shown as waiting (not failed) everywhere an operator looks.
    let status = ok(&h.socket(), "daemon.status", json!({}));
    assert_eq!(status["jobs"]["waiting"], 1, "{status}");
    assert!(status["jobs"].get("failed").is_none(), "{status}");
    let waiting = ok(&h.socket(), "jobs.list", json!({"state": "waiting"}));
    assert_eq!(waiting["items"][0]["id"], j["id"], "{waiting}");
    let ctl = std::process::Command::new(env!("CARGO_BIN_EXE_numhubctl"))
        .arg("--socket")
        .arg(h.socket())
        .args(["jobs", "list", "--state", "waiting"])
        .output()
        .expect("numhubctl");
    let table = String::from_utf8_lossy(&ctl.stdout);
    assert!(
        ctl.status.success(),
        "{table} {}",
        String::from_utf8_lossy(&ctl.stderr)
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("entity.create") && l.contains("waiting")),
        "{table}"
    );
    // Looked at again (every 30 s or retry_max, 1 s here) without using attempts.
    assert!(
        wait_until(TIMEOUT, || {
            let again = job();
            again["updated_at"] != j["updated_at"]
                && again["state"] == "waiting"
                && again["attempts"] == 0
        }),
        "{:?}",
        h.jobs()
    );
    assert!(h.state()["entities"].as_array().is_some_and(Vec::is_empty));
    h.stop();
}

/// `wait_s` answers when the outbox publishes the job's outcome: `done` → the row as
/// NumHub left it (no `sync`), well before the wait runs out; `dead` → NumHub's
/// refusal (-32030) with the job's error.
#[test]
fn wait_s_answers_as_soon_as_the_job_finishes() {
    let mut h = Harness::syncing(3);
    let s = h.socket();
    let started = std::time::Instant::now();
    let e = ok(
        &s,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": "Waited LLC",
               "application": crate::sync_support::application("Waited LLC"), "submit": false,
               "wait_s": 60}),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "answered at the deadline, not at the outcome: {:?}",
        started.elapsed()
    );
    assert!(e["numhub_entity_id"].is_string(), "{e}");
    assert_eq!(e["sync"], Value::Null, "{e}");

    // A dead job: numhubd's copy of the file was altered, so the upload is refused.
    h.tenant(false);
    let id = e["id"].as_str().expect("id").to_string();
    let (path, sha) = write_pdf(h.dir.path(), "waited.pdf", 10_000, 3);
    let (s2, p2) = (s.clone(), path.display().to_string());
    let waiter = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let r = crate::rpc_client::call(
            &s2,
            "document.upload",
            json!({"tenant_id": 1, "entity_id": id, "document_type": "other", "path": p2, "wait_s": 60}),
        );
        (r, started.elapsed())
    });
    assert!(
        wait_until(TIMEOUT, || h
            .jobs()
            .iter()
            .any(|j| j["kind"] == "document.upload")),
        "{:?}",
        h.jobs()
    );
    std::fs::write(h.dir.path().join("spool").join(&sha), b"%PDF-1.7 altered").expect("alter");
    h.tenant(true);
    let (refused, took) = waiter.join().expect("waiter");
    assert_eq!(refused["error"]["code"], -32030, "{refused}");
    assert!(
        refused["error"]["data"]["numhub_message"]
            .as_str()
            .is_some_and(|m| m.contains("SHA-256")),
        "{refused}"
    );
    assert!(took < std::time::Duration::from_secs(40), "{took:?}");
    h.stop();
}

/// A 500 after NumHub saved the create (or stored the upload) is a lost answer: the
/// outbox looks, finds it, links the rows, and never sends it again.
#[test]
fn a_500_after_numhub_saved_it_links_the_one_it_made() {
    let mut h = Harness::syncing(3);
    h.set_faults(Faults {
        seed: 5,
        p_500_after_commit: 1.0,
        ..Faults::default()
    });
    let s = h.socket();
    let e = create_entity(&s, "Saved Then 500 LLC", false).expect("create accepted");
    settle(&h);
    let st = h.state();
    let apps = by_name(&st, "Saved Then 500 LLC");
    assert_eq!(apps.len(), 1, "{st}");
    assert_eq!(route(&h, "POST /api/v1/application"), 1, "never resent");
    let got = ok(&s, "entity.get", json!({"tenant_id": 1, "id": e}));
    assert_eq!(got["numhub_entity_id"], apps[0]["numhubEntityId"], "{got}");

    let (path, _) = write_pdf(h.dir.path(), "saved-then-500.pdf", 20_000, 9);
    let doc = upload(&s, &e, &path).expect("upload accepted");
    settle(&h);
    let docs = h.state()["documents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(
        route(&h, "POST /api/v1/application/{NumhubEntityId}/documents"),
        1,
        "never resent"
    );
    let d = ok(&s, "document.get", json!({"tenant_id": 1, "id": doc}));
    assert_eq!(d["status"], "uploaded", "{d}");
    assert_eq!(d["numhub_document_id"], docs[0]["documentId"]);
    h.stop();
}

/// `credentials.set` replaces the tenant's login: the token the old login got must not
/// outlive it in the daemon's memory, so the next exchange logs in with the new one.
#[test]
fn new_credentials_drop_the_cached_token_of_the_old_login() {
    let mut h = Harness::syncing(3);
    let s = h.socket();
    let creds = json!({"tenant_id": 1, "email": "demo@numhub.test", "password": "demo-password"});
    ok(&s, "credentials.set", creds.clone());
    let at_numhub = |id: &str| {
        let (s, id) = (s.clone(), id.to_string());
        move || {
            ok(&s, "entity.get", json!({"tenant_id": 1, "id": id}))["numhub_entity_id"].is_string()
        }
    };
    let first = create_entity(&h.socket(), "First Login LLC", false).expect("accepted");
    assert!(wait_until(TIMEOUT, at_numhub(&first)), "{}", h.all_stderr());
    let logins = || h.state()["totals"]["tokenRequests"].as_u64().unwrap_or(0);
    let before = logins();

    ok(&h.socket(), "credentials.set", creds);
    let second = create_entity(&h.socket(), "Second Login LLC", false).expect("accepted");
    assert!(
        wait_until(TIMEOUT, at_numhub(&second)),
        "{}",
        h.all_stderr()
    );
    assert_eq!(logins(), before + 1, "one login with the new credentials");
    h.stop();
}
