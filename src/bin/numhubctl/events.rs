//! `--follow`: streams the daemon's events (`documents --follow`, `logs --follow`)
//! until it ends the stream, one line each. The events arrive as `api::Event`.

use serde_json::Value;

use numhubd::api::{self, EventFilter};
use numhubd::client::ClientError;

use crate::output::{cell, out};
use crate::session::{Outcome, Session};

/// Follows the daemon's events that pass `filter`; only those of `entity` when given.
pub fn follow(s: &Session, filter: &EventFilter, entity: Option<&str>) -> Outcome {
    let (socket, json_out) = (s.client.path(), s.json);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    if !json_out {
        eprintln!("following events on {} (Ctrl-C to stop)", socket.display());
    }
    let events = numhubd::client::follow::<api::EventsSubscribe>(socket, filter, |ev| {
        let ev = match ev {
            Ok(ev) => ev,
            // A newer daemon's kind of event: said, and the stream goes on.
            Err(e) => {
                eprintln!("numhubctl: skipped an event: {e}");
                return true;
            }
        };
        if entity.is_some_and(|e| ev.entity_id() != Some(e)) {
            return true;
        }
        // Through a `Value`, whose keys are sorted: the line it printed when it relayed
        // the daemon's notification as it came.
        let ev = serde_json::to_value(&ev).unwrap_or_default();
        if json_out {
            out!("{ev}");
        } else {
            print_event(&ev);
        }
        true
    });
    rt.block_on(events)
}

/// `TYPE  key=value …`, the keys sorted.
fn print_event(ev: &Value) {
    let mut fields: Vec<String> = ev
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(k, v)| format!("{k}={}", cell(v)))
        .collect();
    fields.sort();
    out!(
        "{:<24} {}",
        ev["type"].as_str().unwrap_or("?"),
        fields.join(" ")
    );
}
