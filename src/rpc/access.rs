//! Who a connection is and what it may do: its peer credentials (SO_PEERCRED) matched
//! against the access [`Rule`]s (the daemon builds them from `[[access]]`). root and
//! the daemon's own user are admin over every tenant; a connection that matches no
//! rule may only call `daemon.health`.
//!
//! A peer seen as the kernel's overflow uid or gid ([`crate::userns`]) gets no grant
//! whatever the rules say, and the log line says why.
//!
//! [`resolve`] may query the user database (getpwuid_r, getgrouplist: files, LDAP,
//! SSSD…), so it blocks: the server runs it on a blocking thread per connection.
//!
//! The rules in force are a [`Rules`] (a watch channel): the daemon sends new ones on
//! reload, and every connection checks before each call whether they changed.

use std::collections::BTreeSet;
use std::sync::Arc;

pub use crate::api::Role;

/// The peer process, as the kernel reports it at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenants {
    All,
    /// Shared: every call of a connection clones its caller.
    Only(Arc<BTreeSet<i64>>),
}

/// One access rule: a uid or a gid gets a role over some tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub role: Role,
    pub tenants: Tenants,
}

/// The rules in force, as the server reads them; the daemon holds the
/// [`RulesSender`] and replaces them on reload.
#[derive(Clone)]
pub struct Rules(tokio::sync::watch::Receiver<Arc<[Rule]>>);

/// Replaces the rules every connection checks against.
pub struct RulesSender(tokio::sync::watch::Sender<Arc<[Rule]>>);

impl Rules {
    /// Rules that can change: the sender replaces them.
    pub fn channel(rules: Vec<Rule>) -> (RulesSender, Rules) {
        let (tx, rx) = tokio::sync::watch::channel(Arc::from(rules));
        (RulesSender(tx), Rules(rx))
    }

    /// Rules fixed for the server's life (tests, benchmarks).
    pub fn fixed(rules: Vec<Rule>) -> Rules {
        // The receiver keeps the last value when its sender is gone.
        Rules::channel(rules).1
    }

    /// The rules now, marked as seen by this copy.
    pub fn current(&mut self) -> Arc<[Rule]> {
        self.0.borrow_and_update().clone()
    }

    /// New rules since this copy last looked, marked as seen; None if unchanged.
    pub fn changed(&mut self) -> Option<Arc<[Rule]>> {
        // A closed channel (no sender) has no news: the rules stay as they are.
        match self.0.has_changed() {
            Ok(true) => Some(self.current()),
            _ => None,
        }
    }

    /// Whether `uid` is admin by uid alone (root, the daemon's user, a uid rule with
    /// role admin): decidable at accept time without the user database, for the
    /// connections kept for admins. An admin by a gid rule counts as an ordinary caller
    /// there (its groups need a lookup that may block).
    pub fn admin_by_uid(&self, uid: u32, daemon_uid: u32) -> bool {
        // The overflow uid is never granted (see `resolve`).
        if crate::userns::overflow().uid == uid {
            return false;
        }
        uid == 0
            || uid == daemon_uid
            || self
                .0
                .borrow()
                .iter()
                .find(|r| r.uid == Some(uid))
                .is_some_and(|r| r.role == Role::Admin)
    }
}

impl RulesSender {
    pub fn send(&self, rules: Vec<Rule>) {
        self.0.send_replace(Arc::from(rules));
    }
}

