//! `numhubd keys rotate`: re-encrypts every stored secret (tokens, tenant
//! credentials, login blocks) to a new age identity in one transaction.
//!
//! Order, so that no crash loses the key to the data: the new identity is written to
//! `identity.txt.new` first; then the database is re-encrypted (one commit); then
//! the old file is renamed `identity.txt.old` and the new one takes its place. A
//! crash between the commit and the renames leaves the data readable with
//! `identity.txt.new`.

use std::path::{Path, PathBuf};

use crate::crypto::{with_suffix, Crypto};
use crate::db::{self, Store};

use super::NumhubError;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct RotateReport {
    pub tokens: usize,
    pub credentials: usize,
    pub login_blocks: usize,
    pub old_identity: PathBuf,
}

/// How many passes a rotation makes before it gives up on secrets that keep changing.
const PASSES: usize = 5;

/// Re-encrypts every secret from `old` to `new` (`old` and `new` may be one `Crypto`
/// mid-rotation: it decrypts with either identity). A row written between a pass's
/// read and its write is left as written — but it may have been encrypted just before
/// a live rotation adopted the new identity — so passes repeat until one finds every
/// row as it read it; secrets still changing after [`PASSES`] fail the rotation
/// (nothing is lost: every row stays readable with the kept old identity).
pub async fn reencrypt_all(
    store: &Store,
    old: &Crypto,
    new: &Crypto,
) -> Result<RotateReport, NumhubError> {
    for _ in 0..PASSES {
        let (report, skipped) = reencrypt_pass(store, old, new).await?;
        if skipped == 0 {
            return Ok(report);
        }
        tracing::info!(
            skipped,
            "secrets changed during the key rotation; re-encrypting again"
        );
    }
    Err(NumhubError::Setup(format!(
        "stored secrets kept changing over {PASSES} re-encryption passes; run the rotation again"
    )))
}

/// One pass: every row read, re-encrypted, and replaced in one transaction if it
/// still holds what was read. Returns the counts replaced and how many were not.
async fn reencrypt_pass(
    store: &Store,
    old: &Crypto,
    new: &Crypto,
) -> Result<(RotateReport, usize), NumhubError> {
    let (tokens, creds, blocks) = super::readable::stored_secrets(store).await?;
    // Encrypted outside the writer (age is slow next to SQLite); each row is then
    // replaced only if it still holds what was read, in one transaction, so a secret
    // written meanwhile (already encrypted to the new identity, which `new` shares
    // during a live rotation) is never reverted to the one read here.
    let mut t = Vec::new();
    for (id, access, refresh) in tokens {
        let a = new.encrypt(&old.decrypt(&access)?)?;
        let r = match refresh {
            Some(r) => Some(new.encrypt(&old.decrypt(&r)?)?),
            None => None,
        };
        t.push((id, access, a, r));
    }
    let mut c = Vec::new();
    for row in creds {
        let e = new.encrypt(&old.decrypt(&row.email_armored)?)?;
        let p = new.encrypt(&old.decrypt(&row.password_armored)?)?;
        c.push((row, e, p));
    }
    let mut b = Vec::new();
    for row in blocks {
        let armored = new.encrypt(&old.decrypt(&row.credentials_armored)?)?;
        b.push((row.account, row.credentials_armored, armored));
    }
    let read = t.len() + c.len() + b.len();
    let report = store
        .write(move |tx| {
            let mut report = RotateReport::default();
            for (id, was, a, r) in &t {
                report.tokens += usize::from(db::tokens::reencrypt(tx, *id, was, a, r.as_deref())?);
            }
            for (was, e, p) in &c {
                report.credentials += usize::from(db::credentials::reencrypt(tx, was, e, p)?);
            }
            for (account, was, armored) in &b {
                report.login_blocks +=
                    usize::from(db::login_blocks::reencrypt(tx, account, was, armored)?);
            }
            Ok(report)
        })
        .await?;
    let replaced = report.tokens + report.credentials + report.login_blocks;
    Ok((report, read - replaced))
}

/// The whole rotation for an identity kept in `identity_file`, for
/// `numhubd keys rotate` with the daemon stopped.
pub async fn rotate(
    store: &Store,
    identity_file: &Path,
    recipients: &[String],
) -> Result<RotateReport, NumhubError> {
    let crypto = Crypto::load(identity_file, recipients)?;
    rotate_live(store, &crypto, identity_file, recipients).await
}

/// Rotates the identity `crypto` holds, while everything that shares `crypto` keeps
/// running (`keys.rotate` over the socket): `crypto` encrypts to the new identity
/// from the moment it is staged and still decrypts with the old one, so a secret
/// written meanwhile is readable either way; the re-encryption then moves every
/// stored secret to the new identity in one transaction.
pub async fn rotate_live(
    store: &Store,
    crypto: &Crypto,
    identity_file: &Path,
    recipients: &[String],
) -> Result<RotateReport, NumhubError> {
    if crypto.source() != identity_file {
        return Err(NumhubError::Setup(format!(
            "the identity comes from {} (systemd credential); rotate it there, not with numhubd keys rotate",
            crypto.source().display()
        )));
    }
    let staged = with_suffix(identity_file, ".new");
    let kept = with_suffix(identity_file, ".old");
    let io = |what: &str, e: std::io::Error| NumhubError::File {
        path: what.to_string(),
        source: e.into(),
    };
    if staged.exists() {
        return Err(NumhubError::Setup(format!(
            "{} exists (an interrupted rotation?): check which identity decrypts the database, then remove it",
            staged.display()
        )));
    }
    let new = Crypto::generate(recipients)?;
    new.write_identity_file(&staged)?;
    crypto.adopt(new);
    let mut report = reencrypt_all(store, crypto, crypto).await?;
    std::fs::rename(identity_file, &kept).map_err(|e| io(&kept.display().to_string(), e))?;
    std::fs::rename(&staged, identity_file)
        .map_err(|e| io(&identity_file.display().to_string(), e))?;
    report.old_identity = kept;
    Ok(report)
}
