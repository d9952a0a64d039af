//! The .deb on a booted systemd host: Debian 12 with systemd 252 as PID 1 in a
//! container, the package that .ci/package built installed with apt, configured the
//! way docs/OPERATIONS.md tells an administrator, and used as apps and operators do
//! through the shipped units: Type=notify start, the socket's group and [[access]],
//! socket activation, a create with submit reaching the sandbox on the host's
//! loopback, a PDF dropped by an operator who is only in numhubd-drop, the journal's
//! fields, kill -9 and the restart, apt purge. Every step runs even when an earlier
//! independent one failed; the failure lists each failed step with its command's
//! output. Skipped (saying why) without root or the tools on a developer machine;
//! under CI=true it runs.

use std::time::{Duration, Instant};

use numhub_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

use crate::systemd_host_support::{
    cached_root, progress, quote, tail, tools_or_skip, wait_for, Host,
};

const SOCKET: &str = "/run/numhubd/numhubd.sock";
const CONFIG: &str = "/etc/numhubd/numhubd.toml";
/// The sandbox's demo account (sandbox/README.md: a contract).
const DEMO_EMAIL: &str = "demo@numhub.test";
const DEMO_PASSWORD: &str = "demo-password";
const COMPANY: &str = "Acme Dental LLC";
/// How long a step waits for the daemon to do something (an upload, a restart).
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// The world a run acts in: the container and the sandbox NumHub on loopback.
struct World {
    host: Host,
    /// Runs the sandbox; kept as long as the sandbox is used.
    _rt: tokio::runtime::Runtime,
    sandbox: Sandbox,
}

type Step = Result<(), String>;

#[test]
fn the_package_on_a_booted_debian_12_serves_apps_takes_an_operators_drop_and_purges() {
    let Some(deb) = crate::packaging_support::package() else {
        eprintln!("skipped: no .deb built (bash .ci/package)");
        return;
    };
    if let Err(why) = tools_or_skip() {
        eprintln!("skipped: {why}");
        return;
    }
    let start = Instant::now();
    let cache = cached_root();
    let (rt, sandbox) = sandbox();
    let name = format!("numhubd-it-{}", std::process::id());
    let host = Host::boot(&cache, &name);
    progress(&format!(
        "up {:.1} s after start",
        start.elapsed().as_secs_f64()
    ));
    let w = World {
        host,
        _rt: rt,
        sandbox,
    };
    let mut failed: Vec<String> = Vec::new();
    let mut step = |name: &str, r: Step| {
        progress(&format!(
            "{name}: {} ({:.1} s)",
            if r.is_ok() { "ok" } else { "FAILED" },
            start.elapsed().as_secs_f64()
        ));
        if let Err(e) = r {
            failed.push(format!("step `{name}` failed: {e}"));
        }
    };
    // Install, configuration and start are the ground every later step stands on.
    let ground = install(&w, &deb)
        .and_then(|()| users(&w))
        .and_then(|app_uid| configure(&w, app_uid))
        .and_then(|()| start_service(&w));
    step(
        "install, configure and start as OPERATIONS.md says",
        ground.clone(),
    );
    if ground.is_ok() {
        step(
            "the socket answers an app in numhubd-clients",
            app_answers(&w),
        );
        step(
            "the socket refuses a user outside the group",
            outsider_refused(&w),
        );
        step(
            "socket activation starts a stopped service",
            socket_activation(&w),
        );
        match create_entity(&w) {
            Ok(entity) => {
                step(
                    "tenant and entity.create with submit get NumHub's id",
                    Ok(()),
                );
                step(
                    "an operator's PDF reaches .processed/ and NumHub once",
                    drop_pdf(&w, &entity),
                );
                step(
                    "journalctl NUMHUB_ENTITY finds the entity",
                    journal(&w, &entity),
                );
            }
            Err(e) => step(
                "tenant and entity.create with submit get NumHub's id",
                Err(e),
            ),
        }
        step("kill -9 of the main process: back and answering", kill9(&w));
        step("apt purge removes the state", purge(&w));
    }
    progress(&format!("done in {:.1} s", start.elapsed().as_secs_f64()));
    let journal_tail = w
        .host
        .inside("journalctl -u numhubd -n 40 --no-pager -o short-precise")
        .stdout;
    drop(w);
    assert!(
        failed.is_empty(),
        "{} step(s) failed on the booted Debian 12:\n\n{}\n\nnumhubd's journal (last 40 lines):\n{}",
        failed.len(),
        failed.join("\n\n"),
        tail(&journal_tail, 40)
    );
}

/// The sandbox on the host's loopback, unlimited; the container shares the host's
/// network, so the daemon inside reaches it.
fn sandbox() -> (tokio::runtime::Runtime, Sandbox) {
    crate::sync_support::start_sandbox(SandboxConfig {
        rate_limit: 0,
        ..SandboxConfig::default()
    })
}

