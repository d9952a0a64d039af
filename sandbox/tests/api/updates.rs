//! `PUT /application/{id}` (and the attestation PUT, which takes the same model): the
//! body is the whole application. Sections and display identities become what it
//! carries, an identity named by its `numhubIdentityId` stays that identity, one the
//! body leaves out is dropped, and `status: Submit` submits or resubmits.

use numhub_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{application_body, start, Env};

async fn put(env: &Env, path: &str, body: &Value) {
    let resp = env.req(Method::PUT, path).json(body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
}

fn identities(app: &Value) -> Vec<Value> {
    app["displayIdentityInformation"]["displayIdentities"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn an_update_is_the_whole_application() {
    let env = start(SandboxConfig::default()).await;
    let id = env.create("Whole Co", "Submit").await;
    env.sb.advance_clock(300);
    let vetted = env.get_app(&id).await;
    assert_eq!(vetted["status"], "Complete");
    let live = identities(&vetted);
    assert_eq!(live.len(), 1);
    let live_id = live[0]["numhubIdentityId"].clone();
    assert!(live_id.is_string(), "{vetted}");
    env.admin(
        &format!("/__sandbox/entities/{id}/status"),
        json!({"status": "Rejected"}),
    )
    .await;

    // Resubmitted with the live identity by its id and a new one: the live one stays.
    let mut body = application_body("Whole Co", "Submit");
    body["displayIdentityInformation"]["displayIdentities"] = json!([
        {"numhubIdentityId": live_id, "phoneNumbers": ["+15551230001"], "callerName": "Ada Co"},
        {"phoneNumbers": ["+15551239999"], "callerName": "Ada New"}
    ]);
    put(&env, &format!("/api/v1/application/{id}"), &body).await;
    let app = env.get_app(&id).await;
    assert_eq!(app["status"], "Resubmitted");
    assert_eq!(identities(&app)[0]["numhubIdentityId"], live_id);
    env.sb.advance_clock(300);
    let app = env.get_app(&id).await;
    assert_eq!(app["status"], "Complete");
    let names: Vec<Value> = identities(&app)
        .iter()
        .map(|i| i["callerName"].clone())
        .collect();
    assert_eq!(names, [json!("Ada Co"), json!("Ada New")]);
    assert_eq!(identities(&app)[0]["numhubIdentityId"], live_id);

    // A body without the identities (or a section) leaves the application without them,
    // through either PUT; a submit of a completed application changes no status.
    let mut bare = application_body("Whole Co", "Submit");
    let map = bare.as_object_mut().unwrap();
    map.remove("displayIdentityInformation");
    map.remove("businessIdentityDetails");
    put(
        &env,
        &format!("/api/v1/application/attestation/{id}?changesRequired=false"),
        &bare,
    )
    .await;
    let app = env.get_app(&id).await;
    assert_eq!(app["status"], "Complete");
    assert_eq!(identities(&app), Vec::<Value>::new());
    assert_eq!(
        app["businessIdentityDetails"]["federalEmployerIdNumber"],
        Value::Null
    );
    let state = env.sb.state();
    assert_eq!(state["identities"], json!([]), "dropped at NumHub");
    assert_eq!(state["entities"][0]["identities"], json!([]));
}
