//! `document.upload` opens a file once, below `[rpc] upload_dirs`, following no link
//! on the way: a symbolic link (as the file or as a folder on the way, even one that
//! points back inside), a hard link to a file elsewhere, a FIFO and a `..` are each
//! refused with their reason, promptly, and nothing is registered or queued.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use serde_json::{json, Value};

use crate::rpc_client::{add_tenant, call, draft_entity, ok, socket_of, start_rpc_daemon};

#[test]
fn links_fifos_and_parent_folders_are_refused_and_register_nothing() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    let root = d.dir.path();
    add_tenant(&s, 1, "Acme");
    let eid = draft_entity(&s, 1, "enterprise", "Acme LLC");

    let uploads = root.join("uploads");
    std::fs::create_dir_all(uploads.join("real")).expect("mkdir");
    std::fs::write(uploads.join("real/loa.pdf"), b"%PDF-1.7 signed").expect("write");
    // What a link could make numhubd send: a file outside the allowed folder.
    std::fs::write(root.join("secret.pdf"), b"%PDF-1.7 not for NumHub").expect("write");
    std::os::unix::fs::symlink(root.join("secret.pdf"), uploads.join("link.pdf")).expect("symlink");
    std::os::unix::fs::symlink(uploads.join("real"), uploads.join("alias")).expect("symlink");
    std::os::unix::fs::symlink(root, uploads.join("up")).expect("symlink");
    std::fs::hard_link(root.join("secret.pdf"), uploads.join("hard.pdf")).expect("hard link");
    let fifo = CString::new(uploads.join("fifo.pdf").as_os_str().as_bytes()).expect("path");
    // SAFETY: mkfifo(3) with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");

    let upload = |path: std::path::PathBuf| {
        call(
            &s,
            "document.upload",
            json!({"tenant_id": 1, "entity_id": eid, "document_type": "loa", "path": path}),
        )
    };
    for (path, reason) in [
        (uploads.join("link.pdf"), "symbolic link"),
        (uploads.join("alias/loa.pdf"), "symbolic link"),
        (uploads.join("up/secret.pdf"), "symbolic link"),
        (uploads.join("hard.pdf"), "hard links"),
        (uploads.join("fifo.pdf"), "not a regular file"),
        (uploads.join("real/../../secret.pdf"), "upload_dirs"),
    ] {
        let r = upload(path.clone());
        assert_eq!(
            r.pointer("/error/code"),
            Some(&json!(-32602)),
            "{path:?}: {r}"
        );
        let message = r
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        assert!(
            message.contains("path") && message.contains(reason),
            "{path:?}: {message}"
        );
    }
    let listed = ok(&s, "document.list", json!({"tenant_id": 1}));
    assert_eq!(listed["items"], json!([]), "a refused file was registered");

    // The same file by its own path goes through.
    let doc = ok(
        &s,
        "document.upload",
        json!({"tenant_id": 1, "entity_id": eid, "document_type": "loa", "path": uploads.join("real/loa.pdf")}),
    );
    assert_eq!(doc["filename"], "loa.pdf");
}

