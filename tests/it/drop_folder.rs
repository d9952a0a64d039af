//! The drop folder end to end: the real daemon binary watching a real folder, the
//! in-process sandbox as NumHub. Each arrival pattern (cp, mv, rsync-style rename, a
//! slow chunked write, 200 files at once, files from before a restart and during
//! start-up, a kill -9 mid-upload) ends with exactly one byte-identical upload per
//! file and the file in `.processed/`; each refusal ends in `.failed/` with its
//! reason and nothing sent; the folder deleted and re-created keeps working.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use numhubd::watch::layout;

use crate::drop_support::{pdf, sha, Drop};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{create_entity, settle};

#[test]
fn drop_arrivals_are_each_uploaded_once_and_whole() {
    let d = Drop::new("");
    let other = d.type_dir("other");
    let outside = d.outside();
    let mut expected: Vec<(String, Vec<u8>)> = Vec::new();

    // cp: create, write, close.
    let cp = pdf(1, 150_000);
    std::fs::write(outside.join("cp.pdf"), &cp).expect("write");
    std::fs::copy(outside.join("cp.pdf"), other.join("cp.pdf")).expect("cp");
    expected.push(("cp.pdf".into(), cp));
    // mv within the filesystem: only a rename arrives.
    let mv = pdf(2, 20_000);
    std::fs::write(outside.join("mv.pdf"), &mv).expect("write");
    std::fs::rename(outside.join("mv.pdf"), other.join("mv.pdf")).expect("mv");
    expected.push(("mv.pdf".into(), mv));
    // rsync: a temporary dot-name, then renamed into place.
    let rs = pdf(3, 30_000);
    std::fs::write(other.join(".rs.pdf.Xy12Ab"), &rs).expect("write");
    std::fs::rename(other.join(".rs.pdf.Xy12Ab"), other.join("rs.pdf")).expect("rename");
    expected.push(("rs.pdf".into(), rs));
    // A slow write in chunks over 3 s: taken only after its close.
    let slow = pdf(4, 100_000);
    let writer = {
        let (path, bytes) = (other.join("slow.pdf"), slow.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(path).expect("create");
            for chunk in bytes.chunks(bytes.len() / 10 + 1) {
                f.write_all(chunk).expect("chunk");
                f.flush().expect("flush");
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    expected.push(("slow.pdf".into(), slow));
    // 200 small files at once.
    let many = d.type_dir("tax_id");
    let mut small = Vec::new();
    for i in 0..200 {
        let body = format!("n,value\n{i},{}\n", i * 7).into_bytes();
        std::fs::write(many.join(format!("f{i:03}.csv")), &body).expect("write");
        small.push((format!("f{i:03}.csv"), body));
    }
    writer.join().expect("slow writer");
    // `DROP/<entity id>/<type>/<file>` works too; it is filed under the entity's folder.
    let by_id = pdf(6, 4_000);
    let id_dir = d.root().join(&d.entity).join("other");
    std::fs::create_dir_all(&id_dir).expect("mkdir");
    std::fs::write(id_dir.join("by-id.pdf"), &by_id).expect("write");
    expected.push(("by-id.pdf".into(), by_id));

    for (name, bytes) in &expected {
        d.assert_uploaded("other", name, bytes);
    }
    let all_done = wait_until(Duration::from_secs(40), || {
        small
            .iter()
            .all(|(n, _)| d.processed("tax_id", n).is_file())
    });
    assert!(all_done, "not all 200 processed; {}", d.h.all_stderr());
    for (name, bytes) in &small {
        d.assert_uploaded("tax_id", name, bytes);
    }
    assert_eq!(d.sandbox_documents(), expected.len() + small.len());
    // numhubd's folders are 0770 (no [drop] group): what it moved is out of others'
    // reach, whatever mode it was dropped with, because no folder on the way lets
    // them in (numhubd leaves the file's own mode alone).
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode();
    assert_eq!(mode(&other) & 0o7777, 0o770);
    let moved = d.processed("other", "cp.pdf");
    let processed = d.root().join(layout::PROCESSED);
    for dir in moved
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(&processed))
    {
        assert_eq!(mode(dir) & 0o007, 0, "{dir:?} lets others in");
    }
    // The inbox is empty and the watcher says so.
    assert_eq!(std::fs::read_dir(&other).expect("ls").count(), 0);
    assert!(wait_until(TIMEOUT, || d.watcher()["backlog"] == 0));
    assert_eq!(d.watcher()["state"], "watching");

    // The folder deleted: unavailable, not a crash; re-created: watched again, the
    // entity's folders made again, and files taken.
    std::fs::remove_dir_all(d.root()).expect("rm drop");
    assert!(
        wait_until(TIMEOUT, || d.watcher()["state"] == "unavailable"),
        "{}",
        d.watcher()
    );
    assert!(d.watcher()["last_error"].is_string());
    std::fs::create_dir(d.root()).expect("mkdir drop");
    assert!(
        wait_until(TIMEOUT, || other.is_dir()),
        "folders not re-created"
    );
    assert_eq!(d.watcher()["state"], "watching");
    let again = pdf(5, 5_000);
    std::fs::write(other.join("again.pdf"), &again).expect("write");
    d.assert_uploaded("other", "again.pdf", &again);
}

#[test]
fn drop_files_from_before_a_restart_and_during_start_up_are_taken_once() {
    let mut d = Drop::new("");
    let other = d.type_dir("other");
    // Registered, then the daemon killed before NumHub has it (tenant disabled so the
    // upload waits): after the restart it is not registered again.
    d.h.tenant(false);
    let queued = pdf(10, 10_000);
    std::fs::write(other.join("queued.pdf"), &queued).expect("write");
    assert!(wait_until(TIMEOUT, || d
        .h
        .jobs()
        .iter()
        .any(|j| j["kind"] == "document.upload")));
    // An entity NumHub has no id for yet: its file is registered, and its upload
    // waits (a queued job) until the create has gone through.
    let fresh = create_entity(&d.h.socket(), "Fresh Start Inc", true).expect("entity");
    assert!(d
        .h
        .jobs()
        .iter()
        .any(|j| j["entity_id"] == fresh.as_str() && j["kind"] == "entity.create"));
    let fresh_dir = d
        .root()
        .join(layout::tenant_dir_name(1, None))
        .join(layout::entity_dir_name(&fresh, "Fresh Start Inc"));
    assert!(wait_until(TIMEOUT, || fresh_dir.join("loa").is_dir()));
    let waits = pdf(13, 10_000);
    std::fs::write(fresh_dir.join("loa/waits.pdf"), &waits).expect("write");
    assert!(
        wait_until(TIMEOUT, || d
            .h
            .jobs()
            .iter()
            .any(|j| j["kind"] == "document.upload"
                && j["entity_id"] == fresh.as_str()
                && j["state"] == "queued")),
        "no queued upload for the new entity; {}",
        d.h.all_stderr()
    );
    assert!(
        fresh_dir.join("loa/waits.pdf").is_file(),
        "left the inbox early"
    );
    d.h.kill9();
    // Left while it was down.
    let down = pdf(11, 10_000);
    std::fs::write(other.join("down.pdf"), &down).expect("write");
    // Arriving during start-up.
    let during = pdf(12, 10_000);
    let writer = {
        let (path, bytes) = (other.join("during.pdf"), during.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            std::fs::write(path, bytes).expect("write");
        })
    };
    assert!(d.h.start(&[]), "restart; {}", d.h.all_stderr());
    writer.join().expect("writer");
    d.h.tenant(true);
    for (name, bytes) in [
        ("queued.pdf", &queued),
        ("down.pdf", &down),
        ("during.pdf", &during),
    ] {
        d.assert_uploaded("other", name, bytes);
    }
    let uploads =
        d.h.jobs()
            .iter()
            .filter(|j| j["kind"] == "document.upload")
            .count();
    assert_eq!(uploads, 4, "a file was registered twice");
}

#[test]
fn drop_kill_during_an_upload_still_uploads_once() {
    let mut d = Drop::new("");
    d.h.stop();
    assert!(d.h.start(&[(numhubd::killpoint::ENV, "mid_upload")]));
    let bytes = pdf(20, 300_000);
    std::fs::write(d.type_dir("other").join("big.pdf"), &bytes).expect("write");
    assert!(
        d.h.wait_exit(TIMEOUT),
        "mid_upload never fired; {}",
        d.h.all_stderr()
    );
    assert!(d
        .h
        .stderr_of(d.h.runs)
        .contains("kill point mid_upload reached"));
    assert!(d.h.start(&[]), "restart; {}", d.h.all_stderr());
    d.assert_uploaded("other", "big.pdf", &bytes);
}

/// Killed after NumHub took uploads whose files were still in the inbox: the restart
/// moves each once, sends none again, and leaves no spool copy (nor a partial one)
/// behind once every upload is done.
#[test]
fn a_restart_after_uploads_leaves_no_spool_copy() {
    let mut d = Drop::new("");
    d.h.stop();
    assert!(d.h.start(&[(numhubd::killpoint::ENV, "after_send:3")]));
    let files: Vec<(String, Vec<u8>)> = (0..5u64)
        .map(|i| (format!("f{i}.pdf"), pdf(70 + i, 20_000)))
        .collect();
    for (name, bytes) in &files {
        std::fs::write(d.type_dir("other").join(name), bytes).expect("write");
    }
    assert!(
        d.h.wait_exit(TIMEOUT),
        "after_send never fired; {}",
        d.h.all_stderr()
    );
    let spool = d.h.dir.path().join("spool");
    std::fs::write(spool.join(".tmp-left-by-a-kill"), b"partial").expect("partial");
    assert!(d.h.start(&[]), "restart; {}", d.h.all_stderr());
    for (name, bytes) in &files {
        d.assert_uploaded("other", name, bytes);
    }
    settle(&d.h);
    let left: Vec<_> = std::fs::read_dir(&spool)
        .expect("spool")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        wait_until(TIMEOUT, || std::fs::read_dir(&spool)
            .map(|d| d.count())
            .unwrap_or(1)
            == 0),
        "spool copies left with every upload done: {left:?}; {}",
        d.h.all_stderr()
    );
}

