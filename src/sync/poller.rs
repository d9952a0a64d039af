//! The poller: keeps the replica current from NumHub with as few requests as possible.
//!
//! Each cycle, per enabled tenant:
//! 1. `GET /reports/status` (one request): the count of applications per status. If
//!    the counts are what they were last cycle, no application moved.
//! 2. Only when they moved (or a full sweep is due): the attestation list, page by
//!    page (`numhubEntityId`, `status`, `eid` per application). Rows whose status or
//!    EID differ are applied from the list, and only those are fetched whole
//!    (`GET /application/{id}`: the `api_response` cache and its display identities
//!    with their numbers). Applications we have no row for are imported. The list's
//!    `status` has no enum in the document: a value we cannot read is counted as an
//!    anomaly and the application is fetched whole (its status has the enum), once per
//!    value and EID, so that value neither stops its updates nor costs a fetch a sweep.
//! 3. `GET /applications/newdisplayidentity` for the window since the last cycle (one
//!    request when little changed); an identity whose name, status or number count
//!    differs is fetched whole. The count is compared with the replica's numbers and
//!    with what NumHub gave at the last whole fetch, so a number NumHub writes in a
//!    form the replica cannot read does not bring a fetch every cycle. The document
//!    does not say which date the window filters on, so a full sweep without a
//!    window runs every `full_sweep`.
//!
//! 4. `GET /notifications` (one request): NumHub's review alerts, into the replica's
//!    reviews by [`super::review`] (flagged comments fetched only for new or changed
//!    alerts, and on a full sweep).
//!
//! Both lists are walked by `numhub::paging::Pager` (pages capped below the size
//! asked, or `pageNumber` ignored, neither truncate a sweep nor loop it); what it learns
//! of the identity list's page size is kept per tenant until the next full sweep.
//!
//! A quiet cycle costs three requests whatever the number of applications. Cycles that
//! find nothing stretch the wait (up to twice `poll_interval`); a change, or
//! `sync.run`, brings it back.
//!
//! A value the replica cannot hold (an unknown status, a caller name over 32
//! characters) never breaks a CHECK: the row keeps its last valid value, the raw
//! answer stays in `api_response`, and the anomaly is logged and counted. A row with a
//! local change still queued keeps its local values (the change wins for the fields it
//! touches), and the conflict is logged. An application's status is held only by a
//! queued create, update or submit: its documents' uploads do not touch it, so NumHub's
//! verdict is applied while they drain.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{mapping, review, PollRequests, SyncContext, SyncError, SyncOptions};
use crate::db::{self, entities, identities, IdentityStatus};
use crate::events::Event;
use crate::numhub::model::{Application, AttestationItem, IdentityQuery};
use crate::numhub::paging::{Meta, PageMemory, Pager};
use crate::numhub::Priority;
use crate::shutdown::Shutdown;

/// How far back an identity window reaches before the last cycle began, for clock
/// skew between us and NumHub.
const WINDOW_OVERLAP: chrono::Duration = chrono::Duration::minutes(2);

/// What the poller remembers between cycles (in memory: after a restart the first
/// cycle is a full sweep, which compares against the database, so nothing is lost).
#[derive(Default)]
struct TenantMemory {
    counts: Option<BTreeMap<String, i32>>,
    last_full: Option<Instant>,
    identity_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Per NumHub identity id, how many numbers NumHub gave when it was last fetched
    /// whole: the list's count is compared with it too, so an identity whose numbers
    /// the replica cannot all hold (one unreadable, two spellings of one number) is
    /// not fetched again every cycle.
    reported_numbers: HashMap<String, usize>,
    /// Per NumHub application id, the list status we could not read and the EID the
    /// list showed when the application was last fetched whole for it: the same pair
    /// again says nothing moved.
    unknown_list_status: HashMap<String, (String, Option<String>)>,
    /// What the identity list's paging taught (it has no paging metadata).
    identity_pages: PageMemory,
    /// The review step's memory (which alerts were fetched for).
    reviews: review::ReviewMemory,
}

