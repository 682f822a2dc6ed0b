//! `rstlab completions bash|zsh|fish|elvish|powershell`: a completion script on standard output.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Status};

#[derive(Debug, clap::Args)]
#[command(after_help = super::exit_statuses(&[0, 2]))]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let mut command = Cli::command();
    // Into memory first: clap_complete panics on a failed write, the writer reports it.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "rstlab", &mut script);
    super::output::stdout().write_all(&script)?;
    Ok(Status::Agreement)
}
