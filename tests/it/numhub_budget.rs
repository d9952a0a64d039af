//! One NumHub budget and one login for every host on a shared store (issue 25), and
//! the same age identity on all of them.
//!
//! "Hosts" here are `numhub::Client`s in this process, each over its own `Store`
//! opened on one MariaDB database (separate connection pools and writer threads), in
//! front of one sandbox: what separate daemons share is exactly the database and
//! NumHub. Skipped with a line when `mariadbd` is missing (failed under `CI=true`).
//! The identity test runs a real daemon on the run's engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use numhub_sandbox::{Sandbox, SandboxConfig};
use numhubd::crypto::Crypto;
use numhubd::db::{self, tenants, Location, Store, StoreOptions};
use numhubd::numhub::governor::span;
use numhubd::numhub::{Client, ClientOptions, Priority};

use crate::mariadb_support::{self, TestDatabase};
use crate::numhub_support::{demo, fast, TENANT};
use crate::store_support::numhub_tenant;

/// Several clients on one MariaDB database and one sandbox.
struct Hosts {
    _dir: tempfile::TempDir,
    db: TestDatabase,
    sandbox: Sandbox,
    clients: Vec<Client>,
}

fn location(db: &TestDatabase) -> Location {
    Location::Server(db::Server {
        host: "127.0.0.1".into(),
        port: db.port,
        socket: None,
        user: db.user.clone(),
        database: db.name.clone(),
        password: Some(db::Password::new(db.password())),
        tls: db::Tls::Off,
    })
}

impl Hosts {
    /// `n` hosts, or None (skipped) without MariaDB.
    async fn start(
        n: usize,
        mut sandbox: SandboxConfig,
        tweak: impl Fn(&mut ClientOptions),
    ) -> Option<Hosts> {
        if !mariadb_support::available() {
            return None;
        }
        let db = tokio::task::block_in_place(mariadb_support::fresh_database);
        sandbox.users = vec![crate::sync_support::two_client_demo()];
        let sandbox = numhub_sandbox::start(([127, 0, 0, 1], 0).into(), sandbox)
            .await
            .expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        // Every host has the same identity, as the guide asks.
        let crypto = Arc::new(Crypto::load(&dir.path().join("identity.txt"), &[]).expect("crypto"));
        let mut clients = Vec::new();
        for i in 0..n {
            let at = location(&db);
            let store = tokio::task::block_in_place(|| {
                Store::open_at(
                    &at,
                    StoreOptions {
                        readers: 2,
                        ..StoreOptions::default()
                    },
                )
            })
            .expect("store");
            if i == 0 {
                store
                    .write(|tx| {
                        tenants::upsert(tx, numhub_tenant(TENANT, "Tenant 1", "1001", None))
                    })
                    .await
                    .expect("tenant");
            }
            let mut opts = numhubd::daemon::options::client_for(sandbox.base_url(), Some(demo()));
            fast(&mut opts);
            tweak(&mut opts);
            clients.push(Client::new(opts, store, crypto.clone()).expect("client"));
        }
        Some(Hosts {
            _dir: dir,
            db,
            sandbox,
            clients,
        })
    }

    fn total(&self, key: &str) -> u64 {
        self.sandbox.state()["totals"][key].as_u64().unwrap_or(0)
    }
}

const LIMIT: u32 = 10;
const WINDOW: Duration = Duration::from_secs(2);

