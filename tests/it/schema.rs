//! The migrated schema against the seed design, with the expectations read from
//! `tests/data/seed-schema.toml` (the seed's tables, columns, types and constraints,
//! each with the section of the seed document it comes from; not copied from our
//! migrations). Documented deviations are listed here, each with its reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::Connection;
use serde::Deserialize;

use numhubd::db;

/// One column as the seed describes it.
#[derive(Debug, Clone)]
struct SeedColumn {
    table: String,
    name: String,
    /// The seed's type, lower-case: bigint, varchar(100), uuid, json, timestamp…
    ty: String,
    /// The constraints cell (full definitions) or the ER key marks (PK/FK/UK), lower-case.
    constraints: String,
    /// The values the ER diagram's comment lists (`a|b|c`), when it lists them.
    enum_values: Vec<String>,
    /// Whether the column comes from a full table definition (nullability is stated).
    defined: bool,
    /// The seed document's sections the column's table comes from.
    source: String,
}

#[derive(Debug, Clone)]
struct SeedIndex {
    table: String,
    columns: Vec<String>,
    unique: bool,
}

/// Where our schema knowingly differs from the seed, and why.
const NULLABLE_DEVIATIONS: &[(&str, &str, &str)] = &[(
    "numhub_entities",
    "numhub_entity_id",
    "NULL until NumHub assigns it: applications are accepted while NumHub is unreachable",
)];

/// Columns we made NOT NULL where the seed leaves nullability unstated.
const NOT_NULL_TIGHTENED: &[(&str, &str)] = &[
    ("*", "created_at"),           // set by the store on every insert
    ("*", "updated_at"),           // set by the store on every write
    ("tenants", "numhub_enabled"), // a flag with a default is never unknown
];

/// Enumerations we extended.
const ENUM_EXTENSIONS: &[(&str, &str, &str, &str)] = &[(
    "numhub_documents",
    "document_type",
    "logo",
    "NumHub's DocumentType has LOGO (BMP only); the seed's values have no place for it",
)];

/// The seed data file, as written: one entry per table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    table: Vec<SeedTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedTable {
    name: String,
    /// The seed document's sections the table's facts come from.
    source: String,
    columns: Vec<SeedFileColumn>,
    indexes: Vec<SeedFileIndex>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFileColumn {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    constraints: String,
    from: SeedSection,
    #[serde(default)]
    values: Vec<String>,
    /// The ER diagram's comment: for the reader of the file, no test reads it.
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<String>,
}

/// Which part of the seed document a column comes from.
#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum SeedSection {
    /// A table definition row: nullability is stated.
    Definition,
    /// Only the ER diagram shows it: nullability is not stated.
    ErDiagram,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFileIndex {
    columns: Vec<String>,
    unique: bool,
}

const SEED_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/seed-schema.toml");

/// The seed's columns and indexes from the data file, flattened for the checks below.
fn seed() -> (Vec<SeedColumn>, Vec<SeedIndex>) {
    let text = std::fs::read_to_string(SEED_FILE)
        .unwrap_or_else(|e| panic!("cannot read the seed data {SEED_FILE}: {e}"));
    let file: SeedFile =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{SEED_FILE} is malformed: {e}"));
    let mut columns = Vec::new();
    let mut indexes = Vec::new();
    for t in file.table {
        for c in t.columns {
            columns.push(SeedColumn {
                table: t.name.clone(),
                name: c.name,
                ty: c.ty.to_lowercase(),
                constraints: c.constraints.to_lowercase(),
                enum_values: c.values,
                defined: c.from == SeedSection::Definition,
                source: t.source.clone(),
            });
        }
        for i in t.indexes {
            indexes.push(SeedIndex {
                table: t.name.clone(),
                columns: i.columns,
                unique: i.unique,
            });
        }
    }
    (columns, indexes)
}

/// The seed's SQL types onto SQLite's STRICT storage classes.
fn storage_class(seed_type: &str) -> &'static str {
    let base = seed_type.split('(').next().unwrap_or(seed_type);
    match base {
        "bigint" | "int" | "integer" | "smallint" | "boolean" => "INTEGER",
        "varchar" | "char" | "text" | "string" | "uuid" | "json" | "timestamp" => "TEXT",
        other => panic!("the seed uses a type this test does not map: {other}"),
    }
}

/// What a foreign key column points at, by the seed's naming and relationships.
fn fk_target(table: &str, column: &str) -> &'static str {
    match column {
        "tenant_id" => "tenants",
        "brand_id" => "brands",
        "local_document_id" => "documents",
        // In the seed's child tables these hold the local uuid of the parent.
        "numhub_entity_id" => "numhub_entities",
        "numhub_identity_id" => "numhub_identities",
        _ => panic!("no known target for FK {table}.{column}"),
    }
}

