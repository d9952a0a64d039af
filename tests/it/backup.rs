//! `numhubctl backup PATH` against the real daemon: a copy taken while writes keep
//! committing is intact and holds every write answered before it was asked for; a
//! daemon started on a restored copy looks up at NumHub what the original daemon may
//! have sent after the copy (no duplicate application or document at the sandbox);
//! refused paths are named with the reason.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::json;

use crate::rpc_client::{add_tenant, ctl, ctl_json, ok};
use crate::store_support::{new_entity, tenant};
use crate::support::{base_config, start_daemon, wait_until, TIMEOUT};
use crate::sync_support::{create_entity, settle, upload, write_pdf, Harness};

/// Writers that issue the 1,000 writes, side by side.
const WRITERS: i64 = 8;
const WRITES: i64 = 1_000;

fn open_ro(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// The copy's marker: (taken_at, source_path), if any.
fn marker(path: &Path) -> Option<(String, String)> {
    open_ro(path)
        .query_row(
            "SELECT taken_at, source_path FROM backup_marker WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .expect("read backup_marker")
}

/// Files in `dir` whose name says they are a half-written copy.
fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".partial-"))
        .collect()
}

/// Every test here is SQLite-only: `numhubctl backup` copies the SQLite file.
fn skipped_on_mariadb() -> bool {
    crate::test_engine::sqlite_only(
        "numhubctl backup copies the SQLite file (on MySQL: mariadb-dump, the engine's own tests)",
    )
}

/// A daemon, its socket, and an empty `backups/` folder beside it.
fn daemon_with_backups() -> (
    crate::support::Daemon,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let d = start_daemon(&base_config("info"), &[]);
    let socket = d.dir.path().join("numhubd.sock");
    let folder = d.dir.path().join("backups");
    std::fs::create_dir(&folder).expect("backups folder");
    (d, socket, folder)
}

#[test]
fn a_backup_under_a_thousand_writes_holds_every_write_answered_before_it() {
    if skipped_on_mariadb() {
        return;
    }
    let (d, socket, folder) = daemon_with_backups();
    let copy = folder.join("numhubd-backup.db");

    let backup_sent = Arc::new(AtomicBool::new(false));
    let backup_done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicI64::new(0));
    // Each writer upserts its share of tenants and records, for each answer, whether
    // it came before the backup was asked for. The last third of each share waits
    // for the backup's answer, so writes go on before, during and after it.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (socket, sent, done, answered) = (
                socket.clone(),
                backup_sent.clone(),
                backup_done.clone(),
                answered.clone(),
            );
            std::thread::spawn(move || {
                let mut before = Vec::new();
                let mut id = w + 1;
                while id <= WRITES {
                    if id > WRITES * 2 / 3 {
                        assert!(wait_until(TIMEOUT, || done.load(Ordering::SeqCst)));
                    }
                    add_tenant(&socket, id, &format!("Tenant {id}"));
                    if !sent.load(Ordering::SeqCst) {
                        before.push(id);
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                    id += WRITERS;
                }
                before
            })
        })
        .collect();
    // The backup is asked for while the writes are in full flow.
    assert!(
        wait_until(TIMEOUT, || answered.load(Ordering::SeqCst) >= WRITES / 3),
        "writes did not get going; stderr:\n{}",
        d.stderr()
    );
    backup_sent.store(true, Ordering::SeqCst);
    let at_request = answered.load(Ordering::SeqCst);
    let taken = ctl_json(&socket, &["backup", copy.to_str().expect("utf-8 path")]);
    let at_answer = answered.load(Ordering::SeqCst);
    backup_done.store(true, Ordering::SeqCst);
    let before: Vec<i64> = writers
        .into_iter()
        .flat_map(|t| t.join().expect("writer thread"))
        .collect();
    eprintln!(
        "writes answered: {} before the backup was asked for, {} while it ran, {} in all",
        before.len(),
        at_answer - at_request,
        answered.load(Ordering::SeqCst)
    );

    // What numhubctl reports is the file there, private to numhubd's user.
    assert_eq!(taken["path"], copy.to_str().expect("utf-8"));
    assert_eq!(taken["source"], d.db_path().to_str().expect("utf-8"));
    let meta = std::fs::metadata(&copy).expect("the copy exists");
    assert_eq!(taken["size_bytes"].as_u64(), Some(meta.len()));
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "copy's mode");
    // SAFETY: geteuid(2) cannot fail.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
    assert_eq!(partials(&folder), Vec::<String>::new());
    assert!(
        !folder.join("numhubd-backup.db-wal").exists(),
        "the copy is one file"
    );

    // The copy is intact and holds every write answered before it was asked for.
    let c = open_ro(&copy);
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    let ids: std::collections::BTreeSet<i64> = c
        .prepare("SELECT id FROM tenants")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("ids");
    let missing: Vec<i64> = before
        .iter()
        .copied()
        .filter(|i| !ids.contains(i))
        .collect();
    assert!(
        missing.is_empty(),
        "{} writes answered before the backup are not in it: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    // Marked as a backup, with the instant it holds and where it came from; the
    // live database carries no mark.
    let (taken_at, source) = marker(&copy).expect("the copy is marked");
    assert_eq!(json!(taken_at), taken["taken_at"]);
    assert_eq!(json!(source), taken["source"]);
    assert_eq!(marker(&d.db_path()), None, "the live database was marked");
    // The daemon kept every write.
    let live: i64 = open_ro(&d.db_path())
        .query_row("SELECT count(*) FROM tenants", [], |r| r.get(0))
        .expect("count");
    assert_eq!(live, WRITES);
}

