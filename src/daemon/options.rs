//! `Config` → each subsystem's own options. The daemon is the one place that reads
//! the configuration's structs: the subsystems take plain values of their own types,
//! so a key's spelling or section can change without them knowing.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, Config, DatabaseTarget, MysqlAddress, TenantScope};
use crate::db::{self, StoreOptions};
use crate::numhub::{ClientOptions, Credentials, Pacing, Retry};
use crate::sync::{mapping::PhoneFormat, SyncOptions};
use crate::{cluster, housekeeping, rpc, watch};

/// `[numhub]` and `[audit]` as the NumHub client takes them.
pub fn client(config: &Config, global: Option<Credentials>) -> ClientOptions {
    let n = &config.numhub;
    ClientOptions {
        base_url: n
            .base_url
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default(),
        auth_scheme: (!n.auth_scheme.is_empty()).then(|| n.auth_scheme.clone()),
        request_timeout: Duration::from_secs(n.request_timeout_secs),
        pacing: Pacing {
            rate_limit: n.rate_limit,
            rate_window: Duration::from_secs(n.rate_window_secs),
            tenant_interactive_per_min: n.tenant_interactive_per_min,
        },
        retry: Retry {
            max_attempts: n.max_attempts,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        },
        refresh_margin: n.refresh_margin,
        ca_file: n.ca_file.clone(),
        redact_fields: config.audit.redact_fields.clone(),
        clock_skew: Duration::from_secs(120),
        global,
        max_response_bytes: usize::try_from(n.max_response_bytes).unwrap_or(usize::MAX),
        max_audit_payload: usize::try_from(config.audit.max_payload_bytes).unwrap_or(usize::MAX),
    }
}

/// The default configuration's client options against `base_url` (tests and benches).
pub fn client_for(base_url: impl Into<String>, global: Option<Credentials>) -> ClientOptions {
    let mut options = client(&Config::default(), global);
    options.base_url = base_url.into();
    options
}

/// `[sync]` as the sync engine takes it.
pub fn sync(config: &Config) -> SyncOptions {
    let s = &config.sync;
    SyncOptions {
        workers: s.workers,
        outbox_poll: Duration::from_millis(s.outbox_poll_ms),
        job_max_attempts: s.job_max_attempts,
        retry_base: Duration::from_secs(s.retry_base_secs),
        retry_max: Duration::from_secs(s.retry_max_secs),
        poll_interval: Duration::from_secs(s.poll_interval_secs),
        full_sweep: Duration::from_secs(s.full_sweep_secs),
    }
}

/// `[numhub] phone_format` as `sync::mapping` writes numbers.
pub fn phone_format(config: &Config) -> PhoneFormat {
    match config.numhub.phone_format {
        config::PhoneFormat::Dashed => PhoneFormat::Dashed,
        config::PhoneFormat::E164 => PhoneFormat::E164,
        config::PhoneFormat::Digits => PhoneFormat::Digits,
    }
}

/// `[cluster]` as the lease loop takes it.
pub fn cluster(config: &Config, node: &str) -> cluster::ClusterOptions {
    cluster::ClusterOptions {
        node: node.to_string(),
        lease: Duration::from_secs(config.cluster.lease_secs),
        request_timeout: Duration::from_secs(config.numhub.request_timeout_secs),
    }
}

/// `[sync] done_retention_days` and `[audit] retention_days` for the purges.
pub fn retention(config: &Config) -> housekeeping::Retention {
    housekeeping::Retention {
        done_jobs: Duration::from_secs(config.sync.done_retention_days * 86_400),
        audit: Duration::from_secs(u64::from(config.audit.retention_days) * 86_400),
    }
}

/// `[drop]` as the watcher takes it; an unknown group is logged and left out (the
/// folders are then numhubd's own group's).
pub fn watch(config: &Config) -> watch::WatchOptions {
    let d = &config.drop;
    let group = d.group.as_deref().and_then(|g| match rpc::socket::lookup_group(g) {
        Ok(gid) => Some(gid),
        Err(e) => {
            tracing::error!(group = g, error = %e, "[drop] group cannot be resolved; drop folders get numhubd's own group");
            None
        }
    });
    watch::WatchOptions {
        dir: d.dir.clone(),
        settle: Duration::from_millis(d.settle_ms),
        incomplete_after: Duration::from_secs(d.incomplete_after_secs),
        keep_processed: Duration::from_secs(d.keep_processed_days * 86_400),
        group,
        max_file_bytes: d.max_file_bytes,
    }
}

/// `[[access]]` as the local API takes it.
pub fn access_rules(config: &Config) -> Vec<rpc::access::Rule> {
    use rpc::access::{Rule, Tenants};
    config
        .access
        .iter()
        .map(|r| Rule {
            uid: r.uid,
            gid: r.gid,
            role: r.role,
            tenants: match &r.tenants {
                TenantScope::All(_) => Tenants::All,
                TenantScope::Some(ids) => Tenants::Only(Arc::new(ids.iter().copied().collect())),
            },
        })
        .collect()
}

/// `[rpc]` as the local API takes it, with the rules in force.
pub fn server(config: &Config, access: rpc::access::Rules) -> rpc::ServerOptions {
    let r = &config.rpc;
    rpc::ServerOptions {
        socket: r.socket.clone(),
        max_body_bytes: r.max_body_bytes,
        max_batch: r.max_batch,
        max_connections: r.max_connections,
        max_connections_per_uid: r.max_connections_per_uid,
        max_requests_per_sec: r.max_requests_per_sec,
        header_timeout: Duration::from_millis(r.header_timeout_ms),
        idle_timeout: Duration::from_secs(r.idle_timeout_secs),
        max_response_bytes: r.max_response_bytes,
        access,
    }
}

/// `[database]` as the store opens with.
pub fn store(config: &Config) -> StoreOptions {
    StoreOptions {
        readers: config.database.readers,
        full_sync: config.database.synchronous == config::Synchronous::Full,
        ..StoreOptions::default()
    }
}

/// The store's view of a config target.
pub fn location_of(target: DatabaseTarget) -> db::Location {
    match target {
        DatabaseTarget::Sqlite { path, .. } => db::Location::File(path),
        DatabaseTarget::Mysql(m) => {
            let (host, port, socket) = match m.address {
                MysqlAddress::Tcp { host, port } => (host, port, None),
                MysqlAddress::Socket(path) => ("localhost".to_string(), 0, Some(path)),
            };
            db::Location::Server(db::Server {
                host,
                port,
                socket,
                user: m.user,
                database: m.database,
                password: m
                    .password
                    .map(|p| db::Password::new(p.expose().to_string())),
                tls: match m.tls {
                    config::Tls::Off => db::Tls::Off,
                    config::Tls::Verify { ca_file } => db::Tls::Verify { ca_file },
                },
            })
        }
    }
}