/// `apt install ./numhubd_*.deb` (OPERATIONS.md "Install from the .deb"): enabled,
/// not started.
fn install(w: &World, deb: &std::path::Path) -> Step {
    let file = deb.file_name().and_then(|n| n.to_str()).ok_or("deb name")?;
    std::fs::copy(deb, w.host.root().join("root").join(file)).map_err(|e| e.to_string())?;
    w.host
        .run(&format!("cd /root && apt-get install -y ./{file}"))?;
    let active = w.host.inside("systemctl is-active numhubd.service").stdout;
    let enabled = w
        .host
        .run("systemctl is-enabled numhubd.service numhubd.socket")?;
    if active.trim() != "inactive" || enabled.lines().any(|l| l.trim() != "enabled") {
        return Err(format!(
            "after install the service should be enabled and not started: is-active {active:?}, is-enabled {enabled:?}"
        ));
    }
    Ok(())
}

/// The app's user in numhubd-clients, an operator only in numhubd-drop, and a user
/// in neither; the app's uid.
fn users(w: &World) -> Result<u32, String> {
    w.host.run(
        "useradd -m app && usermod -aG numhubd-clients app \
         && useradd -m alice && usermod -aG numhubd-drop alice \
         && useradd -m outsider",
    )?;
    let groups = w.host.run("id -nG alice")?;
    if groups.split_whitespace().collect::<Vec<_>>() != ["alice", "numhubd-drop"] {
        return Err(format!("alice should be only in numhubd-drop: {groups}"));
    }
    let uid = w.host.run("id -u app")?;
    uid.trim()
        .parse()
        .map_err(|e| format!("id -u app: {uid:?}: {e}"))
}

/// OPERATIONS.md "First configuration" and "Secrets as systemd credentials": the
/// base URL and account in the file, the password as an encrypted credential, an
/// [[access]] rule for the app; check-config before the start.
fn configure(w: &World, app_uid: u32) -> Step {
    let path = w.host.root().join(CONFIG.trim_start_matches('/'));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{CONFIG}: {e}"))?;
    let edited = edit_config(&text, &w.sandbox.base_url(), app_uid)?;
    std::fs::write(&path, edited).map_err(|e| format!("{CONFIG}: {e}"))?;
    // The guide types the password through systemd-ask-password; a test has no
    // terminal, so it comes on stdin the same way.
    w.host.run(&format!(
        "mkdir -p -m 0700 /etc/credstore.encrypted && printf %s {} \
         | systemd-creds encrypt --name=numhub-password - /etc/credstore.encrypted/numhub-password",
        quote(DEMO_PASSWORD)
    ))?;
    w.host
        .run(&format!("numhubd check-config --config {CONFIG}"))?;
    Ok(())
}

/// The packaged file with `base_url`, `email` and `password_file` set (uncommented
/// where the file shows them) and an `[[access]]` rule for the app appended.
fn edit_config(text: &str, base_url: &str, app_uid: u32) -> Result<String, String> {
    let mut out = String::new();
    let (mut url, mut email, mut file) = (false, false, false);
    for line in text.lines() {
        let new = if line.starts_with("base_url = ") {
            url = true;
            format!("base_url = \"{base_url}\"")
        } else if line.starts_with("# email = ") {
            email = true;
            format!("email = \"{DEMO_EMAIL}\"")
        } else if line.starts_with("# password_file = ") {
            file = true;
            line.trim_start_matches("# ").to_string()
        } else {
            line.to_string()
        };
        out.push_str(&new);
        out.push('\n');
    }
    if !(url && email && file) {
        return Err(format!(
            "{CONFIG} no longer shows `base_url = `, `# email = ` and `# password_file = ` lines to edit"
        ));
    }
    out.push_str(&format!(
        "\n[[access]]\nuid = {app_uid}\nrole = \"write\"\ntenants = \"*\"\n"
    ));
    Ok(out)
}

/// `systemctl start numhubd.socket numhubd.service` returns once Type=notify's
/// READY=1 came; then `numhubctl status`.
fn start_service(w: &World) -> Step {
    w.host
        .run("systemctl start numhubd.socket numhubd.service")
        .map_err(|e| format!("{e}\n{}", status(w)))?;
    let show = w
        .host
        .run("systemctl show numhubd.service -p Type -p ActiveState -p SubState")?;
    for want in ["Type=notify", "ActiveState=active", "SubState=running"] {
        if !show.lines().any(|l| l == want) {
            return Err(format!("systemctl show: want {want}, got:\n{show}"));
        }
    }
    w.host.run("numhubctl status")?;
    Ok(())
}

fn status(w: &World) -> String {
    w.host
        .inside("systemctl status --no-pager -l numhubd.service numhubd.socket")
        .stdout
}

