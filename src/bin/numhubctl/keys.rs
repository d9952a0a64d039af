//! `keys rotate`: the running daemon re-encrypts its stored secrets to a new identity.

use numhubd::api::{self, Empty};
use numhubd::client::{Client, ClientError};

use crate::output::simple;

pub fn rotate(c: &mut Client, json_out: bool) -> Result<(), ClientError> {
    let rotated = c.request::<api::KeysRotate>(&Empty {})?;
    simple(json_out, &rotated, "keys rotated")
}
