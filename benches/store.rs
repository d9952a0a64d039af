//! Store benchmark (a bench binary, not a timed test): `cargo bench --bench store`.
//!
//! 1. The ceiling: a bare rusqlite loop inserting N audit rows in one transaction.
//! 2. The writer: the same N rows through `Store::write` from 16 concurrent
//!    submitters, each awaiting its commit acknowledgement, while a reader task keeps
//!    querying; reports the readers' query rate beside it.
//! 3. Keyset-paged listing of 100,000 entities, first and last pages timed.
//! 4. Awaited writes, 16 callers, on both engines: numhubd's `Store::write` of one
//!    audit row per call (`sync_logs::insert`, as a real call makes it) against a
//!    floor of the same insert as one bare transaction per row from 16 concurrent
//!    tasks on a pool: on SQLite a pool of one connection (SQLite has one writer; 16
//!    connections would only take turns through the busy handler's sleeps), each
//!    insert `BEGIN IMMEDIATE`/`COMMIT` on the blocking pool; on MySQL a
//!    `mysql_async::Pool` of 16 sessions with numhubd's writer settings, each insert
//!    `START TRANSACTION`/`COMMIT`, against a throwaway MariaDB the bench starts
//!    (`tests/it/mariadb_support.rs`; skipped with a line without `mariadbd`, a
//!    failure when `CI=true`). Rounds alternate numhubd and its floor.
//!
//! `BENCH_ROWS` changes N (default 200,000); `BENCH_ONLY=writer|listing|awaited` runs
//! one part; `BENCH_ENGINE` the engines of part 4 (`sqlite,mysql`), `BENCH_AWAITED_ROWS`
//! its rows per run (16,000).
//! `NUMHUBD_BENCH_SMOKE=1` is the smoke mode CI runs (`.ci/run`): 2,000 rows and
//! 2,000 entities, every part; seconds, and its figures mean nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[allow(dead_code)]
mod common;

use numhubd::db::{
    entities, sync_logs, tenants, Direction, EntityType, HttpMethod, Store, StoreOptions,
};

// The integration tests' throwaway MariaDB, shared rather than copied.
#[path = "../tests/it/mariadb_support.rs"]
#[allow(dead_code)]
mod mariadb_support;

#[path = "store/awaited.rs"]
mod awaited;

const SUBMITTERS: usize = 16;

/// The audit row's INSERT, as `db::sync_logs::insert` runs it.
const INSERT_LOG: &str =
    "INSERT INTO numhub_sync_logs (id, tenant_id, numhub_entity_id, numhub_identity_id, endpoint,
         method, direction, status_code, request_payload, response_payload, response_time_ms,
         error_message, success, created_at)
     VALUES (?1, ?2, NULL, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10, ?11)";

const REQUEST: &str = r#"{"method":"POST","path":"/api/v1/application","body":{"businessEntityDetails":{"legalBusinessName":"Acme"},"status":"Submit"}}"#;
const RESPONSE: &str =
    r#"{"numhubEntityId":"6f1c1d52-8c43-4a53-9d9a-2a1b1e0c0f01","applicationId":"A-1","eid":null}"#;

fn row() -> sync_logs::NewSyncLog {
    sync_logs::NewSyncLog {
        tenant_id: Some(1),
        entity_id: None,
        identity_id: None,
        endpoint: "/api/v1/application".into(),
        method: HttpMethod::Post,
        direction: Direction::Outbound,
        status_code: Some(200),
        request_payload: Some(REQUEST.into()),
        response_payload: Some(RESPONSE.into()),
        response_time_ms: Some(42),
        error_message: None,
        success: true,
    }
}

fn fresh(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    // A part run again (the writer's alternating rounds) starts from an empty file.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    numhubd::db::migrate_file(&path).expect("migrate");
    let c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         INSERT INTO tenants (id, name, created_at, updated_at) VALUES (1, 'bench', 'x', 'x');",
    )
    .expect("tenant");
    path
}

/// The ceiling: one connection, one transaction, one prepared statement.
/// With `group` = Some(k), the same loop commits every k rows and wraps each row in a
/// savepoint: what the writer's group commit costs inside SQLite alone, without
/// any threads.
fn bare_loop(dir: &std::path::Path, n: usize, group: Option<usize>) -> f64 {
    let path = fresh(dir, &format!("bare-{group:?}.db"));
    let c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )
    .expect("pragmas");
    let start = Instant::now();
    c.execute_batch("BEGIN").expect("begin");
    {
        let mut stmt = c.prepare_cached(INSERT_LOG).expect("prepare");
        for i in 0..n {
            if let Some(k) = group {
                if i > 0 && i % k == 0 {
                    c.execute_batch("COMMIT; BEGIN").expect("group commit");
                }
                c.prepare_cached("SAVEPOINT call")
                    .expect("sp")
                    .execute([])
                    .expect("sp");
            }
            insert_bare(&mut stmt);
            if group.is_some() {
                c.prepare_cached("RELEASE call")
                    .expect("rel")
                    .execute([])
                    .expect("rel");
            }
        }
    }
    c.execute_batch("COMMIT").expect("commit");
    n as f64 / start.elapsed().as_secs_f64()
}

