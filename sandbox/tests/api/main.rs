//! The sandbox driven over real HTTP on loopback. One test binary (one link step); each
//! module covers one behaviour, and `conformance` checks every answer against the
//! published OpenAPI document.

mod cli;
mod common;
mod conformance;
mod documents;
mod faults;
mod flows;
mod identities;
mod limits;
mod paging;
mod templates;
mod updates;
