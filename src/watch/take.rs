//! One file's take, as a task of its own (at most two at once): placed by its path,
//! read through `intake` into the spool, registered with its upload job in one
//! transaction (or recognised as registered before, or as a duplicate), or refused
//! into `.failed/`. The loop in `mod.rs` gets back what to follow up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::outcome::{self, shown, FileFacts, Outcome};
use super::place::{self, Misplaced, Place, Placed};
use super::{WatchContext, WatchOptions};
use crate::db::entities::{self, DropTarget};
use crate::db::{documents, DocumentSource};
use crate::events::Event;
use crate::intake::{self, IntakeError};

/// A file registered and waiting for its upload to finish before it leaves the inbox.
#[derive(Debug, Clone)]
pub(super) struct Tracked {
    pub(super) path: PathBuf,
    pub(super) place: Place,
    pub(super) facts: FileFacts,
}

/// How a take ended, for the loop.
pub(super) enum Took {
    Finished,
    Track(String, Box<Tracked>),
    /// Not the file's fault (the database): try it again later.
    Retry(String),
    /// Not finished yet: look again at this instant (or once it changes).
    Wait(Instant),
}

pub(super) struct TakeResult {
    pub(super) path: PathBuf,
    pub(super) took: Took,
    pub(super) error: Option<String>,
}

/// What a take needs, cloned into its task.
#[derive(Clone)]
pub(super) struct TakeEnv {
    pub(super) ctx: WatchContext,
    pub(super) opt: WatchOptions,
    pub(super) targets: Arc<Vec<DropTarget>>,
    pub(super) permits: Arc<Semaphore>,
}

fn refusal(e: &IntakeError) -> String {
    match e {
        IntakeError::Symlink => {
            "this file is a symbolic link, or is reached through one, which numhubd never follows: copy the file itself into the folder".into()
        }
        e => format!("this file {e}"),
    }
}

/// Places, takes and registers one file, then moves it if it is decided already.
pub(super) async fn take_one(env: TakeEnv, path: PathBuf) -> TakeResult {
    let _permit = env.permits.clone().acquire_owned().await;
    // Each step either hands on what it made or ends the take with its result.
    match take(&env, &path).await {
        Ok(result) | Err(result) => result,
    }
}

/// The take's steps: place, read into the spool, share, register, follow up.
async fn take(env: &TakeEnv, path: &Path) -> Result<TakeResult, TakeResult> {
    let mut facts = FileFacts {
        path: path.to_path_buf(),
        ..FileFacts::default()
    };
    let place = placed(env, path, &facts).await?;
    facts.tenant_id = Some(place.tenant_id);
    facts.entity_id = Some(place.entity_id.clone());
    facts.document_type = Some(place.document_type.to_string());
    let taken = read_in(env, path, &place, &facts).await?;
    facts.size = Some(taken.size_bytes);
    facts.sha256 = Some(taken.sha256.clone());
    // Into a server store before the job is queued: any host may send it, and it
    // outlives this host. The database failing is not the file's fault.
    if let Err(e) = env.ctx.spool.share(&taken.sha256).await {
        return Err(done(path, Took::Retry(e.to_string())));
    }
    let reg = register(env, &place, taken).await;
    Ok(follow_up(env, path, place, facts, reg).await)
}

fn done(path: &Path, took: Took) -> TakeResult {
    TakeResult {
        path: path.to_path_buf(),
        took,
        error: None,
    }
}

/// Where the file belongs (tenant, entity, document type), by its path; a file in
/// no place of ours is ignored or refused.
async fn placed(env: &TakeEnv, path: &Path, facts: &FileFacts) -> Result<Place, TakeResult> {
    let root = &env.opt.dir;
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let mut placed = place::place(root, path, &env.targets);
    if matches!(
        placed,
        Placed::Refused(Misplaced::UnknownTenant(_) | Misplaced::UnknownEntity(_))
    ) {
        // The entity may be newer than our list.
        if let Ok(t) = env.ctx.store.read(entities::drop_targets).await {
            placed = place::place(root, path, &t);
        }
    }
    match placed {
        Placed::Ignored => Err(done(path, Took::Finished)),
        Placed::Refused(m) if !is_link => {
            Err(refuse(env, path, facts.clone(), m.to_string()).await)
        }
        Placed::Refused(_) => {
            let why = refusal(&IntakeError::Symlink);
            Err(refuse(env, path, facts.clone(), why).await)
        }
        Placed::File(p) => Ok(p),
    }
}

