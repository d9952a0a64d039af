//! `[cluster]`: how this host takes part when several numhubd share one MySQL store.
//! On SQLite (one daemon per file) the section is read but has no effect.
//!
//! `lease_secs` defaults to 5: a dead leader's lease runs out at most 5 s after its
//! last renewal, followers try to take it every second (a fifth of the lease), and
//! the new leader's first request follows at once — about 6 s, inside the 10 s the
//! failover promise allows, with room for a slow database. Shorter leases fail over
//! faster but turn a database hiccup of that length into a change of leader.

use serde::Deserialize;

/// The longest node name: it goes into a `GET_LOCK` name (64 characters in all).
pub const NODE_MAX_CHARS: usize = 40;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This host's name among the daemons sharing the store (default: the hostname).
    pub node: Option<String>,
    /// How long a leader's lease lasts without a renewal (database server's clock).
    pub lease_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node: None,
            lease_secs: 5,
        }
    }
}

impl ClusterConfig {
    /// The node name in force: `node`, or the machine's hostname.
    pub fn node_name(&self) -> String {
        match &self.node {
            Some(n) => n.clone(),
            None => hostname(),
        }
    }

    /// Checks the keys; the error names the key's reason.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(n) = &self.node {
            check_node(n).map_err(|r| ("cluster.node", r))?;
        }
        if !(2..=60).contains(&self.lease_secs) {
            return Err((
                "cluster.lease_secs",
                "must be between 2 and 60 (seconds)".into(),
            ));
        }
        Ok(())
    }
}

fn check_node(n: &str) -> Result<(), String> {
    if n.is_empty() || n.chars().count() > NODE_MAX_CHARS {
        return Err(format!("must be 1 to {NODE_MAX_CHARS} characters"));
    }
    if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err("may hold only letters, digits, '.', '-' and '_'".into());
    }
    Ok(())
}

/// The kernel's hostname, cut to what a node name may hold.
fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(NODE_MAX_CHARS)
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_and_lease_bounds_are_checked() {
        let ok = ClusterConfig {
            node: Some("app-1.example".into()),
            lease_secs: 5,
        };
        assert!(ok.check().is_ok());
        for bad in ["", "a b", "x/y", &"n".repeat(NODE_MAX_CHARS + 1)] {
            let c = ClusterConfig {
                node: Some(bad.to_string()),
                ..ClusterConfig::default()
            };
            assert_eq!(c.check().unwrap_err().0, "cluster.node", "{bad:?}");
        }
        for secs in [0, 1, 61] {
            let c = ClusterConfig {
                lease_secs: secs,
                ..ClusterConfig::default()
            };
            assert_eq!(c.check().unwrap_err().0, "cluster.lease_secs");
        }
        assert!(!ClusterConfig::default().node_name().is_empty());
    }
}
