//! One HTTP exchange with NumHub: builds the request (headers, query, JSON or a
//! multipart body streamed from disk), sends it once under a governor permit, and
//! audits it. Retrying, tokens and typing are the callers' business.
//!
//! `send_once` reads as the exchange's steps: `prepare` (URL, headers, the body —
//! a multipart one streamed from disk and hashed), `exchange` (the send and the
//! capped read), `record` (the audit row, then the errors a sent exchange still
//! comes to).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::audit::Redactor;
use super::governor::{Governor, Priority};
use super::model::UploadFile;
use super::NumhubError;
use crate::db::{HttpMethod, Store};
use prepare::Prepared;

mod exchange;
mod prepare;
mod record;

/// What to send. Built once per call; each attempt turns it into a fresh request
/// (a multipart body re-opens its files).
#[derive(Clone)]
pub struct Request {
    pub method: HttpMethod,
    /// Under `/api/v1`, e.g. `/application/{id}`; never holds the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
    pub tenant_id: Option<i64>,
    pub priority: Priority,
    /// NumHub's ids of what the call concerns, for the audit row.
    pub entity: Option<String>,
    pub identity: Option<String>,
    /// How a 2xx body is taken and audited.
    pub answer: Answer,
}

/// What a 2xx body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// JSON, audited as its redacted value.
    Json,
    /// A file (the LOA template): read up to `max_bytes` (beyond is a `Decode` error,
    /// not retried), audited as content type, size and SHA-256, never the bytes.
    Bytes { max_bytes: usize },
}

#[derive(Clone)]
pub enum Body {
    None,
    Json(Value),
    Multipart {
        files: Vec<(String, UploadFile)>,
        fields: Vec<(String, String)>,
    },
}

/// The token call's query holds the password and the OTP call's the code: `Debug`
/// shows what the audit row would (secret names redacted) and no body values (they
/// hold applicants' details and business ids).
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let query: Vec<(&str, &str)> = self
            .query
            .iter()
            .map(|(k, v)| {
                let shown = if super::audit::is_secret_key(&k.to_ascii_lowercase()) {
                    super::audit::REDACTED
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &query)
            .field("body", &self.body)
            .field("tenant_id", &self.tenant_id)
            .field("entity", &self.entity)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::None => f.write_str("None"),
            Body::Json(_) => f.write_str("Json([not shown])"),
            Body::Multipart { files, fields } => {
                let names: Vec<(&str, &str)> = files
                    .iter()
                    .map(|(field, file)| (field.as_str(), file.file_name.as_str()))
                    .collect();
                let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
                f.debug_struct("Multipart")
                    .field("files", &names)
                    .field("fields", &keys)
                    .finish()
            }
        }
    }
}

impl Request {
    pub fn new(method: HttpMethod, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::None,
            tenant_id: None,
            priority: Priority::Background,
            entity: None,
            identity: None,
            answer: Answer::Json,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("/api/v1{}", self.path)
    }
}

/// The headers that go with every call but the token call.
pub struct Auth<'a> {
    pub bearer: &'a str,
    pub client_id: i32,
    pub scheme: Option<&'a str>,
}

/// What one attempt came to.
pub enum Outcome {
    /// NumHub answered (any status).
    Answer {
        status: u16,
        body: bytes::Bytes,
        content_type: Option<String>,
    },
    /// No answer. `sent` is false only when the connection was never made, so the
    /// request cannot have reached NumHub.
    Failed { sent: bool, reason: String },
}

pub struct Transport {
    pub http: reqwest::Client,
    pub base_url: String,
    pub store: Store,
    pub redactor: Redactor,
    /// Set once the database has its NumHub origin (`db::origin`) for this process.
    pub origin_recorded: tokio::sync::OnceCell<()>,
    /// `[numhub] max_response_bytes`: the largest JSON answer read.
    pub max_response_bytes: usize,
    /// `[audit] max_payload_bytes`: an audit payload is cut above it.
    pub max_audit_payload: usize,
}

/// Proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) are honoured by reqwest's
/// default; `ca_file` adds a PEM bundle to the platform's trust store.
pub fn build_http(
    timeout: Duration,
    ca_file: Option<&PathBuf>,
) -> Result<reqwest::Client, NumhubError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("numhubd/", env!("CARGO_PKG_VERSION")))
        // NumHub documents no redirect; following one would send the token call's
        // query (the password) and the bearer token wherever it points.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| NumhubError::Setup(format!("numhub.ca_file {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| NumhubError::Setup(format!("numhub.ca_file {}: {e}", path.display())))?;
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| NumhubError::Setup(describe(&e)))
}