/// Runs until shutdown: a cycle over every enabled tenant when its time comes (or
/// `sync.run` without a tenant asks), and a cycle over just the tenants `sync.run`
/// named otherwise; the latter does not move the next full cycle.
pub async fn run(
    ctx: SyncContext,
    options: SyncOptions,
    wake: Arc<Notify>,
    requests: Arc<Mutex<PollRequests>>,
    anomalies: Arc<AtomicU64>,
    mut shutdown: Shutdown,
) {
    let mut memory: HashMap<i64, TenantMemory> = HashMap::new();
    let mut wait = options.poll_interval;
    let mut only: Option<BTreeSet<i64>> = None;
    let mut due = tokio::time::Instant::now();
    loop {
        let changed = poll_all(&ctx, &options, &anomalies, &mut memory, only.as_ref()).await;
        if only.is_none() || changed {
            wait = if changed {
                options.poll_interval
            } else {
                (wait + wait / 2).min(options.poll_interval * 2)
            };
            due = tokio::time::Instant::now() + wait;
        }
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = wake.notified() => {
                let asked = std::mem::take(
                    &mut *requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
                );
                if asked.all {
                    wait = options.poll_interval;
                    only = None;
                } else {
                    only = Some(asked.tenants);
                }
            }
            _ = tokio::time::sleep_until(due) => only = None,
        }
    }
}

/// One cycle over every tenant that syncs (or only those in `only`); returns
/// whether anything changed.
async fn poll_all(
    ctx: &SyncContext,
    options: &SyncOptions,
    anomalies: &AtomicU64,
    memory: &mut HashMap<i64, TenantMemory>,
    only: Option<&BTreeSet<i64>>,
) -> bool {
    let tenants = match ctx.store.read(db::tenants::list_enabled).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "poller cannot read tenants");
            return false;
        }
    };
    let mut changed = false;
    let asked = |id: i64| only.is_none_or(|set| set.contains(&id));
    for tenant in tenants
        .into_iter()
        .filter(|t| t.numhub_client_id.is_some() && asked(t.id))
    {
        let mem = memory.entry(tenant.id).or_default();
        match poll_tenant(ctx, options, anomalies, mem, tenant.id).await {
            Ok(n) => changed |= n > 0,
            Err(e) => {
                tracing::warn!(tenant = tenant.id, error = %e, "poll failed; next cycle retries");
                ctx.events.publish(Event::SyncFailed {
                    tenant_id: Some(tenant.id),
                    job_id: None,
                    error: e.to_string(),
                });
            }
        }
    }
    changed
}

/// One tenant's cycle; returns how many rows changed.
async fn poll_tenant(
    ctx: &SyncContext,
    options: &SyncOptions,
    anomalies: &AtomicU64,
    mem: &mut TenantMemory,
    tenant: i64,
) -> Result<usize, SyncError> {
    let full = mem
        .last_full
        .is_none_or(|t| t.elapsed() >= options.full_sweep);
    let cycle_started = chrono::Utc::now();
    let report = ctx
        .numhub
        .status_report(tenant, Priority::Background)
        .await?;
    let counts = report.status_count.unwrap_or_default();
    let mut changed = 0;
    if full || mem.counts.as_ref() != Some(&counts) {
        changed += sweep_applications(ctx, anomalies, tenant, &mut mem.unknown_list_status).await?;
        mem.counts = Some(counts);
    }
    let since = if full {
        // A server's paging may have changed since it was learned.
        mem.identity_pages = PageMemory::default();
        None
    } else {
        mem.identity_since
    };
    changed += sweep_identities(ctx, anomalies, tenant, since, mem).await?;
    mem.identity_since = Some(cycle_started - WINDOW_OVERLAP);
    changed += review::poll_reviews(ctx, anomalies, tenant, full, &mut mem.reviews).await?;
    if full {
        mem.last_full = Some(Instant::now());
    }
    Ok(changed)
}

