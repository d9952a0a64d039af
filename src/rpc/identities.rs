//! `identity.*`: display identities (the caller name, logo and call reason NumHub
//! shows for a set of numbers). A change is written locally with its outbox job in
//! one transaction; the answer is the local state with its `sync` object.

use std::sync::Arc;

use super::access::{Caller, Role};
use super::error::RpcError;
use super::methods::{method, MethodDef, Scope};
use super::rows::{child_page, queued, wait_for};
use super::wire::ToWire;
use super::Rpc;
use crate::api::{
    ChildQuery, Identity, IdentityChange, IdentityDeactivate, IdentityGet, IdentityList,
    IdentityNumbers, IdentityNumbersAdd, IdentityNumbersRemove, IdentityUpdate, Page, RowRef,
    RowWait, WithSync,
};
use crate::db::{self, identities, jobs, IdentityStatus};
use crate::events::Event;

pub fn methods() -> Vec<MethodDef> {
    use Role::*;
    use Scope::*;
    vec![
        method::<IdentityList>("The tenant's display identities (of one entity, if given).", Read, Tenant("tenant_id"), identity_list),
        method::<IdentityGet>("One display identity.", Read, Tenant("tenant_id"), identity_get),
        method::<IdentityUpdate>("Changes what an identity shows (display_name at most 32 characters); queued for NumHub.", Write, Tenant("tenant_id"), identity_update),
        method::<IdentityDeactivate>("Deactivates an identity; queued for NumHub.", Write, Tenant("tenant_id"), identity_deactivate),
        method::<IdentityNumbersAdd>("Adds E.164 numbers to an identity; queued for NumHub.", Write, Tenant("tenant_id"), identity_numbers_add),
        method::<IdentityNumbersRemove>("Removes E.164 numbers from an identity; queued for NumHub.", Write, Tenant("tenant_id"), identity_numbers_remove),
    ]
}

async fn identity_list(
    rpc: Arc<Rpc>,
    _: Caller,
    p: ChildQuery,
) -> Result<Page<WithSync<Identity>>, RpcError> {
    child_page::<Identity>(&rpc, p).await
}

async fn identity_get(rpc: Arc<Rpc>, _: Caller, p: RowRef) -> Result<WithSync<Identity>, RpcError> {
    rpc.store
        .read_point(move |sql| jobs::with_pending(sql, identities::get(sql, p.tenant_id, &p.id)?))
        .await?
        .to_wire()
}

/// Applies a local identity change and queues its job, then answers.
async fn change_identity<F>(
    rpc: Arc<Rpc>,
    tenant_id: i64,
    id: String,
    payload: jobs::JobPayload,
    wait_s: Option<u64>,
    change: F,
) -> Result<WithSync<Identity>, RpcError>
where
    F: Fn(&db::Tx<'_>) -> db::Result<identities::Identity> + Send + 'static,
{
    let (identity, job_id) = rpc
        .store
        .write(move |tx| {
            let before = identities::get(tx, tenant_id, &id)?;
            let after = change(tx)?;
            let job = jobs::enqueue(
                tx,
                jobs::NewJob {
                    identity_id: Some(id.clone()),
                    ..jobs::NewJob::on_entity(tenant_id, before.entity_id.clone(), payload.clone())
                },
            )?;
            Ok((after, job.id))
        })
        .await?;
    queued(&rpc);
    rpc.events
        .publish(Event::identity_changed(tenant_id, &identity));
    wait_for(&rpc, tenant_id, job_id, wait_s).await?;
    let id = identity.id.clone();
    rpc.store
        .read(move |sql| jobs::with_pending(sql, identities::get(sql, tenant_id, &id)?))
        .await?
        .to_wire()
}

async fn identity_update(
    rpc: Arc<Rpc>,
    _: Caller,
    p: IdentityChange,
) -> Result<WithSync<Identity>, RpcError> {
    if p.display_name.is_none() && p.call_reason.is_none() && p.logo_url.is_none() {
        return Err(RpcError::invalid(
            "display_name",
            "give at least one of display_name, call_reason, logo_url",
        ));
    }
    let payload = jobs::JobPayload::IdentityUpdate(jobs::IdentityUpdate {
        display_name: p.display_name.clone(),
        call_reason: p.call_reason.clone(),
        logo_url: p.logo_url.clone(),
    });
    let (t, id) = (p.tenant_id, p.id.clone());
    change_identity(rpc, p.tenant_id, p.id, payload, p.wait_s, move |tx| {
        identities::update_display(
            tx,
            t,
            &id,
            p.display_name.as_deref(),
            p.call_reason.as_deref(),
            p.logo_url.as_deref(),
        )
    })
    .await
}

async fn identity_deactivate(
    rpc: Arc<Rpc>,
    _: Caller,
    p: RowWait,
) -> Result<WithSync<Identity>, RpcError> {
    let (t, id) = (p.tenant_id, p.id.clone());
    change_identity(
        rpc,
        p.tenant_id,
        p.id,
        jobs::JobPayload::IdentityDeactivate(jobs::Nothing {}),
        p.wait_s,
        move |tx| identities::set_status(tx, t, &id, IdentityStatus::Inactive),
    )
    .await
}

async fn identity_numbers_add(
    rpc: Arc<Rpc>,
    _: Caller,
    p: IdentityNumbers,
) -> Result<WithSync<Identity>, RpcError> {
    change_numbers(
        rpc,
        p,
        jobs::JobPayload::IdentityNumbersAdd,
        |current, numbers| {
            for n in numbers {
                if !current.contains(n) {
                    current.push(n.clone());
                }
            }
        },
    )
    .await
}

async fn identity_numbers_remove(
    rpc: Arc<Rpc>,
    _: Caller,
    p: IdentityNumbers,
) -> Result<WithSync<Identity>, RpcError> {
    change_numbers(
        rpc,
        p,
        jobs::JobPayload::IdentityNumbersRemove,
        |current, numbers| current.retain(|n| !numbers.contains(n)),
    )
    .await
}

/// A change of an identity's numbers: the replica's list changed by `apply`, and the
/// job that asks NumHub for the same (`payload` names the direction).
async fn change_numbers(
    rpc: Arc<Rpc>,
    p: IdentityNumbers,
    payload: fn(jobs::PhoneNumbers) -> jobs::JobPayload,
    apply: fn(&mut Vec<String>, &[String]),
) -> Result<WithSync<Identity>, RpcError> {
    let (t, id, numbers) = (p.tenant_id, p.id.clone(), p.phone_numbers.clone());
    change_identity(
        rpc,
        p.tenant_id,
        p.id,
        payload(jobs::PhoneNumbers {
            phone_numbers: p.phone_numbers,
        }),
        p.wait_s,
        move |tx| {
            let mut current = identities::get(tx, t, &id)?.phone_numbers;
            apply(&mut current, &numbers);
            identities::set_phone_numbers(tx, t, &id, &current)
        },
    )
    .await
}
