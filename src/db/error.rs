//! What the store refuses, and why. Every refusal names the field or the row.

use thiserror::Error;

/// Why a step failed: the underlying error (its chain kept for `source()`), or a
/// sentence where there is none.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Error)]
pub enum DbError {
    /// A value failed validation before anything was written.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    /// A referenced row (tenant, brand, entity…) does not exist for this tenant.
    #[error("{field}: no {what} with id {id}")]
    UnknownReference {
        field: &'static str,
        what: &'static str,
        id: String,
    },

    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },

    /// A locally requested status change the seed's status flow does not allow.
    #[error("status: illegal transition {from} -> {to}")]
    IllegalTransition { from: String, to: String },

    /// A unique value already taken.
    #[error("{field}: {reason}")]
    Conflict { field: &'static str, reason: String },

    #[error("database schema version {found} is newer than this numhubd knows ({known}); the database was not modified: run a numhubd at least as new as the one that wrote it")]
    SchemaTooNew { found: i64, known: i64 },

    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: Cause,
    },

    #[error("migration failed: {0}")]
    Migration(#[source] Cause),

    #[error("commit failed: {source}")]
    Commit {
        #[source]
        source: Cause,
    },

    /// The database refused the write for lack of space or an I/O error: nothing of
    /// it was written (see `db::write_health`).
    #[error("the database cannot take writes now ({cause}); nothing was written")]
    WriteRefused { cause: String },

    /// A backup could not be written (its PATH is refused as `Invalid` on `path`).
    #[error("backup to {path} failed: {reason}")]
    Backup { path: String, reason: String },

    #[error("the store is closed")]
    Closed,

    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),

    /// A column that does not convert into what the code reads it as.
    #[error("column {index}: {source}")]
    Column {
        index: usize,
        #[source]
        source: Cause,
    },

    /// The database server cannot be reached (at start: exit 69).
    #[error("cannot reach the database at {what}: {source}")]
    Unavailable {
        what: String,
        #[source]
        source: Cause,
    },

    /// A server or database numhubd cannot run on (at start: exit 78).
    #[error("the database at {what} cannot be used: {reason}")]
    Unsupported { what: String, reason: String },

    /// This node's leadership ended (another node took the lease, or it ran out): a
    /// write fenced to `epoch` was refused, nothing of it committed.
    #[error(
        "this node no longer leads the cluster (epoch {epoch} has ended); nothing was written"
    )]
    Fenced { epoch: i64 },

    /// Another process holds what this one needs: the node name, or the whole
    /// database (an offline command, or a daemon while one runs).
    #[error("the database at {what} is in use by {holder}; {advice}")]
    InUse {
        what: String,
        holder: String,
        advice: &'static str,
    },
}

impl DbError {
    /// Whether the database cannot be reached now (its server down or the connection
    /// lost): nothing was done, the store reconnects by itself, and the same call can
    /// be made again later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unavailable { .. } => true,
            DbError::Mysql(e) => super::engine::mysql::connection_lost(e),
            _ => false,
        }
    }

    pub fn invalid(field: &'static str, reason: impl Into<String>) -> DbError {
        DbError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> DbError {
        DbError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}
