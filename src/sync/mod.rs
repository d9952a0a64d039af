//! The sync engine: the outbox that carries local changes to NumHub exactly once
//! ([`outbox`]), and the poller that keeps the replica current with as few requests
//! as possible ([`poller`]). [`mapping`] is the one table from NumHub's values to
//! the seed's.
//!
//! Both run as daemon tasks with the shared `Shutdown` (`start` builds them, the
//! daemon spawns and supervises them), and only while this node leads
//! (`cluster::while_leading`): each term gets a [`SyncContext`] whose writes are fenced
//! to its epoch and whose NumHub requests stop when the term does
//! ([`SyncContext::for_term`]). [`SyncHandle`] is how the RPC asks for a sync now.

pub mod jobs_exec;
pub mod mapping;
pub mod outbox;
pub mod poller;
mod review;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Notify;

use crate::cluster::{self, Leadership, Term};
use crate::db::{DbError, Store};
use crate::events::{EventBus, Message};
use crate::numhub::{self, NumhubError};
use crate::shutdown::Shutdown;

#[derive(Debug, Error)]
pub enum SyncError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Numhub(#[from] NumhubError),
    #[error("{0}")]
    Invalid(String),
    /// The entity's create has not reached NumHub yet, so there is nothing to fetch.
    #[error("entity {0} has no NumHub id yet: its create is still queued")]
    NotAtNumhub(String),
}

/// What the engine works with.
#[derive(Clone)]
pub struct SyncContext {
    pub store: Store,
    pub numhub: numhub::Client,
    pub events: EventBus,
    /// Where uploads are read from (numhubd's copies, checked before each send).
    pub spool: crate::intake::Spool,
    /// How numbers are written in what is sent to NumHub (`[numhub] phone_format`).
    pub phone_format: mapping::PhoneFormat,
}

/// `[sync]` settings, resolved.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Jobs carried out at once (different entities; one entity's jobs stay in order).
    pub workers: usize,
    /// How often the outbox looks for due jobs when nothing woke it.
    pub outbox_poll: Duration,
    /// Attempts of one job before it goes `dead`.
    pub job_max_attempts: u32,
    /// Backoff between a job's attempts: base, doubled each time, capped.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How often the poller asks NumHub's cheap "did anything change?" signals.
    pub poll_interval: Duration,
    /// How often the poller walks every application and identity regardless.
    pub full_sweep: Duration,
}

impl SyncContext {
    /// This context for one term of leadership: each write commits only under the
    /// term's epoch, each NumHub request starts only while the term holds.
    pub fn for_term(&self, leadership: &Leadership, term: Term) -> SyncContext {
        SyncContext {
            store: self.store.fenced(term.epoch),
            numhub: self.numhub.gated(leadership.gate(term.epoch)),
            ..self.clone()
        }
    }
}

/// How the rest of the daemon talks to the running engine.
#[derive(Clone)]
pub struct SyncHandle {
    ctx: SyncContext,
    wake_outbox: Arc<Notify>,
    wake_poller: Arc<Notify>,
    /// What `sync.run` asked the poller for since it last woke.
    poll_requests: Arc<Mutex<PollRequests>>,
    /// Values NumHub sent that the replica cannot hold (unknown status, over-long
    /// caller name…): kept out of the row, counted here for `daemon.status`.
    pub anomalies: Arc<AtomicU64>,
    /// Whether this host leads, so `sync.run` knows where the poller runs.
    leadership: Leadership,
}

impl SyncHandle {
    /// `sync.run`: poll the tenant now (every enabled tenant when None) and look for
    /// due jobs now. Requests made while the poller is busy are gathered into its
    /// next cycle.
    pub fn run_now(&self, tenant_id: Option<i64>) {
        if self.leadership.term().is_none() {
            // Another host leads: the ask travels there (`forward_asks`).
            self.ctx.events.publish(Message::SyncAsked { tenant_id });
            return;
        }
        self.ask_here(tenant_id);
    }

    /// Gathers the ask for this host's poller and wakes it and the outbox.
    fn ask_here(&self, tenant_id: Option<i64>) {
        {
            let mut requests = self
                .poll_requests
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match tenant_id {
                Some(t) => {
                    requests.tenants.insert(t);
                }
                None => requests.all = true,
            }
        }
        self.wake_poller.notify_one();
        self.wake_outbox.notify_one();
    }

    /// Wakes the outbox (a job was just queued).
    pub fn kick_outbox(&self) {
        self.wake_outbox.notify_one();
    }

    /// `entity.refresh`: fetch this entity from NumHub now and apply what changed.
    pub async fn refresh_entity(
        &self,
        tenant_id: i64,
        entity_id: &str,
    ) -> Result<crate::db::entities::Entity, SyncError> {
        poller::refresh_entity(&self.ctx, &self.anomalies, tenant_id, entity_id).await
    }
}

/// While this host leads: `sync.run` asked on the other hosts (their `SyncAsked`,
/// relayed) is asked here.
async fn forward_asks(here: SyncHandle, mut stop: Shutdown) {
    let mut events = here.ctx.events.subscribe();
    loop {
        let event = tokio::select! {
            _ = stop.recv() => return,
            e = events.recv() => e,
        };
        match event {
            Ok(Message::SyncAsked { tenant_id }) => here.ask_here(tenant_id),
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Poll cycles asked for by `sync.run`, gathered until the poller takes them.
#[derive(Debug, Default)]
pub struct PollRequests {
    /// Every enabled tenant.
    pub all: bool,
    /// Only these (when `all` is false).
    pub tenants: BTreeSet<i64>,
}

/// The engine's two long-running tasks, for the daemon to spawn (and supervise).
pub struct SyncTasks {
    pub outbox: Pin<Box<dyn Future<Output = ()> + Send>>,
    pub poller: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Builds the outbox and the poller, each run for every term this node leads; the
/// handle talks to them once they run.
pub fn start(
    ctx: SyncContext,
    options: SyncOptions,
    leadership: Leadership,
    shutdown: Shutdown,
) -> (SyncHandle, SyncTasks) {
    let handle = SyncHandle {
        ctx: ctx.clone(),
        wake_outbox: Arc::new(Notify::new()),
        wake_poller: Arc::new(Notify::new()),
        poll_requests: Arc::default(),
        anomalies: Arc::new(AtomicU64::new(0)),
        leadership: leadership.clone(),
    };
    let outbox = {
        let (ctx, options, wake, lead) = (
            ctx.clone(),
            options.clone(),
            handle.wake_outbox.clone(),
            leadership.clone(),
        );
        cluster::while_leading(leadership.clone(), shutdown.clone(), move |term, stop| {
            outbox::run(
                ctx.for_term(&lead, term),
                options.clone(),
                term,
                wake.clone(),
                stop,
            )
        })
    };
    let poller = {
        let here = handle.clone();
        let lead = leadership.clone();
        cluster::while_leading(leadership, shutdown, move |term, stop| {
            let asks = forward_asks(here.clone(), stop.clone());
            let poll = poller::run(
                ctx.for_term(&lead, term),
                options.clone(),
                here.wake_poller.clone(),
                here.poll_requests.clone(),
                here.anomalies.clone(),
                stop,
            );
            async move {
                tokio::join!(poll, asks);
            }
        })
    };
    let tasks = SyncTasks {
        outbox: Box::pin(outbox),
        poller: Box::pin(poller),
    };
    (handle, tasks)
}
