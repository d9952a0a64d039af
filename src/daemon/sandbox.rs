//! `serve --sandbox`: an embedded NumHub sandbox on loopback, so a new user sees the
//! whole flow with no NumHub account. The daemon talks to it over real HTTP exactly
//! as it would to NumHub; nothing else of the sandbox crate is used. The crate is
//! the cargo feature `sandbox` (on by default); a build without it (a package)
//! has no sandbox, and `serve --sandbox` is refused before anything starts.

use crate::config::Config;
use crate::db::origin::{self, NumhubOrigin};

use super::DaemonError;

/// The sandbox's seeded demo account (a contract of the sandbox crate).
pub const DEMO_EMAIL: &str = "demo@numhub.test";
pub const DEMO_CLIENT_ID: i32 = 1001;
const DEMO_PASSWORD: &str = "demo-password";

/// The demo account's login, used as the global account under `serve --sandbox`.
pub fn demo_credentials() -> crate::numhub::Credentials {
    crate::numhub::Credentials {
        email: DEMO_EMAIL.into(),
        password: crate::numhub::Secret::new(DEMO_PASSWORD),
    }
}

/// The tenant a first run under `--sandbox` works with, mapped to the demo client.
pub const DEMO_TENANT_ID: i64 = 1;

/// Makes the database the sandbox's, before anything talks to it: records its
/// NumHub origin as the sandbox (kept across restarts, whatever port the sandbox
/// gets), and creates the demo tenant (enabled, client 1001) unless tenant 1 exists
/// already, so a first run shows the whole flow without any set-up call.
pub async fn adopt_store(store: &crate::db::Store) -> Result<(), DaemonError> {
    let recorded = store
        .write(|tx| {
            let recorded = origin::record_if_absent(tx, &NumhubOrigin::Sandbox)?;
            if recorded != NumhubOrigin::Sandbox
                || crate::db::tenants::find(tx, DEMO_TENANT_ID)?.is_some()
            {
                return Ok(recorded);
            }
            crate::db::tenants::upsert(
                tx,
                crate::db::tenants::TenantFields {
                    id: DEMO_TENANT_ID,
                    name: "Sandbox demo".into(),
                    numhub_client_id: Some(DEMO_CLIENT_ID.to_string()),
                    numhub_enabled: Some(true),
                    ..Default::default()
                },
            )?;
            Ok(recorded)
        })
        .await?;
    match recorded {
        NumhubOrigin::Sandbox => Ok(()),
        // Checked before the file was opened; only a concurrent writer gets here.
        other => Err(DaemonError::WrongNumhub(format!(
            "the database has talked to {other}; serve --sandbox refuses it"
        ))),
    }
}

/// The running embedded sandbox.
#[cfg(feature = "sandbox")]
pub struct Running(numhub_sandbox::Sandbox);

/// Built without the `sandbox` feature: there is never a running sandbox.
#[cfg(not(feature = "sandbox"))]
pub enum Running {}

impl Running {
    pub async fn shutdown(self) {
        #[cfg(feature = "sandbox")]
        self.0.shutdown().await;
    }
}

/// Starts the sandbox and points `config` at it.
#[cfg(feature = "sandbox")]
pub async fn start(config: &mut Config) -> Result<Running, DaemonError> {
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let sandbox = numhub_sandbox::start(listen, numhub_sandbox::SandboxConfig::default())
        .await
        .map_err(|e| DaemonError::Io {
            what: "starting the embedded NumHub sandbox".into(),
            source: e.into(),
        })?;
    let url = reqwest::Url::parse(&sandbox.base_url()).map_err(|e| DaemonError::Io {
        what: "the embedded NumHub sandbox's address".into(),
        source: e.into(),
    })?;
    config.numhub.base_url = Some(url);
    tracing::info!(
        url = %sandbox.base_url(),
        email = DEMO_EMAIL,
        client_id = DEMO_CLIENT_ID,
        "using the embedded NumHub sandbox (serve --sandbox); admin routes under /__sandbox/"
    );
    Ok(Running(sandbox))
}

/// Built without the `sandbox` feature (the binary refuses `--sandbox` earlier).
#[cfg(not(feature = "sandbox"))]
pub async fn start(_config: &mut Config) -> Result<Running, DaemonError> {
    Err(DaemonError::Io {
        what: "serve --sandbox".into(),
        source: "this numhubd was built without the embedded sandbox (cargo feature `sandbox`)"
            .into(),
    })
}
