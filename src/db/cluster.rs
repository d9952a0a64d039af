//! `numhubd_lease` and `numhubd_nodes`: the one lease that says which node leads, and
//! the nodes sharing the database. Every time here is the database server's clock
//! (`NOW(6)`), so hosts whose clocks differ still agree on who leads; what a host
//! needs in its own clock it gets as a duration (`*_in_ms`).
//!
//! Only a server store has several nodes: on SQLite the daemon is the only one and
//! nothing here is called (but [`fence`] passes, so code fenced for a cluster runs
//! unchanged).

use super::engine::{args, Engine};
use super::{DbError, Result, Sql, Tx};

/// The lease as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// Who leads: None while nobody holds an unexpired lease.
    pub leader: Option<String>,
    /// The node named in the row, expired or not.
    pub node: Option<String>,
    pub epoch: i64,
    pub expires_at: Option<String>,
}

/// A lease just taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub epoch: i64,
    /// How long the previous leader's lease still ran when it was taken; negative:
    /// how long ago it had run out (a lease never held: a day ago). The old leader's
    /// requests may be in flight until then, and a request's timeout after.
    pub previous_left_ms: i64,
    /// The process that held it before: its node, host and pid (None if none did).
    pub previous: Option<Holder>,
}

/// A leader's process, as the lease row names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub node: String,
    pub host: Option<String>,
    pub pid: Option<i64>,
}

/// A node as `daemon.status` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub node: String,
    pub last_seen: String,
}

/// The lease row.
pub fn lease(sql: &Sql<'_>) -> Result<Lease> {
    sql.one(
        "SELECT node, epoch, expires_at, expires_at > NOW(6) FROM numhubd_lease WHERE id = 1",
        args![],
        |r| {
            let node: Option<String> = r.get(0)?;
            let live: Option<bool> = r.get(3)?;
            Ok(Lease {
                leader: node.clone().filter(|_| live == Some(true)),
                node,
                epoch: r.get(1)?,
                expires_at: r.get(2)?,
            })
        },
    )
}

/// Takes the lease for `node` if nobody else holds it: expired, never held, or named
/// after this node (a previous process of this node, dead: a live one would hold the
/// node's name). The epoch grows by one.
pub fn take(tx: &Tx<'_>, me: &Holder, lease_ms: i64) -> Result<Option<Taken>> {
    let node = me.node.as_str();
    // A plain read first: a follower looking every second must not queue for the row
    // lock that the leader's fenced writes share. Then the same under the lock.
    let mut previous = None;
    let mut left_ms = 0;
    for lock in ["", " FOR UPDATE"] {
        let Some((holder, left)) = lease_holder(tx, lock)? else {
            return Err(DbError::Migration("numhubd_lease has no row".into()));
        };
        if left > 0 && holder.as_ref().map(|h| h.node.as_str()) != Some(node) {
            return Ok(None);
        }
        (previous, left_ms) = (holder, left);
    }
    tx.execute(
        "UPDATE numhubd_lease SET node = ?1, host = ?2, pid = ?3, epoch = epoch + 1,
             acquired_at = NOW(6), expires_at = NOW(6) + INTERVAL ?4 MICROSECOND
         WHERE id = 1",
        args![node, me.host.as_deref(), me.pid, lease_ms * 1000],
    )?;
    let epoch = tx.one(
        "SELECT epoch FROM numhubd_lease WHERE id = 1",
        args![],
        |r| r.get(0),
    )?;
    Ok(Some(Taken {
        epoch,
        previous_left_ms: left_ms,
        previous,
    }))
}

/// The process named in the lease and how long its lease still runs (ms; negative:
/// since when it ran out).
type Named = (Option<Holder>, i64);

fn lease_holder(tx: &Tx<'_>, lock: &str) -> Result<Option<Named>> {
    tx.row(
        &format!(
            "SELECT node, host, pid,
                    COALESCE(TIMESTAMPDIFF(MICROSECOND, NOW(6), expires_at) DIV 1000, -86400000)
               FROM numhubd_lease WHERE id = 1{lock}"
        ),
        args![],
        |r| {
            let node: Option<String> = r.get(0)?;
            let holder = match node {
                Some(node) => Some(Holder {
                    node,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                }),
                None => None,
            };
            Ok((holder, r.get(3)?))
        },
    )
}

/// Extends the lease of `epoch` from now; false when another node took it since.
/// (An expired lease nobody took is still this epoch's: nothing ran under another.)
pub fn renew(tx: &Tx<'_>, node: &str, epoch: i64, lease_ms: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE numhubd_lease SET expires_at = NOW(6) + INTERVAL ?3 MICROSECOND
         WHERE id = 1 AND node = ?1 AND epoch = ?2",
        args![node, epoch, lease_ms * 1000],
    )? == 1)
}

/// Ends the lease of `epoch` now (a clean stop), so another node takes it at once.
pub fn release(tx: &Tx<'_>, node: &str, epoch: i64) -> Result<()> {
    tx.execute(
        "UPDATE numhubd_lease SET expires_at = NOW(6) WHERE id = 1 AND node = ?1 AND epoch = ?2",
        args![node, epoch],
    )?;
    Ok(())
}

/// Fails unless `epoch` holds the lease now, and keeps the lease row share-locked until
/// the transaction ends, so no other node can take the lease before this transaction's
/// writes commit: what a leader writes commits under its epoch or not at all.
pub fn fence(tx: &Tx<'_>, epoch: i64) -> Result<()> {
    if tx.engine() == Engine::Sqlite {
        return Ok(());
    }
    let holds: Option<i64> = tx.row(
        "SELECT epoch FROM numhubd_lease
          WHERE id = 1 AND epoch = ?1 AND expires_at > NOW(6) LOCK IN SHARE MODE",
        args![epoch],
        |r| r.get(0),
    )?;
    match holds {
        Some(_) => Ok(()),
        None => Err(DbError::Fenced { epoch }),
    }
}

/// This node is alive now.
pub fn seen(tx: &Tx<'_>, node: &str) -> Result<()> {
    tx.execute(
        "UPDATE numhubd_nodes SET last_seen = NOW(6) WHERE node = ?1",
        args![node],
    )?;
    Ok(())
}

/// Every node that has run on this database, by name.
pub fn nodes(sql: &Sql<'_>) -> Result<Vec<Node>> {
    sql.rows(
        "SELECT node, last_seen FROM numhubd_nodes ORDER BY node",
        args![],
        |r| {
            Ok(Node {
                node: r.get(0)?,
                last_seen: r.get(1)?,
            })
        },
    )
}

/// This machine's hostname, as the lease and node rows name a process's host.
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown host".into())
}