/// The most calls that finished within any `window`.
fn most_within(done: &[Instant], window: Duration) -> usize {
    let mut sorted = done.to_vec();
    sorted.sort();
    (0..sorted.len())
        .map(|i| {
            sorted[i..]
                .iter()
                .take_while(|t| **t - sorted[i] < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Two hosts with a backlog of background calls each, and interactive calls on both
/// once the backlog waits: together they stay within the sandbox's limit (no 429),
/// use the budget (>= 95 % of what the pacing rule allows), and the interactive calls
/// go in the next span, ahead of the background ones already waiting. On two
/// in-memory governors (the code before) each host spends the whole limit: 429s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_share_one_budget_and_serve_interactive_first() {
    let sandbox = SandboxConfig {
        rate_limit: LIMIT,
        rate_window: WINDOW,
        ..SandboxConfig::default()
    };
    let Some(hosts) = Hosts::start(2, sandbox, |o| {
        o.pacing.rate_limit = LIMIT;
        o.pacing.rate_window = WINDOW;
    })
    .await
    else {
        return;
    };
    // 55 background + 4 interactive + the one login: six whole spans of permits.
    let backlog = [27usize, 28];
    let mut background = tokio::task::JoinSet::new();
    for (client, n) in hosts.clients.iter().zip(backlog) {
        for _ in 0..n {
            let c = client.clone();
            background.spawn(async move {
                c.status_report(TENANT, Priority::Background)
                    .await
                    .map(|_| Instant::now())
            });
        }
    }
    // The first span's burst is out; the rest of the backlog waits.
    let first = crate::numhub_support::eventually(Duration::from_secs(30), || async {
        hosts.sandbox.state()["requests"]
            .as_object()
            .map(|r| r.values().filter_map(|v| v.as_u64()).sum::<u64>())
            .unwrap_or(0)
            >= u64::from(LIMIT)
    })
    .await;
    assert!(first, "the first burst never reached the sandbox");
    let asked = Instant::now();
    let mut interactive = tokio::task::JoinSet::new();
    for client in &hosts.clients {
        for _ in 0..2 {
            let c = client.clone();
            interactive.spawn(async move {
                c.status_report(TENANT, Priority::Interactive)
                    .await
                    .map(|_| Instant::now())
            });
        }
    }
    let mut interactive_done = Vec::new();
    while let Some(r) = interactive.join_next().await {
        interactive_done.push(r.expect("join").expect("an interactive call failed"));
    }
    let mut background_done = Vec::new();
    while let Some(r) = background.join_next().await {
        background_done.push(r.expect("join").expect("a background call failed"));
    }
    let all: Vec<Instant> = background_done
        .iter()
        .chain(&interactive_done)
        .copied()
        .collect();
    let (start, end) = (
        *all.iter().min().expect("calls"),
        *all.iter().max().expect("calls"),
    );
    let elapsed = end - start;
    let span = span(WINDOW);
    let permits = all.len() + 1;
    let allowed = f64::from(LIMIT) * (elapsed.as_secs_f64() / span.as_secs_f64() + 1.0);
    let nominal = f64::from(LIMIT) * (elapsed.as_secs_f64() / WINDOW.as_secs_f64() + 1.0);
    let last_interactive = *interactive_done.iter().max().expect("interactive");
    let background_after = background_done
        .iter()
        .filter(|t| **t > last_interactive)
        .count();
    eprintln!(
        "two hosts: {permits} permits in {elapsed:?} = {:.1} % of what the pacing rule allows, \
         {:.1} % of NumHub's nominal {LIMIT}/{WINDOW:?}; 429s: {}; logins: {}; interactive \
         waited at most {:?}; {background_after} background calls finished after the last \
         interactive one",
        100.0 * permits as f64 / allowed,
        100.0 * permits as f64 / nominal,
        hosts.total("rateLimited429"),
        hosts.total("tokenRequests"),
        last_interactive - asked,
    );
    assert_eq!(hosts.total("rateLimited429"), 0, "NumHub refused calls");
    // What the store recorded (what a test of daemons can read too): the last span's
    // starts, of all hosts together, within the limit.
    let account = numhubd::numhub::governor::shared::account_key(crate::numhub_support::DEMO_EMAIL);
    let recorded = hosts.clients[0]
        .store()
        .read(move |sql| db::budget::started_within(sql, &account, span))
        .await
        .expect("the store's count");
    assert!(
        (1..=LIMIT).contains(&recorded),
        "{recorded} starts recorded in the last span"
    );
    assert!(
        most_within(&all, WINDOW) <= LIMIT as usize,
        "{} calls within one window",
        most_within(&all, WINDOW)
    );
    assert!(
        permits as f64 >= 0.95 * allowed,
        "{permits} permits where the rule allows {allowed:.1}: budget left unused"
    );
    // Interactive calls took the next span's first permits: at most a span (and the
    // store's round trips) after they were asked, with most of the backlog behind them.
    assert!(
        last_interactive - asked <= span + Duration::from_millis(500),
        "interactive calls waited {:?}",
        last_interactive - asked
    );
    assert!(
        background_after >= 3 * LIMIT as usize,
        "only {background_after} background calls went after the interactive ones"
    );
}

/// Two hosts needing a token at the same moment: one login at the sandbox, and every
/// caller on both hosts gets its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_needing_a_login_at_once_log_in_once() {
    let Some(hosts) = Hosts::start(2, SandboxConfig::default(), |_| {}).await else {
        return;
    };
    let mut set = tokio::task::JoinSet::new();
    for client in &hosts.clients {
        for _ in 0..4 {
            let c = client.clone();
            set.spawn(async move { c.valid_token(TENANT).await });
        }
    }
    let mut tokens = Vec::new();
    while let Some(r) = set.join_next().await {
        tokens.push(r.expect("join").expect("a token").expose().to_string());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "the hosts hold different tokens");
    assert_eq!(hosts.total("tokenRequests"), 1, "more than one login");
}

/// A host that died while logging in holds the account only until its lease
/// expires: another host then logs in itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_lease_of_a_dead_host_expires() {
    let Some(hosts) = Hosts::start(1, SandboxConfig::default(), |_| {}).await else {
        return;
    };
    let db = hosts.db.clone();
    tokio::task::block_in_place(|| {
        mariadb_support::execute(
            &db,
            "INSERT INTO numhub_login_leases (account, holder, expires_at) \
             VALUES ('global', 'a-host-that-died', NOW(6) + INTERVAL 2 SECOND)",
        )
    });
    let asked = Instant::now();
    hosts.clients[0]
        .valid_token(TENANT)
        .await
        .expect("a token once the dead host's lease expired");
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "waited {waited:?} for a lease that expired after 2 s"
    );
    assert_eq!(hosts.total("tokenRequests"), 1);
}

