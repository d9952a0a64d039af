//! A subscriber that falls behind is told how many events it missed, and stays
//! subscribed. The server runs in process with a 4-event bus on a single-threaded
//! runtime, so a burst published without yielding is certain to overrun it.

use serde_json::json;

use numhubd::events::{Event, EventBus};
use numhubd::rpc::{self, socket, ServerOptions};

use crate::rpc_client::Ws;

#[test]
fn a_lagging_subscriber_is_told_how_many_it_missed_and_stays_subscribed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let path = dir.path().join("lag.sock");
    let bus = EventBus::new(4);
    rt.block_on(async {
        let store = crate::store_support::side_store(&dir.path().join("lag.db"));
        let rpc = crate::store_support::rpc_state(dir.path(), store, bus.clone());
        let options = ServerOptions {
            socket: path.clone(),
            max_body_bytes: 1 << 20,
            max_batch: 10,
            max_connections: 8,
            max_requests_per_sec: 1000,
            max_connections_per_uid: 4,
            header_timeout: std::time::Duration::from_secs(5),
            idle_timeout: std::time::Duration::from_secs(60),
            max_response_bytes: 16 << 20,
            access: numhubd::rpc::access::Rules::fixed(vec![]),
        };
        let bound = socket::listen(&path, 0o600, None).expect("listen");
        let (_stop, shutdown) = numhubd::shutdown::channel();
        tokio::spawn(async move {
            let _ = rpc::serve(bound, rpc, options, shutdown).await;
        });
        let mut ws = Ws::connect(&path).await;
        ws.send(json!({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {}}))
            .await;
        let ack = ws.recv().await;
        assert!(!ack["result"].is_null(), "{ack}");
        // Twenty events with no await in between: the subscription task cannot run.
        let token = |n: i64| Event::TokenRefreshed {
            tenant_id: None,
            expires_at: format!("2030-01-01T00:00:{n:02}Z"),
        };
        for n in 0..20 {
            bus.publish(token(n));
        }
        let mut missed = None;
        let mut after = Vec::new();
        while after.len() < 4 {
            let msg = ws.recv().await;
            let event = &msg["params"]["result"];
            if event["missed"].is_number() {
                missed = event["missed"].as_u64();
            } else {
                after.push(event["expires_at"].as_str().unwrap_or_default().to_string());
            }
        }
        assert_eq!(missed, Some(16), "the burst overran a 4-event bus by 16");
        // Still subscribed: the last four of the burst, then a new event.
        assert_eq!(
            after.last().map(String::as_str),
            Some("2030-01-01T00:00:19Z")
        );
        bus.publish(token(42));
        let next = ws.recv().await;
        assert_eq!(
            next["params"]["result"]["expires_at"],
            "2030-01-01T00:00:42Z"
        );
    });
}
