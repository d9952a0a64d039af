//! The answers of the `malformed` fault: what a proxy, a crashed backend or another
//! server version might send instead of the document's answer. Bodies that are huge or
//! never end are streamed, never held in memory.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use http_body::{Frame, SizeHint};
use serde_json::Value;

use crate::faults::Malformed;

/// What `HugeBody` declares and sends: 100 MiB.
const HUGE_BYTES: u64 = 100 * 1024 * 1024;
/// One chunk of filler.
const CHUNK: usize = 64 * 1024;
/// Larger real answers are passed on unchanged by `OddDates` (none comes near it).
const REWRITE_LIMIT: usize = 64 * 1024 * 1024;

const HTML_502: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response from an upstream \
server.</p></body></html>\n";

/// `resp`, the real answer of a request that was handled, turned into `kind`.
pub async fn answer(kind: Malformed, resp: Response) -> Response {
    match kind {
        Malformed::HugeBody => json_200(Body::new(Filler {
            left: Some(HUGE_BYTES),
        })),
        Malformed::EndlessChunked => json_200(Body::new(Filler { left: None })),
        Malformed::InvalidJson => json_200(Body::from(r#"{"numhubEntityId": "3f2a"#)),
        Malformed::Empty200 => json_200(Body::empty()),
        Malformed::HtmlError => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            HTML_502,
        )
            .into_response(),
        Malformed::WrongContentType => {
            let mut resp = resp;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
        Malformed::OddDates => odd_dates(resp).await,
    }
}

fn json_200(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// The real answer with its dates rewritten; a body that is not JSON is passed on.
async fn odd_dates(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, REWRITE_LIMIT).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    rewrite_dates(&mut json);
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(json.to_string()))
}

/// Every string under a key ending in `Date` (any case) that reads as RFC 3339 is
/// written as .NET's US short form, local time without its offset.
fn rewrite_dates(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let dated = key.to_ascii_lowercase().ends_with("date");
                match value {
                    Value::String(s) if dated => {
                        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                            *s = t.format("%-m/%-d/%Y %-I:%M:%S %p").to_string();
                        }
                    }
                    other => rewrite_dates(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_dates),
        _ => {}
    }
}

/// Spaces, `left` bytes of them, or forever.
struct Filler {
    left: Option<u64>,
}

impl HttpBody for Filler {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        static SPACES: [u8; CHUNK] = [b' '; CHUNK];
        let n = match self.left {
            Some(0) => return Poll::Ready(None),
            Some(left) => usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK)),
            None => CHUNK,
        };
        if let Some(left) = self.left.as_mut() {
            *left -= n as u64;
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&SPACES[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rewritten_at_any_depth_and_nothing_else() {
        let mut v = serde_json::json!({
            "createdDate": "2026-11-25T15:04:05-05:00",
            "items": [{"lastModifiedDate": "2026-01-02T03:04:05-05:00", "name": "2026-01-02T03:04:05-05:00"}],
            "activationDate": "not a date"
        });
        rewrite_dates(&mut v);
        assert_eq!(v["createdDate"], "11/25/2026 3:04:05 PM");
        assert_eq!(v["items"][0]["lastModifiedDate"], "1/2/2026 3:04:05 AM");
        assert_eq!(v["items"][0]["name"], "2026-01-02T03:04:05-05:00");
        assert_eq!(v["activationDate"], "not a date");
    }
}
