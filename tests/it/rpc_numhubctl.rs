//! numhubctl, the real binary, against the real daemon: every command, `--json`,
//! completions, the version handshake, and the messages when the socket is missing
//! or the caller is not allowed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use numhubd::api;

use crate::rpc_client::{add_tenant, ctl, ctl_json, draft_entity, ok, socket_of, start_rpc_daemon};
use crate::store_support::seed_identity;
use crate::support::rt;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn every_command_with_json_and_tables() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    add_tenant(&s, 7, "Acme");
    let eid = draft_entity(&s, 7, "direct", "Acme Widgets");
    let rt = rt();
    let store = d.store().side_store();
    seed_identity(&rt, &store, 7, &eid, "nh-77");

    let st = ctl_json(&s, &["status"]);
    assert_eq!(st["health"]["api_version"], 1);
    assert_eq!(st["status"]["jobs"]["queued"], 1);
    assert!(stdout(&ctl(&s, &["status"])).contains("jobs          queued=1"));
    // --json prints the api types: each answer reads back as its method's result.
    typed::<api::Health>(&st["health"]);
    typed::<api::Status>(&st["status"]);
    typed::<api::Page<api::Tenant>>(&ctl_json(&s, &["tenants"]));
    typed::<Vec<api::WithSync<api::Entity>>>(&ctl_json(&s, &["entities"])["items"]);
    typed::<api::EntityDetail>(&ctl_json(&s, &["entity", "show", &eid]));
    typed::<Vec<api::WithSync<api::Identity>>>(&ctl_json(&s, &["identities"])["items"]);
    typed::<api::TokenStatus>(&ctl_json(&s, &["token", "status"]));
    // A name the api enum lacks is refused before the call, as numhubd refuses it.
    let bad = ctl(&s, &["--json", "entities", "--status", "bogus"]);
    let bad: Value = serde_json::from_slice(&bad.stdout).expect("error JSON");
    assert_eq!(bad["code"], -32602, "{bad}");
    let reason = bad["error"].as_str().unwrap_or_default();
    assert!(reason.contains("status: \"bogus\" is not one of"), "{bad}");

    assert_eq!(ctl_json(&s, &["tenants"])["items"][0]["name"], "Acme");
    let table = stdout(&ctl(&s, &["tenants"]));
    assert!(table.starts_with("ID") && table.contains("Acme"), "{table}");
    assert_eq!(ctl_json(&s, &["entities"])["items"][0]["id"], eid.as_str());
    assert_eq!(
        ctl_json(&s, &["entities", "--tenant", "7", "--status", "approved"])["items"],
        json!([])
    );
    assert!(stdout(&ctl(&s, &["entities", "--tenant", "7"])).contains("Acme Widgets"));
    assert_eq!(
        ctl_json(&s, &["entity", "show", &eid])["company_name"],
        "Acme Widgets"
    );
    assert!(stdout(&ctl(&s, &["entity", "show", &eid, "--tenant", "7"])).contains("company_name"));
    assert_eq!(
        ctl_json(&s, &["identities"])["items"][0]["entity_id"],
        eid.as_str()
    );
    assert_eq!(
        ctl_json(&s, &["token", "status", "--tenant", "7"])["present"],
        false
    );
    assert!(stdout(&ctl(&s, &["token", "status"])).contains("no token held"));

    // Upload with progress on stderr, result on stdout.
    let file = d.dir.path().join("uploads/logo.bmp");
    std::fs::write(&file, b"BM\x00\x00fake bitmap").expect("write");
    let out = ctl(
        &s,
        &[
            "upload",
            &eid,
            "logo",
            file.to_str().expect("utf8"),
            "--tenant",
            "7",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("[3/3] queued for NumHub"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        ctl_json(&s, &["documents", "--tenant", "7"])["items"][0]["document_type"],
        "logo"
    );

    let jobs = ctl_json(&s, &["jobs", "list", "--tenant", "7"]);
    typed::<Vec<api::Job>>(&jobs["items"]);
    typed::<Vec<api::WithSync<api::Document>>>(&ctl_json(&s, &["documents"])["items"]);
    typed::<api::Page<api::LogEntry>>(&ctl_json(&s, &["logs"]));
    let job_id = jobs["items"][0]["id"].as_i64().expect("job id");
    rt.block_on(
        store.write(move |tx| {
            numhubd::db::jobs::mark_dead(tx, job_id, "no", &numhubd::db::now_ts())
        }),
    )
    .expect("dead");
    assert!(stdout(&ctl(&s, &["jobs", "retry", &job_id.to_string()])).contains("queued again"));
    rt.block_on(store.write(move |tx| {
        numhubd::db::jobs::mark_needs_attention(tx, job_id, "?", &numhubd::db::now_ts())
    }))
    .expect("attention");
    assert_eq!(
        ctl_json(
            &s,
            &[
                "jobs",
                "resolve",
                &job_id.to_string(),
                "--note",
                "done by hand"
            ]
        )["state"],
        "done"
    );
    assert_eq!(ctl_json(&s, &["logs"])["items"], json!([]));

    // A sync run starts; keys rotate rotates the running daemon's identity.
    assert!(ctl(&s, &["sync"]).status.success());
    let out = ctl(&s, &["keys", "rotate"]);
    assert!(out.status.success(), "keys rotate: {}", stderr(&out));
    assert!(d.dir.path().join("identity.txt.old").exists());
}

#[test]
fn logs_follow_streams_events_over_websocket() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    add_tenant(&s, 1, "Acme");
    let mut child = crate::rpc_client::ctl_spawn(&s, &["--json", "logs", "--follow"]);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // The subscription may not be in place yet: keep creating until an event arrives.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
    });
    let mut got = None;
    assert!(crate::support::wait_until(crate::support::TIMEOUT, || {
        ok(
            &s,
            "entity.create",
            json!({"tenant_id": 1, "entity_type": "direct", "company_name": "A", "application": {}, "submit": false}),
        );
        got = rx.try_recv().ok();
        got.is_some()
    }));
    let _ = child.kill();
    let _ = child.wait();
    let ev: Value = serde_json::from_str(&got.unwrap_or_default()).expect("event JSON");
    assert_eq!(ev["type"], "entity.status_changed");
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_numhubctl"))
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(out.status.success());
        assert!(stdout(&out).contains("numhubctl"), "{shell}");
    }
}

