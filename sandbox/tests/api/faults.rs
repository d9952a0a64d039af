//! Faults on demand: seeded 500/503, latency, resets before answering and after a create.

use std::time::{Duration, Instant};

use numhub_sandbox::{Faults, SandboxConfig};
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{application_body, start, Env};

async fn statuses(env: &Env, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = env
            .req(Method::GET, "/api/v1/reports/status")
            .send()
            .await
            .unwrap();
        out.push(r.status().as_u16());
    }
    out
}

#[tokio::test]
async fn seeded_500_and_503_repeat() {
    let env = start(SandboxConfig {
        rate_limit: 0,
        ..SandboxConfig::default()
    })
    .await;
    let faults = Faults {
        seed: 7,
        p500: 0.3,
        p503: 0.3,
        ..Faults::default()
    };
    env.sb.set_faults(faults.clone());
    let first = statuses(&env, 30).await;
    env.sb.set_faults(faults);
    let second = statuses(&env, 30).await;
    assert_eq!(first, second);
    for code in [200, 500, 503] {
        assert!(first.contains(&code), "{code} missing from {first:?}");
    }
    // Over HTTP too; `{}` clears them.
    env.admin(
        "/__sandbox/faults",
        json!({"seed": 7, "p500": 0.3, "p503": 0.3}),
    )
    .await;
    assert_eq!(statuses(&env, 30).await, first);
    env.admin("/__sandbox/faults", json!({})).await;
    assert!(statuses(&env, 10).await.iter().all(|s| *s == 200));
    // Faults never touch the admin routes.
    env.sb.set_faults(Faults {
        seed: 1,
        p500: 1.0,
        ..Faults::default()
    });
    for _ in 0..5 {
        assert_eq!(
            env.http
                .get(env.url("/__sandbox/state"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let injected = env.sb.state()["totals"]["faultsInjected"].as_u64().unwrap();
    assert!(injected >= 18, "{injected}");
}

#[tokio::test]
async fn latency_is_added() {
    let env = start(SandboxConfig::default()).await;
    env.sb.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let t = Instant::now();
    let r = env
        .req(Method::GET, "/api/v1/reports/status")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn reset_before_answering() {
    let env = start(SandboxConfig::default()).await;
    env.sb.set_faults(Faults {
        seed: 3,
        p_reset: 1.0,
        ..Faults::default()
    });
    let err = env
        .req(Method::GET, "/api/v1/reports/status")
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
    env.sb.set_faults(Faults::default());
    assert_eq!(
        env.req(Method::GET, "/api/v1/reports/status")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn reset_after_create_leaves_the_entity() {
    let env = start(SandboxConfig::default()).await;
    env.sb.set_faults(Faults {
        seed: 11,
        p_reset_after_create: 1.0,
        ..Faults::default()
    });
    // Other routes are unaffected by this fault.
    assert_eq!(
        env.req(Method::GET, "/api/v1/reports/status")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let err = env
        .req(Method::POST, "/api/v1/application")
        .json(&application_body("Lost Reply Co", "Submit"))
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
    let state: Value = env.sb.state();
    let entities = state["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 1);
    assert_eq!(entities[0]["companyName"], "Lost Reply Co");
    assert_eq!(entities[0]["status"], "Submitted");
    assert_eq!(state["totals"]["faultsInjected"], 1);
}

#[tokio::test]
async fn five_hundred_after_commit_keeps_the_create_and_says_requests_remaining() {
    let env = start(SandboxConfig::default()).await;
    env.sb.set_faults(Faults {
        seed: 11,
        p_500_after_commit: 1.0,
        ..Faults::default()
    });
    // Only creates and uploads are affected.
    let status = env
        .req(Method::GET, "/api/v1/reports/status")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let r = env
        .req(Method::POST, "/api/v1/application")
        .json(&application_body("Saved Then Failed Co", "Saved"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.headers().contains_key("requests-remaining"), "{r:?}");
    let state: Value = env.sb.state();
    let entities = state["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 1, "the create took effect");
    assert_eq!(entities[0]["companyName"], "Saved Then Failed Co");
    assert_eq!(state["totals"]["faultsInjected"], 1);
    // Over HTTP too.
    env.admin("/__sandbox/faults", json!({"p_500_after_commit": 1.0}))
        .await;
    assert_eq!(env.sb.state()["faults"]["p_500_after_commit"], 1.0);
}

#[tokio::test]
async fn injected_5xx_answers_carry_requests_remaining() {
    let env = start(SandboxConfig::default()).await;
    for f in [
        Faults {
            p500: 1.0,
            ..Faults::default()
        },
        Faults {
            p503: 1.0,
            ..Faults::default()
        },
    ] {
        env.sb.set_faults(f);
        let r = env
            .req(Method::GET, "/api/v1/reports/status")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_server_error(), "{r:?}");
        let remaining = r
            .headers()
            .get("requests-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok());
        assert!(remaining.is_some(), "{r:?}");
    }
}
