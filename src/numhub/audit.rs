//! The audit trail: one `numhub_sync_logs` row per HTTP exchange (every attempt,
//! token calls included), written detached so auditing never slows a call.
//!
//! Redaction happens here, before anything reaches the row: secrets (any key named
//! like password/secret/token/otp/authorization/email, and the whole query string of
//! calls that carry one) become `"[redacted]"`; configured business identifiers
//! become a short keyed fingerprint, so rows can still be matched without holding
//! the identifier; multipart bodies are described (names, sizes, SHA-256), never sent.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::db::sync_logs::{self, NewSyncLog};
use crate::db::{Direction, HttpMethod, Store};

pub const REDACTED: &str = "[redacted]";

/// Keys whose values are secrets wherever they appear (lower-cased substrings).
const SECRET_KEYS: &[&str] = &[
    "password",
    "secret",
    "token",
    "otp",
    "authorization",
    "email",
];

/// Redacts and fingerprints. Cheap to clone.
#[derive(Clone)]
pub struct Redactor {
    fingerprint_fields: Arc<Vec<String>>,
    /// Keys the fingerprints so a short one cannot be reversed by trying every
    /// 9-digit EIN: derived from the age identity (so it survives restarts).
    key: Arc<[u8; 32]>,
}

impl Redactor {
    pub fn new(fingerprint_fields: &[String], key: [u8; 32]) -> Redactor {
        Redactor {
            fingerprint_fields: Arc::new(
                fingerprint_fields
                    .iter()
                    .map(|f| f.to_ascii_lowercase())
                    .collect(),
            ),
            key: Arc::new(key),
        }
    }

    fn fingerprint(&self, value: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.key.as_slice());
        h.update([0u8]);
        h.update(value.as_bytes());
        let digest = h.finalize();
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("fp:{hex}")
    }

    /// A redacted copy of a JSON value.
    pub fn value(&self, v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut out = Map::with_capacity(map.len());
                for (k, v) in map {
                    let lower = k.to_ascii_lowercase();
                    let redacted = if is_secret_key(&lower) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else if self.fingerprint_fields.contains(&lower) {
                        match v {
                            Value::String(s) if !s.is_empty() => Value::String(self.fingerprint(s)),
                            Value::Null => Value::Null,
                            Value::String(_) => v.clone(),
                            other => Value::String(self.fingerprint(&other.to_string())),
                        }
                    } else {
                        self.value(v)
                    };
                    out.insert(k.clone(), redacted);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| self.value(i)).collect()),
            other => other.clone(),
        }
    }

    /// Query parameters: secret names redacted, and the values of the token and OTP
    /// calls' parameters never kept at all (they are the secrets).
    pub fn query(&self, query: &[(String, String)]) -> Value {
        let mut out = Map::new();
        for (k, v) in query {
            let lower = k.to_ascii_lowercase();
            let value = if is_secret_key(&lower) {
                Value::String(REDACTED.into())
            } else if self.fingerprint_fields.contains(&lower) {
                Value::String(self.fingerprint(v))
            } else {
                Value::String(v.clone())
            };
            out.insert(k.clone(), value);
        }
        Value::Object(out)
    }
}

/// Whether a (lower-cased) key names a secret.
pub(crate) fn is_secret_key(lower: &str) -> bool {
    SECRET_KEYS.iter().any(|s| lower.contains(s))
}

/// One exchange, as the transport saw it.
pub struct Exchange {
    pub tenant_id: Option<i64>,
    pub numhub_entity_id: Option<String>,
    pub numhub_identity_id: Option<String>,
    /// The path, never the query string.
    pub endpoint: String,
    pub method: HttpMethod,
    pub status: Option<u16>,
    pub request: Value,
    pub response: Option<Value>,
    pub elapsed_ms: i64,
    pub error: Option<String>,
    pub success: bool,
}

/// Writes the exchange's audit row (detached: the call does not wait for it). A
/// payload whose JSON is over `max_payload` bytes is kept as [`capped`] describes.
pub async fn record(store: &Store, ex: Exchange, max_payload: usize) {
    let row = NewSyncLog {
        tenant_id: ex.tenant_id,
        entity_id: None,
        identity_id: None,
        endpoint: truncate(&ex.endpoint, 255),
        method: ex.method,
        direction: Direction::Outbound,
        status_code: ex.status,
        request_payload: Some(capped(&ex.request, max_payload)),
        response_payload: ex.response.map(|v| capped(&v, max_payload)),
        response_time_ms: Some(ex.elapsed_ms.max(0)),
        error_message: ex.error,
        success: ex.success,
    };
    let entity = ex.numhub_entity_id;
    let identity = ex.numhub_identity_id;
    store
        .write_detached("numhub audit row", move |tx| {
            sync_logs::insert_by_numhub_ids(tx, row.clone(), entity.as_deref(), identity.as_deref())
                .map(|_| ())
        })
        .await;
}

/// A payload as the row keeps it: whole when its JSON fits in `max` bytes; else still
/// JSON (the column is checked to be), marked `truncated`, with the whole text's size
/// and SHA-256 and as much of its beginning as fits (escaping can at most double the
/// kept text, so half of what is left after the marker is kept).
fn capped(v: &Value, max: usize) -> String {
    let text = v.to_string();
    if text.len() <= max {
        return text;
    }
    let mut keep = max.saturating_sub(256) / 2;
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    json!({
        "truncated": true,
        "bytes": text.len(),
        "sha256": hex_sha256(text.as_bytes()),
        "head": &text[..keep],
    })
    .to_string()
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The response body as the row keeps it: JSON redacted, anything else described.
pub fn response_value(redactor: &Redactor, content_type: Option<&str>, body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => redactor.value(&v),
        Err(_) => json!({
            "contentType": content_type,
            "bytes": body.len(),
            "sha256": hex_sha256(body),
        }),
    }
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_ids_fingerprinted() {
        let r = Redactor::new(&["federalEmployerIdNumber".into()], [7; 32]);
        let v = json!({"accessToken": "abc", "tokenType": "Bearer", "nested": [{"Password": "p", "otp": 1}],
                        "businessIdentityDetails": {"federalEmployerIdNumber": "12-3456789"}, "name": "x"});
        let out = r.value(&v).to_string();
        for secret in ["abc", "\"p\"", "12-3456789"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(out.contains("\"name\":\"x\""));
        let fp = r.value(&v)["businessIdentityDetails"]["federalEmployerIdNumber"].clone();
        assert_eq!(
            fp,
            r.value(&v)["businessIdentityDetails"]["federalEmployerIdNumber"]
        );
        assert!(fp.as_str().is_some_and(|s| s.starts_with("fp:")));
        let q = r.query(&[
            ("Email".into(), "a@b".into()),
            ("Password".into(), "pw".into()),
            ("otp".into(), "123".into()),
            ("pageSize".into(), "5".into()),
        ]);
        let q = q.to_string();
        assert!(
            !q.contains("a@b") && !q.contains("pw") && !q.contains("123"),
            "{q}"
        );
        assert!(q.contains("\"pageSize\":\"5\""));
    }
}
