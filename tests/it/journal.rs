//! Under systemd numhubd logs to the journal with structured fields named
//! `NUMHUB_<FIELD>`. The daemon runs in a private mount namespace where
//! /run/systemd/journal/socket leads to a datagram socket this test owns, and the
//! test reads the journald native protocol off it. Needs root and unshare (CI has
//! both); skipped elsewhere, failed under CI.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::rpc_client::{add_numhub_tenant, add_tenant, curl_as};
use crate::support::{can_unshare, start_wrapped, wait_until, TIMEOUT};
use crate::sync_support::{config as sync_config, create_entity, sandbox_for, upload, write_pdf};

const OTHER: u32 = 4242;

/// One record of the native protocol: `KEY=value\n`, or `KEY\n<u64 LE length>value\n`.
fn parse(mut data: &[u8]) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    while !data.is_empty() {
        let line_end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
        let line = &data[..line_end];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            fields.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            data = &data[(line_end + 1).min(data.len())..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &data[line_end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().expect("length")) as usize;
            let value = &rest[8..8 + len];
            fields.insert(key, String::from_utf8_lossy(value).into_owned());
            data = &rest[(8 + len + 1).min(rest.len())..];
        }
    }
    fields
}

#[test]
fn records_reach_the_journal_with_numhub_fields() {
    if !can_unshare(&["--mount"]) {
        eprintln!("skipped: needs root, curl and unshare --mount");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let journal_path = dir.path().join("journal.sock");
    let journal = UnixDatagram::bind(&journal_path).expect("bind journal socket");
    // Read from the start: a datagram socket's queue is short, and a daemon whose
    // journal does not read blocks in its next log call.
    let records: Arc<Mutex<Vec<BTreeMap<String, String>>>> = Arc::default();
    {
        let records = records.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            // A record too big for a datagram comes as a memfd (SCM_RIGHTS) with an
            // empty datagram; the ones this test looks for are small.
            while let Ok(n) = journal.recv(&mut buf) {
                if n > 0 {
                    let fields = parse(&buf[..n]);
                    records.lock().expect("records").push(fields);
                }
            }
        });
    }
    // A fresh /run in the daemon's own mount namespace, with the journal's socket
    // leading to ours; nothing outside the namespace changes.
    let script = r#"mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && ln -s "$0" /run/systemd/journal/socket && exec "$@""#;
    let wrapper = crate::support::in_private_mounts(script, &[journal_path.as_os_str()]);
    // A sandbox for the outbox to talk to, so that jobs and exchanges are logged.
    let (_rt, sandbox) = sandbox_for(dir.path());
    let config = format!(
        "{}[[access]]\nuid = {OTHER}\nrole = \"read\"\ntenants = [1]\n",
        sync_config(&sandbox.base_url(), 3)
    );
    let d = start_wrapped(dir, &config, &[], &wrapper);
    let socket = d.dir.path().join("numhubd.sock");
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))
        .expect("chmod socket");
    add_tenant(&socket, 2, "Other");
    add_numhub_tenant(&socket, 1, "Acme", "1001", true);
    let entity = create_entity(&socket, "Journal LLC", false).expect("create");
    let (pdf, _) = write_pdf(d.dir.path(), "loa.pdf", 10_000, 1);
    let document = upload(&socket, &entity, &pdf).expect("upload");
    // A refusal is logged with the tenant it was about.
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tenant.get", "params": {"id": 2}});
    curl_as(OTHER, OTHER, &socket, &body.to_string()).expect("curl");

    let refusal = |r: &BTreeMap<String, String>| {
        r.get("MESSAGE").map(String::as_str) == Some("forbidden RPC call")
    };
    assert!(
        wait_until(TIMEOUT, || records
            .lock()
            .expect("records")
            .iter()
            .any(refusal)),
        "no refusal record in the journal; records seen:\n{:#?}",
        records.lock().expect("records")
    );
    let record = records
        .lock()
        .expect("records")
        .iter()
        .find(|r| refusal(r))
        .cloned()
        .expect("record");
    assert_eq!(
        record.get("NUMHUB_TENANT").map(String::as_str),
        Some("2"),
        "{record:#?}"
    );
    assert_eq!(
        record.get("NUMHUB_UID").map(String::as_str),
        Some(OTHER.to_string().as_str()),
        "{record:#?}"
    );
    assert!(
        !record.keys().any(|k| k.starts_with("F_")),
        "a field with tracing-journald's default prefix: {record:#?}"
    );

    // A job's story: found by its entity, its document, its job id; NumHub's side by
    // endpoint and status.
    let find = |what: &str, want: &dyn Fn(&BTreeMap<String, String>) -> bool| {
        let seen = wait_until(TIMEOUT, || {
            records.lock().expect("records").iter().any(want)
        });
        let all = records.lock().expect("records");
        assert!(seen, "no {what} in the journal; records seen:\n{all:#?}");
        all.iter().find(|r| want(r)).cloned().expect("record")
    };
    let field = |r: &BTreeMap<String, String>, k: &str| r.get(k).cloned().unwrap_or_default();
    let created = find("entity.create job", &|r| {
        field(r, "MESSAGE") == "job done" && field(r, "NUMHUB_KIND") == "entity.create"
    });
    assert_eq!(field(&created, "NUMHUB_ENTITY"), entity, "{created:#?}");
    assert_eq!(field(&created, "NUMHUB_TENANT"), "1", "{created:#?}");
    assert!(
        field(&created, "NUMHUB_JOB").parse::<i64>().is_ok(),
        "{created:#?}"
    );
    let uploaded = find("document.upload job", &|r| {
        field(r, "MESSAGE") == "job done" && field(r, "NUMHUB_DOCUMENT") == document
    });
    assert_eq!(field(&uploaded, "NUMHUB_ENTITY"), entity, "{uploaded:#?}");
    let exchange = find("upload exchange", &|r| {
        field(r, "MESSAGE") == "NumHub exchange"
            && field(r, "NUMHUB_ENDPOINT").ends_with("/documents")
    });
    assert_eq!(field(&exchange, "NUMHUB_STATUS"), "200", "{exchange:#?}");
    assert_eq!(field(&exchange, "NUMHUB_TENANT"), "1", "{exchange:#?}");

    // Nothing went to stderr meanwhile: the journal is the one sink.
    assert!(!d.stderr().contains("forbidden RPC call"), "{}", d.stderr());
}
