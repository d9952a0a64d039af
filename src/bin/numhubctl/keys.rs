//! `keys rotate`: the running daemon re-encrypts its stored secrets to a new identity.

use serde_json::json;

use numhubd::client::{Client, ClientError};

use crate::output::simple;

pub fn rotate(c: &mut Client, json_out: bool) -> Result<(), ClientError> {
    let r = c.call("keys.rotate", json!({}))?;
    simple(json_out, &r, "keys rotated")
}
