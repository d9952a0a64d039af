//! Malformed calls (#15): requests generated from `rpc.discover`'s schemas of every
//! method, sent valid and mutated (wrong types, missing and extra fields, strings of
//! 1 MiB, deep nesting, invalid UTF-8, numbers past i64, duplicate keys, params of the
//! wrong shape, broken envelopes, batches mixing good and bad calls), as raw bytes over
//! the real socket. The daemon never exits or panics; every answer is JSON-RPC 2.0 with
//! a result or an error whose code is in README.md's table; its RSS stays bounded; and
//! a phase of calls that must all be refused leaves the database's content unchanged.
//!
//! Default: 2,000 mixed requests; `NUMHUBD_STRESS=1`: 10,000. `NUMHUBD_FUZZ_SEED=N`
//! picks the seed (printed on failure).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::rpc_client::{ok, post, socket_of, start_rpc_daemon};

/// The daemon's RSS bound. Calls go one at a time, each body at most `max_body_bytes`
/// (1 MiB); parsing one into serde's `Value` tree costs a few times its size, and the
/// allocator keeps some of what it freed. 160 MiB over the daemon's RSS at start is far
/// above that and far below a leak across thousands of 1 MiB requests.
const RSS_HEADROOM_KIB: u64 = 160 * 1024;

/// Codes that refuse a call before it does anything.
const REFUSALS: [i64; 8] = [
    -32700, -32600, -32601, -32602, -32003, -32007, -32010, -32023,
];

/// One request: its bytes, the ids a reply may carry, and whether the envelope parses
/// (so each reply must echo its call's id).
struct Request {
    what: &'static str,
    bytes: Vec<u8>,
    ids: Vec<i64>,
    echo_id: bool,
    /// Answers expected: the number of calls with an id (a batch), or 1.
    notification: bool,
}

#[test]
fn ten_thousand_malformed_calls_crash_nothing_and_refused_ones_write_nothing() {
    let stress = std::env::var_os("NUMHUBD_STRESS").is_some();
    let seed = crate::support::seed_from_env("NUMHUBD_FUZZ_SEED", 0x15_f022);
    let (mixed, refused) = if stress {
        (10_000, 2_000)
    } else {
        (2_000, 400)
    };
    let mut daemon = start_rpc_daemon("");
    let socket = socket_of(&daemon);
    let codes = documented_codes();
    let discover = ok(&socket, "rpc.discover", json!({}));
    let methods: Vec<Value> = discover["methods"].as_array().cloned().unwrap_or_default();
    assert!(methods.len() > 20, "rpc.discover lists {}", methods.len());
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(seed),
        methods,
        next_id: 1,
    };
    // Rows the valid calls can reach; no tenant uses NumHub, so nothing runs in the
    // background while the refused phase is measured.
    ok(
        &socket,
        "tenant.upsert",
        json!({"id": 1, "name": "Acme", "numhub_enabled": false}),
    );
    ok(
        &socket,
        "brand.upsert",
        json!({"tenant_id": 1, "name": "B", "display_name": "Acme Inc"}),
    );
    let rss_start = rss_kib(daemon.pid());
    let mut rss_max = rss_start;
    let context = |d: &crate::support::Daemon| format!("seed {seed}\n{}", d.stderr());

    // Phase 1: calls that must all be refused; the file's content is unchanged after.
    let store = daemon.store();
    let before = store.content_hash();
    for n in 0..refused {
        let req = g.refused();
        let answers =
            send(&socket, &req, &codes).unwrap_or_else(|e| panic!("{e}; {}", context(&daemon)));
        for a in &answers {
            let code = a.pointer("/error/code").and_then(Value::as_i64);
            assert!(
                code.is_some_and(|c| REFUSALS.contains(&c)),
                "refused-phase call {n} ({}) was answered {a}; seed {seed}; sent {}",
                req.what,
                String::from_utf8_lossy(&req.bytes[..req.bytes.len().min(300)])
            );
        }
        if n % 100 == 0 {
            rss_max = rss_max.max(rss_kib(daemon.pid()));
        }
    }
    assert_eq!(
        store.content_hash(),
        before,
        "a refused call wrote; seed {seed}"
    );

    // Phase 2: valid and mutated calls mixed, batches included.
    let (mut results, mut errors, mut by_code) = (0u64, 0u64, std::collections::BTreeMap::new());
    // Internal errors are documented, yet each names a call worth a look.
    let mut internal = Vec::new();
    for n in 0..mixed {
        let req = g.mixed();
        let answers = send(&socket, &req, &codes)
            .unwrap_or_else(|e| panic!("call {n} ({}): {e}; {}", req.what, context(&daemon)));
        for a in &answers {
            match a.pointer("/error/code").and_then(Value::as_i64) {
                Some(c) => {
                    if c == -32603 {
                        internal.push(
                            String::from_utf8_lossy(&req.bytes[..req.bytes.len().min(160)])
                                .to_string(),
                        );
                    }
                    errors += 1;
                    *by_code.entry(c).or_insert(0u64) += 1;
                }
                None => results += 1,
            }
        }
        if n % 100 == 0 {
            assert!(
                daemon.is_running(),
                "daemon exited at call {n}; {}",
                context(&daemon)
            );
            rss_max = rss_max.max(rss_kib(daemon.pid()));
        }
    }
    assert!(daemon.is_running(), "{}", context(&daemon));
    let stderr = daemon.stderr();
    assert!(!stderr.contains("panicked"), "{}", context(&daemon));
    assert!(
        rss_max < rss_start + RSS_HEADROOM_KIB,
        "RSS grew from {rss_start} KiB to {rss_max} KiB; seed {seed}"
    );
    assert!(
        results > 0 && errors > 0,
        "{results} results, {errors} errors"
    );
    eprintln!(
        "robust_rpc: seed {seed}: {refused} refused-only requests (content unchanged), \
         {mixed} mixed requests -> {results} results, {errors} errors {by_code:?}; \
         RSS {rss_start} -> max {rss_max} KiB; 0 crashes"
    );
    for call in internal.iter().take(5) {
        eprintln!("  -32603 for: {call}");
    }
}

