//! `numhub_origin`: which NumHub the database talks to — the embedded sandbox or a
//! base URL — recorded before its first exchange, so that `serve --sandbox` never
//! runs against a database that has talked to a real NumHub (and a real `serve` not
//! against a sandbox's or another NumHub's). [`look`] reads it without changing the
//! file, before migrations run.

use std::fmt;

use rusqlite::{Connection, OpenFlags};

use super::engine::mysql::{MyConn, Role};
use super::engine::{args, ts, Conn, Engine};
use super::{now_ts, DbError, Location, Result, Sql, Tx};

/// What the database talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumhubOrigin {
    /// `serve --sandbox` (its port changes per run: the kind is what counts).
    Sandbox,
    /// A configured `[numhub] base_url`, as the parsed URL writes it.
    Url(String),
}

const SANDBOX: &str = "sandbox";

impl NumhubOrigin {
    fn as_str(&self) -> &str {
        match self {
            NumhubOrigin::Sandbox => SANDBOX,
            NumhubOrigin::Url(url) => url,
        }
    }

    fn from_column(text: String) -> NumhubOrigin {
        match text.as_str() {
            SANDBOX => NumhubOrigin::Sandbox,
            _ => NumhubOrigin::Url(text),
        }
    }
}

impl fmt::Display for NumhubOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumhubOrigin::Sandbox => f.write_str("the embedded sandbox (serve --sandbox)"),
            NumhubOrigin::Url(url) => write!(f, "NumHub at {url}"),
        }
    }
}

/// What a database file says about its NumHub, before it is migrated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOrigin {
    /// No file yet, or one that has never talked to NumHub.
    Untouched,
    Recorded(NumhubOrigin),
    /// Written before origins were recorded, with NumHub traffic in it (`what`).
    Unrecorded {
        what: &'static str,
    },
}

/// Reads the database's origin without changing it (a SQLite file is opened
/// read-only and left byte for byte as it was).
pub fn look(location: &Location) -> Result<FileOrigin> {
    let conn = match location {
        Location::File(path) if !path.exists() => return Ok(FileOrigin::Untouched),
        Location::File(path) => {
            let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| DbError::Open {
                    path: path.display().to_string(),
                    source: e.into(),
                })?;
            Conn::Sqlite(conn)
        }
        Location::Server(server) => Conn::Mysql(MyConn::connect(server, Role::Reader)?),
    };
    let found = look_in(&Sql { conn: &conn });
    let _ = conn.close();
    found
}

fn look_in(sql: &Sql<'_>) -> Result<FileOrigin> {
    let has = |table: &str| -> Result<bool> {
        let statement = match sql.engine() {
            Engine::Sqlite => {
                "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)"
            }
            Engine::Mysql => {
                "SELECT EXISTS (SELECT 1 FROM information_schema.TABLES
                 WHERE table_schema = DATABASE() AND table_name = ?1)"
            }
        };
        sql.one(statement, args![table], |r| r.get(0))
    };
    if has("numhub_origin")? {
        if let Some(origin) = get(sql)? {
            return Ok(FileOrigin::Recorded(origin));
        }
    }
    // Every trace an exchange leaves: the audit row of each request, a stored token,
    // an id only NumHub assigns.
    let traces: [(&str, &str, &'static str); 4] = [
        (
            "numhub_sync_logs",
            "SELECT EXISTS (SELECT 1 FROM numhub_sync_logs)",
            "audit rows",
        ),
        (
            "numhub_tokens",
            "SELECT EXISTS (SELECT 1 FROM numhub_tokens)",
            "NumHub tokens",
        ),
        (
            "numhub_entities",
            "SELECT EXISTS (SELECT 1 FROM numhub_entities WHERE numhub_entity_id IS NOT NULL)",
            "NumHub application ids",
        ),
        (
            "numhub_identities",
            "SELECT EXISTS (SELECT 1 FROM numhub_identities)",
            "NumHub display identities",
        ),
    ];
    for (table, query, what) in traces {
        if has(table)? && sql.one(query, args![], |r| r.get::<bool>(0))? {
            return Ok(FileOrigin::Unrecorded { what });
        }
    }
    Ok(FileOrigin::Untouched)
}

pub fn get(sql: &Sql<'_>) -> Result<Option<NumhubOrigin>> {
    Ok(sql
        .row(
            "SELECT origin FROM numhub_origin WHERE id = 1",
            args![],
            |r| r.get::<String>(0),
        )?
        .map(NumhubOrigin::from_column))
}

/// Records `origin` unless one is recorded already; returns the one in force.
pub fn record_if_absent(tx: &Tx<'_>, origin: &NumhubOrigin) -> Result<NumhubOrigin> {
    let statement = match tx.engine() {
        Engine::Sqlite => {
            "INSERT INTO numhub_origin (id, origin, recorded_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO NOTHING"
        }
        Engine::Mysql => {
            "INSERT INTO numhub_origin (id, origin, recorded_at) VALUES (1, ?1, ?2)
             ON DUPLICATE KEY UPDATE id = id"
        }
    };
    tx.execute(statement, args![origin.as_str(), ts(&now_ts())])?;
    Ok(get(tx)?.unwrap_or_else(|| origin.clone()))
}

/// `numhubd adopt-origin`: the operator says this database now talks to `url`.
pub fn set_url(tx: &Tx<'_>, url: &str) -> Result<()> {
    let statement = match tx.engine() {
        Engine::Sqlite => {
            "INSERT INTO numhub_origin (id, origin, recorded_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET origin = excluded.origin, recorded_at = excluded.recorded_at"
        }
        Engine::Mysql => {
            "INSERT INTO numhub_origin (id, origin, recorded_at) VALUES (1, ?1, ?2)
             ON DUPLICATE KEY UPDATE origin = VALUES(origin), recorded_at = VALUES(recorded_at)"
        }
    };
    tx.execute(statement, args![url, ts(&now_ts())])?;
    Ok(())
}
