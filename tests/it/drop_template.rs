//! The LOA template and the drop folder's paths, end to end: the real daemon and
//! numhubctl against the in-process sandbox. `numhubctl loa-template` writes the
//! sandbox's template byte for byte into the entity's folder whichever body form
//! NumHub uses (the document does not say); an entity not at NumHub yet gets a clear
//! error; `drop-path` prints the layout's folder; `documents --follow` shows an
//! upload's status changes.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;

use std::sync::{Arc, Mutex};

use numhub_sandbox::TemplateForm;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::rpc_client::{ctl, ok};
use crate::support::{wait_until, TIMEOUT};
use crate::sync_support::{create_entity, upload, write_pdf, Harness};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn started() -> Harness {
    let mut h = Harness::new(3);
    assert!(h.start(&[]), "daemon did not start: {}", h.all_stderr());
    h
}

/// An entity of tenant 1 that the outbox has created at NumHub; (local, NumHub) ids.
/// Tenant 1's folder of an entity, as the drop folder's layout names it.
fn entity_folder(h: &Harness, entity_id: &str, company_name: &str) -> std::path::PathBuf {
    use numhubd::watch::layout;
    h.dir
        .path()
        .join("drop")
        .join(layout::tenant_dir_name(1, None))
        .join(layout::entity_dir_name(entity_id, company_name))
}

fn entity_at_numhub(h: &Harness, name: &str) -> (String, String) {
    let s = h.socket();
    let id = create_entity(&s, name, false).expect("entity.create");
    let nid =
        || ok(&s, "entity.get", json!({"tenant_id": 1, "id": id}))["numhub_entity_id"].clone();
    assert!(
        wait_until(TIMEOUT, || nid().is_string()),
        "never reached NumHub: {}",
        h.all_stderr()
    );
    let nid = nid().as_str().unwrap_or_default().to_string();
    (id, nid)
}

#[test]
fn the_template_is_written_byte_identical_for_every_form_numhub_may_use() {
    let h = started();
    h.tenant(false);
    let s = h.socket();

    // Not sent yet (the tenant is not enabled): nothing to ask NumHub about.
    let queued = create_entity(&s, "Queued Co", false).expect("entity.create");
    let out = ctl(&s, &["loa-template", &queued, "--tenant", "1"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("no NumHub id yet"), "{err}");

    h.tenant(true);
    let (id, nid) = entity_at_numhub(&h, "Acme Dental, LLC");
    let want = h
        .sandbox
        .template_sha256(nid.parse().expect("uuid"))
        .expect("sandbox knows the template");
    let dir = entity_folder(&h, &id, "Acme Dental, LLC");
    let template = dir.join(numhubd::watch::layout::TEMPLATE);

    for form in [
        TemplateForm::Pdf,
        TemplateForm::Octet,
        TemplateForm::Json,
        TemplateForm::TextJson,
        TemplateForm::Base64,
    ] {
        // A stale file from the form before must be replaced, not kept.
        let _ = std::fs::remove_file(&template);
        h.sandbox.set_template_form(form);
        // No --tenant: found in the caller's tenants, as `entity show` does.
        let out = ctl(&s, &["loa-template", &id]);
        assert!(
            out.status.success(),
            "{form:?}: {} {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stdout).trim(),
            template.display().to_string(),
            "{form:?}"
        );
        let bytes = std::fs::read(&template).expect("template written");
        let got: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want, "{form:?}: not the sandbox's bytes");
        let mode = std::fs::metadata(&template)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640, "{form:?}");
    }
    // No temporary left beside it (the watcher's type folders are folders).
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("entity folder")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec![numhubd::watch::layout::TEMPLATE], "{names:?}");

    // Each exchange's audit row has the body's size and hash, never the document
    // (the JSON forms would otherwise keep it whole, in base64). Audit rows are
    // written behind the exchange (`write_detached`): the last may land a moment later.
    let template_rows = || -> Vec<serde_json::Value> {
        let logs = ok(&s, "log.list", json!({"tenant_id": 1, "limit": 100}));
        logs["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["endpoint"]
                    .as_str()
                    .is_some_and(|e| e.ends_with("/downloadtemplate"))
            })
            .cloned()
            .collect()
    };
    assert!(wait_until(TIMEOUT, || template_rows().len() >= 5));
    let rows = template_rows();
    assert_eq!(rows.len(), 5, "{rows:?}");
    for row in &rows {
        let r = &row["response_payload"];
        assert!(r["sha256"].as_str().is_some_and(|h| h.len() == 64), "{row}");
        assert!(r["bytes"].as_u64().is_some_and(|n| n > 0), "{row}");
        assert!(!row.to_string().contains("fileContents"), "{row}");
    }
    // The PDF's own hash is in the row where the body was the PDF itself.
    assert!(
        rows.iter()
            .any(|r| r["response_payload"]["sha256"] == want.as_str()),
        "{rows:?}"
    );

    // Signed (here: as is) and dropped into loa/, it is uploaded, byte-identical.
    std::fs::copy(&template, dir.join("loa/.signed.pdf.part")).expect("copy");
    std::fs::rename(dir.join("loa/.signed.pdf.part"), dir.join("loa/signed.pdf")).expect("mv");
    assert!(
        crate::support::wait_until(crate::support::TIMEOUT, || h.state()["documents"]
            .as_array()
            .is_some_and(|d| d
                .iter()
                .any(|d| d["name"] == "signed.pdf" && d["sha256"] == want.as_str()))),
        "{}",
        h.state()["documents"]
    );

    // A template that cannot be written (here a folder stands where the file goes;
    // as root, permissions would not stop it) is -32041 naming the path and cause.
    std::fs::remove_file(&template).expect("rm");
    std::fs::create_dir_all(template.join("x")).expect("a folder in the way");
    let r = crate::rpc_client::call(&s, "entity.loa_template", json!({"tenant_id": 1, "id": id}));
    assert_eq!(r["error"]["code"], -32041, "{r}");
    let m = r["error"]["message"].as_str().unwrap_or("");
    assert!(m.contains(&template.display().to_string()), "{r}");
}