/// Walks the attestation list; applies what differs; returns how many rows changed.
async fn sweep_applications(
    ctx: &SyncContext,
    anomalies: &AtomicU64,
    tenant: i64,
    unknown_list_status: &mut HashMap<String, (String, Option<String>)>,
) -> Result<usize, SyncError> {
    let index: HashMap<String, entities::RemoteKey> = ctx
        .store
        .read(move |sql| entities::numhub_index(sql, tenant))
        .await?
        .into_iter()
        .map(|k| (k.numhub_entity_id.clone(), k))
        .collect();
    let mut changed = 0;
    let mut pager = Pager::new("the attestation list", PageMemory::default());
    while let Some(ask) = pager.next_ask() {
        let list = ctx
            .numhub
            .attestation_list(tenant, Priority::Background, ask.page_number, ask.page_size)
            .await?;
        let meta = Meta::from(&list);
        let items = list.results.unwrap_or_default();
        for item in pager.take(items, |i| i.numhub_entity_id, meta) {
            if reconcile_listed(ctx, anomalies, tenant, &index, unknown_list_status, item).await? {
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// One application of the list against its row. Returns whether the row changed.
async fn reconcile_listed(
    ctx: &SyncContext,
    anomalies: &AtomicU64,
    tenant: i64,
    index: &HashMap<String, entities::RemoteKey>,
    unknown_list_status: &mut HashMap<String, (String, Option<String>)>,
    item: AttestationItem,
) -> Result<bool, SyncError> {
    let Some(uuid) = item.numhub_entity_id else {
        return Ok(false);
    };
    let nid = uuid.to_string();
    let raw_status = item.status.clone().unwrap_or_default();
    let eid = item.eid.clone().filter(|e| !e.is_empty());
    let listed = mapping::application_status(&raw_status);
    let unread = (raw_status.clone(), eid.clone());
    if listed.is_some() {
        unknown_list_status.remove(&nid);
    } else if unknown_list_status.get(&nid) == Some(&unread) {
        return Ok(false); // fetched whole for this very value and EID already
    } else {
        anomaly(
            anomalies,
            tenant,
            &nid,
            "attestation list status",
            &raw_status,
        );
    }
    match index.get(&nid) {
        None => {
            let (status, vetting) = match listed {
                Some(mapped) => mapped,
                None => {
                    let app = ctx
                        .numhub
                        .get_application(tenant, Priority::Background, uuid)
                        .await?;
                    let raw = app.status.unwrap_or_default();
                    let Some(mapped) = mapping::application_status(&raw) else {
                        anomaly(anomalies, tenant, &nid, "status", &raw);
                        return Ok(false);
                    };
                    unknown_list_status.insert(nid.clone(), unread);
                    mapped
                }
            };
            let name = item.company_name.clone().unwrap_or_default();
            let (nid2, eid2) = (nid.clone(), eid.clone());
            // Checked in the importing transaction, so an outbox that records the same
            // application meanwhile cannot race it into a twin: a create of that name
            // still unfinished may be ours (sent, outcome not yet recorded).
            let imported = ctx
                .store
                .write(move |tx| {
                    let ours = db::jobs::unfinished_create_names(tx, tenant)?.contains(&name);
                    if ours || entities::find_by_numhub_id(tx, tenant, &nid2)?.is_some() {
                        return Ok(None);
                    }
                    entities::import(tx, tenant, &nid2, &name, status, vetting, eid2.as_deref())
                        .map(Some)
                })
                .await?;
            let Some(row) = imported else {
                return Ok(false);
            };
            tracing::info!(tenant, entity = %row.id, numhub_entity_id = %nid, "imported an application NumHub lists");
            publish_entity(ctx, &row);
            Ok(true)
        }
        Some(local) => {
            if listed == Some((local.status, local.vetting_status)) && local.numhub_eid == eid {
                return Ok(false);
            }
            fetch_and_apply(ctx, anomalies, tenant, &local.id, &nid).await?;
            if listed.is_none() {
                unknown_list_status.insert(nid, unread);
            }
            Ok(true)
        }
    }
}

/// `entity.refresh`: fetch one entity from NumHub now and apply what changed.
pub async fn refresh_entity(
    ctx: &SyncContext,
    anomalies: &AtomicU64,
    tenant_id: i64,
    entity_id: &str,
) -> Result<entities::Entity, SyncError> {
    let id = entity_id.to_string();
    let entity = ctx
        .store
        .read(move |sql| entities::get(sql, tenant_id, &id))
        .await?;
    let nid = entity
        .numhub_entity_id
        .ok_or_else(|| SyncError::NotAtNumhub(entity_id.to_string()))?;
    fetch_and_apply(ctx, anomalies, tenant_id, entity_id, &nid).await
}

/// `GET /application/{id}` and apply it: status, EID, the `api_response` cache, and
/// the display identities it carries (with their numbers), all in ONE transaction, so
/// no reader sees the application `approved` before its identities; events are
/// published after the commit.
async fn fetch_and_apply(
    ctx: &SyncContext,
    anomalies: &AtomicU64,
    tenant: i64,
    entity_id: &str,
    numhub_entity_id: &str,
) -> Result<entities::Entity, SyncError> {
    let uuid = Uuid::parse_str(numhub_entity_id)
        .map_err(|_| SyncError::Invalid(format!("NumHub id {numhub_entity_id:?} is not a uuid")))?;
    let app = ctx
        .numhub
        .get_application(tenant, Priority::Background, uuid)
        .await?;
    let raw_status = app.status.clone().unwrap_or_default();
    let mapped = mapping::application_status(&raw_status);
    if mapped.is_none() {
        anomaly(anomalies, tenant, numhub_entity_id, "status", &raw_status);
    }
    let cache = serde_json::to_string(&app).map_err(|e| SyncError::Invalid(e.to_string()))?;
    let identities = application_identities(&app)?;
    let (id, nid) = (entity_id.to_string(), numhub_entity_id.to_string());
    let eid = app
        .eid
        .clone()
        .filter(|e| !e.is_empty() && e.chars().count() <= 50);
    let (after, applied) = ctx
        .store
        .write(move |tx| {
            let before = entities::get(tx, tenant, &id)?;
            entities::set_api_response(tx, tenant, &id, &cache)?;
            if let Some(eid) = eid.as_deref() {
                entities::set_numhub_ids(tx, tenant, &id, &nid, Some(eid), None)?;
            }
            if let Some((status, vetting)) = mapped {
                if db::jobs::status_change_pending(tx, &id)? {
                    if (status, vetting) != (before.status, before.vetting_status) {
                        tracing::warn!(entity = %id, numhub = %status, local = %before.status,
                            "conflict: NumHub reports a status while a local change is queued; the local change wins");
                    }
                } else {
                    entities::apply_reported_status(tx, tenant, &id, status, vetting)?;
                }
            }
            let after = entities::get(tx, tenant, &id)?;
            let mut applied = Applied::default();
            if (before.status, before.vetting_status) != (after.status, after.vetting_status) {
                applied.entity = Some(after.clone());
            }
            for remote in identities.clone() {
                apply_identity(tx, tenant, &id, remote, &mut applied)?;
            }
            Ok((after, applied))
        })
        .await?;
    applied.report(ctx, anomalies, tenant);
    Ok(after)
}

/// The display identities an application carries that NumHub has made identities
/// (those without a `numhubIdentityId` are not yet: the application is not complete).
fn application_identities(app: &Application) -> Result<Vec<RemoteIdentity>, SyncError> {
    let listed = app
        .display_identity_information
        .as_ref()
        .and_then(|d| d.display_identities.clone())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(listed.len());
    for ident in listed {
        let Some(nid) = ident.numhub_identity_id.map(|u| u.to_string()) else {
            continue;
        };
        let answer =
            serde_json::to_string(&ident).map_err(|e| SyncError::Invalid(e.to_string()))?;
        out.push(RemoteIdentity {
            numhub_identity_id: nid,
            caller_name: ident.caller_name.unwrap_or_default(),
            call_reason: ident.call_reason,
            logo_url: ident.logo_url,
            status: ident.status.unwrap_or_default(),
            phone_numbers: ident.phone_numbers.unwrap_or_default(),
            dir_id: ident.dir_id,
            answer,
        });
    }
    Ok(out)
}

/// An identity as NumHub describes it, from whichever answer carried it.
#[derive(Clone)]
struct RemoteIdentity {
    numhub_identity_id: String,
    caller_name: String,
    call_reason: Option<String>,
    logo_url: Option<String>,
    status: String,
    phone_numbers: Vec<String>,
    dir_id: Option<String>,
    /// That answer's identity whole (JSON), for the row's `api_response`.
    answer: String,
}

/// What one write of NumHub's state did, told once it has committed: the events to
/// publish and the values the replica could not hold.
#[derive(Default)]
struct Applied {
    /// The entity, when its status or vetting status changed.
    entity: Option<entities::Entity>,
    identities: Vec<identities::Identity>,
    /// (NumHub id, field, value as sent).
    anomalies: Vec<(String, &'static str, String)>,
}

impl Applied {
    fn anomaly(&mut self, numhub_id: &str, field: &'static str, value: &str) {
        self.anomalies
            .push((numhub_id.to_string(), field, value.to_string()));
    }

    /// Counts and logs the anomalies, then publishes the entity's event before its
    /// identities'.
    fn report(self, ctx: &SyncContext, anomalies: &AtomicU64, tenant: i64) {
        for (numhub_id, field, value) in &self.anomalies {
            anomaly(anomalies, tenant, numhub_id, field, value);
        }
        if let Some(e) = &self.entity {
            publish_entity(ctx, e);
        }
        for row in self.identities {
            ctx.events.publish(Event::identity_changed(tenant, &row));
        }
    }
}

/// Upserts one identity inside the caller's transaction, keeping the last valid value
/// of anything the replica cannot hold, and links its numbers to the tenant's brand
/// numbers. Whether a local change is queued is read in the same transaction that
/// writes, so a change queued an instant earlier is never overwritten (the local
/// change wins; what NumHub holds is still kept as its `api_response` and `dir_id`).
fn apply_identity(
    tx: &db::Tx<'_>,
    tenant: i64,
    entity_id: &str,
    remote: RemoteIdentity,
    applied: &mut Applied,
) -> db::Result<()> {
    let nid = remote.numhub_identity_id.clone();
    let dir_id = remote.dir_id.filter(|d| !d.is_empty());
    if let Some(d) = dir_id.as_deref().filter(|d| !mapping::holdable_dir_id(d)) {
        applied.anomaly(&nid, "dirId", d);
    }
    let dir_id = dir_id.filter(|d| mapping::holdable_dir_id(d));
    let existing = identities::find_by_numhub_id(tx, tenant, &nid)?;
    if let Some(found) = &existing {
        if db::jobs::pending_for_identity(tx, &found.id)?.is_some() {
            tracing::warn!(identity = %found.id, "conflict: NumHub changed an identity with a local change queued; the local change wins");
            let answer = merged_answer(found.api_response.as_ref(), &remote.answer);
            identities::set_remote(tx, tenant, &found.id, dir_id.as_deref(), Some(&answer))?;
            return Ok(());
        }
    }
    let display_name = if remote.caller_name.chars().count() <= 32 && !remote.caller_name.is_empty()
    {
        remote.caller_name.clone()
    } else {
        applied.anomaly(&nid, "callerName", &remote.caller_name);
        match &existing {
            Some(found) => found.display_name.clone(),
            None => return Ok(()), // nothing valid to keep: wait for a valid name
        }
    };
    // An unknown word is counted and stays raw in `api_response`; a new row waits as
    // `pending` rather than be guessed active.
    let status = match mapping::identity_status(&remote.status) {
        Some(s) => s,
        None => {
            applied.anomaly(&nid, "identity status", &remote.status);
            existing
                .as_ref()
                .map(|f| f.status)
                .unwrap_or(IdentityStatus::Pending)
        }
    };
    // NumHub's spelling (`818-444-5555`, …) read as E.164; one that cannot be read is
    // logged with the identity and counted, and the rest are kept.
    let mut numbers: Vec<String> = Vec::with_capacity(remote.phone_numbers.len());
    for written in &remote.phone_numbers {
        match mapping::phone_from_numhub(written) {
            Some(n) if !numbers.contains(&n) => numbers.push(n),
            Some(_) => {}
            None => applied.anomaly(&nid, "phone number", written),
        }
    }
    let input = identities::IdentityInput {
        entity_id: entity_id.to_string(),
        numhub_identity_id: nid,
        display_name,
        call_reason: remote
            .call_reason
            .filter(|r| r.chars().count() <= 255)
            .or_else(|| existing.as_ref().and_then(|f| f.call_reason.clone())),
        logo_url: remote
            .logo_url
            .filter(|u| u.chars().count() <= 500)
            .or_else(|| existing.as_ref().and_then(|f| f.logo_url.clone())),
        status,
        rich_call_data: existing
            .as_ref()
            .and_then(|f| f.rich_call_data.as_ref())
            .map(Value::to_string),
        phone_numbers: numbers,
        dir_id,
        api_response: Some(merged_answer(
            existing.as_ref().and_then(|f| f.api_response.as_ref()),
            &remote.answer,
        )),
    };
    let (row, changed) = identities::upsert(tx, tenant, input)?;
    if changed {
        db::brands::link_numbers_to_identity(tx, tenant, &row.id, &row.phone_numbers)?;
        applied.identities.push(row);
    }
    // Inside the transaction that may also carry the application's new status: a
    // crash here must leave neither (the crash test of one commit).
    crate::killpoint::hit("identity_applied");
    Ok(())
}

/// NumHub's answer as the row keeps it: the new one laid over what the row holds, so
/// a field only the whole identity carries (`isFeeChecked`, which change requests
/// send back) outlives an application's shorter item.
fn merged_answer(held: Option<&Value>, answer: &str) -> String {
    match (held, serde_json::from_str::<Value>(answer)) {
        (Some(Value::Object(held)), Ok(Value::Object(new))) => {
            let mut merged = held.clone();
            merged.extend(new);
            Value::Object(merged).to_string()
        }
        _ => answer.to_string(),
    }
}

/// Walks the identity list (the window since `since`, or everything); fetches whole
/// only the identities that differ. Returns how many rows changed.
async fn sweep_identities(
    ctx: &SyncContext,
    anomalies: &AtomicU64,
    tenant: i64,
    since: Option<chrono::DateTime<chrono::Utc>>,
    mem: &mut TenantMemory,
) -> Result<usize, SyncError> {
    let reported_numbers = &mut mem.reported_numbers;
    let index: HashMap<String, String> = ctx
        .store
        .read(move |sql| entities::numhub_index(sql, tenant))
        .await?
        .into_iter()
        .map(|k| (k.numhub_entity_id, k.id))
        .collect();
    let mut changed = 0;
    let mut pager = Pager::new("the display-identity list", mem.identity_pages);
    while let Some(ask) = pager.next_ask() {
        let query = IdentityQuery {
            page_number: Some(ask.page_number),
            page_size: Some(ask.page_size),
            start_date: since.map(db::format_ts),
            ..IdentityQuery::default()
        };
        let items = ctx
            .numhub
            .list_display_identities(tenant, Priority::Background, &query)
            .await?;
        for item in pager.take(items, |i| i.numhub_identity_id, Meta::default()) {
            let (Some(nid), Some(parent)) = (item.numhub_identity_id, item.numhub_entity_id) else {
                continue;
            };
            // Identities of applications we have no row for come with the application.
            let Some(entity_id) = index.get(&parent.to_string()) else {
                continue;
            };
            let nid_s = nid.to_string();
            let reported = reported_numbers.get(&nid_s).copied();
            let local = ctx
                .store
                .read(move |sql| identities::find_by_numhub_id(sql, tenant, &nid_s))
                .await?;
            let same = local.as_ref().is_some_and(|l| {
                Some(l.display_name.as_str()) == item.caller_name.as_deref()
                    && mapping::identity_status(item.status.as_deref().unwrap_or(""))
                        .is_none_or(|s| s == l.status)
                    && item.tele_phone_count.is_some_and(|c| {
                        let c = c as usize;
                        c == l.phone_numbers.len() || Some(c) == reported
                    })
            });
            if same {
                continue;
            }
            let whole = ctx
                .numhub
                .get_display_identity(tenant, Priority::Background, nid)
                .await?;
            let answer =
                serde_json::to_string(&whole).map_err(|e| SyncError::Invalid(e.to_string()))?;
            let remote = RemoteIdentity {
                numhub_identity_id: nid.to_string(),
                caller_name: whole.caller_name.unwrap_or_default(),
                call_reason: whole.call_reason,
                logo_url: whole.logo_url,
                status: whole.status.unwrap_or_default(),
                phone_numbers: whole.phone_numbers.unwrap_or_default(),
                dir_id: whole.dir_id,
                answer,
            };
            reported_numbers.insert(nid.to_string(), remote.phone_numbers.len());
            let entity_id = entity_id.clone();
            let applied = ctx
                .store
                .write(move |tx| {
                    let mut applied = Applied::default();
                    apply_identity(tx, tenant, &entity_id, remote.clone(), &mut applied)?;
                    Ok(applied)
                })
                .await?;
            changed += applied.identities.len();
            applied.report(ctx, anomalies, tenant);
        }
    }
    mem.identity_pages = pager.memory();
    Ok(changed)
}

pub(super) fn publish_entity(ctx: &SyncContext, row: &entities::Entity) {
    ctx.events.publish(Event::entity_changed(row));
}

/// A value NumHub sent that the replica cannot hold: logged and counted, never stored
/// in a column (the raw answer stays in `api_response` where there is one).
fn anomaly(anomalies: &AtomicU64, tenant: i64, numhub_id: &str, field: &str, value: &str) {
    anomalies.fetch_add(1, Ordering::Relaxed);
    let shown: String = value.chars().take(64).collect();
    tracing::warn!(tenant, numhub_id, field, value = %shown, "NumHub sent a value the replica cannot hold; kept the last valid one");
}
