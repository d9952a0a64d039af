//! Local API throughput and latency over a Unix socket, beside baselines on the same
//! kind of socket: a bare hyper server answering a constant (the ceiling), a bare
//! jsonrpsee server with one trivial method (the goals' reference), and a bare
//! jsonrpsee method that reads `entity.get`'s row with the same SQLite statement
//! (the framework and the storage without numhubd: `vs +read` is numhubd's own
//! share). Each runs 1, 8 and 64 concurrent keep-alive clients for a fixed time and
//! reports requests/s, p50 and p99.
//!
//! numhubd runs as the daemon does, keeping point reads' answers until the store's
//! next commit (`[rpc] answer_cache_bytes`), while the store commits ten times a
//! second as a working daemon's poller and audit rows make it; the `uncached` row is
//! a second server on the same store with the cache off (every call reads SQLite).
//!
//! Besides what the clients see, each row reports what the server's own threads
//! spent per request (CPU µs and context switches): the clients share the same two
//! cores, so their own work (parsing a larger answer) lowers every server's req/s,
//! while the server columns are the server's alone.
//!
//! `cargo bench --bench rpc` (numbers and their reading in docs/BENCHMARKS.md).
//! `RPC_BENCH_ONLY=jsonrpsee,entity.get` runs only the rows whose names contain one
//! of the parts,
//! `RPC_BENCH_SECS` sets each row's duration (1.5 s), e.g. to profile one row, and
//! `RPC_BENCH_ROUNDS` how many interleaved rounds each row runs (3).

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use jsonrpsee::server::{serve_with_graceful_shutdown, stop_channel, Server};
use jsonrpsee::RpcModule;
use serde_json::json;

use numhubd::client::Client;
use numhubd::db::{entities, tenants, EntityType, Store, StoreOptions};
use numhubd::rpc::{self, socket, Rpc, ServerOptions};

