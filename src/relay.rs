//! Events from every host: on a server store several hosts share, the task that
//! writes the events this host publishes into `numhubd_events` (with its node name)
//! and tails that table for the other hosts' events, delivering them to this host's
//! subscribers — so `events.subscribe` and `wait_s` on any host see what any host
//! committed, within about a second.
//!
//! Ids come from AUTO_INCREMENT and may commit out of order: a row with a lower id
//! can appear after a higher one was read. The tail remembers the ids it skipped
//! over and looks for them again at each poll ([`Tail`]), so a late row is delivered
//! once, and an id that never commits (a rolled-back insert) is given up after
//! [`GAP_WAIT`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::db::{self, event_log, Store};
use crate::events::{EventBus, Message, Relayed};
use crate::shutdown::Shutdown;

/// How often the table is read for other hosts' events.
pub const POLL: Duration = Duration::from_millis(300);

/// How long an id skipped over is looked for: longer than any transaction that
/// inserted an event stays open (the writer commits within milliseconds, or after a
/// lock wait of seconds).
pub const GAP_WAIT: Duration = Duration::from_secs(120);

/// Rows read by one query; a fuller answer is followed at once by the next.
const PAGE: u32 = 500;

/// The most skipped ids remembered (a server with `auto_increment_increment` > 1
/// skips ids all the time; past this the oldest are given up).
const MAX_MISSING: usize = 10_000;

/// Events written for the other hosts in one transaction, and kept while the
/// database does not answer (past that the oldest are dropped, and logged).
const WRITE_BATCH: usize = 500;
const MAX_PENDING: usize = 10_000;

/// The relay's end of the bus, and this host's node name.
pub struct Relay {
    pub store: Store,
    pub bus: EventBus,
    pub relayed: Relayed,
    /// `[cluster] node`: rows of this node are this host's own, never delivered here.
    pub node: String,
}

/// The task: writes this host's events and delivers the others', until shutdown.
pub async fn run(relay: Relay, mut shutdown: Shutdown) {
    let Relay {
        store,
        bus,
        mut relayed,
        node,
    } = relay;
    let mut tail = Tail::default();
    let mut pending: Vec<String> = Vec::new();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dropped_told = 0;
    let mut health = Health::default();
    loop {
        let result = tokio::select! {
            _ = shutdown.recv() => {
                let _ = write_pending(&store, &node, &mut pending).await;
                return;
            }
            Some(event) = relayed.rx.recv() => {
                queue(&mut pending, event);
                drain(&mut relayed.rx, &mut pending);
                write_pending(&store, &node, &mut pending).await
            }
            _ = tick.tick() => match write_pending(&store, &node, &mut pending).await {
                Ok(()) => tail.poll(&store, &node, &bus).await,
                Err(e) => Err(e),
            },
        };
        health.after(result, pending.len());
        let dropped = relayed.dropped();
        if dropped > dropped_told {
            tracing::warn!(
                dropped = dropped - dropped_told,
                "events published faster than the database took them were not shared with the other hosts"
            );
            dropped_told = dropped;
        }
    }
}

fn queue(pending: &mut Vec<String>, event: Message) {
    match serde_json::to_string(&event) {
        Ok(json) => pending.push(json),
        Err(e) => {
            tracing::warn!(error = %e, kind = event.kind(), "an event could not be encoded for the other hosts")
        }
    }
}

/// Takes what else is queued already (without waiting).
fn drain(rx: &mut mpsc::Receiver<Message>, pending: &mut Vec<String>) {
    while pending.len() < WRITE_BATCH {
        match rx.try_recv() {
            Ok(event) => queue(pending, event),
            Err(_) => return,
        }
    }
}

