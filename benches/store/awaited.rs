//! Part 4 of the store bench: awaited writes, 16 callers, on SQLite and on
//! MySQL/MariaDB, each beside its floor of bare transactions, rounds alternating.
//! Prints one table (both engines side by side) and the line
//! `store bench: awaited writes, 16 callers, on ENGINE: R of floor, ...`.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::Value;
use numhubd::db::{self, sync_logs, tenants, Location, Password, Store, StoreOptions, Tls};

use super::{fresh, insert_bare, mariadb_support, row, INSERT_LOG, SUBMITTERS};

/// numhubd's writer sessions: UTC, strict, `||` and `"` as on SQLite, utf8mb4,
/// READ COMMITTED.
const WRITER_INIT: [&str; 3] = [
    "SET SESSION time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,PIPES_AS_CONCAT,ANSI_QUOTES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', explicit_defaults_for_timestamp = ON, innodb_lock_wait_timeout = 10",
    "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
];

/// One engine's rounds: rows/s of numhubd and of the floor in each.
struct Rounds {
    engine: &'static str,
    numhubd: Vec<f64>,
    floor: Vec<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the part on the engines in `engines` (comma-separated), `rows` per run.
pub fn run(rt: &tokio::runtime::Runtime, dir: &Path, engines: &str, rows: usize, rounds: usize) {
    let mut all = Vec::new();
    for engine in engines.split(',').map(str::trim) {
        match engine {
            "sqlite" => all.push(sqlite(rt, dir, rows, rounds)),
            "mysql" if mariadb_support::available() => all.push(mysql(rt, rows, rounds)),
            "mysql" => println!("store bench: awaited writes on mysql skipped: mariadbd not found"),
            other => panic!("BENCH_ENGINE: unknown engine {other:?} (sqlite, mysql)"),
        }
    }
    println!("awaited writes, {SUBMITTERS} callers, one audit row per call, {rows} rows per run, {rounds} rounds:");
    println!(
        "  {:<8} {:>15} {:>13} {:>7} {:>11}",
        "engine", "numhubd rows/s", "floor rows/s", "ratio", "range"
    );
    for r in &all {
        let ratios: Vec<f64> = r.numhubd.iter().zip(&r.floor).map(|(a, b)| a / b).collect();
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "  {:<8} {:>15.0} {:>13.0} {:>7.2} {:>11}",
            r.engine,
            median(r.numhubd.clone()),
            median(r.floor.clone()),
            median(ratios.clone()),
            format!("{lo:.2}-{hi:.2}")
        );
    }
    for r in &all {
        let ratios: Vec<f64> = r.numhubd.iter().zip(&r.floor).map(|(a, b)| a / b).collect();
        println!(
            "store bench: awaited writes, {SUBMITTERS} callers, on {}: {:.2} of floor (goal >= 0.8)",
            r.engine,
            median(ratios)
        );
    }
}

fn sqlite(rt: &tokio::runtime::Runtime, dir: &Path, rows: usize, rounds: usize) -> Rounds {
    let store = Store::open(&fresh(dir, "awaited.db"), StoreOptions::default()).expect("open");
    let floor = Arc::new(Mutex::new(sqlite_floor_conn(&fresh(
        dir,
        "awaited-floor.db",
    ))));
    let mut r = Rounds {
        engine: "sqlite",
        numhubd: Vec::new(),
        floor: Vec::new(),
    };
    for _ in 0..rounds {
        r.numhubd.push(rt.block_on(through_store(&store, rows)));
        r.floor.push(rt.block_on(sqlite_floor(&floor, rows)));
    }
    rt.block_on(store.close()).expect("close");
    r
}

fn mysql(rt: &tokio::runtime::Runtime, rows: usize, rounds: usize) -> Rounds {
    let db = mariadb_support::fresh_database();
    let location = Location::Server(db::Server {
        host: "127.0.0.1".into(),
        port: db.port,
        socket: None,
        user: db.user.clone(),
        database: db.name.clone(),
        password: Some(Password::new(db.password())),
        tls: Tls::Off,
    });
    // Outside the runtime: the store's sessions block on their own runtime.
    let store = Store::open_at(&location, StoreOptions::default()).expect("open");
    rt.block_on(store.write(|tx| tenants::upsert(tx, crate::common::tenant("bench", None))))
        .expect("tenant");
    let pool = rt.block_on(async { mysql_floor_pool(&db) });
    // Sessions opened before the clock starts, on both sides.
    rt.block_on(mysql_floor(&pool, SUBMITTERS));
    rt.block_on(through_store(&store, SUBMITTERS));
    let mut r = Rounds {
        engine: "mysql",
        numhubd: Vec::new(),
        floor: Vec::new(),
    };
    for _ in 0..rounds {
        r.numhubd.push(rt.block_on(through_store(&store, rows)));
        r.floor.push(rt.block_on(mysql_floor(&pool, rows)));
    }
    rt.block_on(async {
        let _ = pool.disconnect().await;
        store.close().await
    })
    .expect("close");
    r
}

