//! Who may use a server database, by named locks (`GET_LOCK`) held on a session of
//! their own: a daemon holds its node's name (several daemons with different names may
//! share the database), an offline command holds the whole database. The server frees
//! a lock when its session ends — a process that stops or is killed, or (through
//! `wait_timeout`) a host that vanished — so a lock held means a live holder, which a
//! row of `numhubd_nodes` names in the refusal.
//!
//! Each side takes its own lock, then looks for the other's: of a daemon and an
//! offline command starting together, at least one sees the other.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::mysql::{MyConn, Role, Server};
use super::Param;
use crate::db::{DbError, Result};

/// What the lock is taken for.
#[derive(Debug, Clone)]
pub enum Claim {
    /// `numhubd serve` as this node.
    Node(String),
    /// An offline command (`migrate`, `copy-store`…): the database alone.
    Offline,
}

/// Holds a node name (or the whole database) until dropped, kept alive by a ping.
pub struct Holder {
    /// Dropped to stop the thread; a message asks it to record the node row now.
    asks: Option<Sender<Sender<()>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A vanished host's session (and its lock) ends after this long without a ping.
const HOLDER_IDLE_SECS: u32 = 90;
const HOLDER_PING: Duration = Duration::from_secs(20);

impl Holder {
    /// Takes the claim, or says who is in the way.
    pub(crate) fn take(server: &Server, claim: Claim) -> Result<Holder> {
        let conn = MyConn::connect(server, Role::Own)?;
        conn.batch(&format!("SET SESSION wait_timeout = {HOLDER_IDLE_SECS}"))?;
        let names = LockNames::of(&server.database);
        let (mine, node) = match &claim {
            Claim::Node(node) => (names.node(node), Some(node.clone())),
            Claim::Offline => (names.offline(), None),
        };
        if !conn.get_lock(&mine)? {
            let (holder, advice) = match &node {
                Some(n) => (
                    running_node(&conn, n),
                    "give this host its own [cluster] node name, or stop that numhubd",
                ),
                None => (
                    "another offline numhubd command".to_string(),
                    "wait for it to finish",
                ),
            };
            return Err(in_use(server, holder, advice));
        }
        if let Some(refusal) = other_side(&conn, &names, node.is_some(), server) {
            conn.close();
            return Err(refusal);
        }
        let recorded = node.as_deref().is_some_and(|n| record(&conn, n).is_ok());
        let (asks, asked) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("numhubd-db-holder".into())
            .spawn(move || keep(conn, &mine, node, recorded, &asked))
            .map_err(|e| DbError::Open {
                path: "holder thread".into(),
                source: e.into(),
            })?;
        Ok(Holder {
            asks: Some(asks),
            thread: Some(thread),
        })
    }

    /// Records this node's row now (once the store has migrated a fresh database,
    /// whose table did not exist when the name was taken), so a refusal names it.
    pub fn record(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        if let Some(asks) = &self.asks {
            if asks.send(done).is_ok() {
                let _ = wait.recv_timeout(Duration::from_secs(10));
            }
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.asks.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn in_use(server: &Server, holder: String, advice: &'static str) -> DbError {
    DbError::InUse {
        what: server.shown(),
        holder,
        advice,
    }
}

/// The refusal when the other side holds the database: a daemon finds an offline
/// command, an offline command finds a running node.
fn other_side(conn: &MyConn, names: &LockNames, daemon: bool, server: &Server) -> Option<DbError> {
    // A numhubd from before several hosts (one daemon per database) holds the whole
    // database by its name alone, and knows no lease: nothing may run beside it.
    if used(conn, &names.legacy()) {
        return Some(in_use(
            server,
            "a numhubd of an older version (one daemon per database, no lease)".into(),
            "stop it first, then start the upgraded ones",
        ));
    }
    if daemon {
        return used(conn, &names.offline()).then(|| {
            in_use(
                server,
                "an offline numhubd command".into(),
                "start numhubd again when it has finished",
            )
        });
    }
    let nodes: Vec<String> = conn
        .rows("SELECT node FROM numhubd_nodes ORDER BY node", &[], |r| {
            r.get(0)
        })
        .unwrap_or_default();
    nodes.iter().find(|n| used(conn, &names.node(n))).map(|n| {
        in_use(
            server,
            running_node(conn, n),
            "stop every numhubd on it first",
        )
    })
}

fn used(conn: &MyConn, name: &str) -> bool {
    conn.row("SELECT IS_USED_LOCK(?1)", &[Param::Text(name)], |r| {
        r.get::<Option<i64>>(0)
    })
    .ok()
    .flatten()
    .flatten()
    .is_some()
}

/// Who runs as `node`, from the row it wrote (or why that is unknown).
fn running_node(conn: &MyConn, node: &str) -> String {
    let row = conn.row(
        "SELECT host, pid, started_at FROM numhubd_nodes WHERE node = ?1",
        &[Param::Text(node)],
        |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<String>(2)?)),
    );
    match row {
        Ok(Some((host, pid, since))) => {
            format!("node {node}: numhubd on {host} (pid {pid}, since {since})")
        }
        _ => format!("node {node}: a numhubd that has not recorded its host yet"),
    }
}

/// Records this process as the node's daemon (fails on a database not migrated yet:
/// tried again at the next ping).
fn record(conn: &MyConn, node: &str) -> Result<()> {
    let host = crate::db::cluster::this_host();
    conn.execute(
        "REPLACE INTO numhubd_nodes (node, host, pid, version, started_at, last_seen)
         VALUES (?1, ?2, ?3, ?4, NOW(6), NOW(6))",
        &[
            Param::Text(node),
            Param::Text(&host),
            Param::Int(i64::from(std::process::id())),
            Param::Text(env!("CARGO_PKG_VERSION")),
        ],
    )?;
    Ok(())
}

/// `GET_LOCK` names are at most 64 characters: the database's name is hashed.
struct LockNames {
    database: String,
    digest: String,
}

impl LockNames {
    fn of(database: &str) -> LockNames {
        let digest = Sha256::digest(database.as_bytes());
        LockNames {
            database: database.chars().take(55).collect(),
            digest: digest[..6].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    fn node(&self, node: &str) -> String {
        format!("numhubd:{}:n:{node}", self.digest)
    }

    fn offline(&self) -> String {
        format!("numhubd:{}:offline", self.digest)
    }

    /// The whole-database lock of numhubd before several hosts.
    fn legacy(&self) -> String {
        format!("numhubd:{}", self.database)
    }
}

/// Pings the holding session until told to stop; a session lost on the way is
/// replaced and the lock taken again, or the loss is logged loudly.
fn keep(
    conn: MyConn,
    name: &str,
    node: Option<String>,
    mut recorded: bool,
    asks: &Receiver<Sender<()>>,
) {
    let mut held = true;
    loop {
        match asks.recv_timeout(HOLDER_PING) {
            Ok(done) => {
                if let (true, Some(n)) = (held, &node) {
                    recorded = record(&conn, n).is_ok();
                }
                let _ = done.send(());
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let (true, false, Some(n)) = (held, recorded, &node) {
            recorded = record(&conn, n).is_ok();
        }
        if held {
            if let Err(e) = conn.batch("DO 1") {
                tracing::warn!(error = %e, "lost the session that holds this node's name; taking it again");
                held = false;
            }
            continue;
        }
        match conn.get_lock(name) {
            Ok(true) => {
                held = true;
                tracing::info!("holding this node's name again");
            }
            Ok(false) => tracing::error!(
                "another numhubd took this node's name while this one's session was lost"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot take this node's name again yet"),
        }
    }
    conn.close();
}
