//! `numhub_tokens`: NumHub bearer tokens, stored only as age-armored ciphertext.
//! Encrypting is the `crypto` module's job; the store refuses anything that is not
//! ciphertext, so a clear-text token can never reach the file.

use super::engine::{args, read_row, ts, Row};
use serde::{Deserialize, Serialize};

use super::{now_ts, DbError, Result, Sql, TokenType, Tx};

const ARMOR_HEADER: &str = "-----BEGIN AGE ENCRYPTED FILE-----";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredToken {
    pub id: i64,
    pub tenant_id: Option<i64>,
    pub token_type: TokenType,
    /// age ciphertext (armored).
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: String,
    pub scopes: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

pub(super) fn require_armor(field: &'static str, value: &str) -> Result<()> {
    if !value.starts_with(ARMOR_HEADER) {
        return Err(DbError::invalid(
            field,
            "must be age-encrypted (armored); refusing to store a clear-text secret",
        ));
    }
    Ok(())
}

/// Replaces the access token of the account (`tenant_id` None = the global account).
pub fn put_access(
    tx: &Tx<'_>,
    tenant_id: Option<i64>,
    access_token_armored: &str,
    expires_at: &str,
    scopes: Option<&str>,
) -> Result<StoredToken> {
    require_armor("access_token", access_token_armored)?;
    if let Some(s) = scopes {
        super::check_json("scopes", s)?;
    }
    if let Some(t) = tenant_id {
        super::require_tenant(tx, t)?;
    }
    match tenant_id {
        Some(t) => tx.execute(
            "DELETE FROM numhub_tokens WHERE tenant_id = ?1 AND token_type = 'access'",
            args![t],
        )?,
        None => tx.execute(
            "DELETE FROM numhub_tokens WHERE tenant_id IS NULL AND token_type = 'access'",
            args![],
        )?,
    };
    tx.execute(
        "INSERT INTO numhub_tokens (tenant_id, token_type, access_token, expires_at, scopes, created_at, updated_at)
         VALUES (?1, 'access', ?2, ?3, ?4, ?5, ?5)",
        args![tenant_id, access_token_armored, ts(expires_at), scopes, ts(&now_ts())],
    )?;
    get_access(tx, tenant_id)?.ok_or_else(|| DbError::not_found("token", "just written"))
}

pub fn get_access(sql: &Sql<'_>, tenant_id: Option<i64>) -> Result<Option<StoredToken>> {
    // `tenant_id IS ?1` is SQLite's alone; the two forms run on both engines.
    match tenant_id {
        Some(t) => sql.row(
            "SELECT id, tenant_id, token_type, access_token, refresh_token, expires_at, scopes, created_at, updated_at
             FROM numhub_tokens WHERE tenant_id = ?1 AND token_type = 'access'
             ORDER BY id DESC LIMIT 1",
            args![t],
            from_row,
        ),
        None => sql.row(
            "SELECT id, tenant_id, token_type, access_token, refresh_token, expires_at, scopes, created_at, updated_at
             FROM numhub_tokens WHERE tenant_id IS NULL AND token_type = 'access'
             ORDER BY id DESC LIMIT 1",
            args![],
            from_row,
        ),
    }
}

fn from_row(r: &Row<'_>) -> Result<StoredToken> {
    read_row!(r => StoredToken {
        id, tenant_id, token_type, access_token, refresh_token, expires_at, scopes: json,
        created_at, updated_at,
    })
}

/// Drops the account's token (after a 401, or when its credentials change).
pub fn delete(tx: &Tx<'_>, tenant_id: Option<i64>) -> Result<usize> {
    match tenant_id {
        Some(t) => tx.execute("DELETE FROM numhub_tokens WHERE tenant_id = ?1", args![t]),
        None => tx.execute("DELETE FROM numhub_tokens WHERE tenant_id IS NULL", args![]),
    }
}

/// Drops one stored token by id (a 401 answered it); nothing when it was replaced.
pub fn delete_one(tx: &Tx<'_>, id: i64) -> Result<usize> {
    tx.execute("DELETE FROM numhub_tokens WHERE id = ?1", args![id])
}

/// Deletes tokens that expired before `now`; returns how many.
pub fn delete_expired(tx: &Tx<'_>, now: &str) -> Result<usize> {
    tx.execute(
        "DELETE FROM numhub_tokens WHERE expires_at < ?1",
        args![ts(now)],
    )
}

/// Every stored token (for key rotation).
pub fn all(sql: &Sql<'_>) -> Result<Vec<(i64, String, Option<String>)>> {
    sql.rows(
        "SELECT id, access_token, refresh_token FROM numhub_tokens ORDER BY id",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Key rotation's compare-and-swap: replaces the token's ciphertext only if it is
/// still `was_access` (a token written since it was read is already encrypted to the
/// new identity and is left alone). Returns whether it was replaced.
pub fn reencrypt(
    tx: &Tx<'_>,
    id: i64,
    was_access: &str,
    access_armored: &str,
    refresh_armored: Option<&str>,
) -> Result<bool> {
    require_armor("access_token", access_armored)?;
    if let Some(r) = refresh_armored {
        require_armor("refresh_token", r)?;
    }
    Ok(tx.execute(
        "UPDATE numhub_tokens SET access_token = ?2, refresh_token = ?3 WHERE id = ?1 AND access_token = ?4",
        args![id, access_armored, refresh_armored, was_access],
    )? == 1)
}
