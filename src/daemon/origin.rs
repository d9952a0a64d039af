//! Which NumHub a database may be used with. The database records its NumHub
//! (`db::origin`) before its first exchange; before anything is opened for writing,
//! `serve --sandbox` refuses a database that has talked to a real NumHub, so queued
//! work of a real tenant can never be "sent" to the fake, and a real `serve` refuses
//! a sandbox's database or another NumHub's.

use crate::config::Config;
use crate::db::origin::{self, FileOrigin, NumhubOrigin};
use crate::db::Location;

use super::DaemonError;

/// Refuses `config`'s database for this run (`sandbox`: `serve --sandbox`) when it
/// belongs to another NumHub. Reads the file read-only: a refusal changes nothing.
pub fn check(config: &Config, location: &Location, sandbox: bool) -> Result<(), DaemonError> {
    let found = origin::look(location)?;
    let path = location.shown();
    if sandbox {
        return match found {
            FileOrigin::Untouched | FileOrigin::Recorded(NumhubOrigin::Sandbox) => Ok(()),
            FileOrigin::Recorded(other) => Err(refuse_for_sandbox(&path, &other.to_string())),
            FileOrigin::Unrecorded { what } => Err(refuse_for_sandbox(
                &path,
                &format!("a NumHub (it holds {what} from before origins were recorded)"),
            )),
        };
    }
    let Some(url) = &config.numhub.base_url else {
        // Nothing is sent anywhere: there is no NumHub to mix up.
        return Ok(());
    };
    let wanted = url.as_str();
    match found {
        FileOrigin::Recorded(NumhubOrigin::Sandbox) => Err(DaemonError::WrongNumhub(format!(
            "database {path} was used with the embedded sandbox (serve --sandbox); refusing to use it with NumHub at {wanted}: its rows hold the sandbox's ids. Give NumHub a new database ([database] path)"
        ))),
        FileOrigin::Recorded(NumhubOrigin::Url(recorded)) if recorded != wanted => {
            Err(DaemonError::WrongNumhub(format!(
                "database {path} talks to NumHub at {recorded}, but [numhub] base_url is {wanted}: refusing to mix two NumHubs' data. If NumHub moved, stop the daemon and run `numhubd adopt-origin` with this config"
            )))
        }
        // The same NumHub; or never used (the first exchange records this URL); or
        // from before origins were recorded (assumed to be this URL's, then recorded).
        _ => Ok(()),
    }
}

fn refuse_for_sandbox(path: &str, origin: &str) -> DaemonError {
    DaemonError::WrongNumhub(format!(
        "database {path} has talked to {origin}; serve --sandbox refuses it so that its queued work never goes to the sandbox: give --sandbox a database of its own ([database] path or url, or NUMHUBD_DATABASE_PATH)"
    ))
}

/// `numhubd adopt-origin`: records the configured base URL as the database's NumHub
/// (NumHub moved to a new address). A sandbox database never becomes a real one.
pub async fn adopt(store: &crate::db::Store, config: &Config) -> Result<String, DaemonError> {
    let Some(url) = config.numhub.base_url.as_ref().map(|u| u.to_string()) else {
        return Err(DaemonError::WrongNumhub(
            "[numhub] base_url is not set: nothing to adopt".into(),
        ));
    };
    let path = store.location().shown();
    let adopted = url.clone();
    let before = store
        .write(move |tx| {
            let before = origin::get(tx)?;
            if before != Some(NumhubOrigin::Sandbox) {
                origin::set_url(tx, &adopted)?;
            }
            Ok(before)
        })
        .await?;
    match before {
        Some(NumhubOrigin::Sandbox) => Err(DaemonError::WrongNumhub(format!(
            "database {path} belongs to the embedded sandbox: it cannot be adopted by NumHub at {url} (give NumHub a new database)"
        ))),
        Some(NumhubOrigin::Url(old)) => Ok(format!("was {old}, now {url}")),
        None => Ok(format!("now {url}")),
    }
}
