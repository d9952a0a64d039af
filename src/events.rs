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

pub use crate::api::Event;
use crate::api::WireEnum;

/// What the bus carries: an event for subscribers (`api`'s, the protocol's own), or a
/// word between numhubd's hosts. Written for the other hosts as the event's own JSON
/// (`{"type": ...}`), so their reader needs no other form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// `sync.run` asked on a host that does not lead, carried to the one that does
    /// (through the relay). Never given to subscribers.
    #[serde(rename = "sync.asked")]
    SyncAsked { tenant_id: Option<i64> },
    #[serde(untagged)]
    Event(Event),
}

impl From<Event> for Message {
    fn from(event: Event) -> Message {
        Message::Event(event)
    }
}

impl Message {
    /// Its `type`, for the log.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::SyncAsked { .. } => "sync.asked",
            Message::Event(e) => e.kind().map_or("events.lagged", |k| k.as_str()),
        }
    }
}

/// Cheap to clone; every clone publishes to the same subscribers.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Message>,
    /// With a relay: every event published here, for the other hosts.
    outgoing: Option<Outgoing>,
}

#[derive(Clone)]
struct Outgoing {
    tx: mpsc::Sender<Message>,
    /// Events the relay had no room for (the database slower than the events).
    dropped: Arc<AtomicU64>,
}

/// The relay's end of a bus made [`EventBus::with_relay`].
pub struct Relayed {
    pub rx: mpsc::Receiver<Message>,
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
    pub fn publish(&self, message: impl Into<Message>) {
        let message = message.into();
        if let Some(out) = &self.outgoing {
            // Never waits: a publisher holds no lock for the relay's sake.
            if out.tx.try_send(message.clone()).is_err() {
                out.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.deliver(message);
    }

    /// Delivers to this process's subscribers only: an event another host published.
    pub fn deliver(&self, message: Message) {
        let _ = self.tx.send(message);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DocumentChange, JobState};
    use serde_json::json;

    /// Other hosts read what the relay writes: an event goes as the event's own JSON
    /// (what the version before `Message` wrote, too), the hosts' own word with its
    /// `type`, and each reads back as itself.
    #[test]
    fn messages_are_written_as_the_events_own_json() {
        let event = Event::JobFinished {
            tenant_id: 7,
            job_id: 3,
            state: JobState::Done,
        };
        let written = serde_json::to_value(Message::from(event.clone())).expect("encode");
        assert_eq!(
            written,
            json!({"type": "job.finished", "tenant_id": 7, "job_id": 3, "state": "done"})
        );
        let asked = Message::SyncAsked { tenant_id: None };
        assert_eq!(
            serde_json::to_value(&asked).expect("encode"),
            json!({"type": "sync.asked", "tenant_id": null})
        );
        for m in [Message::Event(event), asked] {
            let text = serde_json::to_string(&m).expect("encode");
            assert_eq!(serde_json::from_str::<Message>(&text).expect("decode"), m);
        }
    }

    /// A deleted document's status is `deleted`; a row's is its own.
    #[test]
    fn a_document_change_reads_as_a_status_or_deleted() {
        for text in ["\"pending\"", "\"deleted\""] {
            let change: DocumentChange = serde_json::from_str(text).expect(text);
            assert_eq!(serde_json::to_string(&change).expect("encode"), text);
        }
        assert!(serde_json::from_str::<DocumentChange>("\"gone\"").is_err());
    }
}
