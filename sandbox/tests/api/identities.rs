//! Display identities: list (window on modifiedDate, search, paging), detail, change
//! requests, deactivation, additional numbers (upload CSV, download, delete), and changes
//! made at NumHub's side through the admin route.

use numhub_sandbox::SandboxConfig;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{start, Env};

async fn list(env: &Env, query: &[(&str, &str)]) -> Vec<Value> {
    let r = env
        .req(Method::GET, "/api/v1/applications/newdisplayidentity")
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v.as_array().unwrap().clone()
}

async fn detail(env: &Env, id: &str) -> Value {
    let r = env
        .req(
            Method::GET,
            &format!("/api/v1/applications/newidentities/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn upload_tns(env: &Env, id: &str, body: &str) -> (u16, Value) {
    let form = Form::new().part(
        "File",
        Part::bytes(body.as_bytes().to_vec())
            .file_name("tns.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let r = env
        .req(
            Method::POST,
            &format!("/api/v1/applications/{id}/uploadadditionaltns"),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn identity_lifecycle() {
    let env = start(SandboxConfig::default()).await;
    let entities = env.sb.seed_applications(1001, 3);
    let all = list(&env, &[]).await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["telePhoneCount"], 2);
    assert_eq!(all[0]["changeRequestId"], 0);
    let page = list(&env, &[("pageNumber", "2"), ("pageSize", "2")]).await;
    assert_eq!(page.len(), 1);
    let found = list(&env, &[("searchKey", "seeded company 2")]).await;
    assert_eq!(found.len(), 1);
    let id = found[0]["numhubIdentityId"].as_str().unwrap().to_owned();
    let entity = found[0]["numhubEntityId"].as_str().unwrap().to_owned();
    assert!(entities.iter().any(|e| e.to_string() == entity));

    // A change request applies at once and moves modifiedDate forward.
    let before = found[0]["modifiedDate"].as_str().unwrap().to_owned();
    env.sb.advance_clock(3600);
    let r = env
        .req(Method::PUT, "/api/v1/applications/updatedisplayidentity")
        .json(&json!({
            "numhubEntityId": entity, "numhubIdentityId": id, "callerName": "Renamed",
            "callReason": "Billing", "logoUrl": "https://example.com/new.bmp",
            "tnAdded": ["+15550009999"], "tnRemoved": [found[0]["dirId"]]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let cr = v["result"]["changeRequestId"].as_i64().unwrap();
    let d = detail(&env, &id).await;
    assert_eq!(d["callerName"], "Renamed");
    assert_eq!(d["callReason"], "Billing");
    assert_eq!(d["phoneNumbers"].as_array().unwrap().len(), 3);
    assert_eq!(d["displayIdentitiesChangeRequest"]["changeRequestId"], cr);
    assert_eq!(
        d["displayIdentitiesChangeRequest"]["oldMetadata"]["callerName"],
        "Seeded 2"
    );
    assert_ne!(d["modifiedDate"].as_str().unwrap(), before);
    // The window filters on modifiedDate: only the changed identity is in the last hour.
    let since = d["modifiedDate"].as_str().unwrap().to_owned();
    let recent = list(&env, &[("startDate", since.as_str())]).await;
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0]["numhubIdentityId"], id.as_str());
    assert_eq!(recent[0]["changeRequestId"], cr);
    let old = list(&env, &[("endDate", before.as_str())]).await;
    assert_eq!(old.len(), 2);
    let bad = env
        .req(Method::GET, "/api/v1/applications/newdisplayidentity")
        .query(&[("startDate", "yesterday")]);
    assert_eq!(bad.send().await.unwrap().status(), 400);

    // Unknown identity on an operation with no documented 404: 400. Over-long dirId: 400.
    let r = env
        .req(Method::PUT, "/api/v1/applications/updatedisplayidentity")
        .json(&json!({ "numhubIdentityId": uuid::Uuid::new_v4() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = env
        .req(Method::PUT, "/api/v1/applications/updatedisplayidentity")
        .json(&json!({ "numhubIdentityId": id, "dirId": "x".repeat(37) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Additional numbers: CSV, one E.164 number per line.
    let (s, body) = upload_tns(&env, &id, "+15551110001\n\n+15551110002\r\n").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        detail(&env, &id).await["phoneNumbers"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let (s, body) = upload_tns(&env, &id, "+15551110001\n555-111-000x\n").await;
    assert_eq!(s, 400);
    assert!(
        body["message"].as_str().unwrap().contains("line 2"),
        "{body}"
    );
    let r = env
        .req(Method::GET, "/api/v1/applications/downloadphonenumbers")
        .query(&[
            ("NumhubIdentityId", id.as_str()),
            ("NumhubEntityId", entity.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 5);
    assert!(csv.contains("+15551110002"));
    let r = env
        .req(
            Method::DELETE,
            &format!("/api/v1/applications/{id}/additionaltns"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        detail(&env, &id).await["phoneNumbers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = env
        .req(
            Method::DELETE,
            &format!("/api/v1/applications/{id}/additionaltns"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (s, _) = upload_tns(&env, &uuid::Uuid::new_v4().to_string(), "+15551110001\n").await;
    assert_eq!(s, 404);

    // Deactivation, with the identity's dirId.
    let dir_id = detail(&env, &id).await["dirId"].clone();
    assert!(dir_id.is_string(), "{dir_id}");
    let r = env
        .req(Method::PUT, "/api/v1/applications/deactivationrequest")
        .json(&json!({ "numhubIdentityId": id, "dirId": dir_id, "isDeactivationRequest": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = detail(&env, &id).await;
    assert_eq!(d["status"], "Inactive");
    assert!(d["deactivationDate"].is_string());
    assert_eq!(
        d["displayIdentitiesChangeRequest"]["isDeactivationRequest"],
        true
    );
    // Sent as an array instead of the single object the document declares: 400.
    let r = env
        .req(Method::PUT, "/api/v1/applications/deactivationrequest")
        .json(&json!([{ "numhubIdentityId": id, "dirId": dir_id, "isDeactivationRequest": true }]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A change at NumHub's side shows up in the next poll.
    env.sb.advance_clock(60);
    env.admin(
        &format!("/__sandbox/identities/{id}"),
        json!({"callerName": "Changed At NumHub", "status": "Active"}),
    )
    .await;
    let d = detail(&env, &id).await;
    assert_eq!(d["callerName"], "Changed At NumHub");
    assert_eq!(d["status"], "Active");
    let state = env.sb.state();
    let s = state["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["numhubIdentityId"] == id.as_str())
        .unwrap();
    assert_eq!(s["callerName"], "Changed At NumHub");
}

async fn put(env: &Env, path: &str, body: Value) -> (u16, Value) {
    let r = env.req(Method::PUT, path).json(&body).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// A deactivation lists `dirId`: one without it, or with another identity's, is
/// refused and changes nothing.
#[tokio::test]
async fn a_deactivation_needs_the_identitys_dir_id() {
    let env = start(SandboxConfig::default()).await;
    env.sb.seed_applications(1001, 2);
    let all = list(&env, &[]).await;
    let (id, other_dir) = (all[0]["numhubIdentityId"].clone(), all[1]["dirId"].clone());
    let path = "/api/v1/applications/deactivationrequest";
    for (body, says) in [
        (
            json!({ "numhubIdentityId": id, "isDeactivationRequest": true }),
            "required",
        ),
        (
            json!({ "numhubIdentityId": id, "dirId": other_dir, "isDeactivationRequest": true }),
            "not this identity's dirId",
        ),
    ] {
        let (s, answer) = put(&env, path, body).await;
        assert_eq!(s, 400, "{answer}");
        let message = answer["message"].as_str().unwrap_or("");
        assert!(
            message.contains("dirId") && message.contains(says),
            "{answer}"
        );
    }
    let id = id.as_str().unwrap();
    assert_eq!(
        detail(&env, id).await["status"],
        "Active",
        "nothing changed"
    );
}

/// `isFeeChecked` is a non-nullable boolean: a change request that leaves it out
/// clears it, as the document reads.
#[tokio::test]
async fn a_change_request_without_is_fee_checked_clears_it() {
    let env = start(SandboxConfig::default()).await;
    env.sb.seed_applications(1001, 1);
    let id = list(&env, &[]).await[0]["numhubIdentityId"].clone();
    let ids = id.as_str().unwrap().to_owned();
    let r = env
        .admin(
            &format!("/__sandbox/identities/{ids}"),
            json!({"isFeeChecked": true}),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(detail(&env, &ids).await["isFeeChecked"], true);
    let path = "/api/v1/applications/updatedisplayidentity";
    let (s, _) = put(
        &env,
        path,
        json!({"numhubIdentityId": id, "callerName": "Kept", "isFeeChecked": true}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(detail(&env, &ids).await["isFeeChecked"], true);
    let (s, _) = put(
        &env,
        path,
        json!({"numhubIdentityId": id, "callerName": "Cleared"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(detail(&env, &ids).await["isFeeChecked"], false);
    assert_eq!(env.sb.state()["identities"][0]["isFeeChecked"], false);
}

/// `POST /__sandbox/spellings/identity-status` respells the status in every answer
/// that carries one; the sandbox's own word stays in `/__sandbox/state`.
#[tokio::test]
async fn identity_statuses_can_be_respelled() {
    let env = start(SandboxConfig::default()).await;
    let entities = env.sb.seed_applications(1001, 1);
    let r = env
        .admin(
            "/__sandbox/spellings/identity-status",
            json!({"Active": "ACTIVE", "Inactive": "In Active"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let item = list(&env, &[]).await[0].clone();
    assert_eq!(item["status"], "ACTIVE");
    let id = item["numhubIdentityId"].as_str().unwrap().to_owned();
    let d = detail(&env, &id).await;
    assert_eq!(d["status"], "ACTIVE");
    assert_eq!(
        d["displayIdentitiesChangeRequest"]["newMetadata"]["status"],
        "ACTIVE"
    );
    let app = env.get_app(&entities[0].to_string()).await;
    let shown = &app["displayIdentityInformation"]["displayIdentities"][0];
    assert_eq!(shown["status"], "ACTIVE", "{app}");
    assert_eq!(env.sb.state()["identities"][0]["status"], "Active");

    let (s, _) = put(
        &env,
        "/api/v1/applications/deactivationrequest",
        json!({"numhubIdentityId": id, "dirId": d["dirId"], "isDeactivationRequest": true}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(detail(&env, &id).await["status"], "In Active");

    // Only the sandbox's own words can be respelled, and not to nothing.
    for bad in [
        json!({"Enabled": "ON"}),
        json!({"Active": ""}),
        json!(["Active"]),
    ] {
        let r = env
            .http
            .post(env.url("/__sandbox/spellings/identity-status"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = env
        .admin("/__sandbox/spellings/identity-status", json!({}))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(detail(&env, &id).await["status"], "Inactive");
}
