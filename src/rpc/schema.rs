//! The small JSON-Schema validator that checks calls against the schemas `api`
//! declares with its types (`api::schema`). One definition serves both:
//! `rpc.discover` publishes the same schemas the daemon validates with, so the
//! document cannot drift from the behaviour.
//!
//! Supported keywords (the subset we emit, plus what NumHub's SaveBCApplicationModel
//! and UpdateBCApplicationModel use): `type`, `nullable`, `properties`, `required`, `additionalProperties: false`,
//! `enum`, `minLength`, `maxLength`, `minimum`, `maximum`, `items`, `minItems`,
//! `maxItems`, `format` (`e164`, `int32`, `sha256`, `date-time`, `uuid`, `plain-text`,
//! `https-url`), `$ref` into
//! `#/components/schemas/`.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// One bad field: its path (`application.status`, `numbers[2]`) and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

/// NumHub's SaveBCApplicationModel and UpdateBCApplicationModel and the schemas they
/// reference, copied from the API document (`components.schemas`), so `$ref`s resolve
/// the same way.
pub fn bc_application_components() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        // The file is part of the source tree; a parse failure is caught by the unit
        // test below, so at run time an empty document is only a theoretical fallback.
        serde_json::from_str(include_str!("bcapplication.schema.json")).unwrap_or(Value::Null)
    })
}

/// Validates `value` against `schema`; returns every problem found.
pub fn validate(schema: &Value, value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check(schema, value, "", bc_application_components(), &mut errors);
    errors
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(want: &str, v: &Value) -> bool {
    let got = type_name(v);
    got == want || (want == "number" && got == "integer")
}

fn check(schema: &Value, value: &Value, path: &str, root: &Value, errors: &mut Vec<FieldError>) {
    let field = if path.is_empty() { "params" } else { path };
    let mut push = |reason: String| {
        errors.push(FieldError {
            field: field.to_string(),
            reason,
        })
    };
    let Some(s) = schema.as_object() else { return };
    if let Some(Value::String(r)) = s.get("$ref") {
        let name = r.trim_start_matches("#/components/schemas/");
        match root.pointer(&format!("/components/schemas/{name}")) {
            Some(target) => check(target, value, path, root, errors),
            None => push(format!("schema reference {r} is unknown")),
        }
        return;
    }
    if value.is_null() && s.get("nullable") == Some(&Value::Bool(true)) {
        return;
    }
    // A value of the wrong type or outside the enum has no further checks.
    if let Some(reason) = type_problem(s, value).or_else(|| enum_problem(s, value)) {
        push(reason);
        return;
    }
    match value {
        Value::String(text) => check_string(s, text).into_iter().for_each(push),
        Value::Number(num) => check_number(s, num).into_iter().for_each(push),
        Value::Array(items) => {
            check_array_size(s, items).into_iter().for_each(push);
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), root, errors);
                }
            }
        }
        Value::Object(map) => check_object(s, map, path, root, errors),
        _ => {}
    }
}

/// Why `value` is not of the schema's `type`, if it is not.
fn type_problem(s: &Map<String, Value>, value: &Value) -> Option<String> {
    let t = s.get("type")?;
    let ok = match t {
        Value::String(t) => type_matches(t, value),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .any(|t| type_matches(t, value)),
        _ => true,
    };
    (!ok).then(|| format!("must be {}, not {}", describe_type(t), type_name(value)))
}

/// Why `value` is not one of the schema's `enum`, if it is not.
fn enum_problem(s: &Map<String, Value>, value: &Value) -> Option<String> {
    let Some(Value::Array(allowed)) = s.get("enum") else {
        return None;
    };
    (!allowed.contains(value)).then(|| {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        format!("{value} is not one of {}", list.join(", "))
    })
}

/// `minLength`, `maxLength` (in characters) and `format`.
fn check_string(s: &Map<String, Value>, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let n = text.chars().count() as u64;
    if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
        if n < min {
            problems.push(format!("must be at least {min} characters"));
        }
    }
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
        if n > max {
            problems.push(format!("is {n} characters; at most {max} allowed"));
        }
    }
    if let Some(f) = s.get("format").and_then(Value::as_str) {
        problems.extend(check_format(f, text));
    }
    problems
}

/// `minimum`, `maximum` and `format: int32`.
fn check_number(s: &Map<String, Value>, num: &serde_json::Number) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
        if num.as_f64().is_some_and(|v| v < min) {
            problems.push(format!("must be at least {min}"));
        }
    }
    if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
        if num.as_f64().is_some_and(|v| v > max) {
            problems.push(format!("must be at most {max}"));
        }
    }
    if s.get("format").and_then(Value::as_str) == Some("int32")
        && num.as_i64().is_none_or(|v| i32::try_from(v).is_err())
    {
        problems.push("must fit a 32-bit integer".to_string());
    }
    problems
}

/// `minItems` and `maxItems` (each item is checked against `items` by the caller).
fn check_array_size(s: &Map<String, Value>, items: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
        if (items.len() as u64) < min {
            problems.push(format!("must have at least {min} items"));
        }
    }
    if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
        if items.len() as u64 > max {
            problems.push(format!("has {} items; at most {max} allowed", items.len()));
        }
    }
    problems
}

fn check_object(
    s: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
    root: &Value,
    errors: &mut Vec<FieldError>,
) {
    let empty = Map::new();
    let props = s
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(Value::Array(required)) = s.get("required") {
        for r in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                errors.push(FieldError {
                    field: join(path, r),
                    reason: "is required".into(),
                });
            }
        }
    }
    for (k, v) in map {
        match props.get(k) {
            Some(p) => check(p, v, &join(path, k), root, errors),
            None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                let mut known: Vec<&str> = props.keys().map(String::as_str).collect();
                known.sort_unstable();
                errors.push(FieldError {
                    field: join(path, k),
                    reason: format!("unknown field; expected one of {}", known.join(", ")),
                });
            }
            None => {}
        }
    }
}

