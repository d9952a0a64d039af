//! A file sent as a multipart part: read on one blocking task into a short channel,
//! hashed on the way, its last chunk held back until the whole file's SHA-256 is
//! known. A file that must have a given SHA-256 (an upload from the spool) and does
//! not ends the body with an error instead of its last bytes, so NumHub never gets
//! a complete file other than the one registered — a check that costs no read of
//! its own. The same digest goes into the audit row.

use std::fs::File;
use std::io::Read;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use sha2::{Digest, Sha256};

/// One read: hyper's own write size, and small enough that a file of a few hundred
/// kilobytes still has a middle (the `mid_upload` crash point needs one). A hand-off
/// costs a channel send, not a trip to the blocking pool.
const CHUNK: usize = 64 * 1024;
/// Chunks read ahead of the socket (1 MiB), so the disk and the hash keep up.
const AHEAD: usize = 16;

/// What became of one file's body, read after the exchange for the audit row.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes handed to the HTTP body.
    pub sent: u64,
    /// The whole file's SHA-256, once it was read to its end.
    pub sha256: Option<String>,
    /// The file did not have the SHA-256 it had to have; its end was not sent.
    pub changed: bool,
}

pub type Shared = Arc<Mutex<Progress>>;

/// The body stream of `file`. Nothing is read until the HTTP client first polls it
/// (the request may wait for a permit first). `expect` is the SHA-256 (lower-case
/// hex) the file must have, if any.
pub fn stream(
    file: File,
    expect: Option<String>,
) -> (
    impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    Shared,
) {
    let progress: Shared = Arc::default();
    let reader_progress = progress.clone();
    let started = stream::once(async move {
        let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
        tokio::task::spawn_blocking(move || read(file, expect, &tx, &reader_progress));
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
    })
    .flatten();
    let sent = progress.clone();
    let counted = started.map(move |chunk| {
        if let (Ok(bytes), Ok(mut p)) = (&chunk, sent.lock()) {
            // Crash tests: die with part of the body sent.
            if p.sent > 0 {
                crate::killpoint::hit("mid_upload");
            }
            p.sent += bytes.len() as u64;
        }
        chunk
    });
    (counted, progress)
}

type Sender = tokio::sync::mpsc::Sender<std::io::Result<Bytes>>;

/// Reads `file` to its end into `tx`, one chunk behind: a chunk goes out once the
/// next one is read, and the last only once the digest is known and right. Returns
/// early (dropping the file) when the body is dropped, e.g. the request failed.
fn read(mut file: File, expect: Option<String>, tx: &Sender, progress: &Shared) {
    let mut hash = Sha256::new();
    let mut held: Option<Bytes> = None;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        buf.truncate(n);
        hash.update(&buf);
        if let Some(chunk) = held.replace(Bytes::from(buf)) {
            if tx.blocking_send(Ok(chunk)).is_err() {
                return;
            }
        }
    }
    let digest = format!("{:x}", hash.finalize());
    let changed = expect.is_some_and(|want| want != digest);
    if let Ok(mut p) = progress.lock() {
        p.sha256 = Some(digest);
        p.changed = changed;
    }
    let last = match (changed, held) {
        (true, _) => Err(std::io::Error::other(CHANGED)),
        (false, Some(chunk)) => Ok(chunk),
        (false, None) => return,
    };
    let _ = tx.blocking_send(last);
}

/// Why a body stopped short of its end (see [`Progress::changed`]).
pub const CHANGED: &str =
    "numhubd's copy of the file no longer has the SHA-256 it was registered with; its end was not sent; register the file again";

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(path: &std::path::Path, expect: Option<String>) -> (Vec<u8>, bool, Progress) {
        let file = File::open(path).expect("open");
        let (body, progress) = stream(file, expect);
        let chunks: Vec<_> = body.collect().await;
        let failed = chunks.iter().any(|c| c.is_err());
        let bytes = chunks
            .into_iter()
            .filter_map(Result::ok)
            .flat_map(|b| b.to_vec())
            .collect();
        let p = std::mem::take(&mut *progress.lock().expect("lock"));
        (bytes, failed, p)
    }

    #[tokio::test]
    async fn a_file_is_sent_whole_when_it_has_its_hash_and_cut_short_when_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..CHUNK * 2 + 100).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).expect("write");
        let sha = super::super::audit::hex_sha256(&data);

        let (sent, failed, p) = collect(&path, Some(sha.clone())).await;
        assert!(!failed);
        assert_eq!(sent, data, "the whole file, in order");
        assert_eq!(
            (p.sent, p.sha256.as_deref(), p.changed),
            (data.len() as u64, Some(sha.as_str()), false)
        );

        let (sent, _, p) = collect(&path, None).await;
        assert_eq!(
            (sent.len(), p.changed),
            (data.len(), false),
            "no hash to check"
        );

        let (sent, failed, p) = collect(&path, Some("0".repeat(64))).await;
        assert!(failed, "the body must fail, not end");
        assert!(p.changed);
        assert_eq!(
            sent,
            data[..CHUNK * 2],
            "everything but the held-back last chunk"
        );

        std::fs::write(&path, b"").expect("empty");
        let (sent, failed, p) = collect(&path, Some("0".repeat(64))).await;
        assert!(failed && sent.is_empty() && p.changed);
    }
}