#[test]
fn a_missing_daemon_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ctl(&dir.path().join("nope.sock"), &["status"]);
    assert_eq!(out.status.code(), Some(numhubd::exit::UNAVAILABLE));
    let e = stderr(&out);
    assert!(
        e.contains("nope.sock") && e.contains("is numhubd running"),
        "{e}"
    );
}

#[test]
fn a_socket_without_permission_names_the_mode_and_group() {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    // The default mode (0660) keeps uid 65534 out: the message says what to do.
    let d = crate::support::start_daemon(
        &crate::support::base_config("info")
            .replace("socket = \"numhubd.sock\"", "socket = \"run/numhubd.sock\""),
        &[],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new(env!("CARGO_BIN_EXE_numhubctl"))
        .arg("--socket")
        .arg(d.dir.path().join("run/numhubd.sock"))
        .arg("status")
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run");
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(numhubd::exit::UNAVAILABLE), "{e}");
    assert!(
        e.contains("mode 660") && e.contains("group root") && e.contains("usermod"),
        "{e}"
    );
}

#[test]
fn forbidden_calls_say_which_rule_is_missing() {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let d = start_rpc_daemon("");
    let out = Command::new(env!("CARGO_BIN_EXE_numhubctl"))
        .arg("--socket")
        .arg(socket_of(&d))
        .arg("tenants")
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run");
    let e = stderr(&out);
    assert!(!out.status.success());
    assert!(
        e.contains("forbidden") && e.contains("[[access]] rule for uid 65534"),
        "{e}"
    );
}

#[test]
fn a_different_api_version_is_said_plainly() {
    // A stand-in daemon that answers daemon.health with another API version.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fake.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut conn, _)) = listener.accept() {
            // Read the whole request (head and body arrive in separate writes) before
            // answering, so the client never writes into a closed connection.
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&seen).contains("daemon.health") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let body = r#"{"jsonrpc":"2.0","id":1,"result":{"ok":true,"daemon_version":"9.0.0","api_version":99}}"#;
            let _ = write!(conn, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        }
    });
    let out = ctl(&path, &["status"]);
    let e = stderr(&out);
    assert!(!out.status.success());
    assert!(
        e.contains("API v1") && e.contains("API v99") && e.contains("9.0.0"),
        "{e}"
    );
}