/// Sends one request; checks every answer against JSON-RPC 2.0 and the documented
/// codes; returns the answers (none for a notification).
fn send(socket: &Path, req: &Request, codes: &BTreeSet<i64>) -> Result<Vec<Value>, String> {
    let (status, body) = post(socket, &req.bytes);
    if req.notification {
        if status != 204 || !body.is_null() {
            return Err(format!("notification answered {status} {body}"));
        }
        return Ok(Vec::new());
    }
    let answers = match &body {
        Value::Array(items) if req.ids.len() > 1 || req.what.starts_with("batch") => items.clone(),
        Value::Object(_) => vec![body.clone()],
        other => {
            return Err(format!(
                "{}: HTTP {status}, not a JSON-RPC answer: {other}",
                req.what
            ))
        }
    };
    let mut seen = BTreeSet::new();
    for a in &answers {
        check_answer(a, codes).map_err(|e| format!("{}: {e}: {a}", req.what))?;
        if let Some(id) = a.get("id").and_then(Value::as_i64) {
            if !req.ids.contains(&id) {
                return Err(format!("{}: answer id {id} was never sent: {a}", req.what));
            }
            seen.insert(id);
        } else if req.echo_id && a["id"] != Value::Null {
            return Err(format!(
                "{}: answer id is neither ours nor null: {a}",
                req.what
            ));
        }
    }
    if req.echo_id && seen.len() != req.ids.len() {
        return Err(format!(
            "{}: ids {:?} answered {seen:?}: {body}",
            req.what, req.ids
        ));
    }
    Ok(answers)
}

/// JSON-RPC 2.0 §5: `jsonrpc` "2.0", an `id`, exactly one of `result` and `error`; an
/// error has an integer `code` (here: one README documents) and a string `message`.
fn check_answer(a: &Value, codes: &BTreeSet<i64>) -> Result<(), String> {
    if a["jsonrpc"] != "2.0" {
        return Err("jsonrpc is not \"2.0\"".into());
    }
    if a.get("id").is_none() {
        return Err("no id".into());
    }
    match (a.get("result"), a.get("error")) {
        (Some(_), None) => Ok(()),
        (None, Some(e)) => {
            let code = e["code"].as_i64().ok_or("error without an integer code")?;
            if !codes.contains(&code) {
                return Err(format!("code {code} is not in README's table"));
            }
            if !e["message"].is_string() {
                return Err("error without a message".into());
            }
            Ok(())
        }
        _ => Err("not exactly one of result and error".into()),
    }
}

