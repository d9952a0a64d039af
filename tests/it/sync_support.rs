//! Shared parts of the sync tests: a sandbox on loopback in this process, and the
//! real daemon binary run (and re-run after kills) in ONE folder ([`Harness`]),
//! configured to sync with that sandbox as the demo account. The poller's tests
//! start from `poller_support`'s `World`.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use numhub_sandbox::{Faults, Sandbox, SandboxConfig};
use serde_json::{json, Value};

use crate::rpc_client::{add_numhub_tenant, call, ok};
use crate::support::{spawn_serve, wait_ready, wait_until, Run, TIMEOUT};

pub struct Harness {
    pub dir: tempfile::TempDir,
    /// Runs the sandbox; kept alive as long as the harness.
    rt: tokio::runtime::Runtime,
    pub sandbox: Sandbox,
    pub child: Option<Child>,
    /// Daemon runs so far (each has its own stderr file).
    pub runs: usize,
}

/// `[sync]` and `[numhub]` tuned for tests: fast polling, short backoff.
pub fn config(base_url: &str, numhub_max_attempts: u32) -> String {
    format!(
        "[database]\npath = \"numhubd.db\"\n\
         [rpc]\nsocket = \"numhubd.sock\"\nupload_dirs = [\"uploads\"]\n\
         [crypto]\nidentity_file = \"identity.txt\"\n[drop]\ndir = \"drop\"\n\
         [log]\nfilter = \"info,numhubd=debug\"\n[daemon]\nshutdown_timeout_secs = 5\n\
         [numhub]\nbase_url = \"{base_url}\"\nemail = \"demo@numhub.test\"\n\
         password_file = \"password.txt\"\nmax_attempts = {numhub_max_attempts}\nrate_limit = 0\n\
         [sync]\nworkers = 4\noutbox_poll_ms = 20\njob_max_attempts = 100\n\
         retry_base_secs = 1\nretry_max_secs = 1\npoll_interval_secs = 3600\nfull_sweep_secs = 3600\n"
    )
}

/// The sandbox on loopback with `config`, in a runtime of its own (kept as long as
/// the sandbox is used).
pub fn start_sandbox(config: SandboxConfig) -> (tokio::runtime::Runtime, Sandbox) {
    let rt = crate::support::rt();
    let sandbox = rt
        .block_on(numhub_sandbox::start(([127, 0, 0, 1], 0).into(), config))
        .expect("sandbox");
    (rt, sandbox)
}

/// The sandbox on loopback, unlimited, with the two-client demo account; `dir` gets
/// what [`config`] names: the demo password and `uploads/`.
pub fn sandbox_for(dir: &Path) -> (tokio::runtime::Runtime, Sandbox) {
    let started = start_sandbox(SandboxConfig {
        rate_limit: 0,
        users: vec![two_client_demo()],
        ..SandboxConfig::default()
    });
    std::fs::write(dir.join("password.txt"), "demo-password\n").expect("password");
    std::fs::create_dir_all(dir.join("uploads")).expect("uploads");
    started
}

/// The demo account, acting for client 1001 (tenant 1's) and 1002 (a second
/// tenant's: one tenant per NumHub client).
pub fn two_client_demo() -> numhub_sandbox::User {
    let mut demo = numhub_sandbox::User::demo();
    demo.clients.push(numhub_sandbox::Client {
        client_id: 1002,
        name: "Second Client".into(),
        osp_id: None,
    });
    demo
}

impl Harness {
    /// A harness whose daemon is running with tenant 1's sync on (the start most
    /// outbox tests make).
    pub fn syncing(numhub_max_attempts: u32) -> Harness {
        let mut h = Harness::new(numhub_max_attempts);
        assert!(h.start(&[]), "{}", h.all_stderr());
        h.tenant(true);
        h
    }

