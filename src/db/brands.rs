//! `brands` and `brand_phone_numbers`: a tenant's brands and the numbers they call from.

use super::engine::{args, read_row, ts, Engine, Row};
use super::{
    check_len, check_not_blank, int_cursor, json_values, now_ts, page_limit, require_tenant,
    DbError, Page, Result, Sql, Tx,
};

/// The row as the protocol shows it: one type for the table and the wire.
pub use crate::api::Brand;

/// What a caller may set (`brand.upsert`'s params). `id` absent: a new brand;
/// present: that brand of the tenant is updated.
pub use crate::api::BrandFields;

/// The row as the protocol shows it: one type for the table and the wire.
pub use crate::api::PhoneNumber as BrandPhoneNumber;

/// E.164: '+', a first digit 1-9, 2 to 15 digits in all.
pub fn validate_e164(field: &'static str, number: &str) -> Result<()> {
    let digits = number.strip_prefix('+').unwrap_or("");
    let ok = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !ok {
        return Err(DbError::invalid(
            field,
            format!("{number:?} is not an E.164 number (like +15551234567)"),
        ));
    }
    Ok(())
}

const COLUMNS: &str = "id, tenant_id, name, display_name, numhub_entity_id, created_at, updated_at";

fn from_row(r: &Row<'_>) -> Result<Brand> {
    read_row!(r => Brand { id, tenant_id, name, display_name, numhub_entity_id, created_at, updated_at })
}

pub fn upsert(tx: &Tx<'_>, input: BrandFields) -> Result<Brand> {
    check_not_blank("name", &input.name)?;
    check_len("name", &input.name, 255)?;
    if let Some(d) = &input.display_name {
        check_len("display_name", d, 32)?;
    }
    require_tenant(tx, input.tenant_id)?;
    let now = now_ts();
    let id = match input.id {
        Some(id) => {
            tx.update_row(
                "brand",
                id,
                "UPDATE brands SET name = ?3, display_name = ?4, updated_at = ?5
                 WHERE id = ?1 AND tenant_id = ?2",
                args![
                    id,
                    input.tenant_id,
                    input.name,
                    input.display_name,
                    ts(&now)
                ],
            )?;
            id
        }
        None => tx.insert(
            "INSERT INTO brands (tenant_id, name, display_name, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            args![input.tenant_id, input.name, input.display_name, ts(&now)],
        )?,
    };
    get(tx, input.tenant_id, id)
}

pub fn get(sql: &Sql<'_>, tenant_id: i64, id: i64) -> Result<Brand> {
    sql.row(
        &format!("SELECT {COLUMNS} FROM brands WHERE id = ?1 AND tenant_id = ?2"),
        args![id, tenant_id],
        from_row,
    )?
    .ok_or_else(|| DbError::not_found("brand", id))
}

pub fn list(
    sql: &Sql<'_>,
    tenant_id: i64,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Brand>> {
    let limit = page_limit(limit)?;
    let rows = sql.rows(
        &format!(
            "SELECT {COLUMNS} FROM brands WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ),
        args![tenant_id, int_cursor(cursor)?, limit + 1],
        from_row,
    )?;
    Ok(Page::from_rows(rows, limit, |b| b.id.to_string()))
}

/// Links the brand to NumHub's application id once NumHub has assigned one.
pub fn set_numhub_entity_id(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: i64,
    numhub_entity_id: &str,
) -> Result<()> {
    tx.update_row(
        "brand",
        id,
        "UPDATE brands SET numhub_entity_id = ?3, updated_at = ?4 WHERE id = ?1 AND tenant_id = ?2",
        args![id, tenant_id, numhub_entity_id, ts(&now_ts())],
    )
}

/// Replaces the brand's numbers with `numbers`; numbers kept keep their identity link.
pub fn set_phone_numbers(
    tx: &Tx<'_>,
    tenant_id: i64,
    brand_id: i64,
    numbers: &[String],
) -> Result<Vec<BrandPhoneNumber>> {
    for n in numbers {
        validate_e164("phone_numbers", n)?;
    }
    get(tx, tenant_id, brand_id)?;
    let wanted = serde_json::Value::from(numbers.to_vec()).to_string();
    tx.execute(
        &format!(
            "DELETE FROM brand_phone_numbers WHERE brand_id = ?1 AND phone_number NOT IN ({})",
            json_values(tx.engine(), "?2", "VARCHAR(20)")
        ),
        args![brand_id, wanted],
    )?;
    let now = now_ts();
    let insert = match tx.engine() {
        Engine::Sqlite => {
            "INSERT INTO brand_phone_numbers (brand_id, phone_number, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?3) ON CONFLICT (brand_id, phone_number) DO NOTHING"
        }
        Engine::Mysql => {
            "INSERT INTO brand_phone_numbers (brand_id, phone_number, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?3) ON DUPLICATE KEY UPDATE id = id"
        }
    };
    for n in numbers {
        tx.execute(insert, args![brand_id, n, ts(&now)])?;
    }
    phone_numbers(tx, tenant_id, brand_id)
}

pub fn phone_numbers(
    sql: &Sql<'_>,
    tenant_id: i64,
    brand_id: i64,
) -> Result<Vec<BrandPhoneNumber>> {
    sql.rows(
        "SELECT p.id, p.brand_id, p.phone_number, p.numhub_identity_id, p.created_at, p.updated_at
         FROM brand_phone_numbers p JOIN brands b ON b.id = p.brand_id
         WHERE p.brand_id = ?1 AND b.tenant_id = ?2 ORDER BY p.phone_number",
        args![brand_id, tenant_id],
        |r| read_row!(r => BrandPhoneNumber { id, brand_id, phone_number, identity_id, created_at, updated_at }),
    )
}

/// Points every number of the tenant's brands that NumHub lists under `identity_id`
/// at that identity. Returns how many rows changed.
pub fn link_numbers_to_identity(
    tx: &Tx<'_>,
    tenant_id: i64,
    identity_id: &str,
    numbers: &[String],
) -> Result<usize> {
    let listed = serde_json::Value::from(numbers.to_vec()).to_string();
    tx.execute(
        &format!(
            "UPDATE brand_phone_numbers SET numhub_identity_id = ?2, updated_at = ?4
             WHERE phone_number IN ({})
               AND brand_id IN (SELECT id FROM brands WHERE tenant_id = ?1)
               AND (numhub_identity_id IS NULL OR numhub_identity_id <> ?2)",
            json_values(tx.engine(), "?3", "VARCHAR(20)")
        ),
        args![tenant_id, identity_id, listed, ts(&now_ts())],
    )
}
