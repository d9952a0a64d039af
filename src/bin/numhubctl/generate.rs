//! What numhubctl prints about itself, without a daemon: shell completions and the
//! man page, both from the clap definitions in `cli`.

use std::process::ExitCode;

use clap::CommandFactory;

use numhubd::exit;

use crate::cli::Cli;
use crate::output::write_stdout;

/// `completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    // Into memory first: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "numhubctl", &mut script);
    write_stdout(&script);
    ExitCode::SUCCESS
}

/// `man`: the man page (roff), rendered by clap_mangen.
pub fn man() -> ExitCode {
    let mut page = Vec::new();
    match clap_mangen::Man::new(Cli::command()).render(&mut page) {
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
