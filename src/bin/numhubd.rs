//! `numhubd`: the daemon binary. Parses the command line, loads the config (a bad
//! one exits 78 with one line naming the key or file), and hands over to
//! [`numhubd::daemon`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use numhubd::config::{Config, DatabaseTarget};
use numhubd::daemon::{self, ConfigSource};
use numhubd::{db, exit, numhub};

#[derive(Parser)]
#[command(
    name = "numhubd",
    version,
    about = "NumHub BrandControl replica daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// The TOML config file. Without it, built-in defaults keep every file under ./var.
    #[arg(long, short, env = "NUMHUBD_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon until SIGTERM/SIGINT (SIGHUP re-reads the config).
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Start a local NumHub sandbox on loopback with its demo account
        /// (demo@numhub.test, client 1001) and use it instead of [numhub] base_url:
        /// a first run with no NumHub account. Refused (exit 64) by a build without the
        /// `sandbox` feature, and (exit 78) for a database that has talked to another
        /// NumHub.
        #[arg(long)]
        sandbox: bool,
    },
    /// Apply the database migrations and exit.
    Migrate {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Validate the config file and exit (0 valid, 78 invalid).
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Record the configured [numhub] base_url as the NumHub this database talks to
    /// (NumHub moved to a new address). Stop the daemon first. A database used with
    /// `serve --sandbox` cannot be adopted.
    AdoptOrigin {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Copy this config's stopped store into an empty one of either engine (SQLite
    /// to MySQL/MariaDB, or back), then compare every table's row count and hash.
    /// Stop the daemon first. Exit 0 when every table matches, 1 on a mismatch (the
    /// target is left for inspection).
    CopyStore {
        #[command(flatten)]
        config: ConfigArg,
        /// The target: `mysql://USER@HOST[:PORT]/DATABASE` (password and TLS from the
        /// config's [database] keys) or a SQLite file's path. It must be empty.
        #[arg(long, value_name = "URL_OR_PATH")]
        to: String,
    },
    /// Manage the age identity that encrypts secrets at rest.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Prints shell completions, for packaging.
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
    /// Prints the man page (roff, section 8), for packaging.
    #[command(hide = true)]
    Man,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Re-encrypt every stored secret (tokens, tenant credentials, login blocks) to a
    /// new identity in one transaction, then replace the identity file; the old one
    /// is kept as `<identity_file>.old`. Stop the daemon first.
    Rotate {
        #[command(flatten)]
        config: ConfigArg,
    },
}

impl ConfigArg {
    fn source(&self) -> ConfigSource {
        match &self.config {
            Some(path) => ConfigSource::File(path.clone()),
            None => ConfigSource::Defaults(PathBuf::from("var")),
        }
    }
}

fn load(source: &ConfigSource) -> Result<Config, ExitCode> {
    source.load().map_err(|e| {
        eprintln!("numhubd: {e}");
        code(exit::CONFIG)
    })
}

/// The store the config names, its password read (a MySQL URL's); an unreadable
/// password file is a config error (exit 78) naming the file.
fn database_target(c: &Config) -> Result<DatabaseTarget, ExitCode> {
    c.database.target().map_err(|e| {
        eprintln!("numhubd: {e}");
        code(exit::CONFIG)
    })
}

/// A runtime for a command; one that cannot start is reported and exits 1.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("numhubd: cannot start the runtime: {e}");
        code(exit::FAILURE)
    })
}

