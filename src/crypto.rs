//! Secrets at rest: age (x25519), ASCII-armored, so that the standard `age` CLI can
//! decrypt what the store holds with the identity file (`age -d -i identity.txt`).
//!
//! The identity comes from the systemd credential `age-identity`
//! (`$CREDENTIALS_DIRECTORY/age-identity`) when present, else from
//! `[crypto] identity_file`, which is created with mode 0600 at first start. Extra
//! recipients (`[crypto] recipients`) can decrypt too, e.g. an escrow key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use age::x25519;
use thiserror::Error;

/// The systemd credential that may carry the identity.
pub const IDENTITY_CREDENTIAL: &str = "age-identity";

#[derive(Debug, Error)]
pub enum CryptoError {
    #[error("age identity {path}: {source}")]
    Identity {
        path: String,
        #[source]
        source: Cause,
    },
    #[error("crypto.recipients: {value:?} is not an age x25519 recipient (age1…): {reason}")]
    Recipient { value: String, reason: String },
    #[error("encrypting a secret failed: {0}")]
    Encrypt(#[source] Cause),
    /// Never carries the ciphertext or the plaintext.
    #[error("decrypting a secret failed: {0}")]
    Decrypt(#[source] Cause),
}

/// The error under a crypto failure (its chain kept for `source()`), or a sentence.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Encrypts to our own identity plus the configured recipients; decrypts with ours
/// (or, after a key rotation, with the identity it replaced).
pub struct Crypto {
    /// Swapped whole by [`Crypto::adopt`] (live key rotation); held only for the
    /// length of one encrypt or decrypt, never across an await.
    keys: std::sync::RwLock<Keys>,
    source: PathBuf,
}

struct Keys {
    identity: x25519::Identity,
    recipients: Vec<x25519::Recipient>,
    /// Identities that only decrypt: the one a rotation replaced (until restart), and
    /// `identity.txt.old` / `.new` left beside the file by a rotation, so a secret
    /// written during one is never unreadable.
    previous: Vec<x25519::Identity>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The identity is a secret: show only where it came from and the public key.
        f.debug_struct("Crypto")
            .field("source", &self.source)
            .field("public_key", &self.public_key())
            .finish()
    }
}

impl Crypto {
    /// Loads the identity (systemd credential first, then `identity_file`, created if
    /// missing) and parses the extra recipients.
    pub fn load(identity_file: &Path, extra_recipients: &[String]) -> Result<Crypto, CryptoError> {
        let from_credentials = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join(IDENTITY_CREDENTIAL))
            .filter(|p| p.exists());
        let path = match from_credentials {
            Some(p) => p,
            None => {
                if !identity_file.exists() {
                    generate_identity_file(identity_file)?;
                }
                check_permissions(identity_file)?;
                identity_file.to_path_buf()
            }
        };
        let identity = read_identity(&path)?;
        let crypto = Crypto::new(identity, extra_recipients, path)?;
        for suffix in [".new", ".old"] {
            let beside = with_suffix(identity_file, suffix);
            if beside.exists() {
                check_permissions(&beside)?;
                let old = read_identity(&beside)?;
                crypto.write_keys().previous.push(old);
            }
        }
        Ok(crypto)
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        // A panic while holding the lock leaves the keys as they were: still usable.
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_keys(&self) -> std::sync::RwLockWriteGuard<'_, Keys> {
        self.keys.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Live key rotation: from now on encrypt to `new`'s identity (and recipients);
    /// the replaced identity still decrypts until restart.
    pub fn adopt(&self, new: Crypto) {
        let incoming = new.keys.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut keys = self.write_keys();
        let old = std::mem::replace(&mut keys.identity, incoming.identity);
        keys.previous.push(old);
        keys.recipients = incoming.recipients;
    }

    fn new(
        identity: x25519::Identity,
        extra_recipients: &[String],
        source: PathBuf,
    ) -> Result<Crypto, CryptoError> {
        let mut recipients = vec![identity.to_public()];
        for value in extra_recipients {
            let r =
                x25519::Recipient::from_str(value.trim()).map_err(|e| CryptoError::Recipient {
                    value: value.clone(),
                    reason: e.to_string(),
                })?;
            recipients.push(r);
        }
        Ok(Crypto {
            keys: std::sync::RwLock::new(Keys {
                identity,
                recipients,
                previous: Vec::new(),
            }),
            source,
        })
    }

    /// Our public key (`age1…`), for operators who want to encrypt to us.
    pub fn public_key(&self) -> String {
        self.read_keys().identity.to_public().to_string()
    }

    /// Where the identity was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Encrypts `plaintext` to every recipient; returns armored text.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, CryptoError> {
        let keys = self.read_keys();
        let recipients = keys.recipients.iter().map(|r| r as &dyn age::Recipient);
        let encryptor = age::Encryptor::with_recipients(recipients)
            .map_err(|e| CryptoError::Encrypt(e.into()))?;
        let mut out = Vec::with_capacity(plaintext.len() + 512);
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .map_err(|e| CryptoError::Encrypt(e.into()))?;
        let mut writer = encryptor
            .wrap_output(armor)
            .map_err(|e| CryptoError::Encrypt(e.into()))?;
        writer
            .write_all(plaintext.as_bytes())
            .map_err(|e| CryptoError::Encrypt(e.into()))?;
        writer
            .finish()
            .and_then(|armor| armor.finish())
            .map_err(|e| CryptoError::Encrypt(e.into()))?;
        String::from_utf8(out).map_err(|e| CryptoError::Encrypt(e.into()))
    }