/// Takes the right to create files in `dir` away from this process's user: mode 0500,
/// and for root `chattr +i` (undone when the guard drops). None (the check is
/// skipped) when root has no `chattr` or the file system has no such attribute;
/// under CI=true that fails instead.
fn close_folder(dir: &Path) -> Option<Immutable> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).expect("chmod");
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some(Immutable(None));
    }
    let done = std::process::Command::new("chattr")
        .arg("+i")
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !done {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "chattr +i {} failed under CI: root needs it to close a folder",
                dir.display()
            );
        }
        eprintln!("skipping the closed-folder case: chattr +i is not available here");
        return None;
    }
    Some(Immutable(Some(dir.to_path_buf())))
}

/// Clears `chattr +i` again, so the temporary folder can be removed.
struct Immutable(Option<std::path::PathBuf>);

impl Drop for Immutable {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(dir)
                .status();
        }
    }
}

#[test]
fn a_restored_copy_looks_up_what_the_original_sent_after_it_and_duplicates_nothing() {
    if skipped_on_mariadb() {
        return;
    }
    let mut h = Harness::new(3);
    assert!(h.start(&[]));
    // The tenant held back: the create and the upload wait in the outbox.
    h.tenant(false);
    let name = "Restored Widgets LLC";
    let entity = create_entity(&h.socket(), name, false).expect("entity.create");
    let (pdf, _) = write_pdf(h.dir.path(), "restored.pdf", 70_000, 13);
    upload(&h.socket(), &entity, &pdf).expect("document.upload");
    let folder = h.dir.path().join("backups");
    std::fs::create_dir(&folder).expect("backups folder");
    let copy = folder.join("before-send.db");
    let out = ctl(&h.socket(), &["backup", copy.to_str().expect("utf-8")]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "numhubctl backup: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("backup written to {}", copy.display())),
        "{text}"
    );
    assert!(
        text.contains("bytes") && text.contains("taken at"),
        "{text}"
    );
    let pending: i64 = open_ro(&copy)
        .query_row(
            "SELECT count(*) FROM jobs WHERE state = 'queued' AND resume_since IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("jobs in the copy");
    assert_eq!(
        pending, 2,
        "the copy holds the create and the upload, unsent"
    );

    // The original daemon goes on: it sends both after the copy was taken.
    h.tenant(true);
    settle(&h);
    let (sent, docs) = h.at_numhub(name);
    assert_eq!((sent.len(), docs), (1, 1), "{}", h.all_stderr());

    // Restored as the guide says: stopped, copied over the database, WAL and SHM
    // removed, started.
    h.stop();
    std::fs::copy(&copy, h.db_path()).expect("restore the copy");
    for ext in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(h.dir.path().join(format!("numhubd.{ext}")));
    }
    assert!(h.start(&[]));
    // In the copy the tenant is still held back; letting it go releases the
    // create and the upload the original daemon already sent.
    h.tenant(true);
    settle(&h);
    let (after, docs) = h.at_numhub(name);
    assert_eq!(
        after,
        sent,
        "a second application was created; {}",
        h.all_stderr()
    );
    assert_eq!(
        docs,
        1,
        "a second document was uploaded; {}",
        h.all_stderr()
    );
    let e = ok(
        &h.socket(),
        "entity.get",
        json!({"tenant_id": 1, "id": entity}),
    );
    assert_eq!(e["numhub_entity_id"].as_str(), Some(sent[0].as_str()));
    assert!(
        h.jobs().iter().all(|j| j["resume_since"].is_string()),
        "the restored jobs were not marked to be looked up: {:?}",
        h.jobs()
    );
    let run = h.stderr_of(h.runs);
    assert!(run.contains("first start on a restored backup"), "{run}");
    assert!(run.contains("not resending"), "{run}");

    // The mark went with that first start: the next start is an ordinary one.
    h.stop();
    assert_eq!(marker(&h.db_path()), None);
    assert!(h.start(&[]));
    assert!(!h.stderr_of(h.runs).contains("restored backup"));
}

