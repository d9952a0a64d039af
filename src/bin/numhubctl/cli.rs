//! The command line: every flag, subcommand and help text (a contract: scripts,
//! completions and the man page are built from it). Nothing here runs a command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "numhubctl", version, about = "Operate a running numhubd")]
pub struct Cli {
    /// numhubd's socket.
    #[arg(
        long,
        global = true,
        env = "NUMHUBD_SOCKET",
        default_value = "/run/numhubd/numhubd.sock"
    )]
    pub socket: PathBuf,
    /// Print JSON instead of text (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Is the daemon reachable; version, uptime, queue depth.
    Status,
    /// The tenants you may see.
    Tenants,
    /// BCID applications (every tenant you may see, or one).
    Entities {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        status: Option<String>,
    },
    /// One application.
    Entity {
        #[command(subcommand)]
        action: EntityAction,
    },
    /// Display identities.
    Identities {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        entity: Option<String>,
    },
    /// Documents; --follow streams their status changes as they happen.
    Documents {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        entity: Option<String>,
        #[arg(long)]
        follow: bool,
    },
    /// Prints ENTITY's drop folder, one line (for scripts).
    DropPath {
        entity: String,
        #[arg(long)]
        tenant: Option<i64>,
    },
    /// Downloads ENTITY's LOA template from NumHub into its drop folder; prints the path.
    LoaTemplate {
        entity: String,
        #[arg(long)]
        tenant: Option<i64>,
    },
    /// The NumHub exchange log; --follow streams events as they happen.
    Logs {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Runs a sync cycle now.
    Sync {
        #[arg(long)]
        tenant: Option<i64>,
    },
    /// NumHub itself.
    Numhub {
        #[command(subcommand)]
        action: NumhubAction,
    },
    /// NumHub tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Encryption keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Outbox jobs.
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Registers FILE (under [rpc] upload_dirs) as a TYPE document of ENTITY.
    Upload {
        entity: String,
        /// loa, logo, business_license, tax_id or other.
        r#type: String,
        file: PathBuf,
        #[arg(long)]
        tenant: i64,
        #[arg(long)]
        description: Option<String>,
    },
    /// Writes a consistent copy of the database to PATH while numhubd keeps serving.
    ///
    /// numhubd writes it, as its own user, mode 0600: PATH must be absolute and new,
    /// in a folder numhubd may write to. Prints where the copy is, its size and the
    /// instant it holds.
    Backup { path: PathBuf },
    /// Prints shell completions.
    Completions { shell: clap_complete::Shell },
    /// Prints the man page (roff), for packaging.
    #[command(hide = true)]
    Man,
}

#[derive(Subcommand)]
pub enum EntityAction {
    Show {
        id: String,
        #[arg(long)]
        tenant: Option<i64>,
    },
}

#[derive(Subcommand)]
pub enum NumhubAction {
    /// Test connection: logs in to NumHub and says, per tenant, whether its
    /// numhub_client_id is one of the clients the account may act for. Exits 1 when
    /// one is not (or cannot be checked).
    Check {
        #[arg(long)]
        tenant: Option<i64>,
    },
}

#[derive(Subcommand)]
pub enum TokenAction {
    Status {
        #[arg(long)]
        tenant: Option<i64>,
    },
}

#[derive(Subcommand)]
pub enum KeysAction {
    Rotate,
}

#[derive(Subcommand)]
pub enum JobsAction {
    List {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        state: Option<String>,
    },
    Retry {
        id: i64,
    },
    Resolve {
        id: i64,
        #[arg(long)]
        note: Option<String>,
    },
}