fn fresh_db() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("schema.db");
    db::migrate_file(&path).expect("migrate");
    let conn = Connection::open(&path).expect("open");
    (dir, conn)
}

struct ColumnInfo {
    ty: String,
    notnull: bool,
    default: Option<String>,
    pk: bool,
}

fn table_info(conn: &Connection, table: &str) -> BTreeMap<String, ColumnInfo> {
    let mut stmt = conn
        .prepare("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)")
        .expect("pragma");
    stmt.query_map([table], |r| {
        Ok((
            r.get::<_, String>(0)?,
            ColumnInfo {
                ty: r.get(1)?,
                notnull: r.get(2)?,
                default: r.get(3)?,
                pk: r.get::<_, i64>(4)? > 0,
            },
        ))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn table_sql(conn: &Connection, table: &str) -> String {
    conn.query_row(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )
    .unwrap_or_else(|_| panic!("table {table} missing"))
}

/// Every index of `table` as (columns, unique), including constraint autoindexes.
fn indexes(conn: &Connection, table: &str) -> Vec<(Vec<String>, bool)> {
    let mut stmt = conn
        .prepare("SELECT name, \"unique\" FROM pragma_index_list(?1)")
        .expect("index_list");
    let list: Vec<(String, bool)> = stmt
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("q")
        .collect::<Result<_, _>>()
        .expect("rows");
    list.into_iter()
        .map(|(name, unique)| {
            let mut s = conn
                .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                .expect("index_info");
            let cols: Vec<String> = s
                .query_map([&name], |r| r.get(0))
                .expect("q")
                .collect::<Result<_, _>>()
                .expect("rows");
            (cols, unique)
        })
        .collect()
}

fn foreign_keys(conn: &Connection, table: &str) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare("SELECT \"from\", \"table\", on_delete FROM pragma_foreign_key_list(?1)")
        .expect("fk list");
    stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("q")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The values of `column IN (...)` in the table's SQL.
fn check_in_values(sql: &str, column: &str) -> Option<BTreeSet<String>> {
    let needle = format!("{column} IN (");
    let start = sql.find(&needle)? + needle.len();
    let end = start + sql[start..].find(')')?;
    Some(
        sql[start..end]
            .split(',')
            .map(|v| v.trim().trim_matches('\'').to_string())
            .collect(),
    )
}

#[test]
fn the_seed_data_holds_every_table_the_seed_describes() {
    let (columns, indexes) = seed();
    let tables: BTreeSet<&str> = columns.iter().map(|c| c.table.as_str()).collect();
    for t in [
        "tenants",
        "brands",
        "numhub_tokens",
        "numhub_entities",
        "numhub_identities",
        "numhub_documents",
        "numhub_sync_logs",
    ] {
        assert!(
            tables.contains(t),
            "no columns for {t} in {SEED_FILE}: {tables:?}"
        );
    }
    assert!(
        columns.len() > 60,
        "too few columns in {SEED_FILE}: {}",
        columns.len()
    );
    assert!(
        indexes.len() >= 11,
        "too few indexes in {SEED_FILE}: {}",
        indexes.len()
    );
    let status = columns
        .iter()
        .find(|c| c.table == "numhub_entities" && c.name == "status")
        .expect("entities.status");
    assert_eq!(status.enum_values.len(), 5, "{status:?}");
}

#[test]
fn every_seed_column_exists_with_its_type_nullability_default_and_checks() {
    let (columns, _) = seed();
    let (_dir, conn) = fresh_db();
    let mut failures = Vec::new();
    for col in &columns {
        let info = table_info(&conn, &col.table);
        let Some(actual) = info.get(&col.name) else {
            failures.push(format!(
                "{}.{}: missing (seed: {})",
                col.table, col.name, col.source
            ));
            continue;
        };
        let sql = table_sql(&conn, &col.table);
        let want_ty = storage_class(&col.ty);
        if actual.ty != want_ty {
            failures.push(format!(
                "{}.{}: type {} (seed {} → {want_ty})",
                col.table, col.name, actual.ty, col.ty
            ));
        }
        let is_pk = col.constraints.contains("pk");
        if is_pk && !actual.pk {
            failures.push(format!("{}.{}: not the primary key", col.table, col.name));
        }
        if col.defined {
            let seed_not_null = is_pk || col.constraints.contains("not null");
            let deviates = NULLABLE_DEVIATIONS
                .iter()
                .any(|(t, c, _)| *t == col.table && *c == col.name);
            let tightened = NOT_NULL_TIGHTENED
                .iter()
                .any(|(t, c)| (*t == "*" || *t == col.table) && *c == col.name);
            let want_not_null = if deviates {
                false
            } else {
                seed_not_null || tightened
            };
            if actual.notnull != want_not_null && !(is_pk && actual.pk) {
                failures.push(format!(
                    "{}.{}: NOT NULL is {} (want {want_not_null})",
                    col.table, col.name, actual.notnull
                ));
            }
            if col.constraints.contains("default false") && actual.default.as_deref() != Some("0") {
                failures.push(format!(
                    "{}.{}: default {:?} (seed: false)",
                    col.table, col.name, actual.default
                ));
            }
        }
        // varchar(n): a length CHECK (char(n) enums are bounded by their IN list).
        if let Some(n) = col
            .ty
            .strip_prefix("varchar(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let max: usize = n.parse().expect("varchar length");
            let enum_bounded = check_in_values(&sql, &col.name)
                .is_some_and(|vals| vals.iter().all(|v| v.len() <= max));
            let bounded = enum_bounded
                || sql.contains(&format!("length({}) <= {n}", col.name))
                || sql.contains(&format!("length({}) BETWEEN 1 AND {n}", col.name));
            if !bounded {
                failures.push(format!(
                    "{}.{}: no length CHECK for {}",
                    col.table, col.name, col.ty
                ));
            }
        }
        if col.ty == "json" && !sql.contains(&format!("json_valid({})", col.name)) {
            failures.push(format!("{}.{}: no json_valid CHECK", col.table, col.name));
        }
        if !col.enum_values.is_empty() {
            let want: BTreeSet<String> = col.enum_values.iter().cloned().collect();
            let extra: BTreeSet<String> = ENUM_EXTENSIONS
                .iter()
                .filter(|(t, c, _, _)| *t == col.table && *c == col.name)
                .map(|(_, _, v, _)| v.to_string())
                .collect();
            match check_in_values(&sql, &col.name) {
                None => failures.push(format!("{}.{}: no enum CHECK", col.table, col.name)),
                Some(got) => {
                    let allowed: BTreeSet<String> = want.union(&extra).cloned().collect();
                    if got != allowed {
                        failures.push(format!(
                            "{}.{}: CHECK allows {got:?}, seed says {want:?} (+ {extra:?})",
                            col.table, col.name
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "schema differs from the seed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_seed_foreign_key_and_unique_constraint_exists() {
    let (columns, _) = seed();
    let (_dir, conn) = fresh_db();
    let mut failures = Vec::new();
    for col in &columns {
        let marks = &col.constraints;
        if marks.contains("fk") {
            let target = fk_target(&col.table, &col.name);
            let fks = foreign_keys(&conn, &col.table);
            match fks.iter().find(|(from, _, _)| from == &col.name) {
                None => failures.push(format!("{}.{}: no foreign key", col.table, col.name)),
                Some((_, to, on_delete)) => {
                    if to != target {
                        failures.push(format!("{}.{} → {to}, want {target}", col.table, col.name));
                    }
                    if on_delete == "NO ACTION" {
                        failures.push(format!(
                            "{}.{}: ON DELETE not chosen explicitly",
                            col.table, col.name
                        ));
                    }
                }
            }
        }
        if marks.contains("unique") || marks.split_whitespace().any(|w| w == "uk") {
            let unique = indexes(&conn, &col.table)
                .into_iter()
                .any(|(cols, u)| u && cols == vec![col.name.clone()]);
            if !unique {
                failures.push(format!("{}.{}: not UNIQUE", col.table, col.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_seed_index_exists() {
    let (_, seed_indexes) = seed();
    let (_dir, conn) = fresh_db();
    for idx in seed_indexes {
        let found = indexes(&conn, &idx.table)
            .into_iter()
            .any(|(cols, unique)| cols == idx.columns && (unique || !idx.unique));
        assert!(found, "index {:?} on {} missing", idx.columns, idx.table);
    }
}

/// The two tables the issue defines because the seed names them without defining them.
#[test]
fn brand_phone_numbers_and_documents_are_as_the_issue_defines_them() {
    let (_dir, conn) = fresh_db();
    let phones = table_info(&conn, "brand_phone_numbers");
    for c in [
        "id",
        "brand_id",
        "phone_number",
        "numhub_identity_id",
        "created_at",
        "updated_at",
    ] {
        assert!(phones.contains_key(c), "brand_phone_numbers.{c}");
    }
    assert!(!phones["numhub_identity_id"].notnull);
    assert!(indexes(&conn, "brand_phone_numbers")
        .iter()
        .any(|(cols, u)| *u && cols == &["brand_id", "phone_number"]));
    let fks = foreign_keys(&conn, "brand_phone_numbers");
    assert!(fks
        .iter()
        .any(|(f, t, d)| f == "brand_id" && t == "brands" && d == "CASCADE"));
    assert!(fks
        .iter()
        .any(|(f, t, d)| f == "numhub_identity_id" && t == "numhub_identities" && d == "SET NULL"));

    let docs = table_info(&conn, "documents");
    for c in [
        "id",
        "tenant_id",
        "original_filename",
        "size_bytes",
        "sha256",
        "content_type",
        "source",
        "source_path",
        "created_at",
        "updated_at",
    ] {
        assert!(docs.contains_key(c), "documents.{c}");
    }
    // numhub_documents.local_document_id is bigint in the seed: so is documents.id.
    assert_eq!(docs["id"].ty, "INTEGER");
}

#[test]
fn bad_values_are_refused_by_the_file_itself() {
    let (_dir, conn) = fresh_db();
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .expect("fk on");
    conn.execute(
        "INSERT INTO tenants (id, name, created_at, updated_at) VALUES (1, 't', 'x', 'x')",
        [],
    )
    .expect("tenant");
    let bad = [
        ("status", "INSERT INTO numhub_entities (id, tenant_id, entity_type, company_name, status, vetting_status, created_at, updated_at) VALUES ('a', 1, 'enterprise', 'c', 'bogus', 'pending', 'x', 'x')"),
        ("api_response", "INSERT INTO numhub_entities (id, tenant_id, entity_type, company_name, status, vetting_status, api_response, created_at, updated_at) VALUES ('b', 1, 'enterprise', 'c', 'draft', 'pending', '{oops', 'x', 'x')"),
        ("tenant_id", "INSERT INTO numhub_entities (id, tenant_id, entity_type, company_name, status, vetting_status, created_at, updated_at) VALUES ('c', 99, 'enterprise', 'c', 'draft', 'pending', 'x', 'x')"),
        ("access_token", "INSERT INTO numhub_tokens (token_type, access_token, expires_at, created_at, updated_at) VALUES ('access', 'clear-text-token', 'x', 'x', 'x')"),
        ("numhub_client_id", "INSERT INTO tenants (id, name, numhub_client_id, created_at, updated_at) VALUES (2, 't', '99999999999', 'x', 'x')"),
        ("phone_number", "INSERT INTO brands (id, tenant_id, name, created_at, updated_at) VALUES (1, 1, 'b', 'x', 'x'); INSERT INTO brand_phone_numbers (brand_id, phone_number, created_at, updated_at) VALUES (1, '5551234', 'x', 'x')"),
    ];
    for (what, sql) in bad {
        assert!(
            conn.execute_batch(sql).is_err(),
            "{what}: the file accepted {sql}"
        );
    }
}

#[test]
fn migrating_twice_is_a_no_op() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("twice.db");
    let first = db::migrate_file(&path).expect("first");
    assert_eq!(first.last().copied(), Some(db::latest_version()));
    let schema = |p: &Path| -> String {
        let c = Connection::open(p).expect("open");
        let mut s = c
            .prepare(
                "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema ORDER BY name)",
            )
            .expect("prep");
        s.query_row([], |r| r.get(0)).expect("schema")
    };
    let before = schema(&path);
    let second = db::migrate_file(&path).expect("second");
    assert!(second.is_empty(), "second run applied {second:?}");
    assert_eq!(before, schema(&path));
}

#[test]
fn a_database_from_a_newer_numhubd_is_refused_and_not_modified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("newer.db");
    db::migrate_file(&path).expect("migrate");
    {
        let c = Connection::open(&path).expect("open");
        c.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (?1, 'from_the_future', '2030-01-01T00:00:00Z', '0')",
            [db::latest_version() + 1],
        )
        .expect("future version");
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
            .expect("checkpoint");
    }
    let before = std::fs::read(&path).expect("read");
    let err = db::Store::open(&path, db::StoreOptions::default())
        .err()
        .expect("refused");
    assert!(matches!(err, db::DbError::SchemaTooNew { .. }), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
    let err = db::migrate_file(&path).expect_err("migrate refused too");
    assert!(matches!(err, db::DbError::SchemaTooNew { .. }), "{err}");
    assert_eq!(
        before,
        std::fs::read(&path).expect("read"),
        "the file was modified"
    );
}

/// Databases written at earlier schema levels, holding rows, upgrade in place with
/// their rows intact. Each level's fixture is committed in tests/fixtures/ (made by
/// `make_fixture` at that level) before the next migration is added.
#[test]
fn every_committed_fixture_upgrades_in_place_with_its_rows() {
    let dir_fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir_fixtures)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sqlite"))
        .collect();
    fixtures.sort();
    assert!(
        !fixtures.is_empty(),
        "no fixtures in {}",
        dir_fixtures.display()
    );
    let below_latest = fixtures.iter().any(|f| {
        let c = Connection::open(f).expect("open");
        let v: i64 = c
            .query_row(
                "SELECT max(version) FROM refinery_schema_history",
                [],
                |r| r.get(0),
            )
            .expect("version");
        v == db::latest_version() - 1
    });
    assert!(
        below_latest || db::latest_version() == 1,
        "no fixture at schema level {}: commit one (make_fixture) before adding a migration",
        db::latest_version() - 1
    );
    for fixture in fixtures {
        upgrade_keeps_rows(&fixture);
    }
}

/// V7 makes `tenants.numhub_client_id` unique: a v6 file where two tenants share a
/// client id is refused before anything changes, and the refusal names the id and
/// both tenants; once one is corrected the upgrade goes through.
#[test]
fn a_database_whose_tenants_share_a_numhub_client_is_refused_naming_them() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v6-with-rows.sqlite");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared-client.db");
    std::fs::copy(&fixture, &path).expect("copy fixture");
    let c = Connection::open(&path).expect("open");
    c.execute_batch(
        "INSERT INTO tenants (id, name, email, slug, numhub_client_id, numhub_osp_id, numhub_enabled, created_at, updated_at)
             VALUES (2, 'Other', 'ops@other.test', 'other', '1001', NULL, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
         PRAGMA journal_mode = DELETE;",
    )
    .expect("second tenant on client 1001");
    drop(c);
    let err = db::migrate_file(&path).expect_err("shared client ids refused");
    let msg = err.to_string();
    assert!(msg.contains("client 1001 (tenants 1, 2)"), "{msg}");
    let c = Connection::open(&path).expect("open");
    let level: i64 = c
        .query_row(
            "SELECT max(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .expect("version");
    assert_eq!(level, 6, "the refused file was migrated");
    c.execute(
        "UPDATE tenants SET numhub_client_id = '1002' WHERE id = 2",
        [],
    )
    .expect("correct it");
    drop(c);
    assert_eq!(db::migrate_file(&path).expect("upgrade"), vec![7, 8, 9]);
}

/// V8: a dropped file whose upload had finished before the upgrade counts as out of
/// the inbox, so dropping it again is a duplicate, not a restart's follow-up.
#[test]
fn v8_marks_finished_drop_uploads_as_out_of_the_inbox() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v7-with-rows.sqlite");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v7.db");
    std::fs::copy(&fixture, &path).expect("copy fixture");
    assert_eq!(db::migrate_file(&path).expect("upgrade"), vec![8, 9]);
    let c = Connection::open(&path).expect("open");
    let (finished, marked): (i64, i64) = c
        .query_row(
            "SELECT count(*), count(l.left_inbox_at) FROM documents l
               JOIN numhub_documents d ON d.local_document_id = l.id
               JOIN jobs j ON j.document_id = d.id AND j.state = 'done'
              WHERE l.source = 'drop_folder'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    assert!(finished > 0, "the fixture has a finished drop upload");
    assert_eq!(marked, finished);
}

fn upgrade_keeps_rows(fixture: &Path) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("upgrade.db");
    std::fs::copy(fixture, &path).expect("copy fixture");
    let tables = |p: &Path| -> Vec<(String, i64)> {
        let c = Connection::open(p).expect("open");
        let names: Vec<String> = c
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'refinery_schema_history' ORDER BY name")
            .expect("prep")
            .query_map([], |r| r.get(0))
            .expect("q")
            .collect::<Result<_, _>>()
            .expect("names");
        names
            .into_iter()
            .map(|t| {
                let n: i64 = c
                    .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                    .expect("count");
                (t, n)
            })
            .collect()
    };
    let before = tables(&path);
    assert!(
        before.iter().all(|(_, n)| *n > 0),
        "{}: every table of the fixture should hold rows: {before:?}",
        fixture.display()
    );
    db::migrate_file(&path).expect("upgrade");
    let after = tables(&path);
    for (table, n) in &before {
        let now = after.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
        assert_eq!(now, Some(*n), "{}: {table} lost rows", fixture.display());
    }
    let c = Connection::open(&path).expect("open");
    let v: i64 = c
        .query_row(
            "SELECT max(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .expect("version");
    assert_eq!(v, db::latest_version());
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok");
    let fk: i64 = c
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .expect("fk check");
    assert_eq!(fk, 0);
}

/// Every column of every job, as SQLite holds it (payload as parsed JSON).
fn job_rows(conn: &Connection) -> Vec<BTreeMap<String, serde_json::Value>> {
    let mut stmt = conn
        .prepare("SELECT * FROM jobs ORDER BY id")
        .expect("jobs");
    let names: Vec<String> = stmt.column_names().map(String::from).collect();
    stmt.query_map([], |r| {
        let mut row = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let v = match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => serde_json::Value::Null,
                rusqlite::types::ValueRef::Integer(n) => serde_json::json!(n),
                rusqlite::types::ValueRef::Text(t) => {
                    let t = String::from_utf8_lossy(t).into_owned();
                    if name == "payload" {
                        serde_json::from_str(&t).expect("payload is JSON")
                    } else {
                        serde_json::Value::String(t)
                    }
                }
                other => panic!("{name}: unexpected {other:?}"),
            };
            row.insert(name.clone(), v);
        }
        Ok(row)
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// The pieces of `jobs` a rebuild could lose: its indexes and its foreign keys with
/// their ON DELETE actions.
/// The indexes (columns, unique) and foreign keys (column, table, ON DELETE) of `jobs`.
type JobsShape = (Vec<(Vec<String>, bool)>, Vec<(String, String, String)>);

fn jobs_shape(conn: &Connection) -> JobsShape {
    let mut fks: Vec<(String, String, String)> = conn
        .prepare("SELECT \"from\", \"table\", on_delete FROM pragma_foreign_key_list('jobs')")
        .expect("fk")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("q")
        .collect::<Result<_, _>>()
        .expect("fks");
    fks.sort();
    let mut idx = indexes(conn, "jobs");
    idx.sort();
    (idx, fks)
}

/// Migrates a copy of `fixture` (after `extra` SQL run on it at its own level) and
/// checks every job against what it was: the same columns with the same values, the
/// payload without `resume_since`, which is now the column of that name.
fn upgrade_jobs(fixture: &Path, extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v3.db");
    std::fs::copy(fixture, &path).expect("copy fixture");
    let before = {
        let c = Connection::open(&path).expect("open");
        c.execute_batch(extra).expect("extra rows at v3");
        (job_rows(&c), jobs_shape(&c))
    };
    db::migrate_file(&path).expect("upgrade");
    let c = Connection::open(&path).expect("open");
    let after = job_rows(&c);
    assert_eq!(after.len(), before.0.len(), "jobs lost or gained");
    for (old, new) in before.0.iter().zip(&after) {
        let mut expected = old.clone();
        let mut payload = expected["payload"].clone();
        let resume = payload
            .as_object_mut()
            .and_then(|m| m.remove("resume_since"))
            .unwrap_or(serde_json::Value::Null);
        expected.insert("payload".into(), payload);
        expected.insert("resume_since".into(), resume);
        assert_eq!(new, &expected, "job {} changed", old["id"]);
    }
    assert_eq!(
        jobs_shape(&c),
        before.1,
        "indexes or foreign keys of jobs changed"
    );
    (dir, path)
}

/// V4 rebuilds `jobs`: the committed v3 fixture's job comes through with its kind,
/// state, payload and (absent) `resume_since`, and reads as a typed job.
#[test]
fn the_v3_fixture_upgrades_with_every_job_intact() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v3-with-rows.sqlite");
    let (_dir, path) = upgrade_jobs(&fixture, "");
    let rt = crate::support::rt();
    let store = db::Store::open(&path, db::StoreOptions::default()).expect("open v4");
    let job = rt
        .block_on(store.read(|sql| db::jobs::get_any(sql, 1)))
        .expect("typed job");
    assert_eq!(job.kind(), db::JobKind::DocumentUpload);
    assert_eq!(job.state, db::JobState::Done);
    assert_eq!(
        job.payload,
        db::jobs::JobPayload::DocumentUpload(db::jobs::DocumentUpload {
            description: Some("LOA".into()),
            content_type: None,
        })
    );
    assert_eq!(job.resume_since, None);
}

/// The v3 fixture holds one `done` `document.upload` without `resume_since`; jobs of
/// every kind and state, two of them interrupted (`resume_since` in the payload, as
/// v3's `mark_interrupted` wrote it), are added to a copy at v3 and come through V4
/// the same way, with the AUTOINCREMENT high-water mark kept.
#[test]
fn v3_jobs_of_every_kind_and_state_upgrade_with_resume_since_as_a_column() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v3-with-rows.sqlite");
    let (e, i, d) = (
        "'01900000-0000-7000-8000-000000000001'",
        "'01900000-0000-7000-8000-000000000002'",
        "'01900000-0000-7000-8000-000000000003'",
    );
    let t = "'2026-01-03T00:00:00.000000Z'";
    let rows = [
        (
            "entity.create",
            e,
            "NULL",
            "NULL",
            r#"{"application":{"businessEntityDetails":{"legalBusinessName":"Acme Inc"},"section":1},"resume_since":"2026-01-02T10:00:00.000000Z"}"#,
            "queued",
        ),
        (
            "entity.update",
            e,
            "NULL",
            "NULL",
            r#"{"application":{"section":2,"status":"Saved"}}"#,
            "failed",
        ),
        ("entity.submit", e, "NULL", "NULL", "{}", "running"),
        (
            "document.upload",
            e,
            "NULL",
            d,
            r#"{"description":null,"content_type":"application/pdf","resume_since":"2026-01-02T11:00:00.000000Z"}"#,
            "needs_attention",
        ),
        ("document.delete", e, "NULL", d, "{}", "dead"),
        (
            "identity.update",
            e,
            i,
            "NULL",
            r#"{"display_name":"ACME","call_reason":null,"logo_url":null}"#,
            "done",
        ),
        ("identity.deactivate", e, i, "NULL", "{}", "queued"),
        (
            "identity.numbers.add",
            e,
            i,
            "NULL",
            r#"{"phone_numbers":["+15551230000"]}"#,
            "failed",
        ),
        (
            "identity.numbers.remove",
            e,
            i,
            "NULL",
            r#"{"phone_numbers":["+15551234567"]}"#,
            "queued",
        ),
    ];
    let mut extra = String::from("PRAGMA foreign_keys = ON;\n");
    for (n, (kind, entity, identity, document, payload, state)) in rows.iter().enumerate() {
        extra.push_str(&format!(
            "INSERT INTO jobs (id, tenant_id, kind, entity_id, identity_id, document_id, payload, state, attempts, next_attempt_at, started_at, last_error, created_at, updated_at) \
             VALUES ({id}, 1, '{kind}', {entity}, {identity}, {document}, '{payload}', '{state}', {n}, {t}, {t}, 'e{n}', {t}, {t});\n",
            id = n + 10,
        ));
    }
    // A purged job above every kept one: its id must never be handed out again.
    extra.push_str(&format!(
        "INSERT INTO jobs (id, tenant_id, kind, entity_id, payload, state, next_attempt_at, created_at, updated_at) \
         VALUES (99, 1, 'entity.submit', {e}, '{{}}', 'done', {t}, {t}, {t}); DELETE FROM jobs WHERE id = 99;"
    ));
    let (_dir, path) = upgrade_jobs(&fixture, &extra);
    let c = Connection::open(&path).expect("open");
    let resumed: Vec<(i64, String)> = c
        .prepare("SELECT id, resume_since FROM jobs WHERE resume_since IS NOT NULL ORDER BY id")
        .expect("prep")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("q")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        resumed,
        vec![
            (10, "2026-01-02T10:00:00.000000Z".to_string()),
            (13, "2026-01-02T11:00:00.000000Z".to_string())
        ]
    );
    drop(c);
    let rt = crate::support::rt();
    let store = db::Store::open(&path, db::StoreOptions::default()).expect("open v4");
    let jobs = rt
        .block_on(store.read(|sql| db::jobs::list(sql, None, None, None, Some(100))))
        .expect("every job reads typed")
        .items;
    let mut kinds: Vec<(&str, &str)> = jobs
        .iter()
        .filter(|j| j.id >= 10)
        .map(|j| (j.kind().as_str(), j.state.as_str()))
        .collect();
    kinds.reverse();
    let expected: Vec<(&str, &str)> = rows.iter().map(|r| (r.0, r.5)).collect();
    assert_eq!(kinds, expected);
    let next = rt
        .block_on(store.write(|tx| {
            db::jobs::enqueue(
                tx,
                db::jobs::NewJob::on_entity(
                    1,
                    "01900000-0000-7000-8000-000000000001",
                    db::jobs::JobPayload::EntitySubmit(db::jobs::Nothing {}),
                ),
            )
        }))
        .expect("enqueue");
    assert_eq!(next.id, 100, "a purged job's id was handed out again");
}

/// Writes tests/fixtures/v{N}-with-rows.sqlite at the current schema level N, with
/// rows in every table. Run by hand before adding migration N+1:
/// `cargo test --test it make_fixture -- --ignored`, then commit the file.
#[test]
#[ignore]
fn make_fixture() {
    let level = db::latest_version();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/v{level}-with-rows.sqlite"));
    let _ = std::fs::remove_file(&path);
    db::migrate_file(&path).expect("migrate");
    let c = Connection::open(&path).expect("open");
    c.execute_batch(
        "PRAGMA foreign_keys = ON;
         INSERT INTO tenants VALUES (1, 'Acme', 'ops@acme.test', 'acme', '1001', NULL, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
         INSERT INTO numhub_entities VALUES ('01900000-0000-7000-8000-000000000001', 1, NULL, '6f1c1d52-8c43-4a53-9d9a-2a1b1e0c0f01', 'EID1', 'enterprise', 'Acme Inc', 'approved', 'approved', 'A', '{\"status\":\"Complete\"}', '2026-01-01T00:00:00.000000Z', '2026-01-02T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', '2026-01-02T00:00:00.000000Z');
         INSERT INTO brands VALUES (1, 1, 'Acme', 'ACME', '6f1c1d52-8c43-4a53-9d9a-2a1b1e0c0f01', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
         UPDATE numhub_entities SET brand_id = 1;
         INSERT INTO numhub_identities (id, numhub_entity_id, numhub_identity_id, display_name, call_reason, logo_url, status, rich_call_data, phone_numbers, created_at, updated_at) VALUES ('01900000-0000-7000-8000-000000000002', '01900000-0000-7000-8000-000000000001', '0b7f3c1e-0000-4000-8000-000000000002', 'ACME SUPPORT', 'Support', NULL, 'active', NULL, '[\"+15551234567\"]', '2026-01-02T00:00:00.000000Z', '2026-01-02T00:00:00.000000Z');
         INSERT INTO brand_phone_numbers VALUES (1, 1, '+15551234567', '01900000-0000-7000-8000-000000000002', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
         INSERT INTO documents (id, tenant_id, original_filename, size_bytes, sha256, content_type, source, source_path, created_at, updated_at) VALUES (1, 1, 'loa.pdf', 1234, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'application/pdf', 'drop_folder', '/var/lib/numhubd/drop/loa.pdf', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
         INSERT INTO numhub_documents VALUES ('01900000-0000-7000-8000-000000000003', '01900000-0000-7000-8000-000000000001', 1, '1d4f0000-0000-4000-8000-000000000003', 'loa', 'loa.pdf', 'uploaded', NULL, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
         INSERT INTO numhub_sync_logs VALUES ('01900000-0000-7000-8000-000000000004', 1, '01900000-0000-7000-8000-000000000001', NULL, '/api/v1/application', 'POST', 'outbound', 200, '{}', '{}', 12, NULL, 1, '2026-01-01T00:00:00.000000Z');
         INSERT INTO numhub_tokens VALUES (1, NULL, 'access', '-----BEGIN AGE ENCRYPTED FILE-----\nfixture\n-----END AGE ENCRYPTED FILE-----', NULL, '2026-01-02T00:00:00.000000Z', NULL, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
",
    )
    .expect("V1 rows");
    if level >= 2 {
        c.execute_batch(
            "INSERT INTO jobs (id, tenant_id, kind, entity_id, identity_id, document_id, payload, state, attempts, next_attempt_at, started_at, last_error, created_at, updated_at)
                 VALUES (1, 1, 'document.upload', '01900000-0000-7000-8000-000000000001', NULL, '01900000-0000-7000-8000-000000000003', '{\"description\":\"LOA\"}', 'done', 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', NULL, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
             INSERT INTO numhub_credentials VALUES (1, 1, '-----BEGIN AGE ENCRYPTED FILE-----\nfixture\n-----END AGE ENCRYPTED FILE-----', '-----BEGIN AGE ENCRYPTED FILE-----\nfixture\n-----END AGE ENCRYPTED FILE-----', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
             INSERT INTO numhub_login_blocks VALUES ('tenant:1', 'NumHub answered 403', 403, '-----BEGIN AGE ENCRYPTED FILE-----\nfixture\n-----END AGE ENCRYPTED FILE-----', '2026-01-01T00:00:00.000000Z');",
        )
        .expect("V2 rows");
    }
    if level >= 4 {
        // A job waiting on a blocked login after an interrupted attempt: the states
        // and the column V4 added.
        c.execute_batch(
            "INSERT INTO jobs (id, tenant_id, kind, entity_id, payload, state, attempts, next_attempt_at, started_at, resume_since, last_error, created_at, updated_at)
                 VALUES (2, 1, 'entity.submit', '01900000-0000-7000-8000-000000000001', '{}', 'waiting', 0, '2026-01-01T00:00:30.000000Z', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 'the NumHub login of tenant 1 is blocked', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');",
        )
        .expect("V4 rows");
    }
    if level >= 5 {
        c.execute_batch(
            "INSERT INTO numhub_origin VALUES (1, 'https://brandidentity-api.numhub.com/api/v1/', '2026-01-01T00:00:00.000000Z');",
        )
        .expect("V5 rows");
    }
    if level >= 6 {
        // The mark `numhubctl backup` leaves in its copy.
        c.execute_batch(
            "INSERT INTO backup_marker VALUES (1, '2026-01-02T00:00:00.000000Z', '/var/lib/numhubd/numhubd.db');",
        )
        .expect("V6 rows");
    }
    if level >= 7 {
        // NumHub's dirId and last answer on the identity, and a review under way.
        c.execute_batch(
            "UPDATE numhub_identities SET dir_id = 'DIR-1', api_response = '{\"isFeeChecked\":true}';
             INSERT INTO numhub_reviews VALUES ('01900000-0000-7000-8000-000000000001', 'Application flagged', '[{\"sectionNumber\":2,\"sectionName\":\"Business\",\"comments\":\"EIN does not match\"}]', '2026-01-02T00:00:00.000000Z', '2026-01-02T00:00:00.000000Z');",
        )
        .expect("V7 rows");
    }
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
        .expect("checkpoint");
}
