//! Process exit codes (sysexits.h), so that systemd units and scripts can tell a bad
//! config from a crash.

/// Everything went well.
pub const OK: i32 = 0;
/// A runtime failure not covered below.
pub const FAILURE: i32 = 1;
/// EX_USAGE: the command line was wrong.
pub const USAGE: i32 = 64;
/// EX_DATAERR: the database is not one this binary may touch (e.g. a newer schema).
pub const DATA: i32 = 65;
/// EX_UNAVAILABLE: the daemon is not reachable (numhubctl).
pub const UNAVAILABLE: i32 = 69;
/// EX_SOFTWARE: a long-running task of the daemon (local API, outbox, poller, drop
/// folder watcher, housekeeping, watchdog) ended or panicked while it ran; systemd
/// restarts the daemon.
pub const SOFTWARE: i32 = 70;
/// EX_IOERR: a file or socket could not be read or written.
pub const IO: i32 = 74;
/// EX_TEMPFAIL: another numhubd holds the database; starting again once it has
/// stopped will work.
pub const IN_USE: i32 = 75;
/// EX_CONFIG: the configuration is invalid.
pub const CONFIG: i32 = 78;
