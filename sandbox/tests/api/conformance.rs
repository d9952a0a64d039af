//! Spec conformance, tested rather than assumed: a small validator for the subset of
//! OpenAPI the document uses, a flow that calls every implemented operation and checks
//! each answer (status code listed for the operation, body valid against its declared
//! schema), checks of request-schema rejections, and proof that the suite fails for the
//! right reason when the sandbox is deliberately broken.

use std::sync::OnceLock;
use std::time::Duration;

use numhub_sandbox::{Break, PhoneForm, SandboxConfig};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::common::{self, application_body, Env};

/// NumHub's document as the repository carries it (see `numhub-api/README.md`).
const DOC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../numhub-api/brandcontrol-v1.swagger.json"
);

/// The SHA-256 of NumHub's BrandControl API v1 document, rel. 231011, as given to the
/// project; `numhub-api/README.md` records the same value.
const DOC_SHA256: &str = "75e4f286aee285863d3d10cfe0673dc22dd0c959f5940a137fc88556a5ee16b4";

/// The document's bytes, refused unless they are NumHub's: an edited copy would make
/// the sandbox conform to our idea of NumHub instead of NumHub's.
fn doc_bytes() -> Vec<u8> {
    let bytes = std::fs::read(DOC).unwrap_or_else(|e| panic!("read {DOC}: {e}"));
    let got = hex_sha256(&bytes);
    assert_eq!(
        got, DOC_SHA256,
        "{DOC} is not NumHub's document (SHA-256 differs): restore it, never edit it"
    );
    bytes
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn doc() -> &'static Value {
    static DOC_JSON: OnceLock<Value> = OnceLock::new();
    DOC_JSON
        .get_or_init(|| serde_json::from_slice(&doc_bytes()).expect("parse the OpenAPI document"))
}

/// The repository's copy is NumHub's document byte for byte, and its README records
/// the same SHA-256 this test checks.
#[test]
fn the_api_document_is_numhubs_byte_for_byte() {
    assert_eq!(hex_sha256(&doc_bytes()), DOC_SHA256);
    let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../numhub-api/README.md");
    let readme = std::fs::read_to_string(readme_path).expect("numhub-api/README.md");
    assert!(
        readme.contains(&format!("SHA-256: `{DOC_SHA256}`")),
        "numhub-api/README.md does not record SHA-256 {DOC_SHA256}"
    );
}

/// Validates `v` against `schema`; each problem is pushed to `out` with its JSON path.
pub fn validate(schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or("");
        let target = &doc()["components"]["schemas"][name];
        if target.is_null() {
            out.push(format!("{path}: unresolvable $ref {r}"));
            return;
        }
        return validate(target, v, path, out);
    }
    let ty = schema.get("type").and_then(Value::as_str);
    if v.is_null() {
        let nullable = schema
            .get("nullable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !nullable && ty.is_some() {
            out.push(format!("{path}: null where the schema is not nullable"));
        }
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            out.push(format!("{path}: {v} is not one of {allowed:?}"));
        }
    }
    let format = schema.get("format").and_then(Value::as_str);
    match ty {
        Some("object") => {
            let Some(obj) = v.as_object() else {
                out.push(format!("{path}: expected an object, got {v}"));
                return;
            };
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, val) in obj {
                let child = format!("{path}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(s) => validate(s, val, &child, out),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            out.push(format!("{child}: field not declared by the schema"))
                        }
                        Some(extra @ Value::Object(_)) => validate(extra, val, &child, out),
                        _ => {}
                    },
                }
            }
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(name) = req.as_str() {
                    if !obj.contains_key(name) {
                        out.push(format!("{path}.{name}: required field missing"));
                    }
                }
            }
        }
        Some("array") => {
            let Some(items) = v.as_array() else {
                out.push(format!("{path}: expected an array, got {v}"));
                return;
            };
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Some("string") => {
            let Some(s) = v.as_str() else {
                out.push(format!("{path}: expected a string, got {v}"));
                return;
            };
            match format {
                Some("uuid") if uuid::Uuid::parse_str(s).is_err() => {
                    out.push(format!("{path}: {s:?} is not a uuid"))
                }
                Some("date-time") if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
                    out.push(format!("{path}: {s:?} is not an RFC 3339 date-time"))
                }
                _ => {}
            }
        }
        Some("integer") => {
            let ok = match format {
                Some("int32") => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                _ => v.as_i64().is_some(),
            };
            if !ok {
                out.push(format!(
                    "{path}: {v} is not an {}",
                    format.unwrap_or("integer")
                ));
            }
        }
        Some("number") if !v.is_number() => out.push(format!("{path}: {v} is not a number")),
        Some("boolean") if !v.is_boolean() => out.push(format!("{path}: {v} is not a boolean")),
        _ => {}
    }
}

