//! `numhub_login_blocks`: accounts whose login NumHub rejected. While a row exists
//! the client makes no further login attempt for that account (a wrong password
//! retried every cycle could lock the account at NumHub). The rejected credentials
//! are kept age-armored, so a change is recognised after a restart.

use rusqlite::{params, OptionalExtension};

use super::{now_ts, Result, Sql, Tx};

#[derive(Debug, Clone, PartialEq)]
pub struct LoginBlock {
    /// `global` or `tenant:<id>`.
    pub account: String,
    pub reason: String,
    pub status_code: Option<u16>,
    pub credentials_armored: String,
    pub blocked_at: String,
}

pub fn put(
    tx: &Tx<'_>,
    account: &str,
    reason: &str,
    status_code: Option<u16>,
    credentials_armored: &str,
) -> Result<()> {
    super::tokens::require_armor("credentials", credentials_armored)?;
    tx.conn.execute(
        "INSERT INTO numhub_login_blocks (account, reason, status_code, credentials_armored, blocked_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account) DO UPDATE SET reason = excluded.reason, status_code = excluded.status_code,
             credentials_armored = excluded.credentials_armored, blocked_at = excluded.blocked_at",
        params![account, reason, status_code, credentials_armored, now_ts()],
    )?;
    Ok(())
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LoginBlock> {
    Ok(LoginBlock {
        account: r.get(0)?,
        reason: r.get(1)?,
        status_code: r.get(2)?,
        credentials_armored: r.get(3)?,
        blocked_at: r.get(4)?,
    })
}

pub fn get(sql: &Sql<'_>, account: &str) -> Result<Option<LoginBlock>> {
    Ok(sql
        .conn
        .prepare_cached(
            "SELECT account, reason, status_code, credentials_armored, blocked_at
             FROM numhub_login_blocks WHERE account = ?1",
        )?
        .query_row([account], from_row)
        .optional()?)
}

pub fn all(sql: &Sql<'_>) -> Result<Vec<LoginBlock>> {
    let mut stmt = sql.conn.prepare_cached(
        "SELECT account, reason, status_code, credentials_armored, blocked_at
         FROM numhub_login_blocks ORDER BY account",
    )?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Lifts the block; returns whether there was one.
pub fn delete(tx: &Tx<'_>, account: &str) -> Result<bool> {
    Ok(tx.conn.execute(
        "DELETE FROM numhub_login_blocks WHERE account = ?1",
        [account],
    )? > 0)
}

/// Key rotation's compare-and-swap: replaces the block's ciphertext only if it is
/// still `was` (a block written since it was read is already encrypted to the new
/// identity). Returns whether it was replaced.
pub fn reencrypt(tx: &Tx<'_>, account: &str, was: &str, credentials_armored: &str) -> Result<bool> {
    super::tokens::require_armor("credentials", credentials_armored)?;
    Ok(tx.conn.execute(
        "UPDATE numhub_login_blocks SET credentials_armored = ?2 WHERE account = ?1 AND credentials_armored = ?3",
        params![account, credentials_armored, was],
    )? == 1)
}
