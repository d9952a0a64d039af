//! The local API's read path against its floor, over real Unix sockets.
//!
//! `entity.get` on 10,000 entities (half drafts, half with NumHub's 1.3 KB answer
//! kept in `api_response`, one in twenty of those under NumHub's review with a
//! `numhub_reviews` row), every request a different entity chosen at random,
//! every call read from SQLite, while the store commits an audit row ten times a
//! second (as a working daemon's poller makes it; each commit also makes every
//! reader connection drop its page cache at its next read). 1, 8 and 64 concurrent
//! keep-alive clients.
//!
//! Beside it, measured in the same run and in the same interleaved rounds:
//!
//! - **the floor**: a bare jsonrpsee server whose one method runs the statements
//!   numhubd's `entity.get` runs (`db::entities::get_with_pending`, whose vetting
//!   status reads `numhub_reviews`, then `db::reviews::find`), on a pool of the
//!   same kind as `db::readers` (as many read-only WAL connections, the same open
//!   flags and pragmas, a semaphore and an idle list, the read inline when a
//!   connection is idle and on the blocking pool otherwise, inside `BEGIN`/`COMMIT`),
//!   over the same database file, and answers the same bytes (checked at start).
//!   The clients send both servers the same random ids in the same order.
//! - `daemon.health` beside a bare jsonrpsee method answering a constant, 8 clients.
//!
//! Each row reports requests/s, p50 and p99 latency as the clients see them, and
//! what the server runtime's own threads (and numhubd's MySQL I/O thread) spent per
//! request (CPU µs, context switches): the clients share the same cores, so only those columns are the
//! server's alone. Rounds interleave the rows, so a slow spell of a shared machine
//! lands on all of them; a row shows its median round, a ratio the median of the
//! rounds' own ratios and, beside it, their range.
//!
//! The answer cache (`rpc::answers`) is off: every call reads the store.
//!
//! **On MySQL/MariaDB** the same rows run against a throwaway MariaDB the bench
//! starts (`tests/it/mariadb_support.rs`: as `nobody` when root, TCP on 127.0.0.1 and
//! a socket, killed at exit), numhubd's store reaching it over TCP as the daemon's
//! `[database] url = "mysql://USER@127.0.0.1:PORT/DB"` does. Its floor is jsonrpsee
//! running the same statements on a bare `mysql_async::Pool` (as many connections as
//! numhubd's readers, the same session settings, each read inside
//! `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY` / `ROLLBACK` as numhubd's
//! readers run it), async, no numhubd code; it answers the same bytes (checked at
//! start). A third MySQL row, `profile: floor, numhubd threads`, runs the floor's
//! reads the way numhubd's store runs its sessions (the blocking pool, `block_on` on a
//! one-worker I/O runtime): what that threading costs, apart from numhubd's code.
//! Without `mariadbd` the MySQL rows are skipped with a line (a failure when
//! `CI=true`).
//!
//! `cargo bench --bench rpc`; its numbers and their reading are in
//! docs/BENCHMARKS.md. Knobs (environment):
//! - `RPC_BENCH_ROUNDS`: interleaved rounds per row (5);
//! - `RPC_BENCH_SECS`: each row's length in a round, in seconds (1.5);
//! - `RPC_BENCH_CLIENTS`: client counts, comma-separated (`1,8,64`; the
//!   `daemon.health` pair runs at 8 only, when 8 is among them);
//! - `RPC_BENCH_ONLY`: only the rows whose names contain one of these
//!   comma-separated parts (e.g. `numhubd entity` to profile one row; `store` for
//!   the store-only line, which a selection skips otherwise);
//! - `RPC_BENCH_ENGINE`: the engines, comma-separated (`mysql,sqlite`);
//! - `NUMHUBD_BENCH_SMOKE=1`: the smoke mode CI runs (`.ci/run`): 200 entities, one
//!   round of 0.2 s per row at 1 and 8 clients, every check kept, both engines;
//!   seconds, and its figures mean nothing.
//!
//! The run ends with both engines side by side, then
//! `rpc bench: entity.get random 10k on mysql, 8 clients: R of floor, p99 P ms` and,
//! the last line, which scripts read,
//! `rpc bench: entity.get random 10k, 8 clients: R of floor, p99 P ms` (SQLite).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jsonrpsee::server::{serve_with_graceful_shutdown, stop_channel, Server};
use jsonrpsee::RpcModule;
use serde_json::json;
use serde_json::value::RawValue;

use numhubd::db::{
    self, entities, reviews, sync_logs, tenants, Direction, EntityType, HttpMethod, Location,
    Password, Store, StoreOptions, Tls,
};
use numhubd::rpc::{self, socket, Rpc, ServerOptions};

#[allow(dead_code)]
mod common;

// The integration tests' throwaway MariaDB, shared rather than copied.
#[path = "../tests/it/mariadb_support.rs"]
#[allow(dead_code)]
mod mariadb_support;

/// Entities in the store; each request reads one of them at random.
const ENTITIES: usize = 10_000;

/// Entities in smoke mode: enough for every kind of row (draft, synced, reviewed).
const SMOKE_ENTITIES: usize = 200;

/// One synced entity in this many is under NumHub's review.
const REVIEWED_EVERY: usize = 20;

/// How often the store commits during the run.
const COMMITS_PER_SEC: u64 = 10;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}

