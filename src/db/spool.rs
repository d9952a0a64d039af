//! `numhubd_spool` and `numhubd_spool_chunks`: the spool in a server store, so that
//! whichever host leads can send a file another host took (`intake::Spool` decides
//! when; this module only holds the statements). A copy is named by its SHA-256 and
//! written chunk by chunk, its head row last: a copy without a head is never read, so
//! a copy a dead host left half-written is never taken for a whole one.

use super::documents::UNSENT_UPLOADS;
use super::engine::{args, ts, Engine};
use super::{Result, Sql, Tx};

/// The bytes in one chunk row: well under MySQL's default `max_allowed_packet`
/// (16 MiB on MariaDB, 64 MiB on MySQL 8), and small enough that one chunk's write
/// holds the writer for milliseconds.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// A whole copy's head row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub size_bytes: i64,
    pub chunks: u32,
}

/// Writes (or writes again: the same name is the same bytes) chunk `seq` of a copy.
pub fn put_chunk(tx: &Tx<'_>, sha256: &str, seq: u32, bytes: &[u8], now: &str) -> Result<()> {
    let statement = match tx.engine() {
        Engine::Sqlite => {
            "INSERT INTO numhubd_spool_chunks (sha256, seq, bytes, written_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sha256, seq) DO UPDATE SET bytes = excluded.bytes, written_at = excluded.written_at"
        }
        Engine::Mysql => {
            "INSERT INTO numhubd_spool_chunks (sha256, seq, bytes, written_at) VALUES (?1, ?2, ?3, ?4)
             ON DUPLICATE KEY UPDATE bytes = VALUES(bytes), written_at = VALUES(written_at)"
        }
    };
    tx.execute(statement, args![sha256, seq, bytes, ts(now)])?;
    Ok(())
}

/// Writes a copy's head once all its chunks are in: from now on it is whole.
pub fn put_head(tx: &Tx<'_>, sha256: &str, head: Head, now: &str) -> Result<()> {
    let statement = match tx.engine() {
        Engine::Sqlite => {
            "INSERT INTO numhubd_spool (sha256, size_bytes, chunks, stored_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sha256) DO UPDATE SET size_bytes = excluded.size_bytes,
                 chunks = excluded.chunks, stored_at = excluded.stored_at"
        }
        Engine::Mysql => {
            "INSERT INTO numhubd_spool (sha256, size_bytes, chunks, stored_at) VALUES (?1, ?2, ?3, ?4)
             ON DUPLICATE KEY UPDATE size_bytes = VALUES(size_bytes), chunks = VALUES(chunks),
                 stored_at = VALUES(stored_at)"
        }
    };
    tx.execute(
        statement,
        args![sha256, head.size_bytes, head.chunks, ts(now)],
    )?;
    Ok(())
}

/// Marks a whole copy as wanted now (a take found it stored already), so the sweep's
/// grace starts again. Returns whether a whole copy exists.
pub fn touch(tx: &Tx<'_>, sha256: &str, now: &str) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE numhubd_spool SET stored_at = ?2 WHERE sha256 = ?1",
        args![sha256, ts(now)],
    )? > 0)
}

/// The head of the whole copy with this SHA-256, if there is one.
pub fn head(sql: &Sql<'_>, sha256: &str) -> Result<Option<Head>> {
    sql.row(
        "SELECT size_bytes, chunks FROM numhubd_spool WHERE sha256 = ?1",
        args![sha256],
        |r| {
            Ok(Head {
                size_bytes: r.get(0)?,
                chunks: r.get(1)?,
            })
        },
    )
}

/// Chunk `seq` of a copy, if it is there.
pub fn chunk(sql: &Sql<'_>, sha256: &str, seq: u32) -> Result<Option<Vec<u8>>> {
    sql.row(
        "SELECT bytes FROM numhubd_spool_chunks WHERE sha256 = ?1 AND seq = ?2",
        args![sha256, seq],
        |r| r.get(0),
    )
}

/// Deletes up to `batch` heads stored before `before` that no upload which may still
/// be sent needs. Their chunks go with [`purge_orphan_chunks`].
pub fn purge_heads(tx: &Tx<'_>, before: &str, batch: u32) -> Result<usize> {
    let statement = match tx.engine() {
        Engine::Sqlite => format!(
            "DELETE FROM numhubd_spool WHERE sha256 IN (
                 SELECT sha256 FROM numhubd_spool WHERE stored_at < ?1
                     AND sha256 NOT IN ({UNSENT_UPLOADS}) LIMIT ?2)"
        ),
        Engine::Mysql => format!(
            "DELETE FROM numhubd_spool WHERE stored_at < ?1
                 AND sha256 NOT IN ({UNSENT_UPLOADS}) LIMIT ?2"
        ),
    };
    tx.execute(&statement, args![ts(before), batch])
}

/// Deletes up to `batch` chunks written before `before` whose copy has no head: those
/// of swept copies, and those a host left when it died mid-copy (a copy being written
/// now has newer chunks).
pub fn purge_orphan_chunks(tx: &Tx<'_>, before: &str, batch: u32) -> Result<usize> {
    let statement = match tx.engine() {
        Engine::Sqlite => {
            "DELETE FROM numhubd_spool_chunks WHERE rowid IN (
                 SELECT c.rowid FROM numhubd_spool_chunks c WHERE c.written_at < ?1
                     AND NOT EXISTS (SELECT 1 FROM numhubd_spool s WHERE s.sha256 = c.sha256)
                 LIMIT ?2)"
        }
        Engine::Mysql => {
            "DELETE FROM numhubd_spool_chunks WHERE written_at < ?1
                 AND NOT EXISTS (SELECT 1 FROM numhubd_spool s
                                 WHERE s.sha256 = numhubd_spool_chunks.sha256)
                 LIMIT ?2"
        }
    };
    tx.execute(statement, args![ts(before), batch])
}
