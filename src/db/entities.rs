//! `numhub_entities`: BCID applications, each mapped to NumHub's NumhubEntityId.

use super::engine::{args, read_row, ts, ts_opt, Row};

use super::jobs::{newest_unfinished_job_id, Pending};
use super::reviews::shown_vetting_status;
use super::{
    check_json, check_len, check_not_blank, new_id, now_ts, page_limit, require_tenant,
    AttestationLevel, DbError, EntityStatus, EntityType, Page, Result, Sql, Tx, VettingStatus,
};

/// The row as the protocol shows it: one type for the table and the wire.
pub use crate::api::Entity;

#[derive(Debug, Clone)]
pub struct NewEntity {
    pub tenant_id: i64,
    pub brand_id: Option<i64>,
    pub entity_type: EntityType,
    pub company_name: String,
    /// Whether the caller asked NumHub to vet it now (`submitted`) or only saved it (`draft`).
    pub submit: bool,
    pub attestation_level: Option<AttestationLevel>,
}

/// The columns [`from_row`] reads, in its order; a macro so statements are built at
/// compile time (`format!` per call was a measurable part of a point read).
/// The vetting status is the one shown (`in_review` while NumHub's review stands).
macro_rules! columns {
    () => {
        concat!(
            "id, tenant_id, brand_id, numhub_entity_id, numhub_eid, entity_type, company_name, status, ",
            shown_vetting_status!(),
            ", attestation_level, api_response, submitted_at, approved_at, created_at, updated_at"
        )
    };
}

fn from_row(r: &Row<'_>) -> Result<Entity> {
    read_row!(r => Entity {
        id, tenant_id, brand_id, numhub_entity_id, numhub_eid, entity_type, company_name,
        status, vetting_status, attestation_level, api_response: json, submitted_at,
        approved_at, created_at, updated_at,
    })
}

pub fn create(tx: &Tx<'_>, new: NewEntity) -> Result<Entity> {
    check_not_blank("company_name", &new.company_name)?;
    check_len("company_name", &new.company_name, 255)?;
    require_tenant(tx, new.tenant_id)?;
    if let Some(brand_id) = new.brand_id {
        super::brands::get(tx, new.tenant_id, brand_id).map_err(|_| DbError::UnknownReference {
            field: "brand_id",
            what: "brand of this tenant",
            id: brand_id.to_string(),
        })?;
    }
    let id = new_id();
    let status = if new.submit {
        EntityStatus::Submitted
    } else {
        EntityStatus::Draft
    };
    tx.execute(
        "INSERT INTO numhub_entities (id, tenant_id, brand_id, entity_type, company_name, status,
             vetting_status, attestation_level, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?8)",
        args![
            id,
            new.tenant_id,
            new.brand_id,
            new.entity_type.as_str(),
            new.company_name,
            status.as_str(),
            new.attestation_level.map(AttestationLevel::as_str),
            ts(&now_ts())
        ],
    )?;
    get(tx, new.tenant_id, &id)
}

pub fn find(sql: &Sql<'_>, tenant_id: i64, id: &str) -> Result<Option<Entity>> {
    sql.row(
        concat!(
            "SELECT ",
            columns!(),
            " FROM numhub_entities WHERE id = ?1 AND tenant_id = ?2"
        ),
        args![id, tenant_id],
        from_row,
    )
}

pub fn get(sql: &Sql<'_>, tenant_id: i64, id: &str) -> Result<Entity> {
    find(sql, tenant_id, id)?.ok_or_else(|| DbError::not_found("entity", id))
}

const GET_WITH_PENDING: &str = concat!(
    "SELECT ",
    columns!(),
    newest_unfinished_job_id!("entity_id", "numhub_entities.id"),
    " FROM numhub_entities WHERE id = ?1 AND tenant_id = ?2"
);
const LIST_ALL: &str = concat!(
    "SELECT ",
    columns!(),
    newest_unfinished_job_id!("entity_id", "numhub_entities.id"),
    " FROM numhub_entities WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
);
const LIST_BY_STATUS: &str = concat!(
    "SELECT ",
    columns!(),
    newest_unfinished_job_id!("entity_id", "numhub_entities.id"),
    " FROM numhub_entities WHERE tenant_id = ?1 AND status = ?2 AND id > ?3 ORDER BY id LIMIT ?4"
);

