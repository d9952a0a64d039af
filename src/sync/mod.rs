//! The sync engine: the outbox that carries local changes to NumHub exactly once,
//! and the poller that keeps the replica current with as few requests as possible.
//!
//! [`mapping`] is the one table from NumHub's values to the seed's.

pub mod mapping;