#[test]
fn refused_paths_are_named_with_the_reason() {
    if skipped_on_mariadb() {
        return;
    }
    let (d, socket, folder) = daemon_with_backups();
    let existing = folder.join("existing.db");
    std::fs::write(&existing, b"keep me").expect("existing file");
    let missing = d.dir.path().join("no-such-folder/copy.db");
    let not_a_folder = existing.join("copy.db");
    let refusals: [(&str, &str); 4] = [
        (existing.to_str().expect("utf-8"), "exists"),
        ("backups/relative.db", "relative"),
        (missing.to_str().expect("utf-8"), "does not exist"),
        (not_a_folder.to_str().expect("utf-8"), "is not a folder"),
    ];
    for (path, reason) in refusals {
        let out = ctl(&socket, &["backup", path]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "backup {path} succeeded");
        assert!(err.contains(path), "{path}: {err}");
        assert!(err.contains(reason), "{path}: {err}");
    }
    assert_eq!(
        std::fs::read(&existing).expect("existing file"),
        b"keep me",
        "an existing file was touched"
    );
    assert_eq!(partials(&folder), Vec::<String>::new());
    // A folder numhubd's user may not write to: mode 0500, or, for root (which
    // writes anywhere), the immutable attribute.
    let closed = d.dir.path().join("closed");
    std::fs::create_dir(&closed).expect("closed folder");
    let Some(_open_again) = close_folder(&closed) else {
        return;
    };
    let path = closed.join("copy.db");
    let out = ctl(&socket, &["backup", path.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "backup into a closed folder succeeded"
    );
    assert!(err.contains(path.to_str().expect("utf-8")), "{err}");
    assert!(err.contains("cannot create files"), "{err}");
}

/// The rule itself, on the store: unfinished creates (and uploads) get a
/// `resume_since` no later than the copy's instant, an earlier attempt's start kept;
/// other kinds and finished jobs are left alone; the marker is read once.
#[test]
fn the_restore_rule_marks_only_unfinished_creates_and_uploads() {
    if skipped_on_mariadb() {
        return;
    }
    use numhubd::db::{backup, entities, jobs, tenants, EntityType, Store, StoreOptions};
    crate::support::rt().block_on(async {
        let (dir, store) = crate::store_support::open("r.db");
        let ids = store
            .write(|tx| {
                tenants::upsert(tx, tenant(1, "A"))?;
                let mut e = Vec::new();
                for name in ["queued", "tried", "update", "done"] {
                    let entity = entities::create(tx, new_entity(1, EntityType::Direct, name))?;
                    let payload = match name {
                        "update" => jobs::JobPayload::EntityUpdate(jobs::ApplicationChange {
                            application: Default::default(),
                        }),
                        _ => jobs::JobPayload::EntityCreate(jobs::ApplicationChange {
                            application: Default::default(),
                        }),
                    };
                    e.push(jobs::enqueue(tx, jobs::NewJob::on_entity(1, entity.id, payload))?.id);
                }
                Ok(e)
            })
            .await
            .expect("seed");
        let (queued, tried, update, done) = (ids[0], ids[1], ids[2], ids[3]);
        let started = "2026-01-01T00:00:00.000000Z";
        let taken_at = "2026-06-01T00:00:00.000000Z";
        store
            .write(move |tx| {
                jobs::mark_running(tx, tried, started)?;
                jobs::mark_failed(tx, tried, "503", started, started)?;
                jobs::mark_running(tx, done, started)?;
                jobs::mark_done(tx, done, started)?;
                // The live database has no marker: nothing to apply.
                assert_eq!(backup::take_marker(tx)?, None);
                jobs::mark_restored(tx, taken_at, "2026-06-02T00:00:00.000000Z")
            })
            .await
            .map(|n| assert_eq!(n, 2, "the two unfinished creates"))
            .expect("mark_restored");
        let since = |id: i64| {
            let s = store.clone();
            async move {
                s.read(move |sql| jobs::get_any(sql, id))
                    .await
                    .expect("job")
                    .resume_since
            }
        };
        assert_eq!(since(queued).await.as_deref(), Some(taken_at));
        assert_eq!(since(tried).await.as_deref(), Some(started));
        assert_eq!(since(update).await, None);
        assert_eq!(since(done).await, None);

        // A copy's marker is read once, then gone.
        let copy = dir.path().join("copy.db");
        let b = store.backup(copy.clone()).await.expect("backup");
        store.close().await.expect("close");
        let restored = Store::open(&copy, StoreOptions::default()).expect("open the copy");
        let (first, second) = restored
            .write(|tx| Ok((backup::take_marker(tx)?, backup::take_marker(tx)?)))
            .await
            .expect("take_marker");
        let first = first.expect("the copy is marked");
        assert_eq!(first.taken_at, b.taken_at);
        assert_eq!(
            first.source_path,
            dir.path().join("r.db").display().to_string()
        );
        assert_eq!(second, None);
    });
}

/// A daemon with mounts of its own, as systemd gives the packaged service
/// (`PrivateTmp=yes`): `private-tmp` shows a `systemd-private-…/tmp` folder (as systemd
/// bind-mounts one onto `/tmp`), `own-tmpfs` a tmpfs no one else sees (as
/// `PrivateTmp=disconnected` does). A copy written to either would be invisible to
/// the administrator, so neither is ever reported as written: numhubd refuses the
/// first (naming the private mount), numhubctl finds the second missing and says so.
/// A caller in numhubd's own mount namespace sees the first, so it may write there.
#[test]
fn a_copy_in_the_services_private_tmp_is_never_reported_written() {
    if skipped_on_mariadb() {
        return;
    }
    if !crate::support::can_unshare(&["--mount", "--propagation", "private"]) {
        eprintln!("skipped: needs root, curl and unshare --mount");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let systemd_private = dir
        .path()
        .join("host-tmp/systemd-private-0f3c-numhubd.service-AbCd/tmp");
    std::fs::create_dir_all(&systemd_private).expect("systemd-private folder");
    for folder in ["private-tmp", "own-tmpfs"] {
        std::fs::create_dir(dir.path().join(folder)).expect("mount point");
    }
    let script = format!(
        r#"mount --bind '{}' '{}' && mount -t tmpfs tmpfs '{}' && exec "$0" "$@""#,
        systemd_private.display(),
        dir.path().join("private-tmp").display(),
        dir.path().join("own-tmpfs").display()
    );
    let wrapper = crate::support::in_private_mounts(&script, &[]);
    let d = crate::support::start_wrapped(dir, &base_config("info"), &[], &wrapper);
    let socket = d.dir.path().join("numhubd.sock");

    let copy = d.dir.path().join("private-tmp/x.db");
    let out = ctl(&socket, &["backup", copy.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "backup into the private /tmp reported: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains(copy.to_str().expect("utf-8")), "{err}");
    assert!(
        err.contains("private") && err.contains("PrivateTmp"),
        "{err}"
    );
    assert!(err.contains("(code -32602)"), "{err}");
    assert_eq!(
        std::fs::read_dir(&systemd_private)
            .expect("private")
            .count(),
        0
    );

    // A caller inside numhubd's mount namespace sees what numhubd sees: no refusal.
    let inside = d.dir.path().join("private-tmp/inside.db");
    let out = std::process::Command::new("nsenter")
        .arg("-t")
        .arg(d.pid().to_string())
        .args(["-m", "--", env!("CARGO_BIN_EXE_numhubctl"), "--socket"])
        .arg(&socket)
        .args(["backup", inside.to_str().expect("utf-8")])
        .output()
        .expect("run numhubctl in numhubd's mount namespace");
    assert!(
        out.status.success(),
        "backup by a caller sharing numhubd's mounts: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(systemd_private.join("inside.db").exists());

    // The copy numhubd writes there is real to numhubd, so each try needs a new name.
    for (name, json) in [("x.db", false), ("y.db", true)] {
        let copy = d.dir.path().join("own-tmpfs").join(name);
        let mut args = vec!["backup", copy.to_str().expect("utf-8")];
        if json {
            args.insert(0, "--json");
        }
        let out = ctl(&socket, &args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "backup into numhubd's own tmpfs: {text}"
        );
        assert!(!text.contains("backup written"), "{text}");
        assert!(text.contains("no such file here"), "{text}");
        assert!(text.contains(copy.to_str().expect("utf-8")), "{text}");
    }
}
