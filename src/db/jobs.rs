//! `jobs`: the durable outbox. A local change NumHub must see is written in the same
//! transaction as its job; the sync engine claims jobs (one entity's in id order),
//! carries them out and records the outcome here. Payloads never hold a secret.

use super::engine::{args, ts, Engine, Row};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{now_ts, page_limit, DbError, JobKind, JobState, Page, Result, Sql, Tx};

/// What an outbox job carries, by kind: the `kind` column tags the `payload` column
/// (and the `kind`/`payload` fields of a `jobs.list` item). Nothing here is a secret;
/// the secrets a job needs (tokens, logins) are looked up when it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum JobPayload {
    #[serde(rename = "entity.create")]
    EntityCreate(ApplicationChange),
    #[serde(rename = "entity.update")]
    EntityUpdate(ApplicationChange),
    #[serde(rename = "entity.submit")]
    EntitySubmit(Nothing),
    #[serde(rename = "document.upload")]
    DocumentUpload(DocumentUpload),
    #[serde(rename = "document.delete")]
    DocumentDelete(Nothing),
    #[serde(rename = "identity.update")]
    IdentityUpdate(IdentityUpdate),
    #[serde(rename = "identity.deactivate")]
    IdentityDeactivate(Nothing),
    #[serde(rename = "identity.numbers.add")]
    IdentityNumbersAdd(PhoneNumbers),
    #[serde(rename = "identity.numbers.remove")]
    IdentityNumbersRemove(PhoneNumbers),
}

/// `entity.create` / `entity.update`: the application as NumHub's API spells it
/// (validated against its schema by the RPC; the executor reads it as NumHub's model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationChange {
    pub application: Map<String, Value>,
}

/// The kinds that need nothing beyond the row they act on (`{}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Nothing {}

/// `document.upload`: the file itself is the document's local row. Jobs queued
/// before the content type was kept have none (the local row's is used).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentUpload {
    pub description: Option<String>,
    pub content_type: Option<String>,
}

/// `identity.update`: the wanted values (None: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityUpdate {
    pub display_name: Option<String>,
    pub call_reason: Option<String>,
    pub logo_url: Option<String>,
}

/// `identity.numbers.add` / `.remove`: the numbers to add or remove (a set operation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumbers {
    pub phone_numbers: Vec<String>,
}

impl JobPayload {
    pub fn kind(&self) -> JobKind {
        match self {
            JobPayload::EntityCreate(_) => JobKind::EntityCreate,
            JobPayload::EntityUpdate(_) => JobKind::EntityUpdate,
            JobPayload::EntitySubmit(_) => JobKind::EntitySubmit,
            JobPayload::DocumentUpload(_) => JobKind::DocumentUpload,
            JobPayload::DocumentDelete(_) => JobKind::DocumentDelete,
            JobPayload::IdentityUpdate(_) => JobKind::IdentityUpdate,
            JobPayload::IdentityDeactivate(_) => JobKind::IdentityDeactivate,
            JobPayload::IdentityNumbersAdd(_) => JobKind::IdentityNumbersAdd,
            JobPayload::IdentityNumbersRemove(_) => JobKind::IdentityNumbersRemove,
        }
    }

    /// The `payload` column's text: the variant's own fields, untagged.
    fn column(&self) -> Result<String> {
        let tagged =
            serde_json::to_value(self).map_err(|e| DbError::invalid("payload", e.to_string()))?;
        let payload = match tagged {
            Value::Object(mut m) => m.remove("payload"),
            _ => None,
        };
        Ok(payload
            .unwrap_or_else(|| Value::Object(Map::new()))
            .to_string())
    }

