//! Operator methods: NumHub-backed actions (`token.refresh`, `otp.*`,
//! `entity.refresh`, `sync.run`, `numhub.check`, `keys.rotate`), the exchange log,
//! outbox jobs and `rpc.discover`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::entities::Entity;
use crate::api::rows::Page;
use crate::api::schema::{boolean, cursor, id, limit, string, text, time, wire, wire_enum};
use crate::api::status::Empty;
use crate::api::tenancy::{ById, MaybeTenant};
use crate::api::{methods, Method, Schema, Secret};

methods! {
    /// A new NumHub token now (the tenant's, or the global account's).
    "token.refresh" => TokenRefresh(MaybeTenant) -> TokenRefreshed;
    /// Asks NumHub to send the applicant an OTP.
    "otp.generate" => OtpGenerate(OtpRequest) -> OtpSent;
    /// Passes the applicant's OTP to NumHub.
    "otp.verify" => OtpVerify(OtpCode) -> OtpVerified;
    /// The application's state from NumHub, now.
    "entity.refresh" => EntityRefresh(EntityAt) -> Entity;
    /// A sync cycle now (one tenant, or all).
    "sync.run" => SyncRun(MaybeTenant) -> SyncStarted;
    /// Logs in afresh and checks each tenant's client id at NumHub.
    "numhub.check" => NumhubCheckRun(MaybeTenant) -> NumhubCheck;
    /// Re-encrypts stored secrets to a new age identity.
    "keys.rotate" => KeysRotate(Empty) -> KeysRotated;
    /// NumHub exchanges, newest first.
    "log.list" => LogList(LogQuery) -> Page<LogEntry>;
    /// Deletes exchange log rows older than `before`.
    "log.purge" => LogPurge(PurgeBefore) -> Purged;
    /// Outbox jobs, newest first.
    "jobs.list" => JobsList(JobQuery) -> Page<Job>;
    /// Makes a job due again now.
    "jobs.retry" => JobsRetry(ById) -> Job;
    /// Settles a dead or needs_attention job by hand.
    "jobs.resolve" => JobsResolve(JobResolve) -> Job;
    /// This API's OpenRPC document.
    "rpc.discover" => RpcDiscover(Empty) -> OpenRpc;
}

wire! { params
    /// `otp.generate`.
    pub struct OtpRequest {
        pub tenant_id: i64 = id(),
        pub entity_id: String = string(100),
        pub resend: Option<bool> = boolean(),
    }
}

wire! { params
    /// `otp.verify`: the applicant's code (never logged or stored).
    pub struct OtpCode {
        pub tenant_id: i64 = id(),
        pub entity_id: String = string(100),
        pub otp: Secret = string(32),
    }
}

wire! { params
    /// One application of a tenant, by its local id.
    pub struct EntityAt {
        pub tenant_id: i64 = id(),
        pub entity_id: String = string(100),
    }
}

wire! { params
    /// `log.list`'s filters, each optional.
    #[derive(Default)]
    pub struct LogQuery {
        pub tenant_id: Option<i64> = id(),
        pub entity_id: Option<String> = string(100),
        pub identity_id: Option<String> = string(100),
        pub endpoint: Option<String> = string(255),
        pub success: Option<bool> = boolean(),
        pub since: Option<String> = time(),
        pub until: Option<String> = time(),
        pub cursor: Option<String> = cursor(),
        pub limit: Option<u32> = limit(),
    }
}

wire! { params
    /// `log.purge`.
    pub struct PurgeBefore {
        pub before: String = time(),
    }
}

wire! { params
    /// `jobs.list`: one tenant's (or all), of one state (or all).
    #[derive(Default)]
    pub struct JobQuery {
        pub tenant_id: Option<i64> = id(),
        pub state: Option<JobState>,
        pub cursor: Option<String> = cursor(),
        pub limit: Option<u32> = limit(),
    }
}

wire! { params
    /// `jobs.resolve`: the job and why it is settled by hand.
    pub struct JobResolve {
        pub id: i64 = id(),
        pub note: Option<String> = text(500),
    }
}

wire! { result
    /// `token.refresh`.
    #[derive(PartialEq)]
    pub struct TokenRefreshed {
        pub refreshed: bool,
        /// When the new token expires (never the token).
        pub expires_at: String = time(),
    }
}

wire! { result
    /// `otp.generate`: NumHub's answer.
    #[derive(PartialEq)]
    pub struct OtpSent {
        pub sent: Option<bool>,
        pub message: Option<String>,
    }
}

wire! { result
    /// `otp.verify`: NumHub's answer.
    #[derive(PartialEq)]
    pub struct OtpVerified {
        pub verified: Option<bool>,
        pub message: Option<String>,
    }
}

