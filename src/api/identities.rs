//! Display identities (the caller name, logo and call reason NumHub shows for a set
//! of numbers): `identity.*`.

use serde_json::{json, Value};

use crate::api::rows::{ChildQuery, Page, RowRef, RowWait, WithSync};
use crate::api::schema::{
    e164, https_url, id, local_id, shown_text, time, wait_s, wire, wire_enum,
};
use crate::api::{methods, Method};

methods! {
    /// The tenant's display identities (of one entity, if given).
    "identity.list" => IdentityList(ChildQuery) -> Page<WithSync<Identity>>;
    "identity.get" => IdentityGet(RowRef) -> WithSync<Identity>;
    /// Changes what an identity shows; queued for NumHub.
    "identity.update" => IdentityUpdate(IdentityChange) -> WithSync<Identity>;
    /// Deactivates an identity; queued for NumHub.
    "identity.deactivate" => IdentityDeactivate(RowWait) -> WithSync<Identity>;
    /// Adds numbers to an identity; queued for NumHub.
    "identity.numbers.add" => IdentityNumbersAdd(IdentityNumbers) -> WithSync<Identity>;
    /// Removes numbers from an identity; queued for NumHub.
    "identity.numbers.remove" => IdentityNumbersRemove(IdentityNumbers) -> WithSync<Identity>;
}

wire_enum! {
    /// Whether NumHub shows the identity.
    IdentityStatus { Active = "active", Inactive = "inactive", Pending = "pending" }
}

wire! { params
    /// `identity.update`: at least one of the three.
    pub struct IdentityChange {
        pub tenant_id: i64 = id(),
        pub id: String = local_id(),
        pub display_name: Option<String> = shown_text(1, 32),
        pub call_reason: Option<String> = shown_text(0, 255),
        pub logo_url: Option<String> = https_url(500),
        pub wait_s: Option<u64> = wait_s(),
    }
}

wire! { params
    /// `identity.numbers.add` / `.remove`: E.164 numbers, 1 to 1,000.
    pub struct IdentityNumbers {
        pub tenant_id: i64 = id(),
        pub id: String = local_id(),
        pub phone_numbers: Vec<String> = numbers(),
        pub wait_s: Option<u64> = wait_s(),
    }
}

fn numbers() -> Value {
    json!({"type": "array", "items": e164(), "minItems": 1, "maxItems": 1000})
}

wire! { result
    /// A display identity as the replica holds it.
    #[derive(PartialEq)]
    pub struct Identity {
        pub id: String,
        /// The local entity it belongs to.
        pub entity_id: String,
        pub numhub_identity_id: String,
        pub display_name: String,
        pub call_reason: Option<String>,
        pub logo_url: Option<String>,
        pub status: IdentityStatus,
        pub rich_call_data: Option<Value>,
        pub phone_numbers: Vec<String>,
        /// NumHub's `dirId`, as NumHub reports it.
        pub dir_id: Option<String>,
        /// The identity as NumHub last answered it whole.
        pub api_response: Option<Value>,
        pub created_at: String = time(),
        pub updated_at: String = time(),
    }
}
