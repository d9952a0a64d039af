//! JSON-RPC 2.0 to the letter of its specification (https://www.jsonrpc.org/specification),
//! over the real daemon's socket: ids of every kind the specification allows come
//! back as sent, an id it does not allow gets -32600 with `"id": null`, a
//! notification is run and answered with HTTP 204 and no body, and the examples of
//! its section 7 — adapted to our methods where they call `subtract`, `sum` or
//! `get_data`; the unknown methods (`update`, `foobar`, `foo.get`, `notify_*`) kept,
//! since ours do not have them either. Also `[rpc] max_response_bytes`: an answer
//! over it is -32008, and a batch's calls that no longer fit get -32008 each.

use std::path::Path;

use serde_json::{json, Value};

use crate::rpc_client::{add_tenant, ok, socket_of, start_rpc_daemon, start_rpc_daemon_with};

fn exchange(socket: &Path, body: &str) -> (u16, String) {
    crate::rpc_client::exchange(socket, body.as_bytes())
}

/// A call's answer: HTTP 200 and one JSON value.
fn answer(socket: &Path, body: &str) -> Value {
    let (status, text) = exchange(socket, body);
    assert_eq!(status, 200, "{body} → {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{body} → not JSON ({e}): {text:?}"))
}

/// A notification's answer: HTTP 204 and no body at all.
fn no_answer(socket: &Path, body: &str) {
    let (status, text) = exchange(socket, body);
    assert_eq!((status, text.as_str()), (204, ""), "{body}");
}

fn error_and_id(v: &Value) -> (i64, Value) {
    (
        v.pointer("/error/code")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("not an error: {v}")),
        v["id"].clone(),
    )
}

/// The answers of a batch by id (`null` ids collected under "null").
fn by_id(v: &Value) -> Vec<(String, Value)> {
    let mut items: Vec<(String, Value)> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a batch answer: {v}"))
        .iter()
        .map(|a| (a["id"].to_string(), a.clone()))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

#[test]
fn ids_of_every_allowed_kind_come_back_and_others_get_invalid_request() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    for id in [
        json!(1.5),
        json!(-7),
        json!(1e3),
        json!(0),
        json!("x"),
        Value::Null,
    ] {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "daemon.health"}).to_string();
        let v = answer(&s, &body);
        assert_eq!(v["id"], id, "{v}");
        assert_eq!(v["result"]["ok"], true, "{v}");
    }
    // Written as sent, not as a float would print it.
    let (_, text) = exchange(
        &s,
        r#"{"jsonrpc":"2.0","id":2.50,"method":"daemon.health"}"#,
    );
    assert!(text.contains(r#""id":2.50"#), "{text}");
    for id in [json!({}), json!([1]), json!(true)] {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tenant.upsert", "params": {"id": 9, "name": "Never"}}).to_string();
        assert_eq!(
            error_and_id(&answer(&s, &body)),
            (-32600, Value::Null),
            "{id}"
        );
    }
    assert_eq!(
        ok(&s, "tenant.list", json!({}))["items"],
        json!([]),
        "nothing ran"
    );
    // In a batch: each entry on its own.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 0.25, "method": "daemon.health"},
        {"jsonrpc": "2.0", "id": {"a": 1}, "method": "daemon.health"},
        {"jsonrpc": "2.0", "id": 3, "method": "daemon.health"},
    ]);
    let ids: Vec<String> = by_id(&answer(&s, &batch.to_string()))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["0.25", "3", "null"]);
}

#[test]
fn a_notification_is_run_and_answered_with_no_body() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    no_answer(
        &s,
        r#"{"jsonrpc":"2.0","method":"tenant.upsert","params":{"id":7,"name":"Notified"}}"#,
    );
    assert_eq!(ok(&s, "tenant.get", json!({"id": 7}))["name"], "Notified");
    // A batch of notifications: run, no body.
    no_answer(
        &s,
        r#"[{"jsonrpc":"2.0","method":"tenant.upsert","params":{"id":8,"name":"A"}},{"jsonrpc":"2.0","method":"tenant.upsert","params":{"id":9,"name":"B"}}]"#,
    );
    assert_eq!(ok(&s, "tenant.get", json!({"id": 9}))["name"], "B");
}

