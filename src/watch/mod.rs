//! The drop folder: operators put documents into per-entity type folders; each file
//! is taken through [`crate::intake`] once it is complete, registered with its upload
//! job, and moved to `.processed/` or `.failed/` (with the reason beside it).
//!
//! This file owns the task: the inotify watch (established before each scan, so
//! nothing arriving meanwhile is lost), the loop over its events, the bus events that
//! say an upload finished, and the periodic checks (folder gone or back, `.processed/`
//! purge). [`settle`] decides when a file is complete, [`place`] where it belongs,
//! `take` takes one file (a task each), [`outcome`] moves it, [`folders`] creates
//! the folders.

pub mod folders;
pub mod layout;
pub mod outcome;
pub mod place;
pub mod settle;
pub mod status;
mod take;

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::api::WatcherState;
use crate::db::entities::{self, DropTarget};
use crate::db::{documents, jobs, DbError, JobState, Store};
use crate::events::{Event, EventBus, Message};
use crate::intake::Spool;
use crate::shutdown::Shutdown;
use crate::sync::SyncHandle;
use outcome::Outcome;
pub use status::StatusHandle;
use take::{take_one, TakeEnv, TakeResult, Took, Tracked};

/// Files taken at once (each reads and copies a whole file).
const TAKES_AT_ONCE: usize = 2;
/// How often a missing or unwritable folder is looked at again.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How often uploads in flight are checked (in case a bus event was missed).
const RECONCILE_EVERY: Duration = Duration::from_secs(3);
/// How long after a new folder appeared it is scanned once more (notify has set its
/// watch by then).
const RESCAN_NEW_FOLDER_AFTER: Duration = Duration::from_millis(250);
/// How often old `.processed/` files are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Error)]
pub enum WatchError {
    #[error("{what} {path}: {reason}")]
    Io {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("inotify: {0}")]
    Notify(String),
    #[error("database: {0}")]
    Db(#[from] DbError),
}

/// `[drop]`, as the daemon resolved it.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub dir: PathBuf,
    pub settle: Duration,
    /// How long a file that is not whole by its format is waited for.
    pub incomplete_after: Duration,
    pub keep_processed: Duration,
    /// The operators' group (resolved gid).
    pub group: Option<u32>,
    pub max_file_bytes: u64,
}

/// What the watcher works with.
#[derive(Clone)]
pub struct WatchContext {
    pub store: Store,
    pub events: EventBus,
    pub spool: Spool,
    pub sync: SyncHandle,
}

/// Runs the drop folder's watcher until `shutdown` fires.
pub async fn run(
    ctx: WatchContext,
    opt: WatchOptions,
    status: StatusHandle,
    mut shutdown: Shutdown,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut bus = ctx.events.subscribe();
    status.update(|s| {
        s.state = WatcherState::Starting;
        s.dir = opt.dir.display().to_string();
    });
    let mut w = Watch {
        ctx,
        opt,
        status,
        targets: Arc::new(Vec::new()),
        pending: settle::Pending::default(),
        taking: HashSet::new(),
        tracked: HashMap::new(),
        notify: None,
        tx,
        takes: JoinSet::new(),
        permits: Arc::new(Semaphore::new(TAKES_AT_ONCE)),
        bus_open: true,
        retry: Vec::new(),
        rescan_later: Vec::new(),
    };
    w.refresh_targets().await;
    w.establish(true).await;
    let tick_ms = (w.opt.settle.as_millis() as u64 / 4).clamp(20, 100);
    let mut tick = tokio::time::interval(Duration::from_millis(tick_ms));
    let mut check = tokio::time::interval(CHECK_EVERY);
    let mut reconcile = tokio::time::interval(RECONCILE_EVERY);
    let mut purge = tokio::time::interval(PURGE_EVERY);
    for i in [&mut tick, &mut check, &mut reconcile, &mut purge] {
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = shutdown.recv() => break,
            Some(ev) = rx.recv() => w.on_notify(ev).await,
            Some(res) = w.takes.join_next(), if !w.takes.is_empty() => w.on_take(res),
            ev = bus.recv(), if w.bus_open => w.on_bus(ev).await,
            _ = tick.tick() => {
                w.rescan_due().await;
                w.start_ready();
            }
            _ = check.tick() => w.check_root().await,
            _ = reconcile.tick() => w.reconcile(None).await,
            _ = purge.tick() => w.purge().await,
        }
        w.show_backlog();
    }
    w.takes.abort_all();
    w.status.update(|s| s.state = WatcherState::Stopped);
}

