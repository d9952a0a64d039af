//! JSON schemas of the wire types, declared with the types themselves: the
//! [`Schema`] trait, its impls for the plain types, the builders a field's schema is
//! written with (`string(255)`, `e164()`...), and [`wire!`], which declares a struct
//! and its schema from one field list so the two cannot drift.
//!
//! `rpc::schema` validates calls against these schemas and `rpc.discover` publishes
//! them. Params and results read `Option` differently: a params field of type
//! `Option<T>` may be left out (and is not nullable: `null` is refused, as before);
//! a result field of type `Option<T>` is always there and may be `null`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// A type's JSON schema, as `rpc.discover` publishes it and the daemon validates.
pub trait Schema {
    fn schema() -> Value;
}

/// Whether a struct's fields are a call's params or an answer's result (see the
/// module's doc for what `Option` means in each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Params,
    Result,
}

/// One field of a [`wire!`] struct: its name, schema, and whether its type is an
/// `Option`.
pub type Field = (&'static str, Value, bool);

/// The object schema of a [`wire!`] struct: no other fields than these.
pub fn object_of(side: Side, fields: &[Field]) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, schema, optional) in fields {
        let schema = match (side, optional) {
            (Side::Result, true) => nullable(schema.clone()),
            _ => schema.clone(),
        };
        props.insert((*name).to_string(), schema);
        if side == Side::Result || !optional {
            required.push(*name);
        }
    }
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// `schema`, also allowing `null`.
pub fn nullable(mut schema: Value) -> Value {
    match schema.get_mut("type") {
        Some(Value::String(t)) => {
            let t = t.clone();
            schema["type"] = json!([t, "null"]);
        }
        Some(Value::Array(ts)) if !ts.contains(&json!("null")) => ts.push(json!("null")),
        // No type (any value, a `$ref`): left as it is.
        _ => return schema,
    }
    if let Some(Value::Array(values)) = schema.get_mut("enum") {
        values.push(Value::Null);
    }
    schema
}

/// Adds `fields` (all required) to an object schema: a struct flattened into
/// another (`#[serde(flatten)]`).
pub fn extend(mut schema: Value, fields: &[(&str, Value)]) -> Value {
    for (name, s) in fields {
        schema["properties"][*name] = s.clone();
        if let Some(Value::Array(required)) = schema.get_mut("required") {
            required.push(json!(name));
        }
    }
    schema
}

