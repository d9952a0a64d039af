//! Creating an application without ever creating two.
//!
//! `POST /application` is not idempotent and the document offers no idempotency
//! key. When a create was sent but no answer came back (timeout, reset), the client
//! does not repeat it blindly: it looks in the attestation list for an application
//! of the same `companyName` modified since the attempt began (NumHub's dates carry
//! an offset; compared in UTC, allowing `clock_skew`), confirms each candidate with
//! `GET /application/{id}`, and resends only when certain none exists. When it
//! cannot be certain (several candidates; a candidate whose date is missing or does
//! not parse, so it cannot be told from an older one) it returns
//! [`NumhubError::OutcomeUnknown`]. When NumHub cannot be read for the look it returns
//! [`NumhubError::Exhausted`] without resending: the caller must look again before
//! any resend (the outbox does on every retry of a create or upload).
//!
//! "No answer" is a timeout, a connection lost once the request was sent, or any 5xx
//! (a 500 or 503 can come after NumHub saved the application; a 502/504 is a gateway's).
//!
//! Assumption the document does not state: the attestation list covers every
//! application of the client (the sandbox's does).

use chrono::{DateTime, Utc};

use super::model::{ApplicationModel, CreateEntityResponse};
use super::paging::{Meta, PageMemory, Pager};
use super::transport::{Body, Request};
use super::{decode, CallError, Client, NumhubError, Priority};
use crate::db::HttpMethod;

enum Found {
    None,
    One(CreateEntityResponse),
    Several(usize),
    /// The look cannot be certain: a candidate whose date cannot tell whether it is
    /// this attempt's, or a list that read short of its `totalCount`.
    Uncertain(String),
}

impl Client {
    /// `POST /application` (`SaveBCApplicationModel`; `status` `Saved` or `Submit`).
    pub async fn create_application(
        &self,
        tenant: i64,
        p: Priority,
        body: &ApplicationModel,
    ) -> Result<CreateEntityResponse, NumhubError> {
        let name = body
            .business_entity_details
            .as_ref()
            .and_then(|b| b.legal_business_name.clone())
            .unwrap_or_default();
        let json = serde_json::to_value(body)
            .map_err(|e| NumhubError::Setup(format!("encoding a request body: {e}")))?;
        let mut sends = 0u32;
        loop {
            sends += 1;
            let started = Utc::now();
            let mut r = Request::new(HttpMethod::Post, "/application");
            r.priority = p;
            r.body = Body::Json(json.clone());
            let endpoint = r.endpoint();
            let reason = match self.call(tenant, r, true).await {
                Ok(bytes) => return decode(&endpoint, &bytes),
                Err(CallError::Error(e)) => return Err(e),
                Err(CallError::Ambiguous(reason)) => reason,
            };
            tracing::warn!(endpoint = %endpoint, reason = %reason, "create sent without an answer; looking for it before resending");
            let unknown = |why: String| NumhubError::OutcomeUnknown {
                company_name: name.clone(),
                reason: why,
            };
            if name.is_empty() {
                return Err(unknown(format!(
                    "{reason}; no legalBusinessName to look for"
                )));
            }
            match self.find_created(tenant, p, &name, started).await {
                Ok(Found::One(found)) => {
                    tracing::info!(numhub_entity_id = ?found.numhub_entity_id, "the unanswered create had succeeded; not resending");
                    return Ok(found);
                }
                Ok(Found::None) if sends < self.inner.opts.retry.max_attempts => {
                    tracing::info!("the unanswered create did not reach NumHub; resending");
                }
                Ok(Found::None) => {
                    return Err(NumhubError::Exhausted {
                        endpoint,
                        attempts: sends,
                        last: reason,
                    })
                }
                Ok(Found::Several(n)) => {
                    return Err(unknown(format!(
                        "{reason}; {n} applications of that name appeared since the attempt"
                    )))
                }
                Ok(Found::Uncertain(why)) => return Err(unknown(format!("{reason}; {why}"))),
                Err(e) => {
                    return Err(look_failed(
                        e,
                        endpoint,
                        sends,
                        &reason,
                        "the attestation list",
                        unknown,
                    ))
                }
            }
        }
    }

