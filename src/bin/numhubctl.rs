//! `numhubctl`: the operator CLI. It talks to numhubd only through its Unix socket,
//! with the protocol types of `numhubd::api`, so the two cannot drift. `--json`
//! prints the daemon's results as they are (stdout stays clean of warnings, which go
//! to stderr); otherwise human tables. A reader that stops reading (`numhubctl … |
//! head`) ends it quietly, as it ends coreutils: by SIGPIPE.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use serde_json::{json, Value};

use numhubd::api::{codes, BackupTaken, Health, API_VERSION, DAEMON_VERSION};
use numhubd::client::{Client, ClientError};
use numhubd::exit;

/// `println!` for everything numhubctl prints on stdout, through [`emit`].
macro_rules! out {
    ($($arg:tt)*) => {
        emit(format_args!($($arg)*))
    };
}

#[derive(Parser)]
#[command(name = "numhubctl", version, about = "Operate a running numhubd")]
struct Cli {
    /// numhubd's socket.
    #[arg(
        long,
        global = true,
        env = "NUMHUBD_SOCKET",
        default_value = "/run/numhubd/numhubd.sock"
    )]
    socket: PathBuf,
    /// Print JSON instead of text (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Is the daemon reachable; version, uptime, queue depth.
    Status,
    /// The tenants you may see.
    Tenants,
    /// BCID applications (every tenant you may see, or one).
    Entities {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        status: Option<String>,
    },
    /// One application.
    Entity {
        #[command(subcommand)]
        action: EntityAction,
    },
    /// Display identities.
    Identities {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        entity: Option<String>,
    },
    /// Documents; --follow streams their status changes as they happen.
    Documents {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        entity: Option<String>,
        #[arg(long)]
        follow: bool,
    },
    /// Prints ENTITY's drop folder, one line (for scripts).
    DropPath {
        entity: String,
        #[arg(long)]
        tenant: Option<i64>,
    },
    /// Downloads ENTITY's LOA template from NumHub into its drop folder; prints the path.
    LoaTemplate {
        entity: String,
        #[arg(long)]
        tenant: Option<i64>,
    },
    /// The NumHub exchange log; --follow streams events as they happen.
    Logs {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Runs a sync cycle now.
    Sync {
        #[arg(long)]
        tenant: Option<i64>,
    },
    /// NumHub itself.
    Numhub {
        #[command(subcommand)]
        action: NumhubAction,
    },
    /// NumHub tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Encryption keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Outbox jobs.
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Registers FILE (under [rpc] upload_dirs) as a TYPE document of ENTITY.
    Upload {
        entity: String,
        /// loa, logo, business_license, tax_id or other.
        r#type: String,
        file: PathBuf,
        #[arg(long)]
        tenant: i64,
        #[arg(long)]
        description: Option<String>,
    },
    /// Writes a consistent copy of the database to PATH while numhubd keeps serving.
    ///
    /// numhubd writes it, as its own user, mode 0600: PATH must be absolute and new,
    /// in a folder numhubd may write to. Prints where the copy is, its size and the
    /// instant it holds.
    Backup { path: PathBuf },
    /// Prints shell completions.
    Completions { shell: clap_complete::Shell },
    /// Prints the man page (roff), for packaging.
    #[command(hide = true)]
    Man,
}

#[derive(Subcommand)]
enum EntityAction {
    Show {
        id: String,
        #[arg(long)]
        tenant: Option<i64>,
    },
}

