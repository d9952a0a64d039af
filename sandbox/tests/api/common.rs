//! Shared helpers: start a sandbox, log in, build authenticated requests.

use numhub_sandbox::{Sandbox, SandboxConfig};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

pub const DEMO_EMAIL: &str = "demo@numhub.test";
pub const DEMO_PASSWORD: &str = "demo-password";
pub const DEMO_CLIENT: i32 = 1001;

pub struct Env {
    pub sb: Sandbox,
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        // Fault tests reset connections: never reuse one across requests there.
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

pub async fn start(config: SandboxConfig) -> Env {
    let sb = numhub_sandbox::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("start sandbox");
    let base = sb.base_url();
    let http = client();
    let token = login(&http, &base).await;
    Env {
        sb,
        http,
        base,
        token,
    }
}

pub async fn login(http: &reqwest::Client, base: &str) -> String {
    let resp = http
        .post(format!("{base}/api/v1/authorize/token"))
        .query(&[("Email", DEMO_EMAIL), ("Password", DEMO_PASSWORD)])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["accessToken"].as_str().unwrap().to_owned()
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An authenticated request operating under the demo client.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .header("client-id", DEMO_CLIENT.to_string())
    }

    /// An authenticated GET's JSON answer.
    pub async fn get_json(&self, path: &str, query: &[(&str, i32)]) -> Value {
        self.req(Method::GET, path)
            .query(query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn admin(&self, path: &str, body: Value) -> reqwest::Response {
        let resp = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("admin call");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp
    }

    /// Creates an application through the API and returns its numhubEntityId.
    pub async fn create(&self, company: &str, status: &str) -> String {
        let resp = self
            .req(Method::POST, "/api/v1/application")
            .json(&application_body(company, status))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        v["numhubEntityId"].as_str().unwrap().to_owned()
    }

    pub async fn get_app(&self, id: &str) -> Value {
        let resp = self
            .req(Method::GET, &format!("/api/v1/application/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        v["result"].clone()
    }
}

pub fn application_body(company: &str, status: &str) -> Value {
    json!({
        "applicantInformation": {
            "firstName": "Ada", "lastName": "Lovelace",
            "emailAddress": "ada@example.com", "phoneNumber": "+15550001111",
            "ospIds": [], "isVerified": false
        },
        "businessEntityDetails": {
            "legalBusinessName": company, "businessWebsite": "https://example.com",
            "city": "Boston", "state": "MA", "zipCode": "02110"
        },
        "businessIdentityDetails": { "federalEmployerIdNumber": "12-3456789" },
        "consumerProtectionContacts": { "consumerComplaintEmail": "c@example.com" },
        "businessAgentOfRecord": { "institutionName": "Agent Inc" },
        "references": {
            "referenceOneName": "Bob",
            "applicationRef1Details": { "email": "bob@example.com", "isverified": false }
        },
        "displayIdentityInformation": {
            "displayIdentities": [
                { "phoneNumbers": ["+15551230001", "+15551230002"], "callerName": "Ada Co",
                  "logoUrl": "https://example.com/logo.bmp", "callReason": "Support" }
            ],
            "loaUrl": null
        },
        "registerCertificate": {
            "fullName": "Ada Lovelace", "date": "2026-01-02T03:04:05-05:00",
            "certified": true, "isFeeChecked": true
        },
        "section": 8,
        "status": status
    })
}

/// Polls `check` every 50 ms until it holds or `secs` pass; sleeping a fixed time would
/// make tests slow or flaky.
pub async fn wait_until<F, Fut>(secs: f64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec()
}

pub fn bmp() -> Vec<u8> {
    let mut v = b"BM".to_vec();
    v.extend_from_slice(&[0u8; 60]);
    v
}