    /// Looks for an application named `legal_name` created by an attempt that began
    /// at `since` (minus the allowed clock skew), without sending anything: how the
    /// outbox settles a create interrupted by a crash. `Ok(None)`: none exists, a send
    /// is safe. Two or more candidates: [`NumhubError::OutcomeUnknown`].
    pub async fn find_created_application(
        &self,
        tenant: i64,
        p: Priority,
        legal_name: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<CreateEntityResponse>, NumhubError> {
        match self.find_created(tenant, p, legal_name, since).await? {
            Found::None => Ok(None),
            Found::One(found) => Ok(Some(found)),
            Found::Several(n) => Err(NumhubError::OutcomeUnknown {
                company_name: legal_name.to_string(),
                reason: format!("{n} applications of that name appeared since the attempt"),
            }),
            Found::Uncertain(reason) => Err(NumhubError::OutcomeUnknown {
                company_name: legal_name.to_string(),
                reason,
            }),
        }
    }

    async fn find_created(
        &self,
        tenant: i64,
        p: Priority,
        name: &str,
        started: DateTime<Utc>,
    ) -> Result<Found, NumhubError> {
        let skew = chrono::Duration::from_std(self.inner.opts.clock_skew)
            .unwrap_or_else(|_| chrono::Duration::seconds(120));
        let since = started - skew;
        let mut candidates = Vec::new();
        let mut pager = Pager::new("the attestation list", PageMemory::default());
        while let Some(ask) = pager.next_ask() {
            let list = self
                .attestation_list(tenant, p, ask.page_number, ask.page_size)
                .await?;
            let meta = Meta::from(&list);
            let results = list.results.unwrap_or_default();
            for item in pager.take(results, |i| i.numhub_entity_id, meta) {
                if item.company_name.as_deref() != Some(name) {
                    continue;
                }
                match dated_since(
                    "lastModifiedDate",
                    item.last_modified_date.as_deref(),
                    since,
                ) {
                    Ok(true) => candidates.extend(item.numhub_entity_id),
                    Ok(false) => {}
                    Err(why) => return Ok(Found::Uncertain(why)),
                }
            }
        }
        if let Some((seen, total)) = pager.short_of_total() {
            // Ours may be among the ones not read: never "nothing found, resend".
            return Ok(Found::Uncertain(format!(
                "the attestation list gave {seen} of its {total} applications"
            )));
        }
        let mut confirmed = Vec::new();
        for id in candidates {
            let app = self.get_application(tenant, p, id).await?;
            let same_name = app
                .business_entity_details
                .as_ref()
                .and_then(|b| b.legal_business_name.as_deref())
                == Some(name);
            // createdDate (when NumHub sends it) must also be after the attempt began.
            let created_ok = match app.created_date.as_deref() {
                None => true,
                created => match dated_since("createdDate", created, since) {
                    Ok(ok) => ok,
                    Err(why) => return Ok(Found::Uncertain(why)),
                },
            };
            if same_name && created_ok {
                confirmed.push(CreateEntityResponse {
                    numhub_entity_id: Some(id),
                    application_id: app.application_id,
                    eid: app.eid,
                });
            }
        }
        Ok(match confirmed.len() {
            0 => Found::None,
            1 => confirmed.pop().map(Found::One).unwrap_or(Found::None),
            n => Found::Several(n),
        })
    }
}

/// NumHub dates are US Eastern with an explicit offset: parse it, compare in UTC.
pub fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a candidate of a look (an application, a document) is dated at or after
/// `since`. `Err` when its date is missing or does not parse: it cannot be told from
/// an older one, so the look's outcome is unknown, never "nothing found, resend".
pub(super) fn dated_since(
    field: &str,
    value: Option<&str>,
    since: DateTime<Utc>,
) -> Result<bool, String> {
    let Some(raw) = value else {
        return Err(format!("a candidate has no {field}"));
    };
    parse_utc(raw)
        .map(|t| t >= since)
        .ok_or_else(|| format!("a candidate's {field} {raw:?} does not parse as a date"))
}

/// What a failed look at NumHub, after an answer was lost, comes to. NumHub could not
/// be read (unreachable, a login refused, our own database): nothing is resent and
/// the caller's next attempt looks again (`Exhausted`). Anything else leaves the
/// outcome unknown (`unknown` builds that error for the call's subject).
pub(super) fn look_failed(
    e: NumhubError,
    endpoint: String,
    attempts: u32,
    reason: &str,
    what: &str,
    unknown: impl FnOnce(String) -> NumhubError,
) -> NumhubError {
    match e {
        NumhubError::Exhausted { .. } | NumhubError::Unauthorized { .. } | NumhubError::Db(_) => {
            NumhubError::Exhausted {
                endpoint,
                attempts,
                last: format!(
                    "{reason}; not resent, as looking for it failed (look before resending): {e}"
                ),
            }
        }
        e => unknown(format!("{reason}; {what} could not be read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn eastern_offsets_compare_in_utc() {
        let a = super::parse_utc("2026-11-25T02:16:31.1234567-05:00").expect("parse");
        let b = super::parse_utc("2026-11-25T07:16:31.1234567Z").expect("parse");
        assert_eq!(a, b);
    }

    #[test]
    fn a_date_that_does_not_parse_is_unknown_not_old() {
        let since = super::parse_utc("2026-11-25T07:00:00Z").expect("parse");
        let d = |v| super::dated_since("createdDate", v, since);
        assert_eq!(d(Some("2026-11-25T02:16:31-05:00")), Ok(true));
        assert_eq!(d(Some("2026-11-24T02:16:31-05:00")), Ok(false));
        let bad = d(Some("11/25/2026 2:16 AM")).expect_err("unparsable");
        assert!(
            bad.contains("createdDate") && bad.contains("11/25/2026"),
            "{bad}"
        );
        assert!(d(None).expect_err("missing").contains("no createdDate"));
    }
}