#[derive(Subcommand)]
enum NumhubAction {
    /// Test connection: logs in to NumHub and says, per tenant, whether its
    /// numhub_client_id is one of the clients the account may act for. Exits 1 when
    /// one is not (or cannot be checked).
    Check {
        #[arg(long)]
        tenant: Option<i64>,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    Status {
        #[arg(long)]
        tenant: Option<i64>,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    Rotate,
}

#[derive(Subcommand)]
enum JobsAction {
    List {
        #[arg(long)]
        tenant: Option<i64>,
        #[arg(long)]
        state: Option<String>,
    },
    Retry {
        id: i64,
    },
    Resolve {
        id: i64,
        #[arg(long)]
        note: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        // Into memory first: clap_complete panics when its writer fails.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "numhubctl", &mut script);
        write_stdout(&script);
        return ExitCode::SUCCESS;
    }
    if let Command::Man = cli.command {
        return print_man(Cli::command());
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if cli.json {
                out!("{}", json!({"error": e.to_string(), "code": rpc_code(&e)}));
            } else {
                eprintln!("numhubctl: {e}");
                if rpc_code(&e) == Some(i64::from(codes::FORBIDDEN)) {
                    // SAFETY: getuid(2) cannot fail.
                    let uid = unsafe { libc::getuid() };
                    eprintln!("numhubctl: ask an admin for an [[access]] rule for uid {uid} (or your group) in numhubd.toml");
                }
            }
            ExitCode::from(match e {
                ClientError::Connect { .. } => exit::UNAVAILABLE as u8,
                _ => exit::FAILURE as u8,
            })
        }
    }
}

/// The man page, rendered by clap_mangen from the definitions above.
fn print_man(command: clap::Command) -> ExitCode {
    let mut page = Vec::new();
    match clap_mangen::Man::new(command).render(&mut page) {
        Ok(()) => {
            write_stdout(&page);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("numhubctl: writing the man page: {e}");
            ExitCode::from(exit::IO as u8)
        }
    }
}

/// One line on stdout (see [`stdout_failed`]).
fn emit(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
    {
        stdout_failed(&e);
    }
}

/// `bytes` on stdout as they are (see [`stdout_failed`]).
fn write_stdout(bytes: &[u8]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        stdout_failed(&e);
    }
}

/// Rust ignores SIGPIPE, so a closed stdout is an EPIPE error, which `println!`
/// turns into a panic. A reader that went away ends numhubctl as it ends coreutils
/// (`yes | head`): SIGPIPE, restored to its default and raised, with no message
/// (the shell sees 141). SIGPIPE stays ignored until then, so a daemon closing the
/// socket is still an error numhubctl reports. Any other write failure is one too.
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // SAFETY: signal(2) and raise(2) with valid arguments; no handler is installed.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
    }
    eprintln!("numhubctl: writing to standard output: {e}");
    std::process::exit(exit::IO)
}

fn rpc_code(e: &ClientError) -> Option<i64> {
    match e {
        ClientError::Rpc { code, .. } => Some(*code),
        _ => None,
    }
}

/// Connects and compares versions on first contact.
fn connect(socket: &Path) -> Result<(Client, Health), ClientError> {
    let mut c = Client::connect(socket)?;
    let h: Health = serde_json::from_value(c.call("daemon.health", json!({}))?)
        .map_err(|e| ClientError::Protocol(format!("daemon.health: {e}")))?;
    if h.api_version != API_VERSION {
        return Err(ClientError::Protocol(format!(
            "numhubctl {DAEMON_VERSION} speaks API v{API_VERSION} but numhubd {} speaks API v{}: use the numhubctl that came with that numhubd, or restart numhubd after upgrading",
            h.daemon_version, h.api_version
        )));
    }
    if h.daemon_version != DAEMON_VERSION {
        eprintln!(
            "numhubctl: note: numhubctl is {DAEMON_VERSION}, numhubd is {} (same API v{API_VERSION}); restart numhubd if you upgraded",
            h.daemon_version
        );
    }
    Ok((c, h))
}

