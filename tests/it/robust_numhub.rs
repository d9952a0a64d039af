//! NumHub misbehaving (#15): the sandbox answers every operation with one of its
//! `malformed` faults — 100 MiB, a chunked body that never ends, cut-off JSON, a
//! proxy's HTML page, a wrong Content-Type, an empty 200, dates in .NET's US form — while
//! the real daemon refreshes an application, runs a sync cycle and creates one. Each
//! ends in a clear error or `needs_attention` (or, where the answer still reads, the
//! right result), never a panic, a hang, or a wrong row: the replica's application
//! stays as NumHub holds it, NumHub holds each create once, and a done create names
//! NumHub's id for it. Prints the figures (faults, outcomes) for docs/BENCHMARKS.md.

use std::time::Duration;

use numhub_sandbox::{Faults, Malformed};
use serde_json::{json, Value};

use crate::rpc_client::{call, ok};
use crate::support::wait_until;
use crate::sync_support::{application, Harness};

const KINDS: [Malformed; 7] = [
    Malformed::HugeBody,
    Malformed::EndlessChunked,
    Malformed::InvalidJson,
    Malformed::HtmlError,
    Malformed::WrongContentType,
    Malformed::Empty200,
    Malformed::OddDates,
];

/// Small enough that a 100 MiB answer is cut at once (by its Content-Length) and an
/// endless one after 1 MiB; large enough for every real answer here.
const MAX_RESPONSE: &str = "max_response_bytes = 1048576\nrequest_timeout_secs = 5\n";

/// A job's outcome (or the wait for it) must arrive well inside this; a hang past the
/// request timeout would show as a wait that runs out.
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn every_misbehaving_answer_ends_in_a_clear_error_and_no_wrong_row() {
    let mut h = Harness::new(2);
    h.edit_config(
        "rate_limit = 0\n",
        &format!("rate_limit = 0\n{MAX_RESPONSE}"),
    );
    assert!(h.start(&[]));
    h.tenant(true);
    let s = h.socket();
    // The application every refresh and sync reads, created while NumHub behaves.
    let before = created(&s, "robust-base", 30);
    let base_id = before["id"].as_str().expect("local id").to_string();
    assert!(
        before["numhub_entity_id"].is_string(),
        "the base create did not finish: {before}"
    );

    let mut figures = Vec::new();
    for kind in KINDS {
        let name = format!("robust-{kind:?}");
        h.set_faults(Faults {
            seed: 15,
            p_malformed: 1.0,
            malformed: Some(kind),
            ..Faults::default()
        });
        let refresh = answer(
            &s,
            "entity.refresh",
            json!({"tenant_id": 1, "entity_id": base_id}),
        );
        let sync = answer(&s, "sync.run", json!({"tenant_id": 1}));
        let create = answer(
            &s,
            "entity.create",
            json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": name,
                   "application": application(&name), "submit": true, "wait_s": 10}),
        );
        if kind == Malformed::HugeBody {
            // The cap's error names the operation it cut.
            let message = refresh.pointer("/error/message").and_then(Value::as_str);
            assert!(
                message.is_some_and(|m| m.contains("application")),
                "{kind:?}: refresh {refresh}"
            );
        }
        h.set_faults(Faults::default());

        // The create's job settles once NumHub behaves again.
        let local = create
            .pointer("/result/id")
            .or_else(|| create.pointer("/error/data/id"))
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| local_id_by_name(&s, &name));
        let local = local.unwrap_or_else(|| panic!("{kind:?}: no row for {name}: {create}"));
        let mut state = String::new();
        let settled = wait_until(LIMIT, || {
            state = job_state(&h, &local);
            state == "done" || state == "needs_attention" || state == "dead"
        });
        assert!(settled, "{kind:?}: job still {state}\n{}", h.all_stderr());

        // No wrong row: the base application is as before; NumHub holds the create
        // once, and a done job names NumHub's id for it.
        let now = ok(&s, "entity.get", json!({"tenant_id": 1, "id": base_id}));
        for field in [
            "company_name",
            "status",
            "numhub_entity_id",
            "vetting_status",
        ] {
            assert_eq!(now[field], before[field], "{kind:?}: base {field} changed");
        }
        let at_numhub = numhub_ids(&h, &name);
        assert_eq!(at_numhub.len(), 1, "{kind:?}: NumHub holds {at_numhub:?}");
        let row = ok(&s, "entity.get", json!({"tenant_id": 1, "id": local}));
        match row["numhub_entity_id"].as_str() {
            Some(id) => assert_eq!(id, at_numhub[0], "{kind:?}: wrong NumHub id"),
            None => assert_ne!(state, "done", "{kind:?}: done without NumHub's id"),
        }
        figures.push(format!(
            "{kind:?}: refresh {}, sync.run {}, create {} -> job {state}",
            outcome(&refresh),
            outcome(&sync),
            outcome(&create)
        ));
    }
    let running = h
        .child
        .as_mut()
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
    assert!(running, "the daemon exited\n{}", h.all_stderr());
    let stderr = h.all_stderr();
    assert!(!stderr.contains("panicked"), "a panic:\n{stderr}");
    let injected = h.state()["totals"]["faultsInjected"].as_u64().unwrap_or(0);
    eprintln!(
        "robust_numhub: {} fault kinds, {injected} malformed answers injected, 0 panics, 0 wrong rows",
        KINDS.len()
    );
    for f in &figures {
        eprintln!("  {f}");
    }
    assert!(injected >= KINDS.len() as u64, "faults were not injected");
}

/// A call that must be answered (a hang would leave the client's read timeout to
/// give `null`) with a result or a documented error.
fn answer(socket: &std::path::Path, method: &str, params: Value) -> Value {
    let r = call(socket, method, params);
    let code = r.pointer("/error/code").and_then(Value::as_i64);
    assert!(
        r.get("result").is_some() || matches!(code, Some(-32031 | -32030 | -32022)),
        "{method}: {r}"
    );
    r
}

fn outcome(r: &Value) -> String {
    match r.pointer("/error/code") {
        Some(code) => format!(
            "{code} ({})",
            r.pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("")
        ),
        None => "ok".into(),
    }
}

/// Creates `name` and waits `wait_s` for NumHub's answer; the row.
fn created(socket: &std::path::Path, name: &str, wait_s: u64) -> Value {
    ok(
        socket,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": name,
               "application": application(name), "submit": true, "wait_s": wait_s}),
    )
}

fn local_id_by_name(socket: &std::path::Path, name: &str) -> Option<String> {
    let page = ok(socket, "entity.list", json!({"tenant_id": 1, "limit": 500}));
    page["items"]
        .as_array()?
        .iter()
        .find(|e| e["company_name"] == name)
        .and_then(|e| e["id"].as_str())
        .map(String::from)
}

/// The state of the entity's newest job.
fn job_state(h: &Harness, entity: &str) -> String {
    h.jobs()
        .iter()
        .rev()
        .find(|j| j["entity_id"] == entity)
        .and_then(|j| j["state"].as_str())
        .unwrap_or("none")
        .to_string()
}

/// NumHub's ids of the applications named `name`.
fn numhub_ids(h: &Harness, name: &str) -> Vec<String> {
    h.state()["entities"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter(|e| e["companyName"] == name)
                .filter_map(|e| e["numhubEntityId"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