/// An `[rpc] upload_dirs` entry limited to tenants serves only them: tenant 2 cannot
/// register a file from tenant 1's folder (and is told why), while a plain entry
/// serves both. What is taken is copied into the spool (0700), named by its SHA-256.
#[test]
fn an_upload_folder_limited_to_a_tenant_serves_only_that_tenant() {
    use std::os::unix::fs::PermissionsExt;
    let config = crate::support::base_config("info").replace(
        "socket = \"numhubd.sock\"",
        "socket = \"run/numhubd.sock\"\nupload_dirs = [\"uploads\", { path = \"acme\", tenants = [1] }]",
    );
    let d = crate::support::start_daemon(&config, &[]);
    let s = socket_of(&d);
    let root = d.dir.path();
    for dir in ["uploads", "acme"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    std::fs::write(root.join("acme/loa.pdf"), b"%PDF-1.7 acme's").expect("write");
    std::fs::write(root.join("uploads/loa.pdf"), b"%PDF-1.7 shared").expect("write");
    let mut entity = std::collections::HashMap::new();
    for (t, name) in [(1, "Acme"), (2, "Beta")] {
        add_tenant(&s, t, name);
        let e = ok(
            &s,
            "entity.create",
            json!({"tenant_id": t, "entity_type": "enterprise", "company_name": name, "application": {}, "submit": false}),
        );
        entity.insert(t, e["id"].as_str().expect("entity id").to_string());
    }
    let upload = |t: i64, path: std::path::PathBuf| {
        call(
            &s,
            "document.upload",
            json!({"tenant_id": t, "entity_id": entity[&t], "document_type": "loa", "path": path}),
        )
    };
    let refused = upload(2, root.join("acme/loa.pdf"));
    assert_eq!(
        refused.pointer("/error/code"),
        Some(&json!(-32602)),
        "{refused}"
    );
    assert!(
        refused
            .pointer("/error/message")
            .and_then(Value::as_str)
            .is_some_and(|m| m.contains("only for other tenants")),
        "{refused}"
    );
    let listed = ok(&s, "document.list", json!({"tenant_id": 2}));
    assert_eq!(listed["items"], json!([]), "a refused file was registered");
    for (t, path) in [
        (1, "acme/loa.pdf"),
        (2, "uploads/loa.pdf"),
        (1, "uploads/loa.pdf"),
    ] {
        let r = upload(t, root.join(path));
        assert!(r["result"]["id"].is_string(), "tenant {t}, {path}: {r}");
        let sha = r["result"]["sha256"].as_str().expect("sha256");
        assert!(
            root.join("spool").join(sha).is_file(),
            "no spool copy of {path}"
        );
    }
    let mode = std::fs::metadata(root.join("spool"))
        .expect("spool")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// A writer swapping the file for a symbolic link to a secret, over and over while
/// uploads are registered, never gets the secret taken: each call either takes the
/// real file (its SHA-256) or is refused as a link, and the spool never holds the
/// secret's bytes.
#[test]
fn a_link_swapped_in_while_uploading_never_takes_the_target() {
    use sha2::{Digest, Sha256};
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    let root = d.dir.path().to_path_buf();
    add_tenant(&s, 1, "Acme");
    let eid = draft_entity(&s, 1, "enterprise", "Acme LLC");
    let hex = |b: &[u8]| -> String {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let (real, secret) = (
        b"%PDF-1.7 the signed LOA".to_vec(),
        b"%PDF-1.7 numhubd's secret".to_vec(),
    );
    std::fs::write(root.join("secret.pdf"), &secret).expect("write");
    let target = root.join("uploads/loa.pdf");
    std::fs::write(&target, &real).expect("write");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (root, target, real, stop) = (root.clone(), target.clone(), real.clone(), stop.clone());
        std::thread::spawn(move || {
            let (file, link) = (root.join("uploads/.f"), root.join("uploads/.l"));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Both swaps are renames: the path is always either the file or the link.
                std::fs::write(&file, &real).expect("write");
                std::fs::rename(&file, &target).expect("rename file");
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(root.join("secret.pdf"), &link).expect("symlink");
                std::fs::rename(&link, &target).expect("rename link");
            }
        })
    };
    let (mut taken, mut refused) = (0, 0);
    for _ in 0..40 {
        let r = call(
            &s,
            "document.upload",
            json!({"tenant_id": 1, "entity_id": eid, "document_type": "loa", "path": target}),
        );
        match r["result"]["sha256"].as_str() {
            Some(sha) => {
                assert_eq!(sha, hex(&real), "took something other than the file: {r}");
                taken += 1;
            }
            None => {
                let m = r
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                assert!(
                    m.contains("symbolic link") || m.contains("cannot be read"),
                    "{r}"
                );
                refused += 1;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().expect("swapper");
    assert_eq!(taken + refused, 40);
    assert!(
        !root.join("spool").join(hex(&secret)).exists(),
        "the secret reached the spool"
    );
}
