//! `rpc.discover`: the OpenRPC 1.x document, built from the method table — the same
//! schemas the daemon validates with, so the document is what the daemon does.

use std::sync::OnceLock;

use serde_json::{json, Value};

use super::methods;
use crate::api::{codes, API_VERSION};

/// The application error codes, with what each means.
pub fn error_codes() -> Vec<(i32, &'static str)> {
    vec![
        (codes::PARSE_ERROR, "parse error: the body is not JSON"),
        (
            codes::INVALID_REQUEST,
            "invalid request: not a JSON-RPC 2.0 request",
        ),
        (codes::METHOD_NOT_FOUND, "unknown method"),
        (
            codes::INVALID_PARAMS,
            "invalid params: data.fields names each bad field and why",
        ),
        (
            codes::FORBIDDEN,
            "forbidden: the caller's role or tenants do not cover the call; nothing was done",
        ),
        (
            codes::OVERSIZED_REQUEST,
            "request body over [rpc] max_body_bytes",
        ),
        (
            codes::OVERSIZED_RESPONSE,
            "answer over [rpc] max_response_bytes (alone, or with the batch's answers before it)",
        ),
        (codes::TOO_BIG_BATCH, "batch over [rpc] max_batch"),
        (codes::NOT_FOUND, "not found for this tenant"),
        (
            codes::CONFLICT,
            "conflict: illegal status transition or a value already taken",
        ),
        (codes::LIMIT_EXCEEDED, "rate or connection limit exceeded"),
        (
            codes::SUBSCRIPTION_NEEDS_WEBSOCKET,
            "subscriptions need a WebSocket connection",
        ),
        (
            codes::NUMHUB_REJECTED,
            "NumHub rejected the request: data.numhub_message",
        ),
        (
            codes::NUMHUB_UNAVAILABLE,
            "NumHub unavailable: queued changes are retried",
        ),
        (
            codes::KEY_ROTATION_FAILED,
            "key rotation failed: stored secrets stay readable",
        ),
        (
            codes::BACKUP_FAILED,
            "backup failed (disk full, I/O): no file has the asked name",
        ),
        (
            codes::STORE_REFUSES_WRITES,
            "the database refuses writes (disk full, I/O): nothing was written; retry once space is freed",
        ),
    ]
}

/// Built once: the table does not change while the daemon runs.
pub fn document() -> Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build).clone()
}

fn build() -> Value {
    let errors: Vec<Value> = error_codes()
        .into_iter()
        .map(|(code, message)| json!({"code": code, "message": message}))
        .collect();
    let methods: Vec<Value> = methods::all()
        .into_iter()
        .map(|d| {
            let props = d.params.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
            let required: Vec<&str> = d
                .params
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let by_position = d.params.get("type") == Some(&json!("array"));
            let mut params: Vec<Value> = props
                .iter()
                .map(|(name, schema)| json!({"name": name, "required": required.contains(&name.as_str()), "schema": schema}))
                .collect();
            if by_position {
                params.push(json!({"name": "subscription", "required": true, "schema": {"type": ["string", "integer"]}}));
            }
            json!({
                "name": d.name,
                "summary": d.summary,
                "paramStructure": if by_position { "by-position" } else { "by-name" },
                "params": params,
                "result": {"name": "result", "schema": *d.result},
                "errors": errors,
                "x-role": d.role.as_str(),
                "x-params-schema": *d.params,
            })
        })
        .collect();
    let components = super::schema::bc_application_components()
        .get("components")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "openrpc": "1.3.2",
        "info": {"title": "numhubd local API", "version": format!("{API_VERSION}.0.0")},
        "methods": methods,
        "components": components,
    })
}
