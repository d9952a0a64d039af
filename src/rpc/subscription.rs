//! `events.subscribe`: the caller's events over WebSocket as `events.event`
//! notifications, filtered by its tenants (re-checked after a reload) and the
//! subscription's filter; a slow subscriber is told how many it missed.

use std::sync::Arc;

use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};

use super::access::Caller;
use super::error::RpcError;
use super::methods::{self, MethodDef};
use super::middleware::Conn;
use super::Rpc;
use crate::api::{EventFilter, EventsSubscribe, Subscription};
use crate::events::{Event, Message};

/// Registers `events.subscribe` with its entry of the table (role, scope, params).
pub fn register(
    module: &mut RpcModule<Rpc>,
    defs: &[MethodDef],
) -> Result<(), RegisterMethodError> {
    let sub_def = defs
        .iter()
        .find(|d| d.name == EventsSubscribe::NAME)
        .cloned()
        .ok_or_else(|| RegisterMethodError::MethodNotFound(EventsSubscribe::NAME.into()))?;
    module.register_subscription(
        EventsSubscribe::NAME,
        EventsSubscribe::NOTIFICATION,
        EventsSubscribe::UNSUBSCRIBE,
        move |params, pending, rpc, ext| {
            let d = sub_def.clone();
            async move { subscribe(&d, params.as_str(), pending, rpc, &ext).await }
        },
    )?;
    Ok(())
}

async fn subscribe(
    d: &MethodDef,
    raw: Option<&str>,
    pending: PendingSubscriptionSink,
    rpc: Arc<Rpc>,
    ext: &jsonrpsee::Extensions,
) {
    let (caller, params) = match methods::admit(d, raw, ext) {
        Ok(v) => v,
        Err(e) => {
            pending.reject(e.to_error_object()).await;
            return;
        }
    };
    // Validated against this type's schema already: it reads.
    let filter: EventFilter = match serde_json::from_value(params) {
        Ok(f) => f,
        Err(e) => {
            let e = RpcError::invalid("params", e.to_string());
            pending.reject(e.to_error_object()).await;
            return;
        }
    };
    // Subscribe to the bus before accepting, so nothing published after the accept is missed.
    let mut rx = rpc.events.subscribe();
    let Ok(sink) = pending.accept().await else {
        return;
    };
    // The connection, whose grants a reload may change while the subscription runs.
    let conn = ext.get::<Arc<Conn>>().cloned();
    let mut caller = caller;
    loop {
        let event = tokio::select! {
            _ = sink.closed() => break,
            r = rx.recv() => r,
        };
        if let Some(conn) = &conn {
            conn.recheck().await;
            caller = conn.caller();
            if caller.role < d.role {
                // Its rule was revoked: the subscription ends, as a call would be refused.
                tracing::info!(
                    uid = caller.peer.uid,
                    "subscription ended: access rules changed"
                );
                break;
            }
        }
        let event = match event {
            Ok(Message::Event(e)) if wanted(&filter, &e, &caller) => e,
            Ok(_) => continue,
            // A slow subscriber is told how many it missed, and stays subscribed.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                Event::Lagged { missed }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        let Ok(msg) = serde_json::value::to_raw_value(&event) else {
            continue;
        };
        if sink.send(SubscriptionMessage::from(msg)).await.is_err() {
            break;
        }
    }
}

/// Whether the subscriber gets `e`: its kind, and a tenant it may see (and the one it
/// asked for).
fn wanted(filter: &EventFilter, e: &Event, caller: &Caller) -> bool {
    let kind_ok = match (&filter.kinds, e.kind()) {
        (Some(kinds), Some(kind)) => kinds.contains(&kind),
        _ => true,
    };
    let tenant_ok = match e.tenant_id() {
        Some(t) => caller.may_see_tenant(t) && filter.tenant_id.is_none_or(|o| o == t),
        // Global events (the global account's token, sync failures without a
        // tenant) go to callers over every tenant only.
        None => caller.all_tenants() && filter.tenant_id.is_none(),
    };
    kind_ok && tenant_ok
}
