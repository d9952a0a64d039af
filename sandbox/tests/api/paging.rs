//! The readings of paging the document leaves open, played on every paged list: a page
//! cap below the size asked (`max_page_size`) and a server that answers page 1 whatever
//! `pageNumber` asks (`ignore_page_number`); and the attestation list's statuses
//! respelled by the admin route (the list's `status` has no enum).

use serde_json::{json, Value};

use crate::common::{start, Env, DEMO_CLIENT};
use numhub_sandbox::SandboxConfig;

fn attestation_path() -> String {
    format!("/api/v1/application/attestation/{DEMO_CLIENT}")
}

/// `(pageNumber, pageSize, totalCount, ids)` of one attestation page.
async fn attestation(env: &Env, page: i32, size: i32) -> (Value, Value, Value, Vec<String>) {
    let query = [("PageNumber", page), ("pageSize", size)];
    let v = env.get_json(&attestation_path(), &query).await;
    let r = &v["result"];
    let ids = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["numhubEntityId"].as_str().unwrap().to_owned())
        .collect();
    (
        r["pageNumber"].clone(),
        r["pageSize"].clone(),
        r["totalCount"].clone(),
        ids,
    )
}

/// The ids on one page of the identity list.
async fn identities(env: &Env, page: i32, size: i32) -> Vec<String> {
    let query = [("pageNumber", page), ("pageSize", size)];
    let v = env
        .get_json("/api/v1/applications/newdisplayidentity", &query)
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i["numhubIdentityId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn max_page_size_caps_every_paged_list() {
    let env = start(SandboxConfig {
        max_page_size: Some(3),
        ..SandboxConfig::default()
    })
    .await;
    env.sb.seed_applications(DEMO_CLIENT, 7);
    let (number, size, total, first) = attestation(&env, 1, 100).await;
    assert_eq!(
        (number, size, total, first.len()),
        (json!(1), json!(3), json!(7), 3)
    );
    let (_, _, _, last) = attestation(&env, 3, 100).await;
    assert_eq!(last.len(), 1);
    assert_eq!(identities(&env, 1, 100).await.len(), 3);
    assert_eq!(identities(&env, 3, 100).await.len(), 1);
    // Asking for less than the cap gets what was asked.
    assert_eq!(attestation(&env, 1, 2).await.1, json!(2));
}

#[tokio::test]
async fn ignore_page_number_answers_page_one_on_every_paged_list() {
    let env = start(SandboxConfig {
        ignore_page_number: true,
        ..SandboxConfig::default()
    })
    .await;
    env.sb.seed_applications(DEMO_CLIENT, 5);
    let (_, _, _, first) = attestation(&env, 1, 2).await;
    let (number, _, total, second) = attestation(&env, 2, 2).await;
    assert_eq!((number, total), (json!(1), json!(5)));
    assert_eq!(first, second);
    assert_eq!(identities(&env, 2, 2).await, identities(&env, 1, 2).await);
    assert_eq!(identities(&env, 9, 50).await.len(), 5);
}

#[tokio::test]
async fn the_attestation_lists_statuses_can_be_respelled() {
    let env = start(SandboxConfig::default()).await;
    let id = env.sb.seed_applications(DEMO_CLIENT, 1)[0].to_string();
    let status = |v: Value| v["result"]["results"][0]["status"].clone();
    let path = attestation_path();
    let list = || env.get_json(&path, &[]);
    assert_eq!(status(list().await), "Complete");
    env.admin(
        "/__sandbox/spellings/attestation-status",
        json!({"Complete": "ACTIVE", "InProgress": "In Progress"}),
    )
    .await;
    assert_eq!(status(list().await), "ACTIVE");
    // Only the list: the application keeps the enum.
    assert_eq!(env.get_app(&id).await["status"], "Complete");
    let bad = env
        .http
        .post(env.url("/__sandbox/spellings/attestation-status"))
        .json(&json!({"Active": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    env.admin("/__sandbox/spellings/attestation-status", json!({}))
        .await;
    assert_eq!(status(list().await), "Complete");
}