    /// Reads the `kind` and `payload` columns back; a payload its kind cannot read
    /// is an error of the row, not of whoever runs the job.
    fn from_columns(kind: &str, payload: &str) -> serde_json::Result<JobPayload> {
        let payload: Value = serde_json::from_str(payload)?;
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub id: i64,
    pub tenant_id: i64,
    /// `kind` and `payload`.
    #[serde(flatten)]
    pub payload: JobPayload,
    pub entity_id: Option<String>,
    pub identity_id: Option<String>,
    pub document_id: Option<String>,
    pub state: JobState,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub started_at: Option<String>,
    /// The start of the earliest attempt a crash interrupted: NumHub is looked at for
    /// its effect before anything is sent again.
    pub resume_since: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Job {
    pub fn kind(&self) -> JobKind {
        self.payload.kind()
    }
}

/// What a new job acts on. `entity_id` orders it behind that entity's earlier jobs.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub tenant_id: i64,
    pub payload: JobPayload,
    pub entity_id: Option<String>,
    pub identity_id: Option<String>,
    pub document_id: Option<String>,
}

impl NewJob {
    /// A job of `tenant_id` on entity `entity_id`'s row (identity and document unset).
    pub fn on_entity(tenant_id: i64, entity_id: impl Into<String>, payload: JobPayload) -> NewJob {
        NewJob {
            tenant_id,
            payload,
            entity_id: Some(entity_id.into()),
            identity_id: None,
            document_id: None,
        }
    }
}

const COLUMNS: &str = "id, tenant_id, kind, entity_id, identity_id, document_id, payload, state, attempts, next_attempt_at, started_at, resume_since, last_error, created_at, updated_at";

/// An unreadable column value, as rusqlite reports a conversion failure (it becomes
/// a `DbError` naming the column).
fn bad_column(column: usize, e: impl std::error::Error + Send + Sync + 'static) -> DbError {
    DbError::Column {
        index: column,
        source: e.into(),
    }
}

fn state_at(r: &Row<'_>, column: usize) -> Result<JobState> {
    let text: String = r.get(column)?;
    JobState::parse(&text).map_err(|e| bad_column(column, e))
}

fn kind_at(r: &Row<'_>, column: usize) -> Result<JobKind> {
    let text: String = r.get(column)?;
    JobKind::parse(&text).map_err(|e| bad_column(column, e))
}

fn from_row(r: &Row<'_>) -> Result<Job> {
    let kind: String = r.get(2)?;
    let payload: String = r.get(6)?;
    Ok(Job {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        payload: JobPayload::from_columns(&kind, &payload).map_err(|e| bad_column(6, e))?,
        entity_id: r.get(3)?,
        identity_id: r.get(4)?,
        document_id: r.get(5)?,
        state: state_at(r, 7)?,
        attempts: r.get(8)?,
        next_attempt_at: r.get(9)?,
        started_at: r.get(10)?,
        resume_since: r.get(11)?,
        last_error: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

/// Queues a job, due now.
pub fn enqueue(tx: &Tx<'_>, new: NewJob) -> Result<Job> {
    let payload = new.payload.column()?;
    super::require_tenant(tx, new.tenant_id)?;
    let now = now_ts();
    let id = tx.insert(
        "INSERT INTO jobs (tenant_id, kind, entity_id, identity_id, document_id, payload, state,
             next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?7)",
        args![
            new.tenant_id,
            new.payload.kind().as_str(),
            new.entity_id,
            new.identity_id,
            new.document_id,
            payload,
            ts(&now)
        ],
    )?;
    get_any(tx, id)
}

/// A job of the tenant.
pub fn get(sql: &Sql<'_>, tenant_id: i64, id: i64) -> Result<Job> {
    sql.row(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1 AND tenant_id = ?2"),
        args![id, tenant_id],
        from_row,
    )?
    .ok_or_else(|| DbError::not_found("job", id))
}

/// A job of any tenant (the sync engine's and admins' view).
pub fn get_any(sql: &Sql<'_>, id: i64) -> Result<Job> {
    sql.row(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
        args![id],
        from_row,
    )?
    .ok_or_else(|| DbError::not_found("job", id))
}

/// Jobs newest first, of one tenant (None: every tenant) and optionally one state.
pub fn list(
    sql: &Sql<'_>,
    tenant_id: Option<i64>,
    state: Option<JobState>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Job>> {
    let state = state.map(JobState::as_str);
    let limit = page_limit(limit)?;
    let before: Option<i64> = match cursor {
        None => None,
        Some(c) => Some(
            c.parse()
                .map_err(|_| DbError::invalid("cursor", "not a cursor this list returned"))?,
        ),
    };
    let rows = sql.rows(
        &format!(
            "SELECT {COLUMNS} FROM jobs
             WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR state = ?2)
               AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?4"
        ),
        args![tenant_id, state, before, limit + 1],
        from_row,
    )?;
    Ok(Page::from_rows(rows, limit, |j| j.id.to_string()))
}

/// The newest job on `column = id` that is not `done`: what a result's `sync` shows.
/// What a row's `sync` object shows of its newest unfinished job. The payload is left
/// out on purpose: parsing it (a whole application) cost 10 µs of a 13 µs lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: i64,
    pub kind: JobKind,
    pub state: JobState,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// A column for another table's statement: the id of the row's newest unfinished job
/// (`NULL` for none), the job kept on `$column` for the row whose id is `$row_id`.
/// Lists and point reads take it with their rows instead of a lookup per row.
macro_rules! newest_unfinished_job_id {
    ($column:literal, $row_id:literal) => {
        concat!(
            ", (SELECT max(j.id) FROM jobs j WHERE j.",
            $column,
            " = ",
            $row_id,
            " AND j.state <> 'done')"
        )
    };
}
pub(super) use newest_unfinished_job_id;

/// A statement reading what [`pending_from_row`] reads, for jobs matching the
/// condition its literals spell.
macro_rules! select_pending {
    ($($where:literal),+) => {
        concat!(
            "SELECT id, kind, state, attempts, last_error FROM jobs WHERE ",
            $($where),+
        )
    };
}

/// A row outbox jobs act on, by the `jobs` column that names it; its newest
/// unfinished job is its `sync` object.
pub trait Subject {
    /// The `jobs` statement selecting the row's unfinished jobs (`?1`: its id).
    const UNFINISHED: &'static str;
    fn id(&self) -> &str;
}

/// [`Subject`] for a row type, its jobs named by `$column`.
macro_rules! subject {
    ($row:ty, $column:literal) => {
        impl Subject for $row {
            const UNFINISHED: &'static str = select_pending!($column, " = ?1 AND state <> 'done'");
            fn id(&self) -> &str {
                &self.id
            }
        }
    };
}

subject!(crate::api::Entity, "entity_id");
subject!(crate::api::Identity, "identity_id");
subject!(crate::api::Document, "document_id");

/// An entity's child table (documents, identities), as [`children`] pages it.
pub trait Child: Subject + Sized {
    /// The table's SELECT of [`Child::from_row`]'s columns: the table as `ALIAS`,
    /// joined to its entity as `e`.
    const SELECT: &'static str;
    const ALIAS: &'static str;
    /// The column [`newest_unfinished_job_id!`] makes for the table's rows.
    const NEWEST_JOB: &'static str;
    /// How many columns `from_row` reads.
    const COLUMNS: usize;
    fn from_row(r: &Row<'_>) -> Result<Self>;
}

/// [`children`]'s statement: the rows with their newest unfinished job's id as the
/// last column; the tenant's (`?1`), of one entity if given (`?2`), after the
/// cursor (`?3`), `?4` at most.
pub(super) fn children_statement<T: Child>() -> String {
    let row = T::ALIAS;
    T::SELECT.replacen(" FROM ", &format!("{} FROM ", T::NEWEST_JOB), 1)
        + &format!(
            " WHERE e.tenant_id = ?1 AND (?2 IS NULL OR {row}.numhub_entity_id = ?2) \
             AND {row}.id > ?3 ORDER BY {row}.id LIMIT ?4"
        )
}

/// The row with its newest unfinished job, read in the caller's transaction.
pub fn with_pending<T: Subject>(sql: &Sql<'_>, row: T) -> Result<(T, Option<Pending>)> {
    let job = pending_for(sql, T::UNFINISHED, row.id())?;
    Ok((row, job))
}

fn pending_for(sql: &Sql<'_>, unfinished: &str, id: &str) -> Result<Option<Pending>> {
    // A row has few unfinished jobs, so the newest is picked here rather than sorted
    // for by SQLite.
    let rows = sql.rows(unfinished, args![id], pending_from_row)?;
    Ok(rows.into_iter().max_by_key(|p| p.id))
}

/// One page of the tenant's documents or identities (of one entity, if given),
/// oldest first, each with its newest unfinished job (for the `sync` object): one
/// statement, plus one per row that has a job.
pub fn children<T: Child>(
    sql: &Sql<'_>,
    tenant_id: i64,
    entity_id: Option<&str>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<(T, Option<Pending>)>> {
    let limit = page_limit(limit)?;
    let rows = sql.rows(
        &children_statement::<T>(),
        args![tenant_id, entity_id, cursor.unwrap_or(""), limit + 1],
        |r| Ok((T::from_row(r)?, r.get::<Option<i64>>(T::COLUMNS)?)),
    )?;
    Page::from_rows(rows, limit, |(row, _)| row.id().to_string())
        .try_map(|(row, job_id)| Ok((row, pending_for_job_id(sql, job_id)?)))
}

/// The job a list's statement found for a row (its newest unfinished job's id), read
/// only when there is one: a page costs one statement plus one per row with a job.
pub fn pending_for_job_id(sql: &Sql<'_>, job_id: Option<i64>) -> Result<Option<Pending>> {
    match job_id {
        Some(id) => pending_by_id(sql, id),
        None => Ok(None),
    }
}

/// One job as the `sync` object shows it, by id.
pub fn pending_by_id(sql: &Sql<'_>, id: i64) -> Result<Option<Pending>> {
    sql.row(select_pending!("id = ?1"), args![id], pending_from_row)
}

fn pending_from_row(r: &Row<'_>) -> Result<Pending> {
    Ok(Pending {
        id: r.get(0)?,
        kind: kind_at(r, 1)?,
        state: state_at(r, 2)?,
        attempts: r.get(3)?,
        last_error: r.get(4)?,
    })
}

/// Legal business names of the tenant's creates that have not finished: NumHub may
/// already hold them (sent, outcome not yet recorded), so the poller must not import
/// an application of that name as a stranger.
pub fn unfinished_create_names(sql: &Sql<'_>, tenant_id: i64) -> Result<Vec<String>> {
    // SQLite's json_extract gives a JSON string as text and a JSON null as NULL;
    // MySQL's gives JSON, unquoted here, and only strings are names.
    let statement = match sql.engine() {
        Engine::Sqlite => "SELECT json_extract(payload, '$.application.businessEntityDetails.legalBusinessName')
         FROM jobs WHERE tenant_id = ?1 AND kind = 'entity.create' AND state <> 'done'
           AND json_extract(payload, '$.application.businessEntityDetails.legalBusinessName') IS NOT NULL",
        Engine::Mysql => "SELECT JSON_UNQUOTE(JSON_EXTRACT(payload, '$.application.businessEntityDetails.legalBusinessName'))
         FROM jobs WHERE tenant_id = ?1 AND kind = 'entity.create' AND state <> 'done'
           AND JSON_TYPE(JSON_EXTRACT(payload, '$.application.businessEntityDetails.legalBusinessName')) = 'STRING'",
    };
    sql.rows(statement, args![tenant_id], |r| r.get(0))
}

/// Whether the entity has an unfinished job that changes its application's status
/// at NumHub ([`JobKind::changes_application_status`]); its queued uploads do not
/// count, so NumHub's verdict is not held back behind them.
pub fn status_change_pending(sql: &Sql<'_>, entity_id: &str) -> Result<bool> {
    let kinds = sql.rows(
        "SELECT kind FROM jobs WHERE entity_id = ?1 AND state <> 'done'",
        args![entity_id],
        |r| kind_at(r, 0),
    )?;
    Ok(kinds.into_iter().any(JobKind::changes_application_status))
}

/// The identity's newest unfinished job, if any.
pub fn pending_for_identity(sql: &Sql<'_>, identity_id: &str) -> Result<Option<Pending>> {
    pending_for(
        sql,
        <crate::api::Identity as Subject>::UNFINISHED,
        identity_id,
    )
}

/// Operator action: a `dead`, `needs_attention`, `failed` or `waiting` job is due
/// again now (a waiting one after its login or tenant was fixed, without waiting
/// for its next look).
pub fn retry(tx: &Tx<'_>, tenant_id: i64, id: i64) -> Result<Job> {
    use JobState::*;
    let from = [Dead, NeedsAttention, Failed, Waiting];
    by_operator(tx, tenant_id, id, &from, Queued, None)
}

/// Operator action: a `dead` or `needs_attention` job is settled by hand (`done`).
pub fn resolve(tx: &Tx<'_>, tenant_id: i64, id: i64, note: Option<&str>) -> Result<Job> {
    let note = note.map(|n| format!("resolved by operator: {n}"));
    let from = [JobState::Dead, JobState::NeedsAttention];
    by_operator(tx, tenant_id, id, &from, JobState::Done, note)
}

/// An operator's move of a job in one of the states `from` to `to` (`queued` is due
/// now); `note`, when given, becomes its last error.
fn by_operator(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: i64,
    from: &[JobState],
    to: JobState,
    note: Option<String>,
) -> Result<Job> {
    let job = get(tx, tenant_id, id)?;
    if !from.contains(&job.state) {
        return Err(DbError::IllegalTransition {
            from: job.state.to_string(),
            to: to.to_string(),
        });
    }
    let now = now_ts();
    tx.execute(
        "UPDATE jobs SET state = ?3,
             next_attempt_at = CASE WHEN ?3 = 'queued' THEN ?2 ELSE next_attempt_at END,
             last_error = COALESCE(?4, last_error), updated_at = ?2
         WHERE id = ?1",
        args![id, ts(&now), to.as_str(), note],
    )?;
    get(tx, tenant_id, id)
}

/// Sync engine: claims the next due job, oldest first, whose entity has no earlier
/// unfinished job (one entity's jobs run in id order), and marks it `running`.
pub fn claim_next_due(tx: &Tx<'_>, now: &str) -> Result<Option<Job>> {
    claim(tx, now, false, None)
}

/// What the sync engine claims: like [`claim_next_due`], but only of tenants with
/// `numhub_enabled` (a disabled tenant's jobs stay queued, and visible, until it is
/// enabled), and round-robin over tenants: the oldest due job of the next tenant after
/// `after_tenant` (the tenant of the previous claim) that has one, wrapping around. A
/// tenant with a thousand jobs queued thus takes one turn in each round, not the whole
/// outbox (and NumHub's shared 100 requests a minute).
pub fn claim_next_sendable(
    tx: &Tx<'_>,
    now: &str,
    after_tenant: Option<i64>,
) -> Result<Option<Job>> {
    claim(tx, now, true, after_tenant)
}

fn claim(
    tx: &Tx<'_>,
    now: &str,
    enabled_only: bool,
    after_tenant: Option<i64>,
) -> Result<Option<Job>> {
    // Without a turn to continue from, the order is plain id order (oldest first).
    let id: Option<i64> = tx.row(
        "SELECT j.id FROM jobs j
             WHERE j.state IN ('queued', 'failed', 'waiting') AND j.next_attempt_at <= ?1
               AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.entity_id = j.entity_id
                               AND e.id < j.id AND e.state NOT IN ('done'))
               AND (?2 = 0 OR EXISTS (SELECT 1 FROM tenants t
                                      WHERE t.id = j.tenant_id AND t.numhub_enabled = 1))
             ORDER BY ?3 IS NOT NULL AND j.tenant_id <= ?3,
                      CASE WHEN ?3 IS NULL THEN 0 ELSE j.tenant_id END,
                      j.id
             LIMIT 1",
        args![ts(now), enabled_only, after_tenant],
        |r| r.get(0),
    )?;
    let Some(id) = id else { return Ok(None) };
    mark_running(tx, id, now)?;
    get_any(tx, id).map(Some)
}

/// Sync engine: an attempt begins.
pub fn mark_running(tx: &Tx<'_>, id: i64, now: &str) -> Result<()> {
    set(
        tx,
        id,
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?2, updated_at = ?2 WHERE id = ?1",
        None,
        now,
    )
}

/// Sync engine: the job's work is done.
pub fn mark_done(tx: &Tx<'_>, id: i64, now: &str) -> Result<()> {
    set(
        tx,
        id,
        "UPDATE jobs SET state = 'done', last_error = NULL, updated_at = ?2 WHERE id = ?1",
        None,
        now,
    )
}

/// Sync engine: the attempt failed; another is due at `next_attempt_at`.
pub fn mark_failed(
    tx: &Tx<'_>,
    id: i64,
    error: &str,
    next_attempt_at: &str,
    now: &str,
) -> Result<()> {
    tx.update_row(
        "job",
        id,
        "UPDATE jobs SET state = 'failed', last_error = ?2, next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1",
        args![id, error, ts(next_attempt_at), ts(now)],
    )
}

/// Sync engine: retries exhausted, or NumHub refused for good.
pub fn mark_dead(tx: &Tx<'_>, id: i64, error: &str, now: &str) -> Result<()> {
    set(
        tx,
        id,
        "UPDATE jobs SET state = 'dead', last_error = ?3, updated_at = ?2 WHERE id = ?1",
        Some(error),
        now,
    )
}

/// Sync engine: the outcome could not be established; an operator decides.
pub fn mark_needs_attention(tx: &Tx<'_>, id: i64, error: &str, now: &str) -> Result<()> {
    set(
        tx,
        id,
        "UPDATE jobs SET state = 'needs_attention', last_error = ?3, updated_at = ?2 WHERE id = ?1",
        Some(error),
        now,
    )
}

/// At start: attempts that were `running` when the daemon stopped were interrupted,
/// so their outcome at NumHub is unknown. They are queued again with the start of
/// the earliest interrupted attempt kept in `resume_since`: the executor then looks
/// at NumHub for that attempt's effect before sending anything (see
/// `sync::jobs_exec`, "Crash recovery per job kind"). Creates and uploads are due
/// at `resend_at`: a previous leader's request may still be on its way to NumHub
/// until then, and the look-up must see its effect. Returns how many.
pub fn mark_interrupted(tx: &Tx<'_>, now: &str, resend_at: &str) -> Result<usize> {
    tx.execute(
        "UPDATE jobs SET state = 'queued', updated_at = ?1,
             next_attempt_at = CASE WHEN kind IN ('entity.create', 'document.upload')
                                    THEN ?2 ELSE ?1 END,
             last_error = 'interrupted by a restart or a change of leader; NumHub is checked before resending',
             resume_since = COALESCE(resume_since, started_at, ?1)
         WHERE state = 'running'",
        args![ts(now), ts(resend_at)],
    )
}

/// Sync engine, while running: an attempt whose outcome could not be recorded (the
/// database refused the write) is settled as [`mark_interrupted`] settles one at
/// start: queued again with `resume_since`, so the executor looks at NumHub for its
/// effect before sending anything, at `next_attempt_at`. False if the job is no
/// longer `running`.
pub fn mark_unrecorded(
    tx: &Tx<'_>,
    id: i64,
    error: &str,
    next_attempt_at: &str,
    now: &str,
) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE jobs SET state = 'queued', next_attempt_at = ?4, updated_at = ?2, last_error = ?3,
             resume_since = COALESCE(resume_since, started_at, ?2)
         WHERE id = ?1 AND state = 'running'",
        args![id, ts(now), error, ts(next_attempt_at)],
    )? > 0)
}

/// At the first start on a restored backup (`backup::take_marker`): the daemon the
/// copy came from went on working after `taken_at`, so any unfinished create or
/// upload may have reached NumHub since. Each gets a `resume_since` no later than
/// `taken_at` (an earlier attempt's start is kept: a wider look), so the executor
/// looks at NumHub for it before sending, as after a crash; `running` ones are
/// queued by [`mark_interrupted`], which keeps this value. The other kinds are safe to
/// repeat (`sync::jobs_exec`, "Crash recovery per job kind"). Returns how many.
pub fn mark_restored(tx: &Tx<'_>, taken_at: &str, now: &str) -> Result<usize> {
    let statement = match tx.engine() {
        Engine::Sqlite => {
            "UPDATE jobs SET updated_at = ?2,
                 resume_since = min(COALESCE(resume_since, ?1), COALESCE(started_at, ?1), ?1)
             WHERE kind IN ('entity.create', 'document.upload') AND state <> 'done'"
        }
        Engine::Mysql => {
            "UPDATE jobs SET updated_at = ?2,
                 resume_since = LEAST(COALESCE(resume_since, ?1), COALESCE(started_at, ?1), ?1)
             WHERE kind IN ('entity.create', 'document.upload') AND state <> 'done'"
        }
    };
    tx.execute(statement, args![ts(taken_at), ts(now)])
}

/// Sync engine: the attempt could not even start for a reason retrying will not fix
/// by itself (login blocked, no credentials, tenant without a client id): `waiting`,
/// with the reason in `last_error`, looked at again at `next_attempt_at`. The claim
/// counted an attempt that never began; it is given back, so `attempts` is what it
/// was before the claim and a long block cannot kill the job.
pub fn mark_waiting(
    tx: &Tx<'_>,
    id: i64,
    error: &str,
    next_attempt_at: &str,
    now: &str,
) -> Result<()> {
    // `attempts > 0` is a CHECK: an attempt is given back only if one was counted.
    tx.update_row(
        "job",
        id,
        "UPDATE jobs SET state = 'waiting',
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, last_error = ?2,
             next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1",
        args![id, error, ts(next_attempt_at), ts(now)],
    )
}

/// Sync engine: a `document.delete` is done and its document row is about to go;
/// the job keeps its history (not the cascade) by letting go of the row first.
pub fn mark_done_detached(tx: &Tx<'_>, id: i64, now: &str) -> Result<()> {
    set(
        tx,
        id,
        "UPDATE jobs SET state = 'done', document_id = NULL, last_error = NULL, updated_at = ?2 WHERE id = ?1",
        None,
        now,
    )
}

/// Deletes at most `batch` jobs that have been `done` since before `before`
/// (small batches keep each write short). Returns how many went.
pub fn purge_done(tx: &Tx<'_>, before: &str, batch: u32) -> Result<usize> {
    // MySQL cannot delete from a table it selects from in a subquery, but deletes
    // with an ORDER BY and LIMIT of its own, which SQLite's default build cannot.
    let statement = match tx.engine() {
        Engine::Sqlite => {
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 'done' AND updated_at < ?1
                                            ORDER BY id LIMIT ?2)"
        }
        Engine::Mysql => {
            "DELETE FROM jobs WHERE state = 'done' AND updated_at < ?1 ORDER BY id LIMIT ?2"
        }
    };
    tx.execute(statement, args![ts(before), batch])
}

