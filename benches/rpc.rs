//! Local API throughput and latency over a Unix socket, beside two baselines on the
//! same kind of socket: a bare hyper server answering a constant (the ceiling) and a
//! bare jsonrpsee server with one trivial method. Each runs 1, 8 and 64 concurrent
//! keep-alive clients for a fixed time and reports requests/s, p50 and p99.
//!
//! `cargo bench --bench rpc` (numbers and their reading in docs/BENCHMARKS.md).

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

const RUN: Duration = Duration::from_millis(1500);

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let hyper_sock = dir.path().join("hyper.sock");
    let bare_sock = dir.path().join("bare.sock");
    let nh_sock = dir.path().join("numhubd.sock");
    rt.block_on(async {
        start_hyper(&hyper_sock);
        start_bare_jsonrpsee(&bare_sock);
    });
    let (entity_id, store) = rt.block_on(start_numhubd(dir.path(), &nh_sock));

    // The store alone: the two point reads behind one entity.get, no RPC.
    let n = 20_000;
    let per_read = rt.block_on(async {
        let t = Instant::now();
        for _ in 0..n {
            let id = entity_id.clone();
            store
                .read_point(move |sql| {
                    let e = entities::get(sql, 1, &id)?;
                    numhubd::db::jobs::pending_for_entity(sql, &e.id)
                })
                .await
                .expect("read");
        }
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    });
    println!("store only: entity + pending job point reads: {per_read:.1} µs each");

    let health =
        json!({"jsonrpc": "2.0", "id": 1, "method": "daemon.health", "params": {}}).to_string();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}}).to_string();
    let get = json!({"jsonrpc": "2.0", "id": 1, "method": "entity.get", "params": {"tenant_id": 1, "id": entity_id}}).to_string();

    println!(
        "{:<28} {:>7} {:>10} {:>9} {:>9}",
        "server / call", "clients", "req/s", "p50 µs", "p99 µs"
    );
    for clients in [1usize, 8, 64] {
        let rows = [
            ("hyper constant (ceiling)", &hyper_sock, &ping),
            ("jsonrpsee trivial method", &bare_sock, &ping),
            ("numhubd daemon.health", &nh_sock, &health),
            ("numhubd entity.get", &nh_sock, &get),
        ];
        let mut bare = 0.0;
        for (name, sock, body) in rows {
            let r = measure(sock, body, clients);
            if name.starts_with("jsonrpsee") {
                bare = r.0;
            }
            let vs = if name.starts_with("numhubd") && bare > 0.0 {
                format!("  ({:.0}% of jsonrpsee)", 100.0 * r.0 / bare)
            } else {
                String::new()
            };
            println!(
                "{name:<28} {clients:>7} {:>10.0} {:>9} {:>9}{vs}",
                r.0, r.1, r.2
            );
        }
    }
    drop(rt);
}

/// (requests/s, p50 µs, p99 µs) for `clients` threads, each with one keep-alive
/// connection sending `body` back to back for [`RUN`].
fn measure(sock: &Path, body: &str, clients: usize) -> (f64, u128, u128) {
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let sock = sock.to_path_buf();
            let body = body.to_string();
            std::thread::spawn(move || {
                let mut c = Client::connect(&sock).expect("connect");
                let mut lat = Vec::new();
                while start.elapsed() < RUN {
                    let t = Instant::now();
                    let v = c.post(body.as_bytes()).expect("post");
                    lat.push(t.elapsed().as_micros());
                    assert!(v.get("result").is_some(), "{v}");
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
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    (all.len() as f64 / secs, pct(0.50), pct(0.99))
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
    let listener = tokio::net::UnixListener::bind(path).expect("bind");
    let mut module = RpcModule::new(());
    module
        .register_method("ping", |_, _, _| "pong")
        .expect("register");
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

/// numhubd's own server, in process, on a real store with one entity; returns its id.
async fn start_numhubd(dir: &Path, path: &Path) -> (String, Store) {
    let store = Store::open(&dir.join("bench.db"), StoreOptions::default()).expect("store");
    let entity = store
        .write(|tx| {
            tenants::upsert(
                tx,
                tenants::TenantInput {
                    id: 1,
                    name: "Bench".into(),
                    ..Default::default()
                },
            )?;
            entities::create(
                tx,
                entities::NewEntity {
                    tenant_id: 1,
                    brand_id: None,
                    entity_type: EntityType::Direct,
                    company_name: "Bench LLC".into(),
                    submit: false,
                    attestation_level: None,
                },
            )
        })
        .await
        .expect("seed");
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
        socket_mode: 0o600,
        socket_group: None,
        max_body_bytes: 1 << 20,
        max_batch: 100,
        max_connections: 1024,
        max_requests_per_sec: 1_000_000,
        access: vec![],
    };
    let bound = socket::listen(path, 0o600, None).expect("listen");
    tokio::spawn(async move {
        let _ = rpc::serve(bound, ctx, options, std::future::pending()).await;
    });
    (entity.id, store)
}