/// Runs `work` on the database with the daemon stopped, then closes the store (every
/// write committed, the WAL checkpointed). `work` reports its own outcome; when it
/// succeeded, a store that cannot be opened or closed still exits 1.
fn offline<F, Fut>(c: &Config, work: F) -> ExitCode
where
    F: FnOnce(db::Store) -> Fut,
    Fut: std::future::Future<Output = Result<(), ExitCode>>,
{
    let location = match database_target(c) {
        Ok(t) => daemon::location_of(t),
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    // A running daemon's database is not changed behind its back (on MySQL the store
    // holds the database itself).
    let _lock = match &location {
        db::Location::File(path) => match lock(path) {
            Ok(lock) => Some(lock),
            Err(code) => return code,
        },
        db::Location::Server(_) => None,
    };
    let _held = match hold(&location, db::Claim::Offline) {
        Ok(held) => held,
        Err(code) => return code,
    };
    // Opened before the runtime runs anything: on MySQL the store's sessions block
    // their own threads, never an async one.
    let store = match db::Store::open_at(&location, db::StoreOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("numhubd: {e}");
            return code(daemon::store_exit_code(&e));
        }
    };
    runtime.block_on(async {
        let outcome = work(store.clone()).await;
        match (outcome, store.close().await) {
            (Ok(()), Ok(())) => code(exit::OK),
            (Err(code), _) => code,
            (Ok(()), Err(e)) => {
                eprintln!("numhubd: closing the database: {e}");
                code(exit::FAILURE)
            }
        }
    })
}

/// A server database held for this process (a daemon its node's name, an offline
/// command the whole database), or the exit after its one line.
fn hold(location: &db::Location, claim: db::Claim) -> Result<Option<db::Holder>, ExitCode> {
    db::hold(location, claim).map_err(|e| {
        eprintln!("numhubd: {e}");
        code(daemon::store_exit_code(&e))
    })
}

/// The database's lock (one daemon or offline command per database), or the exit
/// after its one line.
fn lock(database: &std::path::Path) -> Result<daemon::files::DatabaseLock, ExitCode> {
    daemon::files::lock_database(database).map_err(|e| {
        eprintln!("numhubd: {e}");
        code(e.exit_code())
    })
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(u8::try_from(c).unwrap_or(1))
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Completions { shell } => completions(shell),
        Command::Man => man(),
        Command::CheckConfig { config } => check_config(&config),
        Command::Migrate { config } => migrate(&config),
        Command::AdoptOrigin { config } => adopt_origin(&config),
        Command::CopyStore { config, to } => copy_store(&config, &to),
        Command::Keys {
            action: KeysAction::Rotate { config },
        } => rotate_keys(&config),
        Command::Serve { config, sandbox } => serve(&config, sandbox),
    };
    // Either way it is the exit code, after the command's own line.
    outcome.unwrap_or_else(|code| code)
}

/// What a command comes to: its exit code, or an earlier exit after its one line.
type Outcome = Result<ExitCode, ExitCode>;

fn completions(shell: clap_complete::Shell) -> Outcome {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "numhubd",
        &mut std::io::stdout(),
    );
    Ok(code(exit::OK))
}

fn man() -> Outcome {
    let man = clap_mangen::Man::new(Cli::command()).section("8");
    match man.render(&mut std::io::stdout()) {
        Ok(()) => Ok(code(exit::OK)),
        Err(e) => {
            eprintln!("numhubd: writing the man page: {e}");
            Err(code(exit::IO))
        }
    }
}

fn check_config(config: &ConfigArg) -> Outcome {
    let c = load(&config.source())?;
    let target = database_target(&c)?;
    println!(
        "config ok: database {target}, socket {}",
        c.rpc.socket.display()
    );
    Ok(code(exit::OK))
}

fn migrate(config: &ConfigArg) -> Outcome {
    let c = load(&config.source())?;
    let location = daemon::location_of(database_target(&c)?);
    let _lock = match &location {
        db::Location::File(path) => {
            if let Some(dir) = path.parent() {
                if let Err(e) = std::fs::create_dir_all(dir) {
                    eprintln!("numhubd: creating {}: {e}", dir.display());
                    return Err(code(exit::IO));
                }
            }
            Some(lock(path)?)
        }
        db::Location::Server(_) => None,
    };
    match db::migrate_at(&location) {
        Ok((applied, latest)) if applied.is_empty() => {
            println!("schema up to date (version {latest})");
            Ok(code(exit::OK))
        }
        Ok((applied, _)) => {
            println!("applied migrations {applied:?}");
            Ok(code(exit::OK))
        }
        Err(e) => {
            eprintln!("numhubd: {e}");
            Err(code(daemon::store_exit_code(&e)))
        }
    }
}

