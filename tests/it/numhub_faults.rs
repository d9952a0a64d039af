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
    o.retry.backoff_base = Duration::from_millis(200);
    o.retry.backoff_max = Duration::from_secs(2);
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

/// What a case sends through its fault.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `create_application`, logged in before the faults.
    Create,
    /// `upload_documents` of one PDF to an application created before the faults.
    Upload,
}

/// How long the fault lasts.
#[derive(Clone, Copy, Debug)]
enum Lasting {
    /// Until the operation ends.
    Throughout,
    /// Until NumHub injected one; then NumHub recovers (on patient retries, so the
    /// test clearing it always wins the race against the retry budget).
    FirstAttempt,
}

/// What the operation must end with.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// Done, and NumHub holds exactly one of what was sent: the one the answer names.
    One,
    /// Refused as transient after a look at NumHub failed: the caller retries, looking
    /// first (the outbox does), never a resend from here.
    LookFailed,
}

/// How many times NumHub saw the operation's POST.
#[derive(Clone, Copy, Debug)]
enum Posts {
    Any,
    Exactly(u64),
    AtLeast(u64),
}

struct Case {
    name: &'static str,
    op: Op,
    faults: Faults,
    lasting: Lasting,
    outcome: Outcome,
    posts: Posts,
}

fn faults(seed: u64, set: impl FnOnce(&mut Faults)) -> Faults {
    let mut f = Faults {
        seed,
        ..Faults::default()
    };
    set(&mut f);
    f
}

fn cases() -> Vec<Case> {
    use Lasting::*;
    vec![
        // Every create is carried out, then the connection is reset: resending would
        // create another one each time.
        Case {
            name: "a create reset after it happened is found, not resent",
            op: Op::Create,
            faults: faults(1, |f| f.p_reset_after_create = 1.0),
            lasting: Throughout,
            outcome: Outcome::One,
            posts: Posts::Exactly(1),
        },
        // The first attempt is reset before NumHub handles it; then NumHub recovers.
        Case {
            name: "a create reset before it happened is resent once",
            op: Op::Create,
            faults: faults(1, |f| f.p_reset = 1.0),
            lasting: FirstAttempt,
            outcome: Outcome::One,
            posts: Posts::Any,
        },
        // Every create is carried out, then answered 500: resending would create
        // another one each time.
        Case {
            name: "a create answered 500 after it happened is found, not resent",
            op: Op::Create,
            faults: faults(1, |f| f.p_500_after_commit = 1.0),
            lasting: Throughout,
            outcome: Outcome::One,
            posts: Posts::Exactly(1),
        },
        // Every request is reset: the create's fate and the list are both unknown.
        Case {
            name: "a create whose look fails is not resent",
            op: Op::Create,
            faults: faults(1, |f| f.p_reset = 1.0),
            lasting: Throughout,
            outcome: Outcome::LookFailed,
            posts: Posts::Exactly(1),
        },
        // The connection is reset before NumHub stores anything; the client looks,
        // finds nothing, and sends again once NumHub recovers.
        Case {
            name: "an upload whose answer is lost is not duplicated",
            op: Op::Upload,
            faults: faults(3, |f| f.p_reset = 1.0),
            lasting: FirstAttempt,
            outcome: Outcome::One,
            posts: Posts::AtLeast(2),
        },
        // Every upload is stored, then answered 500: resending would store another.
        Case {
            name: "an upload answered 500 after it happened is not duplicated",
            op: Op::Upload,
            faults: faults(3, |f| f.p_500_after_commit = 1.0),
            lasting: Throughout,
            outcome: Outcome::One,
            posts: Posts::Exactly(1),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_is_lost_is_never_duplicated() {
    for case in cases() {
        run(&case).await;
    }
}

/// Runs one case on a sandbox of its own; every failure names the case.
async fn run(case: &Case) {
    let name = case.name;
    let tweak: fn(&mut numhubd::numhub::ClientOptions) = match case.lasting {
        Lasting::Throughout => |_| {},
        Lasting::FirstAttempt => patient,
    };
    let env = env(unlimited(), tweak).await;
    let entity = match case.op {
        Op::Create => {
            env.client
                .status_report(TENANT, P)
                .await
                .unwrap_or_else(|e| panic!("{name}: login before faults: {e}"));
            None
        }
        Op::Upload => Some(upload_target(&env, name).await),
    };
    env.sandbox.set_faults(case.faults.clone());
    let client = env.client.clone();
    let dir = env.dir.path().to_path_buf();
    let sent = tokio::spawn(async move { send(&client, &dir, entity).await });
    if let Lasting::FirstAttempt = case.lasting {
        assert!(
            eventually(Duration::from_secs(10), || async {
                env.total("faultsInjected") >= 1
            })
            .await,
            "{name}: no fault injected"
        );
        env.sandbox.set_faults(Faults::default());
    }
    let result = sent.await.expect("join");
    let (held, route) = match case.op {
        Op::Create => ("entities", "POST /api/v1/application"),
        Op::Upload => (
            "documents",
            "POST /api/v1/application/{NumhubEntityId}/documents",
        ),
    };
    match case.outcome {
        Outcome::One => {
            let answered = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            let rows = env.sandbox.state()[held]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(rows.len(), 1, "{name}: {held} at NumHub: {rows:?}");
            let id_key = match case.op {
                Op::Create => "numhubEntityId",
                Op::Upload => "documentId",
            };
            assert_eq!(
                answered,
                rows[0][id_key].as_str().map(str::to_string),
                "{name}: the answer names another {id_key}"
            );
        }
        Outcome::LookFailed => {
            let Err(err) = result else {
                panic!("{name}: answered, though its fate is unknowable");
            };
            assert!(
                matches!(&err, NumhubError::Exhausted { last, .. } if last.contains("look before resending")),
                "{name}: {err}"
            );
        }
    }
    let posts = env.route(route);
    match case.posts {
        Posts::Any => {}
        Posts::Exactly(n) => assert_eq!(posts, n, "{name}: {route} (never resent)"),
        Posts::AtLeast(n) => assert!(posts >= n, "{name}: {route} {posts} < {n}"),
    }
}

/// An application to upload to (created before the faults) and a PDF in `env.dir`.
async fn upload_target(env: &Env, name: &str) -> uuid::Uuid {
    let id = env
        .client
        .create_application(TENANT, P, &application("Upload Co", "Saved"))
        .await
        .unwrap_or_else(|e| panic!("{name}: create: {e}"))
        .numhub_entity_id
        .expect("id");
    std::fs::write(
        env.dir.path().join("loa.pdf"),
        format!("%PDF-1.4\n% {name}\n"),
    )
    .expect("pdf");
    id
}

/// Sends the case's operation: a create, or (with `entity`) an upload to it; NumHub's
/// id of what it answered.
async fn send(
    client: &numhubd::numhub::Client,
    dir: &std::path::Path,
    entity: Option<uuid::Uuid>,
) -> Result<Option<String>, NumhubError> {
    use numhubd::numhub::model::{DocumentType, UploadFile};
    let Some(id) = entity else {
        let created = client
            .create_application(TENANT, P, &application("Lost Answer Inc", "Submit"))
            .await?;
        return Ok(created.numhub_entity_id.map(|u| u.to_string()));
    };
    let files = vec![UploadFile {
        path: dir.join("loa.pdf"),
        file_name: "loa.pdf".into(),
        content_type: "application/pdf".into(),
        sha256: None,
    }];
    let up = client
        .upload_documents(TENANT, P, id, DocumentType::Loa, None, &files)
        .await?;
    Ok(up.documents.expect("documents")[0]
        .id
        .map(|u| u.to_string()))
}