fn run(cli: &Cli) -> Result<(), ClientError> {
    let (mut c, health) = connect(&cli.socket)?;
    let json_out = cli.json;
    match &cli.command {
        Command::Status => {
            let status = c.call("daemon.status", json!({}))?;
            if json_out {
                return print_json(
                    &json!({"socket": cli.socket, "health": health, "status": status}),
                );
            }
            print_status(&cli.socket, &health, &status);
            Ok(())
        }
        Command::Tenants => {
            let page = c.call("tenant.list", json!({}))?;
            output(
                json_out,
                &page,
                &["id", "name", "slug", "numhub_client_id", "numhub_enabled"],
            )
        }
        Command::Entities { tenant, status } => {
            let mut items = Vec::new();
            for t in tenants_of(&mut c, *tenant)? {
                let mut p = json!({"tenant_id": t});
                if let Some(s) = status {
                    p["status"] = json!(s);
                }
                items.extend(all_pages(&mut c, "entity.list", p)?);
            }
            output(
                json_out,
                &json!({"items": items}),
                &[
                    "id",
                    "tenant_id",
                    "company_name",
                    "status",
                    "vetting_status",
                    "numhub_entity_id",
                    "sync.state",
                ],
            )
        }
        Command::Entity {
            action: EntityAction::Show { id, tenant },
        } => {
            let e = on_entity(&mut c, *tenant, id, "entity.get")?;
            if json_out {
                return print_json(&e);
            }
            for (k, v) in e.as_object().into_iter().flatten() {
                if k != "review" {
                    out!("{k:<18} {}", cell(v));
                }
            }
            print_review(&e["review"]);
            Ok(())
        }
        Command::DropPath { entity, tenant } => {
            let d = on_entity(&mut c, *tenant, entity, "entity.drop_path")?;
            if json_out {
                return print_json(&d);
            }
            out!("{}", d["path"].as_str().unwrap_or_default());
            Ok(())
        }
        Command::LoaTemplate { entity, tenant } => {
            let t = on_entity(&mut c, *tenant, entity, "entity.loa_template")?;
            if json_out {
                return print_json(&t);
            }
            out!("{}", t["path"].as_str().unwrap_or_default());
            Ok(())
        }
        Command::Identities { tenant, entity } => {
            let mut items = Vec::new();
            for t in tenants_of(&mut c, *tenant)? {
                let mut p = json!({"tenant_id": t});
                if let Some(e) = entity {
                    p["entity_id"] = json!(e);
                }
                items.extend(all_pages(&mut c, "identity.list", p)?);
            }
            output(
                json_out,
                &json!({"items": items}),
                &[
                    "id",
                    "entity_id",
                    "display_name",
                    "status",
                    "dir_id",
                    "phone_numbers",
                    "sync.state",
                ],
            )
        }
        Command::Documents {
            tenant,
            entity,
            follow: true,
        } => {
            let mut p = json!({"kinds": ["document.status_changed", "document.dropped"]});
            if let Some(t) = tenant {
                p["tenant_id"] = json!(t);
            }
            follow_events(&cli.socket, json_out, p, entity.as_deref())
        }
        Command::Documents {
            tenant,
            entity,
            follow: false,
        } => {
            let mut items = Vec::new();
            for t in tenants_of(&mut c, *tenant)? {
                let mut p = json!({"tenant_id": t});
                if let Some(e) = entity {
                    p["entity_id"] = json!(e);
                }
                items.extend(all_pages(&mut c, "document.list", p)?);
            }
            output(
                json_out,
                &json!({"items": items}),
                &[
                    "id",
                    "entity_id",
                    "document_type",
                    "filename",
                    "status",
                    "sha256",
                    "sync.state",
                ],
            )
        }
        Command::Logs {
            tenant,
            follow,
            limit,
        } => {
            let mut p = json!({});
            if let Some(t) = tenant {
                p["tenant_id"] = json!(t);
            }
            if !follow {
                if let Some(l) = limit {
                    p["limit"] = json!(l);
                }
                let page = c.call("log.list", p)?;
                return output(
                    json_out,
                    &page,
                    &[
                        "created_at",
                        "tenant_id",
                        "method",
                        "endpoint",
                        "status_code",
                        "success",
                        "error_message",
                    ],
                );
            }
            follow_events(&cli.socket, json_out, p, None)
        }
        Command::Sync { tenant } => {
            let r = c.call(
                "sync.run",
                tenant.map(|t| json!({"tenant_id": t})).unwrap_or(json!({})),
            )?;
            simple(json_out, &r, "sync started")
        }
        Command::Numhub {
            action: NumhubAction::Check { tenant },
        } => {
            let r = c.call(
                "numhub.check",
                tenant.map(|t| json!({"tenant_id": t})).unwrap_or(json!({})),
            )?;
            if json_out {
                print_json(&r)?;
            } else {
                for t in r["tenants"].as_array().into_iter().flatten() {
                    let clients: Vec<String> = t["account_clients"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| c.to_string())
                        .collect();
                    let verdict = match t["verdict"].as_str() {
                        Some("listed") => format!("ok ({})", cell(&t["client_name"])),
                        Some("not_listed") => {
                            format!("NOT LISTED: the account may act for {}", clients.join(", "))
                        }
                        Some("not_reported") => {
                            "unchecked: NumHub listed no clients for the account".to_string()
                        }
                        _ => format!("FAILED: {}", cell(&t["reason"])),
                    };
                    out!(
                        "tenant {} ({}) client {} via {}: {verdict}",
                        t["tenant_id"],
                        cell(&t["name"]),
                        cell(&t["numhub_client_id"]),
                        cell(&t["account"]),
                    );
                }
            }
            if r["ok"].as_bool() != Some(true) {
                // The answer is printed (as JSON for scripts); the exit status says
                // a tenant failed, without a second error object on stdout.
                std::process::exit(exit::FAILURE);
            }
            Ok(())
        }
        Command::Token {
            action: TokenAction::Status { tenant },
        } => {
            let r = c.call(
                "token.status",
                tenant.map(|t| json!({"tenant_id": t})).unwrap_or(json!({})),
            )?;
            if json_out {
                return print_json(&r);
            }
            match r["present"].as_bool() {
                Some(true) => out!(
                    "token held; expires {} ({} s left)",
                    cell(&r["expires_at"]),
                    r["seconds_left"]
                ),
                _ => out!("no token held"),
            }
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Rotate,
        } => {
            let r = c.call("keys.rotate", json!({}))?;
            simple(json_out, &r, "keys rotated")
        }
        Command::Jobs { action } => match action {
            JobsAction::List { tenant, state } => {
                let mut p = json!({});
                if let Some(t) = tenant {
                    p["tenant_id"] = json!(t);
                }
                if let Some(s) = state {
                    p["state"] = json!(s);
                }
                let items = all_pages(&mut c, "jobs.list", p)?;
                output(
                    json_out,
                    &json!({"items": items}),
                    &[
                        "id",
                        "tenant_id",
                        "kind",
                        "state",
                        "attempts",
                        "entity_id",
                        "last_error",
                    ],
                )
            }
            JobsAction::Retry { id } => {
                let r = c.call("jobs.retry", json!({"id": id}))?;
                simple(json_out, &r, &format!("job {id} queued again"))
            }
            JobsAction::Resolve { id, note } => {
                let mut p = json!({"id": id});
                if let Some(n) = note {
                    p["note"] = json!(n);
                }
                let r = c.call("jobs.resolve", p)?;
                simple(json_out, &r, &format!("job {id} resolved"))
            }
        },
        Command::Upload {
            entity,
            r#type,
            file,
            tenant,
            description,
        } => {
            // numhubd reads the file itself (it must be under [rpc] upload_dirs); the
            // steps are shown as they happen.
            let path = file
                .canonicalize()
                .map_err(|e| ClientError::Protocol(format!("{}: {e}", file.display())))?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if !json_out {
                eprintln!("[1/3] {} ({size} bytes)", path.display());
                eprintln!("[2/3] numhubd hashes and checks it, and queues the upload…");
            }
            let mut p = json!({"tenant_id": tenant, "entity_id": entity, "document_type": r#type, "path": path});
            if let Some(d) = description {
                p["description"] = json!(d);
            }
            let doc = c.call("document.upload", p)?;
            if json_out {
                return print_json(&doc);
            }
            eprintln!(
                "[3/3] queued for NumHub as job {}",
                cell(&doc["sync"]["job_id"])
            );
            out!(
                "document {} sha256 {} status {}",
                cell(&doc["id"]),
                cell(&doc["sha256"]),
                cell(&doc["status"])
            );
            Ok(())
        }
        Command::Backup { path } => {
            let path = path
                .to_str()
                .ok_or_else(|| ClientError::Protocol(format!("{}: not UTF-8", path.display())))?;
            let r = c.call("daemon.backup", json!({"path": path}))?;
            let b: BackupTaken = serde_json::from_value(r.clone())
                .map_err(|e| ClientError::Protocol(format!("daemon.backup: {e}")))?;
            visible_here(&b)?;
            if json_out {
                return print_json(&r);
            }
            out!("backup written to {}", b.path);
            out!("size          {} bytes", b.size_bytes);
            out!("taken at      {}", b.taken_at);
            out!("copy of       {}", b.source);
            Ok(())
        }
        Command::Completions { .. } | Command::Man => Ok(()),
    }
}

/// `health  ok`, or one `degraded` line per cause (the database refusing writes).
fn print_health(status: &Value) {
    let degraded = status["degraded"].as_array().cloned().unwrap_or_default();
    if degraded.is_empty() {
        out!("health        ok");
    }
    for d in &degraded {
        out!(
            "degraded      {} since {}: {}",
            d["component"].as_str().unwrap_or("?"),
            d["since"].as_str().unwrap_or("?"),
            d["cause"].as_str().unwrap_or("?")
        );
    }
}

/// `status` as text: every field of `daemon.status`, one a line (blocked logins one
/// each), as docs/OPERATIONS.md lists them.
fn print_status(socket: &Path, health: &Health, status: &Value) {
    out!(
        "numhubd {} on {} (API v{})",
        health.daemon_version,
        socket.display(),
        health.api_version
    );
    print_health(status);
    out!("uptime        {} s", status["uptime_s"]);
    out!("schema        v{}", status["schema_version"]);
    out!("database      {} bytes", status["db_size_bytes"]);
    let jobs = status["jobs"].as_object().map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    });
    out!(
        "jobs          {}",
        jobs.filter(|s| !s.is_empty())
            .unwrap_or_else(|| "none".into())
    );
    out!(
        "numhub        {}",
        match status["numhub_reachable"].as_bool() {
            Some(true) => "reachable",
            Some(false) => "unreachable (the newest exchange failed to connect or got a 5xx)",
            None => "unknown (no exchange yet)",
        }
    );
    out!(
        "token         {}",
        match status["token_expires_at"].as_str() {
            Some(t) => format!("expires {t}"),
            None => "none held".into(),
        }
    );
    print_watcher(&status["watcher"]);
    let blocks = status["blocked_logins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if blocks.is_empty() {
        out!("login blocks  none");
    }
    for b in &blocks {
        let code = b["status_code"]
            .as_u64()
            .map(|c| format!(" (HTTP {c})"))
            .unwrap_or_default();
        out!(
            "login blocked {} since {}{code}: {}",
            cell(&b["account"]),
            cell(&b["since"]),
            one_line(&cell(&b["reason"]))
        );
    }
    out!("connections   {}", status["connections"]);
    out!("anomalies     {}", status["sync_anomalies"]);
    print_cluster(&status["cluster"]);
}

