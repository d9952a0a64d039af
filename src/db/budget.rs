//! The NumHub budget several hosts share (`numhub_budget*`, `numhub_tenant_spends`,
//! `numhub_login_leases`): the rows behind `numhub::governor::shared` and the
//! client's cross-host login. Every time here is the database server's (`NOW(6)`),
//! so hosts whose clocks disagree still count one span; waits come back as durations
//! from the server's now. Server stores only: a SQLite store has one daemon, which
//! keeps its budget in memory.

use std::time::Duration;

use super::engine::{args, Arg, Engine};
use super::{DbError, Result, Sql, Tx};

/// A request start asked for: who asks and under which rule.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// The account's key (a digest of its login).
    pub account: String,
    /// Starts allowed within `span`.
    pub limit: u32,
    pub span: Duration,
    /// An interactive caller, registered as waiting under `waiter` while refused.
    pub interactive: bool,
    pub waiter: String,
    /// How long a refused interactive caller's mark outlives its next look.
    pub waiter_grace: Duration,
}

/// What a request start came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Recorded: the request may go.
    Taken,
    /// Not now: look again after this long.
    Wait(Duration),
    /// Background only: the budget has room, but an interactive caller waits for it.
    Yield,
}

/// The account's pause, what NumHub last told and the starts, all under its row's
/// lock (taken first, so hosts take starts one at a time).
struct Seen {
    paused_us: Option<i64>,
    told: Option<(i64, i64)>,
    count: u32,
    oldest_frees_us: Option<i64>,
}

fn server_only(sql: &Sql<'_>) -> Result<()> {
    match sql.engine() {
        Engine::Mysql => Ok(()),
        Engine::Sqlite => Err(DbError::invalid(
            "budget",
            "the shared NumHub budget lives on a server store; a SQLite store's daemon keeps its own",
        )),
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn from_micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// Takes one request start for `req.account`, or says when to look again.
pub fn take_start(tx: &Tx<'_>, req: &StartRequest) -> Result<Start> {
    server_only(tx)?;
    let seen = lock_and_count(tx, &req.account, req.span)?;
    let mut wait_us = seen.paused_us.filter(|us| *us > 0).unwrap_or(0);
    if seen.count >= req.limit {
        wait_us = wait_us.max(seen.oldest_frees_us.unwrap_or(0));
    }
    let told_live = seen.told.filter(|(_, until_us)| *until_us > 0);
    if let Some((left, until_us)) = told_live {
        if left <= 0 {
            wait_us = wait_us.max(until_us);
        }
    }
    if wait_us > 0 || seen.count >= req.limit {
        // A start frees a microsecond after its span at the latest.
        let wait = from_micros(wait_us.max(1));
        if req.interactive {
            mark_waiting(tx, req, wait + req.waiter_grace)?;
        }
        return Ok(Start::Wait(wait));
    }
    if !req.interactive && someone_interactive_waits(tx, &req.account)? {
        return Ok(Start::Yield);
    }
    record_start(tx, req, told_live.is_some())?;
    Ok(Start::Taken)
}

fn lock_and_count(tx: &Tx<'_>, account: &str, span: Duration) -> Result<Seen> {
    lock_row(tx, account)?;
    let (paused_us, told_left, told_us) = tx.one(
        "SELECT TIMESTAMPDIFF(MICROSECOND, NOW(6), paused_until), told_left,
                TIMESTAMPDIFF(MICROSECOND, NOW(6), told_until)
         FROM numhub_budget WHERE account = ?1",
        args![account],
        |r| {
            Ok((
                r.get::<Option<i64>>(0)?,
                r.get::<Option<i64>>(1)?,
                r.get::<Option<i64>>(2)?,
            ))
        },
    )?;
    let span_us = micros(span);
    let (count, oldest_frees_us) = window(tx, &STARTS, &account, span_us)?;
    Ok(Seen {
        paused_us,
        told: told_left.zip(told_us),
        count: u32::try_from(count).unwrap_or(u32::MAX),
        oldest_frees_us,
    })
}

/// Takes the account row's lock, making the row if it is new. An upsert locks
/// exclusively at once: `INSERT IGNORE` then `SELECT … FOR UPDATE` would take a
/// shared lock first, and two hosts upgrading theirs deadlock.
fn lock_row(tx: &Tx<'_>, account: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO numhub_budget (account) VALUES (?1)
         ON DUPLICATE KEY UPDATE account = account",
        args![account],
    )?;
    Ok(())
}

/// Whether a budget call failed only because the server chose it to end a deadlock
/// (or a lock wait ran out): nothing of it was written, and it may simply run again.
pub fn may_retry(e: &DbError) -> bool {
    match e {
        DbError::Mysql(e) => matches!(super::engine::mysql::server_code(e), Some(1213 | 1205)),
        _ => false,
    }
}

fn mark_waiting(tx: &Tx<'_>, req: &StartRequest, for_how_long: Duration) -> Result<()> {
    tx.execute(
        "INSERT INTO numhub_budget_waiters (account, waiter, expires_at)
         VALUES (?1, ?2, NOW(6) + INTERVAL ?3 MICROSECOND)
         ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at)",
        args![req.account, req.waiter, micros(for_how_long)],
    )?;
    Ok(())
}