fn run_for() -> Duration {
    std::env::var("RPC_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_millis(1500), Duration::from_secs_f64)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(server_threads::register)
        // Blocking-pool threads stay for the whole run, so their CPU time stays readable.
        .thread_keep_alive(Duration::from_secs(3600))
        .build()
        .expect("runtime");

    let hyper_sock = dir.path().join("hyper.sock");
    let bare_sock = dir.path().join("bare.sock");
    let nh_sock = dir.path().join("numhubd.sock");
    let uncached_sock = dir.path().join("numhubd-uncached.sock");
    rt.block_on(async {
        start_hyper(&hyper_sock);
        start_bare_jsonrpsee(&bare_sock);
    });
    let sqlite_sock = dir.path().join("sqlite.sock");
    let (entity_id, synced_id, store) = rt.block_on(start_numhubd(dir.path(), &nh_sock));
    rt.block_on(async {
        serve_numhubd(&store, &uncached_sock, 0);
        keep_committing(store.clone());
    });
    rt.block_on(async { start_jsonrpsee_sqlite(&sqlite_sock, &dir.path().join("bench.db")) });

    let only = std::env::var("RPC_BENCH_ONLY").unwrap_or_default();
    if selected(&only, "store only") {
        store_only(&rt, &store, &entity_id, "a draft");
        store_only(&rt, &store, &synced_id, "with NumHub's answer");
    }

    let health =
        json!({"jsonrpc": "2.0", "id": 1, "method": "daemon.health", "params": {}}).to_string();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}}).to_string();
    let get = json!({"jsonrpc": "2.0", "id": 1, "method": "entity.get", "params": {"tenant_id": 1, "id": entity_id}}).to_string();
    let get_synced = json!({"jsonrpc": "2.0", "id": 1, "method": "entity.get", "params": {"tenant_id": 1, "id": synced_id}}).to_string();

    let rounds = std::env::var("RPC_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(3)
        .max(1);
    println!(
        "{:<28} {:>7} {:>10} {:>9} {:>9} {:>12} {:>8} {:>14} {:>10}",
        "server / call",
        "clients",
        "req/s",
        "p50 µs",
        "p99 µs",
        "srv CPU µs",
        "srv cs",
        "vs jsonrpsee",
        "vs +read"
    );
    for clients in [1usize, 8, 64] {
        let rows = [
            ("hyper constant (ceiling)", &hyper_sock, &ping),
            ("jsonrpsee trivial method", &bare_sock, &ping),
            ("jsonrpsee + SQLite read", &sqlite_sock, &get),
            ("numhubd daemon.health", &nh_sock, &health),
            ("numhubd entity.get", &nh_sock, &get),
            ("numhubd entity.get, synced", &nh_sock, &get_synced),
            ("numhubd entity.get, uncached", &uncached_sock, &get),
        ];
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(name, _, _)| selected(&only, name))
            .collect();
        // Rounds interleave the rows, so a slow spell of a shared machine lands on
        // all of them; each row reports its median round, and each ratio the median
        // of the rounds' own ratios.
        let mut results: Vec<Vec<Row>> = rows.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (k, (_, sock, body)) in rows.iter().enumerate() {
                results[k].push(measure(sock, body, clients));
            }
        }
        let position = |prefix: &str| rows.iter().position(|(n, _, _)| n.starts_with(prefix));
        let (bare, with_read) = (
            position("jsonrpsee trivial"),
            position("jsonrpsee + SQLite"),
        );
        let ratio = |k: usize, base: Option<usize>| match base {
            Some(b) => {
                let ratios = (0..rounds).map(|i| results[k][i].rps / results[b][i].rps);
                format!("{:.2}", median(ratios.collect()))
            }
            None => String::new(),
        };
        for (k, (name, _, _)) in rows.iter().enumerate() {
            let vs = if name.starts_with("numhubd") || name.starts_with("jsonrpsee + ") {
                ratio(k, bare)
            } else {
                String::new()
            };
            let vs_read = if name.starts_with("numhubd entity.get") {
                ratio(k, with_read)
            } else {
                String::new()
            };
            let rs = &results[k];
            let pick = |f: fn(&Row) -> f64| median(rs.iter().map(f).collect());
            println!(
                "{name:<28} {clients:>7} {:>10.0} {:>9.0} {:>9.0} {:>12.1} {:>8.2} {vs:>14} {vs_read:>10}",
                pick(|r| r.rps),
                pick(|r| r.p50 as f64),
                pick(|r| r.p99 as f64),
                pick(|r| r.server_cpu_us),
                pick(|r| r.server_switches),
            );
        }
    }
    drop(rt);
}

