//! The app's side of #24: BrandCall's Laravel app reads numhubd's tables directly,
//! through its own MySQL connection and a read-only user. A daemon on MariaDB makes
//! rows the way the README's first run does (a tenant, an application submitted and
//! given its NumHub id, the audit trail, a token); `tests/php/read_rows.php` reads
//! them with PHP's PDO as Laravel sets it up, and they must carry the seed's columns
//! with the seed's values and types.
//!
//! MariaDB only (it is the app's view of a server database). PHP with pdo_mysql
//! (`php-cli`, `php-mysql`; `.ci/run` installs them): skipped with a line when
//! missing, failed when `CI=true`.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::rpc_client::ok;
use crate::support::wait_until;
use crate::sync_support::{application, Harness};
use crate::test_engine::TestStore;

fn php_with_pdo_mysql() -> bool {
    let found = Command::new("php")
        .args(["-r", "exit(extension_loaded('pdo_mysql') ? 0 : 1);"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "php with pdo_mysql is missing (apt-get install php-cli php-mysql)"
        );
        eprintln!("skipped: php with pdo_mysql is not installed");
    }
    found
}

#[test]
fn the_apps_pdo_reads_the_seeds_columns_values_and_types() {
    if crate::test_engine::mariadb_only("the app reads a server database") {
        return;
    }
    if !php_with_pdo_mysql() {
        return;
    }
    let h = Harness::syncing(3);
    let socket = h.socket();
    let name = "Ünïcode & Sons 🚀 LLC";
    let created = ok(
        &socket,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": name,
               "application": application(name), "submit": true}),
    );
    let id = created["id"].as_str().expect("id").to_string();
    assert!(
        wait_until(Duration::from_secs(30), || {
            ok(&socket, "entity.get", json!({"tenant_id": 1, "id": id}))["numhub_entity_id"]
                .is_string()
        }),
        "never linked; {}",
        h.all_stderr()
    );
    let mine = ok(&socket, "entity.get", json!({"tenant_id": 1, "id": id}));

    let TestStore::Mariadb(db) = h.store() else {
        unreachable!("on MariaDB")
    };
    let dsn = format!(
        "mysql:host=127.0.0.1;port={};dbname={};charset=utf8mb4",
        db.port, db.name
    );
    let out = Command::new("php")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/php/read_rows.php"
        ))
        .arg(&dsn)
        .arg(&db.ro_user)
        .arg(&db.ro_password_file)
        .arg("1")
        .output()
        .expect("php");
    assert!(
        out.status.success(),
        "read_rows.php: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("read_rows.php prints JSON");
    assert_eq!(seen["session_time_zone"], "+00:00");

    let entities = seen["tables"]["numhub_entities"].as_array().expect("rows");
    let row = entities
        .iter()
        .find(|r| r["columns"]["id"] == json!(id))
        .unwrap_or_else(|| panic!("the app does not see {id}: {seen}"));
    let (columns, types) = (&row["columns"], &row["php_types"]);
    // The seed's values, as numhubd answers them over the socket.
    for column in [
        "id",
        "numhub_entity_id",
        "company_name",
        "status",
        "entity_type",
        "created_at",
        "updated_at",
    ] {
        assert_eq!(columns[column], mine[column], "{column}: {row}");
    }
    // The seed's types, as PDO hands them to PHP.
    assert_eq!(types["tenant_id"], "integer", "{row}");
    assert_eq!(types["id"], "string");
    assert_eq!(
        columns["id"].as_str().map(str::len),
        Some(36),
        "CHAR(36) uuid"
    );

    // The audit trail: every exchange, JSON that parses, times in UTC.
    let logs = seen["tables"]["numhub_sync_logs"].as_array().expect("logs");
    assert!(!logs.is_empty(), "no audit rows: {seen}");
    for log in logs {
        let at = log["columns"]["created_at"].as_str().expect("created_at");
        assert!(at.ends_with('Z'), "{at}");
    }
    // The token: the app sees its expiry and kind, never a token in clear.
    let tokens = seen["tables"]["numhub_tokens"].to_string();
    assert!(!tokens.contains("eyJ"), "a bearer token in clear: {tokens}");

    // The read-only user cannot write: writes go through the socket.
    let refused = Command::new("php")
        .arg("-r")
        .arg(format!(
            "$p = new PDO('{dsn}', '{}', trim(file_get_contents('{}')));
             $p->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
             try {{ $p->exec(\"UPDATE numhub_entities SET company_name = 'x'\"); exit(0); }}
             catch (PDOException $e) {{ exit(str_contains($e->getMessage(), '1142') ? 3 : 4); }}",
            db.ro_user,
            db.ro_password_file.display()
        ))
        .status()
        .expect("php");
    assert_eq!(refused.code(), Some(3), "the read-only user could write");
}
