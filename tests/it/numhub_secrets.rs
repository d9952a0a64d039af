//! No clear-text secret anywhere: the raw bytes of the database and its WAL, the
//! captured log output, and the audit rows are searched for the actual token,
//! passwords, OTP and business id the sandbox issued or accepted.

use numhub_sandbox::{SandboxConfig, User};
use numhubd::numhub::{Priority, Secret};

use crate::numhub_support::*;

const P: Priority = Priority::Interactive;
const OTP: i32 = 918_273_645;
const TENANT_EMAIL: &str = "second-login@numhub.test";
const TENANT_PASSWORD: &str = "tenant-pw-5f1c9e77";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_the_database_wal_logs_or_audit_rows() {
    let mut second = crate::sync_support::two_client_demo();
    second.email = TENANT_EMAIL.into();
    second.password = TENANT_PASSWORD.into();
    second.user_id = 2;
    let cfg = SandboxConfig {
        otp_code: OTP,
        users: vec![User::demo(), second],
        ..SandboxConfig::default()
    };
    let env = env(cfg, |_| {}).await;
    let c = &env.client;
    c.set_tenant_credentials(2, TENANT_EMAIL, &Secret::new(TENANT_PASSWORD))
        .await
        .expect("credentials");
    let mut tokens = Vec::new();
    for tenant in [TENANT, 2] {
        let created = c
            .create_application(
                tenant,
                P,
                &application(&format!("Secret Keepers {tenant}"), "Submit"),
            )
            .await
            .expect("create");
        let id = created.numhub_entity_id.expect("id");
        c.generate_otp(tenant, P, id, false).await.expect("otp");
        c.verify_otp(tenant, P, id, 12)
            .await
            .expect_err("wrong otp");
        c.verify_otp(tenant, P, id, OTP).await.expect("verify");
        tokens.push(
            c.valid_token(tenant)
                .await
                .expect("token")
                .expose()
                .to_string(),
        );
    }
    assert_ne!(tokens[0], tokens[1], "two accounts, two tokens");
    // The sandbox really accepted the OTP.
    let state = env.sandbox.state();
    assert!(state["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .all(|e| e["otpVerified"] == true));

    let rows = env.audit_rows().await; // also waits for every queued write
    let audit = serde_json::to_string(&rows).expect("json");
    let db = std::fs::read(env.dir.path().join("numhubd.db")).expect("db");
    let wal = std::fs::read(env.dir.path().join("numhubd.db-wal")).expect("wal");
    assert!(!wal.is_empty(), "nothing in the WAL to search");
    let logs = logs();
    let otp = OTP.to_string();
    let mut secrets: Vec<(&str, &str)> = vec![
        ("global password", DEMO_PASSWORD),
        ("tenant password", TENANT_PASSWORD),
        ("otp", &otp),
        ("EIN", "98-7654321"),
    ];
    for t in &tokens {
        secrets.push(("token", t));
    }
    for (what, secret) in secrets {
        for (place, bytes) in [
            ("database file", db.as_slice()),
            ("WAL", wal.as_slice()),
            ("logs", logs.as_bytes()),
            ("audit rows", audit.as_bytes()),
        ] {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{what} found in clear text in the {place}"
            );
        }
    }
    // The rows still say what happened: the OTP call is there, its code is not.
    let verify = rows
        .iter()
        .find(|r| r.endpoint.ends_with("/verifyOtp") && r.success)
        .expect("verify row");
    assert_eq!(
        verify.request_payload.as_ref().expect("payload")["query"]["otp"],
        "[redacted]"
    );
    let token_row = rows
        .iter()
        .find(|r| r.endpoint == "/api/v1/authorize/token")
        .expect("token row");
    assert_eq!(
        token_row.response_payload.as_ref().expect("payload")["accessToken"],
        "[redacted]"
    );
    // The login's query string is redacted whole (NumHub's own answers may still
    // name the user, e.g. `createdBy`: that is not a secret).
    let query = &token_row.request_payload.as_ref().expect("payload")["query"];
    assert_eq!(query["Email"], "[redacted]");
    assert_eq!(query["Password"], "[redacted]");
    assert!(!logs.contains(TENANT_EMAIL), "the login email was logged");
    // The EIN is kept as a fingerprint, the same for the same value.
    let fps: Vec<String> = rows
        .iter()
        .filter(|r| r.endpoint == "/api/v1/application" && r.method.as_str() == "POST")
        .map(|r| {
            r.request_payload.as_ref().expect("p")["body"]["businessIdentityDetails"]
                ["federalEmployerIdNumber"]
                .to_string()
        })
        .collect();
    assert_eq!(fps.len(), 2);
    assert_eq!(fps[0], fps[1]);
    assert!(fps[0].contains("fp:"), "{}", fps[0]);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