/// The file read through `intake` into the spool (off the async threads). A file
/// still being written is looked at again; one cut short for good is refused.
async fn read_in(
    env: &TakeEnv,
    path: &Path,
    place: &Place,
    facts: &FileFacts,
) -> Result<intake::Taken, TakeResult> {
    let (spool, max, p2, t) = (
        env.ctx.spool.clone(),
        env.opt.max_file_bytes,
        path.to_path_buf(),
        place.document_type,
    );
    let dirs = [env.opt.dir.clone()];
    let taken = tokio::task::spawn_blocking(move || {
        let file = intake::open_within(&dirs, &p2)?;
        intake::take(file, &p2, t, max, &spool, intake::Whole::Required)
    })
    .await;
    let refused = match taken {
        Ok(Ok(t)) => return Ok(t),
        // numhubd's own spool failing (a full disk) is not the file's fault.
        Ok(Err(IntakeError::Spool(e))) => return Err(done(path, Took::Retry(e))),
        Ok(Err(IntakeError::ChangedWhileRead)) => {
            return Err(done(path, Took::Wait(Instant::now() + env.opt.settle)))
        }
        Ok(Err(IntakeError::Incomplete(why))) => match incomplete(env, path, &why) {
            Ok(wait) => return Err(done(path, wait)),
            Err(refused) => refused,
        },
        Ok(Err(e)) => refusal(&e),
        Err(e) => return Err(done(path, Took::Retry(e.to_string()))),
    };
    Err(refuse(env, path, facts.clone(), refused).await)
}

/// An incomplete file: waited for until it has not changed for
/// `incomplete_after`, then refused with this reason.
fn incomplete(env: &TakeEnv, path: &Path, why: &str) -> Result<Took, String> {
    let still = unchanged_for(path);
    if still < env.opt.incomplete_after {
        tracing::debug!(path = %shown(path), reason = why, "drop folder: waiting for the rest of the file");
        return Ok(Took::Wait(
            Instant::now() + (env.opt.incomplete_after - still),
        ));
    }
    Err(format!(
        "this file is not complete: {why}, and it has not changed for {} s, so it \
         was cut short (a copy or a download that stopped). Save or copy it whole, \
         then drop it again",
        still.as_secs()
    ))
}

/// What the registration found.
enum Reg {
    /// This very file was registered before (a restart): its document id.
    Earlier(String),
    /// The same content was registered for the entity and type before.
    Duplicate(documents::Earlier),
    New(documents::Document),
}

/// Registers the document and its upload job in one transaction, unless it was
/// registered before.
async fn register(
    env: &TakeEnv,
    place: &Place,
    taken: intake::Taken,
) -> Result<Reg, crate::db::DbError> {
    let (tenant_id, entity_id, document_type) = (
        place.tenant_id,
        place.entity_id.clone(),
        place.document_type,
    );
    let source_path = taken.path.display().to_string();
    let sha = taken.sha256.clone();
    env.ctx
        .store
        .write(move |tx| {
            if let Some(id) = documents::find_dropped(tx, &source_path, &sha)? {
                return Ok(Reg::Earlier(id));
            }
            if let Some(e) =
                documents::find_same_content(tx, tenant_id, &entity_id, document_type, &sha)?
            {
                return Ok(Reg::Duplicate(e));
            }
            let (doc, _) = documents::register_upload(
                tx,
                documents::NewUpload {
                    tenant_id,
                    entity_id: entity_id.clone(),
                    document_type,
                    local: taken.local_document(tenant_id, DocumentSource::DropFolder),
                    description: None,
                },
            )?;
            Ok(Reg::New(doc))
        })
        .await
}

/// After registration: a new upload is announced and followed; one registered
/// before is followed again; a duplicate leaves the inbox at once.
async fn follow_up(
    env: &TakeEnv,
    path: &Path,
    place: Place,
    facts: FileFacts,
    reg: Result<Reg, crate::db::DbError>,
) -> TakeResult {
    let track = |id: String, facts: FileFacts| {
        let tracked = Tracked {
            path: path.to_path_buf(),
            place: place.clone(),
            facts,
        };
        done(path, Took::Track(id, Box::new(tracked)))
    };
    match reg {
        Err(e) => done(path, Took::Retry(e.to_string())),
        Ok(Reg::New(doc)) => {
            env.ctx
                .events
                .publish(Event::document_changed(place.tenant_id, &doc));
            env.ctx.sync.kick_outbox();
            outcome::log(&facts, &Outcome::Taken);
            track(doc.id, facts)
        }
        Ok(Reg::Earlier(id)) => {
            // Left from before a restart: followed up by the loop's next reconcile,
            // which moves it if its upload has finished meanwhile. Its job sends its
            // own copy (or has sent it): this take's is not needed.
            drop_unneeded_copy(env, facts.sha256.clone()).await;
            outcome::log(&facts, &Outcome::Resumed);
            track(id, facts)
        }
        Ok(Reg::Duplicate(e)) => duplicate(env, path, &place, facts, e).await,
    }
}