/// numhubd: 16 tasks, each awaiting `Store::write` of one audit row at a time.
async fn through_store(store: &Store, rows: usize) -> f64 {
    let per = rows / SUBMITTERS;
    let start = Instant::now();
    let tasks: Vec<_> = (0..SUBMITTERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..per {
                    store
                        .write(|tx| sync_logs::insert(tx, row()))
                        .await
                        .expect("write");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    (per * SUBMITTERS) as f64 / start.elapsed().as_secs_f64()
}

/// The SQLite floor's one connection, with the writer's pragmas (NORMAL, as the
/// store's default).
fn sqlite_floor_conn(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).expect("open");
    c.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )
    .expect("pragmas");
    c
}

/// The SQLite floor: 16 tasks, each insert its own transaction on the blocking pool.
async fn sqlite_floor(conn: &Arc<Mutex<rusqlite::Connection>>, rows: usize) -> f64 {
    let per = rows / SUBMITTERS;
    let start = Instant::now();
    let tasks: Vec<_> = (0..SUBMITTERS)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                for _ in 0..per {
                    let conn = conn.clone();
                    tokio::task::spawn_blocking(move || {
                        let c = conn.lock().unwrap_or_else(PoisonError::into_inner);
                        c.prepare_cached("BEGIN IMMEDIATE")
                            .and_then(|mut s| s.execute([]))
                            .expect("begin");
                        insert_bare(&mut c.prepare_cached(INSERT_LOG).expect("prepare"));
                        c.prepare_cached("COMMIT")
                            .and_then(|mut s| s.execute([]))
                            .expect("commit");
                    })
                    .await
                    .expect("insert task");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    (per * SUBMITTERS) as f64 / start.elapsed().as_secs_f64()
}

/// The MySQL floor's pool: 16 sessions with numhubd's writer settings.
fn mysql_floor_pool(db: &mariadb_support::TestDatabase) -> mysql_async::Pool {
    let constraints =
        mysql_async::PoolConstraints::new(SUBMITTERS, SUBMITTERS).expect("pool constraints");
    let opts = mysql_async::OptsBuilder::from_opts(db.opts_via(db.port))
        .init(WRITER_INIT.iter().map(|s| s.to_string()).collect())
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
    mysql_async::Pool::new(opts)
}

/// MySQL's positional `?` for `?1`..`?N` used once each, in order.
fn positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '?' {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        }
    }
    out
}

/// The MySQL floor: 16 tasks, each insert its own transaction on a session from the
/// pool.
async fn mysql_floor(pool: &mysql_async::Pool, rows: usize) -> f64 {
    let per = rows / SUBMITTERS;
    let insert: Arc<str> = positional(INSERT_LOG).into();
    let start = Instant::now();
    let tasks: Vec<_> = (0..SUBMITTERS)
        .map(|_| {
            let (pool, insert) = (pool.clone(), insert.clone());
            tokio::spawn(async move {
                for _ in 0..per {
                    let mut c = pool.get_conn().await.expect("session");
                    c.query_drop("START TRANSACTION").await.expect("begin");
                    c.exec_drop(&*insert, mysql_row()).await.expect("insert");
                    c.query_drop("COMMIT").await.expect("commit");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    (per * SUBMITTERS) as f64 / start.elapsed().as_secs_f64()
}

/// The audit row's values for MySQL, the time bound as a time (as numhubd binds it).
fn mysql_row() -> Vec<Value> {
    use chrono::{Datelike, Timelike};
    let r = row();
    let now = chrono::Utc::now();
    vec![
        Value::from(uuid::Uuid::now_v7().to_string()),
        Value::from(r.tenant_id),
        Value::from(r.endpoint),
        Value::from(r.method.as_str()),
        Value::from(r.direction.as_str()),
        Value::from(r.status_code),
        Value::from(r.request_payload),
        Value::from(r.response_payload),
        Value::from(r.response_time_ms),
        Value::from(r.success),
        Value::Date(
            u16::try_from(now.year()).expect("year"),
            now.month() as u8,
            now.day() as u8,
            now.hour() as u8,
            now.minute() as u8,
            now.second() as u8,
            now.timestamp_subsec_micros(),
        ),
    ]
}