/// A row and its newest unfinished job's id.
fn with_job_id(r: &Row<'_>) -> Result<(Entity, Option<i64>)> {
    Ok((from_row(r)?, r.get(15)?))
}

/// The entity and its newest unfinished job (for the `sync` object). One statement
/// finds the row and the job's id (one read transaction instead of two), so a row
/// with nothing on its way to NumHub costs one point read.
pub fn get_with_pending(
    sql: &Sql<'_>,
    tenant_id: i64,
    id: &str,
) -> Result<(Entity, Option<Pending>)> {
    let (entity, job_id) = sql
        .row(GET_WITH_PENDING, args![id, tenant_id], with_job_id)?
        .ok_or_else(|| DbError::not_found("entity", id))?;
    Ok((entity, super::jobs::pending_for_job_id(sql, job_id)?))
}

/// By NumHub's id, within the tenant, if there is one.
pub fn find_by_numhub_id(
    sql: &Sql<'_>,
    tenant_id: i64,
    numhub_entity_id: &str,
) -> Result<Option<Entity>> {
    sql.row(
        concat!(
            "SELECT ",
            columns!(),
            " FROM numhub_entities WHERE numhub_entity_id = ?1 AND tenant_id = ?2"
        ),
        args![numhub_entity_id, tenant_id],
        from_row,
    )
}

/// By NumHub's id, within the tenant.
pub fn get_by_numhub_id(sql: &Sql<'_>, tenant_id: i64, numhub_entity_id: &str) -> Result<Entity> {
    find_by_numhub_id(sql, tenant_id, numhub_entity_id)?
        .ok_or_else(|| DbError::not_found("entity", numhub_entity_id))
}

