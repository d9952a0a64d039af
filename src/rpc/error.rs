//! The RPC layer's errors and their JSON-RPC codes. This is the one place where any
//! error becomes a JSON-RPC error object; handlers return [`RpcError`] and the store's
//! [`DbError`] converts into it.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::json;
use thiserror::Error;

use super::port::PortError;
use super::schema::FieldError;
use crate::api::codes;
use crate::db::DbError;
use crate::intake::IntakeError;

#[derive(Debug, Error)]
pub enum RpcError {
    #[error("invalid params")]
    InvalidParams(Vec<FieldError>),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(#[source] DbError),
    #[error("{0}")]
    Conflict(#[source] DbError),
    #[error("{0}")]
    LimitExceeded(String),
    /// An answer over `[rpc] max_response_bytes` (a batch's call that no longer fits).
    #[error("{0}")]
    ResponseTooLarge(String),
    #[error(
        "subscriptions need a WebSocket connection (send `Upgrade: websocket` to the same socket)"
    )]
    NeedsWebsocket,
    #[error("NumHub rejected the request: {message}")]
    NumhubRejected {
        status: Option<u16>,
        message: String,
    },
    #[error("NumHub is unavailable: {0}; queued changes are retried")]
    NumhubUnavailable(String),
    /// The port could not reach NumHub (or this tenant cannot talk to it as configured).
    #[error("NumHub is unavailable: {0}; queued changes are retried")]
    NumhubDown(#[source] PortError),
    #[error("{0}")]
    KeyRotationFailed(#[source] PortError),
    #[error("{0}")]
    DropFolderUnwritable(String),
    #[error("{0}")]
    BackupFailed(#[source] DbError),
    #[error("{0}; free space on the database's disk, then try again")]
    StoreRefusesWrites(#[source] DbError),
    /// The database server cannot be reached: the same code as NumHub's absence.
    #[error("the database is unavailable now; nothing was done: try again (numhubd reconnects by itself)")]
    StoreUnavailable,
    #[error("internal error")]
    Internal(String),
    /// Something on our side failed (a task, a serialization): the caller reads
    /// "internal error", the log the whole cause.
    #[error("internal error")]
    Failed {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl RpcError {
    /// An internal failure of `what`, logged with its cause chain.
    pub fn failed(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> RpcError {
        let source = source.into();
        tracing::error!(error = %chain(source.as_ref()), "{what} failed during an RPC call");
        RpcError::Failed { what, source }
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> RpcError {
        RpcError::InvalidParams(vec![FieldError {
            field: field.into(),
            reason: reason.into(),
        }])
    }

    pub fn code(&self) -> i32 {
        match self {
            RpcError::InvalidParams(_) => codes::INVALID_PARAMS,
            RpcError::Forbidden(_) => codes::FORBIDDEN,
            RpcError::NotFound(_) => codes::NOT_FOUND,
            RpcError::Conflict(_) => codes::CONFLICT,
            RpcError::LimitExceeded(_) => codes::LIMIT_EXCEEDED,
            RpcError::ResponseTooLarge(_) => codes::OVERSIZED_RESPONSE,
            RpcError::NeedsWebsocket => codes::SUBSCRIPTION_NEEDS_WEBSOCKET,
            RpcError::NumhubRejected { .. } => codes::NUMHUB_REJECTED,
            RpcError::NumhubUnavailable(_)
            | RpcError::NumhubDown(_)
            | RpcError::StoreUnavailable => codes::NUMHUB_UNAVAILABLE,
            RpcError::KeyRotationFailed(_) => codes::KEY_ROTATION_FAILED,
            RpcError::DropFolderUnwritable(_) => codes::DROP_FOLDER_UNWRITABLE,
            RpcError::BackupFailed(_) => codes::BACKUP_FAILED,
            RpcError::StoreRefusesWrites(_) => codes::STORE_REFUSES_WRITES,
            RpcError::Internal(_) | RpcError::Failed { .. } => codes::INTERNAL,
        }
    }

    /// The JSON-RPC error object the caller receives.
    pub fn to_error_object(&self) -> ErrorObjectOwned {
        let data = match self {
            RpcError::InvalidParams(fields) => Some(json!({ "fields": fields })),
            RpcError::NumhubRejected { status, message } => {
                Some(json!({ "numhub_status": status, "numhub_message": message }))
            }
            _ => None,
        };
        let message = match self {
            RpcError::InvalidParams(fields) => format!(
                "invalid params: {}",
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            other => other.to_string(),
        };
        ErrorObjectOwned::owned(self.code(), message, data)
    }
}

impl From<DbError> for RpcError {
    fn from(e: DbError) -> RpcError {
        match e {
            DbError::Invalid { field, reason } => RpcError::invalid(field, reason),
            DbError::UnknownReference { .. } => {
                let field = match &e {
                    DbError::UnknownReference { field, .. } => *field,
                    _ => "params",
                };
                RpcError::InvalidParams(vec![FieldError {
                    field: field.to_string(),
                    reason: e.to_string(),
                }])
            }
            DbError::NotFound { .. } => RpcError::NotFound(e),
            DbError::Backup { .. } => {
                tracing::error!(error = %e, "backup failed");
                RpcError::BackupFailed(e)
            }
            DbError::IllegalTransition { .. } | DbError::Conflict { .. } => RpcError::Conflict(e),
            down if down.is_unavailable() => {
                tracing::warn!(error = %down, "an RPC call found the database unavailable");
                RpcError::StoreUnavailable
            }
            refused if refused.is_write_refused() => {
                tracing::warn!(error = %refused, "an RPC call's write was refused by the database");
                // SQLite's own words ("database or disk is full") as the cause.
                RpcError::StoreRefusesWrites(match refused {
                    DbError::Sqlite(e) => DbError::WriteRefused {
                        cause: e.to_string(),
                    },
                    other => other,
                })
            }
            other => {
                // The detail goes to the log, not to the caller.
                tracing::error!(error = %other, "store error during an RPC call");
                RpcError::Internal(other.to_string())
            }
        }
    }
}

impl From<IntakeError> for RpcError {
    fn from(e: IntakeError) -> RpcError {
        RpcError::invalid(e.field(), e.to_string())
    }
}

impl From<PortError> for RpcError {
    fn from(e: PortError) -> RpcError {
        match e {
            PortError::Refused { status, message } => RpcError::NumhubRejected { status, message },
            PortError::Unreachable { .. }
            | PortError::NotConfigured { .. }
            | PortError::NotAtNumhub { .. } => RpcError::NumhubDown(e),
            PortError::InvalidParams { field, reason } => RpcError::invalid(field, reason),
            PortError::Busy { reason } => RpcError::LimitExceeded(reason),
            PortError::Db(db) => db.into(),
            PortError::KeyRotation { .. } => {
                tracing::error!(error = %e, "keys.rotate failed");
                RpcError::KeyRotationFailed(e)
            }
            PortError::DropFolder { reason } => {
                tracing::warn!(error = %reason, "drop folder not writable");
                RpcError::DropFolderUnwritable(reason)
            }
            PortError::Internal(detail) => {
                tracing::error!(error = %detail, "NumHub call failed on our side");
                RpcError::Internal(detail)
            }
        }
    }
}

/// An error and its causes, each after a colon.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> ErrorObjectOwned {
        e.to_error_object()
    }
}
