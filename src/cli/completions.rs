//! `rstlab completions bash|zsh|fish|elvish|powershell`: a completion script on standard output.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Status};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "rstlab", &mut std::io::stdout());
    Ok(Status::Agreement)
}
