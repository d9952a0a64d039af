//! JSON-RPC 2.0's envelope over HTTP where jsonrpsee departs from the specification.
//! jsonrpsee reads an `id` only as an unsigned integer, a string or null: a call
//! whose id is any other number (`1.5`, `-1`, `1e3`) or not a scalar (`{}`) parses as
//! a notification and is answered with the body `null`. Here, before jsonrpsee reads
//! the body, such a number is swapped for a placeholder string and put back into
//! the answer as it was written; an id that is not a string, number or null is
//! answered -32600 with `"id": null` here, the call not run. An answer with nothing
//! in it (a notification, a batch of notifications) becomes HTTP 204 with no body.
//! A single object without an `id` that is no request either (`"method": 1`) is
//! answered -32600 as the specification says, not jsonrpsee's -32700: the body was
//! JSON.

use serde_json::value::RawValue;
use std::collections::BTreeMap;

use crate::api::codes;

/// A request object, its members as written (to rewrite one).
type Members<'a> = BTreeMap<String, &'a RawValue>;

/// A request object's `id` as written (`null` included; None when absent), read
/// without allocating: every call passes here, and almost every id needs nothing.
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue as serde::Deserialize>::deserialize(d).map(Some)
}

/// What the body became: what jsonrpsee is given, and what its answer needs.
pub struct Envelope {
    /// The body for jsonrpsee: the original when nothing was changed; None when
    /// every entry was answered here.
    pub forward: Option<Vec<u8>>,
    /// Placeholder id → the id as the caller wrote it.
    swapped: Vec<(String, Box<RawValue>)>,
    /// Answers made here (ids that are no id), one JSON object each.
    own: Vec<String>,
    /// A batch (an array) rather than one call.
    batch: bool,
    /// One JSON object without an id: a parse error from jsonrpsee means it is no
    /// request.
    single_without_id: bool,
}

enum Entry<'a> {
    /// jsonrpsee reads it right (or answers it right).
    AsIs(&'a RawValue),
    /// Its id swapped: the entry rewritten.
    Swapped(String),
    /// Its id is not a string, number or null: answered here.
    BadId,
}

impl Envelope {
    /// Reads `body`; `max_batch` is `[rpc] max_batch` (a longer batch is left to
    /// jsonrpsee, which refuses it whole).
    pub fn read(body: Vec<u8>, max_batch: usize) -> Envelope {
        let untouched = |body, batch| Envelope {
            forward: Some(body),
            swapped: Vec::new(),
            own: Vec::new(),
            batch,
            single_without_id: false,
        };
        let Ok(text) = std::str::from_utf8(&body) else {
            return untouched(body, false);
        };
        // Not JSON: jsonrpsee's parse error is the right answer.
        let Ok(top) = serde_json::from_str::<&RawValue>(text) else {
            return untouched(body, false);
        };
        let batch = top.get().starts_with('[');
        let entries: Vec<&RawValue> = match batch {
            true => match serde_json::from_str(top.get()) {
                Ok(entries) => entries,
                Err(_) => return untouched(body, true),
            },
            false => vec![top],
        };
        if entries.len() > max_batch {
            return untouched(body, batch);
        }
        let mut swapped = Vec::new();
        let mut nonce = None;
        let read: Vec<Entry> = entries
            .into_iter()
            .map(|raw| entry(raw, &mut nonce, &mut swapped))
            .collect();
        if read.iter().all(|e| matches!(e, Entry::AsIs(_))) {
            let single_without_id = !batch
                && text.trim_start().starts_with('{')
                && serde_json::from_str::<Probe>(text).is_ok_and(|p| p.id.is_none());
            return Envelope {
                single_without_id,
                ..untouched(body, batch)
            };
        }
        let bad = read.iter().filter(|e| matches!(e, Entry::BadId)).count();
        let own = vec![invalid_request(); bad];
        let kept: Vec<String> = read
            .into_iter()
            .filter_map(|e| match e {
                Entry::AsIs(raw) => Some(raw.get().to_string()),
                Entry::Swapped(text) => Some(text),
                Entry::BadId => None,
            })
            .collect();
        let forward = match (kept.is_empty(), batch) {
            (true, _) => None,
            (false, true) => Some(format!("[{}]", kept.join(",")).into_bytes()),
            (false, false) => kept.into_iter().next().map(String::into_bytes),
        };
        Envelope {
            forward,
            swapped,
            own,
            batch,
            single_without_id: false,
        }
    }