/// The daemons sharing the store: who this is, who leads, and each node's last sign.
fn print_cluster(c: &Value) {
    let Ok(Some(c)) = serde_json::from_value::<Option<numhubd::api::ClusterStatus>>(c.clone())
    else {
        out!("cluster       none (one daemon on its SQLite file)");
        return;
    };
    let leader = match &c.leader {
        Some(l) if *l == c.node => "this node leads".to_string(),
        Some(l) => format!("{} leads", one_line(l)),
        None => "no leader now".to_string(),
    };
    let until = c
        .lease_expires_at
        .as_deref()
        .map(|t| format!(", lease until {t}"))
        .unwrap_or_default();
    out!(
        "cluster       node {}: {leader} (epoch {}{until})",
        one_line(&c.node),
        c.epoch
    );
    for n in &c.nodes {
        out!(
            "node          {} last seen {}",
            one_line(&n.node),
            n.last_seen
        );
    }
}

/// The drop folder's watcher: its state (with why, when it gives one), folder and
/// backlog, then its newest problem.
fn print_watcher(w: &Value) {
    if w.is_null() {
        out!("watcher       none");
        return;
    }
    let why = w["reason"]
        .as_str()
        .map(|r| format!(" ({})", one_line(r)))
        .unwrap_or_default();
    out!(
        "watcher       {}{why} {} (backlog {})",
        cell(&w["state"]),
        one_line(&cell(&w["dir"])),
        cell(&w["backlog"])
    );
    out!("watcher error {}", one_line(&cell(&w["last_error"])));
}

