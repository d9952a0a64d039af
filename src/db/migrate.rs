//! Schema migrations: refinery, with the SQL files of `migrations/sqlite` and
//! `migrations/mysql` embedded in the binary. Run at every daemon start and by
//! `numhubd migrate`.
//!
//! Each engine has its own sequence: MySQL's began with the schema as SQLite's V8 left
//! it. MySQL DDL is not transactional, so every MySQL migration must be safe to run
//! again after failing halfway (`migrations/mysql/README.md`); processes migrating one
//! server database take turns through a named lock.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::engine::{args, Conn, Engine};
use super::{DbError, Result, Server, Sql};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

mod embedded_mysql {
    refinery::embed_migrations!("migrations/mysql");
}

/// How long a start waits for another process's migration of the same database.
const MIGRATION_LOCK_SECS: i64 = 120;

/// The newest schema version this binary knows.
pub fn latest_version() -> i64 {
    newest(&embedded::migrations::runner())
}

/// The newest schema version this binary knows for MySQL (equal to SQLite's: a
/// version means the same schema on both engines).
fn latest_server_version() -> i64 {
    newest(&embedded_mysql::migrations::runner())
}

fn newest(runner: &refinery::Runner) -> i64 {
    runner
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// The schema version recorded in the database (0 for a fresh one).
pub fn schema_version(sql: &Sql<'_>) -> Result<i64> {
    match sql.conn {
        Conn::Sqlite(conn) => recorded_version(conn),
        Conn::Mysql(_) => recorded_server_version(sql.conn),
    }
}

fn recorded_server_version(conn: &Conn) -> Result<i64> {
    let has_history: bool = conn.one(
        "SELECT COUNT(*) > 0 FROM information_schema.TABLES
         WHERE table_schema = DATABASE() AND table_name = 'refinery_schema_history'",
        args![],
        |r| r.get(0),
    )?;
    if !has_history {
        return Ok(0);
    }
    let v: Option<i64> = conn.one(
        "SELECT MAX(version) FROM refinery_schema_history",
        args![],
        |r| r.get(0),
    )?;
    Ok(v.unwrap_or(0))
}

/// Applies every migration a server database lacks, one process at a time; refuses
/// a database migrated by a newer numhubd before changing anything.
pub(super) fn run_on_server(conn: &Conn, server: &Server) -> Result<Vec<i64>> {
    debug_assert_eq!(conn.engine(), Engine::Mysql);
    let Conn::Mysql(my) = conn else {
        return Err(DbError::Migration("not a server connection".into()));
    };
    let got: Option<i64> = conn.one(
        "SELECT GET_LOCK('numhubd.migrate', ?1)",
        args![MIGRATION_LOCK_SECS],
        |r| r.get(0),
    )?;
    if got != Some(1) {
        return Err(DbError::Migration(format!(
            "another process has been migrating {} for {MIGRATION_LOCK_SECS} s; try again when it is done",
            server.shown()
        )
        .into()));
    }
    let result = migrate_locked(conn, my);
    let _ = conn.batch("DO RELEASE_LOCK('numhubd.migrate')");
    result
}

/// Refuses a server database migrated by a newer numhubd, changing nothing.
pub(super) fn refuse_newer_on_server(conn: &Conn) -> Result<()> {
    let (found, known) = (recorded_server_version(conn)?, latest_server_version());
    if found > known {
        return Err(DbError::SchemaTooNew { found, known });
    }
    Ok(())
}

fn migrate_locked(conn: &Conn, my: &super::engine::mysql::MyConn) -> Result<Vec<i64>> {
    refuse_newer_on_server(conn)?;
    let report = my
        .migrate(embedded_mysql::migrations::runner())
        .map_err(|e| DbError::Migration(e.into()))?;
    Ok(applied_versions(&report))
}

/// The versions a run applied, each logged.
fn applied_versions(report: &refinery::Report) -> Vec<i64> {
    let applied: Vec<i64> = report
        .applied_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .collect();
    for v in &applied {
        tracing::info!(version = v, "applied schema migration");
    }
    applied
}

fn recorded_version(conn: &Connection) -> Result<i64> {
    let has_history: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?;
    if !has_history {
        return Ok(0);
    }
    let v: Option<i64> = conn
        .query_row(
            "SELECT MAX(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(v.unwrap_or(0))
}

/// Refuses a file written by a newer numhubd, opening it read-only so that the
/// refusal itself changes nothing (not even the journal mode).
pub(super) fn refuse_newer(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| {
            DbError::Open {
                path: path.display().to_string(),
                source: e.into(),
            }
        })?;
    let found = recorded_version(&conn)?;
    let known = latest_version();
    if found > known {
        return Err(DbError::SchemaTooNew { found, known });
    }
    Ok(())
}

/// Applies every migration the file lacks; returns the versions applied.
pub(super) fn run(conn: &mut Connection) -> Result<Vec<i64>> {
    refuse_shared_client_ids(conn)?;
    let report = embedded::migrations::runner()
        .run(conn)
        .map_err(|e| DbError::Migration(e.into()))?;
    Ok(applied_versions(&report))
}

/// V7 makes `tenants.numhub_client_id` unique. A file where two tenants share a
/// client id is refused before the migration runs, naming each shared id and its
/// tenants, so the operator knows which to correct (SQLite's own failure would name
/// only the index). Nothing is changed.
fn refuse_shared_client_ids(conn: &Connection) -> Result<()> {
    let v = recorded_version(conn)?;
    if v == 0 || v >= 7 {
        return Ok(());
    }
    let mut stmt = conn.prepare(
        "SELECT min(numhub_client_id), group_concat(id, ', ') FROM tenants
         WHERE numhub_client_id IS NOT NULL
         GROUP BY CAST(numhub_client_id AS INTEGER) HAVING count(*) > 1 ORDER BY 1",
    )?;
    let shared: Vec<String> = stmt
        .query_map([], |r| {
            let (client, tenants): (String, String) = (r.get(0)?, r.get(1)?);
            Ok(format!("client {client} (tenants {tenants})"))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if shared.is_empty() {
        return Ok(());
    }
    Err(DbError::Migration(format!(
        "migration 7 makes tenants.numhub_client_id unique, and tenants share NumHub client ids: {}; \
         give each tenant its own client id (or clear it) with the previous numhubd, then start again",
        shared.join("; ")
    )
    .into()))
}

/// `numhubd migrate` on either engine: applies what is missing; returns the versions
/// applied and the newest this binary knows for that engine. A server database is
/// held alone (no daemon on it) while it migrates.
pub fn migrate_at(location: &super::Location) -> Result<(Vec<i64>, i64)> {
    use super::engine::mysql::{MyConn, Role};
    match location {
        super::Location::File(path) => Ok((migrate_file(path)?, latest_version())),
        super::Location::Server(server) => {
            let _holder = super::hold(location, super::Claim::Offline)?;
            let my = MyConn::connect(server, Role::Own)?;
            let conn = Conn::Mysql(my);
            let applied = run_on_server(&conn, server)?;
            conn.close()?;
            Ok((applied, latest_server_version()))
        }
    }
}

/// `numhubd migrate`: opens the file, applies what is missing, closes it.
pub fn migrate_file(path: &Path) -> Result<Vec<i64>> {
    refuse_newer(path)?;
    let mut conn = super::open_connection(path, false, &super::StoreOptions::default())?;
    let applied = run(&mut conn)?;
    conn.close().map_err(|(_, e)| DbError::Sqlite(e))?;
    Ok(applied)
}