    /// Whether jsonrpsee's answer can go out as it is (unless it is empty).
    pub fn answer_as_is(&self) -> bool {
        self.swapped.is_empty() && self.own.is_empty() && !self.single_without_id
    }

    /// The answer to send from jsonrpsee's (None if nothing was forwarded); None
    /// means no body at all (HTTP 204).
    pub fn answer(&self, from_jsonrpsee: Option<&[u8]>) -> Option<Vec<u8>> {
        let text = from_jsonrpsee
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::trim)
            .filter(|t| !t.is_empty() && *t != "null");
        let mut answers: Vec<String> = match text {
            None => Vec::new(),
            Some(t) if t.starts_with('[') => match serde_json::from_str::<Vec<&RawValue>>(t) {
                Ok(items) => items.iter().map(|i| self.put_back(i)).collect(),
                Err(_) => return Some(t.as_bytes().to_vec()),
            },
            // A batch answered with one object was refused whole: that stands alone.
            Some(t) if self.batch => return Some(t.as_bytes().to_vec()),
            Some(t) if self.single_without_id && parse_error(t) => vec![invalid_request()],
            Some(t) => match serde_json::from_str::<&RawValue>(t) {
                Ok(one) => vec![self.put_back(one)],
                Err(_) => return Some(t.as_bytes().to_vec()),
            },
        };
        answers.extend(self.own.iter().cloned());
        match (answers.is_empty(), self.batch) {
            (true, _) => None,
            (false, true) => Some(format!("[{}]", answers.join(",")).into_bytes()),
            (false, false) => answers.pop().map(String::into_bytes),
        }
    }

    /// One answer object with a placeholder id replaced by the id as written.
    fn put_back(&self, answer: &RawValue) -> String {
        let Ok(mut members) = serde_json::from_str::<Members>(answer.get()) else {
            return answer.get().to_string();
        };
        let original = members
            .get("id")
            .and_then(|id| serde_json::from_str::<String>(id.get()).ok())
            .and_then(|id| self.swapped.iter().find(|(p, _)| *p == id))
            .map(|(_, raw)| raw);
        match original {
            None => answer.get().to_string(),
            Some(raw) => {
                members.insert("id".into(), raw);
                serde_json::to_string(&members).unwrap_or_else(|_| answer.get().to_string())
            }
        }
    }
}

/// Reads one request object's id; a swapped id's placeholder is named by `nonce`
/// (made for the first swap of a body, so a caller cannot guess one) and its place in
/// `swapped`.
fn entry<'a>(
    raw: &'a RawValue,
    nonce: &mut Option<uuid::Uuid>,
    swapped: &mut Vec<(String, Box<RawValue>)>,
) -> Entry<'a> {
    if !raw.get().trim_start().starts_with('{') {
        return Entry::AsIs(raw);
    }
    let Ok(Probe { id: Some(id) }) = serde_json::from_str::<Probe>(raw.get()) else {
        return Entry::AsIs(raw);
    };
    let text = id.get();
    match text.as_bytes().first() {
        Some(b'"') | Some(b'n') => Entry::AsIs(raw),
        Some(b'-' | b'0'..=b'9') if text.parse::<u64>().is_ok() => Entry::AsIs(raw),
        Some(b'-' | b'0'..=b'9') => {
            let Ok(mut members) = serde_json::from_str::<Members>(raw.get()) else {
                return Entry::AsIs(raw);
            };
            let nonce = nonce.get_or_insert_with(uuid::Uuid::new_v4);
            let name = format!("numhubd-id:{nonce}:{}", swapped.len());
            let Ok(stand_in) = serde_json::value::to_raw_value(&name) else {
                return Entry::AsIs(raw);
            };
            members.insert("id".into(), &stand_in);
            let Ok(rewritten) = serde_json::to_string(&members) else {
                return Entry::AsIs(raw);
            };
            swapped.push((name, id.to_owned()));
            Entry::Swapped(rewritten)
        }
        // An object, an array, true or false: not an id the specification allows.
        _ => Entry::BadId,
    }
}

