//! Faults (seeded, so a run repeats): 5xx and resets are retried within the budget,
//! each attempt audited; a create whose answer is lost is never duplicated.

use std::time::Duration;

use numhub_sandbox::{Faults, SandboxConfig};
use numhubd::numhub::{NumhubError, Priority};

use crate::numhub_support::*;

const P: Priority = Priority::Background;

/// Retries slow enough that a test clearing the faults (after it saw the first one)
/// always wins the race against the retry budget, even on a loaded machine.
fn patient(o: &mut numhubd::numhub::ClientOptions) {
    o.backoff_base = Duration::from_millis(200);
    o.backoff_max = Duration::from_secs(2);
}

fn unlimited() -> SandboxConfig {
    SandboxConfig {
        rate_limit: 0,
        ..SandboxConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_calls_through_twenty_percent_5xx_and_ten_percent_resets() {
    let env = env(unlimited(), |_| {}).await;
    env.client
        .status_report(TENANT, P)
        .await
        .expect("login before faults");
    env.sandbox.set_faults(Faults {
        seed: 7,
        p500: 0.1,
        p503: 0.1,
        p_reset: 0.1,
        ..Faults::default()
    });
    let (mut ok, mut failed) = (0, 0);
    // Sequential, so the seeded fault sequence meets the same requests every run.
    for _ in 0..500 {
        match env.client.status_report(TENANT, P).await {
            Ok(_) => ok += 1,
            Err(NumhubError::Exhausted { attempts, .. }) => {
                assert_eq!(attempts, 5);
                failed += 1
            }
            Err(other) => panic!("untyped failure: {other}"),
        }
    }
    assert!(ok >= 495, "{ok} of 500 succeeded ({failed} exhausted)");
    assert!(
        env.total("faultsInjected") > 100,
        "faults were not injected"
    );
    // One audit row per attempt the sandbox saw (and none it did not).
    let requests = env.total("requests");
    let audited = eventually(Duration::from_secs(20), || async {
        env.audit_rows().await.len() as u64 == requests
    })
    .await;
    assert!(
        audited,
        "audit rows {} != requests {requests}",
        env.audit_rows().await.len()
    );
    let rows = env.audit_rows().await;
    let mut by_status = std::collections::BTreeMap::new();
    for r in &rows {
        *by_status
            .entry(format!("{:?}/{}", r.status_code, r.success))
            .or_insert(0) += 1;
    }
    eprintln!("ok {ok} failed {failed} rows {by_status:?}");
    // The login and the call before the faults, then every successful call.
    assert_eq!(rows.iter().filter(|r| r.success).count(), ok + 2);
    assert!(rows
        .iter()
        .any(|r| r.status_code.is_none() && r.error_message.is_some()));
}

fn entities(env: &Env) -> Vec<serde_json::Value> {
    env.sandbox.state()["entities"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_reset_after_it_happened_is_found_not_resent() {
    let env = env(unlimited(), |_| {}).await;
    env.client
        .status_report(TENANT, P)
        .await
        .expect("login before faults");
    // Every create is carried out, then the connection is reset: resending would
    // create another one each time.
    env.sandbox.set_faults(Faults {
        seed: 1,
        p_reset_after_create: 1.0,
        ..Faults::default()
    });
    let created = env
        .client
        .create_application(TENANT, P, &application("Lost Answer Inc", "Submit"))
        .await
        .expect("create");
    let ents = entities(&env);
    assert_eq!(ents.len(), 1, "{ents:?}");
    assert_eq!(
        created.numhub_entity_id.map(|u| u.to_string()),
        ents[0]["numhubEntityId"].as_str().map(str::to_string)
    );
    assert_eq!(env.route("POST /api/v1/application"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_reset_before_it_happened_is_resent_once() {
    let env = env(unlimited(), patient).await;
    env.client
        .status_report(TENANT, P)
        .await
        .expect("login before faults");
    env.sandbox.set_faults(Faults {
        seed: 1,
        p_reset: 1.0,
        ..Faults::default()
    });
    let client = env.client.clone();
    let create = tokio::spawn(async move {
        client
            .create_application(TENANT, P, &application("Never Arrived LLC", "Submit"))
            .await
    });
    // The first attempt is reset before NumHub handles it; then NumHub recovers.
    assert!(
        eventually(Duration::from_secs(10), || async {
            env.total("faultsInjected") >= 1
        })
        .await
    );
    env.sandbox.set_faults(Faults::default());
    let created = create.await.expect("join").expect("create");
    let ents = entities(&env);
    assert_eq!(ents.len(), 1, "{ents:?}");
    assert_eq!(
        created.numhub_entity_id.map(|u| u.to_string()),
        ents[0]["numhubEntityId"].as_str().map(str::to_string)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_answered_500_after_it_happened_is_found_not_resent() {
    let env = env(unlimited(), |_| {}).await;
    env.client
        .status_report(TENANT, P)
        .await
        .expect("login before faults");
    // Every create is carried out, then answered 500: resending would create another
    // one each time.
    env.sandbox.set_faults(Faults {
        seed: 1,
        p_500_after_commit: 1.0,
        ..Faults::default()
    });
    let created = env
        .client
        .create_application(TENANT, P, &application("Saved Then 500 Inc", "Submit"))
        .await
        .expect("create");
    let ents = entities(&env);
    assert_eq!(ents.len(), 1, "{ents:?}");
    assert_eq!(
        created.numhub_entity_id.map(|u| u.to_string()),
        ents[0]["numhubEntityId"].as_str().map(str::to_string)
    );
    assert_eq!(env.route("POST /api/v1/application"), 1, "never resent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_look_fails_is_not_resent() {
    let env = env(unlimited(), |_| {}).await;
    env.client
        .status_report(TENANT, P)
        .await
        .expect("login before faults");
    // Every request is reset: the create's fate and the list are both unknown.
    env.sandbox.set_faults(Faults {
        seed: 1,
        p_reset: 1.0,
        ..Faults::default()
    });
    let err = env
        .client
        .create_application(TENANT, P, &application("Fog Corp", "Submit"))
        .await
        .expect_err("unknowable");
    // NumHub could not be read for the look: a transient failure the caller retries,
    // looking first (the outbox does), never a resend from here.
    assert!(
        matches!(&err, NumhubError::Exhausted { last, .. } if last.contains("look before resending")),
        "{err}"
    );
    assert_eq!(env.route("POST /api/v1/application"), 1, "never resent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_answer_is_lost_is_not_duplicated() {
    use numhubd::numhub::model::{DocumentType, UploadFile};
    let env = env(unlimited(), patient).await;
    let c = &env.client;
    let id = c
        .create_application(TENANT, P, &application("Upload Twice Co", "Saved"))
        .await
        .expect("create")
        .numhub_entity_id
        .expect("id");
    let pdf = env.dir.path().join("loa.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n% lost answer\n").expect("pdf");
    let files = vec![UploadFile {
        path: pdf,
        file_name: "loa.pdf".into(),
        content_type: "application/pdf".into(),
        sha256: None,
    }];
    // First: the connection is reset before NumHub stores anything; the client
    // looks, finds nothing, and sends again once NumHub recovers.
    env.sandbox.set_faults(Faults {
        seed: 3,
        p_reset: 1.0,
        ..Faults::default()
    });
    let upload = {
        let (c, files) = (c.clone(), files.clone());
        tokio::spawn(async move {
            c.upload_documents(TENANT, P, id, DocumentType::Loa, None, &files)
                .await
        })
    };
    assert!(
        eventually(Duration::from_secs(10), || async {
            env.total("faultsInjected") >= 1
        })
        .await
    );
    env.sandbox.set_faults(Faults::default());
    let first = upload.await.expect("join").expect("upload");
    let docs = env.sandbox.state()["documents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(
        first.documents.expect("documents")[0]
            .id
            .map(|u| u.to_string()),
        docs[0]["documentId"].as_str().map(str::to_string)
    );
    assert!(env.route("POST /api/v1/application/{NumhubEntityId}/documents") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_answered_500_after_it_happened_is_not_duplicated() {
    use numhubd::numhub::model::{DocumentType, UploadFile};
    let env = env(unlimited(), |_| {}).await;
    let c = &env.client;
    let id = c
        .create_application(TENANT, P, &application("Upload 500 Co", "Saved"))
        .await
        .expect("create")
        .numhub_entity_id
        .expect("id");
    let pdf = env.dir.path().join("loa.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n% saved, then a 500\n").expect("pdf");
    let files = vec![UploadFile {
        path: pdf,
        file_name: "loa.pdf".into(),
        content_type: "application/pdf".into(),
        sha256: None,
    }];
    // Every upload is stored, then answered 500: resending would store another.
    env.sandbox.set_faults(Faults {
        seed: 3,
        p_500_after_commit: 1.0,
        ..Faults::default()
    });
    let up = c
        .upload_documents(TENANT, P, id, DocumentType::Loa, None, &files)
        .await
        .expect("upload");
    let docs = env.sandbox.state()["documents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(
        up.documents.expect("documents")[0]
            .id
            .map(|u| u.to_string()),
        docs[0]["documentId"].as_str().map(str::to_string)
    );
    assert_eq!(
        env.route("POST /api/v1/application/{NumhubEntityId}/documents"),
        1,
        "never resent"
    );
}
