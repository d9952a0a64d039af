//! A TCP proxy on 127.0.0.1 in front of a MySQL/MariaDB server that can lose a
//! COMMIT's answer: armed, it lets the client's next `COMMIT` through, waits until
//! the server has answered it (so the commit happened), then closes both sides
//! without relaying that answer — what a network cut after the server's commit looks
//! like to a client. Armed "before", it cuts without sending the COMMIT (the
//! transaction never commits). It can also cut every connection at once, and counts
//! the COMMITs it has cut. For the cluster tests it can also take the link down (every
//! connection cut, new ones closed at once, until it is up again) or stall it (nothing
//! relayed either way until it resumes: a network that holds packets, then delivers).
//!
//! It reads the client's side as MySQL packets (3-byte length, sequence number,
//! payload); a `COM_QUERY` (0x03) whose text is `COMMIT` is the one it looks for.
//! The server's side is relayed as bytes. Clients of the text protocol do not
//! pipeline commands, so whatever the server sends after a COMMIT is its answer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const COM_QUERY: u8 = 0x03;
/// How long the proxy waits for the server's answer to a COMMIT it will cut.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Shared {
    armed: AtomicBool,
    /// Armed to cut *before* the COMMIT reaches the server (it never happens).
    drop_commit: AtomicBool,
    commits_cut: AtomicU64,
    connections: AtomicU64,
    /// While set, new connections are closed as soon as they are accepted.
    down: AtomicBool,
}

pub struct CutProxy {
    pub port: u16,
    shared: Arc<Shared>,
    /// Bumped to cut every connection; dropped (closed) to stop the proxy.
    cut_all: watch::Sender<u64>,
    /// While true, no connection relays a byte either way.
    stalled: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CutProxy {
    /// A proxy on a free port of 127.0.0.1 in front of `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> CutProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared::default());
        let (cut_all, cut_rx) = watch::channel(0);
        let (stalled, stall_rx) = watch::channel(false);
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("cut-proxy".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime")
                    .block_on(accept_loop(listener, upstream_port, s, cut_rx, stall_rx));
            })
            .expect("proxy thread");
        CutProxy {
            port,
            shared,
            cut_all,
            stalled,
            thread: Some(thread),
        }
    }

    /// The next COMMIT any client sends is let through and its answer lost.
    pub fn arm(&self) {
        self.shared.drop_commit.store(false, Ordering::SeqCst);
        self.shared.armed.store(true, Ordering::SeqCst);
    }

    /// The next COMMIT any client sends is not let through: the connection is cut
    /// with the transaction uncommitted (the server rolls it back).
    pub fn arm_before_commit(&self) {
        self.shared.drop_commit.store(true, Ordering::SeqCst);
        self.shared.armed.store(true, Ordering::SeqCst);
    }

    /// Whether an arming is still waiting for its COMMIT.
    pub fn is_armed(&self) -> bool {
        self.shared.armed.load(Ordering::SeqCst)
    }

    /// Closes every open connection now (new ones are still accepted).
    pub fn cut_all(&self) {
        self.cut_all.send_modify(|n| *n += 1);
    }

    /// Takes the link down (every open connection cut, new ones closed at once) or
    /// brings it up again.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
        if down {
            self.cut_all();
        }
    }

    /// Stalls every connection (bytes wait in the proxy and the kernel) or resumes them.
    pub fn set_stalled(&self, stalled: bool) {
        self.stalled.send_replace(stalled);
    }

    /// COMMITs the proxy has cut (answer lost, or the COMMIT itself).
    pub fn commits_cut(&self) -> u64 {
        self.shared.commits_cut.load(Ordering::SeqCst)
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// `db`'s TCP URL, through this proxy.
    pub fn url_for(&self, db: &crate::mariadb_support::TestDatabase) -> String {
        format!("mysql://{}@127.0.0.1:{}/{}", db.user, self.port, db.name)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        // Closing the channel ends the accept loop and every connection.
        let (replacement, _) = watch::channel(0);
        drop(std::mem::replace(&mut self.cut_all, replacement));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    upstream_port: u16,
    shared: Arc<Shared>,
    mut cut_rx: watch::Receiver<u64>,
    stall_rx: watch::Receiver<bool>,
) {
    let listener = TcpListener::from_std(listener).expect("proxy listener");
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                if shared.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (s, rx, stall) = (shared.clone(), cut_rx.clone(), stall_rx.clone());
                conns.spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)).await {
                        relay(client, server, s, rx, stall).await;
                    }
                });
            }
            changed = cut_rx.changed() => {
                if changed.is_err() {
                    break; // the proxy is dropped
                }
            }
        }
    }
    conns.shutdown().await;
}

/// Relays one connection until either side closes, a cut, or a lost COMMIT.
async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    shared: Arc<Shared>,
    mut cut_rx: watch::Receiver<u64>,
    mut stall_rx: watch::Receiver<bool>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    cut_rx.mark_unchanged();
    let mut pending = Vec::new();
    let mut cbuf = vec![0u8; 64 * 1024];
    let mut sbuf = vec![0u8; 64 * 1024];
    loop {
        if !wait_unstalled(&mut stall_rx, &mut cut_rx).await {
            return;
        }
        tokio::select! {
            n = client.read(&mut cbuf) => {
                let Ok(n @ 1..) = n else { return };
                pending.extend_from_slice(&cbuf[..n]);
                // The read may have won the race with a stall set meanwhile: bytes
                // read once the stall is in force are held, never forwarded.
                if !wait_unstalled(&mut stall_rx, &mut cut_rx).await {
                    return;
                }
                while let Some(packet) = take_packet(&mut pending) {
                    if is_commit(&packet) && shared.armed.swap(false, Ordering::SeqCst) {
                        if shared.drop_commit.load(Ordering::SeqCst) {
                            shared.commits_cut.fetch_add(1, Ordering::SeqCst);
                        } else {
                            lose_answer(&packet, &mut server, &shared).await;
                        }
                        return; // both sockets close here, the answer unsent
                    }
                    if server.write_all(&packet).await.is_err() {
                        return;
                    }
                }
            }
            n = server.read(&mut sbuf) => {
                let Ok(n @ 1..) = n else { return };
                if client.write_all(&sbuf[..n]).await.is_err() {
                    return;
                }
            }
            _ = cut_rx.changed() => return,
            _ = stall_rx.changed() => {}
        }
    }
}