fn describe_type(t: &Value) -> String {
    match t {
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        Value::String(s) => {
            let article = if s.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            format!("{article} {s}")
        }
        other => other.to_string(),
    }
}

fn check_format(format: &str, text: &str) -> Option<String> {
    match format {
        "e164" => crate::db::brands::validate_e164("number", text)
            .err()
            .map(|_| format!("{text:?} is not an E.164 number (like +15551234567)")),
        "sha256" => (!(text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())))
            .then(|| "is not a SHA-256 hex digest".to_string()),
        "date-time" => chrono::DateTime::parse_from_rfc3339(text)
            .err()
            .map(|_| format!("{text:?} is not an RFC 3339 time")),
        "plain-text" => shown_text_problem(text),
        "https-url" => https_url_problem(text),
        // NumHub's ids (`numhubIdentityId` in an update): the outbox reads them as uuids.
        "uuid" => uuid::Uuid::parse_str(text)
            .err()
            .map(|_| format!("{text:?} is not a uuid")),
        _ => None,
    }
}

/// Why `text` cannot be shown on a phone as written, if it cannot.
pub fn shown_text_problem(text: &str) -> Option<String> {
    text.chars().find(|&c| unshowable(c)).map(|c| {
        format!(
            "holds U+{:04X}, a control or bidirectional-override character: what is shown on a phone must read as written",
            u32::from(c)
        )
    })
}

/// Why `text` is not an https URL, if it is not.
pub fn https_url_problem(text: &str) -> Option<String> {
    match reqwest::Url::parse(text) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => None,
        Ok(u) => Some(format!(
            "{text:?} is not an https URL (scheme {:?})",
            u.scheme()
        )),
        Err(e) => Some(format!("{text:?} is not an https URL: {e}")),
    }
}

/// A character that would make shown text differ from what it reads as: C0/C1
/// controls, and the bidirectional embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069) that can reorder what a caller name displays.
fn unshowable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::{application, application_update, id, object, string};
    use serde_json::json;

    #[test]
    fn the_application_document_parses_and_has_the_model() {
        assert!(bc_application_components()
            .pointer("/components/schemas/SaveBCApplicationModel")
            .is_some());
    }

    /// The copy holds NumHub's schemas unchanged, and every schema they reference.
    #[test]
    fn the_copied_schemas_are_the_documents() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/numhub-api/brandcontrol-v1.swagger.json"
        );
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("document")).expect("json");
        let copied = bc_application_components()["components"]["schemas"]
            .as_object()
            .expect("schemas");
        for (name, schema) in copied {
            assert_eq!(
                Some(schema),
                doc.pointer(&format!("/components/schemas/{name}")),
                "{name}"
            );
            for r in schema.to_string().split("#/components/schemas/").skip(1) {
                let target = r.split('"').next().unwrap_or_default();
                assert!(copied.contains_key(target), "{name} references {target}");
            }
        }
    }

    #[test]
    fn an_update_names_identities_and_a_create_does_not() {
        let body = json!({"application": {"applicationId": "BC-1", "modifiedSections": ["x"],
            "displayIdentityInformation": {"displayIdentities": [
                {"numhubIdentityId": "0b7b4c1e-58c4-4d0e-9a54-0d1e7b6f1a11", "callerName": "A"}]}}});
        let update = object(&[("application", application_update())], &[]);
        assert_eq!(validate(&update, &body), Vec::new());
        let mut bad = body.clone();
        bad["application"]["displayIdentityInformation"]["displayIdentities"][0]
            ["numhubIdentityId"] = json!("not-an-id");
        assert_eq!(
            validate(&update, &bad)[0].reason,
            "\"not-an-id\" is not a uuid"
        );
        let create = object(&[("application", application())], &[]);
        let fields: Vec<String> = validate(&create, &body)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert!(
            fields.contains(
                &"application.displayIdentityInformation.displayIdentities[0].numhubIdentityId"
                    .to_string()
            ),
            "{fields:?}"
        );
    }

    #[test]
    fn application_checks_names_types_and_status() {
        let s = object(&[("application", application())], &[]);
        assert!(validate(&s, &json!({"application": {"status": "Saved"}})).is_empty());
        let e = validate(&s, &json!({"application": {"status": "Maybe", "bogus": 1}}));
        let fields: Vec<&str> = e.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"application.status"), "{e:?}");
        assert!(fields.contains(&"application.bogus"), "{e:?}");
        let e = validate(
            &s,
            &json!({"application": {"businessEntityDetails": {"legalBusinessName": 5}}}),
        );
        assert_eq!(
            e[0].field,
            "application.businessEntityDetails.legalBusinessName"
        );
    }

    #[test]
    fn required_extra_and_types() {
        let s = object(&[("tenant_id", id())], &[("name", string(3))]);
        assert!(validate(&s, &json!({"tenant_id": 1})).is_empty());
        assert_eq!(validate(&s, &json!({}))[0].field, "tenant_id");
        assert_eq!(validate(&s, &json!({"tenant_id": 1, "x": 1}))[0].field, "x");
        assert_eq!(
            validate(&s, &json!({"tenant_id": "1"}))[0].field,
            "tenant_id"
        );
        assert_eq!(
            validate(&s, &json!({"tenant_id": 1, "name": "long"}))[0].field,
            "name"
        );
        assert_eq!(validate(&s, &json!([1]))[0].field, "params");
    }
}
