//! `numhub_identities`: display identities (caller name, call reason, logo, numbers)
//! of an entity, mapped to NumHub's NumhubIdentityId, with NumHub's `dirId` and the
//! identity as NumHub last answered it (`api_response`).

use super::engine::{args, read_row, ts, Row};
use serde_json::Value;

use super::jobs;
use super::{
    brands::validate_e164, check_json, check_len, new_id, now_ts, DbError, IdentityStatus, Result,
    Sql, Tx,
};

/// The row as the protocol shows it: one type for the table and the wire.
pub use crate::api::Identity;

/// An identity as NumHub reports it, or as a local change sets it.
#[derive(Debug, Clone)]
pub struct IdentityInput {
    pub entity_id: String,
    pub numhub_identity_id: String,
    pub display_name: String,
    pub call_reason: Option<String>,
    pub logo_url: Option<String>,
    pub status: IdentityStatus,
    pub rich_call_data: Option<String>,
    pub phone_numbers: Vec<String>,
    /// NumHub's `dirId`; `None` keeps the row's.
    pub dir_id: Option<String>,
    /// NumHub's whole answer for the identity (JSON text); `None` keeps the row's.
    pub api_response: Option<String>,
}

impl IdentityInput {
    fn validate(&self) -> Result<()> {
        check_len("numhub_identity_id", &self.numhub_identity_id, 100)?;
        check_len("display_name", &self.display_name, 32)?;
        if let Some(r) = &self.call_reason {
            check_len("call_reason", r, 255)?;
        }
        if let Some(u) = &self.logo_url {
            check_len("logo_url", u, 500)?;
        }
        if let Some(rcd) = &self.rich_call_data {
            check_json("rich_call_data", rcd)?;
        }
        for n in &self.phone_numbers {
            validate_e164("phone_numbers", n)?;
        }
        check_remote(self.dir_id.as_deref(), self.api_response.as_deref())
    }
}

fn check_remote(dir_id: Option<&str>, api_response: Option<&str>) -> Result<()> {
    if let Some(d) = dir_id {
        check_len("dir_id", d, 100)?;
    }
    if let Some(a) = api_response {
        check_json("api_response", a)?;
    }
    Ok(())
}

/// Whether `api_response` (JSON text, if given) differs from the row's.
fn new_answer(found: &Identity, api_response: Option<&str>) -> bool {
    api_response.is_some_and(|a| {
        serde_json::from_str::<Value>(a).ok().as_ref() != found.api_response.as_ref()
    })
}

const SELECT: &str =
    "SELECT i.id, i.numhub_entity_id, i.numhub_identity_id, i.display_name, i.call_reason,
    i.logo_url, i.status, i.rich_call_data, i.phone_numbers, i.created_at, i.updated_at,
    i.dir_id, i.api_response
    FROM numhub_identities i JOIN numhub_entities e ON e.id = i.numhub_entity_id";

fn from_row(r: &Row<'_>) -> Result<Identity> {
    read_row!(r => Identity {
        id, entity_id, numhub_identity_id, display_name, call_reason, logo_url, status,
        rich_call_data: json, phone_numbers: json_or_default, created_at, updated_at, dir_id,
        api_response: json,
    })
}

/// Creates the identity or updates it by NumHub's id. The entity must belong to the
/// tenant. Returns the row and whether anything it shows changed (a new
/// `api_response` alone is stored but is no change).
pub fn upsert(tx: &Tx<'_>, tenant_id: i64, input: IdentityInput) -> Result<(Identity, bool)> {
    input.validate()?;
    super::entities::get(tx, tenant_id, &input.entity_id).map_err(|_| {
        DbError::UnknownReference {
            field: "entity_id",
            what: "entity of this tenant",
            id: input.entity_id.clone(),
        }
    })?;
    let numbers = serde_json::Value::from(input.phone_numbers.clone()).to_string();
    let existing = find_by_numhub_id(tx, tenant_id, &input.numhub_identity_id)?;
    if let Some(found) = &existing {
        let same = found.entity_id == input.entity_id
            && found.display_name == input.display_name
            && found.call_reason == input.call_reason
            && found.logo_url == input.logo_url
            && found.status == input.status
            && found.phone_numbers == input.phone_numbers
            && found.rich_call_data
                == input
                    .rich_call_data
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok())
            && input
                .dir_id
                .as_ref()
                .is_none_or(|d| found.dir_id.as_ref() == Some(d));
        if same {
            if !new_answer(found, input.api_response.as_deref()) {
                return Ok((found.clone(), false));
            }
            let row = set_remote(
                tx,
                tenant_id,
                &found.id,
                None,
                input.api_response.as_deref(),
            )?;
            return Ok((row, false));
        }
    }
    // The row found above is this tenant's; a NumHub id held by another tenant's row
    // makes the insert fail on the UNIQUE column instead of taking that row over (an
    // upsert would: MySQL's takes over a row on any unique key).
    let now = now_ts();
    let id = match existing {
        Some(found) => {
            tx.execute(
                "UPDATE numhub_identities SET numhub_entity_id = ?2, display_name = ?3,
                     call_reason = ?4, logo_url = ?5, status = ?6, rich_call_data = ?7,
                     phone_numbers = ?8, updated_at = ?9, dir_id = COALESCE(?10, dir_id),
                     api_response = COALESCE(?11, api_response)
                 WHERE id = ?1",
                args![
                    found.id,
                    input.entity_id,
                    input.display_name,
                    input.call_reason,
                    input.logo_url,
                    input.status.as_str(),
                    input.rich_call_data,
                    numbers,
                    ts(&now),
                    input.dir_id,
                    input.api_response
                ],
            )?;
            found.id
        }
        None => {
            let id = new_id();
            tx.execute(
                "INSERT INTO numhub_identities (id, numhub_entity_id, numhub_identity_id, display_name,
                     call_reason, logo_url, status, rich_call_data, phone_numbers, created_at, updated_at,
                     dir_id, api_response)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)",
                args![
                    id,
                    input.entity_id,
                    input.numhub_identity_id,
                    input.display_name,
                    input.call_reason,
                    input.logo_url,
                    input.status.as_str(),
                    input.rich_call_data,
                    numbers,
                    ts(&now),
                    input.dir_id,
                    input.api_response
                ],
            )?;
            id
        }
    };
    Ok((get(tx, tenant_id, &id)?, true))
}

