//! The seam to NumHub for the methods that must ask it now (token refresh, OTP,
//! entity refresh, a sync run, key rotation). The RPC holds an
//! `Option<Arc<dyn NumhubPort>>`; while it is None those methods answer
//! "NumHub unavailable". The NumHub client (another module) implements this trait
//! and is handed in by `daemon::serve`.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

/// What the RPC asks NumHub to do now. Params are already validated.
#[derive(Debug, Clone, PartialEq)]
pub enum NumhubCall {
    TokenRefresh {
        tenant_id: Option<i64>,
    },
    OtpGenerate {
        tenant_id: i64,
        entity_id: String,
        resend: bool,
    },
    /// The OTP is a secret: never logged, never stored.
    OtpVerify {
        tenant_id: i64,
        entity_id: String,
        otp: String,
    },
    EntityRefresh {
        tenant_id: i64,
        entity_id: String,
    },
    SyncRun {
        tenant_id: Option<i64>,
    },
    KeysRotate,
}

/// How a NumHub call failed, as the RPC edge reports it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PortError {
    /// NumHub answered and refused; its message is passed on.
    #[error("NumHub rejected the request: {message}")]
    Rejected {
        status: Option<u16>,
        message: String,
    },
    /// NumHub could not be reached (or is rate-limiting us); retry later.
    #[error("NumHub is unavailable: {reason}")]
    Unavailable { reason: String },
}

pub type PortFuture = Pin<Box<dyn Future<Output = Result<Value, PortError>> + Send>>;

pub trait NumhubPort: Send + Sync {
    /// Carries out `call`; the JSON result is returned to the caller as is.
    fn call(&self, call: NumhubCall) -> PortFuture;

    /// A job was just queued: the outbox may start on it now instead of at its next
    /// poll. Without a sync engine there is nothing to wake.
    fn jobs_queued(&self) {}
}