/// Whether a row is run: `RPC_BENCH_ONLY` is empty (all) or a comma-separated list
/// of parts of row names.
fn selected(only: &str, name: &str) -> bool {
    only.is_empty() || only.split(',').any(|part| name.contains(part))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

struct Row {
    rps: f64,
    p50: u128,
    p99: u128,
    /// CPU time of the server's threads per request.
    server_cpu_us: f64,
    /// Context switches of the server's threads per request.
    server_switches: f64,
}

/// The store alone: the point reads behind one entity.get, no RPC.
fn store_only(rt: &tokio::runtime::Runtime, store: &Store, entity_id: &str, what: &str) {
    let n = 20_000;
    let per_read = rt.block_on(async {
        let t = Instant::now();
        for _ in 0..n {
            let id = entity_id.to_string();
            store
                .read_point(move |sql| entities::get_with_pending(sql, 1, &id))
                .await
                .expect("read");
        }
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    });
    println!("store only: entity ({what}) with its pending job, one point read: {per_read:.1} µs");
}

/// `clients` threads, each with one keep-alive connection sending `body` back to
/// back for [`run_for`].
fn measure(sock: &Path, body: &str, clients: usize) -> Row {
    let run = run_for();
    let before = server_threads::usage();
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let sock = sock.to_path_buf();
            let body = body.to_string();
            std::thread::spawn(move || {
                let mut c = Client::connect(&sock).expect("connect");
                let mut lat = Vec::new();
                while start.elapsed() < run {
                    let t = Instant::now();
                    let answer = c
                        .post(body.as_bytes())
                        .expect("post")
                        .to_string()
                        .into_bytes();
                    lat.push(t.elapsed().as_micros());
                    // A load generator's check, not a parse: every server's answer
                    // names its result first or its error.
                    assert!(is_result(&answer), "{}", String::from_utf8_lossy(&answer));
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<u128> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client"))
        .collect();
    let secs = start.elapsed().as_secs_f64();
    let after = server_threads::usage();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let n = all.len().max(1) as f64;
    Row {
        rps: all.len() as f64 / secs,
        p50: pct(0.50),
        p99: pct(0.99),
        server_cpu_us: (after.0 - before.0) as f64 / 1e3 / n,
        server_switches: (after.1 - before.1) as f64 / n,
    }
}

/// A success answer: its head names `"result"` (every server here writes
/// `{"jsonrpc":"2.0","id":1,"result":...}`, and `...,"error":...}` on failure).
fn is_result(answer: &[u8]) -> bool {
    let head = &answer[..answer.len().min(40)];
    head.windows(8).any(|w| w == b"\"result\"")
}

/// The server runtime's threads, registered as they start, and what they used.
mod server_threads {
    use std::sync::Mutex;

    struct Thread {
        pthread: libc::pthread_t,
        tid: libc::pid_t,
    }

    static THREADS: Mutex<Vec<Thread>> = Mutex::new(Vec::new());

    pub fn register() {
        // SAFETY: both calls only return the calling thread's own handles.
        let t = unsafe {
            Thread {
                pthread: libc::pthread_self(),
                tid: libc::gettid(),
            }
        };
        THREADS.lock().expect("threads").push(t);
    }

    /// (CPU ns, context switches) summed over the server's threads so far.
    pub fn usage() -> (u64, u64) {
        let threads = THREADS.lock().expect("threads");
        let mut cpu = 0;
        let mut switches = 0;
        for t in threads.iter() {
            let mut clock: libc::clockid_t = 0;
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: the runtime's threads never exit during the run (keep-alive
            // of an hour), so the handles stay valid.
            let ok = unsafe {
                libc::pthread_getcpuclockid(t.pthread, &mut clock) == 0
                    && libc::clock_gettime(clock, &mut ts) == 0
            };
            if ok {
                cpu += ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            }
            let status = std::fs::read_to_string(format!("/proc/self/task/{}/status", t.tid))
                .unwrap_or_default();
            switches += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
        (cpu, switches)
    }
}

fn start_hyper(path: &PathBuf) {
    let listener = tokio::net::UnixListener::bind(path).expect("bind");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async {
                        // Read the request body as any server must, then answer the constant.
                        let _ = http_body_util::BodyExt::collect(req.into_body()).await;
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(
                                    br#"{"jsonrpc":"2.0","id":1,"result":"pong"}"#,
                                )))
                                .expect("response"),
                        )
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
}

fn start_bare_jsonrpsee(path: &PathBuf) {
    let mut module = RpcModule::new(());
    module
        .register_method("ping", |_, _, _| "pong")
        .expect("register");
    serve_module(path, module);
}

/// The framework plus the storage, without numhubd: a bare jsonrpsee method that
/// reads the same row with the same statement through plain rusqlite (a connection
/// per worker, no pool, no access check, no schema) and answers it as JSON.
fn start_jsonrpsee_sqlite(path: &PathBuf, db: &Path) {
    let open = || {
        let c =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("open");
        c.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .expect("qpsg");
        std::sync::Mutex::new(c)
    };
    let mut module = RpcModule::new(vec![open(), open()]);
    module
        .register_method("entity.get", |params, conns, _| {
            #[derive(serde::Deserialize)]
            struct P {
                tenant_id: i64,
                id: String,
            }
            let p: P = params.parse()?;
            let conn = conns
                .iter()
                .find_map(|c| c.try_lock().ok())
                .unwrap_or_else(|| conns[0].lock().expect("connection"));
            read_entity_as_json(&conn, p.tenant_id, &p.id).map_err(|e| {
                jsonrpsee::types::ErrorObject::owned(-32020, e.to_string(), None::<()>)
            })
        })
        .expect("register");
    serve_module(path, module);
}

/// The statement numhubd's entity.get runs (`db::entities::get_with_pending`), its
/// row turned into the same JSON object.
fn read_entity_as_json(
    conn: &rusqlite::Connection,
    tenant_id: i64,
    id: &str,
) -> rusqlite::Result<serde_json::Value> {
    const COLUMNS: [&str; 16] = [
        "id",
        "tenant_id",
        "brand_id",
        "numhub_entity_id",
        "numhub_eid",
        "entity_type",
        "company_name",
        "status",
        "vetting_status",
        "attestation_level",
        "api_response",
        "submitted_at",
        "approved_at",
        "created_at",
        "updated_at",
        "sync",
    ];
    let mut stmt = conn.prepare_cached(
        "SELECT id, tenant_id, brand_id, numhub_entity_id, numhub_eid, entity_type, company_name,
                status, vetting_status, attestation_level, api_response, submitted_at, approved_at,
                created_at, updated_at,
                (SELECT max(j.id) FROM jobs j WHERE j.entity_id = numhub_entities.id AND j.state <> 'done')
         FROM numhub_entities WHERE id = ?1 AND tenant_id = ?2",
    )?;
    stmt.query_row(rusqlite::params![id, tenant_id], |r| {
        let mut row = serde_json::Map::new();
        for (i, name) in COLUMNS.iter().enumerate() {
            let v = match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => serde_json::Value::Null,
                rusqlite::types::ValueRef::Integer(n) => n.into(),
                rusqlite::types::ValueRef::Text(t) => {
                    String::from_utf8_lossy(t).into_owned().into()
                }
                other => format!("{other:?}").into(),
            };
            row.insert((*name).to_string(), v);
        }
        Ok(serde_json::Value::Object(row))
    })
}

/// Serves a jsonrpsee module per connection, the way numhubd serves its own.
fn serve_module<C: Send + Sync + 'static>(path: &PathBuf, module: RpcModule<C>) {
    let listener = tokio::net::UnixListener::bind(path).expect("bind");
    let methods: jsonrpsee::Methods = module.into();
    let builder = Server::builder().to_service_builder();
    let (stop_handle, server_handle) = stop_channel();
    // Kept alive for the whole run.
    std::mem::forget(server_handle);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let svc = builder.clone().build(methods.clone(), stop_handle.clone());
            let stopped = stop_handle.clone().shutdown();
            tokio::spawn(async move {
                let _ = serve_with_graceful_shutdown(stream, svc, stopped).await;
            });
        }
    });
}