/// numhubd wrote the copy in its own view of the file system; a mount of its own
/// that numhubd could not recognise (e.g. systemd's `PrivateTmp=disconnected`) puts
/// it where numhubctl's user cannot find it. Reporting it would be a lie, so that is
/// an error. A copy numhubctl may not look at (a folder closed to its user) is
/// taken on numhubd's word.
fn visible_here(b: &BackupTaken) -> Result<(), ClientError> {
    match std::fs::symlink_metadata(&b.path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ClientError::Protocol(format!(
            "numhubd reports a copy at {} but there is no such file here: numhubd sees another file system at that path (a mount of its own, such as systemd's private /tmp), so the copy is not reachable for you; take the backup in a folder below /var/lib/numhubd",
            b.path
        ))),
        _ => Ok(()),
    }
}

/// Streams events (`events.subscribe` with `params`) until the daemon ends the
/// stream, one line each; only those of `entity` when given.
fn follow_events(
    socket: &Path,
    json_out: bool,
    params: Value,
    entity: Option<&str>,
) -> Result<(), ClientError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    if !json_out {
        eprintln!("following events on {} (Ctrl-C to stop)", socket.display());
    }
    rt.block_on(numhubd::client::follow_events(socket, params, |ev| {
        if entity.is_some_and(|e| ev["entity_id"].as_str() != Some(e)) {
            return true;
        }
        if json_out {
            out!("{ev}");
        } else {
            let mut fields: Vec<String> = ev
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.as_str() != "type")
                .map(|(k, v)| format!("{k}={}", cell(v)))
                .collect();
            fields.sort();
            out!(
                "{:<24} {}",
                ev["type"].as_str().unwrap_or("?"),
                fields.join(" ")
            );
        }
        true
    }))
}