/// The bench's settings, from the knobs.
struct Knobs {
    smoke: bool,
    run_for: Duration,
    rounds: usize,
    client_counts: Vec<usize>,
    only: String,
    entities: usize,
}

/// Where one engine's run keeps its store.
enum Target {
    File(PathBuf),
    Server(mariadb_support::TestDatabase),
}

impl Target {
    fn location(&self) -> Location {
        match self {
            Target::File(path) => Location::File(path.clone()),
            Target::Server(db) => Location::Server(db::Server {
                host: "127.0.0.1".into(),
                port: db.port,
                socket: None,
                user: db.user.clone(),
                database: db.name.clone(),
                password: Some(Password::new(db.password())),
                tls: Tls::Off,
            }),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Target::File(_) => "sqlite",
            Target::Server(_) => "mysql",
        }
    }

    /// The floor's storage for this target (inside the runtime: a `mysql_async` pool
    /// spawns its own tasks).
    fn floor(&self) -> Floor {
        match self {
            Target::File(path) => Floor::Sqlite(floor::Pool::open(path)),
            Target::Server(db) => Floor::Mysql(floor::mysql::Pool::open(db)),
        }
    }
}

/// One engine's figures at 8 clients, for the closing table.
struct Summary {
    engine: &'static str,
    numhubd_rps: f64,
    floor_rps: f64,
    ratio: f64,
    range: String,
    p99_ms: f64,
    floor_p99_ms: f64,
}

