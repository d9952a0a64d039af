//! The review step of a poll cycle: NumHub's feedback on flagged applications into
//! `numhub_reviews`.
//!
//! NumHub publishes no webhooks, but `GET /notifications` lists an alert per flagged
//! review (`companyName`, `clientId`, `message`; no application id). Once per cycle
//! per tenant the alerts are read and matched to the tenant's applications by client
//! and company name; an alert that names no application, or several, is an anomaly
//! (logged and counted once while it stays listed). The flagged comments
//! (`GET /notifications/{id}/flag`) are fetched only for an application whose alerts
//! are new or changed since the last cycle, and for every alerted application on a
//! full sweep — never every alert every cycle. A new set of comments is a new flag:
//! `entity.flagged` is published once for it. An application NumHub no longer alerts
//! for loses its review, and its `vetting_status` follows its status again.
//!
//! The document is silent on how alerts spell things, so every reasonable reading is
//! taken: company names match ignoring case and runs of spaces; a `clientId` of 0 or
//! none is the client asked for (the request names it); several alerts for one
//! application (one per flagged section, say) are one review, their messages joined.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use super::{SyncContext, SyncError};
use crate::db::{self, entities, reviews};
use crate::events::Event;
use crate::numhub::model::{Alert, FlaggedComments};
use crate::numhub::Priority;

/// What the review step remembers between cycles (in memory: after a restart the
/// first cycle is a full sweep, compared against the rows).
#[derive(Default)]
pub(super) struct ReviewMemory {
    /// Per local entity, its alerts' messages as last fetched for.
    alerts: HashMap<String, String>,
    /// Alerts already counted as anomalies, so one stays one while it is listed.
    anomalous: HashSet<String>,
}

/// One cycle's review step for `tenant`; returns how many entities' reviews changed.
pub(super) async fn poll_reviews(
    ctx: &SyncContext,
    anomalies: &AtomicU64,
    tenant: i64,
    full: bool,
    mem: &mut ReviewMemory,
) -> Result<usize, SyncError> {
    let alerts = ctx
        .numhub
        .notifications(tenant, Priority::Background)
        .await?;
    let (client_id, named, reviewed) = ctx
        .store
        .read(move |sql| {
            Ok((
                db::tenants::get(sql, tenant)?.numhub_client_id,
                entities::named_at_numhub(sql, tenant)?,
                reviews::under_review(sql, tenant)?,
            ))
        })
        .await?;
    let client_id: Option<i32> = client_id.and_then(|c| c.parse().ok());
    let alerted = match_alerts(anomalies, tenant, client_id, &named, &alerts, mem);

    let mut changed = 0;
    for (entity, messages) in &alerted {
        if !full && mem.alerts.get(&entity.id) == Some(messages) {
            continue;
        }
        if flag(ctx, tenant, entity, messages).await? {
            changed += 1;
        }
        mem.alerts.insert(entity.id.clone(), messages.clone());
    }
    let listed: HashSet<&str> = alerted.keys().map(|e| e.id.as_str()).collect();
    for id in reviewed.iter().filter(|id| !listed.contains(id.as_str())) {
        if unflag(ctx, tenant, id).await? {
            changed += 1;
        }
    }
    mem.alerts.retain(|id, _| listed.contains(id.as_str()));
    Ok(changed)
}

/// An application an alert names, keyed so a map of them is in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Alerted {
    id: String,
    numhub_entity_id: String,
}

/// Each alerted application with its alerts' messages (joined by a newline, in
/// NumHub's order); the alerts of other clients are left to their tenants.
fn match_alerts(
    anomalies: &AtomicU64,
    tenant: i64,
    client_id: Option<i32>,
    named: &[entities::NamedAtNumhub],
    alerts: &[Alert],
    mem: &mut ReviewMemory,
) -> BTreeMap<Alerted, String> {
    let mut by_name: HashMap<String, Vec<&entities::NamedAtNumhub>> = HashMap::new();
    for e in named {
        by_name
            .entry(comparable(&e.company_name))
            .or_default()
            .push(e);
    }
    let mut out: BTreeMap<Alerted, String> = BTreeMap::new();
    let mut still_anomalous = HashSet::new();
    for alert in alerts {
        let theirs = alert.client_id.filter(|c| *c != 0);
        if theirs.is_some() && theirs != client_id {
            continue;
        }
        let name = alert.company_name.clone().unwrap_or_default();
        let found = by_name
            .get(&comparable(&name))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let [entity] = found else {
            let key = format!("{name}\u{1f}{}", alert.message.as_deref().unwrap_or(""));
            if mem.anomalous.insert(key.clone()) {
                anomalies.fetch_add(1, Ordering::Relaxed);
                let shown: String = name.chars().take(64).collect();
                tracing::warn!(tenant, company_name = %shown, matches = found.len(),
                    "NumHub alerts for a flagged review whose company name matches no application or several of this tenant; not kept");
            }
            still_anomalous.insert(key);
            continue;
        };
        let messages = out
            .entry(Alerted {
                id: entity.id.clone(),
                numhub_entity_id: entity.numhub_entity_id.clone(),
            })
            .or_default();
        if let Some(m) = alert.message.as_deref().filter(|m| !m.is_empty()) {
            if !messages.is_empty() {
                messages.push('\n');
            }
            messages.push_str(m);
        }
    }
    mem.anomalous.retain(|k| still_anomalous.contains(k));
    out
}

