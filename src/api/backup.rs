//! `daemon.backup`: a consistent copy of the database, written by the daemon.

use std::path::PathBuf;

use crate::api::schema::wire;
use crate::api::schema::{string, time};
use crate::api::{methods, Method};

methods! {
    /// Writes a consistent copy of the database (admin).
    "daemon.backup" => DaemonBackup(BackupTo) -> BackupTaken;
}

wire! { params
    /// Where `daemon.backup` writes: an absolute path, new, in a folder numhubd may
    /// write.
    pub struct BackupTo {
        pub path: PathBuf = string(4096),
    }
}

wire! { result
    /// `daemon.backup`: the copy numhubd wrote (mode 0600, owned by numhubd's user).
    #[derive(PartialEq)]
    pub struct BackupTaken {
        /// Where the copy is.
        pub path: String,
        pub size_bytes: u64,
        /// The instant it holds: every commit before it is in the copy, none after.
        pub taken_at: String = time(),
        /// The database it was taken from.
        pub source: String,
    }
}
