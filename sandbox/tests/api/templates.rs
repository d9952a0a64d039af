//! `downloadtemplate`: the LOA template in each body form the admin control picks
//! (the document does not say which is NumHub's), the same bytes every time, its
//! SHA-256 from the admin route, and 404 for an unknown application.

use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{start, Env};

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn download(env: &Env, id: &str) -> (u16, String, Vec<u8>) {
    let r = env
        .req(
            Method::GET,
            &format!("/api/v1/application/{id}/downloadtemplate"),
        )
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .expect("base64")
}

#[tokio::test]
async fn every_form_carries_the_same_pdf() {
    let env = start(Default::default()).await;
    let id = env.create("Template Co", "Saved").await;
    let meta: Value = env
        .http
        .get(env.url(&format!("/__sandbox/template/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sha = meta["sha256"].as_str().expect("sha256").to_owned();
    assert_eq!(meta["form"], "pdf", "the default form: {meta}");
    assert_eq!(
        env.sb.template_sha256(id.parse().unwrap()).as_deref(),
        Some(sha.as_str())
    );

    for (form, want_ct) in [
        ("pdf", "application/pdf"),
        ("octet", "application/octet-stream"),
        ("json", "application/json"),
        ("text_json", "text/json"),
        ("base64", "text/plain"),
    ] {
        let answer: Value = env
            .admin("/__sandbox/template", json!({ "form": form }))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["form"], form);
        let (status, ct, body) = download(&env, &id).await;
        assert_eq!(status, 200, "{form}");
        assert!(ct.starts_with(want_ct), "{form}: {ct}");
        let pdf = match form {
            "pdf" | "octet" => body,
            "json" | "text_json" => {
                let v: Value = serde_json::from_slice(&body).expect("json");
                assert_eq!(v["contentType"], "application/pdf", "{v}");
                assert!(v["fileDownloadName"].is_string(), "{v}");
                b64(v["fileContents"].as_str().expect("fileContents"))
            }
            _ => b64(std::str::from_utf8(&body).expect("text")),
        };
        assert!(pdf.starts_with(b"%PDF-"), "{form}");
        assert!(
            String::from_utf8_lossy(&pdf).contains(&id),
            "the template names its application"
        );
        assert_eq!(hex(&pdf), sha, "{form}: same bytes");
    }
}

#[tokio::test]
async fn unknown_applications_and_forms_are_refused() {
    let env = start(Default::default()).await;
    let (status, _, _) = download(&env, "7f3c8a0e-0000-4000-8000-000000000000").await;
    assert_eq!(status, 404);
    let (status, _, _) = download(&env, "not-a-uuid").await;
    assert_eq!(status, 400);
    let r = env
        .http
        .post(env.url("/__sandbox/template"))
        .json(&json!({"form": "docx"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = env
        .http
        .get(env.url("/__sandbox/template/7f3c8a0e-0000-4000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
