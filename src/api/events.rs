//! `events.subscribe`: its filter, and the events it pushes as `events.event`
//! notifications. The daemon publishes these types on its bus and numhubctl's
//! `--follow` reads them, so an event's fields are one definition for both.

use serde::{Deserialize, Serialize};

use crate::api::documents::{Document, DocumentStatus};
use crate::api::entities::{Entity, EntityStatus, FlaggedSection, VettingStatus};
use crate::api::identities::{Identity, IdentityStatus};
use crate::api::operations::JobState;
use crate::api::schema::{id, list_of, wire, wire_enum};
use crate::api::Subscription;

/// `events.subscribe` (WebSocket only): the caller's tenants' events as
/// `events.event` notifications until `events.unsubscribe`.
#[derive(Debug, Clone, Copy)]
pub struct EventsSubscribe;

impl Subscription for EventsSubscribe {
    const NAME: &'static str = "events.subscribe";
    const NOTIFICATION: &'static str = "events.event";
    const UNSUBSCRIBE: &'static str = "events.unsubscribe";
    type Params = EventFilter;
    type Item = Event;
}

wire_enum! {
    /// What an event is about: the kinds a subscriber may ask for.
    EventKind {
        EntityStatusChanged = "entity.status_changed",
        EntityFlagged = "entity.flagged",
        DocumentStatusChanged = "document.status_changed",
        DocumentDropped = "document.dropped",
        IdentityChanged = "identity.changed",
        TokenRefreshed = "token.refreshed",
        SyncFailed = "sync.failed",
        JobFinished = "job.finished",
    }
}

wire! { params
    /// `events.subscribe`: one tenant's events (or all the caller's), of these kinds
    /// (or all).
    #[derive(Default)]
    pub struct EventFilter {
        pub tenant_id: Option<i64> = id(),
        pub kinds: Option<Vec<EventKind>> = list_of(EventKind::schema(), 10),
    }
}

/// One change, as pushed to subscribers (`{"type": "entity.status_changed", ...}`),
/// published after the change's transaction has committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "entity.status_changed")]
    EntityStatusChanged {
        tenant_id: i64,
        entity_id: String,
        numhub_entity_id: Option<String>,
        status: EntityStatus,
        vetting_status: VettingStatus,
    },
    /// NumHub flagged the application: a new set of flagged comments (its review
    /// alert appeared, or its comments changed), published once per set.
    #[serde(rename = "entity.flagged")]
    EntityFlagged {
        tenant_id: i64,
        entity_id: String,
        numhub_entity_id: String,
        message: Option<String>,
        /// As `entity.get`'s `review`.
        flagged_comments: Vec<FlaggedSection>,
        flagged_at: String,
    },
    #[serde(rename = "document.status_changed")]
    DocumentStatusChanged {
        tenant_id: i64,
        document_id: String,
        entity_id: String,
        status: DocumentChange,
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
        outcome: DropOutcome,
        reason: Option<String>,
    },
    #[serde(rename = "identity.changed")]
    IdentityChanged {
        tenant_id: i64,
        identity_id: String,
        entity_id: String,
        status: IdentityStatus,
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
        state: JobState,
    },
    /// Sent to one subscriber that fell behind: `missed` events were dropped for it.
    #[serde(rename = "events.lagged")]
    Lagged { missed: u64 },
}

/// A document's status in `document.status_changed`: its row's, or `deleted` once
/// the row is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DocumentChange {
    Is(DocumentStatus),
    Gone(Deleted),
}

wire_enum! {
    /// The document's row was deleted (NumHub deleted the document).
    Deleted { Deleted = "deleted" }
}

wire_enum! {
    /// What became of a dropped file that did not become an upload.
    DropOutcome { Refused = "refused", Duplicate = "duplicate" }
}

impl Event {
    /// `entity.status_changed` of the entity's row as it now stands.
    pub fn entity_changed(e: &Entity) -> Event {
        Event::EntityStatusChanged {
            tenant_id: e.tenant_id,
            entity_id: e.id.clone(),
            numhub_entity_id: e.numhub_entity_id.clone(),
            status: e.status,
            vetting_status: e.vetting_status,
        }
    }

    /// `identity.changed` of the identity's row (of `tenant_id`'s entity).
    pub fn identity_changed(tenant_id: i64, i: &Identity) -> Event {
        Event::IdentityChanged {
            tenant_id,
            identity_id: i.id.clone(),
            entity_id: i.entity_id.clone(),
            status: i.status,
        }
    }

    /// `document.status_changed` of the document's row (of `tenant_id`'s entity).
    pub fn document_changed(tenant_id: i64, d: &Document) -> Event {
        Event::DocumentStatusChanged {
            tenant_id,
            document_id: d.id.clone(),
            entity_id: d.entity_id.clone(),
            status: DocumentChange::Is(d.status),
        }
    }

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

    /// The local entity the event is about, if it is about one.
    pub fn entity_id(&self) -> Option<&str> {
        match self {
            Event::EntityStatusChanged { entity_id, .. }
            | Event::EntityFlagged { entity_id, .. }
            | Event::DocumentStatusChanged { entity_id, .. }
            | Event::IdentityChanged { entity_id, .. } => Some(entity_id),
            Event::DocumentDropped { entity_id, .. } => entity_id.as_deref(),
            Event::TokenRefreshed { .. }
            | Event::SyncFailed { .. }
            | Event::JobFinished { .. }
            | Event::Lagged { .. } => None,
        }
    }

    /// Its kind, for subscription filters; None for `events.lagged`, which a
    /// subscriber cannot ask for (it always gets it).
    pub fn kind(&self) -> Option<EventKind> {
        Some(match self {
            Event::EntityStatusChanged { .. } => EventKind::EntityStatusChanged,
            Event::EntityFlagged { .. } => EventKind::EntityFlagged,
            Event::DocumentStatusChanged { .. } => EventKind::DocumentStatusChanged,
            Event::DocumentDropped { .. } => EventKind::DocumentDropped,
            Event::IdentityChanged { .. } => EventKind::IdentityChanged,
            Event::TokenRefreshed { .. } => EventKind::TokenRefreshed,
            Event::SyncFailed { .. } => EventKind::SyncFailed,
            Event::JobFinished { .. } => EventKind::JobFinished,
            Event::Lagged { .. } => return None,
        })
    }
}
