//! `numhub_reviews`: NumHub's review of an application while it is flagged — the
//! alert's message and the flagged comments per section, one row per application.
//! A new set of comments is a new flag (`flagged_at` moves); the row goes when NumHub
//! no longer lists an alert for the application.

use super::engine::{args, ts, Engine};

use super::{check_len, now_ts, DbError, Result, Sql, Tx};

/// The most a review's message may hold (the table's CHECK).
pub const MESSAGE_MAX: usize = 2000;

/// The review and its sections as the protocol shows them: one type for the table
/// and the wire. A section is stored in NumHub's spelling (`sectionNumber`, …) and
/// read in either.
pub use crate::api::{FlaggedSection, Review};

/// What [`record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// No review before, or other comments than before: a new flag.
    NewFlag,
    /// The same comments; only the message may have changed.
    Same,
}

/// A column for `numhub_entities`' statements: the vetting status as shown — `pending`
/// reads `in_review` while the application has a review (NumHub flagged it and has not
/// decided). The column itself keeps what NumHub's application status maps to, so the
/// value follows the status again the moment the review row goes.
macro_rules! shown_vetting_status {
    () => {
        "CASE WHEN numhub_entities.vetting_status = 'pending' AND EXISTS \
         (SELECT 1 FROM numhub_reviews r WHERE r.numhub_entity_id = numhub_entities.id) \
         THEN 'in_review' ELSE numhub_entities.vetting_status END"
    };
}
pub(super) use shown_vetting_status;

fn to_stored(comments: &[FlaggedSection]) -> String {
    let items: Vec<serde_json::Value> = comments
        .iter()
        .map(|c| {
            serde_json::json!({
                "sectionNumber": c.section_number,
                "sectionName": c.section_name,
                "comments": c.comments,
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

fn from_stored(text: &str) -> Result<Vec<FlaggedSection>> {
    serde_json::from_str(text).map_err(|e| DbError::Invalid {
        field: "flagged_comments",
        reason: e.to_string(),
    })
}

/// The review of a local entity, if it is under one.
pub fn find(sql: &Sql<'_>, entity_id: &str) -> Result<Option<Review>> {
    let row = sql.row(
        "SELECT message, flagged_comments, flagged_at, updated_at FROM numhub_reviews
             WHERE numhub_entity_id = ?1",
        args![entity_id],
        |r| {
            Ok((
                r.get::<Option<String>>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<String>(3)?,
            ))
        },
    )?;
    row.map(|(message, comments, flagged_at, updated_at)| {
        Ok(Review {
            message,
            flagged_comments: from_stored(&comments)?,
            flagged_at,
            updated_at,
        })
    })
    .transpose()
}

/// Keeps NumHub's review of `entity_id`: a new row, or the message and comments of the
/// one there. Other comments than before are a new flag (`flagged_at` = now).
pub fn record(
    tx: &Tx<'_>,
    entity_id: &str,
    message: Option<&str>,
    comments: &[FlaggedSection],
) -> Result<Recorded> {
    if let Some(m) = message {
        check_len("message", m, MESSAGE_MAX)?;
    }
    let before = find(tx, entity_id)?;
    let now = now_ts();
    let outcome = match &before {
        Some(b) if b.flagged_comments == comments => Recorded::Same,
        _ => Recorded::NewFlag,
    };
    if outcome == Recorded::Same && before.as_ref().and_then(|b| b.message.as_deref()) == message {
        return Ok(outcome);
    }
    let flagged_at = match (&before, outcome) {
        (Some(b), Recorded::Same) => b.flagged_at.clone(),
        _ => now.clone(),
    };
    let statement = match tx.engine() {
        Engine::Sqlite => "INSERT INTO numhub_reviews (numhub_entity_id, message, flagged_comments, flagged_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (numhub_entity_id) DO UPDATE SET message = excluded.message,
             flagged_comments = excluded.flagged_comments, flagged_at = excluded.flagged_at,
             updated_at = excluded.updated_at",
        Engine::Mysql => "INSERT INTO numhub_reviews (numhub_entity_id, message, flagged_comments, flagged_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON DUPLICATE KEY UPDATE message = VALUES(message),
             flagged_comments = VALUES(flagged_comments), flagged_at = VALUES(flagged_at),
             updated_at = VALUES(updated_at)",
    };
    tx.execute(
        statement,
        args![
            entity_id,
            message,
            to_stored(comments),
            ts(&flagged_at),
            ts(&now)
        ],
    )?;
    Ok(outcome)
}

/// The tenant's entities under review (local ids).
pub fn under_review(sql: &Sql<'_>, tenant_id: i64) -> Result<Vec<String>> {
    sql.rows(
        "SELECT r.numhub_entity_id FROM numhub_reviews r
         JOIN numhub_entities e ON e.id = r.numhub_entity_id WHERE e.tenant_id = ?1
         ORDER BY r.numhub_entity_id",
        args![tenant_id],
        |r| r.get(0),
    )
}

/// Ends the review of `entity_id` (NumHub no longer lists an alert for it); returns
/// whether there was one.
pub fn clear(tx: &Tx<'_>, entity_id: &str) -> Result<bool> {
    Ok(tx.execute(
        "DELETE FROM numhub_reviews WHERE numhub_entity_id = ?1",
        args![entity_id],
    )? > 0)
}