/// Checks one answer against the operation `method template`.
pub fn check_answer(
    method: &str,
    template: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
    out: &mut Vec<String>,
) {
    let op = &doc()["paths"][template][method.to_ascii_lowercase()];
    let here = format!("{method} {template} → {status}");
    if op.is_null() {
        out.push(format!("{here}: no such operation in the document"));
        return;
    }
    let Some(resp) = op["responses"].get(status.to_string()) else {
        out.push(format!("{here}: status not documented for this operation"));
        return;
    };
    match status {
        200 => {
            let schema = &resp["content"]["application/json"]["schema"];
            if schema.is_null() {
                out.push(format!("{here}: the document declares no JSON body"));
                return;
            }
            if schema["type"] == "string" && schema["format"] == "binary" {
                if body.is_empty() {
                    out.push(format!("{here}: empty binary body"));
                }
                return;
            }
            if !content_type.starts_with("application/json") {
                out.push(format!(
                    "{here}: content type {content_type:?}, want application/json"
                ));
            }
            match serde_json::from_slice::<Value>(body) {
                Ok(v) => {
                    let mut problems = Vec::new();
                    validate(schema, &v, "$", &mut problems);
                    out.extend(problems.into_iter().map(|p| format!("{here}: {p}")));
                }
                Err(e) => out.push(format!("{here}: body is not JSON: {e}")),
            }
        }
        400 => {
            if !content_type.starts_with("application/json") {
                out.push(format!(
                    "{here}: content type {content_type:?}, want application/json"
                ));
            }
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m))
                    if m.len() == 1 && m.get("message").is_some_and(Value::is_string) => {}
                _ => out.push(format!(
                    "{here}: body is not {{\"message\": …}}: {}",
                    String::from_utf8_lossy(body)
                )),
            }
        }
        _ => {
            if !body.is_empty() {
                out.push(format!(
                    "{here}: the document declares no body, got {} bytes",
                    body.len()
                ));
            }
        }
    }
}

/// Sends requests and records every answer's conformance problems.
pub struct Checker {
    pub violations: Vec<String>,
    pub calls: usize,
}

pub struct Answer {
    pub status: u16,
    pub json: Value,
}

impl Checker {
    pub fn new() -> Checker {
        Checker {
            violations: Vec::new(),
            calls: 0,
        }
    }

