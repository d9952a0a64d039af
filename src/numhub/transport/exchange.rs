//! The send and the capped read: every answer is read chunk by chunk up to a limit
//! (a declared `Content-Length` over it is refused before reading), so a runaway
//! answer never fills memory.

use super::{describe, Outcome};

/// What one send came to.
pub(super) struct Sent {
    pub outcome: Outcome,
    /// NumHub's `requests-remaining` header, for the governor.
    pub remaining: Option<u32>,
    pub content_type: Option<String>,
    /// Set when the answer went past the limit (how much was read by then).
    pub too_large: Option<usize>,
}

impl Sent {
    /// The HTTP status, when NumHub answered.
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Answer { status, .. } => Some(*status),
            Outcome::Failed { .. } => None,
        }
    }
}

/// Sends the request and reads its answer up to `limit` bytes.
pub(super) async fn send(builder: reqwest::RequestBuilder, limit: usize) -> Sent {
    let resp = match builder.send().await {
        Ok(resp) => resp,
        Err(e) => {
            return Sent {
                outcome: Outcome::Failed {
                    sent: !e.is_connect(),
                    reason: describe(&e),
                },
                remaining: None,
                content_type: None,
                too_large: None,
            }
        }
    };
    let status = resp.status().as_u16();
    let remaining = header(&resp, "requests-remaining").and_then(|v| v.trim().parse().ok());
    let content_type = header(&resp, reqwest::header::CONTENT_TYPE.as_str());
    let (outcome, too_large) = match read_limited(resp, limit).await {
        Ok(body) => (answer(status, body, &content_type), None),
        Err(Limited::TooLarge(n)) => (answer(status, bytes::Bytes::new(), &content_type), Some(n)),
        Err(Limited::Failed(reason)) => (Outcome::Failed { sent: true, reason }, None),
    };
    Sent {
        outcome,
        remaining,
        content_type,
        too_large,
    }
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn answer(status: u16, body: bytes::Bytes, content_type: &Option<String>) -> Outcome {
    Outcome::Answer {
        status,
        body,
        content_type: content_type.clone(),
    }
}

enum Limited {
    TooLarge(usize),
    Failed(String),
}

/// Reads a body chunk by chunk, stopping once it passes `max` (a declared
/// Content-Length over it is refused before reading).
async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<bytes::Bytes, Limited> {
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(Limited::TooLarge(0));
    }
    let mut out = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                out.extend_from_slice(&chunk);
                if out.len() > max {
                    return Err(Limited::TooLarge(out.len()));
                }
            }
            Ok(None) => return Ok(out.freeze()),
            Err(e) => return Err(Limited::Failed(describe(&e))),
        }
    }
}
