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
    let done = |took, error| TakeResult {
        path: path.clone(),
        took,
        error,
    };
    let root = env.opt.dir.clone();
    let mut facts = FileFacts {
        path: path.clone(),
        ..FileFacts::default()
    };
    let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
    let mut placed = place::place(&root, &path, &env.targets);
    if matches!(
        placed,
        Placed::Refused(Misplaced::UnknownTenant(_) | Misplaced::UnknownEntity(_))
    ) {
        // The entity may be newer than our list.
        if let Ok(t) = env.ctx.store.read(entities::drop_targets).await {
            placed = place::place(&root, &path, &t);
        }
    }
    let place = match placed {
        Placed::Ignored => return done(Took::Finished, None),
        Placed::Refused(m) if !is_link => {
            let why = m.to_string();
            return refuse(&env, &path, facts, why).await;
        }
        Placed::Refused(_) => {
            return refuse(&env, &path, facts, refusal(&IntakeError::Symlink)).await;
        }
        Placed::File(p) => p,
    };
    facts.tenant_id = Some(place.tenant_id);
    facts.entity_id = Some(place.entity_id.clone());
    facts.document_type = Some(place.document_type.to_string());
    let (spool, max, p2, t) = (
        env.ctx.spool.clone(),
        env.opt.max_file_bytes,
        path.clone(),
        place.document_type,
    );
    let dirs = [root.clone()];
    let taken = tokio::task::spawn_blocking(move || {
        let file = intake::open_within(&dirs, &p2)?;
        intake::take(file, &p2, t, max, &spool, intake::Whole::Required)
    })
    .await;
    let taken = match taken {
        Ok(Ok(t)) => t,
        // numhubd's own spool failing (a full disk) is not the file's fault.
        Ok(Err(IntakeError::Spool(e))) => return done(Took::Retry(e), None),
        Ok(Err(IntakeError::ChangedWhileRead)) => {
            return done(Took::Wait(Instant::now() + env.opt.settle), None)
        }
        Ok(Err(IntakeError::Incomplete(why))) => {
            let still = unchanged_for(&path);
            if still < env.opt.incomplete_after {
                tracing::debug!(path = %shown(&path), reason = why, "drop folder: waiting for the rest of the file");
                return done(
                    Took::Wait(Instant::now() + (env.opt.incomplete_after - still)),
                    None,
                );
            }
            let why = format!(
                "this file is not complete: {why}, and it has not changed for {} s, so it \
                 was cut short (a copy or a download that stopped). Save or copy it whole, \
                 then drop it again",
                still.as_secs()
            );
            return refuse(&env, &path, facts, why).await;
        }
        Ok(Err(e)) => return refuse(&env, &path, facts, refusal(&e)).await,
        Err(e) => return done(Took::Retry(e.to_string()), None),
    };
    facts.size = Some(taken.size_bytes);
    facts.sha256 = Some(taken.sha256.clone());
    // Into a server store before the job is queued: any host may send it, and it
    // outlives this host. The database failing is not the file's fault.
    if let Err(e) = env.ctx.spool.share(&taken.sha256).await {
        return done(Took::Retry(e.to_string()), None);
    }
    enum Reg {
        Earlier(String),
        Duplicate(documents::Earlier),
        New(documents::Document),
    }
    let (tenant_id, entity_id, document_type) = (
        place.tenant_id,
        place.entity_id.clone(),
        place.document_type,
    );
    let source_path = taken.path.display().to_string();
    let sha = taken.sha256.clone();
    let reg = env
        .ctx
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
        .await;
    let tracked = |facts: FileFacts| Tracked {
        path: path.clone(),
        place: place.clone(),
        facts,
    };
    match reg {
        Err(e) => done(Took::Retry(e.to_string()), None),
        Ok(Reg::New(doc)) => {
            env.ctx.events.publish(Event::DocumentStatusChanged {
                tenant_id,
                document_id: doc.id.clone(),
                entity_id: doc.entity_id.clone(),
                status: doc.status.to_string(),
            });
            env.ctx.sync.kick_outbox();
            outcome::log(&facts, &Outcome::Taken);
            done(Took::Track(doc.id, Box::new(tracked(facts))), None)
        }
        Ok(Reg::Earlier(id)) => {
            // Left from before a restart: followed up by the loop's next reconcile,
            // which moves it if its upload has finished meanwhile. Its job sends its
            // own copy (or has sent it): this take's is not needed.
            drop_unneeded_copy(&env, facts.sha256.clone()).await;
            outcome::log(&facts, &Outcome::Resumed);
            done(Took::Track(id, Box::new(tracked(facts))), None)
        }
        Ok(Reg::Duplicate(e)) => duplicate(&env, &path, &place, facts, e).await,
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
    env.ctx.events.publish(Event::DocumentDropped {
        tenant_id: facts.tenant_id,
        entity_id: facts.entity_id.clone(),
        file: shown(&super::place::relative(&env.opt.dir, &facts.path)),
        outcome: o.as_str().to_string(),
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
