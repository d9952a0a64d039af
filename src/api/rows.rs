//! What the row methods' results share: a keyset [`Page`], a row [`WithSync`] its
//! `sync` object (the newest unfinished outbox job), and [`RawJson`] for NumHub's
//! answers passed through unparsed.

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::api::schema::wire;
use crate::api::schema::{extend, nullable, Schema};

wire! { result
    /// The `sync` object of a row with changes still on their way to NumHub.
    #[derive(PartialEq)]
    pub struct SyncState {
        pub job_id: i64,
        pub kind: String,
        pub state: String,
        pub attempts: i64,
        pub last_error: Option<String>,
    }
}

/// A page of a list method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Give it as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

impl<T: Schema> Schema for Page<T> {
    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {"items": Vec::<T>::schema(), "next_cursor": Option::<String>::schema()},
            "required": ["items", "next_cursor"],
            "additionalProperties": false,
        })
    }
}

/// A row and its unfinished outbox job, if any: the row's fields and `sync`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WithSync<T> {
    #[serde(flatten)]
    pub row: T,
    pub sync: Option<SyncState>,
}

impl<T: Schema> Schema for WithSync<T> {
    fn schema() -> Value {
        extend(T::schema(), &[("sync", nullable(SyncState::schema()))])
    }
}

/// JSON passed through as NumHub sent it, never parsed by the daemon (an
/// application is kilobytes). Read from any JSON on the client side, so it also
/// works inside a flattened struct.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct RawJson(pub Box<RawValue>);

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        serde_json::value::to_raw_value(&value)
            .map(RawJson)
            .map_err(serde::de::Error::custom)
    }
}

impl Schema for RawJson {
    fn schema() -> Value {
        json!({})
    }
}
