//! Timestamps as the store keeps them: UTC, RFC 3339, microseconds, trailing `Z`,
//! so that text order is time order.

use chrono::{DateTime, SecondsFormat, Utc};

use super::DbError;

pub fn format_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn now_ts() -> String {
    format_ts(Utc::now())
}

/// Parses any RFC 3339 time (NumHub sends US Eastern with an offset) into UTC.
pub fn parse_ts(field: &'static str, s: &str) -> Result<DateTime<Utc>, DbError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| DbError::invalid(field, format!("not an RFC 3339 time ({e}): {s:?}")))
}