fn set(tx: &Tx<'_>, id: i64, statement: &str, error: Option<&str>, now: &str) -> Result<()> {
    match error {
        Some(e) => tx.update_row("job", id, statement, args![id, ts(now), e]),
        None => tx.update_row("job", id, statement, args![id, ts(now)]),
    }
}

/// Jobs by state (every state present), for `daemon.status`.
pub fn depth_by_state(sql: &Sql<'_>) -> Result<Vec<(JobState, i64)>> {
    sql.rows(
        "SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state",
        args![],
        |r| Ok((state_at(r, 0)?, r.get(1)?)),
    )
}

/// Counts every job (tests check that refused calls wrote nothing).
pub fn count(sql: &Sql<'_>) -> Result<i64> {
    sql.one("SELECT count(*) FROM jobs", args![], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::super::{Store, StoreOptions};

    /// The plan's lines that read the whole `jobs` table.
    fn job_scans(conn: &rusqlite::Connection, statement: &str) -> Vec<String> {
        let mut plan = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
            .expect("plan");
        let nulls = std::iter::repeat_n(rusqlite::types::Null, plan.parameter_count());
        plan.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .expect("rows")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("plan rows")
            .into_iter()
            .filter(|line| line.starts_with("SCAN j"))
            .collect()
    }

    /// Each payload's serde tag is its kind's column value, and the columns read back
    /// to the same payload.
    #[test]
    fn every_kind_has_its_payload_and_round_trips_through_the_columns() {
        use super::*;
        let application = ApplicationChange {
            application: serde_json::from_str(r#"{"section": 1}"#).expect("map"),
        };
        let numbers = PhoneNumbers {
            phone_numbers: vec!["+15551234567".into()],
        };
        let all = [
            JobPayload::EntityCreate(application.clone()),
            JobPayload::EntityUpdate(application),
            JobPayload::EntitySubmit(Nothing {}),
            JobPayload::DocumentUpload(DocumentUpload {
                description: Some("LOA".into()),
                content_type: Some("application/pdf".into()),
            }),
            JobPayload::DocumentDelete(Nothing {}),
            JobPayload::IdentityUpdate(IdentityUpdate {
                display_name: Some("ACME".into()),
                ..Default::default()
            }),
            JobPayload::IdentityDeactivate(Nothing {}),
            JobPayload::IdentityNumbersAdd(numbers.clone()),
            JobPayload::IdentityNumbersRemove(numbers),
        ];
        let kinds: Vec<JobKind> = all.iter().map(JobPayload::kind).collect();
        assert_eq!(kinds, JobKind::ALL);
        for p in all {
            let tagged = serde_json::to_value(&p).expect("serialize");
            assert_eq!(tagged["kind"], p.kind().as_str());
            let column = p.column().expect("column");
            assert_eq!(
                JobPayload::from_columns(p.kind().as_str(), &column).expect("read back"),
                p
            );
        }
        assert!(JobPayload::from_columns("identity.numbers.add", "{}").is_err());
    }

    #[test]
    fn a_rows_unfinished_jobs_are_found_by_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.db");
        drop(Store::open(&path, StoreOptions::default()).expect("migrate"));
        let conn = rusqlite::Connection::open(&path).expect("open");
        for statement in [
            <crate::api::Entity as super::Subject>::UNFINISHED,
            <crate::api::Identity as super::Subject>::UNFINISHED,
            <crate::api::Document as super::Subject>::UNFINISHED,
            &super::children_statement::<crate::api::Identity>(),
            &super::children_statement::<crate::api::Document>(),
        ] {
            assert_eq!(
                job_scans(&conn, statement),
                Vec::<String>::new(),
                "{statement}"
            );
        }
    }
}