struct Watch {
    ctx: WatchContext,
    opt: WatchOptions,
    status: StatusHandle,
    targets: Arc<Vec<DropTarget>>,
    pending: settle::Pending,
    taking: HashSet<PathBuf>,
    /// By document id.
    tracked: HashMap<String, Tracked>,
    /// The watch and the folder's (device, inode) it was set on.
    notify: Option<(notify::RecommendedWatcher, (u64, u64))>,
    tx: mpsc::UnboundedSender<notify::Result<notify::Event>>,
    takes: JoinSet<TakeResult>,
    permits: Arc<Semaphore>,
    bus_open: bool,
    /// Files whose take failed for numhubd's own reasons, tried again at the next
    /// folder check (not at once, so a full disk is not hammered).
    retry: Vec<PathBuf>,
    /// New folders to scan once more: notify sets the watch on a new folder only after
    /// it has reported the folder, so a file copied in at once can fall between.
    rescan_later: Vec<(Instant, PathBuf)>,
}

impl Watch {
    fn root(&self) -> &Path {
        &self.opt.dir
    }

    fn problem(&self, msg: String) {
        tracing::warn!(dir = %self.opt.dir.display(), "drop folder: {msg}");
        self.status.update(|s| s.last_error = Some(msg));
    }

    fn unavailable(&mut self, msg: String) {
        if self.notify.is_some()
            || self.status.get().map(|s| s.state) != Some(WatcherState::Unavailable)
        {
            tracing::error!(dir = %self.opt.dir.display(), "drop folder unavailable: {msg}");
        }
        self.notify = None;
        self.pending.clear();
        self.status.update(|s| {
            s.state = WatcherState::Unavailable;
            s.last_error = Some(msg);
        });
    }

    fn show_backlog(&self) {
        let n =
            (self.pending.len() + self.taking.len() + self.tracked.len() + self.retry.len()) as u64;
        if self.status.get().map(|s| s.backlog) != Some(n) {
            self.status.update(|s| s.backlog = n);
        }
    }

    async fn refresh_targets(&mut self) {
        match self.ctx.store.read(entities::drop_targets).await {
            Ok(t) => self.targets = Arc::new(t),
            Err(e) => self.problem(format!("listing entities: {e}")),
        }
    }

