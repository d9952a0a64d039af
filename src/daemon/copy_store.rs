//! `numhubd copy-store --to URL_OR_PATH`: the command around [`db::copy`]. It names
//! the two stores (the config's, and the target with the config's `[database]`
//! password and TLS), holds both as a daemon would (the lock file of a SQLite file,
//! the named lock of a MySQL database: `db::hold`), opens and migrates them, runs the copy and
//! prints one line per table. Every refusal is one line and an exit code.

use std::path::{Path, PathBuf};

use crate::config::{Config, DatabaseTarget, MysqlUrl};
use crate::db::copy::{self, CopyError, Report, TableCheck};
use crate::db::{self, Location, Store, StoreOptions};
use crate::exit;

use super::{files, location_of, DaemonError};

/// A refusal or failure: its one line, and the exit code.
pub struct Failure {
    pub code: i32,
    pub line: String,
}

impl Failure {
    fn new(code: i32, line: impl Into<String>) -> Failure {
        Failure {
            code,
            line: line.into(),
        }
    }
}

impl From<DaemonError> for Failure {
    fn from(e: DaemonError) -> Failure {
        Failure::new(e.exit_code(), e.to_string())
    }
}

impl From<CopyError> for Failure {
    fn from(e: CopyError) -> Failure {
        match e {
            // Opening or reading a store: the exit a daemon's start would give.
            CopyError::Db(db) => DaemonError::Db(db).into(),
            other => Failure::new(exit::FAILURE, other.to_string()),
        }
    }
}

/// Copies the config's store to `to` and verifies it, printing to stdout. `Ok` only
/// when every table matches.
pub fn run(config: &Config, to: &str) -> Result<(), Failure> {
    // A SQLite target (and its lock file) is as private as the daemon's own file.
    files::harden_process();
    let source = location_of(config.database.target().map_err(DaemonError::from)?);
    let target = target_location(config, to)?;
    refuse_same(&source, &target)?;
    if let Location::File(path) = &source {
        if !path.exists() {
            return Err(Failure::new(
                exit::FAILURE,
                format!(
                    "the source {} does not exist: copy-store copies the store the config's [database] names",
                    path.display()
                ),
            ));
        }
    }
    // Held until the end, like a daemon's: a running daemon's store is refused, and
    // no daemon starts on either side while the copy runs.
    let _source_lock = lock(&source)?;
    let _target_lock = lock(&target)?;
    let _source_held = hold(&source)?;
    let _target_held = hold(&target)?;
    let source = open(&source)?;
    let target = open(&target)?;
    println!(
        "copy-store: {} -> {}",
        source.location().shown(),
        target.location().shown()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start the runtime: {e}")))?;
    let report = runtime.block_on(async {
        let report = copy::copy(&source, &target).await;
        let closed = (source.close().await, target.close().await);
        match (report, closed) {
            (Err(e), _) => Err(Failure::from(e)),
            (Ok(_), (Err(e), _) | (_, Err(e))) => Err(Failure::new(
                exit::FAILURE,
                format!("closing the database: {e}"),
            )),
            (Ok(r), _) => Ok(r),
        }
    })?;
    print_report(&report, target.location())
}

/// `--to`: a MySQL/MariaDB URL (with the config's password and TLS keys) or a path.
fn target_location(config: &Config, to: &str) -> Result<Location, Failure> {
    let to = to.trim();
    if to.is_empty() {
        return Err(Failure::new(
            exit::USAGE,
            "--to: give a mysql:// URL or a SQLite file's path",
        ));
    }
    if !(to.starts_with("mysql:") || to.starts_with("mariadb:")) {
        return Ok(Location::File(PathBuf::from(to)));
    }
    let url: MysqlUrl = to
        .parse()
        .map_err(|e| Failure::new(exit::USAGE, format!("--to: {e}")))?;
    let target = config
        .database
        .mysql_target(&url)
        .map_err(|e| Failure::new(exit::CONFIG, e.to_string()))?;
    Ok(location_of(DatabaseTarget::Mysql(target)))
}

fn refuse_same(source: &Location, target: &Location) -> Result<(), Failure> {
    let same = match (source, target) {
        (Location::File(a), Location::File(b)) => same_file(a, b),
        (Location::Server(a), Location::Server(b)) => {
            a.database == b.database
                && match (&a.socket, &b.socket) {
                    (Some(x), Some(y)) => same_file(x, y),
                    (None, None) => a.host == b.host && a.port == b.port,
                    _ => false,
                }
        }
        _ => false,
    };
    match same {
        true => Err(Failure::new(
            exit::USAGE,
            format!(
                "--to names the config's own database ({}): give an empty one",
                target.shown()
            ),
        )),
        false => Ok(()),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The lock file of a SQLite store.
fn lock(location: &Location) -> Result<Option<files::DatabaseLock>, Failure> {
    match location {
        Location::File(path) => Ok(Some(files::lock_database(path)?)),
        Location::Server(_) => Ok(None),
    }
}

/// The named lock of a server database (the daemon's `db::hold`; nothing for a file).
fn hold(location: &Location) -> Result<Option<db::Holder>, Failure> {
    db::hold(location, db::Claim::Offline).map_err(|e| DaemonError::Db(e).into())
}

fn open(location: &Location) -> Result<Store, Failure> {
    let options = StoreOptions {
        readers: 2,
        ..StoreOptions::default()
    };
    Store::open_at(location, options).map_err(|e| DaemonError::Db(e).into())
}

fn print_report(report: &Report, target: &Location) -> Result<(), Failure> {
    for t in &report.tables {
        println!("{}", table_line(t));
    }
    let differ: Vec<&str> = report
        .tables
        .iter()
        .filter(|t| !t.matches())
        .map(|t| t.table)
        .collect();
    if !differ.is_empty() {
        return Err(Failure::new(
            exit::FAILURE,
            format!(
                "the copy differs from the source in {}; the target {} is left as it is for inspection: do not start numhubd on it",
                differ.join(", "),
                target.shown()
            ),
        ));
    }
    println!(
        "copied {} tables, {} rows: every row count and hash matches",
        report.tables.len(),
        report.rows()
    );
    if report.running_jobs > 0 {
        println!(
            "jobs: {} running (their daemon stopped mid-attempt) copied as running: the numhubd that starts on the target queues them again with resume_since and looks at NumHub for their effect before sending anything",
            report.running_jobs
        );
    }
    let key = match target {
        Location::File(_) => "path",
        Location::Server(_) => "url",
    };
    println!(
        "next: set [database] {key} to {} and start numhubd there; keep the source until it runs",
        target.shown()
    );
    Ok(())
}

/// `tenants: 3 rows, hash 9f…`, or both sides when they differ.
fn table_line(t: &TableCheck) -> String {
    let ids = match t.high_water {
        Some((_, target)) if t.matches() => format!(", ids continue after {target}"),
        Some((source, target)) if target < source => {
            format!(", ids: the source gave up to {source}, the target would reuse after {target}")
        }
        _ => String::new(),
    };
    let rows = |n: u64| if n == 1 { "row" } else { "rows" };
    if t.matches() {
        return format!(
            "{}: {} {}, hash {}{ids}",
            t.table,
            t.source_rows,
            rows(t.source_rows),
            t.source_hash
        );
    }
    format!(
        "{}: DIFFERS: source {} {}, hash {}; target {} {}, hash {}{ids}",
        t.table,
        t.source_rows,
        rows(t.source_rows),
        t.source_hash,
        t.target_rows,
        rows(t.target_rows),
        t.target_hash
    )
}
