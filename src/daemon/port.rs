//! The RPC's seam to NumHub (`rpc::port::NumhubPort`), carried out by the NumHub
//! client: the methods a caller waits on (token refresh, OTP). Each NumHub error
//! becomes the seam's two outcomes — NumHub said no, or NumHub could not be reached.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::config::Config;
use crate::crypto::Crypto;
use crate::db;
use crate::events::{Event, EventBus};
use crate::numhub::{self, NumhubError, Priority};
use crate::rpc::port::{NumhubCall, NumhubPort, PortError, PortFuture};
use crate::sync::{SyncError, SyncHandle};

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
        }
    }
}

impl NumhubPort for Port {
    fn call(&self, call: NumhubCall) -> PortFuture {
        let port = self.clone();
        Box::pin(async move { port.carry_out(call).await })
    }

    fn jobs_queued(&self) {
        if let Some(sync) = &self.sync {
            sync.kick_outbox();
        }
    }
}

impl Port {
    async fn carry_out(self, call: NumhubCall) -> Result<Value, PortError> {
        let Port {
            client,
            store,
            events,
            sync,
            ..
        } = self.clone();
        match call {
            NumhubCall::TokenRefresh { tenant_id } => {
                let expires_at = client.refresh_token(tenant_id).await.map_err(port_error)?;
                events.publish(Event::TokenRefreshed {
                    tenant_id,
                    expires_at: expires_at.clone(),
                });
                Ok(json!({"refreshed": true, "expires_at": expires_at}))
            }
            NumhubCall::OtpGenerate {
                tenant_id,
                entity_id,
                resend,
            } => {
                let id = numhub_id(&store, tenant_id, &entity_id).await?;
                let answer = client
                    .generate_otp(tenant_id, Priority::Interactive, id, resend)
                    .await
                    .map_err(port_error)?;
                Ok(json!({"sent": answer.success, "message": answer.message}))
            }
            NumhubCall::OtpVerify {
                tenant_id,
                entity_id,
                otp,
            } => {
                // The document makes the code an int32: leading zeros cannot survive.
                let code: i32 = otp.trim().parse().map_err(|_| PortError::Rejected {
                    status: None,
                    message: "otp: must be the digits of the code (NumHub takes it as a number)"
                        .into(),
                })?;
                let id = numhub_id(&store, tenant_id, &entity_id).await?;
                let answer = client
                    .verify_otp(tenant_id, Priority::Interactive, id, code)
                    .await
                    .map_err(port_error)?;
                Ok(json!({"verified": answer.success, "message": answer.message}))
            }
            NumhubCall::EntityRefresh {
                tenant_id,
                entity_id,
            } => match sync {
                Some(sync) => {
                    sync.refresh_entity(tenant_id, &entity_id)
                        .await
                        .map_err(|e| match e {
                            SyncError::Numhub(n) => port_error(n),
                            SyncError::NotAtNumhub(_) => PortError::Unavailable {
                                reason: e.to_string(),
                            },
                            other => PortError::Rejected {
                                status: None,
                                message: other.to_string(),
                            },
                        })
                }
                None => Err(no_sync()),
            },
            NumhubCall::SyncRun { tenant_id } => match sync {
                Some(sync) => {
                    sync.run_now(tenant_id);
                    Ok(json!({"started": true, "tenant_id": tenant_id}))
                }
                None => Err(no_sync()),
            },
            NumhubCall::KeysRotate => {
                let report = numhub::rotate::rotate_live(
                    &store,
                    &self.crypto,
                    &self.identity_file,
                    &self.recipients,
                )
                .await
                .map_err(|e| PortError::Rejected {
                    status: None,
                    message: e.to_string(),
                })?;
                tracing::info!(
                    tokens = report.tokens,
                    credentials = report.credentials,
                    login_blocks = report.login_blocks,
                    "rotated the age identity"
                );
                Ok(json!({
                    "rotated": true,
                    "public_key": self.crypto.public_key(),
                    "tokens": report.tokens,
                    "credentials": report.credentials,
                    "login_blocks": report.login_blocks,
                    "old_identity": report.old_identity,
                }))
            }
        }
    }
}

fn no_sync() -> PortError {
    PortError::Unavailable {
        reason: "the sync engine is not running".into(),
    }
}

/// NumHub's id of a local entity of the tenant; refused while NumHub has not
/// assigned one yet (the create is still queued).
async fn numhub_id(store: &db::Store, tenant_id: i64, entity_id: &str) -> Result<Uuid, PortError> {
    let id = entity_id.to_string();
    let entity = store
        .read(move |sql| db::entities::get(sql, tenant_id, &id))
        .await
        .map_err(|e| PortError::Rejected {
            status: None,
            message: e.to_string(),
        })?;
    let nid = entity
        .numhub_entity_id
        .ok_or_else(|| PortError::Unavailable {
            reason: format!("entity {entity_id} has no NumHub id yet: its create is still queued"),
        })?;
    Uuid::parse_str(&nid).map_err(|_| PortError::Rejected {
        status: None,
        message: format!("entity {entity_id}: NumHub id {nid:?} is not a uuid"),
    })
}

fn port_error(e: NumhubError) -> PortError {
    match e {
        NumhubError::Rejected {
            status, message, ..
        } => PortError::Rejected {
            status: Some(status),
            message: message.unwrap_or_else(|| format!("NumHub answered {status}")),
        },
        NumhubError::LoginBlocked { .. }
        | NumhubError::NoCredentials { .. }
        | NumhubError::Tenant { .. } => PortError::Rejected {
            status: None,
            message: e.to_string(),
        },
        other => PortError::Unavailable {
            reason: other.to_string(),
        },
    }
}
