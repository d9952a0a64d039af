//! Which node leads, when several daemons share one server store: the lease loop
//! ([`run`]), the [`Leadership`] it publishes, and [`while_leading`], which runs the
//! leader's tasks (the outbox, the poller) for each term this node holds.
//!
//! The lease is a row timed by the database server's clock (`db::cluster`); taking it
//! raises the epoch. A leader renews it every third of `lease`; it counts its term
//! valid only until a fifth of `lease` before the expiry its last renewal set —
//! measured from when that renewal was sent, on its own monotonic clock — so a leader
//! that cannot renew in time (a stall, a cut connection) stops starting NumHub
//! requests (`numhub::Client::gated`) before any other node may take the lease. Its
//! writes are fenced to its epoch (`db::Store::fenced`): one paused past its term
//! commits nothing when it wakes. A new leader treats the old epoch's running creates
//! and uploads as possibly sent (`Term::resend_after`).
//!
//! On SQLite there is one daemon: [`Leadership::sole`] is a term that never ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::db::{self, cluster, Store};
use crate::shutdown::{self, Shutdown};

/// One term of this node's leadership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub epoch: i64,
    /// Until when this node may start NumHub requests (None: forever, on SQLite).
    valid_until: Option<Instant>,
    /// How long after the term began the previous leader's creates and uploads may
    /// still be in flight: until its lease's end plus a request's timeout.
    pub resend_after: Duration,
}

impl Term {
    fn holds(&self, now: Instant) -> bool {
        self.valid_until.is_none_or(|until| now < until)
    }
}

/// This node's leadership as the lease loop last saw it. Cheap to clone.
#[derive(Clone)]
pub struct Leadership {
    now: watch::Receiver<Option<Term>>,
    /// The sole daemon's term has no lease loop: kept here, its sender never closes.
    _sole: Option<Arc<watch::Sender<Option<Term>>>>,
}

impl Leadership {
    /// The only daemon on a SQLite file: leads from the start, forever, epoch 0.
    pub fn sole() -> Leadership {
        let (tx, now) = watch::channel(Some(Term {
            epoch: 0,
            valid_until: None,
            resend_after: Duration::ZERO,
        }));
        Leadership {
            now,
            _sole: Some(Arc::new(tx)),
        }
    }

    /// The term in force, if this node leads now.
    pub fn term(&self) -> Option<Term> {
        (*self.now.borrow()).filter(|t| t.holds(Instant::now()))
    }

    /// Whether `epoch` is this node's term, and valid, right now.
    pub fn holds(&self, epoch: i64) -> bool {
        self.term().is_some_and(|t| t.epoch == epoch)
    }

    /// The gate a term's NumHub client asks before each request.
    pub fn gate(&self, epoch: i64) -> crate::numhub::Gate {
        let me = self.clone();
        Arc::new(move || me.holds(epoch))
    }
}

/// What the lease loop needs.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `[cluster] node`.
    pub node: String,
    /// `[cluster] lease_secs`.
    pub lease: Duration,
    /// `[numhub] request_timeout_secs`: how long an old leader's request may still run.
    pub request_timeout: Duration,
}

/// The lease loop's half of [`Leadership`].
pub struct Publisher(watch::Sender<Option<Term>>);

pub fn channel() -> (Publisher, Leadership) {
    let (tx, now) = watch::channel(None);
    (Publisher(tx), Leadership { now, _sole: None })
}

/// Takes, renews and keeps the lease until shutdown; publishes each change. Marks
/// this node seen at every round. The lease is not released here: the daemon does
/// that after the leader's tasks have drained ([`release`]).
pub async fn run(
    store: Store,
    options: ClusterOptions,
    publish: Publisher,
    mut shutdown: Shutdown,
) {
    let lease_ms = i64::try_from(options.lease.as_millis()).unwrap_or(i64::MAX);
    let mut term: Option<Term> = None;
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let sent = Instant::now();
        let valid_until = Some(sent + options.lease.mul_f64(0.8));
        term = match term {
            Some(t) => renew(&store, &options.node, t, lease_ms, valid_until, sent).await,
            None => take(&store, &options, lease_ms, valid_until).await,
        };
        publish.0.send_if_modified(|now| {
            let changed = *now != term;
            *now = term;
            changed
        });
        // A leader renews three times a lease; a follower (or a leader whose renewal
        // failed) tries five times.
        wait = match term {
            Some(t)
                if t.valid_until
                    .is_some_and(|u| u > Instant::now() + options.lease / 2) =>
            {
                options.lease / 3
            }
            _ => options.lease / 5,
        };
    }
}

