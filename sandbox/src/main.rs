//! The stand-alone CLI: `numhub-sandbox --listen 127.0.0.1:PORT …`. Prints the bound base
//! URL as its first line of stdout and stops cleanly on SIGTERM/SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use numhub_sandbox::{PhoneForm, SandboxConfig, User};

/// A local NumHub BrandControl API v1 (see sandbox/README.md).
#[derive(Debug, Parser)]
#[command(name = "numhub-sandbox", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8085")]
    listen: SocketAddr,
    /// JSON file with the accounts (see README "Users file"); default: the demo user
    /// demo@numhub.test / demo-password with client 1001.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Requests per window per account; 0 = unlimited.
    #[arg(long, default_value_t = 100)]
    rate_limit: u32,
    /// Length of the rate-limit window in seconds.
    #[arg(long, default_value_t = 60)]
    rate_window_secs: u64,
    /// Largest accepted uploaded file, in bytes (larger → 400).
    #[arg(long, default_value_t = 50 * 1024 * 1024)]
    max_file_bytes: u64,
    /// Where uploads are kept; default: a temp dir removed on exit.
    #[arg(long)]
    storage_dir: Option<PathBuf>,
    /// The OTP code `verifyOtp` accepts.
    #[arg(long, default_value_t = 123_456)]
    otp_code: i32,
    /// The form of the numbers in seeded applications: `dashed` (`818-444-5555`, the
    /// document's example) or `e164` (`+18184445555`). Numbers sent in are kept as sent.
    #[arg(long, default_value = "dashed")]
    phone_form: PhoneForm,
    /// The most items a page of a paged list holds, whatever `pageSize` asks (a NumHub
    /// that caps its pages); at least 1.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    max_page_size: Option<i32>,
    /// Paged lists answer page 1 whatever `pageNumber` asks (a NumHub that ignores it).
    #[arg(long)]
    ignore_page_number: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("numhub-sandbox: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let users: Vec<User> = match &args.users {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    let config = SandboxConfig {
        rate_limit: args.rate_limit,
        rate_window: Duration::from_secs(args.rate_window_secs),
        max_file_bytes: args.max_file_bytes,
        storage_dir: args.storage_dir,
        users,
        otp_code: args.otp_code,
        phone_form: args.phone_form,
        max_page_size: args.max_page_size,
        ignore_page_number: args.ignore_page_number,
        ..SandboxConfig::default()
    };
    let sandbox = numhub_sandbox::start(args.listen, config).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", sandbox.base_url())?;
    out.flush()?;
    drop(out);

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    sandbox.shutdown().await;
    Ok(())
}