/// A stdout whose reader is gone before numhubctl writes: the read end of a pipe
/// closed before the start, so every write fails with EPIPE.
fn ctl_into_closed_pipe(socket: &Path, args: &[&str]) -> Output {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills both descriptors; each is owned exactly once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read_end);
    Command::new(env!("CARGO_BIN_EXE_numhubctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .output()
        .expect("run numhubctl")
}

/// `numhubctl jobs list | head`: a reader that stops reading ends numhubctl as it ends
/// coreutils, by SIGPIPE, with nothing on stderr; never a panic.
#[test]
fn a_closed_stdout_ends_every_output_quietly_by_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    add_tenant(&s, 7, "Acme");
    let commands: [&[&str]; 9] = [
        &["jobs", "list"],
        &["--json", "jobs", "list"],
        &["status"],
        &["--json", "status"],
        &["tenants"],
        &["entities"],
        &["logs"],
        &["completions", "bash"],
        &["man"],
    ];
    for args in commands {
        let out = ctl_into_closed_pipe(&s, args);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "numhubctl {args:?} into a closed pipe: {:?}, stderr: {}",
            out.status,
            stderr(&out)
        );
        assert_eq!(stderr(&out), "", "numhubctl {args:?}");
    }
}

/// Plain `status` shows what OPERATIONS says it shows: the watcher (state, folder,
/// backlog, last error), the token's expiry, each blocked login, besides the rest.
#[test]
fn plain_status_shows_the_watcher_token_expiry_and_login_blocks() {
    let d = start_rpc_daemon("");
    let s = socket_of(&d);
    let rt = rt();
    let store = d.store().side_store();
    let armor = "-----BEGIN AGE ENCRYPTED FILE-----\nseeded\n-----END AGE ENCRYPTED FILE-----\n";
    rt.block_on(store.write(move |tx| {
        numhubd::db::tokens::put_access(tx, None, armor, "2031-02-03T04:05:06.000000Z", None)?;
        numhubd::db::login_blocks::put(
            tx,
            "global",
            "NumHub refused the password\nforged line",
            Some(401),
            armor,
        )
    }))
    .expect("seed token and login block");
    // The watcher leaves `starting` on its own: the plain and JSON views are compared
    // once it watches, or they may be taken either side of that step.
    assert!(crate::support::wait_until(crate::support::TIMEOUT, || {
        ctl_json(&s, &["status"])["status"]["watcher"]["state"] == "watching"
    }));
    let text = stdout(&ctl(&s, &["status"]));
    assert!(
        text.contains("token         expires 2031-02-03T04:05:06"),
        "{text}"
    );
    assert!(
        text.contains("login blocked global since")
            && text.contains("(HTTP 401): NumHub refused the password\\nforged line"),
        "{text}"
    );
    assert!(text.contains("numhub        unknown"), "{text}");

    // The watcher as daemon.status has it, then unavailable with its reason.
    let watcher = ctl_json(&s, &["status"])["status"]["watcher"].clone();
    let state = watcher["state"]
        .as_str()
        .expect("watcher state")
        .to_string();
    let dir = watcher["dir"].as_str().expect("watcher dir").to_string();
    assert!(
        text.contains(&format!("watcher       {state}")) && text.contains(&dir),
        "{text}"
    );
    let drop = d.dir.path().join("drop");
    std::fs::remove_dir_all(&drop).expect("remove the drop folder");
    std::fs::write(&drop, b"not a folder").expect("a file in its place");
    let unavailable = || {
        let w = ctl_json(&s, &["status"])["status"]["watcher"].clone();
        (w["state"] == "unavailable" && w["last_error"].is_string()).then_some(w)
    };
    assert!(crate::support::wait_until(crate::support::TIMEOUT, || {
        unavailable().is_some()
    }));
    let w = unavailable().expect("unavailable");
    let text = stdout(&ctl(&s, &["status"]));
    assert!(text.contains("watcher       unavailable"), "{text}");
    let error = w["last_error"].as_str().expect("last_error");
    assert!(text.contains(&format!("watcher error {error}")), "{text}");
}

/// `v` read as `T`, which must write it back field for field: what `--json` printed
/// is the api type, nothing more or less.
fn typed<T: DeserializeOwned + Serialize>(v: &Value) {
    let t: T = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("not a {}: {e}: {v}", std::any::type_name::<T>()));
    assert_eq!(&serde_json::to_value(&t).expect("to JSON"), v);
}
