//! After the send: the exchange's audit row (`numhub_sync_logs`: what was sent,
//! redacted; what came back, or a file answer by size and hash), and the checks that
//! turn a sent exchange into an error — a file that changed while it was read, an
//! answer past its limit.

use serde_json::{json, Value};

use super::super::audit::{self, Exchange};
use super::exchange::Sent;
use super::prepare::Sending;
use super::{Answer, Body, NumhubError, Outcome, Request, Transport};

impl Transport {
    /// Writes the exchange's audit row.
    pub(super) async fn record(
        &self,
        req: &Request,
        sending: &Sending,
        sent: &Sent,
        elapsed_ms: i64,
    ) {
        let (response, error, success) = self.response_audit(req, sent);
        let exchange = Exchange {
            tenant_id: req.tenant_id,
            numhub_entity_id: req.entity.clone(),
            numhub_identity_id: req.identity.clone(),
            endpoint: req.endpoint(),
            method: req.method,
            status: sent.status(),
            request: self.request_audit(req, sending),
            response,
            elapsed_ms,
            error,
            success,
        };
        audit::record(&self.store, exchange, self.max_audit_payload).await;
    }

    fn request_audit(&self, req: &Request, sending: &Sending) -> Value {
        let body = match sending.files.is_empty() {
            true => sending.body.clone(),
            false => self.multipart_audit(req, sending),
        };
        json!({
            "query": self.redactor.query(&req.query),
            "headers": Value::Object(sending.headers.clone()),
            "body": body,
            "numhubEntityId": req.entity,
            "numhubIdentityId": req.identity,
        })
    }

    /// A multipart body as sent: each file by size, bytes sent and the hash of what
    /// was read (none unless it was read whole), the text fields redacted.
    fn multipart_audit(&self, req: &Request, sending: &Sending) -> Value {
        let files: Vec<Value> = sending
            .files
            .iter()
            .map(|h| {
                let (sha, sent) = match h.progress.lock() {
                    Ok(p) => (p.sha256.clone().filter(|_| p.sent == h.size), p.sent),
                    Err(_) => (None, 0),
                };
                json!({"field": h.name, "fileName": h.file_name, "contentType": h.content_type,
                       "size": h.size, "bytesSent": sent, "sha256": sha})
            })
            .collect();
        let fields = match &req.body {
            Body::Multipart { fields, .. } => self.redactor.value(&Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )),
            _ => Value::Null,
        };
        json!({"multipart": {"files": files, "fields": fields}})
    }

    /// The response column, the error column and whether the exchange succeeded.
    fn response_audit(&self, req: &Request, sent: &Sent) -> (Option<Value>, Option<String>, bool) {
        let (status, body) = match &sent.outcome {
            Outcome::Answer { status, body, .. } => (*status, body),
            Outcome::Failed { reason, .. } => return (None, Some(reason.clone()), false),
        };
        let ok = (200..300).contains(&status);
        let content_type = &sent.content_type;
        let response = match (req.answer, sent.too_large) {
            (_, Some(read)) => json!({
                "contentType": content_type,
                "bytesRead": read,
                "limit": self.limit(req.answer),
            }),
            // A file is recorded by size and hash: the audit table holds no
            // documents (and a JSON-wrapped file would otherwise be kept whole).
            (Answer::Bytes { .. }, None) if ok => json!({
                "contentType": content_type,
                "bytes": body.len(),
                "sha256": audit::hex_sha256(body),
            }),
            _ => audit::response_value(&self.redactor, content_type.as_deref(), body),
        };
        let error = match sent.too_large {
            Some(_) => Some("answer over the size limit".to_string()),
            None => (!ok).then(|| format!("HTTP {status}")),
        };
        (Some(response), error, ok && sent.too_large.is_none())
    }

    /// The errors a sent exchange still comes to: a file that changed while it was
    /// sent, or an answer too large to read.
    pub(super) fn refuse(
        &self,
        req: &Request,
        files: &[super::prepare::Hashed],
        sent: &Sent,
    ) -> Result<(), NumhubError> {
        if let Some(h) = files
            .iter()
            .find(|h| h.progress.lock().is_ok_and(|p| p.changed))
        {
            return Err(NumhubError::File {
                path: h.path.display().to_string(),
                source: super::super::file_body::CHANGED.into(),
            });
        }
        if let Some(read) = sent.too_large {
            // Whatever NumHub did, the answer cannot be read: for a create or an
            // upload that is an unknown outcome (the caller treats `Decode` so).
            return Err(NumhubError::Decode {
                endpoint: req.endpoint(),
                reason: format!(
                    "the answer is larger than {} bytes ({read} read; [numhub] max_response_bytes \
                     for JSON answers)",
                    self.limit(req.answer)
                ),
            });
        }
        Ok(())
    }
}