/// A reqwest error in words, without its URL (the token call's URL holds the
/// password) and with the underlying cause (e.g. "connection reset by peer").
pub fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    if e.is_timeout() {
        parts.push("timed out".to_string());
    } else if e.is_connect() {
        parts.push("could not connect".to_string());
    } else if e.is_body() || e.is_decode() {
        parts.push("body failed".to_string());
    } else {
        parts.push("request failed".to_string());
    }
    let mut source = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(l) = last {
        parts.push(l);
    }
    parts.join(": ")
}

impl Transport {
    /// Sends `req` once: waits for a permit, sends, audits.
    pub async fn send_once(
        &self,
        governor: &Governor,
        req: &Request,
        auth: Option<&Auth<'_>>,
        gate: Option<&super::Gate>,
    ) -> Result<(Outcome, Option<u32>), NumhubError> {
        self.record_origin().await?;
        let Prepared { builder, audit } = self.prepare(req, auth)?;
        governor.acquire(req.priority).await?;
        if gate.is_some_and(|may_send| !may_send()) {
            return Err(NumhubError::NotLeading);
        }
        let started = Instant::now();
        let sent = exchange::send(builder, self.limit(req.answer)).await;
        let elapsed_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let status = sent.status();
        governor.observe(status, sent.remaining).await;
        // One line per exchange, so the journal can be searched by tenant, endpoint
        // and status (`NUMHUB_ENDPOINT=…`); the audit row holds the rest.
        tracing::debug!(
            tenant = req.tenant_id,
            numhub_entity_id = req.entity.as_deref(),
            endpoint = %req.endpoint(),
            status,
            elapsed_ms,
            "NumHub exchange"
        );
        self.record(req, &audit, &sent, elapsed_ms).await;
        self.refuse(req, &audit.files, &sent)?;
        Ok((sent.outcome, sent.remaining))
    }

    /// The database remembers which NumHub it talks to before anything is sent
    /// (under `serve --sandbox` the daemon recorded "sandbox" first, so this keeps it).
    async fn record_origin(&self) -> Result<(), NumhubError> {
        if self.base_url.is_empty() {
            return Err(NumhubError::Setup(
                "numhub.base_url is not set: give NumHub's URL in the config, or run with --sandbox"
                    .into(),
            ));
        }
        self.origin_recorded
            .get_or_try_init(|| async {
                let origin = crate::db::origin::NumhubOrigin::Url(self.base_url.clone());
                self.store
                    .write(move |tx| crate::db::origin::record_if_absent(tx, &origin).map(|_| ()))
                    .await
            })
            .await?;
        Ok(())
    }

    /// The most of an answer that is read: a file answer's own limit, else
    /// `[numhub] max_response_bytes`.
    fn limit(&self, answer: Answer) -> usize {
        match answer {
            Answer::Json => self.max_response_bytes,
            Answer::Bytes { max_bytes } => max_bytes,
        }
    }
}