/// The tenant's entities in creation order (uuid v7 order), optionally of one status.
pub fn list(
    sql: &Sql<'_>,
    tenant_id: i64,
    status: Option<EntityStatus>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Entity>> {
    list_rows(sql, tenant_id, status, cursor, limit)?.try_map(|(e, _)| Ok(e))
}

/// [`list`], each entity with its newest unfinished job: one statement for the page,
/// and one more per row that has a job (not one per row).
pub fn list_with_pending(
    sql: &Sql<'_>,
    tenant_id: i64,
    status: Option<EntityStatus>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<(Entity, Option<Pending>)>> {
    list_rows(sql, tenant_id, status, cursor, limit)?
        .try_map(|(e, job_id)| Ok((e, super::jobs::pending_for_job_id(sql, job_id)?)))
}

fn list_rows(
    sql: &Sql<'_>,
    tenant_id: i64,
    status: Option<EntityStatus>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<(Entity, Option<i64>)>> {
    let limit = page_limit(limit)?;
    let after = cursor.unwrap_or("");
    // Two statements rather than `(?2 IS NULL OR status = ?2)`, which keeps the planner
    // from walking the (tenant_id[, status], id) index in order.
    let rows = match status {
        Some(status) => sql.rows(
            LIST_BY_STATUS,
            args![tenant_id, status.as_str(), after, limit + 1],
            with_job_id,
        )?,
        None => sql.rows(LIST_ALL, args![tenant_id, after, limit + 1], with_job_id)?,
    };
    Ok(Page::from_rows(rows, limit, |(e, _)| e.id.clone()))
}

/// A status change requested locally: only the seed's flow is allowed.
pub fn transition(tx: &Tx<'_>, tenant_id: i64, id: &str, to: EntityStatus) -> Result<Entity> {
    let current = get(tx, tenant_id, id)?;
    if current.status == to {
        return Ok(current);
    }
    if !current.status.may_become(to) {
        return Err(DbError::IllegalTransition {
            from: current.status.to_string(),
            to: to.to_string(),
        });
    }
    // The stored vetting status stays: `current` shows `in_review` during a review,
    // which is not the column's (NumHub's status maps to it, see `columns!`).
    write_status(tx, &current, to, None)?;
    get(tx, tenant_id, id)
}

/// Whether an application's content may change locally (`entity.update`): NumHub
/// takes changes only while it is not being vetted, so a draft or a rejected one.
pub fn may_change(status: EntityStatus) -> bool {
    matches!(status, EntityStatus::Draft | EntityStatus::Rejected)
}

/// The row, if its content may change now; otherwise why not.
pub fn ensure_changeable(tx: &Tx<'_>, tenant_id: i64, id: &str) -> Result<Entity> {
    let e = get(tx, tenant_id, id)?;
    if !may_change(e.status) {
        return Err(DbError::IllegalTransition {
            from: e.status.to_string(),
            to: "updated (only draft or rejected applications can change)".into(),
        });
    }
    Ok(e)
}

/// A local submit (`entity.submit`): a draft is submitted, a rejected application
/// resubmitted; one already submitted (or further along) is refused rather than
/// sent twice.
pub fn submit(tx: &Tx<'_>, tenant_id: i64, id: &str) -> Result<Entity> {
    let e = get(tx, tenant_id, id)?;
    if e.status == EntityStatus::Submitted {
        return Err(DbError::IllegalTransition {
            from: e.status.to_string(),
            to: EntityStatus::Submitted.to_string(),
        });
    }
    transition(tx, tenant_id, id, EntityStatus::Submitted)
}

/// A status NumHub reported: applied as reported, whatever the local flow says
/// (NumHub is the authority on vetting). Returns the row and whether it changed.
pub fn apply_reported_status(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: &str,
    status: EntityStatus,
    vetting_status: VettingStatus,
) -> Result<(Entity, bool)> {
    let current = get(tx, tenant_id, id)?;
    // Compared with the column, not the shown value: a review shows `in_review` over a
    // `pending` that NumHub's status still maps to.
    let stored: String = tx.one(
        "SELECT vetting_status FROM numhub_entities WHERE id = ?1",
        args![id],
        |r| r.get(0),
    )?;
    if current.status == status && stored == vetting_status.as_str() {
        return Ok((current, false));
    }
    if current.status != status && !current.status.may_become(status) {
        tracing::info!(
            entity = id,
            from = %current.status,
            to = %status,
            "NumHub reported a status outside the local flow; applied as reported"
        );
    }
    write_status(tx, &current, status, Some(vetting_status))?;
    Ok((get(tx, tenant_id, id)?, true))
}

/// Writes `status` (and `vetting_status`, or keeps the column's with `None`).
fn write_status(
    tx: &Tx<'_>,
    current: &Entity,
    status: EntityStatus,
    vetting_status: Option<VettingStatus>,
) -> Result<()> {
    let now = now_ts();
    // approved_at: when we first saw it approved (NumHub's document has no such field).
    let approved_at = match (&current.approved_at, status) {
        (None, EntityStatus::Approved) => Some(now.clone()),
        (existing, _) => existing.clone(),
    };
    tx.execute(
        "UPDATE numhub_entities SET status = ?2, vetting_status = COALESCE(?3, vetting_status),
                approved_at = ?4, updated_at = ?5
         WHERE id = ?1",
        args![
            current.id,
            status.as_str(),
            vetting_status.map(VettingStatus::as_str),
            ts_opt(approved_at.as_deref()),
            ts(&now)
        ],
    )?;
    Ok(())
}

/// Records the ids NumHub assigned and when it accepted the submission.
pub fn set_numhub_ids(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: &str,
    numhub_entity_id: &str,
    numhub_eid: Option<&str>,
    submitted_at: Option<&str>,
) -> Result<Entity> {
    check_len("numhub_entity_id", numhub_entity_id, 100)?;
    if let Some(eid) = numhub_eid {
        check_len("numhub_eid", eid, 50)?;
    }
    let taken: Option<String> = tx.row(
        "SELECT id FROM numhub_entities WHERE numhub_entity_id = ?1 AND id <> ?2",
        args![numhub_entity_id, id],
        |r| r.get(0),
    )?;
    if let Some(other) = taken {
        return Err(DbError::Conflict {
            field: "numhub_entity_id",
            reason: format!("{numhub_entity_id} already belongs to entity {other}"),
        });
    }
    tx.update_row(
        "entity",
        id,
        "UPDATE numhub_entities SET numhub_entity_id = ?3,
             numhub_eid = COALESCE(?4, numhub_eid),
             submitted_at = COALESCE(submitted_at, ?5), updated_at = ?6
         WHERE id = ?1 AND tenant_id = ?2",
        args![
            id,
            tenant_id,
            numhub_entity_id,
            numhub_eid,
            ts_opt(submitted_at),
            ts(&now_ts())
        ],
    )?;
    get(tx, tenant_id, id)
}

/// Caches NumHub's latest full answer for the entity.
pub fn set_api_response(tx: &Tx<'_>, tenant_id: i64, id: &str, response: &str) -> Result<()> {
    check_json("api_response", response)?;
    tx.update_row(
        "entity",
        id,
        "UPDATE numhub_entities SET api_response = ?3, updated_at = ?4 WHERE id = ?1 AND tenant_id = ?2",
        args![id, tenant_id, response, ts(&now_ts())],
    )
}

/// Sets the local-only attestation level (NumHub's document has no such field).
pub fn set_attestation_level(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: &str,
    level: Option<AttestationLevel>,
) -> Result<Entity> {
    tx.update_row(
        "entity",
        id,
        "UPDATE numhub_entities SET attestation_level = ?3, updated_at = ?4 WHERE id = ?1 AND tenant_id = ?2",
        args![id, tenant_id, level.map(AttestationLevel::as_str), ts(&now_ts())],
    )?;
    get(tx, tenant_id, id)
}

/// What the poller compares NumHub's lists against: every entity of the tenant that
/// NumHub knows, by NumHub's id.
#[derive(Debug, Clone)]
pub struct RemoteKey {
    pub id: String,
    pub numhub_entity_id: String,
    pub status: EntityStatus,
    pub vetting_status: VettingStatus,
    pub numhub_eid: Option<String>,
}

/// An application NumHub knows, by the name NumHub's alerts use (`companyName`).
#[derive(Debug, Clone)]
pub struct NamedAtNumhub {
    pub id: String,
    pub numhub_entity_id: String,
    pub company_name: String,
}

/// The tenant's entities NumHub knows, with their company names.
pub fn named_at_numhub(sql: &Sql<'_>, tenant_id: i64) -> Result<Vec<NamedAtNumhub>> {
    sql.rows(
        "SELECT id, numhub_entity_id, company_name FROM numhub_entities
         WHERE tenant_id = ?1 AND numhub_entity_id IS NOT NULL",
        args![tenant_id],
        |r| {
            Ok(NamedAtNumhub {
                id: r.get(0)?,
                numhub_entity_id: r.get(1)?,
                company_name: r.get(2)?,
            })
        },
    )
}

pub fn numhub_index(sql: &Sql<'_>, tenant_id: i64) -> Result<Vec<RemoteKey>> {
    let rows = sql.rows(
        "SELECT id, numhub_entity_id, status, vetting_status, numhub_eid FROM numhub_entities
         WHERE tenant_id = ?1 AND numhub_entity_id IS NOT NULL",
        args![tenant_id],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<String>(3)?,
                r.get::<Option<String>>(4)?,
            ))
        },
    )?;
    rows.into_iter()
        .map(|(id, nid, status, vetting, eid)| {
            Ok(RemoteKey {
                id,
                numhub_entity_id: nid,
                status: EntityStatus::parse(&status)?,
                vetting_status: VettingStatus::parse(&vetting)?,
                numhub_eid: eid,
            })
        })
        .collect()
}

