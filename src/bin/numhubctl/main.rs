//! `numhubctl`: the operator CLI. It talks to numhubd only through its Unix socket,
//! calling each method through its `numhubd::api` marker type (`Session::request::<
//! api::TenantList>`), so a change to a method's params or result is a compile error
//! here as in the daemon. `--json` prints the results, the api types, as numhubd sent
//! them (stdout stays clean of warnings, which go to stderr); otherwise human tables.
//!
//! This file parses the command line (`cli`) and dispatches: each command group lives
//! in its own module, everything printed on stdout goes through `output`, and the
//! calls several commands share (the handshake, paging, finding an entity) are the
//! `session`'s.

mod backup;
mod cli;
mod documents;
mod entities;
mod events;
mod generate;
mod jobs;
mod keys;
mod logs;
mod numhub;
mod output;
mod session;
mod status;
mod tenants;

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use numhubd::api::codes;
use numhubd::client::ClientError;
use numhubd::exit;

use cli::{Cli, Command, EntityAction, JobsAction, KeysAction, NumhubAction, TokenAction};
use output::out;
use session::{Outcome, Session};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Completions { shell } => generate::completions(shell),
        Command::Man => generate::man(),
        _ => match run(&cli) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => failed(cli.json, &e),
        },
    }
}

/// Says why a command failed (as JSON for scripts) and picks the exit status.
fn failed(json_out: bool, e: &ClientError) -> ExitCode {
    if json_out {
        out!("{}", json!({"error": e.to_string(), "code": rpc_code(e)}));
    } else {
        eprintln!("numhubctl: {e}");
        if rpc_code(e) == Some(i64::from(codes::FORBIDDEN)) {
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

fn rpc_code(e: &ClientError) -> Option<i64> {
    match e {
        ClientError::Rpc { code, .. } => Some(*code),
        _ => None,
    }
}

/// Connects (checking versions) and runs the command in its module.
fn run(cli: &Cli) -> Outcome {
    let s = &mut Session::connect(&cli.socket, cli.json)?;
    match &cli.command {
        Command::Status => status::status(s),
        Command::Tenants => tenants::tenants(s),
        Command::Entities { tenant, status } => entities::list(s, *tenant, status.as_deref()),
        Command::Entity {
            action: EntityAction::Show { id, tenant },
        } => entities::show(s, *tenant, id),
        Command::DropPath { entity, tenant } => entities::drop_path(s, *tenant, entity),
        Command::LoaTemplate { entity, tenant } => entities::loa_template(s, *tenant, entity),
        Command::Identities { tenant, entity } => {
            entities::identities(s, *tenant, entity.as_deref())
        }
        Command::Documents {
            tenant,
            entity,
            follow: true,
        } => documents::follow(s, *tenant, entity.as_deref()),
        Command::Documents {
            tenant,
            entity,
            follow: false,
        } => documents::list(s, *tenant, entity.as_deref()),
        Command::Logs {
            tenant,
            follow,
            limit,
        } => logs::logs(s, *tenant, *follow, *limit),
        Command::Sync { tenant } => numhub::sync(s, *tenant),
        Command::Numhub {
            action: NumhubAction::Check { tenant },
        } => numhub::check(s, *tenant),
        Command::Token {
            action: TokenAction::Status { tenant },
        } => numhub::token_status(s, *tenant),
        Command::Keys {
            action: KeysAction::Rotate,
        } => keys::rotate(s),
        Command::Jobs { action } => match action {
            JobsAction::List { tenant, state } => jobs::list(s, *tenant, state.as_deref()),
            JobsAction::Retry { id } => jobs::retry(s, *id),
            JobsAction::Resolve { id, note } => jobs::resolve(s, *id, note.as_deref()),
        },
        Command::Upload {
            entity,
            r#type,
            file,
            tenant,
            description,
        } => documents::upload(
            s,
            &documents::Upload {
                tenant: *tenant,
                entity,
                document_type: r#type,
                file,
                description: description.as_deref(),
            },
        ),
        Command::Backup { path } => backup::backup(s, path),
        Command::Completions { .. } | Command::Man => Ok(()),
    }
}