/// The store's secrets, as stored: every row of the three tables that hold them.
fn secrets(store: &crate::test_engine::TestStore) -> Vec<crate::test_engine::Row> {
    let mut rows = Vec::new();
    for table in ["numhub_tokens", "numhub_credentials", "numhub_login_blocks"] {
        rows.extend(store.rows(&format!("SELECT * FROM {table} ORDER BY 1")));
    }
    rows
}

/// Every host needs the identity that wrote the store's secrets: a daemon started
/// with another one (here: the identity file gone, so it makes a new one) refuses to
/// start, exit 78, naming the row and what to do, and leaves every secret as it was.
/// With the right identity back it starts. Runs on the run's engine.
#[test]
fn a_daemon_with_another_identity_refuses_to_start_and_changes_nothing() {
    use crate::support::{spawn_serve, wait_ready, Run};
    let mut d = crate::support::start_daemon(&crate::support::base_config("info"), &[]);
    let socket = d.dir.path().join("numhubd.sock");
    crate::rpc_client::add_tenant_login(
        &socket,
        7,
        "T",
        "1001",
        "ops@tenant.test",
        "pw-of-tenant-7",
    );
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.stderr());
    // A stored token too, encrypted with the daemon's identity.
    let dir = d.dir.path().to_path_buf();
    let store = d.store();
    let crypto = Crypto::load(&dir.join("identity.txt"), &[]).expect("the daemon's identity");
    let armored = crypto.encrypt("a-bearer-token").expect("encrypt");
    let side = store.side_store();
    mariadb_support::block_on(async move {
        side.write(move |tx| {
            db::tokens::put_access(tx, Some(7), &armored, "2037-01-01T00:00:00.000000Z", None)
                .map(|_| ())
        })
        .await
        .expect("token");
        side.close().await.expect("close");
    });
    let before = secrets(&store);
    assert_eq!(before.len(), 2, "{before:?}");

    std::fs::rename(dir.join("identity.txt"), dir.join("identity-a.txt")).expect("move");
    let run = Run {
        notify: dir.join("notify.sock"),
        stderr: dir.join("stderr-other-identity.log"),
    };
    let (mut child, notify) = spawn_serve(&dir, &run, &[], &[]);
    assert!(
        !wait_ready(&mut child, &notify, &run),
        "started with another identity"
    );
    let code = child.wait().expect("exit").code();
    let stderr = std::fs::read_to_string(&run.stderr).unwrap_or_default();
    assert_eq!(code, Some(78), "{stderr}");
    for part in [
        "numhub_tokens row",
        "cannot be decrypted with this host's age identity",
        "another identity",
        "every host sharing a store needs the same one",
        "Nothing was changed",
    ] {
        assert!(stderr.contains(part), "{part:?} not in:\n{stderr}");
    }
    assert!(
        !stderr.contains("a-bearer-token") && !stderr.contains("pw-of-tenant-7"),
        "{stderr}"
    );
    assert_eq!(secrets(&store), before, "a secret changed");

    std::fs::rename(dir.join("identity-a.txt"), dir.join("identity.txt")).expect("move back");
    let run = Run {
        notify: dir.join("notify.sock"),
        stderr: dir.join("stderr-own-identity.log"),
    };
    let (mut child, notify) = spawn_serve(&dir, &run, &[], &[]);
    let ready = wait_ready(&mut child, &notify, &run);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        ready,
        "{}",
        std::fs::read_to_string(&run.stderr).unwrap_or_default()
    );
}

