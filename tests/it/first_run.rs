//! The README's first run, as written: `numhubd serve --sandbox` started in a folder
//! with no config (every path relative, under `./var`), `entity.create` as the README
//! shows it, `numhubctl drop-path` run from the same folder, and a PDF copied into the
//! entity's `loa/` folder — which must reach the sandbox once and land in `.processed/`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::rpc_client::ok;
use crate::support::{wait_until, TIMEOUT};

/// `numhubd serve --sandbox` with its working directory `cwd`; killed on drop.
struct FirstRun {
    cwd: tempfile::TempDir,
    child: Child,
}

impl Drop for FirstRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FirstRun {
    fn start() -> FirstRun {
        let cwd = tempfile::tempdir().expect("tempdir");
        let stderr = std::fs::File::create(cwd.path().join("stderr.log")).expect("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_numhubd"))
            .args(["serve", "--sandbox"])
            .current_dir(cwd.path())
            .env_remove("NUMHUBD_DROP_DIR")
            .stderr(stderr)
            .spawn()
            .expect("spawn numhubd");
        let run = FirstRun { cwd, child };
        let socket = run.socket();
        assert!(
            wait_until(TIMEOUT, || crate::rpc_client::try_post(
                &socket,
                br#"{"jsonrpc":"2.0","id":1,"method":"daemon.health"}"#
            )
            .is_some()),
            "the socket never answered; {}",
            run.stderr()
        );
        run
    }

    fn socket(&self) -> PathBuf {
        self.cwd.path().join("var/numhubd.sock")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.cwd.path().join("stderr.log")).unwrap_or_default()
    }

    /// `numhubctl --socket var/numhubd.sock ARGS`, run from the same folder.
    fn numhubctl(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_numhubctl"))
            .args(["--socket", "var/numhubd.sock"])
            .args(args)
            .current_dir(self.cwd.path())
            .output()
            .expect("numhubctl");
        assert!(
            out.status.success(),
            "numhubctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The embedded sandbox's `/__sandbox/state`, found through the URL it logged.
    fn sandbox_state(&self) -> Value {
        let log = self.stderr();
        let Some(url) = log
            .split("url=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
        else {
            return Value::Null;
        };
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let Ok(mut conn) = std::net::TcpStream::connect(addr) else {
            return Value::Null;
        };
        let _ = write!(
            conn,
            "GET /__sandbox/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer);
        answer
            .split_once("\r\n\r\n")
            .and_then(|(_, body)| serde_json::from_str(body).ok())
            .unwrap_or(Value::Null)
    }

    fn documents_at_sandbox(&self) -> usize {
        self.sandbox_state()["documents"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    }
}

fn processed_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(".processed")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                _ => out.push(e.path()),
            }
        }
    }
    out
}

#[test]
fn the_readme_first_run_takes_a_dropped_pdf() {
    let run = FirstRun::start();
    let created = ok(
        &run.socket(),
        "entity.create",
        json!({"tenant_id": 1, "entity_type": "enterprise", "company_name": "Acme Inc",
               "submit": true, "application": {}}),
    );
    let entity = created["id"].as_str().expect("entity id").to_string();
    let folder = PathBuf::from(run.numhubctl(&["drop-path", &entity, "--tenant", "1"]));
    assert!(
        folder.is_absolute(),
        "drop-path printed {folder:?}: an operator's shell elsewhere would not find it"
    );
    let loa = folder.join("loa");
    assert!(
        wait_until(TIMEOUT, || loa.is_dir()),
        "{loa:?} was not made; {}",
        run.stderr()
    );
    // As an operator would: write it elsewhere, then cp it in.
    let bytes = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";
    let outside = run.cwd.path().join("signed-loa.pdf");
    std::fs::File::create(&outside)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write");
    let cp = Command::new("cp")
        .arg(&outside)
        .arg(&loa)
        .stdin(Stdio::null())
        .status()
        .expect("cp");
    assert!(cp.success());
    let root = run.cwd.path().join("var/drop");
    assert!(
        wait_until(TIMEOUT, || processed_files(&root).len() == 1
            && run.documents_at_sandbox() == 1),
        "the dropped PDF did not reach NumHub and .processed/: inbox {:?}, processed {:?}; {}",
        std::fs::read_dir(&loa).map(|d| d.count()).ok(),
        processed_files(&root),
        run.stderr()
    );
    assert_eq!(
        std::fs::read(&processed_files(&root)[0]).expect("read"),
        bytes
    );
}