/// A JSON-RPC call over the socket with curl, as `user` (README "The local API").
fn rpc(w: &World, user: &str, method: &str, params: Value) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let r = w.host.as_user(
        user,
        &format!(
            "curl -sS --unix-socket {SOCKET} http://localhost/ -H 'content-type: application/json' -d {}",
            quote(&body.to_string())
        ),
    );
    if !r.ok() {
        return Err(r.describe());
    }
    let answer: Value =
        serde_json::from_str(&r.stdout).map_err(|e| format!("{}: not JSON: {e}", r.describe()))?;
    match answer.get("result") {
        Some(v) => Ok(v.clone()),
        None => Err(format!("{method} as {user}: {answer}")),
    }
}

/// Tenant 1 on the demo client, by root (admin-only fields; OPERATIONS.md step 3),
/// then the app, through its [[access]] rule, lists its entities.
fn app_answers(w: &World) -> Step {
    rpc(
        w,
        "root",
        "tenant.upsert",
        json!({"id": 1, "name": "Acme", "numhub_client_id": "1001", "numhub_enabled": true}),
    )?;
    let list = rpc(w, "app", "entity.list", json!({"tenant_id": 1}))?;
    if !list["items"].is_array() {
        return Err(format!("entity.list as app: {list}"));
    }
    Ok(())
}

/// A user outside numhubd-clients cannot reach the socket at all: its folder
/// (0750 numhubd:numhubd-clients) refuses them, while the app's call still answers.
fn outsider_refused(w: &World) -> Step {
    let curl = w.host.as_user(
        "outsider",
        &format!("curl -sS --unix-socket {SOCKET} http://localhost/ -d '{{}}'"),
    );
    // curl says only "Couldn't connect" (exit 7); the folder's refusal is the cause.
    let look = w.host.as_user("outsider", "ls /run/numhubd/");
    if curl.code != Some(7) || look.ok() || !look.stderr.contains("Permission denied") {
        return Err(format!(
            "want curl to fail to connect (exit 7) and the folder to refuse the user:\n  {}\n  {}",
            curl.describe(),
            look.describe()
        ));
    }
    rpc(w, "app", "daemon.health", json!({}))?;
    Ok(())
}

/// The service stopped, the socket kept: the app's next call starts it.
fn socket_activation(w: &World) -> Step {
    w.host.run("systemctl stop numhubd.service")?;
    let states = w
        .host
        .inside("systemctl is-active numhubd.service numhubd.socket")
        .stdout;
    if states.split_whitespace().collect::<Vec<_>>() != ["inactive", "active"] {
        return Err(format!("after stop, service and socket: {states:?}"));
    }
    let health = rpc(w, "app", "daemon.health", json!({}))?;
    let active = w.host.inside("systemctl is-active numhubd.service").stdout;
    if active.trim() != "active" {
        return Err(format!(
            "daemon.health answered {health} but the service is {active:?}"
        ));
    }
    Ok(())
}

/// The app creates and submits an entity; NumHub's id comes back (polled with
/// entity.get) and the sandbox holds the application. The local id.
fn create_entity(w: &World) -> Result<String, String> {
    let created = rpc(
        w,
        "app",
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": COMPANY,
               "submit": true, "application": crate::sync_support::application(COMPANY)}),
    )?;
    let id = created["id"]
        .as_str()
        .ok_or(format!("entity.create: no id in {created}"))?
        .to_string();
    let get = || rpc(w, "app", "entity.get", json!({"tenant_id": 1, "id": id}));
    let nid = wait_for(STEP_LIMIT, || {
        get().ok()?["numhub_entity_id"].as_str().map(String::from)
    })
    .ok_or_else(|| format!("no numhub_entity_id after {STEP_LIMIT:?}: {:?}", get()))?;
    let at_numhub = w.sandbox.state()["entities"]
        .as_array()
        .is_some_and(|es| es.iter().any(|e| e["numhubEntityId"] == nid.as_str()));
    if !at_numhub {
        return Err(format!(
            "NumHub's id {nid} is not an application at the sandbox"
        ));
    }
    Ok(id)
}

/// A complete PDF (with its trailer), its SHA-256.
fn signed_loa() -> (Vec<u8>, String) {
    use sha2::{Digest, Sha256};
    let pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n\
xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n\
trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n107\n%%EOF\n"
        .to_vec();
    let sha = Sha256::digest(&pdf)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (pdf, sha)
}

