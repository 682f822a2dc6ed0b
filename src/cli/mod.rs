//! The command line: one file per subcommand, the logic in the library.

mod decode;
mod explore;
mod rules;
mod run;
mod seed;
mod serve;
mod sigpipe;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use rstlab::run::Backend;

/// Finds out, on the real kernel, when a TCP write succeeds, fails with EPIPE or with
/// ECONNRESET, and checks a model of Linux against it.
#[derive(Debug, Parser)]
#[command(name = "rstlab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario on real sockets beside the oracle's prediction.
    Run(run::Args),
    /// The seed article's program: a server reads one byte and closes, a client writes three.
    Seed(seed::Args),
    /// Random scenarios checked against the oracle; disagreements shrunk to minimal scenarios.
    Explore(explore::Args),
    /// Write the rules book (RULES.md and its diagrams) from evidence on this kernel.
    Rules(rules::Args),
    /// One SIGPIPE experiment, for `rstlab rules` to run in a child process.
    #[command(hide = true)]
    SigpipeProbe(sigpipe::Args),
    /// Print a fuzz input (crash artifact, corpus or regression file) as a scenario.
    Decode(decode::Args),
    /// A broken peer for your own program: play a scenario's server steps on every connection.
    Serve(serve::Args),
}

/// The `--backend` flag.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum BackendArg {
    /// std::net, non-blocking syscalls.
    #[default]
    Std,
    /// tokio::net::TcpStream (try_read / try_write).
    Tokio,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Std => Backend::Std,
            BackendArg::Tokio => Backend::Tokio,
        }
    }
}

/// Runs the command line; exit status 0 only when everything agreed.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Seed(args) => seed::main(args),
        Command::Explore(args) => explore::main(args),
        Command::Rules(args) => rules::main(args),
        Command::SigpipeProbe(args) => sigpipe::main(args),
        Command::Decode(args) => decode::main(args),
        Command::Serve(args) => serve::main(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rstlab: {e:#}");
            ExitCode::from(2)
        }
    }
}