fn main() {
    let smoke = common::smoke();
    let (secs, rounds, clients, entities) = if smoke {
        (0.2, 1, "1,8", SMOKE_ENTITIES)
    } else {
        (1.5, 5, "1,8,64", ENTITIES)
    };
    let knobs = Knobs {
        smoke,
        run_for: Duration::from_secs_f64(env("RPC_BENCH_SECS").unwrap_or(secs)),
        rounds: env::<usize>("RPC_BENCH_ROUNDS").unwrap_or(rounds).max(1),
        client_counts: std::env::var("RPC_BENCH_CLIENTS")
            .unwrap_or_else(|_| clients.into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        only: std::env::var("RPC_BENCH_ONLY").unwrap_or_default(),
        entities,
    };
    let engines = std::env::var("RPC_BENCH_ENGINE").unwrap_or_else(|_| "mysql,sqlite".into());

    let dir = tempfile::tempdir().expect("tempdir");
    // One runtime for both engines: the server-thread registry stays valid.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(server_threads::register)
        // Blocking-pool threads stay for the whole run, so their CPU time stays readable.
        .thread_keep_alive(Duration::from_secs(3600))
        .build()
        .expect("runtime");

    let mut summaries = Vec::new();
    for engine in engines.split(',').map(str::trim) {
        let target = match engine {
            "sqlite" => Target::File(dir.path().join("bench.db")),
            "mysql" if mariadb_support::available() => {
                Target::Server(mariadb_support::fresh_database())
            }
            "mysql" => {
                println!("rpc bench: mysql skipped: mariadbd not found");
                continue;
            }
            other => panic!("RPC_BENCH_ENGINE: unknown engine {other:?} (sqlite, mysql)"),
        };
        summaries.push(run_engine(&rt, &knobs, &target, dir.path()));
    }
    drop(rt);
    side_by_side(&summaries);
    let line = |engine: &str| {
        let s = summaries.iter().find(|s| s.engine == engine);
        if knobs.smoke {
            assert!(
                s.is_some_and(|s| !s.ratio.is_nan()) || !knobs.only.is_empty(),
                "no numhubd entity.get row at 8 clients on {engine}"
            );
        }
        s.map_or((f64::NAN, f64::NAN), |s| (s.ratio, s.p99_ms))
    };
    if engines.contains("mysql") && mariadb_support::available() {
        let (r, p99_ms) = line("mysql");
        println!(
            "rpc bench: entity.get random 10k on mysql, 8 clients: {r:.2} of floor, p99 {p99_ms:.2} ms"
        );
    }
    if engines.contains("sqlite") {
        let (r, p99_ms) = line("sqlite");
        println!(
            "rpc bench: entity.get random 10k, 8 clients: {r:.2} of floor, p99 {p99_ms:.2} ms"
        );
    }
}

/// Both engines' `entity.get` at 8 clients in one table: what a move to MySQL costs.
fn side_by_side(summaries: &[Summary]) {
    println!(
        "\n{:<8} {:>16} {:>12} {:>10} {:>11} {:>14} {:>12}",
        "engine",
        "numhubd req/s",
        "floor req/s",
        "ratio",
        "range",
        "numhubd p99 ms",
        "floor p99 ms"
    );
    for s in summaries {
        println!(
            "{:<8} {:>16.0} {:>12.0} {:>10.2} {:>11} {:>14.2} {:>12.2}",
            s.engine, s.numhubd_rps, s.floor_rps, s.ratio, s.range, s.p99_ms, s.floor_p99_ms
        );
    }
}

/// Seeds `target`, serves numhubd and the floor over it, and measures the rows.
fn run_engine(rt: &tokio::runtime::Runtime, knobs: &Knobs, target: &Target, dir: &Path) -> Summary {
    let engine = target.name();
    println!("\n== {engine} ==");
    // Outside the runtime: on MySQL the store's sessions block on their own runtime.
    let store = Store::open_at(&target.location(), StoreOptions::default()).expect("store");
    let ids = rt.block_on(seed(&store, knobs.entities));
    let socks = Socks {
        bare: dir.join(format!("{engine}-bare.sock")),
        floor: dir.join(format!("{engine}-floor.sock")),
        numhubd: dir.join(format!("{engine}-numhubd.sock")),
        threaded: dir.join(format!("{engine}-threaded.sock")),
    };
    // Started inside the runtime (they spawn); the committer runs until aborted.
    let guard = rt.enter();
    start_bare_jsonrpsee(&socks.bare);
    start_floor(&socks.floor, target.floor());
    if let Target::Server(db) = target {
        start_floor(
            &socks.threaded,
            Floor::MysqlThreaded(floor::mysql::Threaded::open(db)),
        );
    }
    serve_numhubd(&store, &socks.numhubd);
    let committing = keep_committing(store.clone());
    drop(guard);

    let gets: Arc<Vec<Vec<u8>>> = Arc::new(
        ids.iter()
            .map(|id| {
                request(&json!({"jsonrpc": "2.0", "id": 1, "method": "entity.get", "params": {"tenant_id": 1, "id": id}}))
            })
            .collect(),
    );
    let health = Arc::new(vec![request(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "daemon.health", "params": {}}),
    )]);
    let ping = Arc::new(vec![request(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}}),
    )]);
    same_answers(&socks, &gets);
    let only = &knobs.only;
    if only.is_empty() || only.contains("store") {
        let floor = rt.block_on(async { target.floor() });
        store_only(
            rt,
            &store,
            &floor,
            &ids,
            if knobs.smoke { 200 } else { 20_000 },
        );
    }

    println!(
        "{:<30} {:>7} {:>9} {:>8} {:>8} {:>10} {:>7} {:>10} {:>11}",
        "server / call",
        "clients",
        "req/s",
        "p50 µs",
        "p99 µs",
        "srv CPU µs",
        "srv cs",
        "ratio",
        "range"
    );
    let floor_name = match target {
        Target::File(_) => "floor: jsonrpsee + SQLite read",
        Target::Server(_) => "floor: jsonrpsee + mysql_async",
    };
    let mut summary = Summary {
        engine,
        numhubd_rps: f64::NAN,
        floor_rps: f64::NAN,
        ratio: f64::NAN,
        range: String::new(),
        p99_ms: f64::NAN,
        floor_p99_ms: f64::NAN,
    };
    for &clients in &knobs.client_counts {
        let mut rows = vec![
            (floor_name, &socks.floor, &gets),
            ("numhubd entity.get", &socks.numhubd, &gets),
        ];
        if matches!(target, Target::Server(_)) {
            rows.push((THREADED_ROW, &socks.threaded, &gets));
        }
        if clients == 8 {
            rows.push(("jsonrpsee constant", &socks.bare, &ping));
            rows.push(("numhubd daemon.health", &socks.numhubd, &health));
        }
        rows.retain(|(name, _, _)| only.is_empty() || only.split(',').any(|p| name.contains(p)));
        let rounds = knobs.rounds;
        let mut results: Vec<Vec<Row>> = rows.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (k, (_, sock, bodies)) in rows.iter().enumerate() {
                results[k].push(measure(sock, bodies, clients, knobs.run_for));
            }
        }
        // Each numhubd row against the nearest baseline listed before it.
        for (k, (name, _, _)) in rows.iter().enumerate() {
            let base = name
                .starts_with("numhubd")
                .then(|| (0..k).rev().find(|b| !rows[*b].0.starts_with("numhubd")))
                .flatten();
            let ratios: Vec<f64> = match base {
                Some(b) => (0..rounds)
                    .map(|i| results[k][i].rps / results[b][i].rps)
                    .collect(),
                None => Vec::new(),
            };
            let (ratio, range) = if ratios.is_empty() {
                (String::new(), String::new())
            } else {
                let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = ratios.iter().copied().fold(0.0, f64::max);
                (
                    format!("{:.2}", median(ratios.clone())),
                    format!("{lo:.2}-{hi:.2}"),
                )
            };
            let rs = &results[k];
            let pick = |f: fn(&Row) -> f64| median(rs.iter().map(f).collect());
            let p99 = pick(|r| r.p99 as f64);
            let rps = pick(|r| r.rps);
            println!(
                "{name:<30} {clients:>7} {rps:>9.0} {:>8.0} {p99:>8.0} {:>10.1} {:>7.2} {ratio:>10} {range:>11}",
                pick(|r| r.p50 as f64),
                pick(|r| r.server_cpu_us),
                pick(|r| r.server_switches),
            );
            if clients != 8 {
                continue;
            }
            if *name == floor_name {
                summary.floor_rps = rps;
                summary.floor_p99_ms = p99 / 1000.0;
            }
            if *name == "numhubd entity.get" && !ratios.is_empty() {
                summary.numhubd_rps = rps;
                summary.ratio = median(ratios);
                summary.range = range;
                summary.p99_ms = p99 / 1000.0;
            }
        }
    }
    committing.abort();
    summary
}

struct Socks {
    bare: PathBuf,
    floor: PathBuf,
    numhubd: PathBuf,
    /// MySQL only: the floor's reads on numhubd's threads ([`THREADED_ROW`]).
    threaded: PathBuf,
}

