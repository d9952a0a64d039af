//! Each tenant's share of the NumHub calls its callers start over the socket
//! (`[numhub] tenant_interactive_per_min`): one tenant using up its share gets -32022
//! naming the limit, and another tenant's calls still go through.

use serde_json::json;

use crate::rpc_client::{add_numhub_tenant, call, ok};
use crate::sync_support::Harness;

#[test]
fn a_tenant_past_its_share_is_refused_and_another_is_not() {
    let mut h = Harness::new(3);
    let path = h.dir.path().join("numhubd.toml");
    let config = std::fs::read_to_string(&path).expect("config");
    std::fs::write(
        &path,
        config.replace("[numhub]\n", "[numhub]\ntenant_interactive_per_min = 2\n"),
    )
    .expect("config");
    assert!(h.start(&[]), "{}", h.all_stderr());
    h.tenant(true);
    let s = h.socket();
    add_numhub_tenant(&s, 2, "Other", "1002", true);
    for _ in 0..2 {
        ok(&s, "numhub.check", json!({"tenant_id": 1}));
    }
    let refused = call(&s, "numhub.check", json!({"tenant_id": 1}));
    assert_eq!(refused["error"]["code"], -32022, "{refused}");
    let msg = refused["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("tenant_interactive_per_min"), "{refused}");
    // Tenant 2 has a share of its own.
    ok(&s, "numhub.check", json!({"tenant_id": 2}));
    h.stop();
}
