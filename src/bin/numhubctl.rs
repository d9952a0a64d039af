//! `numhubctl`: the operator CLI. It talks to numhubd only through its Unix socket.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use numhubd::exit;

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
    /// Is the daemon reachable?
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Status => status(&cli.socket, cli.json),
    }
}

fn status(socket: &std::path::Path, json: bool) -> ExitCode {
    match std::os::unix::net::UnixStream::connect(socket) {
        Ok(_) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"socket": socket, "reachable": true})
                );
            } else {
                println!("numhubd is listening on {}", socket.display());
            }
            ExitCode::from(exit::OK as u8)
        }
        Err(e) => {
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => "is numhubd running? (systemctl status numhubd)",
                std::io::ErrorKind::PermissionDenied => {
                    "your user may not open it: join the socket's group, or ask an admin for an [[access]] rule"
                }
                std::io::ErrorKind::ConnectionRefused => "a stale socket: numhubd is not running",
                _ => "check the path (--socket or NUMHUBD_SOCKET)",
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({"socket": socket, "reachable": false, "error": e.to_string()})
                );
            } else {
                eprintln!(
                    "numhubctl: cannot connect to {}: {e}; {hint}",
                    socket.display()
                );
            }
            ExitCode::from(exit::UNAVAILABLE as u8)
        }
    }
}