/// An application NumHub lists for the tenant's client that we have no row for
/// (created elsewhere, e.g. in NumHub's portal). NumHub has no `entity_type`; imported
/// rows are `enterprise` (BCID's usual applicant) until an operator corrects it.
pub fn import(
    tx: &Tx<'_>,
    tenant_id: i64,
    numhub_entity_id: &str,
    company_name: &str,
    status: EntityStatus,
    vetting_status: VettingStatus,
    numhub_eid: Option<&str>,
) -> Result<Entity> {
    let name = if company_name.trim().is_empty() {
        "(no company name from NumHub)"
    } else {
        company_name
    };
    let id = new_id();
    tx.execute(
        "INSERT INTO numhub_entities (id, tenant_id, entity_type, company_name, status, vetting_status,
             created_at, updated_at)
         VALUES (?1, ?2, 'enterprise', ?3, 'draft', 'pending', ?4, ?4)",
        args![id, tenant_id, name.chars().take(255).collect::<String>(), ts(&now_ts())],
    )?;
    set_numhub_ids(tx, tenant_id, &id, numhub_entity_id, numhub_eid, None)?;
    Ok(apply_reported_status(tx, tenant_id, &id, status, vetting_status)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{jobs, tenants, Store, StoreOptions};

    /// A store with tenant 1 and `n` draft entities; returns their ids.
    fn store_with(
        n: usize,
    ) -> (
        tempfile::TempDir,
        tokio::runtime::Runtime,
        Store,
        Vec<String>,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let store = Store::open(&dir.path().join("t.db"), StoreOptions::default()).expect("store");
        let ids = rt
            .block_on(store.write(move |tx| {
                tenants::upsert(
                    tx,
                    tenants::TenantFields {
                        id: 1,
                        name: "T".into(),
                        ..Default::default()
                    },
                )?;
                (0..n)
                    .map(|i| {
                        let new = NewEntity {
                            tenant_id: 1,
                            brand_id: None,
                            entity_type: EntityType::Direct,
                            company_name: format!("T{i} LLC"),
                            submit: false,
                            attestation_level: None,
                        };
                        Ok(create(tx, new)?.id)
                    })
                    .collect::<Result<Vec<_>>>()
            }))
            .expect("seed");
        (dir, rt, store, ids)
    }

    /// Reads must stay prepared. Unless its query planner is told not to (the store
    /// turns on its stability guarantee for every connection), SQLite reads the bound
    /// values of `LIMIT ?n` or of a JOIN's constraints and re-prepares the statement
    /// whenever they change: 5-10 times the cost of the read, and no functional test
    /// notices.
    #[test]
    fn reads_are_never_re_prepared() {
        let (_dir, rt, store, ids) = store_with(1);
        let id = ids[0].clone();
        let reprepares = rt
            .block_on(store.read(move |sql| {
                // Different values each time: a re-prepare happens on rebinding.
                for limit in 1..=3 {
                    get_with_pending(sql, 1, &id)?;
                    list(sql, 1, None, None, Some(limit))?;
                }
                let conn = sql.conn.sqlite().expect("a SQLite store");
                let status = |statement| -> Result<i32> {
                    let stmt = conn.prepare_cached(statement)?;
                    Ok(stmt.get_status(rusqlite::StatementStatus::RePrepare))
                };
                Ok((status(GET_WITH_PENDING)?, status(LIST_ALL)?))
            }))
            .expect("read");
        assert_eq!(reprepares, (0, 0), "SQLite re-prepared (point read, page)");
    }

    #[test]
    fn a_page_carries_each_rows_newest_unfinished_job() {
        let (_dir, rt, store, ids) = store_with(3);
        let with_jobs = ids[1].clone();
        let (older, newer) = rt
            .block_on(store.write(move |tx| {
                let job = || {
                    jobs::enqueue(
                        tx,
                        jobs::NewJob::on_entity(
                            1,
                            with_jobs.clone(),
                            jobs::JobPayload::EntitySubmit(jobs::Nothing {}),
                        ),
                    )
                };
                Ok((job()?.id, job()?.id))
            }))
            .expect("jobs");
        let page = rt
            .block_on(store.read(|sql| list_with_pending(sql, 1, None, None, None)))
            .expect("page");
        let shown: Vec<(String, Option<i64>)> = page
            .items
            .into_iter()
            .map(|(e, job)| (e.id, job.map(|j| j.id)))
            .collect();
        assert!(newer > older);
        assert_eq!(
            shown,
            vec![
                (ids[0].clone(), None),
                (ids[1].clone(), Some(newer)),
                (ids[2].clone(), None)
            ]
        );
    }
}

/// An entity as the drop folder names it: its tenant's folder and its own.
#[derive(Debug, Clone, PartialEq)]
pub struct DropTarget {
    pub tenant_id: i64,
    pub tenant_slug: Option<String>,
    pub entity_id: String,
    pub numhub_entity_id: Option<String>,
    pub company_name: String,
}

/// Every entity of every tenant, for the drop folder's folders.
pub fn drop_targets(sql: &Sql<'_>) -> Result<Vec<DropTarget>> {
    sql.rows(
        "SELECT e.tenant_id, t.slug, e.id, e.numhub_entity_id, e.company_name
         FROM numhub_entities e JOIN tenants t ON t.id = e.tenant_id ORDER BY e.id",
        args![],
        |r| read_row!(r => DropTarget { tenant_id, tenant_slug, entity_id, numhub_entity_id, company_name }),
    )
}
