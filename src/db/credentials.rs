//! `numhub_credentials`: per-tenant NumHub logins, both fields age-armored. Write-only
//! from the RPC's point of view: nothing here returns them to a caller.

use rusqlite::params;

use super::{now_ts, DbError, Result, Sql, Tx};

const ARMOR_HEADER: &str = "-----BEGIN AGE ENCRYPTED FILE-----";

/// Stores (or replaces) the tenant's login. Both values must already be ciphertext.
pub fn set(tx: &Tx<'_>, tenant_id: i64, email_armored: &str, password_armored: &str) -> Result<()> {
    for (field, v) in [("email", email_armored), ("password", password_armored)] {
        if !v.starts_with(ARMOR_HEADER) {
            return Err(DbError::invalid(
                field,
                "must be age-encrypted (armored); refusing to store a clear-text secret",
            ));
        }
    }
    super::require_tenant(tx, tenant_id)?;
    let now = now_ts();
    tx.conn.execute(
        "INSERT INTO numhub_credentials (tenant_id, email_armored, password_armored, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (tenant_id) DO UPDATE SET email_armored = ?2, password_armored = ?3, updated_at = ?4",
        params![tenant_id, email_armored, password_armored, now],
    )?;
    Ok(())
}

/// Whether the tenant has its own login.
pub fn exists(sql: &Sql<'_>, tenant_id: i64) -> Result<bool> {
    Ok(sql.conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM numhub_credentials WHERE tenant_id = ?1)",
        [tenant_id],
        |r| r.get(0),
    )?)
}
