//! The restore rule on MySQL/MariaDB (#24): a database restored from a dump made as
//! docs/OPERATIONS.md shows (`mariadb-dump --single-transaction`, then the backup
//! mark appended) looks up at NumHub what was queued when the dump was taken instead
//! of sending it again: the daemon the dump came from went on and sent it.
//!
//! MariaDB only (on SQLite `numhubctl backup` makes the copy: tests/it/backup.rs).

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::mariadb_support;
use crate::rpc_client::ok;
use crate::sync_support::{application, settle_within, Harness};
use crate::test_engine::TestStore;

const NAMES: [&str; 3] = ["Dumped One LLC", "Dumped Two LLC", "Dumped Three LLC"];

/// The guide's recipe: the mark's time first (earlier than the snapshot: it only
/// widens the look-up), the dump, the mark appended.
fn dump(db: &mariadb_support::TestDatabase, to: &std::path::Path) {
    let taken_at = chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string();
    let out = Command::new("mariadb-dump")
        .arg(format!("--socket={}", db.socket.display()))
        .args([
            "-uroot",
            "--single-transaction",
            "--no-tablespaces",
            &db.name,
        ])
        .output()
        .expect("mariadb-dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = out.stdout;
    text.extend_from_slice(
        format!(
            "INSERT INTO backup_marker (id, taken_at, source_path) VALUES (1, '{taken_at}', \
             'mariadb-dump {}') ON DUPLICATE KEY UPDATE id = id;\n",
            db.name
        )
        .as_bytes(),
    );
    std::fs::write(to, text).expect("write dump");
}

/// Puts the dump back into the same database, emptied first (its grants stay).
fn restore(db: &mariadb_support::TestDatabase, from: &std::path::Path) {
    let client = |args: &[&str], input: Option<&std::path::Path>| {
        let mut cmd = Command::new("mariadb");
        cmd.arg(format!("--socket={}", db.socket.display()))
            .arg("-uroot")
            .args(args);
        if let Some(f) = input {
            cmd.stdin(std::fs::File::open(f).expect("dump"));
        }
        let out = cmd.output().expect("mariadb");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let name = &db.name;
    client(
        &[
            "-e",
            &format!(
                "DROP DATABASE `{name}`; \
                 CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ),
        ],
        None,
    );
    client(&[name], Some(from));
}

#[test]
fn a_restored_dump_looks_up_what_was_sent_after_it_and_duplicates_nothing() {
    if crate::test_engine::mariadb_only("the dump of a server database") {
        return;
    }
    let mut h = Harness::new(3);
    assert!(h.start(&[]), "{}", h.all_stderr());
    // Disabled: the creates stay queued until the dump is taken.
    h.tenant(false);
    let socket = h.socket();
    for name in NAMES {
        ok(
            &socket,
            "entity.create",
            json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": name,
                   "application": application(name), "submit": true}),
        );
    }
    let TestStore::Mariadb(db) = h.store() else {
        unreachable!("on MariaDB")
    };
    let file = h.dir.path().join("numhubd.sql");
    dump(&db, &file);

    // The daemon goes on and sends them after the dump.
    h.tenant(true);
    settle_within(&h, Duration::from_secs(60));
    h.stop();

    restore(&db, &file);
    assert!(h.start(&[]), "{}", h.all_stderr());
    h.tenant(true);
    settle_within(&h, Duration::from_secs(60));
    let at_numhub: Vec<String> = h
        .companies_at_numhub()
        .into_iter()
        .filter(|n| n.starts_with("Dumped "))
        .collect();
    let mut want: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(at_numhub, want, "each create at NumHub once");
    assert_eq!(
        h.store()
            .count("SELECT COUNT(*) FROM numhub_entities WHERE numhub_entity_id IS NULL"),
        0,
        "every restored application is linked to the one NumHub has"
    );
    assert_eq!(h.store().count("SELECT COUNT(*) FROM backup_marker"), 0);
}