/// Writes the pending events, in batches; kept for the next try when the database
/// does not answer (past [`MAX_PENDING`] the oldest are dropped, and logged).
async fn write_pending(store: &Store, node: &str, pending: &mut Vec<String>) -> db::Result<()> {
    while !pending.is_empty() {
        let batch: Vec<String> = pending.iter().take(WRITE_BATCH).cloned().collect();
        let (n, node_name) = (batch.len(), node.to_string());
        let written = store
            .write(move |tx| event_log::append(tx, &node_name, &batch, &db::now_ts()))
            .await;
        if let Err(e) = written {
            let over = pending.len().saturating_sub(MAX_PENDING);
            if over > 0 {
                pending.drain(..over);
                tracing::warn!(
                    dropped = over,
                    "events waiting for the database were not shared with the other hosts"
                );
            }
            return Err(e);
        }
        pending.drain(..n);
    }
    Ok(())
}

/// Whether the relay's last round reached the database, so that an outage is
/// logged once when it starts and once when it ends, not at every poll.
#[derive(Default)]
struct Health {
    failing: bool,
}

impl Health {
    fn after(&mut self, result: db::Result<()>, waiting: usize) {
        match result {
            Err(e) if !self.failing => {
                self.failing = true;
                tracing::warn!(error = %e, waiting, "events cannot be shared with the other hosts now; retrying every poll");
            }
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!("events are shared with the other hosts again");
            }
            _ => {}
        }
    }
}

/// Where the tail is: the highest id read, and the ids below it not seen yet.
#[derive(Debug, Default)]
pub struct Tail {
    /// None until the first read: the tail starts at the newest row then (what
    /// happened before this host started is not replayed).
    last: Option<i64>,
    /// Skipped ids, with when they were first missed.
    missing: BTreeMap<i64, Instant>,
}

impl Tail {
    /// One poll: the rows after the highest id read (page after page), then the ids
    /// skipped before that have appeared since. Other nodes' events are delivered to
    /// `bus`; this node's rows only move the tail.
    pub async fn poll(&mut self, store: &Store, node: &str, bus: &EventBus) -> db::Result<()> {
        let Some(mut last) = self.last else {
            self.last = Some(store.read(event_log::newest_id).await?);
            return Ok(());
        };
        loop {
            let rows = store
                .read(move |sql| event_log::after(sql, last, PAGE))
                .await?;
            let full = rows.len() == PAGE as usize;
            for row in rows {
                self.skip_over(last, row.id);
                last = row.id;
                self.last = Some(last);
                deliver(bus, node, &row);
            }
            if !full {
                break;
            }
        }
        self.look_for_missing(store, node, bus).await
    }

    /// Remembers the ids between `last` and `id` (exclusive) as missing.
    fn skip_over(&mut self, last: i64, id: i64) {
        let now = Instant::now();
        // A jump longer than the memory (ids burned in bulk) keeps only its end.
        let from = (last + 1).max(id.saturating_sub(MAX_MISSING as i64));
        for gap in from..id {
            if self.missing.len() >= MAX_MISSING {
                self.missing.pop_first();
            }
            self.missing.insert(gap, now);
        }
    }

    async fn look_for_missing(
        &mut self,
        store: &Store,
        node: &str,
        bus: &EventBus,
    ) -> db::Result<()> {
        self.missing.retain(|_, since| since.elapsed() < GAP_WAIT);
        if self.missing.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = self.missing.keys().copied().collect();
        let found = store.read(move |sql| event_log::by_ids(sql, &ids)).await?;
        for row in found {
            if self.missing.remove(&row.id).is_some() {
                deliver(bus, node, &row);
            }
        }
        Ok(())
    }
}

/// Delivers another node's event here (this node's own were delivered when
/// published). An event this version cannot read (a newer host's) is skipped.
fn deliver(bus: &EventBus, node: &str, row: &event_log::Logged) {
    if row.node == node {
        return;
    }
    match serde_json::from_str::<Message>(&row.event) {
        Ok(event) => bus.deliver(event),
        Err(e) => {
            tracing::debug!(id = row.id, node = row.node, error = %e, "skipped an event of another host this numhubd cannot read")
        }
    }
}