/// One audit row through a prepared [`INSERT_LOG`], with rusqlite alone.
fn insert_bare(stmt: &mut rusqlite::CachedStatement<'_>) {
    let r = row();
    stmt.execute(rusqlite::params![
        uuid::Uuid::now_v7().to_string(),
        r.tenant_id,
        r.endpoint,
        r.method.as_str(),
        r.direction.as_str(),
        r.status_code,
        r.request_payload,
        r.response_payload,
        r.response_time_ms,
        r.success,
        numhubd::db::now_ts()
    ])
    .expect("insert");
}

/// Rows/s when the 16 submitters queue audit rows without waiting
/// (`write_detached`, as the NumHub client does), with one awaited write at the end
/// so every row is committed when the clock stops.
async fn detached(dir: &std::path::Path, n: usize) -> f64 {
    let path = fresh(dir, "detached.db");
    let store = Store::open(&path, StoreOptions::default()).expect("open");
    let start = Instant::now();
    let per = n / SUBMITTERS;
    let mut tasks = Vec::new();
    for _ in 0..SUBMITTERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                store
                    .write_detached("bench", |tx| sync_logs::insert(tx, row()).map(|_| ()))
                    .await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    store.write(|_| Ok(())).await.expect("barrier");
    let elapsed = start.elapsed().as_secs_f64();
    store.close().await.expect("close");
    (per * SUBMITTERS) as f64 / elapsed
}

/// One caller's awaited commit, plain and durable (`Store::write_durable`, how the
/// outbox claims a job), alternating, under the default NORMAL: the mean time each.
async fn durable_commit_cost(dir: &std::path::Path, n: usize) -> (Duration, Duration) {
    let path = fresh(dir, "durable.db");
    let store = Store::open(&path, StoreOptions::default()).expect("open");
    let (mut plain, mut durable) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..n {
        let t = Instant::now();
        store
            .write(|tx| sync_logs::insert(tx, row()))
            .await
            .expect("write");
        plain += t.elapsed();
        let t = Instant::now();
        store
            .write_durable(|tx| sync_logs::insert(tx, row()))
            .await
            .expect("durable write");
        durable += t.elapsed();
    }
    store.close().await.expect("close");
    (plain / n as u32, durable / n as u32)
}

/// Rows/s through the writer (`synchronous=FULL` when `full_sync`, as the daemon
/// runs by default, else NORMAL), and reader queries/s meanwhile.
async fn through_writer(
    dir: &std::path::Path,
    n: usize,
    full_sync: bool,
) -> (f64, usize, Duration, Duration) {
    let path = fresh(dir, &format!("writer-{full_sync}.db"));
    let options = StoreOptions {
        full_sync,
        ..StoreOptions::default()
    };
    let store = Store::open(&path, options).expect("open");
    let stop = Arc::new(AtomicBool::new(false));
    // A reader asking every millisecond, as a busy app would: its latency shows
    // whether readers keep answering while the writer is saturated.
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let filter = sync_logs::LogQuery {
                    tenant_id: Some(1),
                    limit: Some(20),
                    ..Default::default()
                };
                let t = Instant::now();
                store
                    .read(move |sql| sync_logs::list(sql, &filter))
                    .await
                    .expect("read");
                latencies.push(t.elapsed());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            latencies
        })
    };
    let start = Instant::now();
    let per = n / SUBMITTERS;
    let mut tasks = Vec::new();
    for _ in 0..SUBMITTERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                store
                    .write(|tx| sync_logs::insert(tx, row()))
                    .await
                    .expect("write");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = reader.await.expect("reader");
    store.close().await.expect("close");
    latencies.sort();
    let p = |q: f64| {
        let i = (latencies.len().saturating_sub(1) as f64 * q) as usize;
        latencies.get(i).copied().unwrap_or_default()
    };
    (
        (per * SUBMITTERS) as f64 / elapsed,
        latencies.len(),
        p(0.5),
        p(0.99),
    )
}