async fn take(
    store: &Store,
    options: &ClusterOptions,
    lease_ms: i64,
    valid_until: Option<Instant>,
) -> Option<Term> {
    let me = cluster::Holder {
        node: options.node.clone(),
        host: Some(cluster::this_host()),
        pid: Some(i64::from(std::process::id())),
    };
    let taken = store
        .write(move |tx| {
            cluster::seen(tx, &me.node)?;
            cluster::take(tx, &me, lease_ms)
        })
        .await;
    match taken {
        Ok(Some(t)) => {
            tracing::info!(epoch = t.epoch, node = %options.node, "leading the cluster");
            Some(Term {
                epoch: t.epoch,
                valid_until,
                resend_after: resend_after(&t, options.request_timeout),
            })
        }
        Ok(None) => None,
        Err(e) => {
            tracing::debug!(error = %e, "could not look at the cluster's lease");
            None
        }
    }
}

/// How long the old epoch's creates and uploads wait before they are looked up: until
/// the old lease's end plus a request's timeout, when whatever the old leader sent has
/// landed or died. No wait when the old leader was this node's previous process on
/// this host and that process is gone: its requests died with it (a restart, as on
/// SQLite).
fn resend_after(taken: &cluster::Taken, request_timeout: Duration) -> Duration {
    let gone = taken.previous.as_ref().is_some_and(|p| {
        p.host.as_deref() == Some(cluster::this_host().as_str())
            && p.pid.is_some_and(|pid| {
                pid != i64::from(std::process::id())
                    && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            })
    });
    if gone {
        return Duration::ZERO;
    }
    let timeout_ms = i64::try_from(request_timeout.as_millis()).unwrap_or(i64::MAX);
    let wait_ms = taken.previous_left_ms.saturating_add(timeout_ms).max(0);
    Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))
}

async fn renew(
    store: &Store,
    node: &str,
    term: Term,
    lease_ms: i64,
    valid_until: Option<Instant>,
    sent: Instant,
) -> Option<Term> {
    let (n, epoch) = (node.to_string(), term.epoch);
    let renewed = store
        .write(move |tx| {
            cluster::seen(tx, &n)?;
            cluster::renew(tx, &n, epoch, lease_ms)
        })
        .await;
    match renewed {
        Ok(true) => Some(Term {
            valid_until,
            ..term
        }),
        Ok(false) => {
            tracing::warn!(
                epoch,
                "another node took the cluster's lease; this one follows"
            );
            None
        }
        Err(e) if term.holds(sent) && term.holds(Instant::now()) => {
            tracing::warn!(epoch, error = %e, "could not renew the cluster's lease yet");
            Some(term)
        }
        Err(e) => {
            tracing::error!(epoch, error = %e, "could not renew the cluster's lease in time; stopped leading");
            None
        }
    }
}

/// Ends this node's term at once (a clean stop), so another node leads without
/// waiting for the lease to run out. Nothing on SQLite.
pub async fn release(store: &Store, node: &str, leadership: &Leadership) {
    let Some(term) = leadership.term().filter(|t| t.valid_until.is_some()) else {
        return;
    };
    let n = node.to_string();
    match store
        .write(move |tx| cluster::release(tx, &n, term.epoch))
        .await
    {
        Ok(()) => tracing::info!(epoch = term.epoch, "handed the cluster's lease back"),
        Err(e) => {
            tracing::warn!(error = %e, "could not hand the lease back; it runs out by itself")
        }
    }
}

/// Runs `task` for each term this node leads, until shutdown: `task` gets the term
/// and a [`Shutdown`] that fires when the term ends (or the daemon stops), and is
/// awaited before the next term may start.
pub async fn while_leading<F, Fut>(leadership: Leadership, mut shutdown: Shutdown, mut task: F)
where
    F: FnMut(Term, Shutdown) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut now = leadership.now.clone();
    loop {
        let next = tokio::select! {
            _ = shutdown.recv() => return,
            t = now.wait_for(|t| t.is_some()) => match t {
                Ok(t) => *t,
                Err(_) => return,
            },
        };
        let Some(term) = next else { continue };
        let (end, term_shutdown) = shutdown::channel();
        let ended = ended(now.clone(), term.epoch, shutdown.clone());
        let run = task(term, term_shutdown);
        tokio::pin!(run);
        tokio::select! {
            _ = &mut run => return,
            _ = ended => end.fire(),
        }
        run.await;
        if shutdown.is_shutdown() {
            return;
        }
    }
}

/// Resolves when the term of `epoch` ends or the daemon stops.
async fn ended(mut now: watch::Receiver<Option<Term>>, epoch: i64, mut shutdown: Shutdown) {
    tokio::select! {
        _ = shutdown.recv() => {}
        _ = now.wait_for(|t| t.is_none_or(|t| t.epoch != epoch)) => {}
    }
}

/// `daemon.status`'s `cluster` object as the store holds it.
pub async fn status(
    store: &Store,
) -> Result<(db::cluster::Lease, Vec<db::cluster::Node>), db::DbError> {
    store
        .read(|sql| Ok((cluster::lease(sql)?, cluster::nodes(sql)?)))
        .await
}