#[test]
fn drop_refusals_each_end_in_failed_with_their_reason() {
    // SAFETY: getgid(2) cannot fail.
    let gid = unsafe { libc::getgid() };
    let d = Drop::new(&format!("max_file_bytes = 100000\ngroup = \"{gid}\"\n"));
    // With [drop] group, numhubd's folders are setgid 2770 and that group's.
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(d.type_dir("loa")).expect("loa");
        assert_eq!(m.permissions().mode() & 0o7777, 0o2770);
        assert_eq!(m.gid(), gid);
    }
    let root = d.root();
    let ent = d.rel_entity();
    let outside = d.outside();
    let secret = pdf(99, 1_000);
    std::fs::write(outside.join("secret.pdf"), &secret).expect("secret");
    std::fs::create_dir_all(outside.join("dir/other")).expect("dir");
    std::fs::write(outside.join("dir/other/secret2.pdf"), &secret).expect("secret2");
    let body = pdf(30, 2_000);
    let put = |rel: &Path, bytes: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    };
    let mut refused: Vec<PathBuf> = Vec::new();
    let mut case = |rel: PathBuf, bytes: &[u8]| {
        put(&rel, bytes);
        refused.push(rel);
    };
    case(PathBuf::from("nobody/x-deadbeef/loa/a.pdf"), &body);
    case(PathBuf::from("tenant-1/ghost-deadbeef/loa/b.pdf"), &body);
    case(ent.join("misc/c.pdf"), &body);
    case(ent.join("d.pdf"), &body);
    case(ent.join("loa/sub/e.pdf"), &body);
    case(ent.join("loa/f.csv"), b"a,b\n1,2\n");
    case(ent.join("other/empty.pdf"), b"");
    case(ent.join("other/huge.pdf"), &pdf(31, 150_000));
    let mut raw = ent.join("other").into_os_string();
    raw.push("/");
    raw.push(std::ffi::OsStr::from_bytes(b"bad\xffname.pdf"));
    case(PathBuf::from(raw), &pdf(32, 1_000));
    // A symlink swapped in, a symlinked path component, a hard link, a FIFO.
    let link = ent.join("other/link.pdf");
    std::os::unix::fs::symlink(outside.join("secret.pdf"), root.join(&link)).expect("symlink");
    refused.push(link);
    let via = PathBuf::from(&d.entity);
    std::os::unix::fs::symlink(outside.join("dir"), root.join(&via)).expect("symlink dir");
    refused.push(via);
    let hard = ent.join("other/hard.pdf");
    std::fs::hard_link(outside.join("secret.pdf"), root.join(&hard)).expect("hard link");
    refused.push(hard);
    let fifo = ent.join("other/fifo.pdf");
    let c = std::ffi::CString::new(root.join(&fifo).as_os_str().as_bytes()).expect("c");
    // SAFETY: mkfifo(3) with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    refused.push(fifo);
    // Ignored, left where they are: the template, a dot-file, an editor temporary.
    put(&ent.join(layout::TEMPLATE), &body);
    put(&ent.join("other/.hidden.pdf"), &body);
    put(&ent.join("other/notes.pdf~"), &body);
    // The same content twice: uploaded once, the second beside a duplicate note.
    let dup = pdf(33, 3_000);
    put(&ent.join("other/first.pdf"), &dup);
    d.assert_uploaded("other", "first.pdf", &dup);
    put(&ent.join("other/second.pdf"), &dup);
    let note = d.processed("other", "second.pdf.duplicate.txt");
    assert!(
        wait_until(TIMEOUT, || note.is_file()),
        "{}",
        d.h.all_stderr()
    );
    assert!(std::fs::read_to_string(&note)
        .expect("note")
        .contains("first.pdf"));

    for rel in &refused {
        let moved = d.failed(rel);
        let mut reason = moved.clone().into_os_string();
        reason.push(layout::ERROR_SUFFIX);
        let reason_lossy =
            PathBuf::from(moved.to_string_lossy().into_owned() + layout::ERROR_SUFFIX);
        let ok = wait_until(TIMEOUT, || {
            std::fs::symlink_metadata(&moved).is_ok() && reason_lossy.is_file()
        });
        assert!(ok, "{} not refused; {}", rel.display(), d.h.all_stderr());
        assert!(
            std::fs::symlink_metadata(root.join(rel)).is_err(),
            "still in the inbox"
        );
        let text = std::fs::read_to_string(&reason_lossy).expect("reason");
        assert!(
            text.contains("Why: ") && text.contains("What to do"),
            "{text}"
        );
        let mode = std::fs::metadata(&reason_lossy).expect("meta");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o640
        );
    }
    let why = |rel: &str| {
        std::fs::read_to_string(
            d.failed(&ent.join(rel))
                .into_os_string()
                .into_string()
                .expect("utf8")
                + layout::ERROR_SUFFIX,
        )
        .expect("reason")
    };
    assert!(why("misc/c.pdf").contains("not a document type"));
    assert!(why("d.pdf").contains("not inside a document type folder"));
    assert!(why("loa/sub/e.pdf").contains("nested too deep"));
    assert!(why("loa/f.csv").contains("is a CSV file; loa/ takes the signed LOA as a PDF"));
    assert!(why("other/empty.pdf").contains("empty"));
    assert!(why("other/huge.pdf").contains("at most 100000"));
    assert!(why("other/link.pdf").contains("symbolic link"));
    assert!(why("other/hard.pdf").contains("hard links"));
    assert!(why("other/fifo.pdf").contains("not a regular file"));
    // Nothing refused reached NumHub: only the duplicate's first copy is there.
    assert_eq!(d.sandbox_documents(), 1);
    assert_eq!(d.at_sandbox(&sha(&secret)), 0);
    for kept in [
        ent.join(layout::TEMPLATE),
        ent.join("other/.hidden.pdf"),
        ent.join("other/notes.pdf~"),
    ] {
        assert!(root.join(&kept).is_file(), "{} was touched", kept.display());
    }
}