    /// Checks the folder, makes (and repairs) numhubd's folders, watches it, then
    /// scans (the watch comes first: a file arriving during the scan is seen by one or
    /// the other). Any step failing leaves the watcher `unavailable` with the reason,
    /// tried again at the next check.
    async fn establish(&mut self, at_start: bool) {
        let root = self.root().to_path_buf();
        let group = self.opt.group;
        if at_start && !root.exists() && root.parent().is_some_and(Path::is_dir) {
            if let Err(e) = folders::ensure_dir_all(&root, group) {
                return self.unavailable(format!("cannot create {}: {e}", root.display()));
            }
        }
        let id = match usable(&root) {
            Ok(id) => id,
            Err(msg) => return self.unavailable(msg),
        };
        if let Err(msg) = self.make_folders().await {
            return self.unavailable(msg);
        }
        let tx = self.tx.clone();
        let watcher = notify::RecommendedWatcher::new(
            move |ev| {
                let _ = tx.send(ev);
            },
            notify::Config::default().with_follow_symlinks(false),
        );
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => return self.unavailable(format!("cannot watch (inotify): {e}")),
        };
        if let Err(e) = watcher.watch(&root, RecursiveMode::Recursive) {
            return self.unavailable(format!("cannot watch {}: {e}", root.display()));
        }
        self.notify = Some((watcher, id));
        self.status.update(|s| {
            s.state = WatcherState::Watching;
            s.last_error = None;
        });
        tracing::info!(dir = %self.opt.dir.display(), "drop folder watched");
        self.rescan(self.root().to_path_buf()).await;
    }

    /// Repairs numhubd's folders, then makes `.processed/`, `.failed/` and every
    /// entity's folders: operators cannot drop into folders that are missing or not
    /// theirs to write, so a failure here is the watcher's, not one entity's.
    async fn make_folders(&self) -> Result<(), String> {
        let (root, group, targets) = (
            self.root().to_path_buf(),
            self.opt.group,
            self.targets.clone(),
        );
        let made = tokio::task::spawn_blocking(move || {
            let repaired = folders::repair(&root, group)?;
            folders::ensure_outboxes(&root, group)?;
            for t in targets.iter() {
                folders::ensure_entity(&root, t, group)?;
            }
            Ok::<_, std::io::Error>(repaired)
        })
        .await;
        match made {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(n)) => {
                tracing::info!(
                    folders = n,
                    "drop folder: gave numhubd's folders their mode and group back"
                );
                Ok(())
            }
            Ok(Err(e)) => Err(format!("cannot make its folders: {e}")),
            Err(e) => Err(format!("cannot make its folders: {e}")),
        }
    }

    /// Every file below `dir` (not following links, skipping dot-names) becomes
    /// pending as found by a scan.
    async fn rescan(&mut self, dir: PathBuf) {
        let found = tokio::task::spawn_blocking(move || walk(&dir))
            .await
            .unwrap_or_default();
        for path in found {
            if !self.taking.contains(&path) && !self.is_tracked(&path) {
                self.pending.scanned(&path);
            }
        }
    }

    fn is_tracked(&self, path: &Path) -> bool {
        self.tracked.values().any(|t| t.path == path)
    }

    /// New content at a tracked path is a new file: the earlier upload goes on, but
    /// this path is no longer moved when it finishes.
    fn untrack(&mut self, path: &Path) {
        self.tracked.retain(|_, t| t.path != path);
    }

    /// Whether a path is in the inbox (below the folder, no dot-name or temporary
    /// anywhere, so `.processed/` and `.failed/` are out).
    fn in_inbox(&self, path: &Path) -> bool {
        match path.strip_prefix(self.root()) {
            Ok(rel) => !rel.as_os_str().is_empty() && !rel.iter().any(place::ignored_name),
            Err(_) => false,
        }
    }

    async fn arrived(&mut self, path: &Path, complete: bool) {
        if !self.in_inbox(path) || self.taking.contains(path) {
            return;
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                self.rescan(path.to_path_buf()).await;
                self.rescan_later
                    .push((Instant::now() + RESCAN_NEW_FOLDER_AFTER, path.to_path_buf()));
            }
            // A link, FIFO, device, socket or hard link gets no close event: decided
            // (refused) once still.
            Ok(m) if !m.is_file() || m.nlink() > 1 => {
                self.untrack(path);
                self.pending.complete(path)
            }
            Ok(_) => {
                self.untrack(path);
                match complete {
                    true => self.pending.complete(path),
                    false => self.pending.writing(path),
                }
            }
            Err(_) => self.pending.forget(path),
        }
    }

    async fn on_notify(&mut self, ev: notify::Result<notify::Event>) {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                self.problem(format!("inotify: {e}; rescanning"));
                return self.rescan(self.root().to_path_buf()).await;
            }
        };
        if ev.need_rescan() {
            self.problem("inotify queue overflowed; rescanning".into());
            return self.rescan(self.root().to_path_buf()).await;
        }
        match ev.kind {
            EventKind::Create(_) => {
                for p in &ev.paths {
                    self.arrived(p, false).await;
                }
            }
            EventKind::Modify(ModifyKind::Data(_)) => {
                for p in &ev.paths {
                    if self.in_inbox(p) && !self.taking.contains(p) {
                        self.untrack(p);
                        self.pending.writing(p);
                    }
                }
            }
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                for p in &ev.paths {
                    self.arrived(p, true).await;
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
                for p in &ev.paths {
                    self.pending.forget(p);
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                for p in &ev.paths {
                    self.arrived(p, true).await;
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                if let [from, to] = &ev.paths[..] {
                    self.pending.forget(from);
                    self.arrived(to, true).await;
                }
            }
            EventKind::Modify(ModifyKind::Name(_)) => {
                for p in &ev.paths {
                    match p.exists() {
                        true => self.arrived(p, true).await,
                        false => self.pending.forget(p),
                    }
                }
            }
            _ => {}
        }
    }

    /// Scans again the new folders whose time has come.
    async fn rescan_due(&mut self) {
        let now = Instant::now();
        let (due, later) = std::mem::take(&mut self.rescan_later)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.rescan_later = later;
        for (_, dir) in due {
            self.rescan(dir).await;
        }
    }

    /// Starts a take for every file now ready.
    fn start_ready(&mut self) {
        if self.notify.is_none() {
            return;
        }
        for path in self.pending.ready(self.opt.settle) {
            self.taking.insert(path.clone());
            let env = TakeEnv {
                ctx: self.ctx.clone(),
                opt: self.opt.clone(),
                targets: self.targets.clone(),
                permits: self.permits.clone(),
            };
            self.takes.spawn(take_one(env, path));
        }
    }

    fn on_take(&mut self, res: Result<TakeResult, tokio::task::JoinError>) {
        let res = match res {
            Ok(r) => r,
            Err(e) => return self.problem(format!("a take failed: {e}")),
        };
        self.taking.remove(&res.path);
        if let Some(e) = res.error {
            self.problem(e);
        }
        match res.took {
            Took::Finished => {}
            Took::Track(id, t) => {
                self.tracked.insert(id, *t);
            }
            Took::Wait(until) => self.pending.defer(&res.path, until),
            Took::Retry(e) => {
                self.problem(format!(
                    "{}: {e}; will try again",
                    outcome::shown(&res.path)
                ));
                self.retry.push(res.path);
            }
        }
    }

    async fn on_bus(&mut self, ev: Result<Message, broadcast::error::RecvError>) {
        match ev {
            Ok(Message::Event(Event::JobFinished { job_id, .. })) => {
                let job = self
                    .ctx
                    .store
                    .read(move |sql| jobs::get_any(sql, job_id))
                    .await;
                if let Ok(Some(doc)) = job.map(|j| j.document_id) {
                    if self.tracked.contains_key(&doc) {
                        self.reconcile(Some(vec![doc])).await;
                    }
                }
            }
            Ok(Message::Event(Event::DocumentStatusChanged { document_id, .. })) => {
                if self.tracked.contains_key(&document_id) {
                    self.reconcile(Some(vec![document_id])).await;
                }
            }
            Ok(Message::Event(Event::EntityStatusChanged {
                entity_id,
                numhub_entity_id,
                ..
            })) => {
                // Status changes of known entities are frequent (every poll that moves
                // one) and change nothing here; a new entity or a new NumHub id does.
                let known = self
                    .targets
                    .iter()
                    .any(|t| t.entity_id == entity_id && t.numhub_entity_id == numhub_entity_id);
                if known {
                    return;
                }
                self.refresh_targets().await;
                if self.notify.is_none() {
                    return;
                }
                let Some(t) = self
                    .targets
                    .iter()
                    .find(|t| t.entity_id == entity_id)
                    .cloned()
                else {
                    return;
                };
                let (root, group) = (self.root().to_path_buf(), self.opt.group);
                let made =
                    tokio::task::spawn_blocking(move || folders::ensure_entity(&root, &t, group))
                        .await;
                if let Ok(Err(e)) = made {
                    self.problem(format!("creating the folders of entity {entity_id}: {e}"));
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                self.refresh_targets().await;
                self.reconcile(None).await;
            }
            Err(broadcast::error::RecvError::Closed) => self.bus_open = false,
        }
    }

    /// Moves the files whose upload finished (of `only`, or of every tracked file).
    async fn reconcile(&mut self, only: Option<Vec<String>>) {
        let ids = only.unwrap_or_else(|| self.tracked.keys().cloned().collect());
        if ids.is_empty() {
            return;
        }
        let states = self
            .ctx
            .store
            .read(move |sql| {
                ids.into_iter()
                    .map(|id| Ok((documents::upload_state(sql, &id)?, id)))
                    .collect::<Result<Vec<_>, DbError>>()
            })
            .await;
        let states = match states {
            Ok(s) => s,
            Err(e) => return self.problem(format!("reading upload states: {e}")),
        };
        for (state, id) in states {
            let finished = match state {
                Some((_, JobState::Done, _)) => Ok(()),
                Some((job, JobState::Dead, e)) => {
                    Err((job, e.unwrap_or_else(|| "no reason given".into())))
                }
                _ => continue,
            };
            let Some(t) = self.tracked.remove(&id) else {
                continue;
            };
            if let Err(e) = self.leave_inbox(&id, &t, finished).await {
                // Kept: tried again at the next reconcile, and counted in the backlog.
                self.problem(format!("{e}; will try again"));
                self.tracked.insert(id, t);
            }
        }
    }

    /// Records that the file leaves the inbox, then moves it to `.processed/` or (its
    /// upload dead) `.failed/` with the reason, and logs its outcome.
    async fn leave_inbox(
        &self,
        id: &str,
        t: &Tracked,
        finished: Result<(), (i64, String)>,
    ) -> Result<(), String> {
        let doc = id.to_string();
        self.ctx
            .store
            .write(move |tx| documents::mark_left_inbox(tx, &doc))
            .await
            .map_err(|e| {
                format!(
                    "recording that {} left the inbox: {e}",
                    outcome::shown(&t.path)
                )
            })?;
        let (root, group, t) = (self.root().to_path_buf(), self.opt.group, t.clone());
        tokio::task::spawn_blocking(move || {
            // Gone already (an earlier try moved it and then failed on its note, or the
            // operator took it away): nothing left to move.
            let here = std::fs::symlink_metadata(&t.path).is_ok();
            let moved = match &finished {
                _ if !here => Ok(t.path.clone()),
                Ok(()) => outcome::to_processed(&root, &t.path, &t.place, group, None),
                Err((job, e)) => outcome::to_failed(&root, &t.path, &dead_reason(*job, e), group),
            };
            moved.map_err(|e| format!("moving {}: {e}", outcome::shown(&t.path)))?;
            let o = match finished {
                Ok(()) => Outcome::Uploaded,
                Err((_, e)) => Outcome::Failed(e),
            };
            outcome::log(&t.facts, &o);
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Every 2 s: the folder gone, replaced or unwritable stops the watch; back, it is
    /// watched again and rescanned.
    async fn check_root(&mut self) {
        for path in std::mem::take(&mut self.retry) {
            self.pending.scanned(&path);
        }
        match (usable(self.root()), &self.notify) {
            (Ok(id), Some((_, watched))) if id == *watched => {}
            (Ok(_), Some(_)) => {
                // Re-created under the same name: the old watch sees nothing.
                self.notify = None;
                self.establish(false).await;
            }
            (Ok(_), None) => self.establish(false).await,
            (Err(msg), _) => self.unavailable(msg),
        }
    }

    async fn purge(&mut self) {
        let (root, keep) = (self.root().to_path_buf(), self.opt.keep_processed);
        match tokio::task::spawn_blocking(move || folders::purge_processed(&root, keep)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(files = n, "deleted old files from .processed/"),
            Ok(Err(e)) => self.problem(format!("purging .processed/: {e}")),
            Err(e) => self.problem(e.to_string()),
        }
    }
}

/// The folder's (device, inode) if it is a folder numhubd can write, else why not.
fn usable(root: &Path) -> Result<(u64, u64), String> {
    let m = std::fs::metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    if !m.is_dir() {
        return Err(format!("{} is not a folder", root.display()));
    }
    let c = std::ffi::CString::new(root.as_os_str().as_bytes())
        .map_err(|_| format!("{}: bad path", root.display()))?;
    // SAFETY: access(2) with a NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(format!(
            "{} cannot be written by numhubd: {}",
            root.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok((m.dev(), m.ino()))
}

/// Every non-folder below `dir`, not following links, skipping dot-names.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if place::ignored_name(&e.file_name()) {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() && depth < 8 => stack.push((e.path(), depth + 1)),
                Ok(t) if t.is_dir() => {}
                _ => out.push(e.path()),
            }
        }
    }
    out
}

fn dead_reason(job: i64, job_error: &str) -> String {
    format!(
        "the upload to NumHub failed and will not be retried on its own (job {job}). \
         NumHub or the connection said: {job_error}. Once that is fixed, retry it with \
         `numhubctl jobs retry {job}` (numhubd sends its own copy of the file), or drop \
         the file again"
    )
}
