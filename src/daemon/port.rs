//! The RPC's seam to NumHub (`rpc::port::NumhubPort`), carried out by the NumHub
//! client and the sync engine: the methods a caller waits on (token refresh, OTP,
//! entity refresh, sync run, key rotation, the LOA template, written into the
//! entity's drop folder). Each NumHub or sync error becomes the
//! seam's `PortError` that says what happened: NumHub said no, could not be
//! reached, is not configured for the tenant, a database or rotation failure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use crate::config::Config;
use crate::crypto::Crypto;
use crate::db;
use crate::db::entities::Entity;
use crate::events::{Event, EventBus};
use crate::numhub::{self, NumhubError, Priority};
use crate::rpc::port::{
    CheckVerdict, KeysRotated, LoaTemplate, NumhubCheck, NumhubPort, OtpSent, OtpVerified,
    PortError, PortFuture, SecretText, SyncStarted, TenantCheck, TokenRefreshed,
};
use crate::sync::{SyncError, SyncHandle};
use crate::watch::layout;

use super::Context;

#[derive(Clone)]
pub struct Port {
    client: numhub::Client,
    store: db::Store,
    events: EventBus,
    sync: Option<SyncHandle>,
    /// What `keys.rotate` rotates: the identity every secret is encrypted to.
    crypto: Arc<Crypto>,
    identity_file: PathBuf,
    recipients: Vec<String>,
    /// `[drop] dir`: where the LOA template is written.
    drop_dir: PathBuf,
    /// `[drop] group`, resolved (the watcher logs one that cannot be): the group of
    /// the folders made for the template.
    drop_group: Option<u32>,
}

impl Port {
    pub fn new(ctx: &Context, config: &Config, sync: Option<SyncHandle>) -> Port {
        Port {
            client: ctx.numhub.clone(),
            store: ctx.store.clone(),
            events: ctx.events.clone(),
            sync,
            crypto: ctx.crypto.clone(),
            identity_file: config.crypto.identity_file.clone(),
            recipients: config.crypto.recipients.clone(),
            drop_dir: config.drop.dir.clone(),
            drop_group: config
                .drop
                .group
                .as_deref()
                .and_then(|g| crate::rpc::socket::lookup_group(g).ok()),
        }
    }
}

impl Port {
    /// One call a tenant's caller starts, counted against the tenant's share
    /// (`Client::spend_interactive`); calls for the global account alone are the
    /// admin's and are not counted.
    async fn spend(&self, tenant_id: Option<i64>) -> Result<(), PortError> {
        match tenant_id {
            Some(t) => self.client.spend_interactive(t).await.map_err(port_error),
            None => Ok(()),
        }
    }

    /// A call about one of the tenant's entities: counted (as [`Port::spend`]), then
    /// the entity's NumHub id, refused while NumHub has not assigned one yet (the
    /// create is still queued).
    async fn spend_on_entity(&self, tenant_id: i64, entity_id: &str) -> Result<Uuid, PortError> {
        self.spend(Some(tenant_id)).await?;
        let id = entity_id.to_string();
        let entity = self
            .store
            .read(move |sql| db::entities::get(sql, tenant_id, &id))
            .await?;
        numhub_uuid(entity_id, entity.numhub_entity_id.as_deref())
    }
}

impl NumhubPort for Port {
    fn token_refresh(&self, tenant_id: Option<i64>) -> PortFuture<TokenRefreshed> {
        let port = self.clone();
        Box::pin(async move {
            port.spend(tenant_id).await?;
            let expires_at = port
                .client
                .refresh_token(tenant_id)
                .await
                .map_err(port_error)?;
            port.events.publish(Event::TokenRefreshed {
                tenant_id,
                expires_at: expires_at.clone(),
            });
            Ok(TokenRefreshed {
                refreshed: true,
                expires_at,
            })
        })
    }

    fn otp_generate(&self, tenant_id: i64, entity_id: String, resend: bool) -> PortFuture<OtpSent> {
        let port = self.clone();
        Box::pin(async move {
            let id = port.spend_on_entity(tenant_id, &entity_id).await?;
            let answer = port
                .client
                .generate_otp(tenant_id, Priority::Interactive, id, resend)
                .await
                .map_err(port_error)?;
            Ok(OtpSent {
                sent: answer.success,
                message: answer.message,
            })
        })
    }