/// NumHub's `{"message": …}` from an error body, when there is one.
pub fn error_message(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("message")?
        .as_str()
        .map(|s| s.chars().take(500).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_password_otp_or_body() {
        let mut login = Request::new(HttpMethod::Post, "/authorize/token");
        login.query = vec![
            ("Email".into(), "ops@example.com".into()),
            ("Password".into(), "hunter2-secret".into()),
        ];
        let mut otp = Request::new(HttpMethod::Post, "/application/x/verifyOtp");
        otp.query = vec![("otp".into(), "424242".into())];
        otp.body = Body::Json(serde_json::json!({"federalEmployerIdNumber": "987654321"}));
        let shown = format!("{login:?} {otp:?} {login:#?}");
        for secret in ["ops@example.com", "hunter2-secret", "424242", "987654321"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("/authorize/token") && shown.contains("[redacted]"),
            "{shown}"
        );
    }

    /// A 3xx is an answer, not an address to send the password to.
    #[tokio::test]
    async fn redirects_are_not_followed() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let mut paths = Vec::new();
            // Answers every connection with a redirect to /elsewhere until told to stop.
            for stream in listener.incoming().take(2) {
                let mut stream = stream.expect("accept");
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                if path == "/stop" {
                    break;
                }
                paths.push(path);
                let _ = stream.write_all(
                    format!("HTTP/1.1 302 Found\r\nLocation: http://{addr}/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                );
            }
            paths
        });
        let http = build_http(Duration::from_secs(5), None).expect("client");
        let answer = http
            .post(format!("http://{addr}/api/v1/authorize/token?Password=x"))
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status().as_u16(), 302);
        let _ = http.get(format!("http://{addr}/stop")).send().await;
        let paths = server.join().expect("server");
        assert_eq!(
            paths,
            vec!["/api/v1/authorize/token?Password=x".to_string()]
        );
    }

    /// A raw HTTP/1.1 server on loopback answering each path with `answer(path)`
    /// (written until the client goes away); returns its base URL.
    fn raw_server(answer: fn(&str) -> Vec<Vec<u8>>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                for part in answer(&path) {
                    if stream.write_all(&part).is_err() {
                        break;
                    }
                }
            }
        });
        format!("http://{addr}")
    }

    /// NumHub's JSON answers are read up to `[numhub] max_response_bytes`, whether
    /// announced by Content-Length or streamed without end; an answer past it is an
    /// error naming the operation, and no audit payload is larger than
    /// `[audit] max_payload_bytes` (a cut one says so and how large it was).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_are_capped_and_audit_payloads_cut() {
        fn answer(path: &str) -> Vec<Vec<u8>> {
            let json = |n: usize| format!("{{\"message\":\"{}\"}}", "x".repeat(n));
            match path {
                "/api/v1/declared" => {
                    let body = json(20_000);
                    vec![format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .into_bytes()]
                }
                // Chunked, never ending: only the cap (or the timeout) stops it.
                "/api/v1/endless" => {
                    let mut parts = vec![b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n".to_vec()];
                    parts.extend(std::iter::repeat_n(
                        format!("{}\r\n3e8\r\n", "y".repeat(1000)).into_bytes(),
                        100_000,
                    ));
                    parts
                }
                _ => {
                    let body = json(3000);
                    vec![format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .into_bytes()]
                }
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db"), crate::db::StoreOptions::default())
            .expect("store");
        let transport = Transport {
            http: build_http(Duration::from_secs(20), None).expect("client"),
            base_url: raw_server(answer),
            store: store.clone(),
            redactor: Redactor::new(&[], [7; 32]),
            origin_recorded: Default::default(),
            max_response_bytes: 8192,
            max_audit_payload: 1024,
        };
        let governor = Governor::new(0, Duration::from_secs(60));
        for path in ["/declared", "/endless"] {
            let req = Request::new(HttpMethod::Get, path);
            let Err(err) = transport.send_once(&governor, &req, None, None).await else {
                panic!("{path}: an answer over the cap was read");
            };
            let msg = err.to_string();
            assert!(
                matches!(err, NumhubError::Decode { .. })
                    && msg.contains(path)
                    && msg.contains("8192"),
                "{msg}"
            );
        }
        let (outcome, _) = transport
            .send_once(
                &governor,
                &Request::new(HttpMethod::Get, "/small"),
                None,
                None,
            )
            .await
            .expect("a 3 KB answer is read");
        assert!(matches!(outcome, Outcome::Answer { status: 200, .. }));
        store.write(|_| Ok(())).await.expect("audit rows written");
        let rows = store
            .read(|sql| crate::db::sync_logs::list(sql, &crate::db::sync_logs::LogQuery::default()))
            .await
            .expect("rows")
            .items;
        assert_eq!(rows.len(), 3);
        for row in &rows {
            let response = row.response_payload.clone().unwrap_or(Value::Null);
            assert!(
                response.to_string().len() <= 1024,
                "{}: {response}",
                row.endpoint
            );
        }
        let small = rows
            .iter()
            .find(|r| r.endpoint.ends_with("/small"))
            .and_then(|r| r.response_payload.clone())
            .expect("the small answer's row");
        assert_eq!(small["truncated"], true, "{small}");
        assert!(small["bytes"].as_u64().is_some_and(|n| n > 3000), "{small}");
    }

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        let e = build_http(Duration::from_secs(1), Some(&missing)).expect_err("missing");
        assert!(e.to_string().contains("numhub.ca_file"), "{e}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let e = build_http(Duration::from_secs(1), Some(&junk)).expect_err("junk");
        assert!(e.to_string().contains("numhub.ca_file"), "{e}");
        build_http(Duration::from_secs(1), None).expect("no extra CA");
    }
}