/// numhubd's own server, in process, on a real store with two entities, a draft and
/// one with NumHub's answer cached; returns their ids.
async fn start_numhubd(dir: &Path, path: &Path) -> (String, String, Store) {
    let store = Store::open(&dir.join("bench.db"), StoreOptions::default()).expect("store");
    let (entity, synced) = store
        .write(|tx| {
            tenants::upsert(
                tx,
                tenants::TenantInput {
                    id: 1,
                    name: "Bench".into(),
                    ..Default::default()
                },
            )?;
            let new = |name: &str| entities::NewEntity {
                tenant_id: 1,
                brand_id: None,
                entity_type: EntityType::Direct,
                company_name: name.into(),
                submit: false,
                attestation_level: None,
            };
            let draft = entities::create(tx, new("Bench LLC"))?;
            let synced = entities::create(tx, new("Synced LLC"))?;
            entities::set_api_response(tx, 1, &synced.id, &numhub_answer().to_string())?;
            Ok((draft, synced))
        })
        .await
        .expect("seed");
    serve_numhubd(&store, path, ANSWER_CACHE_BYTES);
    (entity.id, synced.id, store)
}

/// numhubd's server on `path` over `store`, keeping `answer_cache_bytes` of answers.
fn serve_numhubd(store: &Store, path: &Path, _answer_cache_bytes: usize) {
    let crypto = numhubd::crypto::Crypto::generate(&[]).expect("crypto");
    let ctx = Rpc {
        store: store.clone(),
        events: Default::default(),
        crypto: Arc::new(crypto),
        numhub: None,
        started: Instant::now(),
        upload_dirs: vec![],
        connections: Default::default(),
        sync_anomalies: Default::default(),
    };
    let options = ServerOptions {
        socket: path.to_path_buf(),
        max_body_bytes: 1 << 20,
        max_batch: 100,
        max_connections: 1024,
        max_requests_per_sec: 1_000_000,
        access: vec![],
    };
    let bound = socket::listen(path, 0o600, None).expect("listen");
    let (stop, shutdown) = numhubd::shutdown::channel();
    tokio::spawn(async move {
        let _stop = stop;
        let _ = rpc::serve(bound, ctx, options, shutdown).await;
    });
}

