//! The in-process event bus: what changed, published after the change's transaction
//! has committed, delivered to `events.subscribe` subscribers (and any future
//! component). A broadcast channel: a subscriber that falls behind is told how many
//! events it missed instead of being dropped.
//!
//! On a server store several hosts share, a bus made [`EventBus::with_relay`] also
//! hands each event it publishes to the `relay` task, which writes it for the other
//! hosts and [`EventBus::deliver`]s theirs here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

/// One change, as pushed to subscribers (`{"type": "entity.status_changed", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "entity.status_changed")]
    EntityStatusChanged {
        tenant_id: i64,
        entity_id: String,
        numhub_entity_id: Option<String>,
        status: String,
        vetting_status: String,
    },
    /// NumHub flagged the application: a new set of flagged comments (its review
    /// alert appeared, or its comments changed), published once per set.
    #[serde(rename = "entity.flagged")]
    EntityFlagged {
        tenant_id: i64,
        entity_id: String,
        numhub_entity_id: String,
        message: Option<String>,
        /// `[{section_number, section_name, comments}]`, as `entity.get`'s `review`.
        flagged_comments: serde_json::Value,
        flagged_at: String,
    },
    #[serde(rename = "document.status_changed")]
    DocumentStatusChanged {
        tenant_id: i64,
        document_id: String,
        entity_id: String,
        status: String,
    },
    /// A file in the drop folder that did not become an upload: refused into
    /// `.failed/` (the reason is in `reason` and beside the file), or the same content
    /// already sent (`duplicate`). Taken files are followed by
    /// `document.status_changed` instead.
    #[serde(rename = "document.dropped")]
    DocumentDropped {
        /// None when the file's folder names no tenant (admins over all tenants see it).
        tenant_id: Option<i64>,
        entity_id: Option<String>,
        /// The file's path below the drop folder, escaped for printing.
        file: String,
        /// `refused` or `duplicate`.
        outcome: String,
        reason: Option<String>,
    },
    #[serde(rename = "identity.changed")]
    IdentityChanged {
        tenant_id: i64,
        identity_id: String,
        entity_id: String,
        status: String,
    },
    #[serde(rename = "token.refreshed")]
    TokenRefreshed {
        tenant_id: Option<i64>,
        expires_at: String,
    },
    #[serde(rename = "sync.failed")]
    SyncFailed {
        tenant_id: Option<i64>,
        job_id: Option<i64>,
        error: String,
    },
    /// An outbox job reached a final state (`done`, `dead`, `needs_attention`),
    /// published after that state committed; `wait_s` waits for it.
    #[serde(rename = "job.finished")]
    JobFinished {
        tenant_id: i64,
        job_id: i64,
        state: String,
    },
    /// Sent to one subscriber that fell behind: `missed` events were dropped for it.
    #[serde(rename = "events.lagged")]
    Lagged { missed: u64 },
}

impl Event {
    /// The tenant the event belongs to (None: global), for per-subscriber filtering.
    pub fn tenant_id(&self) -> Option<i64> {
        match self {
            Event::EntityStatusChanged { tenant_id, .. }
            | Event::EntityFlagged { tenant_id, .. }
            | Event::DocumentStatusChanged { tenant_id, .. }
            | Event::IdentityChanged { tenant_id, .. }
            | Event::JobFinished { tenant_id, .. } => Some(*tenant_id),
            Event::TokenRefreshed { tenant_id, .. }
            | Event::SyncFailed { tenant_id, .. }
            | Event::DocumentDropped { tenant_id, .. } => *tenant_id,
            Event::Lagged { .. } => None,
        }
    }

    /// The `type` tag, for subscription filters.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::EntityStatusChanged { .. } => "entity.status_changed",
            Event::EntityFlagged { .. } => "entity.flagged",
            Event::DocumentStatusChanged { .. } => "document.status_changed",
            Event::DocumentDropped { .. } => "document.dropped",
            Event::IdentityChanged { .. } => "identity.changed",
            Event::TokenRefreshed { .. } => "token.refreshed",
            Event::SyncFailed { .. } => "sync.failed",
            Event::JobFinished { .. } => "job.finished",
            Event::Lagged { .. } => "events.lagged",
        }
    }
}

/// The kinds a subscriber may ask for.
pub const KINDS: &[&str] = &[
    "entity.status_changed",
    "entity.flagged",
    "document.status_changed",
    "document.dropped",
    "identity.changed",
    "token.refreshed",
    "sync.failed",
    "job.finished",
];

/// Cheap to clone; every clone publishes to the same subscribers.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    /// With a relay: every event published here, for the other hosts.
    outgoing: Option<Outgoing>,
}

#[derive(Clone)]
struct Outgoing {
    tx: mpsc::Sender<Event>,
    /// Events the relay had no room for (the database slower than the events).
    dropped: Arc<AtomicU64>,
}

/// The relay's end of a bus made [`EventBus::with_relay`].
pub struct Relayed {
    pub rx: mpsc::Receiver<Event>,
    dropped: Arc<AtomicU64>,
}

impl Relayed {
    /// Events published while the relay's queue was full, so never shared, so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl EventBus {
    /// `capacity`: events kept for the slowest subscriber before it lags.
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity);
        EventBus { tx, outgoing: None }
    }

    /// A bus whose published events also go to the returned queue (at most
    /// `capacity` waiting), which the relay drains into the store for other hosts.
    pub fn with_relay(capacity: usize) -> (EventBus, Relayed) {
        let (tx, rx) = mpsc::channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let bus = EventBus {
            outgoing: Some(Outgoing {
                tx,
                dropped: dropped.clone(),
            }),
            ..EventBus::new(capacity)
        };
        (bus, Relayed { rx, dropped })
    }

    /// Publishes after the change committed, here and (with a relay) to the other
    /// hosts. No subscriber is not an error.
    pub fn publish(&self, event: Event) {
        if let Some(out) = &self.outgoing {
            // Never waits: a publisher holds no lock for the relay's sake.
            if out.tx.try_send(event.clone()).is_err() {
                out.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.deliver(event);
    }

    /// Delivers to this process's subscribers only: an event another host published.
    pub fn deliver(&self, event: Event) {
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(1024)
    }
}