/// The database gone while a request waits to start (its server down, reached here
/// through a proxy that is then stopped): the start fails with
/// `DbError::Unavailable` (the RPC's -32031) within the governor's deadline, never
/// hangs, and nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_start_without_the_database_fails_unavailable() {
    use numhubd::db::DbError;
    use numhubd::numhub::governor::shared::STORE_ANSWER;
    use numhubd::numhub::Governor;
    if !mariadb_support::available() {
        return;
    }
    let db = tokio::task::block_in_place(mariadb_support::fresh_database);
    let proxy = crate::cut_proxy::CutProxy::start(db.port);
    let at = Location::Server(db::Server {
        port: proxy.port,
        ..match location(&db) {
            Location::Server(s) => s,
            Location::File(_) => unreachable!("a server location"),
        }
    });
    let store = tokio::task::block_in_place(|| Store::open_at(&at, StoreOptions::default()))
        .expect("store");
    let governor = Governor::shared(store, "ops@numhub.test", 1, Duration::from_secs(60));
    governor
        .acquire(Priority::Background)
        .await
        .expect("the first start, with the database up");
    proxy.cut_all();
    drop(proxy);
    let asked = Instant::now();
    let result = governor.acquire(Priority::Interactive).await;
    let took = asked.elapsed();
    assert!(
        matches!(result, Err(DbError::Unavailable { .. })),
        "{result:?}"
    );
    assert!(
        took <= STORE_ANSWER + Duration::from_secs(2),
        "took {took:?}"
    );
    eprintln!("a start without the database failed after {took:?}: {result:?}");
}

/// A tenant's interactive share (`[numhub] tenant_interactive_per_min`) holds for
/// all hosts together: what one host's callers spent, another's cannot spend again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_interactive_share_holds_across_hosts() {
    use numhubd::numhub::NumhubError;
    let Some(hosts) = Hosts::start(2, SandboxConfig::default(), |o| {
        o.pacing.tenant_interactive_per_min = Some(3);
    })
    .await
    else {
        return;
    };
    let (a, b) = (&hosts.clients[0], &hosts.clients[1]);
    a.spend_interactive(TENANT).await.expect("1st, host A");
    a.spend_interactive(TENANT).await.expect("2nd, host A");
    b.spend_interactive(TENANT).await.expect("3rd, host B");
    match b.spend_interactive(TENANT).await {
        Err(NumhubError::TenantBudget {
            limit: 3,
            retry_after_secs,
            ..
        }) => assert!(retry_after_secs <= 61, "{retry_after_secs}"),
        other => panic!("the 4th start of the minute, on host B: {other:?}"),
    }
    assert!(
        matches!(
            a.spend_interactive(TENANT).await,
            Err(NumhubError::TenantBudget { .. })
        ),
        "host A spent past the share"
    );
}

/// NumHub revokes the token both hosts use: host A meets the 401 first and logs in
/// again; host B, still holding the revoked token, meets its 401 after that and
/// takes A's new token instead of dropping it and logging in a third time (a host
/// drops the stored token only while it is still the revoked one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_replaced_once_for_all_hosts() {
    let Some(hosts) = Hosts::start(2, SandboxConfig::default(), |_| {}).await else {
        return;
    };
    let (a, b) = (&hosts.clients[0], &hosts.clients[1]);
    for client in [a, b] {
        client
            .status_report(TENANT, Priority::Interactive)
            .await
            .expect("a call");
    }
    assert_eq!(hosts.total("tokenRequests"), 1);
    hosts.sandbox.expire_tokens();
    a.status_report(TENANT, Priority::Interactive)
        .await
        .expect("host A after the revocation");
    assert_eq!(hosts.total("tokenRequests"), 2, "host A logged in again");
    b.status_report(TENANT, Priority::Interactive)
        .await
        .expect("host B after the revocation");
    assert_eq!(hosts.total("unauthorized401"), 2, "each host met the 401");
    assert_eq!(
        hosts.total("tokenRequests"),
        2,
        "host B logged in again instead of taking host A's new token"
    );
}
