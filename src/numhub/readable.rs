//! At start: whether this host's age identity opens every secret the store holds
//! (tokens, tenants' credentials, login blocks).
//!
//! Hosts sharing a store share its secrets, and a SQLite file may be restored next
//! to another identity. A daemon that cannot read them would fail every login and
//! then write its own secrets over the ones the other hosts can read; so it refuses
//! to start instead, naming the row and what to do, and writes nothing.

use crate::crypto::Crypto;
use crate::db::{self, Store};

use super::NumhubError;

/// Every age-armored row the store holds: tokens (id, access, refresh), credentials,
/// login blocks.
pub(super) type Secrets = (
    Vec<(i64, String, Option<String>)>,
    Vec<db::credentials::StoredCredentials>,
    Vec<db::login_blocks::LoginBlock>,
);

/// Reads them in one snapshot (the start's check, key rotation).
pub(super) async fn stored_secrets(store: &Store) -> Result<Secrets, NumhubError> {
    Ok(store
        .read(|sql| {
            Ok((
                db::tokens::all(sql)?,
                db::credentials::all(sql)?,
                db::login_blocks::all(sql)?,
            ))
        })
        .await?)
}

/// The first stored secret `crypto` cannot decrypt, as an error; Ok when all open
/// (or there are none).
pub async fn check_readable(store: &Store, crypto: &Crypto) -> Result<(), NumhubError> {
    let (tokens, creds, blocks) = stored_secrets(store).await?;
    let unreadable = |what: String, armored: &str| match crypto.decrypt(armored) {
        Ok(_) => Ok(()),
        Err(e) => Err(NumhubError::ForeignIdentity {
            what,
            public_key: crypto.public_key(),
            identity: crypto.source().display().to_string(),
            reason: e.to_string(),
        }),
    };
    for (id, access, refresh) in &tokens {
        unreadable(format!("numhub_tokens row {id} (a NumHub token)"), access)?;
        if let Some(r) = refresh {
            unreadable(format!("numhub_tokens row {id} (its refresh token)"), r)?;
        }
    }
    for c in &creds {
        let what = format!("numhub_credentials of tenant {}", c.tenant_id);
        unreadable(what.clone(), &c.email_armored)?;
        unreadable(what, &c.password_armored)?;
    }
    for b in &blocks {
        let what = format!(
            "numhub_login_blocks row {} (rejected credentials)",
            b.account
        );
        unreadable(what, &b.credentials_armored)?;
    }
    Ok(())
}
