//! `tenants`: BrandCall's tenants, with the three NumHub columns.

use super::engine::{args, read_row, ts, Engine, Row};
use super::{
    check_len, check_not_blank, int_cursor, json_values, now_ts, page_limit, Page, Result, Sql, Tx,
};
use crate::db::DbError;

/// The row as the protocol shows it: one type for the table and the wire.
pub use crate::api::Tenant;

/// What a caller may set (`tenant.upsert`'s params). The id is BrandCall's own
/// tenant id.
pub use crate::api::TenantFields;

impl TenantFields {
    fn validate(&self) -> Result<()> {
        if self.id <= 0 {
            return Err(DbError::invalid("id", "must be a positive integer"));
        }
        check_not_blank("name", &self.name)?;
        check_len("name", &self.name, 255)?;
        if let Some(email) = &self.email {
            check_len("email", email, 255)?;
        }
        if let Some(slug) = &self.slug {
            check_len("slug", slug, 255)?;
        }
        if let Some(client) = &self.numhub_client_id {
            validate_client_id(client)?;
        }
        if let Some(osp) = &self.numhub_osp_id {
            check_len("numhub_osp_id", osp, 100)?;
        }
        Ok(())
    }
}

/// NumHub's `client-id` header is an int32: a value that is not one can never be sent.
pub fn validate_client_id(value: &str) -> Result<i32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DbError::invalid(
            "numhub_client_id",
            format!("{value:?} is not a non-negative int32"),
        ));
    }
    value.parse::<i32>().map_err(|_| {
        DbError::invalid(
            "numhub_client_id",
            format!("{value:?} does not fit NumHub's int32 client-id"),
        )
    })
}

const COLUMNS: &str = "id, name, email, slug, numhub_client_id, numhub_osp_id, numhub_enabled, created_at, updated_at";

fn from_row(r: &Row<'_>) -> Result<Tenant> {
    read_row!(r => Tenant {
        id, name, email, slug, numhub_client_id, numhub_osp_id, numhub_enabled, created_at,
        updated_at,
    })
}

/// Creates the tenant or replaces its fields; `numhub_enabled` keeps its value when
/// not given.
pub fn upsert(tx: &Tx<'_>, input: TenantFields) -> Result<Tenant> {
    // On the writer thread, inside its transaction: a writer stuck here is a writer
    // stuck in SQLite (the watchdog test).
    crate::killpoint::hang("tenant.upsert");
    input.validate()?;
    let now = now_ts();
    // A conflict never names the other tenant: the caller may have no right to know it.
    if let Some(slug) = &input.slug {
        if taken(tx, "slug = ?1", slug, input.id)? {
            return Err(DbError::Conflict {
                field: "slug",
                reason: format!("{slug:?} is already used by another tenant"),
            });
        }
    }
    if let Some(client) = &input.numhub_client_id {
        if taken(
            tx,
            match tx.engine() {
                Engine::Sqlite => "CAST(numhub_client_id AS INTEGER) = CAST(?1 AS INTEGER)",
                Engine::Mysql => "CAST(numhub_client_id AS SIGNED) = CAST(?1 AS SIGNED)",
            },
            client,
            input.id,
        )? {
            return Err(DbError::Conflict {
                field: "numhub_client_id",
                reason: format!(
                    "NumHub client {client} belongs to another tenant (one tenant per client: \
                     its creates and imported applications would mix)"
                ),
            });
        }
    }
    let statement = match tx.engine() {
        Engine::Sqlite => "INSERT INTO tenants (id, name, email, slug, numhub_client_id, numhub_osp_id, numhub_enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(?7, 0), ?8, ?8)
         ON CONFLICT (id) DO UPDATE SET
            name = excluded.name, email = excluded.email, slug = excluded.slug,
            numhub_client_id = excluded.numhub_client_id, numhub_osp_id = excluded.numhub_osp_id,
            numhub_enabled = COALESCE(?7, tenants.numhub_enabled), updated_at = excluded.updated_at",
        Engine::Mysql => "INSERT INTO tenants (id, name, email, slug, numhub_client_id, numhub_osp_id, numhub_enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(?7, 0), ?8, ?8)
         ON DUPLICATE KEY UPDATE
            name = VALUES(name), email = VALUES(email), slug = VALUES(slug),
            numhub_client_id = VALUES(numhub_client_id), numhub_osp_id = VALUES(numhub_osp_id),
            numhub_enabled = COALESCE(?7, numhub_enabled), updated_at = VALUES(updated_at)",
    };
    tx.execute(
        statement,
        args![
            input.id,
            input.name,
            input.email,
            input.slug,
            input.numhub_client_id,
            input.numhub_osp_id,
            input.numhub_enabled,
            ts(&now)
        ],
    )?;
    get(tx, input.id)
}

/// Whether a tenant other than `id` matches `condition` (on `?1` = `value`).
fn taken(tx: &Tx<'_>, condition: &str, value: &str, id: i64) -> Result<bool> {
    tx.one(
        &format!("SELECT EXISTS (SELECT 1 FROM tenants WHERE {condition} AND id <> ?2)"),
        args![value, id],
        |r| r.get(0),
    )
}

pub fn find(sql: &Sql<'_>, id: i64) -> Result<Option<Tenant>> {
    sql.row(
        &format!("SELECT {COLUMNS} FROM tenants WHERE id = ?1"),
        args![id],
        from_row,
    )
}

pub fn get(sql: &Sql<'_>, id: i64) -> Result<Tenant> {
    find(sql, id)?.ok_or_else(|| DbError::not_found("tenant", id))
}

/// Tenants in id order. `only` limits the list to these ids (a caller's tenants).
pub fn list(
    sql: &Sql<'_>,
    only: Option<&[i64]>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Tenant>> {
    let limit = page_limit(limit)?;
    let only_json = only.map(|ids| serde_json::Value::from(ids.to_vec()).to_string());
    let rows = sql.rows(
        &format!(
            "SELECT {COLUMNS} FROM tenants WHERE id > ?1
               AND (?2 IS NULL OR id IN ({}))
             ORDER BY id LIMIT ?3",
            json_values(sql.engine(), "?2", "BIGINT")
        ),
        args![int_cursor(cursor)?, only_json, limit + 1],
        from_row,
    )?;
    Ok(Page::from_rows(rows, limit, |t| t.id.to_string()))
}

/// Every tenant, in id order (for `numhub.check`).
pub fn all(sql: &Sql<'_>) -> Result<Vec<Tenant>> {
    sql.rows(
        &format!("SELECT {COLUMNS} FROM tenants ORDER BY id"),
        args![],
        from_row,
    )
}

/// How many tenants use NumHub (`numhub_enabled`): the interactive budget's fair
/// share divides the account's rate among them.
pub fn count_enabled(sql: &Sql<'_>) -> Result<u64> {
    let n: i64 = sql.one(
        "SELECT count(*) FROM tenants WHERE numhub_enabled = 1",
        args![],
        |r| r.get(0),
    )?;
    Ok(n.unsigned_abs())
}

/// Tenants whose changes may be sent to NumHub.
pub fn list_enabled(sql: &Sql<'_>) -> Result<Vec<Tenant>> {
    sql.rows(
        &format!("SELECT {COLUMNS} FROM tenants WHERE numhub_enabled = 1 ORDER BY id"),
        args![],
        from_row,
    )
}
