//! Tokens: cached, refreshed before expiry, one login for many callers, one re-login
//! on 401, no login storms, and key rotation of every stored secret.

use std::time::Duration;

use numhub_sandbox::SandboxConfig;
use numhubd::crypto::Crypto;
use numhubd::numhub::{NumhubError, Priority, Secret};

use crate::numhub_support::*;

const P: Priority = Priority::Background;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_cached_and_survives_a_restart() {
    let env = env(SandboxConfig::default(), |_| {}).await;
    for _ in 0..3 {
        env.client.status_report(TENANT, P).await.expect("call");
    }
    assert_eq!(env.total("tokenRequests"), 1);
    // A new client on the same database reuses the stored (encrypted) token.
    env.second_client()
        .status_report(TENANT, P)
        .await
        .expect("call");
    assert_eq!(env.total("tokenRequests"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_refreshed_before_it_expires() {
    // A 4 s token renewed with 90% of its life left: due 0.4 s after issue.
    let cfg = SandboxConfig {
        token_ttl: Duration::from_secs(4),
        ..SandboxConfig::default()
    };
    let env = env(cfg, |o| o.refresh_margin = 0.9).await;
    env.client.status_report(TENANT, P).await.expect("call");
    assert_eq!(env.total("tokenRequests"), 1);
    let renewed = eventually(Duration::from_secs(10), || async {
        env.client.status_report(TENANT, P).await.expect("call");
        env.total("tokenRequests") == 2
    })
    .await;
    assert!(renewed, "the token was never renewed");
    // Renewed ahead of expiry: NumHub never had to refuse it.
    assert_eq!(env.total("unauthorized401"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_callers_share_one_login_and_one_relogin() {
    // Pacing off on both sides: this test is about logins only.
    let cfg = SandboxConfig {
        rate_limit: 0,
        ..SandboxConfig::default()
    };
    let env = env(cfg, |_| {}).await;
    let run = |n: usize| {
        let client = env.client.clone();
        async move {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..n {
                let c = client.clone();
                set.spawn(async move { c.status_report(TENANT, P).await });
            }
            while let Some(r) = set.join_next().await {
                r.expect("join").expect("call");
            }
        }
    };
    run(50).await;
    assert_eq!(env.total("tokenRequests"), 1);
    // Every token now answers 401: callers that got one wait for the one re-login
    // (later callers use the new token at once), and each refused call is retried
    // once and succeeds.
    env.sandbox.expire_tokens();
    run(50).await;
    assert_eq!(env.total("tokenRequests"), 2);
    let refused = env.total("unauthorized401");
    assert!((1..=50).contains(&refused), "{refused} 401s");
    assert_eq!(env.route("GET /api/v1/reports/status"), 100 + refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_means_one_relogin_and_one_retry() {
    let env = env(SandboxConfig::default(), |_| {}).await;
    env.client.status_report(TENANT, P).await.expect("call");
    env.sandbox.expire_tokens();
    env.client
        .status_report(TENANT, P)
        .await
        .expect("retried call");
    assert_eq!(env.total("tokenRequests"), 2);
    assert_eq!(env.total("unauthorized401"), 1);
    assert_eq!(env.route("GET /api/v1/reports/status"), 3);
    let rows = env.audit_rows().await;
    assert_eq!(
        rows.iter().filter(|r| r.status_code == Some(401)).count(),
        1
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.endpoint == "/api/v1/authorize/token")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_login_stops_until_the_credentials_change() {
    let env = env(SandboxConfig::default(), |_| {}).await;
    let c = &env.client;
    c.set_tenant_credentials(2, DEMO_EMAIL, &Secret::new("wrong-password"))
        .await
        .expect("set credentials");
    for _ in 0..3 {
        let err = c.status_report(2, P).await.expect_err("blocked");
        assert!(matches!(err, NumhubError::LoginBlocked { .. }), "{err}");
    }
    assert_eq!(env.total("tokenRequests"), 1, "exactly one login attempt");
    let status = c.login_status().await.expect("status");
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].account, "tenant:2");
    assert_eq!(status[0].status_code, Some(400));
    // Still blocked after a restart (the rejected credentials are in the database).
    let restarted = env.second_client();
    let err = restarted
        .status_report(2, P)
        .await
        .expect_err("still blocked");
    assert!(matches!(err, NumhubError::LoginBlocked { .. }), "{err}");
    assert_eq!(env.total("tokenRequests"), 1);
    // The global account is not affected.
    restarted
        .status_report(TENANT, P)
        .await
        .expect("global account works");
    // An operator retry makes one more attempt (which fails again and re-blocks).
    assert!(restarted.retry_login("tenant:2").await.expect("retry"));
    restarted
        .status_report(2, P)
        .await
        .expect_err("wrong again");
    assert_eq!(env.total("tokenRequests"), 3);
    // Changing the credentials lifts the block.
    restarted
        .set_tenant_credentials(2, DEMO_EMAIL, &Secret::new(DEMO_PASSWORD))
        .await
        .expect("set credentials");
    restarted
        .status_report(2, P)
        .await
        .expect("works with the right password");
    assert!(restarted.login_status().await.expect("status").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_reencrypts_every_secret() {
    let env = env(SandboxConfig::default(), |_| {}).await;
    let c = &env.client;
    c.status_report(TENANT, P).await.expect("token stored");
    c.set_tenant_credentials(2, DEMO_EMAIL, &Secret::new("nope"))
        .await
        .expect("creds");
    c.status_report(2, P).await.expect_err("blocked");
    let identity = env.dir.path().join("identity.txt");
    let report = numhubd::numhub::rotate::rotate(&env.store, &identity, &[])
        .await
        .expect("rotate");
    assert_eq!(
        (report.tokens, report.credentials, report.login_blocks),
        (1, 1, 1)
    );
    assert!(env.dir.path().join("identity.txt.old").exists());
    let old = Crypto::load(&env.dir.path().join("identity.txt.old"), &[]).expect("old");
    let new = std::sync::Arc::new(Crypto::load(&identity, &[]).expect("new"));
    assert_ne!(old.public_key(), new.public_key());
    // The old key no longer opens anything; the new one opens everything: a client
    // with it reuses the token and still knows the block.
    let token = env
        .store
        .read(|sql| numhubd::db::tokens::get_access(sql, None))
        .await
        .expect("read")
        .expect("token row");
    assert!(old.decrypt(&token.access_token).is_err());
    let client =
        numhubd::numhub::Client::new(env.opts.clone(), env.store.clone(), new).expect("client");
    client.status_report(TENANT, P).await.expect("call");
    assert_eq!(env.total("tokenRequests"), 2, "no new login after rotation");
    let err = client.status_report(2, P).await.expect_err("still blocked");
    assert!(matches!(err, NumhubError::LoginBlocked { .. }), "{err}");
}

/// Key rotation re-encrypts what it read; a login set after that read (already
/// encrypted to the new identity) must not be reverted by the rotation's write: each
/// row is replaced only if it still holds what was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_set_during_a_rotation_is_not_reverted() {
    use numhubd::db::credentials;
    let env = env(SandboxConfig::default(), |_| {}).await;
    let c = &env.client;
    c.set_tenant_credentials(2, DEMO_EMAIL, &Secret::new("before"))
        .await
        .expect("creds");
    // What the rotation read, and re-encrypted.
    let read = env.store.read(credentials::all).await.expect("read");
    let was = read[0].clone();
    let (e, p) = (
        env.crypto.encrypt(DEMO_EMAIL).expect("encrypt"),
        env.crypto.encrypt("before").expect("encrypt"),
    );
    // Meanwhile an operator sets a new login.
    c.set_tenant_credentials(2, DEMO_EMAIL, &Secret::new("after"))
        .await
        .expect("creds");
    let replaced = env
        .store
        .write(move |tx| credentials::reencrypt(tx, &was, &e, &p))
        .await
        .expect("write");
    assert!(
        !replaced,
        "the rotation's stale copy was written over the new login"
    );
    let now = env
        .store
        .read(|sql| credentials::get(sql, 2))
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        env.crypto.decrypt(&now.password_armored).expect("decrypt"),
        "after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_drops_expired_tokens_and_old_audit_rows() {
    let env = env(SandboxConfig::default(), |_| {}).await;
    env.client.status_report(TENANT, P).await.expect("call");
    let armored = env.crypto.encrypt("stale").expect("encrypt");
    env.store
        .write(move |tx| {
            numhubd::db::tokens::put_access(
                tx,
                Some(2),
                &armored,
                "2000-01-01T00:00:00.000000Z",
                None,
            )
            .map(|_| ())
        })
        .await
        .expect("stale token");
    assert!(!env.audit_rows().await.is_empty());
    // Retention 0 days: every row is older than the cut-off.
    let retention = numhubd::housekeeping::Retention {
        done_jobs: std::time::Duration::ZERO,
        audit: std::time::Duration::ZERO,
    };
    let purged = numhubd::housekeeping::run_once(&env.store, retention, true)
        .await
        .expect("housekeeping");
    assert_eq!(purged.expired_tokens, 1, "only the expired token goes");
    assert_eq!(purged.audit_rows, 2);
    assert!(env.audit_rows().await.is_empty());
    // The live token is still there: no new login.
    env.client.status_report(TENANT, P).await.expect("call");
    assert_eq!(env.total("tokenRequests"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numhubd_keys_rotate_command_rotates_and_keeps_the_old_identity() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("numhubd.toml"),
        "[database]\npath = \"numhubd.db\"\n[crypto]\nidentity_file = \"identity.txt\"\n",
    )
    .expect("config");
    let old = Crypto::load(&dir.path().join("identity.txt"), &[]).expect("identity");
    {
        let store = numhubd::db::Store::open(&dir.path().join("numhubd.db"), Default::default())
            .expect("store");
        let (e, p) = (
            old.encrypt("ops@example.com").expect("e"),
            old.encrypt("pw-rotate-me").expect("p"),
        );
        store
            .write(move |tx| {
                numhubd::db::tenants::upsert(tx, crate::store_support::tenant(5, "five"))?;
                numhubd::db::credentials::set(tx, 5, &e, &p)
            })
            .await
            .expect("credentials");
        store.close().await.expect("close");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_numhubd"))
        .args(["keys", "rotate", "--config"])
        .arg(dir.path().join("numhubd.toml"))
        .output()
        .expect("run numhubd");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 tenant credentials"), "{stdout}");
    assert!(stdout.contains("identity.txt.old"), "{stdout}");
    let new = Crypto::load(&dir.path().join("identity.txt"), &[]).expect("new identity");
    assert_ne!(new.public_key(), old.public_key());
    let store = numhubd::db::Store::open(&dir.path().join("numhubd.db"), Default::default())
        .expect("store");
    let row = store
        .read(|sql| numhubd::db::credentials::get(sql, 5))
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        new.decrypt(&row.password_armored)
            .expect("new key opens it"),
        "pw-rotate-me"
    );
    assert!(old.decrypt(&row.password_armored).is_err());
    let kept = Crypto::load(&dir.path().join("identity.txt.old"), &[]).expect("old kept");
    assert_eq!(kept.public_key(), old.public_key());
}