    fn credentials_set(
        &self,
        tenant_id: i64,
        email: String,
        password: SecretText,
    ) -> PortFuture<()> {
        let port = self.clone();
        Box::pin(async move {
            port.client
                .set_tenant_credentials(tenant_id, &email, &numhub::Secret::new(password.expose()))
                .await
                .map_err(port_error)
        })
    }

    fn otp_verify(
        &self,
        tenant_id: i64,
        entity_id: String,
        otp: SecretText,
    ) -> PortFuture<OtpVerified> {
        let port = self.clone();
        Box::pin(async move {
            // The document makes the code an int32: leading zeros cannot survive.
            let code: i32 = otp
                .expose()
                .trim()
                .parse()
                .map_err(|_| PortError::InvalidParams {
                    field: "otp",
                    reason: "must be the digits of the code (NumHub takes it as a number)".into(),
                })?;
            let id = port.spend_on_entity(tenant_id, &entity_id).await?;
            let answer = port
                .client
                .verify_otp(tenant_id, Priority::Interactive, id, code)
                .await
                .map_err(port_error)?;
            Ok(OtpVerified {
                verified: answer.success,
                message: answer.message,
            })
        })
    }

    fn entity_refresh(&self, tenant_id: i64, entity_id: String) -> PortFuture<Entity> {
        let port = self.clone();
        Box::pin(async move {
            let sync = port.sync.clone().ok_or_else(no_sync)?;
            port.spend(Some(tenant_id)).await?;
            sync.refresh_entity(tenant_id, &entity_id)
                .await
                .map_err(|e| match e {
                    SyncError::Numhub(n) => port_error(n),
                    SyncError::Db(db) => PortError::Db(db),
                    SyncError::NotAtNumhub(entity_id) => PortError::NotAtNumhub { entity_id },
                    SyncError::Invalid(reason) => PortError::Internal(reason),
                })
        })
    }

    fn sync_run(&self, tenant_id: Option<i64>) -> PortFuture<SyncStarted> {
        let sync = self.sync.clone();
        Box::pin(async move {
            sync.ok_or_else(no_sync)?.run_now(tenant_id);
            Ok(SyncStarted {
                started: true,
                tenant_id,
            })
        })
    }

    fn numhub_check(&self, tenant_id: Option<i64>) -> PortFuture<NumhubCheck> {
        let port = self.clone();
        Box::pin(async move {
            use numhub::check::Verdict;
            port.spend(tenant_id).await?;
            let checks = port.client.check(tenant_id).await.map_err(port_error)?;
            let tenants: Vec<TenantCheck> = checks
                .into_iter()
                .map(|c| {
                    let (verdict, client_name, reason) = match c.verdict {
                        Verdict::Listed { client_name } => (CheckVerdict::Listed, client_name, None),
                        Verdict::NotListed => (
                            CheckVerdict::NotListed,
                            None,
                            Some("NumHub does not list this client for the account: every call for this tenant is refused before it is sent".to_string()),
                        ),
                        Verdict::NotReported => (CheckVerdict::NotReported, None, None),
                        Verdict::Failed(why) => (CheckVerdict::Failed, None, Some(why)),
                    };
                    TenantCheck {
                        tenant_id: c.tenant_id,
                        name: c.name,
                        numhub_client_id: c.numhub_client_id,
                        account: c.account,
                        verdict,
                        client_name,
                        reason,
                        account_clients: c.account_clients.iter().map(|u| u.client_id).collect(),
                    }
                })
                .collect();
            let ok = tenants
                .iter()
                .all(|t| matches!(t.verdict, CheckVerdict::Listed | CheckVerdict::NotReported));
            Ok(NumhubCheck { ok, tenants })
        })
    }

    fn keys_rotate(&self) -> PortFuture<KeysRotated> {
        let port = self.clone();
        Box::pin(async move {
            let report = numhub::rotate::rotate_live(
                &port.store,
                &port.crypto,
                &port.identity_file,
                &port.recipients,
            )
            .await
            .map_err(|e| match e {
                NumhubError::Db(db) => PortError::Db(db),
                other => PortError::KeyRotation {
                    reason: other.to_string(),
                },
            })?;
            tracing::info!(
                tokens = report.tokens,
                credentials = report.credentials,
                login_blocks = report.login_blocks,
                "rotated the age identity"
            );
            Ok(KeysRotated {
                rotated: true,
                public_key: port.crypto.public_key(),
                tokens: report.tokens,
                credentials: report.credentials,
                login_blocks: report.login_blocks,
                old_identity: report.old_identity,
            })
        })
    }

