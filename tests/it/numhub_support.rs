//! Shared parts of the NumHub client tests: a sandbox on loopback, a real store in a
//! temp folder, a tenant on the demo client, and a client wired to both. Log lines
//! are captured into one buffer so tests can grep them for secrets.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use numhub_sandbox::{Sandbox, SandboxConfig};
use numhubd::crypto::Crypto;
use numhubd::db::{tenants, Store, StoreOptions};
use numhubd::numhub::model::*;
use numhubd::numhub::{Client, ClientOptions, Credentials, Secret};

use crate::store_support::numhub_tenant;

pub const DEMO_EMAIL: &str = "demo@numhub.test";
pub const DEMO_PASSWORD: &str = "demo-password";
pub const TENANT: i64 = 1;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub crypto: Arc<Crypto>,
    pub sandbox: Sandbox,
    pub client: Client,
    pub opts: ClientOptions,
}

/// Every log line of the test binary (debug and up for numhubd).
pub fn logs() -> String {
    let buf = log_buffer();
    let guard = match buf.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    String::from_utf8_lossy(&guard).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut g) = log_buffer().lock() {
            g.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("numhubd=debug")
            .with_writer(|| Capture)
            .with_ansi(false)
            .try_init();
    });
}

pub fn demo() -> Credentials {
    Credentials {
        email: DEMO_EMAIL.into(),
        password: Secret::new(DEMO_PASSWORD),
    }
}

/// Test defaults: fast backoff, no pacing unless a test asks for it.
pub fn fast(o: &mut ClientOptions) {
    o.retry.backoff_base = Duration::from_millis(5);
    o.retry.backoff_max = Duration::from_millis(50);
    o.pacing.rate_limit = 0;
    o.request_timeout = Duration::from_secs(20);
}

pub async fn env(mut sandbox: SandboxConfig, tweak: impl FnOnce(&mut ClientOptions)) -> Env {
    init_logs();
    // Tenant 2 has a client of its own (one tenant per NumHub client), which every
    // account of the sandbox may act for.
    if sandbox.users.is_empty() {
        sandbox.users = vec![crate::sync_support::two_client_demo()];
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(&dir.path().join("numhubd.db"), StoreOptions::default()).expect("store");
    for (id, client_id) in [(TENANT, "1001"), (2, "1002")] {
        store
            .write(move |tx| {
                tenants::upsert(
                    tx,
                    numhub_tenant(id, &format!("Tenant {id}"), client_id, None),
                )
            })
            .await
            .expect("tenant");
    }
    let crypto = Arc::new(Crypto::load(&dir.path().join("identity.txt"), &[]).expect("crypto"));
    let sandbox = numhub_sandbox::start(([127, 0, 0, 1], 0).into(), sandbox)
        .await
        .expect("sandbox");
    let mut opts = numhubd::daemon::options::client_for(sandbox.base_url(), Some(demo()));
    fast(&mut opts);
    tweak(&mut opts);
    let client = Client::new(opts.clone(), store.clone(), crypto.clone()).expect("client");
    Env {
        dir,
        store,
        crypto,
        sandbox,
        client,
        opts,
    }
}

impl Env {
    /// Another client on the same database (a restart).
    pub fn second_client(&self) -> Client {
        Client::new(self.opts.clone(), self.store.clone(), self.crypto.clone()).expect("client")
    }

    pub fn total(&self, key: &str) -> u64 {
        self.sandbox.state()["totals"][key].as_u64().unwrap_or(0)
    }

    pub fn route(&self, key: &str) -> u64 {
        self.sandbox.state()["requests"][key].as_u64().unwrap_or(0)
    }

    /// Audit rows so far (after every queued audit write has committed).
    pub async fn audit_rows(&self) -> Vec<numhubd::db::sync_logs::SyncLog> {
        self.store.write(|_| Ok(())).await.expect("flush");
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = numhubd::db::sync_logs::LogQuery {
                cursor: cursor.clone(),
                limit: Some(500),
                ..Default::default()
            };
            let page = self
                .store
                .read(move |sql| numhubd::db::sync_logs::list(sql, &query))
                .await
                .expect("list");
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
    }
}

/// Polls `cond` (async) until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A valid application body (`status` `Saved` or `Submit`); `ein` is a business id the
/// audit must fingerprint.
pub fn application(name: &str, status: &str) -> ApplicationModel {
    ApplicationModel {
        applicant_information: Some(ApplicantInformation {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            email_address: Some("ada@example.com".into()),
            phone_number: Some("+15555550100".into()),
            ..Default::default()
        }),
        business_entity_details: Some(BusinessEntityDetails {
            legal_business_name: Some(name.into()),
            city: Some("Boston".into()),
            ..Default::default()
        }),
        business_identity_details: Some(BusinessIdentityDetails {
            federal_employer_id_number: Some("98-7654321".into()),
            ..Default::default()
        }),
        display_identity_information: Some(DisplayIdentityInfo {
            display_identities: Some(vec![PhoneNumberInfo {
                phone_numbers: Some(vec!["+15555550101".into()]),
                caller_name: Some("Acme".into()),
                call_reason: Some("Support".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        section: Some(1),
        status: Some(
            serde_json::from_value(serde_json::Value::from(status)).expect("Saved or Submit"),
        ),
        ..Default::default()
    }
}
