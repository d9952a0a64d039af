//! numhub-sandbox: a local NumHub BrandControl API v1 server that follows the published
//! OpenAPI document, so tests, benchmarks and `numhubd serve --sandbox` need no account.
//!
//! This file owns the public library API (config, users, the running [`Sandbox`] handle).
//! Everything a sandbox holds lives in one `Arc<Shared>` per instance: there is no global
//! state, so many sandboxes can run in one process.

mod auth;
mod clock;
mod error;
mod faults;
mod malformed;
pub mod model;
mod phone;
mod rate;
pub(crate) mod routes;
mod server;
mod state;
mod storage;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{Faults, Malformed};
pub use phone::PhoneForm;
pub use routes::TemplateForm;

/// A deliberate defect, for proving the conformance suite fails for the right reason.
/// Never set it outside tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// Adds a field the document does not declare (`sandboxExtra`) to every JSON answer.
    ExtraField,
    /// Stops checking that `client-id` names one of the caller's clients.
    SkipClientIdCheck,
}

/// One NumHub client (tenant) a user may operate under.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub client_id: i32,
    pub name: String,
    #[serde(default)]
    pub osp_id: Option<String>,
}

/// A NumHub account: what `POST /api/v1/authorize/token` checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub email: String,
    pub password: String,
    pub user_id: i32,
    pub clients: Vec<Client>,
}

impl User {
    /// The seeded account used when no users are configured (a contract with the daemon).
    pub fn demo() -> User {
        User {
            email: "demo@numhub.test".into(),
            password: "demo-password".into(),
            user_id: 1,
            clients: vec![Client {
                client_id: 1001,
                name: "Demo Client".into(),
                osp_id: None,
            }],
        }
    }
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Requests per window per account; 0 = unlimited.
    pub rate_limit: u32,
    pub rate_window: Duration,
    pub token_ttl: Duration,
    /// Per uploaded file.
    pub max_file_bytes: u64,
    /// Where uploads are written; `None` = a temp dir removed when the sandbox is dropped.
    pub storage_dir: Option<PathBuf>,
    /// Empty = the demo user ([`User::demo`]).
    pub users: Vec<User>,
    pub otp_code: i32,
    /// Wrong OTP codes accepted before `verifyOtp` answers "too many attempts".
    pub otp_max_attempts: u32,
    /// Sandbox time after submission at which an application becomes `InProgress`.
    pub vetting_in_progress_after: Duration,
    /// Sandbox time after submission at which an application becomes `Complete`.
    pub vetting_complete_after: Duration,
    pub conformance_break: Option<Break>,
    /// The form of the numbers in seeded applications (numbers sent in are kept as sent).
    pub phone_form: PhoneForm,
    /// The most items a page of a paged list holds, whatever `pageSize` asks (`None`: as
    /// asked, up to 1000): a NumHub that caps its pages.
    pub max_page_size: Option<i32>,
    /// Every paged list answers page 1 whatever `pageNumber` asks: a NumHub that ignores it.
    pub ignore_page_number: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            rate_limit: 100,
            rate_window: Duration::from_secs(60),
            token_ttl: Duration::from_secs(86_400),
            max_file_bytes: 50 * 1024 * 1024,
            storage_dir: None,
            users: Vec::new(),
            otp_code: 123_456,
            otp_max_attempts: 5,
            vetting_in_progress_after: Duration::from_secs(60),
            vetting_complete_after: Duration::from_secs(300),
            conformance_break: None,
            phone_form: PhoneForm::default(),
            max_page_size: None,
            ignore_page_number: false,
        }
    }
}

/// A running sandbox. Dropping it stops it (its task is aborted); [`Sandbox::shutdown`]
/// stops it gracefully.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<state::Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Binds `listen` (port 0 picks a free port) and starts serving in a tokio task.
pub async fn start(listen: SocketAddr, config: SandboxConfig) -> std::io::Result<Sandbox> {
    let shared = Arc::new(state::Shared::new(config)?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let app = routes::router(shared.clone());
    let task = tokio::spawn(server::serve(listener, app, stop_rx));
    Ok(Sandbox {
        addr,
        shared,
        stop,
        task: Some(task),
    })
}

impl Sandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, no trailing slash; the API is under `/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Moves the sandbox clock forward and applies any vetting progress that became due.
    pub fn advance_clock(&self, secs: u64) {
        self.shared.advance_clock(secs);
    }

    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults.set(faults);
    }

    /// Every token issued so far answers 401 from now on.
    pub fn expire_tokens(&self) {
        self.shared.expire_tokens();
    }

    /// The same JSON as `GET /__sandbox/state`.
    pub fn state(&self) -> serde_json::Value {
        self.shared.state_json()
    }

    /// Creates `count` `Complete` applications (each with one display identity and two
    /// phone numbers) directly, outside the rate limit.
    pub fn seed_applications(&self, client_id: i32, count: usize) -> Vec<uuid::Uuid> {
        self.shared
            .seed(client_id, count, model::GetBCApplicationDtoStatus::Complete)
    }

    /// How `downloadtemplate` answers from now on (as `POST /__sandbox/template`).
    pub fn set_template_form(&self, form: TemplateForm) {
        self.shared.set_template_form(form);
    }

    /// The SHA-256 (hex) of an application's LOA template, None when unknown (as
    /// `GET /__sandbox/template/{id}`).
    pub fn template_sha256(&self, numhub_entity_id: uuid::Uuid) -> Option<String> {
        routes::template_sha256(&self.shared, numhub_entity_id)
    }

    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        self.shared.rate.configure(limit, window);
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), then returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
