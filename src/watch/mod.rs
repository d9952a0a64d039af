//! The drop folder: operators put documents into per-entity type folders; each file
//! is taken through [`crate::intake`] once it is complete, registered with its upload
//! job, and moved to `.processed/` or `.failed/` (with the reason beside it).

pub mod layout;
pub mod status;

pub use status::StatusHandle;