/// Whether an answer is jsonrpsee's parse error.
fn parse_error(answer: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(answer).is_ok_and(|v| {
        v.pointer("/error/code").and_then(serde_json::Value::as_i64)
            == Some(i64::from(codes::PARSE_ERROR))
    })
}

/// The specification's answer to a request whose id cannot be read, or that is no
/// request at all.
fn invalid_request() -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "error": {"code": codes::INVALID_REQUEST, "message": "Invalid request: not a JSON-RPC 2.0 request object (an id must be a string, a number or null)"},
        "id": null,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn answer_of(body: &str, jsonrpsee: impl Fn(&[u8]) -> String) -> Option<Value> {
        let e = Envelope::read(body.as_bytes().to_vec(), 10);
        let inner = e.forward.as_deref().map(&jsonrpsee);
        e.answer(inner.as_deref().map(str::as_bytes))
            .map(|b| serde_json::from_slice(&b).expect("JSON"))
    }

    /// Stands in for jsonrpsee: echoes each call's id as its result.
    fn echo(body: &[u8]) -> String {
        let v: Value = serde_json::from_slice(body).expect("forwarded JSON");
        let one = |c: &Value| json!({"jsonrpc": "2.0", "result": c["id"], "id": c["id"]});
        match v {
            Value::Array(items) => Value::Array(items.iter().map(one).collect()).to_string(),
            c => one(&c).to_string(),
        }
    }

    #[test]
    fn numbers_come_back_as_written_and_non_ids_are_refused() {
        let a = answer_of(r#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#, echo).expect("answer");
        assert_eq!(a["id"], json!(1.5));
        assert!(a["result"].is_string(), "jsonrpsee saw a string: {a}");
        let a = answer_of(r#"{"jsonrpc":"2.0","id":{},"method":"m"}"#, |_| {
            panic!("a bad id is not forwarded")
        })
        .expect("answer");
        assert_eq!(
            (a["error"]["code"].clone(), a["id"].clone()),
            (json!(-32600), Value::Null)
        );
        let a = answer_of(
            r#"[{"jsonrpc":"2.0","id":-1,"method":"m"},{"jsonrpc":"2.0","id":[1],"method":"m"},{"jsonrpc":"2.0","id":7,"method":"m"}]"#,
            echo,
        )
        .expect("answer");
        let ids: Vec<Value> = a
            .as_array()
            .expect("array")
            .iter()
            .map(|x| x["id"].clone())
            .collect();
        assert_eq!(ids, vec![json!(-1), json!(7), Value::Null]);
        // Untouched bodies go through as they are; an empty answer is no body.
        let e = Envelope::read(br#"{"jsonrpc":"2.0","id":1,"method":"m"}"#.to_vec(), 10);
        assert!(e.answer_as_is());
        let e = Envelope::read(br#"{"jsonrpc":"2.0","method":"m"}"#.to_vec(), 10);
        assert_eq!(e.answer(Some(b"null")), None);
        // Valid JSON that is no request: -32600, not jsonrpsee's parse error.
        let e = Envelope::read(br#"{"jsonrpc":"2.0","method":1}"#.to_vec(), 10);
        let parse_error =
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#;
        let v: Value =
            serde_json::from_slice(&e.answer(Some(parse_error.as_bytes())).expect("an answer"))
                .expect("JSON");
        assert_eq!(v["error"]["code"], -32600);
    }
}