    pub fn new(numhub_max_attempts: u32) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let (rt, sandbox) = sandbox_for(dir.path());
        let cfg = config(&sandbox.base_url(), numhub_max_attempts);
        let cfg = crate::test_engine::place(dir.path(), &cfg);
        std::fs::write(dir.path().join("numhubd.toml"), cfg).expect("config");
        Harness {
            dir,
            rt,
            sandbox,
            child: None,
            runs: 0,
        }
    }

    /// Replaces `from` (which must be there: an edit that matches nothing would
    /// leave the test running on the default) by `to` in the daemon's config, for its
    /// next start.
    pub fn edit_config(&self, from: &str, to: &str) {
        let path = self.dir.path().join("numhubd.toml");
        let cfg = std::fs::read_to_string(&path).expect("config");
        assert!(cfg.contains(from), "the config has no {from:?}:\n{cfg}");
        std::fs::write(&path, cfg.replace(from, to)).expect("config");
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("numhubd.sock")
    }

    /// The SQLite file (on SQLite only: tests for either engine use [`Harness::store`]).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("numhubd.db")
    }

    /// The daemon's store, on whichever engine the test run uses.
    pub fn store(&self) -> crate::test_engine::TestStore {
        crate::test_engine::store_for(self.dir.path())
    }

    pub fn stderr_of(&self, run: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("stderr.{run}.log")))
            .unwrap_or_default()
    }

    /// Every run's stderr, for failure messages.
    pub fn all_stderr(&self) -> String {
        (1..=self.runs)
            .map(|r| format!("--- run {r}\n{}", self.stderr_of(r)))
            .collect()
    }

    /// Starts the daemon and waits for READY=1, or for it to die (an armed kill point
    /// may fire before READY). Returns whether it is running.
    pub fn start(&mut self, env: &[(&str, &str)]) -> bool {
        assert!(self.child.is_none(), "a daemon is already running");
        self.runs += 1;
        let run = Run {
            notify: self.dir.path().join(format!("notify.{}.sock", self.runs)),
            stderr: self.dir.path().join(format!("stderr.{}.log", self.runs)),
        };
        let (mut child, notify) = spawn_serve(self.dir.path(), &run, env, &[]);
        let ready = wait_ready(&mut child, &notify, &run);
        if ready {
            self.child = Some(child);
            crate::test_engine::assert_on_engine(self.dir.path());
        }
        ready
    }

    fn pid(&self) -> Option<i32> {
        self.child
            .as_ref()
            .map(|c| i32::try_from(c.id()).expect("pid fits i32"))
    }

    /// SIGKILL, as a power cut or the OOM killer would.
    pub fn kill9(&mut self) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the clean exit.
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// Waits (bounded) for the running daemon to exit by itself (an armed kill point).
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        crate::support::wait_child_exit(&mut self.child, timeout)
    }

    pub fn set_faults(&self, f: Faults) {
        self.sandbox.set_faults(f);
    }

    pub fn state(&self) -> Value {
        self.sandbox.state()
    }

    /// Calls a sandbox admin route (outside auth and rate limits).
    pub fn admin(&self, path: &str, body: Value) {
        admin(&self.rt, &self.sandbox, path, body);
    }

    pub fn total_requests(&self) -> u64 {
        self.state()["totals"]["requests"].as_u64().unwrap_or(0)
    }

    /// Tenant 1 on the demo client.
    pub fn tenant(&self, enabled: bool) {
        add_numhub_tenant(&self.socket(), 1, "Acme", "1001", enabled);
    }

    /// Turns tenant 1's sync on as [`Harness::tenant`] does, its answer not awaited as
    /// a success: an armed kill point may end the daemon before it answers.
    pub fn enable_tenant_racing_a_kill(&self) -> Value {
        call(
            &self.socket(),
            "tenant.upsert",
            json!({"id": 1, "name": "Acme", "numhub_client_id": "1001", "numhub_enabled": true}),
        )
    }

    /// Every job of tenant 1 (all pages).
    pub fn jobs(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut p = json!({"tenant_id": 1, "limit": 500});
            if let Some(c) = &cursor {
                p["cursor"] = json!(c);
            }
            let page = ok(&self.socket(), "jobs.list", p);
            out.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    /// NumHub's ids of the sandbox's applications named `name`, and how many
    /// documents they have.
    pub fn at_numhub(&self, name: &str) -> (Vec<String>, usize) {
        let st = self.state();
        let ids: Vec<String> = st["entities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["companyName"] == name)
            .filter_map(|a| a["numhubEntityId"].as_str().map(String::from))
            .collect();
        let docs = st["documents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["numhubEntityId"]
                    .as_str()
                    .is_some_and(|n| ids.iter().any(|i| i == n))
            })
            .count();
        (ids, docs)
    }

    /// The company names of every application the sandbox holds, sorted.
    pub fn companies_at_numhub(&self) -> Vec<String> {
        company_names(&self.state())
    }

    pub fn all_jobs_done(&self) -> bool {
        let jobs = self.jobs();
        !jobs.is_empty() && jobs.iter().all(|j| j["state"] == "done")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Tenant 1's display identities, as `identity.list` answers them (one page of 500).
pub fn identities(socket: &Path) -> Vec<Value> {
    ok(
        socket,
        "identity.list",
        json!({"tenant_id": 1, "limit": 500}),
    )["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Calls one of `sandbox`'s admin routes on `rt`; panics unless it answers 2xx.
pub fn admin(rt: &tokio::runtime::Runtime, sandbox: &Sandbox, path: &str, body: Value) {
    let url = format!("{}{path}", sandbox.base_url());
    let status = rt
        .block_on(async {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status())
        })
        .expect("admin call");
    assert!(status.is_success(), "{path}: {status}");
}

/// A valid application body for `entity.create`.
pub fn application(name: &str) -> Value {
    json!({
        "applicantInformation": {"firstName": "Ada", "lastName": "Lovelace",
            "emailAddress": "ada@example.com", "phoneNumber": "+15555550100"},
        "businessEntityDetails": {"legalBusinessName": name, "city": "Boston"},
        "section": 1
    })
}

/// `entity.create` over the socket; `None` when the daemon did not answer.
pub fn create_entity(socket: &Path, name: &str, submit: bool) -> Option<String> {
    let r = call(
        socket,
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": name,
               "application": application(name), "submit": submit}),
    );
    r["result"]["id"].as_str().map(String::from)
}

/// Writes a PDF-looking file of `size` bytes (content from `seed`) under uploads/.
pub fn write_pdf(dir: &Path, name: &str, size: usize, seed: u64) -> (PathBuf, String) {
    use sha2::{Digest, Sha256};
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut bytes = b"%PDF-1.7\n".to_vec();
    while bytes.len() + 7 < size {
        bytes.push(b'a' + rng.u8(0..26));
    }
    // Whole, as the drop folder requires (the same helper feeds both).
    bytes.extend_from_slice(b"\n%%EOF\n");
    let path = dir.join("uploads").join(name);
    std::fs::write(&path, &bytes).expect("write upload");
    let sha = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (path, sha)
}

/// `document.upload` over the socket; `None` when the daemon did not answer.
pub fn upload(socket: &Path, entity_id: &str, path: &Path) -> Option<String> {
    let r = call(
        socket,
        "document.upload",
        json!({"tenant_id": 1, "entity_id": entity_id, "document_type": "other",
               "path": path.display().to_string()}),
    );
    r["result"]["id"].as_str().map(String::from)
}

/// The company names of the applications in a sandbox's `state`, sorted (duplicates
/// kept).
pub fn company_names(state: &Value) -> Vec<String> {
    let mut names: Vec<String> = state["entities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["companyName"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

/// Waits for every job to be done; panics with the jobs and the daemon's log if not.
pub fn settle(h: &Harness) {
    settle_within(h, TIMEOUT);
}

/// [`settle`], allowing `timeout` (a restore or a crash's recovery takes longer).
pub fn settle_within(h: &Harness, timeout: Duration) {
    assert!(
        wait_until(timeout, || h.all_jobs_done()),
        "jobs not done within {timeout:?}: {:?}\n{}",
        h.jobs(),
        h.all_stderr()
    );
}

/// An application with two display identities, over the socket; its local id.
pub fn create_with_identities(socket: &std::path::Path, name: &str, submit: bool) -> String {
    let e = ok(
        socket,
        "entity.create",
        json!({
            "tenant_id": 1, "entity_type": "enterprise", "company_name": name, "submit": submit,
            "application": {"section": 8, "displayIdentityInformation": {"displayIdentities": [
                {"phoneNumbers": ["+15551230001", "+15551230002"], "callerName": "ACME SUPPORT", "callReason": "Support"},
                {"phoneNumbers": ["+15551230003"], "callerName": "ACME BILLING", "callReason": "Billing"}
            ]}}
        }),
    );
    e["id"].as_str().expect("id").to_string()
}