/// Every code in README.md's error table (rows starting `| -32`).
fn documented_codes() -> BTreeSet<i64> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let codes: BTreeSet<i64> = readme
        .lines()
        .filter(|l| l.starts_with("| -32"))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| {
            cell.split(|c: char| c != '-' && !c.is_ascii_digit())
                .filter_map(|t| t.parse::<i64>().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        codes.contains(&-32602) && codes.len() > 10,
        "README's table: {codes:?}"
    );
    codes
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The generator: valid params from a method's schema, then mutations.
struct Gen {
    rng: fastrand::Rng,
    methods: Vec<Value>,
    next_id: i64,
}

/// What replaces a `"__RAW__"` string in the serialized request: bytes no `Value` holds.
const RAW: &str = "__RAW__";

impl Gen {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn method(&mut self) -> Value {
        let i = self.rng.usize(..self.methods.len());
        self.methods[i].clone()
    }

    /// Params that satisfy the method's schema as far as a schema can say.
    fn valid_params(&mut self, m: &Value) -> Map<String, Value> {
        let mut out = Map::new();
        for p in m["params"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            if name == "subscription" {
                continue;
            }
            if p["required"] == true || self.rng.bool() {
                let v = self.value_for(&name, &p["schema"], 0);
                out.insert(name, v);
            }
        }
        // Waits would stall the run; a refused wait_s is still tried by mutations.
        if out.contains_key("wait_s") {
            out.insert("wait_s".into(), json!(0));
        }
        out
    }

    fn value_for(&mut self, name: &str, s: &Value, depth: usize) -> Value {
        if name == "tenant_id" {
            return json!(self.rng.u8(1..=2));
        }
        if let Some(e) = s["enum"].as_array().filter(|e| !e.is_empty()) {
            return e[self.rng.usize(..e.len())].clone();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = s[key].as_array().filter(|a| !a.is_empty()) {
                let alt = alts[self.rng.usize(..alts.len())].clone();
                return self.value_for(name, &alt, depth);
            }
        }
        let ty = match &s["type"] {
            Value::String(t) => t.clone(),
            Value::Array(ts) => ts
                .get(self.rng.usize(..ts.len().max(1)))
                .and_then(Value::as_str)
                .unwrap_or("string")
                .to_string(),
            _ => "object".into(),
        };
        match ty.as_str() {
            "integer" => {
                let lo = s["minimum"].as_i64().unwrap_or(0);
                let hi = s["maximum"].as_i64().unwrap_or(lo + 1000).max(lo);
                json!(self.rng.i64(lo..=hi))
            }
            "number" => json!(self.rng.f64() * 100.0),
            "boolean" => json!(self.rng.bool()),
            "null" => Value::Null,
            "array" => {
                let max = s["maxItems"].as_u64().unwrap_or(3).min(3) as usize;
                let n = self
                    .rng
                    .usize(s["minItems"].as_u64().unwrap_or(0) as usize..=max.max(1));
                (0..n)
                    .map(|_| self.value_for("", &s["items"], depth + 1))
                    .collect()
            }
            "object" => {
                let mut o = Map::new();
                if depth < 4 {
                    let required: Vec<&str> = s["required"]
                        .as_array()
                        .map(|r| r.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    for (k, sub) in s["properties"].as_object().into_iter().flatten() {
                        if required.contains(&k.as_str()) || self.rng.bool() {
                            let v = self.value_for(k, sub, depth + 1);
                            o.insert(k.clone(), v);
                        }
                    }
                }
                Value::Object(o)
            }
            _ => json!(self.string_for(s)),
        }
    }

    fn string_for(&mut self, s: &Value) -> String {
        let max = s["maxLength"].as_u64().unwrap_or(24).clamp(1, 24) as usize;
        let min = s["minLength"].as_u64().unwrap_or(0).min(max as u64) as usize;
        match s["format"].as_str() {
            Some("e164") => format!("+1555{:07}", self.rng.u32(..10_000_000)),
            Some("date-time") => "2026-11-25T15:04:05Z".into(),
            Some("https-url") => "https://example.com/logo.png".into(),
            _ => {
                let n = self.rng.usize(min.max(1)..=max);
                (0..n).map(|_| self.rng.alphanumeric()).collect()
            }
        }
    }

    fn envelope(&mut self, method: &str, params: Value) -> (Value, i64) {
        let id = self.id();
        (
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
            id,
        )
    }

    fn single(
        &mut self,
        what: &'static str,
        v: &Value,
        id: i64,
        raw: Option<&[u8]>,
        echo: bool,
    ) -> Request {
        Request {
            what,
            bytes: render(v, raw),
            ids: vec![id],
            echo_id: echo,
            notification: false,
        }
    }

    /// A call of any method with params its schema allows.
    fn valid(&mut self) -> Request {
        let m = self.method();
        let params = self.valid_params(&m);
        let (v, id) = self.envelope(
            m["name"].as_str().unwrap_or_default(),
            Value::Object(params),
        );
        self.single("valid", &v, id, None, true)
    }

    /// A call that the schemas or the envelope must refuse.
    fn refused(&mut self) -> Request {
        loop {
            let m = self.method();
            let name = m["name"].as_str().unwrap_or_default().to_string();
            let mut params = self.valid_params(&m);
            let props: Vec<(String, Value)> = m["params"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["name"] != "subscription")
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default().to_string(),
                        p["schema"].clone(),
                    )
                })
                .collect();
            match self.rng.u8(0..8) {
                0 => {
                    // A typed param with a value of another type.
                    let typed: Vec<&(String, Value)> = props
                        .iter()
                        .filter(|(_, s)| s["type"].is_string())
                        .collect();
                    let Some((k, s)) = typed.get(self.rng.usize(..typed.len().max(1))).copied()
                    else {
                        continue;
                    };
                    params.insert(k.clone(), other_type(s["type"].as_str().unwrap_or("")));
                    let (v, id) = self.envelope(&name, Value::Object(params));
                    return self.single("wrong type", &v, id, None, true);
                }
                1 => {
                    let required: Vec<&String> = m["params"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["required"] == true && p["name"] != "subscription")
                        .filter_map(|p| p["name"].as_str())
                        .map(|n| props.iter().find(|(k, _)| k == n).map(|(k, _)| k))
                        .collect::<Option<Vec<_>>>()
                        .unwrap_or_default();
                    let Some(k) = required.get(self.rng.usize(..required.len().max(1))) else {
                        continue;
                    };
                    params.remove(*k);
                    let (v, id) = self.envelope(&name, Value::Object(params));
                    return self.single("missing required", &v, id, None, true);
                }
                2 => {
                    params.insert("zz_not_a_param".into(), json!(1));
                    let (v, id) = self.envelope(&name, Value::Object(params));
                    return self.single("extra field", &v, id, None, true);
                }
                3 => {
                    let (v, id) = self.envelope(&name, json!({"x": RAW}));
                    let huge = format!("\"{}\"", "a".repeat(1 << 20));
                    return self.single("1 MiB string", &v, id, Some(huge.as_bytes()), false);
                }
                4 => {
                    let (v, id) = self.envelope(&name, json!({"x": RAW}));
                    return self.single(
                        "invalid UTF-8",
                        &v,
                        id,
                        Some(b"\"bad \xff\xfe\xc3\x28\""),
                        false,
                    );
                }
                5 => {
                    let ints: Vec<&String> = props
                        .iter()
                        .filter(|(_, s)| s["type"] == "integer")
                        .map(|(k, _)| k)
                        .collect();
                    let Some(k) = ints.get(self.rng.usize(..ints.len().max(1))).copied() else {
                        continue;
                    };
                    params.insert(k.clone(), json!(RAW));
                    let big: &[u8] = if self.rng.bool() {
                        b"9223372036854775808"
                    } else {
                        b"-99999999999999999999999"
                    };
                    let (v, id) = self.envelope(&name, Value::Object(params));
                    return self.single("number past i64", &v, id, Some(big), true);
                }
                6 => {
                    let (v, id) = self.envelope(&format!("{name}.nope"), json!({}));
                    return self.single("unknown method", &v, id, None, true);
                }
                _ => {
                    let depth = if self.rng.bool() { 100 } else { 100_000 };
                    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
                    let (v, id) = self.envelope(&name, json!({"zz_nested": RAW}));
                    return self.single(
                        "deep nesting",
                        &v,
                        id,
                        Some(nested.as_bytes()),
                        depth == 100,
                    );
                }
            }
        }
    }

    /// Anything: valid calls, refused ones, odd ones whose outcome may go either way,
    /// broken envelopes, notifications and batches.
    fn mixed(&mut self) -> Request {
        match self.rng.u8(0..20) {
            0..=7 => self.valid(),
            8..=12 => self.refused(),
            13 => {
                // Duplicate keys: the daemon picks one; either answer is fine.
                let m = self.method();
                let name = m["name"].as_str().unwrap_or_default().to_string();
                let params = self.valid_params(&m);
                let id = self.id();
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"{name}","method":"daemon.health","params":{p},"params":{p}}}"#,
                    p = Value::Object(params)
                );
                Request {
                    what: "duplicate keys",
                    bytes: body.into_bytes(),
                    ids: vec![id],
                    echo_id: true,
                    notification: false,
                }
            }
            14 => {
                let id = self.id();
                let bodies: [&[u8]; 8] = [
                    b"",
                    b"{",
                    b"[]",
                    b"null",
                    b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.health\"} trailing",
                    b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"daemon.health\"}",
                    b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}",
                    b"1e400",
                ];
                let b = bodies[self.rng.usize(..bodies.len())];
                Request {
                    what: "broken envelope",
                    bytes: b.to_vec(),
                    ids: vec![id, 1],
                    echo_id: false,
                    notification: false,
                }
            }
            15 => {
                let body = json!({"jsonrpc": "2.0", "method": "daemon.health"});
                Request {
                    what: "notification",
                    bytes: render(&body, None),
                    ids: vec![],
                    echo_id: false,
                    notification: true,
                }
            }
            16 => {
                let id = self.id();
                let body = json!({"jsonrpc": "2.0", "id": {"a": id}, "method": "daemon.health"});
                Request {
                    what: "object id",
                    bytes: render(&body, None),
                    ids: vec![],
                    echo_id: false,
                    notification: false,
                }
            }
            _ => self.batch(),
        }
    }

    /// 2-8 calls, good and bad, in one array (raw parts spliced in as text).
    fn batch(&mut self) -> Request {
        let n = self.rng.usize(2..=8);
        let mut parts = Vec::new();
        let mut ids = Vec::new();
        let mut echo = true;
        for _ in 0..n {
            let r = if self.rng.bool() {
                self.valid()
            } else {
                self.refused()
            };
            // Big parts would only turn the batch into one -32007.
            if r.bytes.len() > 64 * 1024 || !r.echo_id {
                echo = false;
            }
            ids.extend(r.ids);
            parts.push(r.bytes);
        }
        let mut bytes = b"[".to_vec();
        bytes.extend(parts.join(&b","[..]));
        bytes.push(b']');
        Request {
            what: "batch",
            bytes,
            ids,
            echo_id: echo,
            notification: false,
        }
    }
}

/// A value of a JSON type other than `ty`.
fn other_type(ty: &str) -> Value {
    match ty {
        "string" => json!(7),
        "integer" | "number" => json!("7"),
        "boolean" => json!("yes"),
        "array" => json!({"a": 1}),
        _ => json!([1, 2]),
    }
}

/// `v` as JSON text with the string `"__RAW__"` replaced by `raw`'s bytes.
fn render(v: &Value, raw: Option<&[u8]>) -> Vec<u8> {
    let text = v.to_string();
    let Some(raw) = raw else {
        return text.into_bytes();
    };
    let marker = format!("\"{RAW}\"");
    match text.split_once(&marker) {
        Some((a, b)) => [a.as_bytes(), raw, b.as_bytes()].concat(),
        None => text.into_bytes(),
    }
}
