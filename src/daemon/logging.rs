//! Logging: to the journal when stderr is connected to it (or its socket exists),
//! human-readable to stderr otherwise. In the journal each field `name` of a record
//! is `NUMHUB_NAME` (`tenant`, `entity`, `document`, `job`, `endpoint`, `status`). The filter can be replaced at run time (SIGHUP).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Replaces the active filter.
#[derive(Clone)]
pub struct LogHandle(reload::Handle<EnvFilter, Registry>);

/// Crates that trace whole requests or answers at debug/trace: jsonrpsee (the params
/// of `credentials.set`, OTPs) and the HTTP stack under reqwest (the token call's URL
/// holds the NumHub password in its query string). Above info they are dropped by a
/// layer of its own, whatever the configured filter says: a directive such as
/// `jsonrpsee-server=trace` is more specific than any guard written into the filter,
/// so the floor cannot be part of it.
const SECRET_BEARING: &[&str] = &["jsonrpsee", "hyper", "reqwest", "h2", "tower", "soketto"];

fn below_the_floor(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= tracing::Level::INFO
        || !SECRET_BEARING.iter().any(|c| {
            meta.target()
                .strip_prefix(c)
                .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric()))
        })
}

impl LogHandle {
    pub fn set_filter(&self, filter: &str) -> Result<(), String> {
        let parsed = EnvFilter::builder()
            .parse(filter)
            .map_err(|e| e.to_string())?;
        self.0.reload(parsed).map_err(|e| e.to_string())
    }
}

/// The prefix of every structured field numhubd sends to the journal.
pub const JOURNAL_PREFIX: &str = "NUMHUB";

fn journal_wanted() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
        || std::path::Path::new("/run/systemd/journal/socket").exists()
}

/// Installs the global subscriber. Call once.
pub fn init(filter: &str) -> LogHandle {
    let filter = EnvFilter::builder()
        .parse(filter)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let journald = if journal_wanted() {
        // tracing-journald writes a field `tenant` as PREFIX_TENANT (upper-cased;
        // default prefix F): ours gives NUMHUB_TENANT, NUMHUB_ENTITY, NUMHUB_JOB…, so
        // `journalctl NUMHUB_ENTITY=…` finds one application's records, and no field
        // of ours can pass for one of journald's own (MESSAGE stays MESSAGE).
        tracing_journald::layer()
            .ok()
            .map(|l| l.with_field_prefix(Some(JOURNAL_PREFIX.into())))
    } else {
        None
    };
    let stderr = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(true)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::filter::filter_fn(below_the_floor))
        .with(journald)
        .with(stderr)
        .try_init();
    LogHandle(handle)
}
