//! The tables `copy-store` moves, in foreign-key order, each column with the kind of
//! value it holds — and the check that a live database has exactly these.
//!
//! The kinds cannot be read from the SQLite schema alone (a timestamp is declared
//! TEXT there), so they are written down here once. [`check_schema`] compares this
//! list with a database before anything is copied, and the tests run it on a fresh
//! database of each engine: a migration that adds, renames or retypes a column
//! without changing this list stops the copy instead of losing the column.

use crate::db::engine::{args, Engine};
use crate::db::{Result, Sql};

/// What a column holds, which decides how it is read, bound and hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    /// A timestamp: RFC 3339 text on SQLite, `TIMESTAMP(6)`/`DATETIME(6)` on MySQL.
    Time,
}

/// Who gives a table's rows their ids, which decides what the copy carries over
/// besides the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// The caller (BrandCall's tenant id, a uuid, an account, a one-row table).
    Given,
    /// The database (`INTEGER PRIMARY KEY` / `AUTO_INCREMENT`).
    Assigned,
    /// The database, never handing out an id again once used (SQLite's
    /// `AUTOINCREMENT`, whose high-water mark sits in `sqlite_sequence`).
    AssignedOnce,
}

pub struct Table {
    pub name: &'static str,
    /// The columns in schema order; the first is the primary key.
    pub columns: &'static [(&'static str, Kind)],
    pub ids: Ids,
    /// A column referencing a table copied later (the one cycle, brands ↔
    /// numhub_entities): written NULL at first, set once its target rows are in.
    pub deferred: Option<&'static str>,
}

impl Table {
    pub fn key(&self) -> &'static str {
        self.columns[0].0
    }

    pub fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }
}

use Kind::{Int, Text, Time};