fn someone_interactive_waits(tx: &Tx<'_>, account: &str) -> Result<bool> {
    tx.one(
        "SELECT EXISTS (SELECT 1 FROM numhub_budget_waiters
                        WHERE account = ?1 AND expires_at > NOW(6))",
        args![account],
        |r| r.get(0),
    )
}

fn record_start(tx: &Tx<'_>, req: &StartRequest, told_live: bool) -> Result<()> {
    tx.execute(
        "INSERT INTO numhub_budget_starts (account, started_at, interactive)
         VALUES (?1, NOW(6), ?2)",
        args![req.account, req.interactive],
    )?;
    if told_live {
        tx.execute(
            "UPDATE numhub_budget SET told_left = told_left - 1 WHERE account = ?1",
            args![req.account],
        )?;
    }
    // This caller's mark (if it waited) and every mark that outlived its caller.
    tx.execute(
        "DELETE FROM numhub_budget_waiters
         WHERE account = ?1 AND (waiter = ?2 OR expires_at <= NOW(6))",
        args![req.account, req.waiter],
    )?;
    Ok(())
}

/// Drops a waiting interactive caller's mark (it was cancelled).
pub fn stop_waiting(tx: &Tx<'_>, account: &str, waiter: &str) -> Result<()> {
    server_only(tx)?;
    tx.execute(
        "DELETE FROM numhub_budget_waiters WHERE account = ?1 AND waiter = ?2",
        args![account, waiter],
    )?;
    Ok(())
}

/// NumHub refused a request for its rate (429): nothing of the account starts for
/// `span` from now, on any host.
pub fn pause(tx: &Tx<'_>, account: &str, span: Duration) -> Result<()> {
    server_only(tx)?;
    tx.execute(
        "INSERT INTO numhub_budget (account, paused_until)
         VALUES (?1, NOW(6) + INTERVAL ?2 MICROSECOND)
         ON DUPLICATE KEY UPDATE paused_until = VALUES(paused_until)",
        args![account, micros(span)],
    )?;
    Ok(())
}

/// NumHub's `requests-remaining`: lowers what is left until `span` after the first
/// answer that told it (its window has surely ended by then).
pub fn told(tx: &Tx<'_>, account: &str, remaining: u32, span: Duration) -> Result<()> {
    server_only(tx)?;
    // MySQL assigns left to right: told_left reads told_until before it changes.
    tx.execute(
        "UPDATE numhub_budget SET
             told_left = IF(told_until > NOW(6), LEAST(told_left, ?2), ?2),
             told_until = IF(told_until > NOW(6), told_until, NOW(6) + INTERVAL ?3 MICROSECOND)
         WHERE account = ?1",
        args![account, i64::from(remaining), micros(span)],
    )?;
    Ok(())
}

