//! The periodic purges (`numhubd::housekeeping`): done jobs and audit rows past their
//! retention go, in as many batches as it takes; everything newer or unfinished stays.

use std::time::Duration;

use numhubd::db::{Store, StoreOptions};
use numhubd::housekeeping::{run_once, Retention};

/// More than two batches of each, so a purge that stopped after one would show.
const OLD: usize = 1201;

/// Rows written with SQL beside the store (the table functions stamp "now").
fn seed(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(&format!(
        "INSERT INTO tenants (id, name, numhub_enabled, created_at, updated_at)
             VALUES (1, 'A', 1, '2000-01-01T00:00:00.000000Z', '2000-01-01T00:00:00.000000Z');
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OLD})
         INSERT INTO jobs (tenant_id, kind, payload, state, next_attempt_at, created_at, updated_at)
             SELECT 1, 'entity.update', '{{}}', 'done', '2000-01-01T00:00:00.000000Z',
                    '2000-01-01T00:00:00.000000Z', '2000-01-01T00:00:00.000000Z' FROM n;
         INSERT INTO jobs (tenant_id, kind, payload, state, next_attempt_at, created_at, updated_at)
             VALUES (1, 'entity.update', '{{}}', 'done', '2999-01-01T00:00:00.000000Z',
                     '2999-01-01T00:00:00.000000Z', '2999-01-01T00:00:00.000000Z'),
                    (1, 'entity.update', '{{}}', 'queued', '2000-01-01T00:00:00.000000Z',
                     '2000-01-01T00:00:00.000000Z', '2000-01-01T00:00:00.000000Z');
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OLD})
         INSERT INTO numhub_sync_logs (id, tenant_id, endpoint, method, direction, success, created_at)
             SELECT 'old-' || i, 1, '/x', 'GET', 'outbound', 1, '2000-01-01T00:00:00.000000Z' FROM n;
         INSERT INTO numhub_sync_logs (id, tenant_id, endpoint, method, direction, success, created_at)
             VALUES ('new', 1, '/x', 'GET', 'outbound', 1, '2999-01-01T00:00:00.000000Z');"
    ))
    .expect("seed");
}

fn count(path: &std::path::Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

#[test]
fn old_done_jobs_and_audit_rows_go_in_batches_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let rt = crate::rpc_methods::rt();
    rt.block_on(async {
        // Created and migrated by the store, seeded beside it, then opened again.
        Store::open(&path, StoreOptions::default())
            .expect("open")
            .close()
            .await
            .expect("close");
        seed(&path);
        let store = Store::open(&path, StoreOptions::default()).expect("reopen");
        let retention = Retention {
            done_jobs: Duration::from_secs(86_400),
            audit: Duration::from_secs(86_400),
        };
        let hourly = run_once(&store, retention, false).await.expect("hourly");
        assert_eq!((hourly.done_jobs, hourly.audit_rows), (OLD, 0));
        assert_eq!(count(&path, "numhub_sync_logs"), OLD as i64 + 1);
        let daily = run_once(&store, retention, true).await.expect("daily");
        assert_eq!((daily.done_jobs, daily.audit_rows), (0, OLD));
        // The recent done job and the unfinished one stay; so does the recent log.
        assert_eq!(count(&path, "jobs"), 2);
        assert_eq!(count(&path, "numhub_sync_logs"), 1);
        store.close().await.expect("close");
    });
}