/// Records what NumHub said of the identity without touching what it shows (while a
/// local change is queued, or after the outbox read it before a change): its `dirId`
/// and its whole answer, each kept as it was when `None`.
pub fn set_remote(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: &str,
    dir_id: Option<&str>,
    api_response: Option<&str>,
) -> Result<Identity> {
    check_remote(dir_id, api_response)?;
    get(tx, tenant_id, id)?;
    tx.execute(
        "UPDATE numhub_identities SET dir_id = COALESCE(?2, dir_id),
             api_response = COALESCE(?3, api_response), updated_at = ?4 WHERE id = ?1",
        args![id, dir_id, api_response, ts(&now_ts())],
    )?;
    get(tx, tenant_id, id)
}

pub fn get(sql: &Sql<'_>, tenant_id: i64, id: &str) -> Result<Identity> {
    sql.row(
        &format!("{SELECT} WHERE i.id = ?1 AND e.tenant_id = ?2"),
        args![id, tenant_id],
        from_row,
    )?
    .ok_or_else(|| DbError::not_found("identity", id))
}

pub fn find_by_numhub_id(
    sql: &Sql<'_>,
    tenant_id: i64,
    numhub_identity_id: &str,
) -> Result<Option<Identity>> {
    sql.row(
        &format!("{SELECT} WHERE i.numhub_identity_id = ?1 AND e.tenant_id = ?2"),
        args![numhub_identity_id, tenant_id],
        from_row,
    )
}

/// Paged by `jobs::children` (`identity.list`).
impl jobs::Child for Identity {
    const SELECT: &'static str = SELECT;
    const ALIAS: &'static str = "i";
    const NEWEST_JOB: &'static str = jobs::newest_unfinished_job_id!("identity_id", "i.id");
    const COLUMNS: usize = 13;
    fn from_row(r: &Row<'_>) -> Result<Identity> {
        from_row(r)
    }
}

/// A local change to what the identity shows (sent to NumHub by a job). Absent
/// fields stay as they are.
pub fn update_display(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: &str,
    display_name: Option<&str>,
    call_reason: Option<&str>,
    logo_url: Option<&str>,
) -> Result<Identity> {
    if let Some(d) = display_name {
        super::check_not_blank("display_name", d)?;
        check_len("display_name", d, 32)?;
    }
    if let Some(r) = call_reason {
        check_len("call_reason", r, 255)?;
    }
    if let Some(u) = logo_url {
        check_len("logo_url", u, 500)?;
    }
    get(tx, tenant_id, id)?;
    tx.execute(
        "UPDATE numhub_identities SET display_name = COALESCE(?2, display_name),
             call_reason = COALESCE(?3, call_reason), logo_url = COALESCE(?4, logo_url), updated_at = ?5
         WHERE id = ?1",
        args![id, display_name, call_reason, logo_url, ts(&now_ts())],
    )?;
    get(tx, tenant_id, id)
}

pub fn set_status(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: &str,
    status: IdentityStatus,
) -> Result<Identity> {
    get(tx, tenant_id, id)?;
    tx.execute(
        "UPDATE numhub_identities SET status = ?2, updated_at = ?3 WHERE id = ?1",
        args![id, status.as_str(), ts(&now_ts())],
    )?;
    get(tx, tenant_id, id)
}

/// Replaces the identity's numbers (after adding or removing some locally).
pub fn set_phone_numbers(
    tx: &Tx<'_>,
    tenant_id: i64,
    id: &str,
    numbers: &[String],
) -> Result<Identity> {
    for n in numbers {
        validate_e164("phone_numbers", n)?;
    }
    get(tx, tenant_id, id)?;
    let listed = serde_json::Value::from(numbers.to_vec()).to_string();
    tx.execute(
        "UPDATE numhub_identities SET phone_numbers = ?2, updated_at = ?3 WHERE id = ?1",
        args![id, listed, ts(&now_ts())],
    )?;
    get(tx, tenant_id, id)
}

/// Counts every identity (tests check that refused calls wrote nothing).
pub fn count(sql: &Sql<'_>) -> Result<i64> {
    sql.one("SELECT count(*) FROM numhub_identities", args![], |r| {
        r.get(0)
    })
}
