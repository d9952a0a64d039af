//! The spool in a server store (issue 25, "Documents from any host"): two `Store`s
//! on one MariaDB database stand for two hosts in one process, each with a spool
//! folder of its own. A file one host takes is sent by the other from the store's
//! copy; a copy altered in the store, or one without its head row (a host that died
//! mid-copy), is never sent. On MariaDB whatever the run's engine: the feature exists
//! only on a server store.

use std::path::{Path, PathBuf};

use numhubd::db::{DocumentType, Store};
use numhubd::intake::{self, Spool, SpoolError};

use crate::drop_support::{pdf, sha};
use crate::mariadb_support;
use crate::test_engine::TestStore;

/// One host: its store and its spool folder.
struct Host {
    store: Store,
    spool: Spool,
}

fn host(db: &TestStore, dir: &Path) -> Host {
    let store = db.side_store();
    let spool = Spool::open(dir).expect("spool").shared_through(&store);
    Host { store, spool }
}

/// Where the hosts of a test live: `uploads/` for the files taken, one folder per
/// host's spool (`a/`, `b/`), the one store they share, and a runtime to drive it.
struct Bench {
    dir: tempfile::TempDir,
    uploads: PathBuf,
    db: TestStore,
    rt: tokio::runtime::Runtime,
}

impl Bench {
    fn new(dir: tempfile::TempDir, db: TestStore) -> Bench {
        let uploads = dir.path().join("uploads");
        std::fs::create_dir(&uploads).expect("mkdir");
        let rt = crate::support::rt();
        Bench {
            dir,
            uploads,
            db,
            rt,
        }
    }
}

