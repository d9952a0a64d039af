//! Document uploads: content checks, size limit, SHA-256 in the state, delete, and 404 for
//! entities that are unknown or belong to another client.

use numhub_sandbox::{Client, SandboxConfig, User};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{self, bmp, pdf, start, Env};

fn form(doc_type: &str, files: Vec<(&str, Vec<u8>)>) -> Form {
    let mut f = Form::new()
        .text("DocumentType", doc_type.to_owned())
        .text("Description", "test");
    for (name, bytes) in files {
        f = f.part(
            "Files",
            Part::bytes(bytes)
                .file_name(name.to_owned())
                .mime_str("application/octet-stream")
                .unwrap(),
        );
    }
    f
}

async fn upload(env: &Env, id: &str, form: Form) -> (u16, Value) {
    let r = env
        .req(Method::POST, &format!("/api/v1/application/{id}/documents"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn formats_are_checked_by_content() {
    let env = start(SandboxConfig {
        max_file_bytes: 4096,
        ..SandboxConfig::default()
    })
    .await;
    let id = env.create("Docs Co", "Saved").await;
    let xlsx = b"PK\x03\x04rest-of-zip".to_vec();
    let csv = "number,name\n+15550001111,Zoë\n".as_bytes().to_vec();
    for (ty, name, bytes) in [
        ("LOA", "loa.pdf", pdf()),
        ("LOGO", "logo.bmp", bmp()),
        ("DOCUMENTS", "a.pdf", pdf()),
        ("DOCUMENTS", "b.xlsx", xlsx.clone()),
        ("DOCUMENTS", "c.csv", csv.clone()),
        // Names do not matter, content does.
        ("LOA", "actually-a-pdf.bmp", pdf()),
    ] {
        let (status, body) = upload(&env, &id, form(ty, vec![(name, bytes)])).await;
        assert_eq!(status, 200, "{ty} {name}: {body}");
        assert!(body["documents"][0]["id"].is_string());
    }
    for (ty, name, bytes) in [
        ("LOA", "loa.pdf", bmp()),
        ("LOGO", "logo.bmp", pdf()),
        ("DOCUMENTS", "x.csv", vec![0u8, 1, 2, 3]),
        ("DOCUMENTS", "x.csv", vec![0xff, 0xfe, 0x41]),
        ("PHOTO", "a.pdf", pdf()),
    ] {
        let (status, body) = upload(&env, &id, form(ty, vec![(name, bytes)])).await;
        assert_eq!(status, 400, "{ty} {name}");
        assert!(body["message"].is_string(), "{body}");
    }
    // Over the per-file limit: 400 with a message (the document lists no 413).
    let (status, body) = upload(
        &env,
        &id,
        form("DOCUMENTS", vec![("big.csv", vec![b'a'; 5000])]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    // No files.
    let (status, _) = upload(&env, &id, Form::new().text("DocumentType", "LOA")).await;
    assert_eq!(status, 400);
    // Rejected uploads leave nothing behind.
    assert_eq!(env.sb.state()["documents"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn sha256_recorded_and_documents_listed_and_deleted() {
    let env = start(SandboxConfig::default()).await;
    let id = env.create("Hash Co", "Saved").await;
    let mut big = pdf();
    big.extend((0..200_000u32).map(|i| (i % 251) as u8));
    let (status, body) = upload(
        &env,
        &id,
        form(
            "DOCUMENTS",
            vec![("one.pdf", big.clone()), ("two.pdf", pdf())],
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["documents"].as_array().unwrap().len(), 2);
    let state = env.sb.state();
    let docs = state["documents"].as_array().unwrap();
    let one = docs.iter().find(|d| d["name"] == "one.pdf").unwrap();
    assert_eq!(one["sha256"], hex(&big));
    assert_eq!(one["size"], big.len());
    assert_eq!(one["type"], "DOCUMENTS");
    let app = env.get_app(&id).await;
    let listed = app["documents"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let doc_id = listed[0]["documentId"].as_str().unwrap().to_owned();
    assert!(listed[0]["createdDate"].is_string());

    let del = |doc: String| {
        env.req(
            Method::DELETE,
            &format!("/api/v1/application/{id}/documents/{doc}"),
        )
        .send()
    };
    let r = del(doc_id.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["success"], true);
    assert_eq!(del(doc_id).await.unwrap().status(), 404);
    assert_eq!(
        env.get_app(&id).await["documents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn unknown_or_foreign_entities_are_404() {
    let config = SandboxConfig {
        users: vec![User {
            email: "two@example.com".into(),
            password: "pw".into(),
            user_id: 2,
            clients: vec![
                Client {
                    client_id: 1001,
                    name: "A".into(),
                    osp_id: None,
                },
                Client {
                    client_id: 2002,
                    name: "B".into(),
                    osp_id: None,
                },
            ],
        }],
        ..SandboxConfig::default()
    };
    let sb = numhub_sandbox::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let http = common::client();
    let base = sb.base_url();
    let v: Value = http
        .post(format!(
            "{base}/api/v1/authorize/token?Email=two@example.com&Password=pw"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let env = Env {
        sb,
        http,
        base,
        token: v["accessToken"].as_str().unwrap().to_owned(),
    };
    let other = env
        .http
        .post(env.url("/api/v1/application"))
        .bearer_auth(&env.token)
        .header("client-id", "2002")
        .json(&common::application_body("B Co", "Saved"))
        .send()
        .await
        .unwrap();
    let other: Value = other.json().await.unwrap();
    let other = other["numhubEntityId"].as_str().unwrap();
    let (status, _) = upload(&env, other, form("LOA", vec![("a.pdf", pdf())])).await;
    assert_eq!(status, 404);
    let (status, _) = upload(
        &env,
        &uuid::Uuid::new_v4().to_string(),
        form("LOA", vec![("a.pdf", pdf())]),
    )
    .await;
    assert_eq!(status, 404);
    let r = env
        .req(Method::GET, &format!("/api/v1/application/{other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
