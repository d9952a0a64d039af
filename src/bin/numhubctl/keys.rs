//! `keys rotate`: the running daemon re-encrypts its stored secrets to a new identity.

use numhubd::api::{self, Empty};

use crate::output::simple;
use crate::session::{Outcome, Session};

pub fn rotate(s: &mut Session) -> Outcome {
    let rotated = s.request::<api::KeysRotate>(&Empty {})?;
    simple(s.json, &rotated, "keys rotated")
}
