//! Auth, the demo user, the vetting clock, OTP, out-of-scope and unknown routes, shutdown.

use std::time::Duration;

use numhub_sandbox::{Client, SandboxConfig, User};
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{self, application_body, start};

#[tokio::test]
async fn demo_user_token_and_client() {
    let env = start(SandboxConfig::default()).await;
    let resp = env
        .http
        .post(env.url("/api/v1/authorize/token?Email=demo@numhub.test&Password=demo-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["tokenType"], "Bearer");
    assert_eq!(v["expiresIn"], 86400);
    assert_eq!(v["user"]["email"], "demo@numhub.test");
    assert_eq!(v["userClients"][0]["clientId"], 1001);
    assert!(v["userRoles"].is_array());

    let resp = env
        .req(Method::GET, "/api/v1/authorize/userInfo")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(resp.bytes().await.unwrap().is_empty());

    // Missing Password, unknown user: 400 (the operation documents no 401).
    for q in [
        "Email=demo@numhub.test",
        "Email=x@y.z&Password=demo-password",
    ] {
        let resp = env
            .http
            .post(env.url(&format!("/api/v1/authorize/token?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{q}");
    }
}

#[tokio::test]
async fn auth_failures() {
    let env = start(SandboxConfig::default()).await;
    // No token, unknown token.
    let resp = env
        .http
        .get(env.url("/api/v1/reports/status"))
        .header("client-id", "1001")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("requests-remaining"));
    assert!(resp.bytes().await.unwrap().is_empty());
    // Foreign client → 403 without a body; missing client-id → 400 with a message.
    let resp = env
        .http
        .get(env.url("/api/v1/reports/status"))
        .bearer_auth(&env.token)
        .header("client-id", "2002")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp = env
        .http
        .get(env.url("/api/v1/reports/status"))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("client-id"));
    // Too large for int32.
    let resp = env
        .http
        .get(env.url("/api/v1/reports/status"))
        .bearer_auth(&env.token)
        .header("client-id", "4294967296")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Expired tokens: by the admin route, and by the clock passing the TTL.
    let resp = env
        .req(Method::GET, "/api/v1/reports/status")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    env.sb.expire_tokens();
    let resp = env
        .req(Method::GET, "/api/v1/reports/status")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let token = common::login(&env.http, &env.base).await;
    let ok = env
        .http
        .get(env.url("/api/v1/reports/status"))
        .bearer_auth(&token)
        .header("client-id", "1001");
    assert_eq!(ok.send().await.unwrap().status(), 200);
    env.sb.advance_clock(86_401);
    let again = env
        .http
        .get(env.url("/api/v1/reports/status"))
        .bearer_auth(&token)
        .header("client-id", "1001");
    assert_eq!(again.send().await.unwrap().status(), 401);
    let token = common::login(&env.http, &env.base).await;
    env.admin("/__sandbox/tokens/expire", json!({})).await;
    let after = env
        .http
        .get(env.url("/api/v1/reports/status"))
        .bearer_auth(&token)
        .header("client-id", "1001");
    assert_eq!(after.send().await.unwrap().status(), 401);
    assert!(
        env.sb.state()["totals"]["unauthorized401"]
            .as_u64()
            .unwrap()
            >= 4
    );
}

#[tokio::test]
async fn configured_users_replace_the_demo_user() {
    let config = SandboxConfig {
        users: vec![User {
            email: "ops@example.com".into(),
            password: "pw".into(),
            user_id: 7,
            clients: vec![
                Client {
                    client_id: 5,
                    name: "Five".into(),
                    osp_id: Some("OSP5".into()),
                },
                Client {
                    client_id: 6,
                    name: "Six".into(),
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
    let demo = http
        .post(format!(
            "{base}/api/v1/authorize/token?Email=demo@numhub.test&Password=demo-password"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), 400);
    let v: Value = http
        .post(format!(
            "{base}/api/v1/authorize/token?Email=ops@example.com&Password=pw"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["userClients"].as_array().unwrap().len(), 2);
    assert_eq!(v["userClients"][0]["ospId"], "OSP5");
    let token = v["accessToken"].as_str().unwrap();
    let r = http
        .get(format!("{base}/api/v1/reports/status"))
        .bearer_auth(token)
        .header("client-id", "6");
    assert_eq!(r.send().await.unwrap().status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn vetting_clock_moves_applications() {
    let env = start(SandboxConfig::default()).await;
    let saved = env.create("Saved Inc", "Saved").await;
    let id = env.create("Good Inc", "Submit").await;
    let app = env.get_app(&id).await;
    assert_eq!(app["status"], "Submitted");
    assert_eq!(env.get_app(&saved).await["status"], "Saved");
    let created = app["lastUpdatedDate"].as_str().unwrap().to_owned();
    assert!(
        created.ends_with("-05:00") || created.ends_with("-04:00"),
        "{created}"
    );

    env.sb.advance_clock(59);
    assert_eq!(env.get_app(&id).await["status"], "Submitted");
    env.admin("/__sandbox/clock/advance", json!({"seconds": 1}))
        .await;
    let app = env.get_app(&id).await;
    assert_eq!(app["status"], "InProgress");
    assert_ne!(app["lastUpdatedDate"].as_str().unwrap(), created);
    assert!(app["eid"].is_null());
    env.sb.advance_clock(240);
    let app = env.get_app(&id).await;
    assert_eq!(app["status"], "Complete");
    assert!(app["eid"].as_str().unwrap().starts_with("SBXEID"));
    let identities = app["displayIdentityInformation"]["displayIdentities"]
        .as_array()
        .unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0]["status"], "Active");
    assert_eq!(
        identities[0]["phoneNumbers"],
        json!(["+15551230001", "+15551230002"])
    );
    assert!(identities[0]["numhubIdentityId"].is_string());
    // The state and the completed listings agree.
    let state = env.sb.state();
    let e = state["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["numhubEntityId"] == id.as_str())
        .unwrap();
    assert_eq!(e["status"], "Complete");
    assert_eq!(e["clientId"], 1001);
    assert_eq!(
        state["identities"][0]["phoneNumbers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let done: Value = env
        .req(Method::GET, "/api/v1/application/completedEntities")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let done = done["result"].as_array().unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["numhubEntityId"], id.as_str());

    // The attestation list shows every application, with status and lastModifiedDate.
    let list: Value = env
        .req(Method::GET, "/api/v1/application/attestation/1001")
        .query(&[("PageNumber", "1"), ("pageSize", "1")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["result"]["totalCount"], 2);
    assert_eq!(list["result"]["results"].as_array().unwrap().len(), 1);
    assert_eq!(list["result"]["results"][0]["status"], "Saved");
    let report: Value = env
        .req(Method::GET, "/api/v1/reports/status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["totalCount"], 2);
    assert_eq!(report["statusCount"]["Complete"], 1);
    assert_eq!(report["statusCount"]["Saved"], 1);
}

#[tokio::test]
async fn reject_rule_and_resubmission() {
    let env = start(SandboxConfig::default()).await;
    let id = env.create("Please REJECT Us LLC", "Submit").await;
    env.sb.advance_clock(60);
    assert_eq!(env.get_app(&id).await["status"], "Rejected");
    let alerts: Value = env
        .req(Method::GET, "/api/v1/notifications")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["clientId"], 1001);
    let flag: Value = env
        .req(Method::GET, &format!("/api/v1/notifications/{id}/flag"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(flag["result"]["currentStatus"], "Rejected");
    assert_eq!(
        flag["result"]["flaggedComments"].as_array().unwrap().len(),
        1
    );
    let report: Value = env
        .req(
            Method::GET,
            &format!("/api/v1/application/vetting-report/{id}"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        report["result"]["businessEntityDetails"]["vettingReview"],
        "Fail"
    );

    // Resubmitting a rejected application with a fixed name completes it.
    let resp = env
        .req(Method::PUT, &format!("/api/v1/application/{id}"))
        .json(&application_body("Fixed Name LLC", "Submit"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(env.get_app(&id).await["status"], "Resubmitted");
    env.sb.advance_clock(300);
    assert_eq!(env.get_app(&id).await["status"], "Complete");

    // The admin route changes status at NumHub's side.
    env.admin(
        &format!("/__sandbox/entities/{id}/status"),
        json!({"status": "Rejected", "comment": "logo"}),
    )
    .await;
    let app = env.get_app(&id).await;
    assert_eq!(app["status"], "Rejected");
    let alerts: Value = env
        .req(Method::GET, "/api/v1/notifications")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alerts[0]["message"], "logo");
}

#[tokio::test]
async fn an_admin_flag_shows_in_notifications_flag_and_vetting_report_until_cleared() {
    let env = start(SandboxConfig::default()).await;
    let id = env.create("Flag Me Inc", "Submit").await;
    let resp = env
        .admin(
            &format!("/__sandbox/entities/{id}/flag"),
            json!({"message": "Two sections need changes", "comments": [
                {"sectionNumber": 2, "sectionName": "Business Entity Details", "comments": "Address does not match"},
                {"sectionNumber": 3, "sectionName": "Business Identity Details", "comments": "EIN unreadable"}]}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let alerts = env.get_json("/api/v1/notifications", &[]).await;
    assert_eq!(
        alerts,
        json!([{"companyName": "Flag Me Inc", "clientId": 1001, "message": "Two sections need changes"}])
    );
    let flag = env
        .get_json(&format!("/api/v1/notifications/{id}/flag"), &[])
        .await;
    let comments = flag["result"]["flaggedComments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[1]["sectionNumber"], 3);
    assert_eq!(comments[1]["comments"], "EIN unreadable");
    let report = env
        .get_json(&format!("/api/v1/application/vetting-report/{id}"), &[])
        .await;
    let identity = &report["result"]["businessIdentityDetails"];
    assert_eq!(identity["vettingReview"], "Flag");
    assert_eq!(identity["comments"], "EIN unreadable");
    assert!(report["result"]["applicantInformation"]["comments"].is_null());

    // The readings the document leaves open: another spelling, client 0, one alert
    // per flagged section.
    env.admin(
        &format!("/__sandbox/entities/{id}/flag"),
        json!({"message": "m", "comments": [
            {"sectionNumber": 2, "sectionName": "A", "comments": "a"},
            {"sectionNumber": 3, "sectionName": "B", "comments": "b"}],
            "alertCompanyName": "FLAG ME  INC", "alertClientId": 0, "alertPerSection": true}),
    )
    .await;
    let alerts = env.get_json("/api/v1/notifications", &[]).await;
    assert_eq!(alerts.as_array().unwrap().len(), 2);
    assert_eq!(alerts[0]["companyName"], "FLAG ME  INC");
    assert_eq!(alerts[0]["clientId"], 0);

    // A body the route does not know is refused, naming the field.
    let bad = env
        .http
        .post(env.url(&format!("/__sandbox/entities/{id}/flag")))
        .json(&json!({"message": "m", "comments": [], "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("colour"));

    let cleared = env
        .http
        .delete(env.url(&format!("/__sandbox/entities/{id}/flag")))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(env.get_json("/api/v1/notifications", &[]).await, json!([]));
}

#[tokio::test]
async fn otp_code_and_attempt_limit() {
    let env = start(SandboxConfig {
        otp_code: 424_242,
        ..SandboxConfig::default()
    })
    .await;
    let id = env.create("Otp Co", "Saved").await;
    let verify = |otp: &str| {
        env.req(Method::POST, &format!("/api/v1/application/{id}/verifyOtp"))
            .query(&[("otp", otp)])
            .send()
    };
    // Before any generate.
    assert_eq!(verify("424242").await.unwrap().status(), 400);
    let generate = env
        .req(
            Method::POST,
            &format!("/api/v1/application/{id}/generateOtp"),
        )
        .query(&[("isResend", "false")]);
    assert_eq!(generate.send().await.unwrap().status(), 200);
    assert_eq!(verify("abc").await.unwrap().status(), 400);
    for _ in 0..5 {
        let r = verify("1").await.unwrap();
        assert_eq!(r.status(), 400);
    }
    let r = verify("424242").await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("too many attempts"),
        "{v}"
    );
    let resend = env
        .req(
            Method::POST,
            &format!("/api/v1/application/{id}/generateOtp"),
        )
        .query(&[("isResend", "true")]);
    assert_eq!(resend.send().await.unwrap().status(), 200);
    let r = verify("424242").await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["success"], true);
    assert_eq!(
        env.get_app(&id).await["applicantInformation"]["isVerified"],
        true
    );
    let unknown = uuid::Uuid::new_v4();
    let r = env
        .req(
            Method::POST,
            &format!("/api/v1/application/{unknown}/generateOtp"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn out_of_scope_and_unknown_routes() {
    let env = start(SandboxConfig::default()).await;
    for (m, p) in [
        (Method::GET, "/api/v1/deals"),
        (Method::POST, "/api/v1/deals/fees/OSP1"),
        (Method::GET, "/api/v1/users/3"),
        (Method::GET, "/api/v1/reports/report-column-preferences"),
        (Method::GET, "/api/v1/application/EID1/enterprise"),
        (
            Method::POST,
            &format!("/api/v1/application/{}/authorize", uuid::Uuid::new_v4()),
        ),
    ] {
        let r = env.req(m.clone(), p).send().await.unwrap();
        assert_eq!(r.status(), 400, "{m} {p}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"message": "not supported by the sandbox"}));
    }
    for (m, p) in [
        (Method::GET, "/api/v1/nope"),
        (Method::GET, "/elsewhere"),
        (Method::DELETE, "/api/v1/reports/status"),
    ] {
        let r = env.req(m.clone(), p).send().await.unwrap();
        assert_eq!(r.status(), 404, "{m} {p}");
        assert!(r.bytes().await.unwrap().is_empty());
    }
    let state = env.sb.state();
    assert!(state["requests"]["GET /api/v1/deals"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn seeding_is_fast_and_shutdown_is_clean() {
    let env = start(SandboxConfig::default()).await;
    let t = std::time::Instant::now();
    let ids = env.sb.seed_applications(1001, 1000);
    assert_eq!(ids.len(), 1000);
    let resp = env
        .admin(
            "/__sandbox/seed",
            json!({"client_id": 1001, "count": 5, "status": "Submitted"}),
        )
        .await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["ids"].as_array().unwrap().len(), 5);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let state = env.sb.state();
    assert_eq!(state["entities"].as_array().unwrap().len(), 1005);
    assert_eq!(state["identities"].as_array().unwrap().len(), 1000);
    let report: Value = env
        .req(Method::GET, "/api/v1/reports/status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["statusCount"]["Complete"], 1000);
    assert_eq!(report["statusCount"]["Submitted"], 5);
    let base = env.base.clone();
    let http = env.http.clone();
    env.sb.shutdown().await;
    assert!(http
        .get(format!("{base}/__sandbox/state"))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn dropping_the_handle_stops_the_sandbox() {
    let env = start(SandboxConfig::default()).await;
    let other = start(SandboxConfig::default()).await;
    assert_ne!(env.base, other.base);
    let (base, http) = (env.base.clone(), env.http.clone());
    drop(env);
    let gone = common::wait_until(2.0, || {
        let (base, http) = (base.clone(), http.clone());
        async move {
            http.get(format!("{base}/__sandbox/state"))
                .send()
                .await
                .is_err()
        }
    })
    .await;
    assert!(
        gone,
        "the sandbox still answers after its handle was dropped"
    );
    // The other instance is unaffected.
    let r = other
        .http
        .get(other.url("/__sandbox/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
