//! `numhub_login_blocks`: accounts whose login NumHub rejected. While a row exists
//! the client makes no further login attempt for that account (a wrong password
//! retried every cycle could lock the account at NumHub). The rejected credentials
//! are kept age-armored, so a change is recognised after a restart.

use super::engine::{args, read_row, ts, Engine, Row};
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
    let statement = match tx.engine() {
        Engine::Sqlite => "INSERT INTO numhub_login_blocks (account, reason, status_code, credentials_armored, blocked_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account) DO UPDATE SET reason = excluded.reason, status_code = excluded.status_code,
             credentials_armored = excluded.credentials_armored, blocked_at = excluded.blocked_at",
        Engine::Mysql => "INSERT INTO numhub_login_blocks (account, reason, status_code, credentials_armored, blocked_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON DUPLICATE KEY UPDATE reason = VALUES(reason), status_code = VALUES(status_code),
             credentials_armored = VALUES(credentials_armored), blocked_at = VALUES(blocked_at)",
    };
    tx.execute(
        statement,
        args![
            account,
            reason,
            status_code,
            credentials_armored,
            ts(&now_ts())
        ],
    )?;
    Ok(())
}

fn from_row(r: &Row<'_>) -> Result<LoginBlock> {
    read_row!(r => LoginBlock { account, reason, status_code, credentials_armored, blocked_at })
}

pub fn get(sql: &Sql<'_>, account: &str) -> Result<Option<LoginBlock>> {
    sql.row(
        "SELECT account, reason, status_code, credentials_armored, blocked_at
         FROM numhub_login_blocks WHERE account = ?1",
        args![account],
        from_row,
    )
}

pub fn all(sql: &Sql<'_>) -> Result<Vec<LoginBlock>> {
    sql.rows(
        "SELECT account, reason, status_code, credentials_armored, blocked_at
         FROM numhub_login_blocks ORDER BY account",
        args![],
        from_row,
    )
}

/// Lifts the block; returns whether there was one.
pub fn delete(tx: &Tx<'_>, account: &str) -> Result<bool> {
    Ok(tx.execute(
        "DELETE FROM numhub_login_blocks WHERE account = ?1",
        args![account],
    )? > 0)
}

/// Key rotation's compare-and-swap: replaces the block's ciphertext only if it is
/// still `was` (a block written since it was read is already encrypted to the new
/// identity). Returns whether it was replaced.
pub fn reencrypt(tx: &Tx<'_>, account: &str, was: &str, credentials_armored: &str) -> Result<bool> {
    super::tokens::require_armor("credentials", credentials_armored)?;
    Ok(tx.execute(
        "UPDATE numhub_login_blocks SET credentials_armored = ?2 WHERE account = ?1 AND credentials_armored = ?3",
        args![account, credentials_armored, was],
    )? == 1)
}