/// The MySQL floor's reads, each on the blocking pool and its round trips waited for
/// with `block_on` on a one-worker runtime that drives the sockets, as numhubd's
/// readers run them (`db::readers`, `db::engine::mysql`): the floor's cost plus
/// numhubd's threading, without numhubd's code.
const THREADED_ROW: &str = "profile: floor, numhubd threads";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One HTTP/1.1 request carrying `body`, head and body in one buffer (one write).
fn request(body: &serde_json::Value) -> Vec<u8> {
    let body = body.to_string();
    let mut r = format!(
        "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

/// A keep-alive HTTP/1.1 connection that writes prepared requests and reads each
/// answer's body unparsed: a load generator's work, the same for every server.
struct RawClient {
    reader: BufReader<UnixStream>,
    line: String,
    body: Vec<u8>,
}

impl RawClient {
    fn connect(path: &Path) -> RawClient {
        RawClient {
            reader: BufReader::new(UnixStream::connect(path).expect("connect")),
            line: String::new(),
            body: Vec::new(),
        }
    }

    fn call(&mut self, request: &[u8]) -> &[u8] {
        self.reader.get_mut().write_all(request).expect("send");
        let mut len = None;
        loop {
            self.line.clear();
            let n = self.reader.read_line(&mut self.line).expect("read");
            assert!(n > 0, "server closed the connection");
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    len = value.trim().parse::<usize>().ok();
                }
            }
        }
        self.body.resize(len.expect("content-length"), 0);
        self.reader.read_exact(&mut self.body).expect("body");
        &self.body
    }
}