/// Requests started for `account` within the last `span` (for tests and status).
pub fn started_within(sql: &Sql<'_>, account: &str, span: Duration) -> Result<u32> {
    server_only(sql)?;
    let n: i64 = sql.one(
        "SELECT COUNT(*) FROM numhub_budget_starts
         WHERE account = ?1 AND started_at > NOW(6) - INTERVAL ?2 MICROSECOND",
        args![account, micros(span)],
        |r| r.get(0),
    )?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The minute a tenant's interactive share is counted over.
pub const SHARE_WINDOW: Duration = Duration::from_secs(60);

/// Takes one of the tenant's `per_min` interactive starts, or says how long until one
/// is free. The tenant's lock row sits in `numhub_budget` under `share:tenant:<id>`:
/// two hosts counting at once take turns on it.
pub fn spend_share(tx: &Tx<'_>, tenant_id: i64, per_min: u32) -> Result<Option<Duration>> {
    server_only(tx)?;
    let lock = format!("share:tenant:{tenant_id}");
    lock_row(tx, &lock)?;
    let window_us = micros(SHARE_WINDOW);
    let (count, frees_us) = window(tx, &SPENDS, &tenant_id, window_us)?;
    if count >= i64::from(per_min) {
        return Ok(Some(from_micros(frees_us.unwrap_or(0))));
    }
    tx.execute(
        "INSERT INTO numhub_tenant_spends (tenant_id, spent_at) VALUES (?1, NOW(6))",
        args![tenant_id],
    )?;
    Ok(None)
}

/// Takes (or renews) the account's login lease for `holder` for `lease` from now,
/// unless another holder's is still live. Returns whether `holder` holds it.
pub fn take_login(tx: &Tx<'_>, account: &str, holder: &str, lease: Duration) -> Result<bool> {
    server_only(tx)?;
    // Left to right again: expires_at moves only when holder is (now) ours.
    tx.execute(
        "INSERT INTO numhub_login_leases (account, holder, expires_at)
         VALUES (?1, ?2, NOW(6) + INTERVAL ?3 MICROSECOND)
         ON DUPLICATE KEY UPDATE
             holder = IF(expires_at <= NOW(6) OR holder = VALUES(holder), VALUES(holder), holder),
             expires_at = IF(holder = VALUES(holder), VALUES(expires_at), expires_at)",
        args![account, holder, micros(lease)],
    )?;
    tx.one(
        "SELECT holder = ?2 FROM numhub_login_leases WHERE account = ?1",
        args![account, holder],
        |r| r.get(0),
    )
}

/// Gives the account's login lease back (the token is stored, or the login failed).
pub fn release_login(tx: &Tx<'_>, account: &str, holder: &str) -> Result<()> {
    server_only(tx)?;
    tx.execute(
        "DELETE FROM numhub_login_leases WHERE account = ?1 AND holder = ?2",
        args![account, holder],
    )?;
    Ok(())
}

/// A sliding window kept as rows: the table, the column its rows are keyed by, and
/// the column holding when each row happened.
struct Window {
    table: &'static str,
    key: &'static str,
    at: &'static str,
}

const STARTS: Window = Window {
    table: "numhub_budget_starts",
    key: "account",
    at: "started_at",
};

const SPENDS: Window = Window {
    table: "numhub_tenant_spends",
    key: "tenant_id",
    at: "spent_at",
};

/// Deletes the key's rows older than `span_us`, then counts the rest: how many,
/// and in how many µs the oldest leaves the window.
fn window(tx: &Tx<'_>, w: &Window, key: &dyn Arg, span_us: i64) -> Result<(i64, Option<i64>)> {
    let Window {
        table,
        key: column,
        at,
    } = w;
    tx.execute(
        &format!(
            "DELETE FROM {table}
             WHERE {column} = ?1 AND {at} <= NOW(6) - INTERVAL ?2 MICROSECOND"
        ),
        args![key, span_us],
    )?;
    tx.one(
        &format!(
            "SELECT COUNT(*), TIMESTAMPDIFF(MICROSECOND, NOW(6), MIN({at}) + INTERVAL ?2 MICROSECOND)
             FROM {table} WHERE {column} = ?1"
        ),
        args![key, span_us],
        |r| Ok((r.get::<i64>(0)?, r.get::<Option<i64>>(1)?)),
    )
}