#[test]
fn drop_an_upload_that_dies_ends_in_failed_with_numhubs_reason() {
    let d = Drop::with(
        "",
        &[
            ("job_max_attempts = 100", "job_max_attempts = 2"),
            ("max_attempts = 3\n", "max_attempts = 1\n"),
        ],
    );
    // The entity's create is through; from now on NumHub answers every call with 500.
    settle(&d.h);
    d.h.set_faults(numhub_sandbox::Faults {
        p500: 1.0,
        ..numhub_sandbox::Faults::default()
    });
    let bytes = pdf(40, 2_000);
    std::fs::write(d.type_dir("loa").join("dies.pdf"), &bytes).expect("write");
    let rel = d.rel_entity().join("loa/dies.pdf");
    let reason = PathBuf::from(d.failed(&rel).display().to_string() + layout::ERROR_SUFFIX);
    assert!(
        wait_until(2 * TIMEOUT, || reason.is_file()),
        "not failed; jobs {:?}; {}",
        d.h.jobs(),
        d.h.all_stderr()
    );
    assert_eq!(std::fs::read(d.failed(&rel)).expect("moved"), bytes);
    let text = std::fs::read_to_string(&reason).expect("reason");
    assert!(text.contains("upload to NumHub failed"), "{text}");
    assert!(
        text.contains("500"),
        "the job's last error is given: {text}"
    );
    assert_eq!(d.at_sandbox(&sha(&bytes)), 0);
}