/// The same content was registered for the entity and type before: the file goes to
/// `.processed/` with a note naming the earlier document, and nothing is sent.
async fn duplicate(
    env: &TakeEnv,
    path: &Path,
    place: &Place,
    facts: FileFacts,
    earlier: documents::Earlier,
) -> TakeResult {
    let why = format!(
        "numhubd did not upload this file again: the same content (SHA-256 {}) was already \
         registered for this entity as {} document {} (file {:?}, registered {}).",
        facts.sha256.as_deref().unwrap_or(""),
        place.document_type,
        earlier.document_id,
        earlier.filename,
        earlier.created_at
    );
    drop_unneeded_copy(env, facts.sha256.clone()).await;
    let (root, group, p, pl, note) = (
        env.opt.dir.clone(),
        env.opt.group,
        path.to_path_buf(),
        place.clone(),
        format!("{why}\n"),
    );
    let moved = tokio::task::spawn_blocking(move || {
        outcome::to_processed(&root, &p, &pl, group, Some(&note))
    })
    .await;
    settled(env, path, facts, Outcome::Duplicate, Some(why), moved)
}

/// After the move out of the inbox: the file's log line and event once it moved; a
/// move that failed (a full disk) is tried again at the next check, and told then.
fn settled(
    env: &TakeEnv,
    path: &Path,
    facts: FileFacts,
    o: Outcome,
    reason: Option<String>,
    moved: Result<std::io::Result<PathBuf>, tokio::task::JoinError>,
) -> TakeResult {
    let took = match moved {
        Ok(Ok(_)) => {
            tell(env, &facts, &o, reason);
            Took::Finished
        }
        Ok(Err(e)) => Took::Retry(format!("moving it out of the inbox ({}): {e}", o.as_str())),
        Err(e) => Took::Retry(e.to_string()),
    };
    TakeResult {
        path: path.to_path_buf(),
        took,
        error: None,
    }
}

/// The take copied the file into the spool; an earlier registration already had it
/// sent (or sends its own copy): remove it unless an upload may still need it.
async fn drop_unneeded_copy(env: &TakeEnv, sha: Option<String>) {
    let Some(sha) = sha else { return };
    let s = sha.clone();
    let needed = env
        .ctx
        .store
        .read(move |sql| documents::spool_copy_needed(sql, &s))
        .await;
    if let Ok(false) = needed {
        if let Err(e) = env.ctx.spool.remove(&sha) {
            tracing::warn!(sha256 = sha, error = %e, "drop folder: removing an unneeded spool copy");
        }
    }
}

/// The file's one log line and, for a file that did not become an upload, the
/// `document.dropped` event (`documents --follow` shows it).
fn tell(env: &TakeEnv, facts: &FileFacts, o: &Outcome, reason: Option<String>) {
    outcome::log(facts, o);
    let Some(outcome) = o.dropped() else { return };
    env.ctx.events.publish(Event::DocumentDropped {
        tenant_id: facts.tenant_id,
        entity_id: facts.entity_id.clone(),
        file: shown(&super::place::relative(&env.opt.dir, &facts.path)),
        outcome,
        reason,
    });
}

/// How long since the file's content last changed (its mtime).
fn unchanged_for(path: &Path) -> Duration {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default()
}

/// Moves a refused file to `.failed/` with its reason; nothing reaches NumHub.
async fn refuse(env: &TakeEnv, path: &Path, facts: FileFacts, why: String) -> TakeResult {
    let (root, group, p, w) = (
        env.opt.dir.clone(),
        env.opt.group,
        path.to_path_buf(),
        why.clone(),
    );
    let moved = tokio::task::spawn_blocking(move || outcome::to_failed(&root, &p, &w, group)).await;
    settled(
        env,
        path,
        facts,
        Outcome::Refused(why.clone()),
        Some(why),
        moved,
    )
}
