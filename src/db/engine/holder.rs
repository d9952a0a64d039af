//! One numhubd per server database: a named lock (`GET_LOCK`) held on a session of
//! its own, kept alive by a ping, and a row saying who holds it for the refusal a
//! second numhubd prints. The server frees the lock when the session ends — a daemon
//! that stops or is killed, or (through `wait_timeout`) a host that vanished.

use std::time::Duration;

use super::mysql::{MyConn, Role, Server};
use super::Param;
use crate::db::{DbError, Result};

/// Holds the database for this daemon alone: a named lock on its own session, kept
/// alive by a ping. The server frees it when the session ends — a daemon that stops
/// or is killed, or (through `wait_timeout`) a host that vanished.
pub struct Holder {
    /// Dropped to stop the thread; a message asks it to record the holder row now.
    stop: Option<std::sync::mpsc::Sender<std::sync::mpsc::Sender<()>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A vanished host's session (and its lock) ends after this long without a ping.
const HOLDER_IDLE_SECS: u32 = 90;
const HOLDER_PING: Duration = Duration::from_secs(20);

impl Holder {
    /// Takes the database, or says who holds it.
    pub(crate) fn take(server: &Server) -> Result<Holder> {
        let conn = MyConn::connect(server, Role::Writer)?;
        conn.batch(&format!("SET SESSION wait_timeout = {HOLDER_IDLE_SECS}"))?;
        let name = lock_name(server);
        if !conn.get_lock(&name)? {
            return Err(DbError::InUse {
                what: server.shown(),
                holder: holder_of(&conn),
            });
        }
        let recorded = record_holder(&conn).is_ok();
        let (stop, stopped) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("numhubd-db-holder".into())
            .spawn(move || keep(conn, &name, recorded, &stopped))
            .map_err(|e| DbError::Open {
                path: "holder thread".into(),
                reason: e.to_string(),
            })?;
        Ok(Holder {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Holder {
    /// Records this process as the holder now (once the store has migrated a fresh
    /// database, whose table did not exist when it was taken), so a second numhubd's
    /// refusal names it.
    pub fn record(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        if let Some(stop) = &self.stop {
            if stop.send(done).is_ok() {
                let _ = wait.recv_timeout(Duration::from_secs(10));
            }
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Who holds the database, from the row the holder wrote (or why that is unknown).
fn holder_of(conn: &MyConn) -> String {
    let row = conn.row(
        "SELECT host, pid, started_at FROM numhubd_instance WHERE id = 1",
        &[],
        |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<String>(2)?)),
    );
    match row {
        Ok(Some((host, pid, since))) => format!("numhubd on {host} (pid {pid}, since {since})"),
        _ => "another numhubd (it has not recorded its host yet)".to_string(),
    }
}

/// Records this process as the holder, for the refusal another one prints (fails on a
/// database not migrated yet: the holder tries again at its next ping).
fn record_holder(conn: &MyConn) -> Result<()> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown host".into());
    conn.execute(
        "REPLACE INTO numhubd_instance (id, host, pid, started_at) VALUES (1, ?1, ?2, NOW(6))",
        &[
            Param::Text(&host),
            Param::Int(i64::from(std::process::id())),
        ],
    )?;
    Ok(())
}

fn lock_name(server: &Server) -> String {
    // GET_LOCK names are at most 64 characters.
    format!(
        "numhubd:{}",
        server.database.chars().take(55).collect::<String>()
    )
}

/// Pings the holding session until told to stop; a session lost on the way is
/// replaced and the lock taken again, or the loss is logged loudly.
fn keep(
    conn: MyConn,
    name: &str,
    mut recorded: bool,
    asks: &std::sync::mpsc::Receiver<std::sync::mpsc::Sender<()>>,
) {
    let mut held = true;
    loop {
        match asks.recv_timeout(HOLDER_PING) {
            Ok(done) => {
                if held {
                    recorded = record_holder(&conn).is_ok();
                }
                let _ = done.send(());
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if held && !recorded {
            recorded = record_holder(&conn).is_ok();
        }
        if held {
            if let Err(e) = conn.batch("DO 1") {
                tracing::warn!(error = %e, "lost the session that holds the database; taking it again");
                held = false;
            }
            continue;
        }
        match conn.get_lock(name) {
            Ok(true) => {
                held = true;
                tracing::info!("holding the database again");
            }
            Ok(false) => tracing::error!(
                holder = %holder_of(&conn),
                "another numhubd took the database while this one's session was lost"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot take the database again yet"),
        }
    }
    conn.close();
}