#[test]
fn the_specifications_section_7_examples() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    add_tenant(&s, 1, "Acme");
    // rpc call with named parameters ("subtract" → tenant.get)
    let v = answer(
        &s,
        r#"{"jsonrpc": "2.0", "method": "tenant.get", "params": {"id": 1}, "id": 3}"#,
    );
    assert_eq!(
        (v["result"]["name"].clone(), v["id"].clone()),
        (json!("Acme"), json!(3))
    );
    assert_eq!(v["jsonrpc"], "2.0");
    // a Notification
    no_answer(
        &s,
        r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
    );
    no_answer(&s, r#"{"jsonrpc": "2.0", "method": "foobar"}"#);
    // rpc call of non-existent method
    let v = answer(&s, r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#);
    assert_eq!(error_and_id(&v), (-32601, json!("1")));
    // rpc call with invalid JSON
    let v = answer(
        &s,
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
    );
    assert_eq!(error_and_id(&v), (-32700, Value::Null));
    // rpc call with invalid Request object
    let v = answer(&s, r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#);
    assert_eq!(error_and_id(&v), (-32600, Value::Null));
    // rpc call Batch, invalid JSON
    let v = answer(
        &s,
        r#"[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]"#,
    );
    assert_eq!(error_and_id(&v), (-32700, Value::Null));
    // rpc call with an empty Array
    let v = answer(&s, "[]");
    assert_eq!(error_and_id(&v), (-32600, Value::Null));
    // rpc call with an invalid Batch (but not empty)
    let v = answer(&s, "[1]");
    let items = v.as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(error_and_id(&items[0]), (-32600, Value::Null));
    // rpc call with invalid Batch
    let v = answer(&s, "[1,2,3]");
    let items = v.as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(items.len(), 3, "{v}");
    assert!(items
        .iter()
        .all(|i| error_and_id(i) == (-32600, Value::Null)));
    // rpc call Batch ("sum" → daemon.health, "subtract" → tenant.get, "get_data" →
    // daemon.health)
    let v = answer(
        &s,
        r#"[
        {"jsonrpc": "2.0", "method": "daemon.health", "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "tenant.get", "params": {"id": 1}, "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "daemon.health", "id": "9"}
    ]"#,
    );
    let answers = by_id(&v);
    let ids: Vec<&str> = answers.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["\"1\"", "\"2\"", "\"5\"", "\"9\"", "null"], "{v}");
    assert_eq!(answers[0].1["result"]["ok"], true);
    assert_eq!(answers[1].1["result"]["name"], "Acme");
    assert_eq!(error_and_id(&answers[2].1), (-32601, json!("5")));
    assert_eq!(answers[3].1["result"]["ok"], true);
    assert_eq!(error_and_id(&answers[4].1), (-32600, Value::Null));
    // rpc call Batch (all notifications): nothing is returned
    no_answer(
        &s,
        r#"[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]"#,
    );
}

#[test]
fn answers_over_max_response_bytes_become_per_call_errors() {
    let d = start_rpc_daemon_with("max_response_bytes = 4096", "");
    let s = socket_of(&d);
    for id in 1..=20 {
        add_tenant(&s, id, &format!("{id:03}{}", "n".repeat(240)));
    }
    // One call whose answer is over the limit.
    let v = answer(
        &s,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tenant.list", "params": {}}).to_string(),
    );
    assert_eq!(error_and_id(&v), (-32008, json!(1)), "{v}");
    // A batch of twenty small answers that do not fit together: every call is
    // answered with its own id, the ones that no longer fit with -32008.
    let batch: Vec<Value> = (1..=20)
        .map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "tenant.get", "params": {"id": id}}))
        .collect();
    let (status, text) = exchange(&s, &Value::Array(batch).to_string());
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let items = v.as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(items.len(), 20, "{v}");
    let answered = items.iter().filter(|i| i["result"].is_object()).count();
    let too_big: Vec<&Value> = items
        .iter()
        .filter(|i| i.pointer("/error/code") == Some(&json!(-32008)))
        .collect();
    assert!(answered > 0 && answered + too_big.len() == 20, "{v}");
    assert!(
        too_big.iter().all(|i| i["id"].is_u64()),
        "each keeps its id: {v}"
    );
    // The results stay within the limit; the refusals add only their short errors.
    assert!(
        text.len() < 4096 + too_big.len() * 400,
        "{} bytes",
        text.len()
    );
}