    pub async fn send(&mut self, method: &str, template: &str, rb: RequestBuilder) -> Answer {
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers();
        let ctype = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let has_remaining = headers.get("requests-remaining").is_some();
        if !has_remaining {
            self.violations.push(format!(
                "{method} {template} → {status}: no requests-remaining header"
            ));
        }
        let body = resp.bytes().await.expect("body");
        check_answer(
            method,
            template,
            status,
            &ctype,
            &body,
            &mut self.violations,
        );
        self.calls += 1;
        Answer {
            status,
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    /// Records a violation when an answer's status is not the one the scenario requires.
    pub fn expect(&mut self, what: &str, answer: &Answer, want: u16) {
        if answer.status != want {
            self.violations
                .push(format!("{what}: expected {want}, got {}", answer.status));
        }
    }

    /// A request that violates the request schema must be a 400 whose message names `field`.
    pub fn expect_rejected(&mut self, what: &str, answer: &Answer, field: &str) {
        self.expect(what, answer, 400);
        let msg = answer.json["message"].as_str().unwrap_or("");
        if !msg.contains(field) {
            self.violations
                .push(format!("{what}: message {msg:?} does not name {field:?}"));
        }
    }
}

/// Calls every implemented operation (success and error paths) and checks each answer.
pub async fn run_flow(env: &Env) -> Checker {
    let mut c = Checker::new();
    let e = env;

    // Token: good and bad credentials.
    let a = c
        .send(
            "POST",
            "/api/v1/authorize/token",
            e.http.post(e.url("/api/v1/authorize/token")).query(&[
                ("Email", common::DEMO_EMAIL),
                ("Password", common::DEMO_PASSWORD),
            ]),
        )
        .await;
    c.expect("token", &a, 200);
    let a = c
        .send(
            "POST",
            "/api/v1/authorize/token",
            e.http
                .post(e.url("/api/v1/authorize/token"))
                .query(&[("Email", common::DEMO_EMAIL), ("Password", "wrong")]),
        )
        .await;
    c.expect("token with a wrong password", &a, 400);

    let a = c
        .send(
            "GET",
            "/api/v1/authorize/userInfo",
            e.req(Method::GET, "/api/v1/authorize/userInfo"),
        )
        .await;
    c.expect("userInfo", &a, 204);

    // Applications.
    let a = c
        .send(
            "POST",
            "/api/v1/application",
            e.req(Method::POST, "/api/v1/application")
                .json(&application_body("Conformance Co", "Submit")),
        )
        .await;
    c.expect("create", &a, 200);
    let id = a.json["numhubEntityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let saved = e.create("Saved Co", "Saved").await;

    let t = "/api/v1/application/{NumhubEntityId}";
    let a = c
        .send(
            "GET",
            t,
            e.req(Method::GET, &format!("/api/v1/application/{id}")),
        )
        .await;
    c.expect("get", &a, 200);
    let a = c
        .send(
            "GET",
            "/api/v1/application/{NumhubEntityId}/view",
            e.req(Method::GET, &format!("/api/v1/application/{id}/view")),
        )
        .await;
    c.expect("view", &a, 200);
    let a = c
        .send(
            "GET",
            t,
            e.req(
                Method::GET,
                &format!("/api/v1/application/{}", uuid::Uuid::new_v4()),
            ),
        )
        .await;
    c.expect("get unknown", &a, 404);
    let a = c
        .send(
            "GET",
            t,
            e.req(Method::GET, "/api/v1/application/not-a-uuid"),
        )
        .await;
    c.expect("get with a malformed id", &a, 400);
    let mut update = application_body("Saved Co Renamed", "Submit");
    update["applicationId"] = json!("ignored");
    update["modifiedSections"] = json!(["businessEntityDetails"]);
    let a = c
        .send(
            "PUT",
            t,
            e.req(Method::PUT, &format!("/api/v1/application/{saved}"))
                .json(&update),
        )
        .await;
    c.expect("update", &a, 200);
    let a = c
        .send(
            "GET",
            "/api/v1/application/vetting-report/{NumhubEntityId}",
            e.req(
                Method::GET,
                &format!("/api/v1/application/vetting-report/{id}"),
            ),
        )
        .await;
    c.expect("vetting report", &a, 200);

    // Request-schema violations.
    let mut bad = application_body("Bad Co", "Submit");
    bad["status"] = json!("Approved");
    let a = c
        .send(
            "POST",
            "/api/v1/application",
            e.req(Method::POST, "/api/v1/application").json(&bad),
        )
        .await;
    c.expect_rejected("create with a wrong enum", &a, "status");
    let mut bad = application_body("Bad Co", "Submit");
    bad["businessEntityDetails"]["nickname"] = json!("x");
    let a = c
        .send(
            "POST",
            "/api/v1/application",
            e.req(Method::POST, "/api/v1/application").json(&bad),
        )
        .await;
    c.expect_rejected("create with an unknown field", &a, "nickname");
    let mut bad = application_body("Bad Co", "Submit");
    bad["section"] = json!("eight");
    let a = c
        .send(
            "POST",
            "/api/v1/application",
            e.req(Method::POST, "/api/v1/application").json(&bad),
        )
        .await;
    c.expect_rejected("create with a wrong type", &a, "section");
    let a = c
        .send(
            "POST",
            "/api/v1/application",
            e.http
                .post(e.url("/api/v1/application"))
                .bearer_auth(&e.token)
                .json(&application_body("No Header Co", "Saved")),
        )
        .await;
    c.expect_rejected("create without client-id", &a, "client-id");
    let a = c
        .send(
            "GET",
            "/api/v1/reports/status",
            e.http
                .get(e.url("/api/v1/reports/status"))
                .bearer_auth(&e.token)
                .header("client-id", "12x"),
        )
        .await;
    c.expect_rejected("malformed client-id", &a, "client-id");
    let a = c
        .send(
            "GET",
            "/api/v1/reports/status",
            e.req(Method::GET, "/api/v1/reports/status")
                .header("X-Auth-Scheme", "Basic"),
        )
        .await;
    c.expect_rejected("wrong X-Auth-Scheme", &a, "X-Auth-Scheme");
    let a = c
        .send(
            "GET",
            "/api/v1/reports/status",
            e.req(Method::GET, "/api/v1/reports/status")
                .header("X-Auth-Scheme", "ATLAASROPG"),
        )
        .await;
    c.expect("X-Auth-Scheme ATLAASROPG", &a, 200);

    // Auth errors.
    let a = c
        .send(
            "GET",
            "/api/v1/reports/status",
            e.http
                .get(e.url("/api/v1/reports/status"))
                .bearer_auth("nope")
                .header("client-id", "1001"),
        )
        .await;
    c.expect("unknown token", &a, 401);
    let a = c
        .send(
            "GET",
            "/api/v1/reports/status",
            e.http
                .get(e.url("/api/v1/reports/status"))
                .bearer_auth(&e.token)
                .header("client-id", "9999"),
        )
        .await;
    c.expect("client-id naming another client", &a, 403);

    // Listings and reports.
    let a = c
        .send(
            "GET",
            "/api/v1/application/completedEntities",
            e.req(Method::GET, "/api/v1/application/completedEntities"),
        )
        .await;
    c.expect("completedEntities", &a, 200);
    let a = c
        .send(
            "GET",
            "/api/v1/application/{clientId}/completedEntities",
            e.req(Method::GET, "/api/v1/application/1001/completedEntities"),
        )
        .await;
    c.expect("completedEntities by client", &a, 200);
    let a = c
        .send(
            "GET",
            "/api/v1/application/attestation/{clientId}",
            e.req(Method::GET, "/api/v1/application/attestation/1001")
                .query(&[("PageNumber", "1"), ("pageSize", "5")]),
        )
        .await;
    c.expect("attestation list", &a, 200);
    let a = c
        .send(
            "PUT",
            "/api/v1/application/attestation/{NumhubEntityId}",
            e.req(
                Method::PUT,
                &format!("/api/v1/application/attestation/{saved}"),
            )
            .query(&[("changesRequired", "false")])
            .json(&application_body("Saved Co Renamed", "Submit")),
        )
        .await;
    c.expect("attestation submit", &a, 200);
    let a = c
        .send(
            "GET",
            "/api/v1/reports/status",
            e.req(Method::GET, "/api/v1/reports/status"),
        )
        .await;
    c.expect("status report", &a, 200);

    // OTP.
    let otp_gen = "/api/v1/application/{NumhubEntityId}/generateOtp";
    let otp_verify = "/api/v1/application/{NumhubEntityId}/verifyOtp";
    let a = c
        .send(
            "POST",
            otp_gen,
            e.req(
                Method::POST,
                &format!("/api/v1/application/{id}/generateOtp"),
            )
            .query(&[("isResend", "false")]),
        )
        .await;
    c.expect("generateOtp", &a, 200);
    let a = c
        .send(
            "POST",
            otp_verify,
            e.req(Method::POST, &format!("/api/v1/application/{id}/verifyOtp"))
                .query(&[("otp", "1")]),
        )
        .await;
    c.expect("verifyOtp wrong", &a, 400);
    let a = c
        .send(
            "POST",
            otp_verify,
            e.req(Method::POST, &format!("/api/v1/application/{id}/verifyOtp"))
                .query(&[("otp", "123456")]),
        )
        .await;
    c.expect("verifyOtp right", &a, 200);

    // Documents.
    let docs = "/api/v1/application/{NumhubEntityId}/documents";
    let form = Form::new()
        .part(
            "Files",
            Part::bytes(common::pdf())
                .file_name("loa.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        )
        .text("DocumentType", "LOA")
        .text("Description", "letter of authorization");
    let a = c
        .send(
            "POST",
            docs,
            e.req(Method::POST, &format!("/api/v1/application/{id}/documents"))
                .multipart(form),
        )
        .await;
    c.expect("upload", &a, 200);
    let doc_id = a.json["documents"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let form = Form::new()
        .part(
            "Files",
            Part::bytes(common::bmp())
                .file_name("loa.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        )
        .text("DocumentType", "LOA");
    let a = c
        .send(
            "POST",
            docs,
            e.req(Method::POST, &format!("/api/v1/application/{id}/documents"))
                .multipart(form),
        )
        .await;
    c.expect("upload of a BMP named .pdf as LOA", &a, 400);
    let a = c
        .send(
            "DELETE",
            "/api/v1/application/{NumhubEntityId}/documents/{documentId}",
            e.req(
                Method::DELETE,
                &format!("/api/v1/application/{id}/documents/{doc_id}"),
            ),
        )
        .await;
    c.expect("delete document", &a, 200);

    // Vetting completes; identities appear.
    e.sb.advance_clock(301);
    let a = c
        .send(
            "GET",
            t,
            e.req(Method::GET, &format!("/api/v1/application/{id}")),
        )
        .await;
    c.expect("get after vetting", &a, 200);
    let identity = a.json["result"]["displayIdentityInformation"]["displayIdentities"][0]
        ["numhubIdentityId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let dir_id =
        a.json["result"]["displayIdentityInformation"]["displayIdentities"][0]["dirId"].clone();
    let a = c
        .send(
            "GET",
            "/api/v1/applications/newdisplayidentity",
            e.req(Method::GET, "/api/v1/applications/newdisplayidentity")
                .query(&[("pageNumber", "1"), ("pageSize", "50")]),
        )
        .await;
    c.expect("identity list", &a, 200);
    let a = c
        .send(
            "GET",
            "/api/v1/applications/newidentities/{NumhubIdentityId}",
            e.req(
                Method::GET,
                &format!("/api/v1/applications/newidentities/{identity}"),
            ),
        )
        .await;
    c.expect("identity detail", &a, 200);
    let a = c
        .send(
            "PUT",
            "/api/v1/applications/updatedisplayidentity",
            e.req(Method::PUT, "/api/v1/applications/updatedisplayidentity").json(&json!({
                "numhubEntityId": id, "numhubIdentityId": identity, "callerName": "New Name",
                "tnAdded": ["555-999-0000"], "tnRemoved": [], "isDeactivation": false, "isFeeChecked": true
            })),
        )
        .await;
    c.expect("update identity", &a, 200);
    let a = c
        .send(
            "PUT",
            "/api/v1/applications/updatedisplayidentity",
            e.req(Method::PUT, "/api/v1/applications/updatedisplayidentity")
                .json(&json!({ "numhubIdentityId": identity, "isDeactivation": "no" })),
        )
        .await;
    c.expect_rejected("update identity with a wrong type", &a, "isDeactivation");
    let a = c
        .send(
            "GET",
            "/api/v1/applications/newidentities/{NumhubIdentityId}",
            e.req(
                Method::GET,
                &format!("/api/v1/applications/newidentities/{identity}"),
            ),
        )
        .await;
    c.expect("identity detail with a change request", &a, 200);
    let tns = "/api/v1/applications/{NumhubIdentityId}/uploadadditionaltns";
    let form = Form::new().part(
        "File",
        Part::bytes(b"+15557770001\n555-777-0002\n".to_vec())
            .file_name("tns.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let a = c
        .send(
            "POST",
            tns,
            e.req(
                Method::POST,
                &format!("/api/v1/applications/{identity}/uploadadditionaltns"),
            )
            .multipart(form),
        )
        .await;
    c.expect("upload additional numbers", &a, 200);
    let a = c
        .send(
            "GET",
            "/api/v1/applications/downloadphonenumbers",
            e.req(Method::GET, "/api/v1/applications/downloadphonenumbers")
                .query(&[
                    ("NumhubIdentityId", identity.as_str()),
                    ("NumhubEntityId", id.as_str()),
                ]),
        )
        .await;
    c.expect("download numbers", &a, 200);
    let a = c
        .send(
            "DELETE",
            "/api/v1/applications/{NumhubIdentityId}/additionaltns",
            e.req(
                Method::DELETE,
                &format!("/api/v1/applications/{identity}/additionaltns"),
            ),
        )
        .await;
    c.expect("delete additional numbers", &a, 200);
    let a = c
        .send(
            "PUT",
            "/api/v1/applications/deactivationrequest",
            e.req(Method::PUT, "/api/v1/applications/deactivationrequest")
                .json(&json!({ "numhubIdentityId": identity, "dirId": dir_id, "isDeactivationRequest": true })),
        )
        .await;
    c.expect("deactivation request", &a, 200);

    // Notifications: a rejected application is flagged.
    let rejected = e.create("Please REJECT Co", "Submit").await;
    e.sb.advance_clock(61);
    let a = c
        .send(
            "GET",
            "/api/v1/notifications",
            e.req(Method::GET, "/api/v1/notifications"),
        )
        .await;
    c.expect("notifications", &a, 200);
    let a = c
        .send(
            "GET",
            "/api/v1/notifications/{NumhubEntityId}/flag",
            e.req(
                Method::GET,
                &format!("/api/v1/notifications/{rejected}/flag"),
            ),
        )
        .await;
    c.expect("flag", &a, 200);
    // A flag an admin route sets (one alert per section, another spelling of the
    // company, clientId 0): the alerts, the comments and the vetting report's Flag.
    let flagged = e.create("Flagged Review Co", "Submit").await;
    let r = e
        .admin(
            &format!("/__sandbox/entities/{flagged}/flag"),
            json!({"message": "Please correct", "alertCompanyName": "FLAGGED REVIEW CO",
                   "alertClientId": 0, "alertPerSection": true,
                   "comments": [{"sectionNumber": 2, "sectionName": "Business Entity Details",
                                 "comments": "Address does not match"},
                                {"sectionNumber": 7, "sectionName": "Display Identities",
                                 "comments": "Logo unreadable"}]}),
        )
        .await;
    assert!(r.status().is_success(), "flag: {}", r.status());
    for (name, template, path) in [
        (
            "notifications (flagged)",
            "/api/v1/notifications",
            "/api/v1/notifications".to_string(),
        ),
        (
            "flag (flagged)",
            "/api/v1/notifications/{NumhubEntityId}/flag",
            format!("/api/v1/notifications/{flagged}/flag"),
        ),
        (
            "vetting report (flagged)",
            "/api/v1/application/vetting-report/{NumhubEntityId}",
            format!("/api/v1/application/vetting-report/{flagged}"),
        ),
    ] {
        let a = c.send("GET", template, e.req(Method::GET, &path)).await;
        c.expect(name, &a, 200);
    }

    // Out of scope.
    let a = c
        .send("GET", "/api/v1/deals", e.req(Method::GET, "/api/v1/deals"))
        .await;
    c.expect("deals (out of scope)", &a, 400);

    // Rate limit.
    e.sb.set_rate_limit(1, Duration::from_secs(60));
    let _ = e.req(Method::GET, "/api/v1/reports/status").send().await;
    let a = c
        .send(
            "GET",
            "/api/v1/reports/status",
            e.req(Method::GET, "/api/v1/reports/status"),
        )
        .await;
    c.expect("past the rate limit", &a, 429);
    e.sb.set_rate_limit(0, Duration::from_secs(60));
    c
}

#[tokio::test]
async fn every_answer_conforms_to_the_document() {
    let env = common::start(SandboxConfig::default()).await;
    let c = run_flow(&env).await;
    assert!(c.calls >= 40, "the flow made only {} calls", c.calls);
    assert!(
        c.violations.is_empty(),
        "violations:\n{}",
        c.violations.join("\n")
    );
}

/// The same flow with the sandbox generating E.164 numbers (the default is the
/// document's dashed example form).
#[tokio::test]
async fn every_answer_conforms_in_e164_phone_form() {
    let env = common::start(SandboxConfig {
        phone_form: PhoneForm::E164,
        ..SandboxConfig::default()
    })
    .await;
    let c = run_flow(&env).await;
    assert!(
        c.violations.is_empty(),
        "violations:\n{}",
        c.violations.join("\n")
    );
}

#[tokio::test]
async fn suite_catches_an_undeclared_field() {
    let env = common::start(SandboxConfig {
        conformance_break: Some(Break::ExtraField),
        ..SandboxConfig::default()
    })
    .await;
    let c = run_flow(&env).await;
    assert!(
        c.violations
            .iter()
            .any(|v| v.contains("$.sandboxExtra: field not declared by the schema")),
        "the validator did not report the extra field: {:#?}",
        c.violations
    );
    // It is reported on real answers of many operations, not one.
    let count = c
        .violations
        .iter()
        .filter(|v| v.contains("sandboxExtra"))
        .count();
    assert!(count >= 20, "only {count} answers flagged");
}

#[tokio::test]
async fn suite_catches_a_dropped_client_id_check() {
    let env = common::start(SandboxConfig {
        conformance_break: Some(Break::SkipClientIdCheck),
        ..SandboxConfig::default()
    })
    .await;
    let c = run_flow(&env).await;
    assert!(
        c.violations
            .iter()
            .any(|v| v.starts_with("client-id naming another client: expected 403")),
        "{:#?}",
        c.violations
    );
}

#[test]
fn validator_reports_each_kind_of_problem() {
    let mut out = Vec::new();
    let schema = json!({"$ref": "#/components/schemas/CreateEntityResponseModel"});
    validate(
        &schema,
        &json!({"numhubEntityId": "x", "eid": 3, "more": 1}),
        "$",
        &mut out,
    );
    assert!(
        out.iter()
            .any(|p| p.contains("$.numhubEntityId") && p.contains("uuid")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|p| p.contains("$.eid") && p.contains("string")),
        "{out:?}"
    );
    assert!(
        out.iter().any(|p| p.contains("$.more: field not declared")),
        "{out:?}"
    );

    let mut out = Vec::new();
    let schema = json!({"$ref": "#/components/schemas/AccessModel"});
    validate(
        &schema,
        &json!({"expiresIn": 3_000_000_000i64}),
        "$",
        &mut out,
    );
    assert!(
        out.iter().any(|p| p.contains("$.accessToken: required")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|p| p.contains("$.expiresIn") && p.contains("int32")),
        "{out:?}"
    );

    let mut out = Vec::new();
    let schema = json!({"$ref": "#/components/schemas/GetBCApplicationDto"});
    validate(
        &schema,
        &json!({"status": "Approved", "createdDate": "yesterday", "section": null}),
        "$",
        &mut out,
    );
    assert!(
        out.iter()
            .any(|p| p.contains("$.status") && p.contains("not one of")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|p| p.contains("$.createdDate") && p.contains("date-time")),
        "{out:?}"
    );
    assert!(out.iter().any(|p| p.contains("$.section: null")), "{out:?}");

    let mut out = Vec::new();
    check_answer("GET", "/api/v1/reports/status", 404, "", b"", &mut out);
    assert!(out[0].contains("status not documented"), "{out:?}");
}

/// Every operation in the document reaches the handler for that operation (counted under
/// the document's template) and answers a status the document lists for it.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let env = common::start(SandboxConfig {
        rate_limit: 0,
        ..SandboxConfig::default()
    })
    .await;
    let mut out = Vec::new();
    let mut expected = Vec::new();
    let paths = doc()["paths"].as_object().expect("paths");
    for (template, ops) in paths {
        for (method, _) in ops.as_object().expect("operations") {
            let mut concrete = template.clone();
            for int_param in ["{clientId}", "{userId}", "{Id}", "{id}"] {
                concrete = concrete.replace(int_param, "1001");
            }
            while let (Some(a), Some(b)) = (concrete.find('{'), concrete.find('}')) {
                concrete.replace_range(a..=b, &uuid::Uuid::new_v4().to_string());
            }
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
            let resp = env.req(m.clone(), &concrete).send().await.expect("request");
            let status = resp.status().as_u16();
            let ctype = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = resp.bytes().await.expect("body");
            check_answer(m.as_ref(), template, status, &ctype, &body, &mut out);
            expected.push(format!("{m} {template}"));
        }
    }
    assert_eq!(expected.len(), 48, "the document has 48 operations");
    let state = env.sb.state();
    for key in &expected {
        // The login in `start` is the one earlier request.
        let want = if key.ends_with("/authorize/token") {
            2
        } else {
            1
        };
        if state["requests"][key].as_u64() != Some(want) {
            out.push(format!("{key}: not counted under the document's template"));
        }
    }
    assert!(out.is_empty(), "{}", out.join("\n"));
}