    fn loa_template(&self, tenant_id: i64, entity_id: String) -> PortFuture<LoaTemplate> {
        let port = self.clone();
        Box::pin(async move {
            port.spend(Some(tenant_id)).await?;
            let id = entity_id.clone();
            let (entity, tenant) = port
                .store
                .read(move |sql| {
                    Ok((
                        db::entities::get(sql, tenant_id, &id)?,
                        db::tenants::get(sql, tenant_id)?,
                    ))
                })
                .await?;
            let nid = numhub_uuid(&entity_id, entity.numhub_entity_id.as_deref())?;
            let bytes = port
                .client
                .download_template(tenant_id, Priority::Interactive, nid)
                .await
                .map_err(port_error)?;
            let dir = layout::entity_dir(&port.drop_dir, &tenant, &entity);
            let path = dir.join(layout::TEMPLATE);
            let sha256 = numhub::audit::hex_sha256(&bytes);
            let size_bytes = bytes.len() as u64;
            let (target, group) = (path.clone(), port.drop_group);
            tokio::task::spawn_blocking(move || write_atomically(&dir, group, &target, &bytes))
                .await
                .map_err(|e| PortError::Internal(format!("writing the LOA template: {e}")))?
                .map_err(|e| PortError::DropFolder {
                    reason: format!("cannot write {}: {e}", path.display()),
                })?;
            Ok(LoaTemplate {
                path,
                size_bytes,
                sha256,
            })
        })
    }

    fn jobs_queued(&self) {
        if let Some(sync) = &self.sync {
            sync.kick_outbox();
        }
    }
}

fn no_sync() -> PortError {
    PortError::NotConfigured {
        reason: "the sync engine is not running".into(),
    }
}

fn numhub_uuid(entity_id: &str, nid: Option<&str>) -> Result<Uuid, PortError> {
    let nid = nid.ok_or_else(|| PortError::NotAtNumhub {
        entity_id: entity_id.to_string(),
    })?;
    Uuid::parse_str(nid).map_err(|_| {
        PortError::Internal(format!(
            "entity {entity_id}: NumHub id {nid:?} is not a uuid"
        ))
    })
}

/// Writes `bytes` to `path` so that a reader sees the old file or the whole new
/// one, never a part: a temporary file in the same folder (same filesystem),
/// fsynced, renamed over, then the folder fsynced so the rename survives a crash.
/// Missing folders are made as the watcher makes them (the operators' group works in
/// them, whatever the umask).
fn write_atomically(
    dir: &Path,
    group: Option<u32>,
    path: &Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::fs::{self, OpenOptions, Permissions};
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    crate::watch::folders::ensure_dir_all(dir, group)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        layout::TEMPLATE,
        Uuid::now_v7().simple()
    ));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&tmp)?;
        // The umask may have taken bits off; 0640 is what operators are promised.
        f.set_permissions(Permissions::from_mode(0o640))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // Best effort: a leftover temporary would only be clutter.
        let _ = fs::remove_file(&tmp);
    }
    written?;
    fs::File::open(dir)?.sync_all()
}

/// What a NumHub error means for the caller waiting on it.
fn port_error(e: NumhubError) -> PortError {
    match e {
        NumhubError::Rejected {
            status, message, ..
        } => PortError::Refused {
            status: Some(status),
            message: message.unwrap_or_else(|| format!("NumHub answered {status}")),
        },
        // A fresh token refused: NumHub said no, it was not out of reach.
        NumhubError::Unauthorized { .. } | NumhubError::LoginBlocked { .. } => PortError::Refused {
            status: e.status(),
            message: e.to_string(),
        },
        NumhubError::NoCredentials { .. } | NumhubError::Tenant { .. } => {
            PortError::NotConfigured {
                reason: e.to_string(),
            }
        }
        NumhubError::TenantBudget { .. } => PortError::Busy {
            reason: e.to_string(),
        },
        NumhubError::Db(db) => PortError::Db(db),
        NumhubError::Crypto(_) | NumhubError::Setup(_) | NumhubError::File { .. } => {
            PortError::Internal(e.to_string())
        }
        other => PortError::Unreachable {
            reason: other.to_string(),
        },
    }
}
