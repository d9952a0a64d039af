//! Operator methods: health and status, the NumHub-backed actions (through the
//! [`NumhubPort`](super::port::NumhubPort) seam), the exchange log, outbox jobs,
//! `rpc.discover`, and the `events.subscribe` entry of the table.

use std::sync::Arc;

use serde_json::{json, Value};

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{def, method, require_tenant_of_row, subscription, MethodDef, Scope};
use super::port::{
    KeysRotated, NumhubCheck, NumhubPort, OtpSent, OtpVerified, SecretText, SyncStarted,
    TokenRefreshed,
};
use super::wire::ToWire;
use super::Rpc;
use crate::api::{
    ById, DaemonHealth, DaemonStatus, Degraded, DegradedComponent, Empty, Entity, EntityAt,
    EntityRefresh, EventsSubscribe, Health, HealthState, Job, JobQuery, JobResolve, JobsList,
    JobsResolve, JobsRetry, KeysRotate, LogEntry, LogList, LogPurge, LogQuery, MaybeTenant, Method,
    NumhubCheckRun, OpenRpc, OtpCode, OtpGenerate, OtpRequest, OtpVerify, Page, PurgeBefore,
    Purged, RpcDiscover, Status, Subscription, SyncRun, TokenRefresh, API_VERSION, DAEMON_VERSION,
};
use crate::db::{self, entities, jobs, sync_logs, tenants};
use crate::events::Event;