/// Calls `method {tenant_id, id}` in the given tenant, or in each tenant the caller
/// may see until one has the entity (as `entity show` finds it).
fn on_entity(
    c: &mut Client,
    tenant: Option<i64>,
    id: &str,
    method: &str,
) -> Result<Value, ClientError> {
    for t in tenants_of(c, tenant)? {
        match c.call(method, json!({"tenant_id": t, "id": id})) {
            Ok(v) => return Ok(v),
            Err(ClientError::Rpc { code, .. }) if code == i64::from(codes::NOT_FOUND) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ClientError::Rpc {
        code: i64::from(codes::NOT_FOUND),
        message: format!("entity {id} not found in your tenants"),
        data: None,
    })
}

/// The given tenant, or every tenant the caller may see.
fn tenants_of(c: &mut Client, tenant: Option<i64>) -> Result<Vec<i64>, ClientError> {
    if let Some(t) = tenant {
        return Ok(vec![t]);
    }
    Ok(all_pages(c, "tenant.list", json!({}))?
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect())
}

fn all_pages(c: &mut Client, method: &str, params: Value) -> Result<Vec<Value>, ClientError> {
    let mut items = Vec::new();
    let mut p = params;
    loop {
        let page = c.call(method, p.clone())?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(cur) => p["cursor"] = json!(cur),
            None => return Ok(items),
        }
    }
}

/// `entity show`'s review: NumHub's message, then each flagged section and its
/// comment, one a line.
fn print_review(review: &Value) {
    if review.is_null() {
        out!("{:<18} -", "review");
        return;
    }
    out!(
        "{:<18} flagged {}: {}",
        "review",
        cell(&review["flagged_at"]),
        cell(&review["message"])
    );
    for c in review["flagged_comments"].as_array().into_iter().flatten() {
        out!(
            "  section {} {}: {}",
            cell(&c["section_number"]),
            cell(&c["section_name"]),
            cell(&c["comments"])
        );
    }
}

fn print_json(v: &Value) -> Result<(), ClientError> {
    out!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
    Ok(())
}

fn simple(json_out: bool, v: &Value, text: &str) -> Result<(), ClientError> {
    if json_out {
        print_json(v)
    } else {
        out!("{text}");
        Ok(())
    }
}

/// `text` on one line: a newline or other control character (a dropped file's
/// name can hold one) is shown escaped, so it cannot forge a line of its own.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// A page as an aligned table of `columns` (a dotted name reaches into objects).
fn output(json_out: bool, page: &Value, columns: &[&str]) -> Result<(), ClientError> {
    if json_out {
        return print_json(page);
    }
    let items = page["items"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|it| {
            columns
                .iter()
                .map(|c| {
                    let ptr = format!("/{}", c.replace('.', "/"));
                    cell(it.pointer(&ptr).unwrap_or(&Value::Null))
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    out!(
        "{}",
        line(columns.iter().map(|c| c.to_uppercase()).collect())
    );
    for r in rows {
        out!("{}", line(r));
    }
    if items.is_empty() {
        out!("(none)");
    }
    Ok(())
}
