//! Pacing: the governor keeps under NumHub's limit, follows `requests-remaining`
//! when another client shares the account, and recovers from 429s without losing a
//! call. Short windows on both sides keep this fast.

use std::time::{Duration, Instant};

use numhub_sandbox::SandboxConfig;
use numhubd::numhub::Priority;

use crate::numhub_support::*;

const WINDOW: Duration = Duration::from_secs(1);

fn limited(limit: u32) -> SandboxConfig {
    SandboxConfig {
        rate_limit: limit,
        rate_window: WINDOW,
        ..SandboxConfig::default()
    }
}

async fn run_calls(client: &numhubd::numhub::Client, n: usize) -> usize {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let c = client.clone();
        let p = if i % 2 == 0 {
            Priority::Background
        } else {
            Priority::Interactive
        };
        set.spawn(async move { c.status_report(TENANT, p).await });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        match r.expect("join") {
            Ok(_) => ok += 1,
            Err(e) => eprintln!("call failed: {e}"),
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_queued_calls_under_a_limit_of_twenty_get_no_429() {
    let env = env(limited(20), |o| {
        o.rate_limit = 20;
        o.rate_window = WINDOW;
    })
    .await;
    let start = Instant::now();
    assert_eq!(run_calls(&env.client, 60).await, 60);
    let elapsed = start.elapsed();
    assert_eq!(
        env.total("rateLimited429"),
        0,
        "the governor let NumHub refuse calls"
    );
    // 61 requests (with the login) at 20 a window need at least three windows'
    // worth of waiting; finishing sooner would mean the governor did not pace.
    assert!(elapsed >= WINDOW * 3, "finished in {elapsed:?}: no pacing?");
    eprintln!("60 calls at 20 per {WINDOW:?}: {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_client_eating_the_budget_costs_no_call() {
    let env = env(limited(20), |o| {
        o.rate_limit = 20;
        o.rate_window = WINDOW;
    })
    .await;
    // Another client on the same account: its own token, then requests as fast as
    // it can, while ours runs.
    let base = env.sandbox.base_url();
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base}/api/v1/authorize/token"))
        .query(&[("Email", DEMO_EMAIL), ("Password", DEMO_PASSWORD)])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let bearer = token["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_string();
    let eat = |n: usize| {
        let (http, base, bearer) = (http.clone(), base.clone(), bearer.clone());
        async move {
            for _ in 0..n {
                let _ = http
                    .get(format!("{base}/api/v1/reports/status"))
                    .bearer_auth(&bearer)
                    .header("client-id", "1001")
                    .send()
                    .await;
            }
        }
    };
    // Most of the current window is gone before we start…
    eat(15).await;
    // …and the other client keeps eating while we run.
    let eater = tokio::spawn(eat(25));
    assert_eq!(run_calls(&env.client, 40).await, 40, "a call was lost");
    eater.await.expect("eater");
    // Ours resynchronised from requests-remaining: the 429s the sandbox served went
    // mostly to the other client, and every one of ours was retried.
    let rows = env.audit_rows().await;
    let ours_429 = rows.iter().filter(|r| r.status_code == Some(429)).count();
    let ok = rows.iter().filter(|r| r.success).count();
    assert_eq!(ok, 41, "40 calls and one login succeeded");
    eprintln!(
        "sandbox served {} 429s, {ours_429} of them to our client",
        env.total("rateLimited429")
    );
}