/// A company name as alerts are matched: case and runs of white space do not count.
fn comparable(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Fetches the application's flagged comments and keeps them with the alerts'
/// message; publishes `entity.flagged` for a new set. Returns whether it was new.
async fn flag(
    ctx: &SyncContext,
    tenant: i64,
    entity: &Alerted,
    messages: &str,
) -> Result<bool, SyncError> {
    let uuid = Uuid::parse_str(&entity.numhub_entity_id).map_err(|_| {
        SyncError::Invalid(format!(
            "NumHub id {:?} is not a uuid",
            entity.numhub_entity_id
        ))
    })?;
    let answer = ctx
        .numhub
        .flagged_comments(tenant, Priority::Background, uuid)
        .await?;
    let comments: Vec<reviews::FlaggedSection> = answer
        .flagged_comments
        .unwrap_or_default()
        .into_iter()
        .map(section)
        .collect();
    let message: Option<String> =
        (!messages.is_empty()).then(|| messages.chars().take(reviews::MESSAGE_MAX).collect());
    let id = entity.id.clone();
    let (outcome, before, after, review) = ctx
        .store
        .write(move |tx| {
            let before = entities::get(tx, tenant, &id)?;
            let outcome = reviews::record(tx, &id, message.as_deref(), &comments)?;
            Ok((
                outcome,
                before,
                entities::get(tx, tenant, &id)?,
                reviews::find(tx, &id)?,
            ))
        })
        .await?;
    if outcome != reviews::Recorded::NewFlag {
        return Ok(false);
    }
    let Some(review) = review else {
        return Ok(false);
    };
    tracing::info!(tenant, entity = %entity.id, sections = review.flagged_comments.len(), "NumHub flagged the application");
    ctx.events.publish(Event::EntityFlagged {
        tenant_id: tenant,
        entity_id: entity.id.clone(),
        numhub_entity_id: entity.numhub_entity_id.clone(),
        message: review.message.clone(),
        flagged_comments: review.flagged_comments.clone(),
        flagged_at: review.flagged_at.clone(),
    });
    publish_if_vetting_moved(ctx, &before, &after);
    Ok(true)
}

/// NumHub no longer alerts for the application: its review ends. Returns whether
/// there was one.
async fn unflag(ctx: &SyncContext, tenant: i64, entity_id: &str) -> Result<bool, SyncError> {
    let id = entity_id.to_string();
    let (cleared, before, after) = ctx
        .store
        .write(move |tx| {
            let before = entities::get(tx, tenant, &id)?;
            let cleared = reviews::clear(tx, &id)?;
            Ok((cleared, before, entities::get(tx, tenant, &id)?))
        })
        .await?;
    if cleared {
        tracing::info!(tenant, entity = %entity_id, "NumHub no longer flags the application; its review ended");
        publish_if_vetting_moved(ctx, &before, &after);
    }
    Ok(cleared)
}

fn section(c: FlaggedComments) -> reviews::FlaggedSection {
    reviews::FlaggedSection {
        section_number: c.section_number,
        section_name: c.section_name,
        comments: c.comments,
    }
}

/// A review moves the shown `vetting_status` (`pending` ↔ `in_review`): subscribers
/// hear it as any other status change.
fn publish_if_vetting_moved(
    ctx: &SyncContext,
    before: &entities::Entity,
    after: &entities::Entity,
) {
    if before.vetting_status != after.vetting_status {
        super::poller::publish_entity(ctx, after);
    }
}
