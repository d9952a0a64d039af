//! The NumHub seam's failures keep their meaning at the edge: a key rotation that
//! cannot proceed is not "NumHub rejected the request".

use serde_json::json;

use crate::rpc_client::{call, socket_of, start_rpc_daemon};

#[test]
fn a_key_rotation_that_cannot_proceed_has_its_own_code() {
    let d = start_rpc_daemon("");
    // A staged identity left by an interrupted rotation stops the next one.
    std::fs::write(d.dir.path().join("identity.txt.new"), "left over\n").expect("staged");
    let answer = call(&socket_of(&d), "keys.rotate", json!({}));
    assert_eq!(
        answer["error"]["code"],
        numhubd::api::codes::KEY_ROTATION_FAILED,
        "{answer}"
    );
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("key rotation failed") && message.contains("identity.txt.new"),
        "{answer}"
    );
    assert!(!message.contains("NumHub"), "{answer}");
}