/// Declares a wire struct and its [`Schema`] from one field list:
///
/// ```ignore
/// wire! { params
///     /// `tenant.get`.
///     pub struct TenantGet {
///         pub id: i64 = id(),
///         pub email: Option<String> = text(255),
///     }
/// }
/// ```
///
/// `params` or `result` says how `Option` fields read (see the module's doc). A field
/// without `= schema` takes its type's own [`Schema`]. The struct derives `Debug`,
/// `Clone`, `Serialize` and `Deserialize`; add more with attributes.
macro_rules! wire {
    ($side:ident $(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::api::schema::wire!(@munch $side [$(#[$m])*] $name {} {} $($body)*);
    };
    // A param left out is not sent (`null` is refused); a result's `None` is `null`.
    (@munch params $m:tt $name:ident {$($fields:tt)*} {$($props:tt)*}
        $(#[$fm:meta])* pub $f:ident : Option<$t:ty> $(= $s:expr)? $(, $($rest:tt)*)?) => {
        $crate::api::schema::wire!(@munch params $m $name
            {$($fields)* $(#[$fm])* #[serde(skip_serializing_if = "Option::is_none")] pub $f: Option<$t>,}
            {$($props)* (stringify!($f), $crate::api::schema::wire!(@schema $t $(, $s)?), true),}
            $($($rest)*)?);
    };
    (@munch result $m:tt $name:ident {$($fields:tt)*} {$($props:tt)*}
        $(#[$fm:meta])* pub $f:ident : Option<$t:ty> $(= $s:expr)? $(, $($rest:tt)*)?) => {
        $crate::api::schema::wire!(@munch result $m $name
            {$($fields)* $(#[$fm])* pub $f: Option<$t>,}
            {$($props)* (stringify!($f), $crate::api::schema::wire!(@schema $t $(, $s)?), true),}
            $($($rest)*)?);
    };
    (@munch $side:ident $m:tt $name:ident {$($fields:tt)*} {$($props:tt)*}
        $(#[$fm:meta])* pub $f:ident : $t:ty $(= $s:expr)? $(, $($rest:tt)*)?) => {
        $crate::api::schema::wire!(@munch $side $m $name
            {$($fields)* $(#[$fm])* pub $f: $t,}
            {$($props)* (stringify!($f), $crate::api::schema::wire!(@schema $t $(, $s)?), false),}
            $($($rest)*)?);
    };
    (@munch $side:ident [$($m:tt)*] $name:ident {$($fields:tt)*} {$($props:tt)*}) => {
        $($m)*
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
        pub struct $name { $($fields)* }

        impl $crate::api::Schema for $name {
            fn schema() -> serde_json::Value {
                $crate::api::schema::object_of($crate::api::schema::wire!(@side $side), &[$($props)*])
            }
        }
    };
    (@side params) => { $crate::api::schema::Side::Params };
    (@side result) => { $crate::api::schema::Side::Result };
    (@schema $t:ty) => { <$t as $crate::api::Schema>::schema() };
    (@schema $t:ty, $s:expr) => { $s };
}

/// Declares [`Schema`] for a string enum from its list of names.
macro_rules! string_enum_schema {
    ($($t:ty => $names:expr),+ $(,)?) => {
        $(impl $crate::api::Schema for $t {
            fn schema() -> serde_json::Value {
                $crate::api::schema::one_of($names)
            }
        })+
    };
}

/// A string enum of the wire: its names, [`WireEnum`] and [`Schema`] from one list.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $crate::api::schema::WireEnum for $name {
            const ALL: &'static [$name] = &[$($name::$variant),+];
            const NAMES: &'static [&'static str] = &[$($text),+];

            fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            fn from_name(name: &str) -> Option<$name> {
                match name { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl $crate::api::Schema for $name {
            fn schema() -> serde_json::Value {
                $crate::api::schema::one_of(<$name as $crate::api::schema::WireEnum>::NAMES)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::api::schema::WireEnum::as_str(*self))
            }
        }
    };
}

pub(crate) use {string_enum_schema, wire, wire_enum};

/// A string enum of the wire (declared by `wire_enum!`). The seed's enumerated
/// columns are the same vocabulary: `db` stores these very types (its CHECKs list
/// the same names), so a value crosses from a row to the wire unchanged.
pub trait WireEnum: Sized + Copy + 'static {
    const ALL: &'static [Self];
    const NAMES: &'static [&'static str];
    fn as_str(self) -> &'static str;
    fn from_name(name: &str) -> Option<Self>;
}

macro_rules! plain_schema {
    ($($t:ty => $schema:expr),+ $(,)?) => {
        $(impl Schema for $t {
            fn schema() -> Value {
                $schema
            }
        })+
    };
}

plain_schema! {
    i64 => json!({"type": "integer"}),
    i32 => json!({"type": "integer", "format": "int32"}),
    u64 => json!({"type": "integer", "minimum": 0}),
    u32 => json!({"type": "integer", "minimum": 0}),
    u16 => json!({"type": "integer", "minimum": 0, "maximum": 65535}),
    usize => json!({"type": "integer", "minimum": 0}),
    bool => json!({"type": "boolean"}),
    String => json!({"type": "string"}),
    PathBuf => json!({"type": "string"}),
    // Any JSON: NumHub's own answers and bodies, passed through.
    Value => json!({}),
    Box<RawValue> => json!({}),
    Map<String, Value> => json!({"type": "object"}),
}

impl<T: Schema> Schema for Option<T> {
    fn schema() -> Value {
        nullable(T::schema())
    }
}

impl<T: Schema> Schema for Vec<T> {
    fn schema() -> Value {
        json!({"type": "array", "items": T::schema()})
    }
}

impl<T: Schema> Schema for BTreeMap<String, T> {
    fn schema() -> Value {
        json!({"type": "object", "additionalProperties": T::schema()})
    }
}

// Builders for a field's schema.

/// The most items a list method returns at once (`db::MAX_PAGE`, which a test
/// compares).
pub const MAX_PAGE: u32 = 500;

pub fn id() -> Value {
    json!({"type": "integer", "minimum": 1})
}
/// A local uuid (an entity, identity or document).
pub fn local_id() -> Value {
    string(100)
}
pub fn string(max: u64) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max})
}
pub fn text(max: u64) -> Value {
    json!({"type": "string", "maxLength": max})
}
/// Text shown to people (a caller name, a company name, a call reason): no control
/// or bidirectional-override characters.
pub fn shown_text(min: u64, max: u64) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max, "format": "plain-text"})
}
pub fn https_url(max: u64) -> Value {
    json!({"type": "string", "maxLength": max, "format": "https-url"})
}
pub fn boolean() -> Value {
    json!({"type": "boolean"})
}
pub fn e164() -> Value {
    json!({"type": "string", "format": "e164"})
}
pub fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}
pub fn sha256() -> Value {
    json!({"type": "string", "format": "sha256"})
}
pub fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}
pub fn list_of(item: Value, max: u64) -> Value {
    json!({"type": "array", "items": item, "maxItems": max})
}
pub fn limit() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE})
}
pub fn cursor() -> Value {
    json!({"type": "string", "maxLength": 200})
}
pub fn wait_s() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": 60})
}
/// An application body for a create (`POST /application`).
pub fn application() -> Value {
    json!({"$ref": "#/components/schemas/SaveBCApplicationModel"})
}
/// An application body for an update (`PUT /application/{id}`): also `applicationId`,
/// `modifiedSections` and each display identity's `numhubIdentityId`.
pub fn application_update() -> Value {
    json!({"$ref": "#/components/schemas/UpdateBCApplicationModel"})
}

/// An object with these required and optional fields and nothing else (for a
/// schema no Rust type has, e.g. in tests).
pub fn object(required: &[(&str, Value)], optional: &[(&str, Value)]) -> Value {
    let mut props = Map::new();
    for (k, v) in required.iter().chain(optional) {
        props.insert((*k).to_string(), v.clone());
    }
    json!({
        "type": "object",
        "properties": props,
        "required": required.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        "additionalProperties": false,
    })
}