/// The admin finds the entity's folder (`numhubctl drop-path`), alice (only in
/// numhubd-drop) copies a PDF into its `loa/`; it reaches `.processed/` and NumHub
/// exactly once.
fn drop_pdf(w: &World, entity: &str) -> Step {
    let folder = w
        .host
        .run(&format!("numhubctl drop-path {entity} --tenant 1"))?;
    let folder = folder.trim();
    let (pdf, sha) = signed_loa();
    std::fs::write(w.host.root().join("srv/signed-loa.pdf"), &pdf).map_err(|e| e.to_string())?;
    // numhubd makes the folders as soon as the entity is created.
    let loa = format!("{folder}/loa");
    let made = wait_for(Duration::from_secs(30), || {
        w.host
            .as_user("alice", &format!("test -d {}", quote(&loa)))
            .ok()
            .then_some(())
    });
    let cp = w
        .host
        .as_user("alice", &format!("cp /srv/signed-loa.pdf {}/", quote(&loa)));
    if made.is_none() || !cp.ok() {
        return Err(format!(
            "the operator cannot drop into {loa}: {}\n  the folders numhubd made:\n{}",
            cp.describe(),
            w.host
                .inside(&format!(
                    "ls -la /var/spool/numhubd /var/spool/numhubd/* {}",
                    quote(folder)
                ))
                .stdout
        ));
    }
    let rel = folder.strip_prefix("/var/spool/numhubd/").ok_or(format!(
        "drop-path {folder} is not under /var/spool/numhubd"
    ))?;
    let processed = format!("/var/spool/numhubd/.processed/{rel}/loa/signed-loa.pdf");
    let at_numhub = || {
        w.sandbox.state()["documents"].as_array().map_or(0, |d| {
            d.iter().filter(|d| d["sha256"] == sha.as_str()).count()
        })
    };
    let done = wait_for(STEP_LIMIT, || {
        (w.host
            .inside(&format!("test -f {}", quote(&processed)))
            .ok()
            && at_numhub() >= 1)
            .then_some(())
    });
    if done.is_none() || at_numhub() != 1 {
        return Err(format!(
            "after {STEP_LIMIT:?}: {processed} {}, {} upload(s) of it at NumHub\n{}",
            if done.is_some() { "exists" } else { "missing" },
            at_numhub(),
            w.host.inside("find /var/spool/numhubd -ls").stdout
        ));
    }
    Ok(())
}

/// `journalctl -u numhubd NUMHUB_ENTITY=<id>` (OPERATIONS.md "Journal fields").
fn journal(w: &World, entity: &str) -> Step {
    let cmd = format!("journalctl -u numhubd NUMHUB_ENTITY={entity} -o cat --no-pager");
    let found = wait_for(Duration::from_secs(10), || {
        let r = w.host.inside(&cmd);
        (r.ok() && !r.stdout.trim().is_empty()).then_some(r.stdout)
    });
    match found {
        Some(lines) => {
            progress(&format!(
                "{} journal record(s) for the entity",
                lines.lines().count()
            ));
            Ok(())
        }
        None => Err(format!("no records: {}", w.host.inside(&cmd).describe())),
    }
}

fn main_pid(w: &World) -> Option<i32> {
    let pid = w
        .host
        .inside("systemctl show -p MainPID --value numhubd.service")
        .stdout;
    pid.trim().parse().ok().filter(|p| *p > 0)
}

/// kill -9 of the main process: Restart=on-failure brings it back, and it answers.
fn kill9(w: &World) -> Step {
    let old = main_pid(w).ok_or(format!("no main pid:\n{}", status(w)))?;
    w.host.run(&format!("kill -9 {old}"))?;
    let back = wait_for(STEP_LIMIT, || {
        let pid = main_pid(w)?;
        let active = w.host.inside("systemctl is-active numhubd.service").stdout;
        (pid != old && active.trim() == "active").then_some(pid)
    });
    if back.is_none() {
        return Err(format!("not back after {STEP_LIMIT:?}:\n{}", status(w)));
    }
    rpc(w, "app", "daemon.health", json!({}))?;
    Ok(())
}

/// `apt purge numhubd` (OPERATIONS.md "Install from the .deb"): the units stopped,
/// the database, drop folder and configuration gone.
fn purge(w: &World) -> Step {
    w.host.run("apt-get purge -y numhubd")?;
    let left = w
        .host
        .inside("ls -d /var/lib/numhubd /var/spool/numhubd /etc/numhubd /run/numhubd 2>/dev/null")
        .stdout;
    if !left.trim().is_empty() {
        return Err(format!("left after purge:\n{left}"));
    }
    let active = w
        .host
        .inside("systemctl is-active numhubd.service numhubd.socket")
        .stdout;
    if active.lines().any(|l| l.trim() == "active") {
        return Err(format!("still running after purge: {active:?}"));
    }
    // Not state of the package's: the administrator made it (the guide says so).
    let cred = w
        .host
        .inside("test -e /etc/credstore.encrypted/numhub-password")
        .ok();
    progress(&format!(
        "after purge /etc/credstore.encrypted/numhub-password {}",
        if cred { "stays" } else { "is gone" }
    ));
    Ok(())
}