    /// Decrypts armored text written by [`Crypto::encrypt`] (or the `age` CLI).
    pub fn decrypt(&self, armored: &str) -> Result<String, CryptoError> {
        let keys = self.read_keys();
        let mut result = age::decrypt(&keys.identity, armored.as_bytes());
        for old in &keys.previous {
            if result.is_ok() {
                break;
            }
            result = age::decrypt(old, armored.as_bytes());
        }
        let bytes = result.map_err(|e| CryptoError::Decrypt(e.into()))?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Decrypt("not UTF-8 text".into()))
    }

    /// A fresh identity (for key rotation), not yet written anywhere.
    pub fn generate(extra_recipients: &[String]) -> Result<Crypto, CryptoError> {
        Crypto::new(
            x25519::Identity::generate(),
            extra_recipients,
            PathBuf::from("(new)"),
        )
    }

    /// A 32-byte key for `purpose`, derived from the identity's secret (e.g. to key
    /// audit fingerprints so they cannot be reversed by trying every value). It
    /// changes when the identity is rotated.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"numhubd derive_key v1\0");
        h.update(purpose.as_bytes());
        h.update([0u8]);
        h.update(
            self.read_keys()
                .identity
                .to_string()
                .expose_secret()
                .as_bytes(),
        );
        h.finalize().into()
    }

    /// Writes this identity to `path` (0600, refusing to overwrite), in the standard
    /// key-file format the `age` CLI reads.
    pub fn write_identity_file(&self, path: &Path) -> Result<(), CryptoError> {
        write_key_file(path, &self.read_keys().identity)
    }
}

/// `identity.txt` + `.new` → `identity.txt.new`.
pub fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn identity_error(path: &Path, cause: impl Into<Cause>) -> CryptoError {
    CryptoError::Identity {
        path: path.display().to_string(),
        source: cause.into(),
    }
}

/// Creates a new identity file with mode 0600 (never wider, not even for a moment).
pub fn generate_identity_file(path: &Path) -> Result<(), CryptoError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| identity_error(path, e))?;
    }
    write_key_file(path, &x25519::Identity::generate())?;
    tracing::info!(path = %path.display(), "created a new age identity");
    Ok(())
}

fn write_key_file(path: &Path, identity: &x25519::Identity) -> Result<(), CryptoError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| identity_error(path, e))?;
    let text = format!(
        "# created: {}\n# public key: {}\n{}\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        identity.to_public(),
        identity.to_string().expose_secret()
    );
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| identity_error(path, e))
}

/// An identity readable by others is as good as leaked: refuse it, like ssh does.
fn check_permissions(path: &Path) -> Result<(), CryptoError> {
    let mode = std::fs::metadata(path)
        .map_err(|e| identity_error(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(identity_error(
            path,
            format!(
                "mode {:o} lets others read it; run chmod 600 {}",
                mode & 0o777,
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Reads the first `AGE-SECRET-KEY-1…` line of a standard key file.
fn read_identity(path: &Path) -> Result<x25519::Identity, CryptoError> {
    let text = std::fs::read_to_string(path).map_err(|e| identity_error(path, e))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .ok_or_else(|| identity_error(path, "no AGE-SECRET-KEY-1 line"))?;
    // The parse error could echo the key; say only that it is malformed.
    x25519::Identity::from_str(line).map_err(|_| identity_error(path, "malformed secret key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_armor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.txt");
        let c = Crypto::load(&path, &[]).expect("load");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = c.encrypt("s3cret-token").expect("encrypt");
        assert!(sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(!sealed.contains("s3cret-token"));
        assert_eq!(c.decrypt(&sealed).expect("decrypt"), "s3cret-token");
        // The same file loads again to the same key.
        let again = Crypto::load(&path, &[]).expect("reload");
        assert_eq!(again.decrypt(&sealed).expect("decrypt"), "s3cret-token");
    }

    #[test]
    fn extra_recipients_can_decrypt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let escrow = Crypto::generate(&[]).expect("escrow");
        let ours = Crypto::load(&dir.path().join("id.txt"), &[escrow.public_key()]).expect("load");
        let sealed = ours.encrypt("hello").expect("encrypt");
        assert_eq!(escrow.decrypt(&sealed).expect("escrow decrypts"), "hello");
        let stranger = Crypto::generate(&[]).expect("stranger");
        assert!(stranger.decrypt(&sealed).is_err());
    }

    #[test]
    fn a_world_readable_identity_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("id.txt");
        generate_identity_file(&path).expect("generate");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Crypto::load(&path, &[]).expect_err("refused");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_bad_recipient_is_named() {
        let err = Crypto::generate(&["age1nope".into()]).expect_err("bad");
        assert!(err.to_string().contains("age1nope"), "{err}");
    }

    #[test]
    fn errors_never_show_the_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("id.txt");
        std::fs::write(&path, "AGE-SECRET-KEY-1NOTAREALKEYBUTSECRETISH\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = Crypto::load(&path, &[]).expect_err("malformed");
        assert!(!err.to_string().contains("NOTAREALKEY"), "{err}");
    }
}