/// Hosts `a` and `b` on a fresh MariaDB database; None (the test skips) without
/// MariaDB.
fn two_hosts() -> Option<(Bench, Host, Host)> {
    if !mariadb_support::available() {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bench = Bench::new(dir, TestStore::Mariadb(mariadb_support::fresh_database()));
    let a = host(&bench.db, &bench.dir.path().join("a"));
    let b = host(&bench.db, &bench.dir.path().join("b"));
    Some((bench, a, b))
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read spool")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Takes `bytes` as `name` through host `a`'s intake (as `document.upload` does:
/// take, then share before the job would be queued), then removes the original.
fn take_on(
    rt: &tokio::runtime::Runtime,
    a: &Host,
    uploads: &Path,
    name: &str,
    bytes: &[u8],
) -> (String, PathBuf) {
    let original = uploads.join(name);
    std::fs::write(&original, bytes).expect("write");
    let taken = intake::take_within(
        &[uploads.to_path_buf()],
        &original,
        DocumentType::Loa,
        intake::DEFAULT_MAX_BYTES,
        &a.spool,
    )
    .expect("taken");
    assert_eq!(taken.sha256, sha(bytes));
    rt.block_on(a.spool.share(&taken.sha256)).expect("shared");
    std::fs::remove_file(&original).expect("rm original");
    (taken.sha256, original)
}

#[test]
fn a_file_taken_on_one_host_is_sent_from_the_store_by_another() {
    let Some((w, a, b)) = two_hosts() else {
        return;
    };

    // 2.5 MiB: three chunks, the last a short one.
    let bytes = pdf(25, 5 * 512 * 1024 + 123);
    let (sha256, original) = take_on(&w.rt, &a, &w.uploads, "loa.pdf", &bytes);
    assert_eq!(
        w.db.count(&format!(
            "SELECT COUNT(*) FROM numhubd_spool_chunks WHERE sha256 = '{sha256}'"
        )),
        3
    );
    assert_eq!(
        w.db.rows(&format!(
            "SELECT size_bytes, chunks FROM numhubd_spool WHERE sha256 = '{sha256}'"
        )),
        vec![vec![Some(bytes.len().to_string()), Some("3".into())]]
    );

    // Host B's folder is empty and the original is gone: the bytes come from the store.
    assert!(names_in(&w.dir.path().join("b")).is_empty());
    let path =
        w.rt.block_on(b.spool.for_sending(&sha256, &original))
            .expect("host B has the file");
    assert_eq!(path, w.dir.path().join("b").join(&sha256));
    let sent = std::fs::read(&path).expect("read");
    assert_eq!(sha(&sent), sha256);
    assert_eq!(sent, bytes);

    // The same bytes taken again on B: the stored copy is marked wanted, not rewritten.
    let before = w.db.value(&format!(
        "SELECT stored_at FROM numhubd_spool WHERE sha256 = '{sha256}'"
    ));
    take_on(&w.rt, &b, &w.uploads, "again.pdf", &bytes);
    let after = w.db.value(&format!(
        "SELECT stored_at FROM numhubd_spool WHERE sha256 = '{sha256}'"
    ));
    assert!(after > before, "{before:?} -> {after:?}");
    drop((a.store, b.store));
}

#[test]
fn a_copy_altered_or_half_written_in_the_store_is_never_sent() {
    let Some((w, a, b)) = two_hosts() else {
        return;
    };

    let bytes = pdf(26, 1024 * 1024 + 5);
    let (sha256, original) = take_on(&w.rt, &a, &w.uploads, "altered.pdf", &bytes);
    // One byte of the second chunk changed behind numhubd's back.
    w.db.execute(&format!(
        "UPDATE numhubd_spool_chunks SET bytes = CONCAT('X', SUBSTRING(bytes, 2)) \
         WHERE sha256 = '{sha256}' AND seq = 1"
    ));
    let refused = w.rt.block_on(b.spool.for_sending(&sha256, &original));
    assert!(matches!(refused, Err(SpoolError::Changed)), "{refused:?}");
    assert!(
        names_in(&w.dir.path().join("b")).is_empty(),
        "an altered copy was kept"
    );

    // A copy without its head row (its host died before writing it) is not a copy.
    let bytes = pdf(27, 300_000);
    let (sha256, original) = take_on(&w.rt, &a, &w.uploads, "half.pdf", &bytes);
    w.db.execute(&format!(
        "DELETE FROM numhubd_spool WHERE sha256 = '{sha256}'"
    ));
    let refused = w.rt.block_on(b.spool.for_sending(&sha256, &original));
    assert!(
        matches!(refused, Err(SpoolError::Missing(_))),
        "{refused:?}"
    );
    assert!(names_in(&w.dir.path().join("b")).is_empty());
    drop((a.store, b.store));
}

/// On SQLite nothing changes: a share stores nothing.
#[test]
fn on_sqlite_the_spool_stays_in_its_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestStore::File(dir.path().join("numhubd.db"));
    let w = Bench::new(dir, db);
    let a = host(&w.db, &w.dir.path().join("a"));
    let bytes = pdf(28, 1000);
    let (sha256, _) = take_on(&w.rt, &a, &w.uploads, "local.pdf", &bytes);
    assert_eq!(w.db.count("SELECT COUNT(*) FROM numhubd_spool_chunks"), 0);
    assert_eq!(names_in(&w.dir.path().join("a")), vec![sha256]);
    drop(a.store);
}

/// Real daemons (MariaDB runs only: `NUMHUBD_TEST_ENGINE=mariadb`): daemon A takes two
/// dropped files while NumHub answers it only 503 and is SIGKILLed; daemon B, in a
/// folder of its own (its own, empty spool) on the same database and NumHub, sends
/// the first from the store's copy, once, and refuses the second, whose stored copy
/// was altered meanwhile, naming its document.
#[test]
fn a_file_taken_by_a_killed_daemon_is_sent_by_another_from_the_store() {
    use crate::support::{spawn_serve, wait_ready, wait_until, Run, TIMEOUT};
    if crate::test_engine::mariadb_only("the spool is shared only on a server store") {
        return;
    }
    let mut d = crate::drop_support::Drop::new("");
    let dir_a = d.h.dir.path().to_path_buf();
    // A short request timeout: B, the next leader, waits it out after A's lease
    // expires before it looks at NumHub for what A's term may have sent.
    let config = std::fs::read_to_string(dir_a.join("numhubd.toml"))
        .expect("config")
        .replacen("[numhub]\n", "[numhub]\nrequest_timeout_secs = 2\n", 1);
    // NumHub answers A with 503 only: it takes files but sends none.
    d.h.set_faults(numhub_sandbox::Faults {
        p503: 1.0,
        ..numhub_sandbox::Faults::default()
    });
    let (good, altered) = (pdf(30, 1536 * 1024), pdf(31, 200_000));
    // One after the other: a dead job holds back its entity's later jobs, so the
    // good file's job comes first.
    let store = d.h.store();
    let uploads = "SELECT COUNT(*) FROM jobs WHERE kind = 'document.upload'";
    for (name, bytes, n) in [("good.pdf", &good, 1), ("altered.pdf", &altered, 2)] {
        std::fs::write(d.type_dir("other").join(name), bytes).expect("drop");
        assert!(
            wait_until(TIMEOUT, || store.count(uploads) == n),
            "A did not take {name}; {}",
            d.h.all_stderr()
        );
    }
    d.h.kill9();
    assert!(dir_a.join("spool").join(sha(&good)).is_file());
    // Host A's files are on host A: B can reach neither the originals nor A's spool.
    for name in ["good.pdf", "altered.pdf"] {
        std::fs::remove_file(d.type_dir("other").join(name)).expect("rm original");
    }
    std::fs::remove_dir_all(dir_a.join("spool")).expect("rm A's spool");
    store.execute(&format!(
        "UPDATE numhubd_spool_chunks SET bytes = CONCAT('X', SUBSTRING(bytes, 2)) \
         WHERE sha256 = '{}'",
        sha(&altered)
    ));

    d.h.set_faults(numhub_sandbox::Faults::default());
    // B: the same database, identity and NumHub; its own spool, socket and drop folder.
    let b = tempfile::tempdir().expect("tempdir");
    std::fs::write(b.path().join("numhubd.toml"), &config).expect("config");
    for f in ["identity.txt", "password.txt"] {
        std::fs::copy(dir_a.join(f), b.path().join(f)).expect("copy");
    }
    std::fs::create_dir(b.path().join("uploads")).expect("uploads");
    let run = Run {
        notify: b.path().join("notify.sock"),
        stderr: b.path().join("stderr.log"),
    };
    let (mut child, notify) = spawn_serve(b.path(), &run, &[], &[]);
    let stderr_b = || std::fs::read_to_string(&run.stderr).unwrap_or_default();
    assert!(wait_ready(&mut child, &notify, &run), "B: {}", stderr_b());
    let _b = crate::support::KilledOnDrop(child);
    assert!(
        wait_until(TIMEOUT, || d.at_sandbox(&sha(&good)) >= 1),
        "B did not send the file A took; {:?}; B: {}",
        store.rows("SELECT id, kind, state, attempts, next_attempt_at, last_error FROM jobs"),
        stderr_b()
    );
    let refused_doc = store.value(&format!(
        "SELECT nd.id FROM numhub_documents nd JOIN documents l ON l.id = nd.local_document_id \
         WHERE l.sha256 = '{}'",
        sha(&altered)
    ));
    let refused_doc = refused_doc.expect("the altered file's document");
    let job = format!("SELECT state, last_error FROM jobs WHERE document_id = '{refused_doc}'");
    assert!(
        wait_until(TIMEOUT, || store.rows(&job)[0][0].as_deref()
            == Some("dead")),
        "{:?}; B: {}",
        store.rows(&job),
        stderr_b()
    );
    let error = store.rows(&job)[0][1].clone().unwrap_or_default();
    assert!(
        error.contains(&refused_doc) && error.contains("SHA-256"),
        "{error}"
    );
    assert_eq!(d.at_sandbox(&sha(&good)), 1, "sent more than once");
    assert_eq!(
        d.at_sandbox(&sha(&altered)),
        0,
        "an altered copy reached NumHub"
    );
    // B never had either file but from the store; the good one's copy is released.
    assert!(!b.path().join("spool").join(sha(&altered)).exists());

    // Housekeeping, an hour later: the sent file's copy goes; the refused one's stays
    // (a dead job may be retried), as does a copy being written now.
    store.execute(&format!(
        "INSERT INTO numhubd_spool_chunks (sha256, seq, bytes, written_at) \
         VALUES ('{}', 0, 'x', NOW(6))",
        "f".repeat(64)
    ));
    store.execute(
        "UPDATE numhubd_spool SET stored_at = NOW(6) - INTERVAL 2 HOUR; \
         UPDATE numhubd_spool_chunks SET written_at = NOW(6) - INTERVAL 2 HOUR \
         WHERE sha256 <> REPEAT('f', 64)",
    );
    let side = store.side_store();
    let swept =
        mariadb_support::block_on(numhubd::housekeeping::sweep_store_spool(&side)).expect("sweep");
    assert_eq!(swept, 1);
    assert_eq!(
        store.column("SELECT DISTINCT sha256 FROM numhubd_spool_chunks ORDER BY sha256"),
        vec![Some(sha(&altered)), Some("f".repeat(64))]
    );
    assert_eq!(
        store.column("SELECT sha256 FROM numhubd_spool"),
        vec![Some(sha(&altered))]
    );
}

/// `NUMHUBD_STRESS=1`: how long a largest file (50 MiB) takes into the store and out
/// on another host; printed for docs/BENCHMARKS.md.
#[test]
fn stress_a_largest_file_through_the_store() {
    if std::env::var("NUMHUBD_STRESS").as_deref() != Ok("1") {
        return;
    }
    let Some((w, a, b)) = two_hosts() else {
        return;
    };
    let bytes = pdf(50, intake::DEFAULT_MAX_BYTES as usize);
    let original = w.uploads.join("big.pdf");
    std::fs::write(&original, &bytes).expect("write");
    let taken = intake::take_within(
        std::slice::from_ref(&w.uploads),
        &original,
        DocumentType::Other,
        intake::DEFAULT_MAX_BYTES,
        &a.spool,
    )
    .expect("taken");
    let started = std::time::Instant::now();
    w.rt.block_on(a.spool.share(&taken.sha256)).expect("shared");
    let shared = started.elapsed();
    let started = std::time::Instant::now();
    let path =
        w.rt.block_on(b.spool.for_sending(&taken.sha256, &original))
            .expect("fetched");
    let fetched = started.elapsed();
    assert_eq!(sha(&std::fs::read(path).expect("read")), taken.sha256);
    let mib = bytes.len() as f64 / (1024.0 * 1024.0);
    eprintln!(
        "spool in the store, {mib:.0} MiB: share {:.2} s ({:.0} MiB/s), fetch {:.2} s ({:.0} MiB/s)",
        shared.as_secs_f64(),
        mib / shared.as_secs_f64(),
        fetched.as_secs_f64(),
        mib / fetched.as_secs_f64()
    );
    drop((a.store, b.store));
}