/// Seeds `count` entities (up to 10,000 or a multiple of it) through the writer in
/// write calls of up to 10,000, then walks them all.
async fn paged_listing(dir: &std::path::Path, count: usize) {
    let chunk = count.min(10_000);
    let path = dir.join("entities.db");
    let store = Store::open(&path, StoreOptions::default()).expect("open");
    store
        .write(|tx| tenants::upsert(tx, common::tenant("bench", None)))
        .await
        .expect("tenant");
    let seed_start = Instant::now();
    for c in 0..(count / chunk) {
        store
            .write(move |tx| {
                for i in 0..chunk {
                    entities::create(
                        tx,
                        entities::NewEntity {
                            tenant_id: 1,
                            brand_id: None,
                            entity_type: EntityType::Enterprise,
                            company_name: format!("Company {}", c * chunk + i),
                            submit: i % 2 == 0,
                            attestation_level: None,
                        },
                    )?;
                }
                Ok(())
            })
            .await
            .expect("seed");
    }
    println!(
        "seeded {count} entities in {:.2} s",
        seed_start.elapsed().as_secs_f64()
    );
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    let start = Instant::now();
    let mut rows = 0;
    loop {
        let c = cursor.clone();
        let t = Instant::now();
        let page = store
            .read(move |sql| entities::list(sql, 1, None, c.as_deref(), Some(100)))
            .await
            .expect("page");
        pages.push(t.elapsed());
        rows += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let total = start.elapsed();
    assert_eq!(rows, count);
    let mut sorted = pages.clone();
    sorted.sort();
    let p = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q) as usize];
    println!(
        "keyset listing, {count} entities in pages of 100: {} pages in {:.2} s ({:.0} rows/s); \
         page latency p50 {:?}, p99 {:?}; first page {:?}, last page {:?}",
        pages.len(),
        total.as_secs_f64(),
        rows as f64 / total.as_secs_f64(),
        p(0.5),
        p(0.99),
        pages[0],
        pages[pages.len() - 1]
    );
    // With a status filter (the seed's (tenant_id, status) index).
    let t = Instant::now();
    let page = store
        .read(|sql| {
            entities::list(
                sql,
                1,
                Some(numhubd::db::EntityStatus::Submitted),
                None,
                Some(100),
            )
        })
        .await
        .expect("filtered");
    println!(
        "first page filtered by status: {} rows in {:?}",
        page.items.len(),
        t.elapsed()
    );
    store.close().await.expect("close");
}

fn main() {
    let smoke = common::smoke();
    let n: usize = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 2_000 } else { 200_000 });
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // BENCH_ONLY=writer (or listing) runs one part, for profiling.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "writer" {
        let ceiling = bare_loop(dir.path(), n, None);
        let grouped = bare_loop(dir.path(), n, Some(SUBMITTERS));
        // NORMAL and FULL alternate, twice, so a disk that speeds up or slows down
        // during the run does not favour one; the better of each pair is kept.
        let mut normal = (0.0, 0, Duration::ZERO, Duration::ZERO);
        let mut full = normal;
        for _ in 0..2 {
            for (full_sync, best) in [(false, &mut normal), (true, &mut full)] {
                let r = rt.block_on(through_writer(dir.path(), n, full_sync));
                if r.0 > best.0 {
                    *best = r;
                }
            }
        }
        let (writer, reads, p50, p99) = normal;
        let queued = rt.block_on(detached(dir.path(), n));
        let (plain, durable) = rt.block_on(durable_commit_cost(
            dir.path(),
            if smoke { 100 } else { 2_000 },
        ));
        println!("audit-row inserts, {n} rows:");
        println!("  ceiling (bare rusqlite, one transaction): {ceiling:>10.0} rows/s");
        println!(
            "  bare loop, savepoint per row, commit per {SUBMITTERS} rows: {grouped:>10.0} rows/s = {:.2} x ceiling (SQLite's own cost of group commit)",
            grouped / ceiling
        );
        println!(
            "  store writer, synchronous=NORMAL (default), {SUBMITTERS} submitters awaiting commit: {writer:>10.0} rows/s = {:.2} x ceiling (goal >= 0.5)",
            writer / ceiling
        );
        println!(
            "  store writer, synchronous=FULL, {SUBMITTERS} submitters awaiting commit: {:>10.0} rows/s = {:.2} x ceiling = {:.2} x NORMAL (FULL becomes the default at >= 0.80)",
            full.0,
            full.0 / ceiling,
            full.0 / writer
        );
        println!(
            "  store writer, {SUBMITTERS} submitters queueing without waiting (audit path): {queued:>10.0} rows/s = {:.2} x ceiling",
            queued / ceiling
        );
        println!(
            "  one caller's awaited commit under NORMAL: plain {plain:?}, durable (an outbox claim) {durable:?}"
        );
        println!("  a reader meanwhile (20-row log page every 1 ms): {reads} queries, latency p50 {p50:?}, p99 {p99:?}");
    }
    if only.is_empty() || only == "listing" {
        let count = if smoke { 2_000 } else { 100_000 };
        rt.block_on(paged_listing(dir.path(), count));
    }
    if only.is_empty() || only == "awaited" {
        let engines = std::env::var("BENCH_ENGINE").unwrap_or_else(|_| "sqlite,mysql".into());
        let (rows, rounds) = if smoke { (320, 1) } else { (16_000, 3) };
        let rows = std::env::var("BENCH_AWAITED_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(rows);
        awaited::run(&rt, dir.path(), &engines, rows, rounds);
    }
}
