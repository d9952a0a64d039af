//! Where uploaded files go: a configured directory, or a temp dir that is removed when
//! the sandbox (its last `Arc<Shared>`) is dropped.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

#[derive(Debug)]
pub struct Storage {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Storage {
    pub fn new(dir: Option<PathBuf>) -> std::io::Result<Storage> {
        match dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                Ok(Storage { dir, _temp: None })
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("numhub-sandbox-")
                    .tempdir()?;
                Ok(Storage {
                    dir: temp.path().to_path_buf(),
                    _temp: Some(temp),
                })
            }
        }
    }

    pub fn path_for(&self, id: Uuid) -> PathBuf {
        self.dir.join(id.to_string())
    }
}

/// Classifies a file by content while it streams past, so nothing is buffered whole.
#[derive(Debug, Default)]
pub struct Sniffer {
    head: Vec<u8>,
    has_nul: bool,
    utf8_ok: bool,
    carry: Vec<u8>,
    started: bool,
}

impl Sniffer {
    pub fn feed(&mut self, chunk: &[u8]) {
        if !self.started {
            self.started = true;
            self.utf8_ok = true;
        }
        if self.head.len() < 8 {
            let take = (8 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if chunk.contains(&0) {
            self.has_nul = true;
        }
        if self.utf8_ok {
            // A multi-byte character may straddle chunks: carry its start over.
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(chunk);
            match std::str::from_utf8(&buf) {
                Ok(_) => {}
                Err(e) if e.error_len().is_none() => {
                    self.carry = buf[e.valid_up_to()..].to_vec();
                }
                Err(_) => self.utf8_ok = false,
            }
        }
    }

    pub fn is_pdf(&self) -> bool {
        self.head.starts_with(b"%PDF-")
    }
    pub fn is_bmp(&self) -> bool {
        self.head.starts_with(b"BM")
    }
    pub fn is_zip(&self) -> bool {
        self.head.starts_with(b"PK\x03\x04")
    }
    pub fn is_text(&self) -> bool {
        self.started && self.utf8_ok && self.carry.is_empty() && !self.has_nul
    }
}

/// A file being written: size, SHA-256 and content class computed as it goes.
pub struct Upload {
    file: tokio::fs::File,
    hasher: Sha256,
    pub size: u64,
    pub sniff: Sniffer,
}

impl Upload {
    pub async fn create(path: &Path) -> std::io::Result<Upload> {
        let file = tokio::fs::File::create(path).await?;
        Ok(Upload {
            file,
            hasher: Sha256::new(),
            size: 0,
            sniff: Sniffer::default(),
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.hasher.update(chunk);
        self.sniff.feed(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await
    }

    /// Flushes and returns the hex SHA-256.
    pub async fn finish(mut self) -> std::io::Result<(String, u64, Sniffer)> {
        self.file.flush().await?;
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok((hex, self.size, self.sniff))
    }
}

#[cfg(test)]
mod tests {
    use super::Sniffer;

    fn sniff(chunks: &[&[u8]]) -> Sniffer {
        let mut s = Sniffer::default();
        for c in chunks {
            s.feed(c);
        }
        s
    }

    #[test]
    fn classifies_by_content() {
        assert!(sniff(&[b"%P", b"DF-1.7 rest"]).is_pdf());
        assert!(sniff(&[b"BM\0\0"]).is_bmp());
        assert!(sniff(&[b"PK\x03\x04"]).is_zip());
        // "é" split across two chunks is still text.
        assert!(sniff(&[b"caf\xc3", b"\xa9\n"]).is_text());
        assert!(!sniff(&[b"caf\xc3"]).is_text());
        assert!(!sniff(&[b"a\0b"]).is_text());
        assert!(!sniff(&[b"\xff\xfe"]).is_text());
        assert!(!sniff(&[]).is_text());
    }
}