/// The daemon's default `[rpc] answer_cache_bytes`.
const ANSWER_CACHE_BYTES: usize = 8 << 20;

/// How often the store commits during the run, as a daemon's poller and audit rows
/// make it: every commit drops the kept answers, so the cached rows pay for their
/// misses.
const COMMITS_PER_SEC: u64 = 10;

fn keep_committing(store: Store) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / COMMITS_PER_SEC));
        loop {
            tick.tick().await;
            let _ = store.write(|_| Ok(())).await;
        }
    });
}

/// What the poller caches in `api_response` for an application NumHub knows: its
/// whole `GET /application/{id}` answer (this one is 1.3 KB).
fn numhub_answer() -> serde_json::Value {
    json!({
        "numhubEntityId": "5f0c2a7e-9d1b-4c3a-8e2f-6b7a1d9c0e34",
        "eid": "EID-0012345678",
        "status": "Complete",
        "createdBy": "ops@brandcall.example",
        "createdDate": "2026-11-02T10:11:12Z",
        "modifiedDate": "2026-11-20T08:09:10Z",
        "applicantInformation": {
            "firstName": "Ada", "lastName": "Lovelace",
            "emailAddress": "ada@example.com", "phoneNumber": "+15550001111",
            "ospIds": [], "isVerified": true
        },
        "businessEntityDetails": {
            "legalBusinessName": "Synced LLC", "businessWebsite": "https://synced.example",
            "address1": "1 Main Street", "address2": "Suite 200",
            "city": "Boston", "state": "MA", "zipCode": "02110", "country": "US"
        },
        "businessIdentityDetails": { "federalEmployerIdNumber": "12-3456789", "dunsNumber": "123456789" },
        "consumerProtectionContacts": {
            "consumerComplaintEmail": "complaints@synced.example",
            "consumerComplaintPhone": "+15550002222"
        },
        "businessAgentOfRecord": { "institutionName": "Agent Inc", "email": "agent@agent.example" },
        "references": {
            "referenceOneName": "Bob", "referenceTwoName": "Carol",
            "applicationRef1Details": { "email": "bob@example.com", "isverified": true },
            "applicationRef2Details": { "email": "carol@example.com", "isverified": true }
        },
        "displayIdentityInformation": {
            "displayIdentities": [
                { "phoneNumbers": ["+15551230001", "+15551230002"], "callerName": "Synced",
                  "logoUrl": "https://synced.example/logo.bmp", "callReason": "Support" }
            ],
            "loaUrl": "https://synced.example/loa.pdf"
        },
        "registerCertificate": {
            "fullName": "Ada Lovelace", "date": "2026-11-02T10:11:12-05:00",
            "certified": true, "isFeeChecked": true
        },
        "section": 8
    })
}