/// Every table numhubd owns, parents before children. Not copied: refinery's
/// history (each side has its own migrations), `sqlite_sequence` (carried as each
/// table's high-water mark), the MySQL engine's own `numhubd_commits` and
/// `numhubd_instance`, the cluster's lease and nodes (who runs now, not data), the
/// spool in the store (a server store's copies of taken files: on SQLite the spool
/// folder holds them, and a copy keeps that folder), the events other hosts tail
/// (minutes old at most), and the shared NumHub budget and login leases (live pacing).
pub static TABLES: &[Table] = &[
    Table {
        name: "tenants",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("email", Text),
            ("slug", Text),
            ("numhub_client_id", Text),
            ("numhub_osp_id", Text),
            ("numhub_enabled", Int),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        ids: Ids::Given,
        deferred: None,
    },
    Table {
        name: "brands",
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("name", Text),
            ("display_name", Text),
            ("numhub_entity_id", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        ids: Ids::Assigned,
        deferred: Some("numhub_entity_id"),
    },
    Table {
        name: "numhub_tokens",
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("token_type", Text),
            ("access_token", Text),
            ("refresh_token", Text),
            ("expires_at", Time),
            ("scopes", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        ids: Ids::AssignedOnce,
        deferred: None,
    },
    Table {
        name: "numhub_entities",
        columns: &[
            ("id", Text),
            ("tenant_id", Int),
            ("brand_id", Int),
            ("numhub_entity_id", Text),
            ("numhub_eid", Text),
            ("entity_type", Text),
            ("company_name", Text),
            ("status", Text),
            ("vetting_status", Text),
            ("attestation_level", Text),
            ("api_response", Text),
            ("submitted_at", Time),
            ("approved_at", Time),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        ids: Ids::Given,
        deferred: None,
    },
    Table {
        name: "numhub_identities",
        columns: &[
            ("id", Text),
            ("numhub_entity_id", Text),
            ("numhub_identity_id", Text),
            ("display_name", Text),
            ("call_reason", Text),
            ("logo_url", Text),
            ("status", Text),
            ("rich_call_data", Text),
            ("phone_numbers", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("dir_id", Text),
            ("api_response", Text),
        ],
        ids: Ids::Given,
        deferred: None,
    },
    Table {
        name: "brand_phone_numbers",
        columns: &[
            ("id", Int),
            ("brand_id", Int),
            ("phone_number", Text),
            ("numhub_identity_id", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        ids: Ids::Assigned,
        deferred: None,
    },
    Table {
        name: "documents",
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("original_filename", Text),
            ("size_bytes", Int),
            ("sha256", Text),
            ("content_type", Text),
            ("source", Text),
            ("source_path", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("left_inbox_at", Time),
        ],
        ids: Ids::Assigned,
        deferred: None,
    },
    Table {
        name: "numhub_documents",
        columns: &[
            ("id", Text),
            ("numhub_entity_id", Text),
            ("local_document_id", Int),
            ("numhub_document_id", Text),
            ("document_type", Text),
            ("filename", Text),
            ("status", Text),
            ("api_response", Text),
            ("uploaded_at", Time),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        ids: Ids::Given,
        deferred: None,
    },
    Table {
        name: "numhub_sync_logs",
        columns: &[
            ("id", Text),
            ("tenant_id", Int),
            ("numhub_entity_id", Text),
            ("numhub_identity_id", Text),
            ("endpoint", Text),
            ("method", Text),
            ("direction", Text),
            ("status_code", Int),
            ("request_payload", Text),
            ("response_payload", Text),
            ("response_time_ms", Int),
            ("error_message", Text),
            ("success", Int),
            ("created_at", Time),
        ],
        ids: Ids::Given,
        deferred: None,
    },
    Table {
        name: "jobs",
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("kind", Text),
            ("entity_id", Text),
            ("identity_id", Text),
            ("document_id", Text),
            ("payload", Text),
            ("state", Text),
            ("attempts", Int),
            ("next_attempt_at", Time),
            ("started_at", Time),
            ("resume_since", Time),
            ("last_error", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        ids: Ids::AssignedOnce,
        deferred: None,
    },
    Table {
        name: "numhub_credentials",
        columns: &[
            ("id", Int),
            ("tenant_id", Int),
            ("email_armored", Text),
            ("password_armored", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        ids: Ids::Assigned,
        deferred: None,
    },
    Table {
        name: "numhub_login_blocks",
        columns: &[
            ("account", Text),
            ("reason", Text),
            ("status_code", Int),
            ("credentials_armored", Text),
            ("blocked_at", Time),
        ],
        ids: Ids::Given,
        deferred: None,
    },
    Table {
        name: "numhub_origin",
        columns: &[("id", Int), ("origin", Text), ("recorded_at", Time)],
        ids: Ids::Given,
        deferred: None,
    },
    Table {
        name: "backup_marker",
        columns: &[("id", Int), ("taken_at", Time), ("source_path", Text)],
        ids: Ids::Given,
        deferred: None,
    },
    Table {
        name: "numhub_reviews",
        columns: &[
            ("numhub_entity_id", Text),
            ("message", Text),
            ("flagged_comments", Text),
            ("flagged_at", Time),
            ("updated_at", Time),
        ],
        ids: Ids::Given,
        deferred: None,
    },
];

/// Tables a database has that the copy leaves alone, on purpose.
const NOT_COPIED: &[&str] = &[
    "refinery_schema_history",
    "sqlite_sequence",
    "numhubd_commits",
    "numhubd_instance",
    "numhubd_lease",
    "numhubd_nodes",
    "numhubd_spool",
    "numhubd_spool_chunks",
    "numhubd_events",
    // The shared NumHub budget and login leases: live pacing, not data.
    "numhub_budget",
    "numhub_budget_starts",
    "numhub_budget_waiters",
    "numhub_tenant_spends",
    "numhub_login_leases",
];

/// A column as the database declares it.
struct Declared {
    name: String,
    /// SQLite: the declared type; MySQL: `DATA_TYPE`.
    sql_type: String,
    /// MySQL: `EXTRA` (auto_increment, generated, invisible); SQLite: empty.
    extra: String,
}

/// How the live schema differs from [`TABLES`]: one line per difference, none when
/// they agree.
pub fn check_schema(sql: &Sql<'_>) -> Result<Vec<String>> {
    let mut differences = Vec::new();
    let tables = table_names(sql)?;
    for name in &tables {
        let known = TABLES.iter().any(|t| t.name == name);
        if !known && !NOT_COPIED.contains(&name.as_str()) && !name.starts_with("sqlite_") {
            differences.push(format!("table {name} is not in copy-store's list"));
        }
    }
    for table in TABLES {
        if !tables.iter().any(|t| t == table.name) {
            differences.push(format!("table {} is missing", table.name));
            continue;
        }
        differences.extend(check_table(sql, table)?);
    }
    Ok(differences)
}

fn check_table(sql: &Sql<'_>, table: &Table) -> Result<Vec<String>> {
    let engine = sql.engine();
    let declared = declared_columns(sql, table.name)?;
    let mut differences = Vec::new();
    let names: Vec<&str> = declared.iter().map(|c| c.name.as_str()).collect();
    let want: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
    if names != want {
        differences.push(format!(
            "{}: columns are ({}), copy-store knows ({})",
            table.name,
            names.join(", "),
            want.join(", ")
        ));
        return Ok(differences);
    }
    for (c, (name, kind)) in declared.iter().zip(table.columns) {
        if !type_fits(engine, *kind, name, &c.sql_type) {
            differences.push(format!(
                "{}.{name}: declared {}, copy-store reads it as {kind:?}",
                table.name, c.sql_type
            ));
        }
    }
    if let Some(d) = ids_difference(sql, table, &declared)? {
        differences.push(d);
    }
    Ok(differences)
}

/// Whether a declared type holds what `kind` says. On SQLite a timestamp is TEXT
/// known by its name (`*_at`, `resume_since`): the schema's own convention.
fn type_fits(engine: Engine, kind: Kind, name: &str, sql_type: &str) -> bool {
    let t = sql_type.to_ascii_lowercase();
    match engine {
        Engine::Sqlite => match kind {
            Kind::Int => t == "integer",
            Kind::Text => t == "text" && !is_time_name(name),
            Kind::Time => t == "text" && is_time_name(name),
        },
        Engine::Mysql => match kind {
            Kind::Int => matches!(t.as_str(), "bigint" | "int" | "smallint" | "tinyint"),
            Kind::Text => matches!(
                t.as_str(),
                "char" | "varchar" | "text" | "mediumtext" | "longtext"
            ),
            Kind::Time => matches!(t.as_str(), "timestamp" | "datetime"),
        },
    }
}

fn is_time_name(name: &str) -> bool {
    name.ends_with("_at") || name == "resume_since"
}

/// Whether the database gives ids the way [`Table::ids`] says: MySQL's
/// AUTO_INCREMENT on every assigned key, SQLite's AUTOINCREMENT on the keys never
/// handed out twice (any SQLite INTEGER PRIMARY KEY is assigned when left out).
fn ids_difference(sql: &Sql<'_>, table: &Table, declared: &[Declared]) -> Result<Option<String>> {
    let (found, want, what) = match sql.engine() {
        Engine::Mysql => (
            declared[0].extra.contains("auto_increment"),
            table.ids != Ids::Given,
            "AUTO_INCREMENT",
        ),
        Engine::Sqlite => {
            let ddl: String = sql.one(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                args![table.name],
                |r| r.get(0),
            )?;
            (
                ddl.contains("AUTOINCREMENT"),
                table.ids == Ids::AssignedOnce,
                "AUTOINCREMENT",
            )
        }
    };
    Ok((found != want).then(|| {
        let not = |b: bool| if b { "" } else { "not " };
        format!(
            "{}.{}: {}{what} in the schema, {}{what} in copy-store's list",
            table.name,
            table.key(),
            not(found),
            not(want)
        )
    }))
}

fn table_names(sql: &Sql<'_>) -> Result<Vec<String>> {
    let statement = match sql.engine() {
        Engine::Sqlite => "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
        Engine::Mysql => {
            "SELECT table_name FROM information_schema.TABLES
             WHERE table_schema = DATABASE() ORDER BY table_name"
        }
    };
    sql.rows(statement, args![], |r| r.get(0))
}

/// The columns the copy reads and writes, in order. A generated column (MySQL's
/// invisible `tenants.numhub_client_id_canonical`) is the server's to compute.
fn declared_columns(sql: &Sql<'_>, table: &str) -> Result<Vec<Declared>> {
    let statement = match sql.engine() {
        Engine::Sqlite => "SELECT name, type, '' FROM pragma_table_info(?1) ORDER BY cid",
        Engine::Mysql => {
            "SELECT column_name, data_type, LOWER(extra) FROM information_schema.COLUMNS
             WHERE table_schema = DATABASE() AND table_name = ?1
               AND LOWER(extra) NOT LIKE '%generated%'
             ORDER BY ordinal_position"
        }
    };
    sql.rows(statement, args![table], |r| {
        Ok(Declared {
            name: r.get(0)?,
            sql_type: r.get(1)?,
            extra: r.get(2)?,
        })
    })
}