/// A connection's identity and grants; every request carries it (in its
/// [`Conn`](super::middleware::Conn)).
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
pub fn resolve(peer: Peer, rules: &[Rule], daemon_uid: u32) -> Caller {
    let overflow = crate::userns::overflow();
    if overflow.hides(peer.uid, peer.gid) {
        // Any unmapped user looks like this one: granting it would grant them all.
        tracing::warn!(
            uid = peer.uid,
            gid = peer.gid,
            pid = peer.pid,
            cause = crate::userns::refusal_cause(),
            "peer refused: it is seen as the kernel's overflow uid/gid"
        );
        return nobody(peer);
    }
    if peer.uid == 0 || peer.uid == daemon_uid {
        return Caller {
            peer,
            role: Role::Admin,
            tenants: Tenants::All,
        };
    }
    let rule = rules.iter().find(|r| r.uid == Some(peer.uid)).or_else(|| {
        // "Join the socket's group" must also mean "get that group's rule": the
        // peer's supplementary groups count, not only the primary gid the kernel
        // reports for the connection.
        let groups = groups_of(peer.uid, peer.gid);
        rules
            .iter()
            .find(|r| r.gid.is_some_and(|g| groups.contains(&g)))
    });
    match rule {
        None => nobody(peer),
        Some(rule) => Caller {
            peer,
            role: rule.role,
            tenants: rule.tenants.clone(),
        },
    }
}

/// A caller with no grant: only `daemon.health`.
pub fn nobody(peer: Peer) -> Caller {
    Caller {
        peer,
        role: Role::None,
        tenants: Tenants::Only(Default::default()),
    }
}

/// Every group `uid` belongs to: its primary `gid` plus the supplementary groups the
/// system's user database lists for its name (getgrouplist(3)). A uid with no
/// passwd entry has only `gid`.
pub fn groups_of(uid: u32, gid: u32) -> Vec<u32> {
    let mut groups = vec![gid];
    let Some(name) = user_name(uid) else {
        return groups;
    };
    let mut n: libc::c_int = 64;
    loop {
        let mut buf = vec![0 as libc::gid_t; n as usize];
        let mut count = n;
        // SAFETY: `name` is NUL-terminated; `buf` has room for `count` entries, and
        // getgrouplist writes at most that many, setting `count` to the real total.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, buf.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            buf.truncate(count.max(0) as usize);
            groups.extend(buf);
            groups.sort_unstable();
            groups.dedup();
            return groups;
        }
        if count <= n || n >= 65_536 {
            return groups;
        }
        n = count;
    }
}

/// The login name of `uid`, from the user database (getpwuid_r(3)).
fn user_name(uid: u32) -> Option<std::ffi::CString> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids); it is only read
    // after getpwuid_r reports success, which fills it from `buf`.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf.len()` is its true size.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success `pw_name` points at a NUL-terminated string inside `buf`.
    Some(unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) }.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(uid: Option<u32>, gid: Option<u32>, role: Role, tenants: Tenants) -> Rule {
        Rule {
            uid,
            gid,
            role,
            tenants,
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
            rule(
                None,
                Some(5),
                Role::Read,
                Tenants::Only(Arc::new([1].into())),
            ),
            rule(Some(1000), None, Role::Write, Tenants::All),
        ];
        let c = resolve(p(1000, 5), &rules, 999);
        assert_eq!((c.role, c.all_tenants()), (Role::Write, true));
        let c = resolve(p(1001, 5), &rules, 999);
        assert_eq!(c.role, Role::Read);
        assert!(c.may_see_tenant(1) && !c.may_see_tenant(2));
    }

    #[test]
    fn the_overflow_ids_get_nothing_whatever_the_rules() {
        let o = crate::userns::overflow();
        let p = |uid, gid| Peer {
            uid,
            gid,
            pid: None,
        };
        // Rules naming it cannot pass the config; even so, none would apply.
        let rules = [
            rule(Some(o.uid), None, Role::Admin, Tenants::All),
            rule(None, Some(o.gid), Role::Admin, Tenants::All),
        ];
        assert_eq!(resolve(p(o.uid, 5), &rules, 999).role, Role::None);
        assert_eq!(resolve(p(1000, o.gid), &rules, 999).role, Role::None);
        // Even the daemon's own uid, if it were the overflow one.
        assert_eq!(resolve(p(o.uid, o.gid), &[], o.uid).role, Role::None);
    }

    #[test]
    fn groups_come_from_the_user_database() {
        // root exists everywhere and is in group 0.
        assert!(groups_of(0, 0).contains(&0));
        // A uid with no passwd entry keeps just the primary gid.
        assert_eq!(groups_of(4_000_000_000, 77), vec![77]);
    }
}
