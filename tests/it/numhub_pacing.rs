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

/// A client pacing itself at `limit` a window, on a sandbox that allows as much.
async fn paced_at(limit: u32) -> Env {
    env(limited(limit), |o| {
        o.pacing.rate_limit = limit;
        o.pacing.rate_window = WINDOW;
    })
    .await
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
    let env = paced_at(20).await;
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
    let env = paced_at(20).await;
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

/// Issue 23 item 4: three restarts (kill -9, SIGTERM, kill -9) while NumHub's window
/// is spent and a backlog of creates waits. Each new process resumes what the last
/// span spent (from the audit table) and reads `requests-remaining` before it sends
/// more, so NumHub refuses nothing; before, each restart began with a full window and
/// was answered 429.
#[test]
fn three_restarts_within_one_window_under_a_backlog_get_no_429() {
    use crate::sync_support::{create_entity, Harness};
    const LIMIT: u64 = 20;
    const WINDOW_SECS: u64 = 10;
    const CREATES: usize = 40;
    let mut h = Harness::new(3);
    h.edit_config(
        "rate_limit = 0",
        &format!("rate_limit = {LIMIT}\nrate_window_secs = {WINDOW_SECS}"),
    );
    h.admin(
        "/__sandbox/rate-limit",
        serde_json::json!({"limit": LIMIT, "window_secs": WINDOW_SECS}),
    );
    assert!(h.start(&[]), "first start:\n{}", h.all_stderr());
    h.tenant(true);
    let started = Instant::now();
    for i in 0..CREATES {
        create_entity(&h.socket(), &format!("Backlog {i}"), false).expect("queued");
    }
    // The daemon spends the window; once NumHub counted most of it, restart three
    // times, each new process given up to a second to send (a fixed one would at once).
    assert!(
        crate::support::wait_until(crate::support::TIMEOUT, || h.total_requests() >= LIMIT - 2),
        "the window was not spent:\n{}",
        h.all_stderr()
    );
    let restarts: [fn(&mut Harness); 3] = [Harness::kill9, Harness::stop, Harness::kill9];
    for (n, restart) in restarts.iter().enumerate() {
        restart(&mut h);
        assert!(h.start(&[]), "restart {n}:\n{}", h.all_stderr());
        let seen = h.total_requests();
        crate::support::wait_until(Duration::from_secs(1), || h.total_requests() > seen);
    }
    eprintln!(
        "three restarts {:?} after the first create",
        started.elapsed()
    );
    assert!(
        crate::support::wait_until(Duration::from_secs(90), || h.all_jobs_done()),
        "the backlog did not drain: {:?}\n{}",
        h.jobs().iter().filter(|j| j["state"] != "done").count(),
        h.all_stderr()
    );
    let totals = h.state()["totals"].clone();
    assert_eq!(
        totals["rateLimited429"],
        0,
        "NumHub refused calls across restarts: {totals}\n{}",
        h.all_stderr()
    );
    eprintln!(
        "{CREATES} creates, 3 restarts, {LIMIT} per {WINDOW_SECS} s: drained in {:?}, {} requests, 0 x 429",
        started.elapsed(),
        totals["requests"]
    );
}

/// A 429 NumHub serves (here: the daemon's pacing is off, NumHub's limit is 3) is an
/// operator's business: logged at warn with the account, not only at debug.
#[test]
fn a_429_is_logged_at_warn_with_the_account() {
    use crate::sync_support::{create_entity, Harness};
    let mut h = Harness::new(2);
    h.admin(
        "/__sandbox/rate-limit",
        serde_json::json!({"limit": 3, "window_secs": 60}),
    );
    assert!(h.start(&[]), "start:\n{}", h.all_stderr());
    h.tenant(true);
    for i in 0..4 {
        create_entity(&h.socket(), &format!("Refused {i}"), false).expect("queued");
    }
    let warned = |h: &Harness| {
        h.stderr_of(1)
            .lines()
            .any(|l| l.contains("WARN") && l.contains("429") && l.contains("account=global"))
    };
    assert!(
        crate::support::wait_until(crate::support::TIMEOUT, || warned(&h)),
        "rateLimited429 = {}; no warn line:\n{}",
        h.state()["totals"]["rateLimited429"],
        h.all_stderr()
    );
}