pub fn methods() -> Vec<MethodDef> {
    use Role::*;
    use Scope::*;
    vec![
        method::<DaemonHealth>("Is the daemon up; its version and API version (the version handshake). Open to every connection.", None, Open, health),
        method::<DaemonStatus>("Version, uptime, schema version, database size, jobs by state; NumHub fields are null until the client reports them.", Read, Open, status),
        method::<TokenRefresh>("Gets a new NumHub token now (tenant's, or the global account's).", Write, OptionalTenant("tenant_id"), token_refresh),
        method::<OtpGenerate>("Asks NumHub to send the applicant an OTP for the application.", Write, Tenant("tenant_id"), otp_generate),
        method::<OtpVerify>("Passes the applicant's OTP to NumHub. The OTP is never logged or stored.", Write, Tenant("tenant_id"), otp_verify),
        method::<EntityRefresh>("Fetches the application's current state from NumHub now.", Write, Tenant("tenant_id"), entity_refresh),
        method::<SyncRun>("Runs a sync cycle now (one tenant, or all).", Write, OptionalTenant("tenant_id"), sync_run),
        method::<NumhubCheckRun>("Test connection: logs in to NumHub afresh and reports, per tenant (one, or all), whether its numhub_client_id is one of the clients NumHub lists for its account (userClients).", Write, OptionalTenant("tenant_id"), numhub_check),
        method::<KeysRotate>("Re-encrypts stored secrets to a new age identity.", Admin, Global, keys_rotate),
        method::<LogList>("NumHub exchanges, newest first. Payloads only for admin.", Read, OptionalTenant("tenant_id"), log_list),
        method::<LogPurge>("Deletes exchange log rows older than `before`.", Admin, Global, log_purge),
        method::<JobsList>("Outbox jobs, newest first (one tenant's, or all).", Read, OptionalTenant("tenant_id"), jobs_list),
        method::<JobsRetry>("Makes a dead, failed, waiting or needs_attention job due again now.", Admin, ByRow, jobs_retry),
        method::<JobsResolve>("Settles a dead or needs_attention job by hand (marks it done).", Admin, ByRow, jobs_resolve),
        subscription::<EventsSubscribe>("WebSocket only: pushes entity.status_changed, entity.flagged (NumHub flagged an application: its review's sections and comments, once per new set), document.status_changed, document.dropped (a dropped file refused or a duplicate: its path, outcome and reason), identity.changed, token.refreshed, sync.failed, job.finished (of the caller's tenants) as `events.event` notifications; events.lagged tells a slow subscriber how many it missed. events.unsubscribe ends it.", Read, OwnTenants("tenant_id")),
        def(EventsSubscribe::UNSUBSCRIBE, "Ends a subscription; params by position: [subscription id].", Read, Open,
            json!({"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1, "maxItems": 1}),
            json!({"type": "boolean"}), Option::None),
        method::<RpcDiscover>("This API's OpenRPC document.", None, Open, discover),
    ]
}

/// Monitors and every numhubctl's version handshake call it, so it reads no table:
/// only while the database refuses writes does it try one (a tiny one), so that it
/// reports `ok` as soon as space is back.
async fn health(rpc: Arc<Rpc>, _: Caller, _: Empty) -> Result<Health, RpcError> {
    let degraded = degraded(&rpc).await;
    Ok(Health {
        ok: degraded.is_empty(),
        status: state_of(&degraded),
        degraded,
        daemon_version: DAEMON_VERSION.to_string(),
        api_version: API_VERSION,
    })
}

/// What keeps the daemon from its work now (see [`Health`]).
async fn degraded(rpc: &Rpc) -> Vec<Degraded> {
    rpc.store
        .recheck_writes()
        .await
        .map(|r| Degraded {
            component: DegradedComponent::Database,
            cause: r.cause,
            since: r.since,
        })
        .into_iter()
        .collect()
}

fn state_of(degraded: &[Degraded]) -> HealthState {
    if degraded.is_empty() {
        HealthState::Ok
    } else {
        HealthState::Degraded
    }
}

/// Open to every reader, so it shows only what concerns the caller's tenants: a
/// blocked login of a tenant the caller cannot see, or of the shared account to a
/// caller limited to some tenants, is left out.
async fn status(rpc: Arc<Rpc>, caller: Caller, _: Empty) -> Result<Status, RpcError> {
    let (schema_version, jobs, token, blocks, last) = rpc
        .store
        .read(|sql| {
            Ok((
                db::schema_version(sql)?,
                jobs::depth_by_state(sql)?,
                db::tokens::get_access(sql, None)?,
                db::login_blocks::all(sql)?,
                db::sync_logs::last_exchange(sql)?,
            ))
        })
        .await?;
    let size = rpc.store.size_bytes().await?;
    let degraded = degraded(&rpc).await;
    Ok(Status {
        status: state_of(&degraded),
        degraded,
        daemon_version: DAEMON_VERSION.to_string(),
        api_version: API_VERSION,
        uptime_s: rpc.started.elapsed().as_secs(),
        schema_version,
        db_size_bytes: size,
        jobs: jobs.into_iter().map(|(s, n)| (s.to_string(), n)).collect(),
        numhub_reachable: last.map(|(_, code)| answered(code)),
        numhub_rate_budget: None,
        token_expires_at: token.map(|t| t.expires_at),
        watcher: rpc.watcher.get(),
        connections: rpc.connections.load(std::sync::atomic::Ordering::Relaxed),
        blocked_logins: blocks
            .into_iter()
            .filter(|b| match b.account.strip_prefix("tenant:") {
                Some(t) => t.parse().is_ok_and(|t| caller.may_see_tenant(t)),
                None => matches!(caller.tenants, super::access::Tenants::All),
            })
            .map(|b| crate::api::BlockedLogin {
                account: b.account,
                reason: b.reason,
                status_code: b.status_code,
                since: b.blocked_at,
            })
            .collect(),
        sync_anomalies: rpc
            .sync_anomalies
            .load(std::sync::atomic::Ordering::Relaxed),
        cluster: cluster_status(&rpc).await?,
    })
}

/// `daemon.status`'s `cluster` (None on SQLite).
async fn cluster_status(rpc: &Rpc) -> Result<Option<crate::api::ClusterStatus>, RpcError> {
    let Some(node) = &rpc.cluster_node else {
        return Ok(None);
    };
    let (lease, nodes) = crate::cluster::status(&rpc.store).await?;
    Ok(Some(crate::api::ClusterStatus {
        node: node.clone(),
        leader: lease.leader,
        epoch: lease.epoch,
        lease_expires_at: lease.expires_at,
        nodes: nodes
            .into_iter()
            .map(|n| crate::api::ClusterNode {
                node: n.node,
                last_seen: n.last_seen,
            })
            .collect(),
    }))
}

/// Whether an exchange's HTTP status shows NumHub answering: a connection failure
/// (no status) or a server error (5xx: down, overloaded, or a gateway in front of
/// it answering for it) is not an answer; a 4xx (including 429) is NumHub's own.
fn answered(status_code: Option<i64>) -> bool {
    status_code.is_some_and(|c| c < 500)
}

/// The seam, or "unavailable" while there is none.
pub(super) fn port(rpc: &Rpc) -> Result<&dyn NumhubPort, RpcError> {
    rpc.numhub.as_deref().ok_or_else(|| {
        RpcError::NumhubUnavailable("the NumHub client is not running in this daemon".into())
    })
}

async fn require_tenant(rpc: &Rpc, tenant_id: Option<i64>) -> Result<(), RpcError> {
    if let Some(t) = tenant_id {
        rpc.store.read(move |sql| tenants::get(sql, t)).await?;
    }
    Ok(())
}

/// A refresh lifts the account's login block and logs in afresh. The global account
/// is shared by every tenant without a login of its own, so only an admin may do
/// that to it; a writer may refresh its tenant's own login.
async fn token_refresh(
    rpc: Arc<Rpc>,
    caller: Caller,
    p: MaybeTenant,
) -> Result<TokenRefreshed, RpcError> {
    require_tenant(&rpc, p.tenant_id).await?;
    if caller.role < Role::Admin {
        let own_login = match p.tenant_id {
            Some(t) => {
                rpc.store
                    .read(move |sql| db::credentials::exists(sql, t))
                    .await?
            }
            None => false,
        };
        if !own_login {
            return Err(RpcError::Forbidden(
                "tenant_id: the tenant has no NumHub login of its own; the shared account's token is refreshed by an admin".into(),
            ));
        }
    }
    Ok(port(&rpc)?.token_refresh(p.tenant_id).await?)
}

async fn sync_run(rpc: Arc<Rpc>, _: Caller, p: MaybeTenant) -> Result<SyncStarted, RpcError> {
    require_tenant(&rpc, p.tenant_id).await?;
    Ok(port(&rpc)?.sync_run(p.tenant_id).await?)
}

async fn numhub_check(rpc: Arc<Rpc>, _: Caller, p: MaybeTenant) -> Result<NumhubCheck, RpcError> {
    require_tenant(&rpc, p.tenant_id).await?;
    Ok(port(&rpc)?.numhub_check(p.tenant_id).await?)
}

async fn keys_rotate(rpc: Arc<Rpc>, _: Caller, _: Empty) -> Result<KeysRotated, RpcError> {
    Ok(port(&rpc)?.keys_rotate().await?)
}

async fn existing_entity(rpc: &Rpc, tenant_id: i64, id: &str) -> Result<(), RpcError> {
    let id = id.to_string();
    rpc.store
        .read(move |sql| entities::get(sql, tenant_id, &id))
        .await?;
    Ok(())
}

async fn otp_generate(rpc: Arc<Rpc>, _: Caller, p: OtpRequest) -> Result<OtpSent, RpcError> {
    existing_entity(&rpc, p.tenant_id, &p.entity_id).await?;
    let resend = p.resend.unwrap_or(false);
    Ok(port(&rpc)?
        .otp_generate(p.tenant_id, p.entity_id, resend)
        .await?)
}

async fn entity_refresh(rpc: Arc<Rpc>, _: Caller, p: EntityAt) -> Result<Entity, RpcError> {
    existing_entity(&rpc, p.tenant_id, &p.entity_id).await?;
    Ok(port(&rpc)?.entity_refresh(p.tenant_id, p.entity_id).await?)
}

async fn otp_verify(rpc: Arc<Rpc>, _: Caller, p: OtpCode) -> Result<OtpVerified, RpcError> {
    existing_entity(&rpc, p.tenant_id, &p.entity_id).await?;
    Ok(port(&rpc)?
        .otp_verify(
            p.tenant_id,
            p.entity_id,
            SecretText::new(p.otp.into_inner()),
        )
        .await?)
}

async fn log_list(rpc: Arc<Rpc>, caller: Caller, p: LogQuery) -> Result<Page<LogEntry>, RpcError> {
    let mut page = rpc
        .store
        .read(move |sql| sync_logs::list(sql, &p))
        .await?
        .to_wire()?;
    if caller.role < Role::Admin {
        // Payloads are redacted already, but still business data: admins only.
        for row in &mut page.items {
            row.request_payload = None;
            row.response_payload = None;
        }
    }
    Ok(page)
}

async fn log_purge(rpc: Arc<Rpc>, _: Caller, p: PurgeBefore) -> Result<Purged, RpcError> {
    let before = db::format_ts(db::parse_ts("before", &p.before)?);
    let deleted = rpc
        .store
        .delete_in_batches(move |tx, batch| sync_logs::purge_older_than(tx, &before, batch))
        .await?;
    Ok(Purged { deleted })
}

/// A read-role caller sees job payloads with the business identifiers of their
/// application bodies (`Rpc::business_id_fields`) as `[redacted]`.
async fn jobs_list(rpc: Arc<Rpc>, caller: Caller, p: JobQuery) -> Result<Page<Job>, RpcError> {
    let state = p.state;
    let mut page = rpc
        .store
        .read(move |sql| jobs::list(sql, p.tenant_id, state, p.cursor.as_deref(), p.limit))
        .await?
        .to_wire()?;
    if caller.role <= Role::Read {
        for job in &mut page.items {
            redact_keys(&mut job.payload, &rpc.business_id_fields);
        }
    }
    Ok(page)
}

/// Replaces the value of every key in `keys` (at any depth) with `[redacted]`.
fn redact_keys(v: &mut Value, keys: &[String]) {
    match v {
        Value::Object(map) => {
            for (k, inner) in map.iter_mut() {
                if keys.iter().any(|f| f.eq_ignore_ascii_case(k)) {
                    *inner = json!("[redacted]");
                } else {
                    redact_keys(inner, keys);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_keys(i, keys)),
        _ => {}
    }
}

async fn job_tenant(rpc: &Rpc, caller: &Caller, method: &str, id: i64) -> Result<i64, RpcError> {
    let job = rpc.store.read(move |sql| jobs::get_any(sql, id)).await?;
    require_tenant_of_row(caller, method, job.tenant_id)?;
    Ok(job.tenant_id)
}

async fn jobs_retry(rpc: Arc<Rpc>, caller: Caller, p: ById) -> Result<Job, RpcError> {
    let t = job_tenant(&rpc, &caller, JobsRetry::NAME, p.id).await?;
    rpc.store
        .write(move |tx| jobs::retry(tx, t, p.id))
        .await?
        .to_wire()
}

async fn jobs_resolve(rpc: Arc<Rpc>, caller: Caller, p: JobResolve) -> Result<Job, RpcError> {
    let t = job_tenant(&rpc, &caller, JobsResolve::NAME, p.id).await?;
    let job = rpc
        .store
        .write(move |tx| jobs::resolve(tx, t, p.id, p.note.as_deref()))
        .await?;
    // A `wait_s` still waiting on it ends now, as for a job the outbox finished.
    rpc.events.publish(Event::JobFinished {
        tenant_id: job.tenant_id,
        job_id: job.id,
        state: job.state,
    });
    job.to_wire()
}

async fn discover(_: Arc<Rpc>, _: Caller, _: Empty) -> Result<OpenRpc, RpcError> {
    Ok(OpenRpc(super::openrpc::document()))
}