/// A success answer: its head names `"result"` (every server here writes
/// `{"jsonrpc":"2.0","id":1,"result":...}`, and `...,"error":...}` on failure).
fn is_result(answer: &[u8]) -> bool {
    let head = &answer[..answer.len().min(40)];
    head.windows(8).any(|w| w == b"\"result\"")
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

/// `clients` threads, each with one keep-alive connection sending requests from
/// `bodies` back to back for `run`, in an order that depends only on the client's
/// index: every server gets the same ids in the same order.
fn measure(sock: &Path, bodies: &Arc<Vec<Vec<u8>>>, clients: usize, run: Duration) -> Row {
    let before = server_threads::usage();
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|k| {
            let sock = sock.to_path_buf();
            let bodies = bodies.clone();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(k as u64 + 1);
                let mut c = RawClient::connect(&sock);
                let mut lat = Vec::with_capacity(1 << 16);
                while start.elapsed() < run {
                    let body = &bodies[rng.usize(..bodies.len())];
                    let t = Instant::now();
                    let answer = c.call(body);
                    lat.push(t.elapsed().as_micros());
                    assert!(is_result(answer), "{}", String::from_utf8_lossy(answer));
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

/// The floor must answer what numhubd answers, byte for byte, or it is not a floor.
/// The first ids cover a draft, a synced row and a synced row under review (seeded
/// in that order), so every kind of answer is compared.
fn same_answers(socks: &Socks, gets: &[Vec<u8>]) {
    let mut floor = RawClient::connect(&socks.floor);
    let mut numhubd = RawClient::connect(&socks.numhubd);
    let mut reviewed = 0;
    for body in gets.iter().take(4) {
        let a = floor.call(body).to_vec();
        let b = numhubd.call(body);
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(b),
            "the floor's answer differs from numhubd's"
        );
        reviewed += usize::from(!String::from_utf8_lossy(b).contains(r#""review":null"#));
    }
    assert!(reviewed > 0, "no compared answer carried a review");
}

/// The reads alone, no RPC: numhubd's store and the floor's pool, random ids, one
/// caller.
fn store_only(rt: &tokio::runtime::Runtime, store: &Store, pool: &Floor, ids: &[String], n: u32) {
    let (numhubd, floor) = rt.block_on(async {
        let mut rng = fastrand::Rng::with_seed(1);
        let t = Instant::now();
        for _ in 0..n {
            let id = ids[rng.usize(..ids.len())].clone();
            store
                .read_point(move |sql| {
                    let got = entities::get_with_pending(sql, 1, &id)?;
                    Ok((got, reviews::find(sql, &id)?))
                })
                .await
                .expect("read");
        }
        let numhubd = t.elapsed();
        let mut rng = fastrand::Rng::with_seed(1);
        let t = Instant::now();
        for _ in 0..n {
            let id = ids[rng.usize(..ids.len())].clone();
            pool.get(1, id).await.expect("read");
        }
        (numhubd, t.elapsed())
    });
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(n);
    println!(
        "store only, random entity: numhubd's read_point + get_with_pending + reviews::find {:.1} µs, the floor's pool and rows {:.1} µs",
        per(numhubd),
        per(floor)
    );
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
        let (io_cpu, io_switches) = mysql_io();
        (cpu + io_cpu, switches + io_switches)
    }

    /// The engine's own I/O thread (`numhubd-mysql-io`), which drives every MySQL
    /// session of numhubd's store: numhubd's work, though not a thread of the
    /// bench's runtime; and the profile row's (`bench-mysql-io`). Each is idle while
    /// the other's row runs. (CPU ns from `schedstat`, context switches.)
    fn mysql_io() -> (u64, u64) {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return (0, 0);
        };
        let (mut cpu, mut switches) = (0, 0);
        for task in tasks.flatten() {
            let path = task.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if !comm.starts_with("numhubd-mysql") && !comm.starts_with("bench-mysql-io") {
                continue;
            }
            cpu += std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
            switches += std::fs::read_to_string(path.join("status"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
        (cpu, switches)
    }
}

fn start_bare_jsonrpsee(path: &Path) {
    let mut module = RpcModule::new(());
    module
        .register_method("ping", |_, _, _| "pong")
        .expect("register");
    serve_module(path, module);
}

/// The floor's storage: the SQLite pool or the bare `mysql_async` one.
enum Floor {
    Sqlite(floor::Pool),
    Mysql(floor::mysql::Pool),
    /// The MySQL floor's reads driven as numhubd's store drives its sessions: a
    /// profile of where numhubd's time goes, not a floor.
    MysqlThreaded(floor::mysql::Threaded),
}

impl Floor {
    async fn get(&self, tenant_id: i64, id: String) -> Result<floor::Answer, String> {
        match self {
            Floor::Sqlite(p) => p
                .read_point(move |c| floor::read(c, tenant_id, &id))
                .await
                .map_err(|e| e.to_string()),
            Floor::Mysql(p) => p.read(tenant_id, &id).await.map_err(|e| e.to_string()),
            Floor::MysqlThreaded(p) => p.read(tenant_id, id).await.map_err(|e| e.to_string()),
        }
    }
}

/// The floor: jsonrpsee and the same point read, nothing of numhubd's.
fn start_floor(path: &Path, floor: Floor) {
    let mut module = RpcModule::new(floor);
    module
        .register_async_method("entity.get", |params, pool, _| async move {
            #[derive(serde::Deserialize)]
            struct P {
                tenant_id: i64,
                id: String,
            }
            let p: P = params.parse()?;
            pool.get(p.tenant_id, p.id)
                .await
                .map_err(|e| jsonrpsee::types::ErrorObject::owned(-32020, e, None::<()>))
        })
        .expect("register");
    serve_module(path, module);
}

mod floor {
    //! The floor's storage: a pool of the kind `db::readers` is, and the statements
    //! `entity.get` runs (`db::entities::get_with_pending`, `db::reviews::find`),
    //! written out here with plain rusqlite.

    use super::*;
    use rusqlite::{Connection, OpenFlags, OptionalExtension};
    use tokio::sync::Semaphore;

    /// `db::entities`' statement for `entity.get`: the row, its vetting status as
    /// shown (`in_review` while a review row stands) and its newest unfinished job's id.
    const GET: &str = "SELECT id, tenant_id, brand_id, numhub_entity_id, numhub_eid, entity_type, company_name, status, CASE WHEN numhub_entities.vetting_status = 'pending' AND EXISTS (SELECT 1 FROM numhub_reviews r WHERE r.numhub_entity_id = numhub_entities.id) THEN 'in_review' ELSE numhub_entities.vetting_status END, attestation_level, api_response, submitted_at, approved_at, created_at, updated_at, (SELECT max(j.id) FROM jobs j WHERE j.entity_id = numhub_entities.id AND j.state <> 'done') FROM numhub_entities WHERE id = ?1 AND tenant_id = ?2";

    /// `db::reviews`' statement: the entity's review, if NumHub flagged it.
    const REVIEW: &str =
        "SELECT message, flagged_comments, flagged_at, updated_at FROM numhub_reviews
             WHERE numhub_entity_id = ?1";

    /// A flagged section: stored in NumHub's spelling, answered in the RPC's.
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    pub struct Flagged {
        #[serde(alias = "sectionNumber")]
        section_number: Option<i32>,
        #[serde(alias = "sectionName")]
        section_name: Option<String>,
        comments: Option<String>,
    }

    #[derive(Clone, serde::Serialize)]
    pub struct Review {
        message: Option<String>,
        flagged_comments: Vec<Flagged>,
        flagged_at: String,
        updated_at: String,
    }

    /// The row as numhubd answers it (`sync` null: the bench's entities have no job).
    // Clone: jsonrpsee's bound on an answer; it is serialized, not cloned.
    #[derive(Clone, serde::Serialize)]
    pub struct Answer {
        id: String,
        tenant_id: i64,
        brand_id: Option<i64>,
        numhub_entity_id: Option<String>,
        numhub_eid: Option<String>,
        entity_type: String,
        company_name: String,
        status: String,
        vetting_status: String,
        attestation_level: Option<String>,
        api_response: Option<Box<RawValue>>,
        submitted_at: Option<String>,
        approved_at: Option<String>,
        created_at: String,
        updated_at: String,
        sync: Option<()>,
        review: Option<Review>,
    }

    pub fn read(c: &Connection, tenant_id: i64, id: &str) -> rusqlite::Result<Answer> {
        let mut answer = c
            .prepare_cached(GET)?
            .query_row(rusqlite::params![id, tenant_id], |r| {
                let job: Option<i64> = r.get(15)?;
                assert!(job.is_none(), "the bench's entities have no jobs");
                Ok(Answer {
                    id: r.get(0)?,
                    tenant_id: r.get(1)?,
                    brand_id: r.get(2)?,
                    numhub_entity_id: r.get(3)?,
                    numhub_eid: r.get(4)?,
                    entity_type: r.get(5)?,
                    company_name: r.get(6)?,
                    status: r.get(7)?,
                    vetting_status: r.get(8)?,
                    attestation_level: r.get(9)?,
                    api_response: r
                        .get::<_, Option<String>>(10)?
                        .map(|s| RawValue::from_string(s).expect("api_response is JSON")),
                    submitted_at: r.get(11)?,
                    approved_at: r.get(12)?,
                    created_at: r.get(13)?,
                    updated_at: r.get(14)?,
                    sync: None,
                    review: None,
                })
            })
            .optional()?
            .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        answer.review = review(c, id)?;
        Ok(answer)
    }

    fn review(c: &Connection, id: &str) -> rusqlite::Result<Option<Review>> {
        c.prepare_cached(REVIEW)?
            .query_row(rusqlite::params![id], |r| {
                let comments: String = r.get(1)?;
                Ok(Review {
                    message: r.get(0)?,
                    flagged_comments: serde_json::from_str(&comments)
                        .expect("flagged_comments is a JSON array"),
                    flagged_at: r.get(2)?,
                    updated_at: r.get(3)?,
                })
            })
            .optional()
    }

    /// As many read-only connections as the store keeps, opened as `db` opens its
    /// readers; idle ones in a list, a semaphore counting them.
    pub struct Pool {
        idle: Arc<Mutex<Vec<Connection>>>,
        permits: Arc<Semaphore>,
    }

    fn open(db: &Path) -> Connection {
        let options = StoreOptions::default();
        let c = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .expect("open");
        c.busy_timeout(options.busy_timeout).expect("busy_timeout");
        c.pragma_update(None, "foreign_keys", "ON").expect("pragma");
        c.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .expect("qpsg");
        c.set_prepared_statement_cache_capacity(64);
        c
    }

    /// One read transaction around `f`, as the store's readers run each read.
    fn in_snapshot<T>(
        c: &Connection,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        if !c.is_autocommit() {
            c.execute_batch("ROLLBACK")?;
        }
        c.prepare_cached("BEGIN")?.execute([])?;
        let result = f(c);
        if c.prepare_cached("COMMIT")?.execute([]).is_err() {
            c.execute_batch("ROLLBACK")?;
        }
        result
    }

    impl Pool {
        pub fn open(db: &Path) -> Pool {
            let n = StoreOptions::default().readers;
            Pool {
                idle: Arc::new(Mutex::new((0..n).map(|_| open(db)).collect())),
                permits: Arc::new(Semaphore::new(n)),
            }
        }

        fn take(&self) -> Option<Connection> {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
        }

        fn give(idle: &Mutex<Vec<Connection>>, c: Connection) {
            idle.lock().unwrap_or_else(PoisonError::into_inner).push(c);
        }

        /// Inline when a connection is idle, on the blocking pool otherwise.
        pub async fn read_point<T, F>(&self, f: F) -> rusqlite::Result<T>
        where
            T: Send + 'static,
            F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        {
            if let Ok(_permit) = self.permits.try_acquire() {
                let c = self.take().expect("a connection per permit");
                let result = in_snapshot(&c, f);
                Self::give(&self.idle, c);
                return result;
            }
            let permit = self.permits.clone().acquire_owned().await.expect("permits");
            let c = self.take().expect("a connection per permit");
            let idle = self.idle.clone();
            tokio::task::spawn_blocking(move || {
                let result = in_snapshot(&c, f);
                Self::give(&idle, c);
                drop(permit);
                result
            })
            .await
            .expect("read task")
        }
    }

    pub mod mysql {
        //! The floor on MySQL: a bare `mysql_async` pool (as many connections as
        //! numhubd's readers, the session settings its readers set) running the same
        //! two statements in one read-only snapshot, async: nothing of numhubd's.

        use super::{Answer, Flagged, Review, GET, REVIEW};
        use crate::mariadb_support::TestDatabase;
        use mysql_async::prelude::Queryable;
        use mysql_async::Value;
        use numhubd::db::StoreOptions;
        use std::sync::{Arc, Mutex, PoisonError};
        use tokio::sync::Semaphore;

        /// numhubd's reader sessions: UTC, strict, `||` and `"` as on SQLite, utf8mb4,
        /// REPEATABLE READ (one snapshot per read).
        const INIT: [&str; 3] = [
            "SET SESSION time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,PIPES_AS_CONCAT,ANSI_QUOTES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', explicit_defaults_for_timestamp = ON, innodb_lock_wait_timeout = 10",
            "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        ];

        pub struct Pool {
            pool: mysql_async::Pool,
            get: String,
            review: String,
        }

        /// MySQL's positional `?` for the statements' `?1`, `?2` (each used once, in order).
        fn positional(sql: &str) -> String {
            sql.replace("?1", "?").replace("?2", "?")
        }

        impl Pool {
            pub fn open(db: &TestDatabase) -> Pool {
                let n = StoreOptions::default().readers;
                let constraints =
                    mysql_async::PoolConstraints::new(n, n).expect("pool constraints");
                let opts = mysql_async::OptsBuilder::from_opts(db.opts_via(db.port))
                    .init(INIT.iter().map(|s| s.to_string()).collect())
                    .client_found_rows(true)
                    .stmt_cache_size(256)
                    .tcp_nodelay(true)
                    // No COM_RESET_CONNECTION when a session goes back (mysql_async's default):
                    // it costs a round trip, re-runs the init statements and drops the
                    // prepared statements; every transaction here ends before then.
                    .pool_opts(
                        mysql_async::PoolOpts::default()
                            .with_constraints(constraints)
                            .with_reset_connection(false),
                    );
                Pool {
                    pool: mysql_async::Pool::new(opts),
                    get: positional(GET),
                    review: positional(REVIEW),
                }
            }

            /// The row and its review in one snapshot, as numhubd's readers read.
            pub async fn read(&self, tenant_id: i64, id: &str) -> mysql_async::Result<Answer> {
                let mut c = self.pool.get_conn().await?;
                c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await?;
                let answer = self.rows(&mut c, tenant_id, id).await;
                c.query_drop("ROLLBACK").await?;
                answer
            }

            async fn rows(
                &self,
                c: &mut mysql_async::Conn,
                tenant_id: i64,
                id: &str,
            ) -> mysql_async::Result<Answer> {
                let row: Option<mysql_async::Row> =
                    c.exec_first(self.get.as_str(), (id, tenant_id)).await?;
                let mut v = row.expect("the bench reads entities that exist").unwrap();
                let mut take = |i: usize| std::mem::replace(&mut v[i], Value::NULL);
                assert!(int(take(15)).is_none(), "the bench's entities have no jobs");
                let mut answer = Answer {
                    id: text(take(0)).expect("id"),
                    tenant_id: int(take(1)).expect("tenant_id"),
                    brand_id: int(take(2)),
                    numhub_entity_id: text(take(3)),
                    numhub_eid: text(take(4)),
                    entity_type: text(take(5)).expect("entity_type"),
                    company_name: text(take(6)).expect("company_name"),
                    status: text(take(7)).expect("status"),
                    vetting_status: text(take(8)).expect("vetting_status"),
                    attestation_level: text(take(9)),
                    api_response: text(take(10)).map(|s| {
                        serde_json::value::RawValue::from_string(s).expect("api_response is JSON")
                    }),
                    submitted_at: text(take(11)),
                    approved_at: text(take(12)),
                    created_at: text(take(13)).expect("created_at"),
                    updated_at: text(take(14)).expect("updated_at"),
                    sync: None,
                    review: None,
                };
                let review: Option<mysql_async::Row> =
                    c.exec_first(self.review.as_str(), (id,)).await?;
                answer.review = review.map(|r| {
                    let mut v = r.unwrap();
                    let mut take = |i: usize| std::mem::replace(&mut v[i], Value::NULL);
                    let comments = text(take(1)).expect("flagged_comments");
                    Review {
                        message: text(take(0)),
                        flagged_comments: serde_json::from_str::<Vec<Flagged>>(&comments)
                            .expect("flagged_comments is a JSON array"),
                        flagged_at: text(take(2)).expect("flagged_at"),
                        updated_at: text(take(3)).expect("updated_at"),
                    }
                });
                Ok(answer)
            }
        }

        /// The same sessions and reads, driven the way numhubd's store drives its
        /// MySQL readers: a permit, an idle session, the read on the blocking pool, each
        /// step waited for with `block_on` on a one-worker runtime of its own that
        /// drives every session's socket.
        pub struct Threaded {
            pool: Arc<Pool>,
            idle: Arc<Mutex<Vec<mysql_async::Conn>>>,
            permits: Arc<Semaphore>,
        }

        /// The one-worker runtime of the threaded sessions (static, as numhubd's is).
        fn io_runtime() -> &'static tokio::runtime::Runtime {
            static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
            RT.get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("bench-mysql-io")
                    .enable_all()
                    .build()
                    .expect("runtime")
            })
        }

        impl Threaded {
            pub fn open(db: &TestDatabase) -> Threaded {
                let n = StoreOptions::default().readers;
                let pool = Pool::open(db);
                // From a thread of its own: the caller may be inside the bench's runtime.
                let opts = db.opts_via(db.port);
                let conns = std::thread::scope(|s| {
                    s.spawn(|| {
                        (0..n)
                            .map(|_| {
                                let opts = mysql_async::OptsBuilder::from_opts(opts.clone())
                                    .init(INIT.iter().map(|s| s.to_string()).collect())
                                    .client_found_rows(true)
                                    .stmt_cache_size(256)
                                    .tcp_nodelay(true);
                                io_runtime()
                                    .block_on(mysql_async::Conn::new(opts))
                                    .expect("session")
                            })
                            .collect::<Vec<_>>()
                    })
                    .join()
                    .expect("connect")
                });
                Threaded {
                    pool: Arc::new(pool),
                    idle: Arc::new(Mutex::new(conns)),
                    permits: Arc::new(Semaphore::new(n)),
                }
            }

            pub async fn read(&self, tenant_id: i64, id: String) -> mysql_async::Result<Answer> {
                let permit = self.permits.clone().acquire_owned().await.expect("permits");
                let mut c = self
                    .idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop()
                    .expect("a session per permit");
                let (pool, idle) = (self.pool.clone(), self.idle.clone());
                tokio::task::spawn_blocking(move || {
                    let rt = io_runtime();
                    let begin = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
                    let answer = rt
                        .block_on(c.query_drop(begin))
                        .and_then(|()| rt.block_on(pool.rows(&mut c, tenant_id, &id)));
                    let end = rt.block_on(c.query_drop("ROLLBACK"));
                    idle.lock().unwrap_or_else(PoisonError::into_inner).push(c);
                    drop(permit);
                    end.and(answer)
                })
                .await
                .expect("read task")
            }
        }

        /// Text, and times in the store's RFC 3339 form, as numhubd answers them.
        fn text(v: Value) -> Option<String> {
            match v {
                Value::NULL => None,
                Value::Bytes(b) => Some(String::from_utf8(b).expect("utf-8")),
                Value::Date(y, mo, d, h, mi, s, us) => Some(format!(
                    "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z"
                )),
                Value::Int(i) => Some(i.to_string()),
                Value::UInt(u) => Some(u.to_string()),
                other => panic!("unexpected column value {other:?}"),
            }
        }

        fn int(v: Value) -> Option<i64> {
            match v {
                Value::NULL => None,
                Value::Int(i) => Some(i),
                Value::UInt(u) => Some(i64::try_from(u).expect("an i64")),
                Value::Bytes(b) => Some(
                    std::str::from_utf8(&b)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .expect("a number"),
                ),
                other => panic!("unexpected number {other:?}"),
            }
        }
    }
}

/// Serves a jsonrpsee module per connection, the way numhubd serves its own.
fn serve_module<C: Send + Sync + 'static>(path: &Path, module: RpcModule<C>) {
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

/// The store with one tenant and `n` entities, every other one with NumHub's answer
/// kept and one synced entity in [`REVIEWED_EVERY`] under review; returns their ids.
async fn seed(store: &Store, n: usize) -> Vec<String> {
    let answer = numhub_answer().to_string();
    store
        .write(move |tx| {
            tenants::upsert(tx, common::tenant("Bench", None))?;
            let mut ids = Vec::with_capacity(n);
            for i in 0..n {
                let e = entities::create(
                    tx,
                    entities::NewEntity {
                        tenant_id: 1,
                        brand_id: None,
                        entity_type: EntityType::Direct,
                        company_name: format!("Company {i} LLC"),
                        submit: false,
                        attestation_level: None,
                    },
                )?;
                if i % 2 == 1 {
                    entities::set_api_response(tx, 1, &e.id, &answer)?;
                }
                if i % REVIEWED_EVERY == 1 {
                    reviews::record(
                        tx,
                        &e.id,
                        Some("Please correct the flagged sections."),
                        &flags(),
                    )?;
                }
                ids.push(e.id);
            }
            Ok(ids)
        })
        .await
        .expect("seed")
}

/// NumHub's comments on a flagged application, as the poller keeps them.
fn flags() -> Vec<reviews::FlaggedSection> {
    vec![
        reviews::FlaggedSection {
            section_number: Some(2),
            section_name: Some("Business Entity Details".into()),
            comments: Some("The legal name does not match the EIN letter.".into()),
        },
        reviews::FlaggedSection {
            section_number: Some(7),
            section_name: Some("Display Identity Information".into()),
            comments: Some("The logo must be a 256x256 BMP.".into()),
        },
    ]
}

/// numhubd's server on `path` over `store`, as the daemon builds it.
fn serve_numhubd(store: &Store, path: &Path) {
    let crypto = numhubd::crypto::Crypto::generate(&[]).expect("crypto");
    let ctx = Rpc {
        store: store.clone(),
        events: Default::default(),
        crypto: Arc::new(crypto),
        numhub: None,
        started: Instant::now(),
        uploads: numhubd::intake::Uploads {
            dirs: vec![],
            max_bytes: 1,
            spool: numhubd::intake::Spool::open(&path.with_extension("spool")).expect("spool"),
        },
        drop_dir: path.with_extension("drop"),
        watcher: Default::default(),
        connections: Default::default(),
        sync_anomalies: Default::default(),
        business_id_fields: Vec::new(),
        cluster_node: None,
    };
    let options = ServerOptions {
        socket: path.to_path_buf(),
        max_body_bytes: 1 << 20,
        max_batch: 100,
        max_connections: 1024,
        max_requests_per_sec: 1_000_000,
        max_connections_per_uid: 1000,
        header_timeout: std::time::Duration::from_secs(5),
        idle_timeout: std::time::Duration::from_secs(60),
        max_response_bytes: 16 << 20,
        access: numhubd::rpc::access::Rules::fixed(vec![]),
    };
    let bound = socket::listen(path, 0o600, None).expect("listen");
    let (stop, shutdown) = numhubd::shutdown::channel();
    tokio::spawn(async move {
        let _stop = stop;
        let _ = rpc::serve(bound, ctx, options, shutdown).await;
    });
}

/// An audit row committed every 100 ms, as a working daemon's exchanges with NumHub
/// make them (until the handle is aborted).
fn keep_committing(store: Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / COMMITS_PER_SEC));
        loop {
            tick.tick().await;
            let row = sync_logs::NewSyncLog {
                tenant_id: Some(1),
                entity_id: None,
                identity_id: None,
                endpoint: "/api/v1/reports/status".into(),
                method: HttpMethod::Get,
                direction: Direction::Outbound,
                status_code: Some(200),
                request_payload: None,
                response_payload: Some(r#"{"counts":{"Complete":1}}"#.into()),
                response_time_ms: Some(40),
                error_message: None,
                success: true,
            };
            store
                .write(move |tx| sync_logs::insert(tx, row.clone()).map(|_| ()))
                .await
                .expect("commit");
        }
    })
}

/// What the poller keeps in `api_response` for an application NumHub knows: its
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
