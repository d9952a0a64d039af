//! What the row methods share: the params naming a row or a page of an entity's
//! children, a keyset [`Page`], a row [`WithSync`] its `sync` object (the newest
//! unfinished outbox job), and [`raw_json`] for NumHub's answers passed through.

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::api::schema::{cursor, extend, id, limit, local_id, nullable, wait_s, wire, Schema};

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

wire! { params
    /// One row of a tenant (an entity, identity or document), by its local id.
    pub struct RowRef {
        pub tenant_id: i64 = id(),
        pub id: String = local_id(),
    }
}

wire! { params
    /// One row of a tenant, for a change that may wait for NumHub (`wait_s`).
    pub struct RowWait {
        pub tenant_id: i64 = id(),
        pub id: String = local_id(),
        pub wait_s: Option<u64> = wait_s(),
    }
}

wire! { params
    /// A page of a tenant's identities or documents (of one entity, if given).
    pub struct ChildQuery {
        pub tenant_id: i64 = id(),
        pub entity_id: Option<String> = local_id(),
        pub cursor: Option<String> = cursor(),
        pub limit: Option<u32> = limit(),
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

/// The row's fields read through it (`entity.company_name`), as the wire has them
/// side by side with `sync`.
impl<T> std::ops::Deref for WithSync<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.row
    }
}

impl<T: Schema> Schema for WithSync<T> {
    fn schema() -> Value {
        extend(T::schema(), &[("sync", nullable(SyncState::schema()))])
    }
}

/// JSON NumHub sent, passed through unparsed by the daemon (an application is
/// kilobytes): read from any JSON, so it also works inside a flattened struct
/// (`#[serde(deserialize_with = "raw_json")]`).
pub fn raw_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Option::<Value>::deserialize(d)?
        .map(|v| serde_json::value::to_raw_value(&v))
        .transpose()
        .map_err(serde::de::Error::custom)
}