#[test]
fn drop_path_prints_the_layout_folder_and_documents_follow_shows_uploads() {
    let h = started();
    h.tenant(true);
    let s = h.socket();
    let (id, _) = entity_at_numhub(&h, "Follow Co");

    let out = ctl(&s, &["drop-path", &id, "--tenant", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = entity_folder(&h, &id, "Follow Co");
    assert_eq!(text(&out.stdout), format!("{}\n", dir.display()));
    let paths = ok(&s, "entity.drop_path", json!({"tenant_id": 1, "id": id}));
    assert_eq!(paths["type_dirs"]["loa"], json!(dir.join("loa")), "{paths}");
    assert_eq!(
        paths["template"],
        json!(dir.join(numhubd::watch::layout::TEMPLATE))
    );
    let out = ctl(&s, &["drop-path", "019ad1c2-7e4b-7c10-9a3e-5c1b01a2335f"]);
    assert!(!out.status.success());

    let mut follow = crate::rpc_client::ctl_spawn(&s, &["--json", "documents", "--follow"]);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stdout = follow.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut l) = lines.lock() {
                    l.push(line);
                }
            }
        })
    };
    // Subscribed once its connection is open (the status call is the other one).
    assert!(
        wait_until(TIMEOUT, || ok(&s, "daemon.status", json!({}))
            ["connections"]
            .as_u64()
            .is_some_and(|n| n >= 2)),
        "the follower never connected"
    );
    let (path, _) = write_pdf(h.dir.path(), "loa.pdf", 4096, 7);
    let doc = upload(&s, &id, &path).expect("document.upload");
    let seen = |status: &str| {
        lines.lock().is_ok_and(|l| {
            l.iter().any(|line| {
                serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
                    v["type"] == "document.status_changed"
                        && v["document_id"].as_str() == Some(&doc)
                        && v["status"] == status
                })
            })
        })
    };
    let ok_seen = wait_until(TIMEOUT, || seen("uploaded"));
    let _ = follow.kill();
    let _ = follow.wait();
    let _ = reader.join();
    assert!(
        ok_seen,
        "no document.status_changed to uploaded for {doc}: {:?}",
        lines.lock().map(|l| l.clone()).unwrap_or_default()
    );
}