/// Waits while the link is stalled; false when the connection is cut meanwhile.
async fn wait_unstalled(
    stall_rx: &mut watch::Receiver<bool>,
    cut_rx: &mut watch::Receiver<u64>,
) -> bool {
    while *stall_rx.borrow_and_update() {
        tokio::select! {
            changed = stall_rx.changed() => if changed.is_err() { return false },
            _ = cut_rx.changed() => return false,
        }
    }
    true
}

/// Sends the COMMIT on and waits for the server's whole answer packet, which is then
/// dropped.
async fn lose_answer(packet: &[u8], server: &mut TcpStream, shared: &Shared) {
    if server.write_all(packet).await.is_err() {
        return;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let got = tokio::time::timeout(ANSWER_TIMEOUT, async {
        loop {
            if take_packet(&mut answer).is_some() {
                return true;
            }
            match server.read(&mut buf).await {
                Ok(n @ 1..) => answer.extend_from_slice(&buf[..n]),
                _ => return false,
            }
        }
    })
    .await;
    if matches!(got, Ok(true)) {
        shared.commits_cut.fetch_add(1, Ordering::SeqCst);
    }
}

/// The first whole packet (header included) of `buf`, removed from it.
fn take_packet(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    if buf.len() < 4 {
        return None;
    }
    let len = usize::from(buf[0]) | usize::from(buf[1]) << 8 | usize::from(buf[2]) << 16;
    if buf.len() < 4 + len {
        return None;
    }
    Some(buf.drain(..4 + len).collect())
}

/// Whether `packet` (header included) is `COM_QUERY "COMMIT"` in any case, with or
/// without surrounding blanks and a `;`.
fn is_commit(packet: &[u8]) -> bool {
    let Some((&COM_QUERY, text)) = packet.get(4..).and_then(|p| p.split_first()) else {
        return false;
    };
    let text = String::from_utf8_lossy(text);
    text.trim()
        .trim_end_matches(';')
        .trim_end()
        .eq_ignore_ascii_case("commit")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(cmd: u8, text: &str) -> Vec<u8> {
        let len = text.len() + 1;
        let mut p = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, 0, cmd];
        p.extend_from_slice(text.as_bytes());
        p
    }

    #[test]
    fn commit_is_recognized_in_any_case_and_nothing_else_is() {
        assert!(is_commit(&packet(COM_QUERY, "COMMIT")));
        assert!(is_commit(&packet(COM_QUERY, " commit ;")));
        assert!(is_commit(&packet(COM_QUERY, "Commit")));
        assert!(!is_commit(&packet(COM_QUERY, "COMMIT AND CHAIN")));
        assert!(!is_commit(&packet(COM_QUERY, "SELECT 'COMMIT'")));
        assert!(!is_commit(&packet(0x16, "COMMIT"))); // COM_STMT_PREPARE
    }

    #[test]
    fn packets_are_taken_whole_only() {
        let mut buf = packet(COM_QUERY, "COMMIT");
        buf.extend_from_slice(&packet(COM_QUERY, "SELECT 1")[..5]);
        assert_eq!(take_packet(&mut buf), Some(packet(COM_QUERY, "COMMIT")));
        assert_eq!(take_packet(&mut buf), None);
        assert_eq!(buf.len(), 5);
    }

    /// A down link closes new connections until it is up; a stalled one holds a
    /// query's bytes and delivers them once resumed (the statement then runs).
    #[test]
    fn a_down_link_refuses_and_a_stalled_one_delivers_late() {
        use crate::mariadb_support::{self, block_on};
        use mysql_async::prelude::Queryable;
        if !mariadb_support::available() {
            return;
        }
        let db = mariadb_support::fresh_database();
        let proxy = CutProxy::start(db.port);
        let opts = db.opts_via(proxy.port);
        proxy.set_down(true);
        let o = opts.clone();
        assert!(block_on(async move { mysql_async::Conn::new(o).await }).is_err());
        proxy.set_down(false);
        let o = opts.clone();
        let mut conn = block_on(async move { mysql_async::Conn::new(o).await }).expect("up");
        conn = block_on(async move {
            conn.query_drop("CREATE TABLE t (n INT)")
                .await
                .map(|_| conn)
        })
        .expect("create");
        proxy.set_stalled(true);
        let (tx, rx) = std::sync::mpsc::channel();
        let insert = std::thread::spawn(move || {
            let r = block_on(async move { conn.query_drop("INSERT INTO t VALUES (1)").await });
            let _ = tx.send(r.is_ok());
        });
        let count = || mariadb_support::query(&db, "SELECT COUNT(*) FROM t")[0][0].clone();
        // Held: neither answered nor in the table while the link stalls.
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        assert_eq!(count().as_deref(), Some("0"));
        proxy.set_stalled(false);
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok(true));
        insert.join().expect("insert thread");
        assert_eq!(count().as_deref(), Some("1"));
    }
}