wire! { result
    /// `sync.run`: the cycle was asked for (it runs in the background).
    #[derive(PartialEq)]
    pub struct SyncStarted {
        pub started: bool,
        /// The one tenant polled, or null for every enabled tenant.
        pub tenant_id: Option<i64>,
    }
}

wire! { result
    /// `numhub.check`: per tenant, whether its account may act for its client.
    #[derive(PartialEq)]
    pub struct NumhubCheck {
        /// Every tenant checked passed (`listed`, or NumHub listed no clients).
        pub ok: bool,
        pub tenants: Vec<TenantCheck>,
    }
}

wire! { result
    /// One tenant of `numhub.check`.
    #[derive(PartialEq)]
    pub struct TenantCheck {
        pub tenant_id: i64,
        pub name: String,
        pub numhub_client_id: Option<String>,
        /// `global` or `tenant:<id>`: whose login was used.
        pub account: Option<String>,
        pub verdict: CheckVerdict,
        /// The client's name as NumHub lists it, when listed.
        pub client_name: Option<String>,
        /// Why the verdict is `not_listed` or `failed`.
        pub reason: Option<String>,
        /// The client ids the account's login listed.
        pub account_clients: Vec<i32>,
    }
}

wire_enum! {
    /// Whether NumHub lists the tenant's client for its account.
    CheckVerdict {
        Listed = "listed",
        NotListed = "not_listed",
        NotReported = "not_reported",
        Failed = "failed",
    }
}

wire! { result
    /// `keys.rotate`: how many secrets were re-encrypted to the new identity.
    #[derive(PartialEq)]
    pub struct KeysRotated {
        pub rotated: bool,
        pub public_key: String,
        pub tokens: usize,
        pub credentials: usize,
        pub login_blocks: usize,
        pub old_identity: PathBuf,
    }
}

wire_enum! {
    /// An exchange's HTTP method.
    HttpMethod { Get = "GET", Post = "POST", Put = "PUT", Delete = "DELETE" }
}

wire_enum! {
    /// Who started an exchange: we (`outbound`) or NumHub (`inbound`).
    Direction { Outbound = "outbound", Inbound = "inbound" }
}

wire! { result
    /// One NumHub exchange. Payloads (redacted) only for an admin.
    #[derive(PartialEq)]
    pub struct LogEntry {
        pub id: String,
        pub tenant_id: Option<i64>,
        pub entity_id: Option<String>,
        pub identity_id: Option<String>,
        pub endpoint: String,
        pub method: HttpMethod,
        pub direction: Direction,
        pub status_code: Option<i64>,
        pub request_payload: Option<Value>,
        pub response_payload: Option<Value>,
        pub response_time_ms: Option<i64>,
        pub error_message: Option<String>,
        pub success: bool,
        pub created_at: String = time(),
    }
}

wire! { result
    /// `log.purge`.
    pub struct Purged {
        pub deleted: usize,
    }
}

wire_enum! {
    /// What an outbox job does at NumHub.
    JobKind {
        EntityCreate = "entity.create",
        EntityUpdate = "entity.update",
        EntitySubmit = "entity.submit",
        DocumentUpload = "document.upload",
        DocumentDelete = "document.delete",
        IdentityUpdate = "identity.update",
        IdentityDeactivate = "identity.deactivate",
        IdentityNumbersAdd = "identity.numbers.add",
        IdentityNumbersRemove = "identity.numbers.remove",
    }
}

wire_enum! {
    /// Where an outbox job stands.
    JobState {
        Queued = "queued",
        Running = "running",
        Failed = "failed",
        Waiting = "waiting",
        Done = "done",
        Dead = "dead",
        NeedsAttention = "needs_attention",
    }
}

wire! { result
    /// An outbox job: what it sends to NumHub (`kind`, `payload`) and how it went.
    #[derive(PartialEq)]
    pub struct Job {
        pub id: i64,
        pub tenant_id: i64,
        pub kind: JobKind,
        /// What the job sends, by kind (business identifiers `[redacted]` for a
        /// reader).
        pub payload: Value,
        pub entity_id: Option<String>,
        pub identity_id: Option<String>,
        pub document_id: Option<String>,
        pub state: JobState,
        pub attempts: i64,
        pub next_attempt_at: String = time(),
        pub started_at: Option<String> = time(),
        /// The start of the earliest attempt a crash interrupted.
        pub resume_since: Option<String> = time(),
        pub last_error: Option<String>,
        pub created_at: String = time(),
        pub updated_at: String = time(),
    }
}

/// `rpc.discover`: the OpenRPC document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpenRpc(pub Value);

impl Schema for OpenRpc {
    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "openrpc": {"type": "string"},
                "info": {"type": "object"},
                "methods": {"type": "array", "items": {"type": "object"}},
                "components": {"type": "object"},
            },
            "required": ["openrpc", "info", "methods", "components"],
        })
    }
}
