//! `numhub_credentials`: per-tenant NumHub logins. Both fields arrive age-armored
//! (the `numhub` module encrypts them); the store refuses anything else, so a
//! clear-text password can never reach the file.

use super::engine::{args, read_row, ts, Engine, Row};
use super::{now_ts, require_tenant, Result, Sql, Tx};

/// One tenant's login, still encrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCredentials {
    pub tenant_id: i64,
    pub email_armored: String,
    pub password_armored: String,
    pub updated_at: String,
}

/// Sets (or replaces) the tenant's NumHub login.
pub fn set(tx: &Tx<'_>, tenant_id: i64, email_armored: &str, password_armored: &str) -> Result<()> {
    super::tokens::require_armor("email", email_armored)?;
    super::tokens::require_armor("password", password_armored)?;
    require_tenant(tx, tenant_id)?;
    let now = now_ts();
    let statement = match tx.engine() {
        Engine::Sqlite => "INSERT INTO numhub_credentials (tenant_id, email_armored, password_armored, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (tenant_id) DO UPDATE SET email_armored = excluded.email_armored,
             password_armored = excluded.password_armored, updated_at = excluded.updated_at",
        Engine::Mysql => "INSERT INTO numhub_credentials (tenant_id, email_armored, password_armored, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON DUPLICATE KEY UPDATE email_armored = VALUES(email_armored),
             password_armored = VALUES(password_armored), updated_at = VALUES(updated_at)",
    };
    tx.execute(
        statement,
        args![tenant_id, email_armored, password_armored, ts(&now)],
    )?;
    Ok(())
}

pub fn get(sql: &Sql<'_>, tenant_id: i64) -> Result<Option<StoredCredentials>> {
    sql.row(
        "SELECT tenant_id, email_armored, password_armored, updated_at
         FROM numhub_credentials WHERE tenant_id = ?1",
        args![tenant_id],
        from_row,
    )
}

/// Every stored login (for key rotation).
pub fn all(sql: &Sql<'_>) -> Result<Vec<StoredCredentials>> {
    sql.rows(
        "SELECT tenant_id, email_armored, password_armored, updated_at FROM numhub_credentials ORDER BY tenant_id",
        args![],
        from_row,
    )
}

fn from_row(r: &Row<'_>) -> Result<StoredCredentials> {
    read_row!(r => StoredCredentials { tenant_id, email_armored, password_armored, updated_at })
}

/// Key rotation's compare-and-swap: replaces the login's ciphertext only if it is
/// still `was` as read (a `credentials.set` since then wrote a new login, already
/// encrypted to the new identity, which must not be reverted). Returns whether it was
/// replaced.
pub fn reencrypt(
    tx: &Tx<'_>,
    was: &StoredCredentials,
    email_armored: &str,
    password_armored: &str,
) -> Result<bool> {
    super::tokens::require_armor("email", email_armored)?;
    super::tokens::require_armor("password", password_armored)?;
    Ok(tx.execute(
        "UPDATE numhub_credentials SET email_armored = ?2, password_armored = ?3
         WHERE tenant_id = ?1 AND email_armored = ?4 AND password_armored = ?5",
        args![
            was.tenant_id,
            email_armored,
            password_armored,
            was.email_armored,
            was.password_armored
        ],
    )? == 1)
}

/// Whether the tenant has its own login.
pub fn exists(sql: &Sql<'_>, tenant_id: i64) -> Result<bool> {
    sql.one(
        "SELECT EXISTS (SELECT 1 FROM numhub_credentials WHERE tenant_id = ?1)",
        args![tenant_id],
        |r| r.get(0),
    )
}
