//! Whether the database takes writes: the writer records a write SQLite refused for
//! lack of space or an I/O error (SQLITE_FULL, SQLITE_IOERR, …) and clears it at the
//! next commit that wrote something. `daemon.health`/`daemon.status` show it, and the
//! RPC layer answers such a refusal with its own code instead of "internal error".

use std::sync::Mutex;

use super::{now_ts, DbError};

/// A write the database refused, and since when it has refused them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// SQLite's own words, e.g. "database or disk is full".
    pub cause: String,
    /// When the first refused write of this spell happened.
    pub since: String,
}

/// Shared between the writer thread (which sets and clears it) and readers of it.
#[derive(Debug, Default)]
pub(super) struct WriteHealth {
    refusal: Mutex<Option<Refusal>>,
}

impl WriteHealth {
    /// A write was refused for `cause`; an earlier refusal keeps its `since`.
    pub(super) fn refused(&self, cause: &str) {
        let Ok(mut r) = self.refusal.lock() else {
            return;
        };
        match r.as_mut() {
            Some(r) => r.cause = cause.to_string(),
            None => {
                tracing::error!(cause, "the database refuses writes; nothing is saved until it takes them again (free space on its disk)");
                *r = Some(Refusal {
                    cause: cause.to_string(),
                    since: now_ts(),
                });
            }
        }
    }

    /// A commit that wrote something went through.
    pub(super) fn accepted(&self) {
        let Ok(mut r) = self.refusal.lock() else {
            return;
        };
        if let Some(old) = r.take() {
            tracing::info!(since = %old.since, "the database takes writes again");
        }
    }

    pub(super) fn current(&self) -> Option<Refusal> {
        self.refusal.lock().ok().and_then(|r| r.clone())
    }
}

/// Whether `e` says the storage itself refused (no space, an I/O error, a file made
/// read-only under us) rather than the call's own data or logic; its cause if so.
pub fn storage_cause(e: &rusqlite::Error) -> Option<String> {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(DiskFull | SystemIoFailure | ReadOnly | CannotOpen) => Some(e.to_string()),
        _ => None,
    }
}

impl DbError {
    /// Whether this error is the storage refusing a write (see [`storage_cause`]).
    pub fn is_write_refused(&self) -> bool {
        matches!(self, DbError::WriteRefused { .. }) || self.storage_cause().is_some()
    }

    /// The storage's own words if it refused a write (no space, an I/O error), on
    /// either engine.
    pub fn storage_cause(&self) -> Option<String> {
        match self {
            DbError::Sqlite(e) => storage_cause(e),
            DbError::Mysql(e) => super::engine::mysql::storage_cause(e),
            _ => None,
        }
    }
}
