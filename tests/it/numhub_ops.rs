//! Every operation the daemon needs, round-tripped against the sandbox over HTTP.

use std::time::Duration;

use numhub_sandbox::SandboxConfig;
use numhubd::numhub::model::*;
use numhubd::numhub::{NumhubError, Priority};

use crate::numhub_support::*;

const P: Priority = Priority::Interactive;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_round_trips() {
    let env = env(SandboxConfig::default(), |_| {}).await;
    let c = &env.client;
    c.user_info(TENANT, P).await.expect("userInfo");

    let created = c
        .create_application(TENANT, P, &application("Round Trip LLC", "Saved"))
        .await
        .expect("create");
    let id = created.numhub_entity_id.expect("numhubEntityId");
    let app = c.get_application(TENANT, P, id).await.expect("get");
    assert_eq!(app.status.as_deref(), Some("Saved"));
    assert_eq!(
        app.business_entity_details
            .and_then(|b| b.legal_business_name)
            .as_deref(),
        Some("Round Trip LLC")
    );
    let view = c.view_application(TENANT, P, id).await.expect("view");
    assert_eq!(view.numhub_entity_id, Some(id));

    let mut update = application("Round Trip LLC", "Submit");
    update.application_id = app.application_id.clone();
    let updated = c
        .update_application(TENANT, P, id, &update)
        .await
        .expect("update");
    assert_eq!(updated.numhub_entity_id, Some(id));
    assert_eq!(
        c.get_application(TENANT, P, id)
            .await
            .expect("get")
            .status
            .as_deref(),
        Some("Submitted")
    );

    let report = c
        .vetting_report(TENANT, P, id)
        .await
        .expect("vetting report");
    assert!(report.get("numhubEntityId").is_some(), "{report}");

    let page = c
        .attestation_list(TENANT, P, 1, 10)
        .await
        .expect("attestation list");
    assert_eq!(page.total_count, Some(1));
    let item = &page.results.as_ref().expect("results")[0];
    assert_eq!(item.numhub_entity_id, Some(id));
    assert_eq!(item.company_name.as_deref(), Some("Round Trip LLC"));
    let submitted = c
        .submit_attestation(TENANT, P, id, Some(false), &update)
        .await
        .expect("attestation submit");
    assert_eq!(submitted.numhub_entity_id, Some(id));

    // Documents: two files in one upload, each with its own type.
    let pdf = env.dir.path().join("loa.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n% test\n").expect("pdf");
    let files = [UploadFile {
        path: pdf.clone(),
        file_name: "loa.pdf".into(),
        content_type: "application/pdf".into(),
        sha256: None,
    }];
    let up = c
        .upload_documents(TENANT, P, id, DocumentType::Loa, Some("signed LOA"), &files)
        .await
        .expect("upload");
    let docs = up.documents.expect("documents");
    assert_eq!(docs.len(), 1);
    let doc_id = docs[0].id.expect("document id");
    let state = env.sandbox.state();
    assert_eq!(state["documents"][0]["type"], "LOA");
    assert_eq!(state["documents"][0]["description"], "signed LOA");
    let deleted = c
        .delete_document(TENANT, P, id, doc_id)
        .await
        .expect("delete document");
    assert_eq!(deleted.success, Some(true));
    // A wrong type comes back as a typed 400 carrying NumHub's message.
    let bad = c
        .upload_documents(TENANT, P, id, DocumentType::Logo, None, &files)
        .await
        .expect_err("a PDF is not a logo");
    match bad {
        NumhubError::Rejected {
            status: 400,
            message: Some(m),
            ..
        } => assert!(!m.is_empty()),
        other => panic!("expected a 400 with a message, got {other:?}"),
    }

    c.generate_otp(TENANT, P, id, false)
        .await
        .expect("generateOtp");
    let wrong = c.verify_otp(TENANT, P, id, 1).await.expect_err("wrong otp");
    assert_eq!(wrong.status(), Some(400));
    c.verify_otp(TENANT, P, id, 123_456)
        .await
        .expect("verifyOtp");

    // Vetting completes on the sandbox clock: identities go live.
    env.sandbox.advance_clock(400);
    let completed = c
        .completed_entities(TENANT, P)
        .await
        .expect("completedEntities");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].numhub_entity_id, Some(id));

    let all = c
        .list_display_identities(TENANT, P, &IdentityQuery::default())
        .await
        .expect("identities");
    assert_eq!(all.len(), 1);
    let ident = all[0].numhub_identity_id.expect("identity id");
    let modified = all[0].modified_date.clone().expect("modifiedDate");
    // The window filters on modifiedDate: a window ending before it finds nothing.
    let before = IdentityQuery {
        end_date: Some("2000-01-01T00:00:00Z".into()),
        ..Default::default()
    };
    assert!(c
        .list_display_identities(TENANT, P, &before)
        .await
        .expect("window")
        .is_empty());
    let around = IdentityQuery {
        start_date: Some(modified.clone()),
        page_number: Some(1),
        page_size: Some(5),
        ..Default::default()
    };
    assert_eq!(
        c.list_display_identities(TENANT, P, &around)
            .await
            .expect("window")
            .len(),
        1
    );

    let got = c
        .get_display_identity(TENANT, P, ident)
        .await
        .expect("identity");
    assert_eq!(got.numhub_entity_id, Some(id));
    let change = c
        .update_display_identity(
            TENANT,
            P,
            &DisplayIdentityUpdate {
                numhub_entity_id: Some(id),
                numhub_identity_id: Some(ident),
                caller_name: Some("Acme Care".into()),
                tn_added: Some(vec!["+15555550102".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("update identity");
    assert!(change.change_request_id.is_some_and(|c| c > 0));
    let got = c
        .get_display_identity(TENANT, P, ident)
        .await
        .expect("identity");
    assert_eq!(got.caller_name.as_deref(), Some("Acme Care"));

    let tns = env.dir.path().join("tns.csv");
    std::fs::write(&tns, "+15555550201\n+15555550202\n").expect("csv");
    c.upload_additional_tns(
        TENANT,
        P,
        ident,
        &UploadFile {
            path: tns,
            file_name: "tns.csv".into(),
            content_type: "text/csv".into(),
            sha256: None,
        },
    )
    .await
    .expect("upload tns");
    let csv = c
        .download_phone_numbers(TENANT, P, ident, id)
        .await
        .expect("download");
    let text = String::from_utf8_lossy(&csv);
    assert!(text.contains("+15555550201"), "{text}");
    c.delete_additional_tns(TENANT, P, ident)
        .await
        .expect("delete tns");

    // The deactivation lists the identity's dirId, as NumHub reports it.
    let dir_id = c
        .get_display_identity(TENANT, P, ident)
        .await
        .expect("identity")
        .dir_id;
    assert!(dir_id.is_some());
    let deact = c
        .deactivate_display_identity(
            TENANT,
            P,
            &DeactivationRequest {
                numhub_identity_id: Some(ident),
                dir_id,
                is_deactivation_request: Some(true),
            },
        )
        .await
        .expect("deactivate");
    assert!(deact.change_request_id.is_some());
    assert_eq!(
        c.get_display_identity(TENANT, P, ident)
            .await
            .expect("identity")
            .status
            .as_deref(),
        Some("Inactive")
    );

    // A rejected application shows up in notifications and the status report.
    c.create_application(TENANT, P, &application("Please REJECT me", "Submit"))
        .await
        .expect("create");
    env.sandbox.advance_clock(120);
    let alerts = c.notifications(TENANT, P).await.expect("notifications");
    assert_eq!(alerts.len(), 1);
    let report = c.status_report(TENANT, P).await.expect("status report");
    assert_eq!(report.total_count, Some(2));
    assert_eq!(
        report.status_count.as_ref().and_then(|m| m.get("Rejected")),
        Some(&1)
    );

    // Every call carried the headers: one token request, no 401, no 400 for headers.
    assert_eq!(env.total("tokenRequests"), 1);
    assert_eq!(env.total("unauthorized401"), 0);
    // Each exchange wrote one audit row.
    let total = env.total("requests");
    assert!(
        eventually(Duration::from_secs(10), || async {
            env.audit_rows().await.len() as u64 == total
        })
        .await,
        "audit rows {} != requests {total}",
        env.audit_rows().await.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_a_typed_error_not_retried() {
    let env = env(SandboxConfig::default(), |_| {}).await;
    let err = env
        .client
        .get_application(TENANT, P, uuid::Uuid::now_v7())
        .await
        .expect_err("unknown");
    assert_eq!(err.status(), Some(404), "{err}");
    assert_eq!(env.route("GET /api/v1/application/{NumhubEntityId}"), 1);
}
