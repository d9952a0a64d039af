//! Creating an application without ever creating two.
//!
//! `POST /application` is not idempotent and the document offers no idempotency
//! key. When a create was sent but no answer came back (timeout, reset), the client
//! does not repeat it blindly: it looks in the attestation list for an application
//! of the same `companyName` modified since the attempt began (NumHub's dates carry
//! an offset; compared in UTC, allowing `clock_skew`), confirms each candidate with
//! `GET /application/{id}`, and resends only when certain none exists. When it
//! cannot be certain it returns [`NumhubError::OutcomeUnknown`].
//!
//! Assumption the document does not state: the attestation list covers every
//! application of the client (the sandbox's does).

use chrono::{DateTime, Utc};

use super::model::{ApplicationModel, CreateEntityResponse};
use super::transport::{Body, Request};
use super::{decode, CallError, Client, NumhubError, Priority};
use crate::db::HttpMethod;

const PAGE_SIZE: i32 = 100;

enum Found {
    None,
    One(CreateEntityResponse),
    Several(usize),
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
                Ok(Found::None) if sends < self.inner.opts.max_attempts => {
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
                Err(e) => {
                    return Err(unknown(format!(
                        "{reason}; the attestation list could not be read: {e}"
                    )))
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
        let mut page = 1;
        loop {
            let list = self.attestation_list(tenant, p, page, PAGE_SIZE).await?;
            let results = list.results.unwrap_or_default();
            let n = results.len();
            for item in results {
                let modified = item.last_modified_date.as_deref().and_then(parse_utc);
                if item.company_name.as_deref() == Some(name)
                    && modified.is_some_and(|m| m >= since)
                {
                    if let Some(id) = item.numhub_entity_id {
                        candidates.push(id);
                    }
                }
            }
            let total = list.total_count.unwrap_or(0).max(0) as i64;
            if n == 0 || i64::from(page) * i64::from(PAGE_SIZE) >= total {
                break;
            }
            page += 1;
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
            let created_ok = app
                .created_date
                .as_deref()
                .and_then(parse_utc)
                .is_none_or(|c| c >= since);
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

#[cfg(test)]
mod tests {
    #[test]
    fn eastern_offsets_compare_in_utc() {
        let a = super::parse_utc("2026-11-25T02:16:31.1234567-05:00").expect("parse");
        let b = super::parse_utc("2026-11-25T07:16:31.1234567Z").expect("parse");
        assert_eq!(a, b);
    }
}
