//! Who a connection is and what it may do: its peer credentials (SO_PEERCRED) matched
//! against the `[[access]]` rules. root and the daemon's own user are admin over
//! every tenant; a connection that matches no rule may only call `daemon.health`.

use std::collections::BTreeSet;

use crate::config::{AccessRule, TenantScope};

/// The peer process, as the kernel reports it at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// What a method needs. Ordered: admin may do what write may, write what read may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// No rule matched: only `daemon.health` (the version handshake).
    None,
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Role {
        match s {
            "admin" => Role::Admin,
            "write" => Role::Write,
            "read" => Role::Read,
            // Config validation allows only the three above.
            _ => Role::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenants {
    All,
    Only(BTreeSet<i64>),
}

/// A connection's identity and grants; put into every request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub peer: Peer,
    pub role: Role,
    pub tenants: Tenants,
}

impl Caller {
    pub fn may_see_tenant(&self, tenant_id: i64) -> bool {
        match &self.tenants {
            Tenants::All => true,
            Tenants::Only(set) => set.contains(&tenant_id),
        }
    }

    pub fn all_tenants(&self) -> bool {
        self.tenants == Tenants::All
    }
}

/// Decides the grants of a peer. A uid rule wins over a gid rule; among several of
/// one kind the first in the file wins.
pub fn resolve(peer: Peer, rules: &[AccessRule], daemon_uid: u32) -> Caller {
    if peer.uid == 0 || peer.uid == daemon_uid {
        return Caller {
            peer,
            role: Role::Admin,
            tenants: Tenants::All,
        };
    }
    let rule = rules
        .iter()
        .find(|r| r.uid == Some(peer.uid))
        .or_else(|| rules.iter().find(|r| r.gid == Some(peer.gid)));
    match rule {
        None => Caller {
            peer,
            role: Role::None,
            tenants: Tenants::Only(BTreeSet::new()),
        },
        Some(rule) => Caller {
            peer,
            role: Role::parse(&rule.role),
            tenants: match &rule.tenants {
                TenantScope::All(_) => Tenants::All,
                TenantScope::Some(ids) => Tenants::Only(ids.iter().copied().collect()),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(uid: Option<u32>, gid: Option<u32>, role: &str, t: TenantScope) -> AccessRule {
        AccessRule {
            uid,
            gid,
            role: role.into(),
            tenants: t,
        }
    }

    #[test]
    fn root_and_self_are_admin_others_need_a_rule() {
        let p = |uid, gid| Peer {
            uid,
            gid,
            pid: None,
        };
        assert_eq!(resolve(p(0, 0), &[], 999).role, Role::Admin);
        assert_eq!(resolve(p(999, 5), &[], 999).role, Role::Admin);
        assert_eq!(resolve(p(1000, 5), &[], 999).role, Role::None);
        let rules = [
            rule(None, Some(5), "read", TenantScope::Some(vec![1])),
            rule(Some(1000), None, "write", TenantScope::All("*".into())),
        ];
        let c = resolve(p(1000, 5), &rules, 999);
        assert_eq!((c.role, c.all_tenants()), (Role::Write, true));
        let c = resolve(p(1001, 5), &rules, 999);
        assert_eq!(c.role, Role::Read);
        assert!(c.may_see_tenant(1) && !c.may_see_tenant(2));
    }
}
