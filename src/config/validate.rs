//! Validation of a parsed configuration, one function per section; the first bad
//! value is reported as `ConfigError::BadValue`, naming its key and why.

use super::{tls_for, Config, ConfigError, Synchronous, TenantScope};

/// Builds the error for a key and its reason.
type Bad<'a> = &'a dyn Fn(&str, String) -> ConfigError;

impl Config {
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| ConfigError::BadValue {
            path: origin.to_string(),
            key: key.to_string(),
            reason,
        };
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log.filter) {
            return Err(bad("log.filter", super::one_line(&e.to_string())));
        }
        self.check_database(&bad)?;
        self.cluster
            .check()
            .map_err(|(key, reason)| bad(key, reason))?;
        self.check_daemon(&bad)?;
        self.check_paths(&bad)?;
        self.check_numhub(&bad)?;
        self.check_sync(&bad)?;
        self.check_drop(&bad)?;
        self.check_rpc(&bad)?;
        self.check_audit(&bad)?;
        self.check_access(&bad)?;
        self.check_numhub_account(&bad)
    }

    fn check_database(&self, bad: Bad) -> Result<(), ConfigError> {
        if self.database.readers == 0 || self.database.readers > 64 {
            return Err(bad(
                "database.readers",
                "must be between 1 and 64".to_string(),
            ));
        }
        self.check_database_url(bad)
    }

    /// The `[database]` keys that depend on `url` (the URL itself is checked as read).
    fn check_database_url(&self, bad: Bad) -> Result<(), ConfigError> {
        let d = &self.database;
        for (key, p) in [
            ("database.password_file", &d.password_file),
            ("database.ca_file", &d.ca_file),
        ] {
            if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(bad(key, "must name a file (or leave it out)".into()));
            }
        }
        let Some(url) = &d.url else {
            return Ok(());
        };
        if d.synchronous == Synchronous::Full {
            return Err(bad(
                "database.synchronous",
                "applies to SQLite only: with database.url, durability is the server's (innodb_flush_log_at_trx_commit = 1, sync_binlog = 1); leave it out".into(),
            ));
        }
        tls_for(&url.address, d.ca_file.as_deref(), d.allow_plaintext)
            .map_err(|(key, reason)| bad(key, reason))?;
        Ok(())
    }

    fn check_daemon(&self, bad: Bad) -> Result<(), ConfigError> {
        within(
            bad,
            &[(
                "daemon.shutdown_timeout_secs",
                self.daemon.shutdown_timeout_secs,
                1,
                600,
            )],
        )
    }

    /// The paths that must name something.
    fn check_paths(&self, bad: Bad) -> Result<(), ConfigError> {
        for (key, p) in [
            ("database.path", &self.database.path),
            ("rpc.socket", &self.rpc.socket),
            ("drop.dir", &self.drop.dir),
            ("crypto.identity_file", &self.crypto.identity_file),
        ] {
            if p.as_os_str().is_empty() {
                return Err(bad(key, "must not be empty".to_string()));
            }
        }
        Ok(())
    }

    fn check_numhub(&self, bad: Bad) -> Result<(), ConfigError> {
        let n = &self.numhub;
        if !matches!(n.auth_scheme.as_str(), "" | "ATLAASROPG" | "ATLAASAACG") {
            return Err(bad(
                "numhub.auth_scheme",
                format!("{:?} is not ATLAASROPG, ATLAASAACG or empty", n.auth_scheme),
            ));
        }
        within(
            bad,
            &[
                (
                    "numhub.request_timeout_secs",
                    n.request_timeout_secs,
                    1,
                    3600,
                ),
                ("numhub.rate_window_secs", n.rate_window_secs, 1, 3600),
                ("numhub.max_attempts", u64::from(n.max_attempts), 1, 20),
            ],
        )?;
        if !(0.0..=0.9).contains(&n.refresh_margin) {
            return Err(bad(
                "numhub.refresh_margin",
                "must be a fraction between 0.0 and 0.9".into(),
            ));
        }
        let per_min = n.tenant_interactive_per_min.map_or(1, u64::from);
        within(
            bad,
            &[
                ("numhub.tenant_interactive_per_min", per_min, 1, 100_000),
                (
                    "numhub.max_response_bytes",
                    n.max_response_bytes,
                    4096,
                    1 << 32,
                ),
            ],
        )
    }

    fn check_sync(&self, bad: Bad) -> Result<(), ConfigError> {
        let s = &self.sync;
        within(
            bad,
            &[
                ("sync.workers", s.workers as u64, 1, 64),
                ("sync.outbox_poll_ms", s.outbox_poll_ms, 10, 60_000),
                (
                    "sync.job_max_attempts",
                    u64::from(s.job_max_attempts),
                    1,
                    100,
                ),
                ("sync.retry_base_secs", s.retry_base_secs, 1, 3600),
                ("sync.retry_max_secs", s.retry_max_secs, 1, 86_400),
                ("sync.done_retention_days", s.done_retention_days, 1, 3650),
                ("sync.poll_interval_secs", s.poll_interval_secs, 1, 86_400),
                ("sync.full_sweep_secs", s.full_sweep_secs, 1, 604_800),
            ],
        )
    }

    fn check_drop(&self, bad: Bad) -> Result<(), ConfigError> {
        let d = &self.drop;
        within(
            bad,
            &[
                ("drop.settle_ms", d.settle_ms, 50, 600_000),
                (
                    "drop.incomplete_after_secs",
                    d.incomplete_after_secs,
                    1,
                    86_400,
                ),
                ("drop.keep_processed_days", d.keep_processed_days, 1, 3650),
                ("drop.max_file_bytes", d.max_file_bytes, 1, 1 << 40),
            ],
        )?;
        if d.group.as_deref() == Some("") {
            return Err(bad(
                "drop.group",
                "must name a group (or leave it out)".into(),
            ));
        }
        Ok(())
    }

    fn check_rpc(&self, bad: Bad) -> Result<(), ConfigError> {
        for (i, d) in self.rpc.upload_dirs.iter().enumerate() {
            if d.path().as_os_str().is_empty() {
                return Err(bad(
                    &format!("rpc.upload_dirs[{i}]"),
                    "must not be empty".into(),
                ));
            }
            if d.tenants().is_some_and(|t| t.is_empty()) {
                return Err(bad(
                    &format!("rpc.upload_dirs[{i}].tenants"),
                    "must list at least one tenant id (or give the folder as a plain path for any tenant)".into(),
                ));
            }
        }
        for (key, v) in [
            ("rpc.max_body_bytes", self.rpc.max_body_bytes),
            ("rpc.max_batch", self.rpc.max_batch),
            ("rpc.max_connections", self.rpc.max_connections),
            ("rpc.max_requests_per_sec", self.rpc.max_requests_per_sec),
            (
                "rpc.max_connections_per_uid",
                self.rpc.max_connections_per_uid,
            ),
        ] {
            if v == 0 {
                return Err(bad(key, "must be at least 1".to_string()));
            }
        }
        self.check_rpc_limits(bad)
    }

    /// The `[rpc]` limits that depend on each other or on time.
    fn check_rpc_limits(&self, bad: Bad) -> Result<(), ConfigError> {
        let r = &self.rpc;
        if r.max_connections_per_uid >= r.max_connections {
            return Err(bad(
                "rpc.max_connections_per_uid",
                format!(
                    "{} must be below rpc.max_connections ({}): one uid must never hold every connection, and that many are kept for admin callers",
                    r.max_connections_per_uid, r.max_connections
                ),
            ));
        }
        if !(100..=600_000).contains(&r.header_timeout_ms) {
            return Err(bad(
                "rpc.header_timeout_ms",
                "must be between 100 and 600000 (ten minutes)".into(),
            ));
        }
        if !(1..=86_400).contains(&r.idle_timeout_secs) {
            return Err(bad(
                "rpc.idle_timeout_secs",
                "must be between 1 and 86400 (a day)".into(),
            ));
        }
        if r.max_response_bytes < 4096 {
            return Err(bad(
                "rpc.max_response_bytes",
                "must be at least 4096: smaller would refuse even a short answer".into(),
            ));
        }
        Ok(())
    }

    fn check_audit(&self, bad: Bad) -> Result<(), ConfigError> {
        if self.audit.retention_days == 0 {
            return Err(bad("audit.retention_days", "must be at least 1".into()));
        }
        let max = self.audit.max_payload_bytes;
        within(bad, &[("audit.max_payload_bytes", max, 256, 16 << 20)])
    }

    /// `[[access]]`: each rule names one uid or gid, never the kernel's overflow ids.
    fn check_access(&self, bad: Bad) -> Result<(), ConfigError> {
        for (i, rule) in self.access.iter().enumerate() {
            let key = format!("access[{i}]");
            if rule.uid.is_some() == rule.gid.is_some() {
                return Err(bad(&key, "give exactly one of uid or gid".to_string()));
            }
            let overflow = crate::userns::overflow();
            if rule.uid == Some(overflow.uid) {
                return Err(bad(
                    &format!("{key}.uid"),
                    format!("{} is the kernel's overflow uid: a user namespace (e.g. systemd's PrivateUsers=) shows every unmapped user as it, so this rule would grant them all; name the app's real uid and run numhubd without PrivateUsers=", overflow.uid),
                ));
            }
            if rule.gid == Some(overflow.gid) {
                return Err(bad(
                    &format!("{key}.gid"),
                    format!("{} is the kernel's overflow gid: a user namespace (e.g. systemd's PrivateUsers=) shows every unmapped group as it, so this rule would grant them all; name the app's real gid and run numhubd without PrivateUsers=", overflow.gid),
                ));
            }
            if let TenantScope::All(s) = &rule.tenants {
                if s != "*" {
                    return Err(bad(
                        &format!("{key}.tenants"),
                        format!("{s:?}: give a list of tenant ids or \"*\""),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_numhub_account(&self, bad: Bad) -> Result<(), ConfigError> {
        if self.numhub.email.is_some() != self.numhub.password_file.is_some() {
            return Err(bad(
                "numhub.password_file",
                "numhub.email and numhub.password_file go together: set both or neither".into(),
            ));
        }
        Ok(())
    }
}

/// Each `(key, value, lo, hi)`: the value must lie in `lo..=hi`.
fn within(bad: Bad, ranges: &[(&str, u64, u64, u64)]) -> Result<(), ConfigError> {
    for &(key, v, lo, hi) in ranges {
        if !(lo..=hi).contains(&v) {
            return Err(bad(key, format!("must be between {lo} and {hi}")));
        }
    }
    Ok(())
}
