//! The periodic purges (`numhubd::housekeeping`): done jobs and audit rows past their
//! retention go, in as many batches as it takes; everything newer or unfinished stays.

use std::time::Duration;

use numhubd::db::{Store, StoreOptions};
use numhubd::housekeeping::{run_once, Retention};

/// More than two batches of each, so a purge that stopped after one would show.
const OLD: usize = 1201;

/// Creates the store's file at `path`, migrated, and closes it (to seed it beside the
/// store).
async fn migrated(path: &std::path::Path) {
    Store::open(path, StoreOptions::default())
        .expect("open")
        .close()
        .await
        .expect("close");
}

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
    let rt = crate::support::rt();
    rt.block_on(async {
        // Created and migrated by the store, seeded beside it, then opened again.
        migrated(&path).await;
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

/// The spool sweep removes an old copy no upload needs, and keeps a copy an unsent
/// (here `dead`, so retryable) upload needs and a fresh copy whose registering
/// transaction may not have committed yet.
#[test]
fn the_spool_sweep_keeps_what_an_unsent_upload_or_a_fresh_take_needs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let (needed, unneeded, fresh) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    let rt = crate::support::rt();
    rt.block_on(async {
        migrated(&path).await;
        let t = "2000-01-01T00:00:00.000000Z";
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(&format!(
            "INSERT INTO tenants (id, name, numhub_enabled, created_at, updated_at) VALUES (1, 'A', 1, '{t}', '{t}');
             INSERT INTO numhub_entities (id, tenant_id, entity_type, company_name, status, vetting_status, created_at, updated_at)
                 VALUES ('e1', 1, 'enterprise', 'A', 'draft', 'pending', '{t}', '{t}');
             INSERT INTO documents (id, tenant_id, original_filename, size_bytes, sha256, content_type, source, source_path, created_at, updated_at)
                 VALUES (1, 1, 'a.pdf', 1, '{needed}', 'application/pdf', 'rpc', '/x/a.pdf', '{t}', '{t}'),
                        (2, 1, 'b.pdf', 1, '{unneeded}', 'application/pdf', 'rpc', '/x/b.pdf', '{t}', '{t}');
             INSERT INTO numhub_documents (id, numhub_entity_id, local_document_id, document_type, filename, status, created_at, updated_at)
                 VALUES ('d1', 'e1', 1, 'loa', 'a.pdf', 'pending', '{t}', '{t}'),
                        ('d2', 'e1', 2, 'loa', 'b.pdf', 'uploaded', '{t}', '{t}');
             INSERT INTO jobs (tenant_id, kind, entity_id, document_id, payload, state, next_attempt_at, created_at, updated_at)
                 VALUES (1, 'document.upload', 'e1', 'd1', '{{}}', 'dead', '{t}', '{t}', '{t}'),
                        (1, 'document.upload', 'e1', 'd2', '{{}}', 'done', '{t}', '{t}', '{t}');"
        ))
        .expect("seed");
        drop(conn);
        let store = Store::open(&path, StoreOptions::default()).expect("reopen");
        let spool = numhubd::intake::Spool::open(&dir.path().join("spool")).expect("spool");
        let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
        for (name, old) in [(&needed, true), (&unneeded, true), (&fresh, false)] {
            let f = std::fs::File::create(spool.path_of(name)).expect("copy");
            if old {
                f.set_modified(two_hours_ago).expect("mtime");
            }
        }
        let swept = numhubd::housekeeping::sweep_spool(&store, &spool)
            .await
            .expect("sweep");
        assert_eq!(swept, 1);
        assert!(spool.path_of(&needed).exists());
        assert!(!spool.path_of(&unneeded).exists());
        assert!(spool.path_of(&fresh).exists());
        store.close().await.expect("close");
    });
}
