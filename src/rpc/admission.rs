//! Which accepted connections are served: at most `max_connections` at once, at most
//! `max_connections_per_uid` from one peer uid, and the last `max_connections_per_uid`
//! kept for admin callers — so no uid, however many connections it opens and holds,
//! can lock out another uid or an operator. A [`Ticket`] is a served connection's
//! place; it is given back when the connection's stream is dropped (after an HTTP
//! connection ends, or after an upgraded WebSocket ends).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::error::RpcError;

/// The limits (from `[rpc]`, through `ServerOptions`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: u32,
    pub max_connections_per_uid: u32,
}

pub struct Admission {
    limits: Limits,
    counts: Mutex<Counts>,
    /// Connections open now, for `daemon.status`.
    open: Arc<AtomicU64>,
}

#[derive(Default)]
struct Counts {
    total: u32,
    /// Connections of callers not known to be admin: at most `max_connections -
    /// max_connections_per_uid`.
    others: u32,
    by_uid: HashMap<u32, u32>,
}

/// Why a connection is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every connection is taken.
    Full,
    /// Every connection but those kept for admin callers is taken.
    OnlyAdminsLeft,
    /// This uid already holds its share.
    UidFull { uid: u32, max: u32 },
}

impl Refusal {
    pub fn to_error(self) -> RpcError {
        RpcError::LimitExceeded(match self {
            Refusal::Full => "too many connections ([rpc] max_connections); try again".into(),
            Refusal::OnlyAdminsLeft => "too many connections: the ones left are kept for admin callers ([rpc] max_connections); try again".into(),
            Refusal::UidFull { uid, max } => format!(
                "uid {uid} already holds {max} connections ([rpc] max_connections_per_uid); close one and try again"
            ),
        })
    }
}

/// A served connection's place, given back on drop.
pub struct Ticket {
    admission: Arc<Admission>,
    uid: u32,
    admin: bool,
}

impl Admission {
    pub fn new(limits: Limits, open: Arc<AtomicU64>) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            counts: Mutex::new(Counts::default()),
            open,
        })
    }

    /// A place for a connection of `uid`, if the limits leave one.
    pub fn admit(self: &Arc<Self>, uid: u32, admin: bool) -> Result<Ticket, Refusal> {
        let Limits {
            max_connections,
            max_connections_per_uid,
        } = self.limits;
        // The counts stay consistent even if a holder panicked: each change is one
        // statement.
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let held = counts.by_uid.get(&uid).copied().unwrap_or(0);
        if held >= max_connections_per_uid {
            return Err(Refusal::UidFull {
                uid,
                max: max_connections_per_uid,
            });
        }
        if counts.total >= max_connections {
            return Err(Refusal::Full);
        }
        let for_others = max_connections.saturating_sub(max_connections_per_uid);
        if !admin && counts.others >= for_others {
            return Err(Refusal::OnlyAdminsLeft);
        }
        counts.total += 1;
        counts.others += u32::from(!admin);
        *counts.by_uid.entry(uid).or_default() += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Ticket {
            admission: self.clone(),
            uid,
            admin,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let a = &self.admission;
        let mut counts = a.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if !self.admin {
            counts.others = counts.others.saturating_sub(1);
        }
        if let Some(n) = counts.by_uid.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                counts.by_uid.remove(&self.uid);
            }
        }
        a.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_uid_never_takes_what_others_and_admins_need() {
        let a = Admission::new(
            Limits {
                max_connections: 6,
                max_connections_per_uid: 2,
            },
            Default::default(),
        );
        let t1 = [a.admit(10, false), a.admit(10, false)];
        assert!(t1.iter().all(Result::is_ok));
        assert_eq!(
            a.admit(10, false).err(),
            Some(Refusal::UidFull { uid: 10, max: 2 })
        );
        let t2 = [a.admit(11, false), a.admit(11, false)];
        assert!(t2.iter().all(Result::is_ok));
        // Four of six taken; the last two are kept for admins.
        assert_eq!(a.admit(12, false).err(), Some(Refusal::OnlyAdminsLeft));
        let root = [a.admit(0, true), a.admit(0, true)];
        assert!(root.iter().all(Result::is_ok));
        assert_eq!(a.admit(1, true).err(), Some(Refusal::Full));
        drop(t1);
        // Admins hold two; the others' four places have two free again.
        let t3 = a.admit(12, false);
        assert!(t3.is_ok(), "places come back on drop");
        assert_eq!(a.open.load(Ordering::Relaxed), 5);
    }
}