fn adopt_origin(config: &ConfigArg) -> Outcome {
    let c = &load(&config.source())?;
    Ok(offline(c, |store| async move {
        match daemon::origin::adopt(&store, c).await {
            Ok(change) => {
                println!(
                    "database {}: NumHub origin {change}",
                    store.location().shown()
                );
                Ok(())
            }
            Err(e) => {
                eprintln!("numhubd: {e}");
                Err(code(e.exit_code()))
            }
        }
    }))
}

fn copy_store(config: &ConfigArg, to: &str) -> Outcome {
    let c = load(&config.source())?;
    match daemon::copy_store::run(&c, to) {
        Ok(()) => Ok(code(exit::OK)),
        Err(failure) => {
            eprintln!("numhubd: copy-store: {}", failure.line);
            Err(code(failure.code))
        }
    }
}

fn rotate_keys(config: &ConfigArg) -> Outcome {
    let c = &load(&config.source())?;
    let identity = &c.crypto.identity_file;
    Ok(offline(c, |store| async move {
        match numhub::rotate::rotate(&store, identity, &c.crypto.recipients).await {
            Ok(r) => {
                println!(
                    "re-encrypted {} tokens, {} tenant credentials, {} login blocks; new identity {}, old one kept as {}",
                    r.tokens,
                    r.credentials,
                    r.login_blocks,
                    identity.display(),
                    r.old_identity.display()
                );
                Ok(())
            }
            Err(e) => {
                eprintln!("numhubd: key rotation failed: {e} (the database changes in one commit; see the identity files next to {})", identity.display());
                Err(code(exit::FAILURE))
            }
        }
    }))
}

fn serve(config: &ConfigArg, sandbox: bool) -> Outcome {
    if sandbox && !cfg!(feature = "sandbox") {
        eprintln!("numhubd: serve --sandbox: this numhubd was built without the embedded sandbox (cargo feature `sandbox`); point [numhub] base_url at NumHub instead");
        return Err(code(exit::USAGE));
    }
    let source = config.source();
    let c = load(&source)?;
    // Read at start like the config: a password that cannot be read stops it here.
    let location = daemon::location_of(database_target(&c)?);
    // Before anything is made: every file after this is private.
    daemon::files::harden_process();
    let _lock = claim_file(&location)?;
    let held = hold(&location, db::Claim::Node(c.cluster.node_name()))?;
    if let Err(e) = daemon::origin::check(&c, &location, sandbox) {
        eprintln!("numhubd: {e}");
        return Err(code(e.exit_code()));
    }
    let log = daemon::logging::init(&c.log.filter);
    daemon::files::warn_if_exposed(c.numhub.password_file.as_deref());
    let runtime = runtime()?;
    let options = daemon::ServeOptions { sandbox, held };
    let result = runtime.block_on(daemon::serve(source, c, options, log));
    // A blocking thread still inside a user lookup (LDAP/SSSD can hang) must not
    // hold the exit: serve has already closed the store.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => Ok(code(exit::OK)),
        Err(e) => {
            tracing::error!(error = %e, "numhubd failed");
            eprintln!("numhubd: {e}");
            Err(code(e.exit_code()))
        }
    }
}

/// Before logging starts, like a bad config: one line, nothing opened for writing
/// but the lock file. The lock is held until the process ends, and taken before
/// migrations, the socket and the requeue of running jobs. (On MySQL the store
/// itself holds the database: a named lock on the server.)
fn claim_file(location: &db::Location) -> Result<Option<daemon::files::DatabaseLock>, ExitCode> {
    match location {
        db::Location::File(path) => {
            if let Err(e) = daemon::files::check_database(path) {
                eprintln!("numhubd: {e}");
                return Err(code(e.exit_code()));
            }
            Ok(Some(lock(path)?))
        }
        db::Location::Server(_) => Ok(None),
    }
}
