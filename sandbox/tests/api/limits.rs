//! The rate limit: a per-account window, `requests-remaining` on every answer, 429 past it,
//! token calls counted by Email.

use std::time::Duration;

use numhub_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::json;

use crate::common::{self, start, wait_until};

fn remaining(r: &reqwest::Response) -> i64 {
    r.headers()["requests-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn window_counts_down_then_429_then_resets() {
    let env = start(SandboxConfig {
        rate_limit: 4,
        rate_window: Duration::from_secs(2),
        ..SandboxConfig::default()
    })
    .await;
    // Reconfiguring starts every account on a fresh window, so the login in `start` does
    // not count here.
    env.sb.set_rate_limit(4, Duration::from_secs(2));
    // The token call counts against the account it names.
    let token = common::login(&env.http, &env.base).await;
    let call = || {
        env.http
            .get(env.url("/api/v1/reports/status"))
            .bearer_auth(&token)
            .header("client-id", "1001")
            .send()
    };
    let r = call().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(remaining(&r), 2);
    let r = call().await.unwrap();
    assert_eq!(remaining(&r), 1);
    let r = call().await.unwrap();
    assert_eq!(remaining(&r), 0);
    let r = call().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(remaining(&r), 0);
    assert!(r.bytes().await.unwrap().is_empty());
    // Token calls past the limit are refused as well.
    let t = env
        .http
        .post(env.url("/api/v1/authorize/token?Email=DEMO@numhub.test&Password=demo-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(t.status(), 429);
    assert!(env.sb.state()["totals"]["rateLimited429"].as_u64().unwrap() >= 2);
    assert!(wait_until(4.0, || async { call().await.unwrap().status() == 200 }).await);

    // Off (0): the header still comes, nothing is refused.
    env.admin("/__sandbox/rate-limit", json!({"limit": 0}))
        .await;
    for _ in 0..10 {
        let r = call().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(remaining(&r) > 1000);
    }
    env.sb.set_rate_limit(2, Duration::from_secs(60));
    assert_eq!(call().await.unwrap().status(), 200);
    assert_eq!(call().await.unwrap().status(), 200);
    assert_eq!(call().await.unwrap().status(), 429);
    // Admin routes are outside the limit.
    let s = env
        .http
        .get(env.url("/__sandbox/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(s.status(), 200);
    let s = env
        .req(Method::GET, "/api/v1/notifications")
        .send()
        .await
        .unwrap();
    assert_eq!(s.status(), 429);
}
