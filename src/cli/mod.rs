//! The command line: one file per subcommand, the logic in the library.

mod capture;
mod completions;
mod counts;
mod decode;
mod durations;
mod exec;
mod explore;
mod kernels;
mod lane;
mod merge;
mod output;
mod paths;
mod playing;
mod predict;
mod rules;
mod run;
mod runtimes;
mod seed;
mod serve;
mod signals;
mod sigpipe;
mod sim;
mod survey;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use rstlab::run::Backend;

/// Every exit status of rstlab and what it means: `rstlab --help` shows the whole table, each
/// command's `--help` the rows of the statuses it can end with (see [`exit_statuses`]); the
/// README states the same.
const EXIT_TABLE: [(u8, &str); 8] = [
    (
        0,
        "everything agreed (serve, exec: every connection went as scripted)",
    ),
    (
        1,
        "the kernel disagrees with the oracle: the oracle is wrong (or a step never settled;
       serve, exec: a call of the peer returned other than the oracle predicts)",
    ),
    (
        2,
        "bad input or usage, or an error that stopped the command (serve, exec: or a problem
       of the peer itself)",
    ),
    (
        3,
        "the kernel did what the oracle predicted, but not what the scenario expects: a `=>`
       line (seed: the article's ok, ok, EPIPE, in the article's setting only: without
       --delay, with 3 writes); serve, exec: your program did not do what the `client` steps
       script (or did not connect, or exec's COMMAND outlived --timeout)",
    ),
    (
        4,
        "sim: the simulator answers other than Linux (the oracle) on at least one step: the
       report lists each divergence, shrunk; rstlab itself worked",
    ),
    (
        130,
        "interrupted by Ctrl-C, after printing what was done (its JSON too); a second signal
       exits at once",
    ),
    (143, "stopped by SIGTERM (`kill`, `timeout`), as 130"),
    (129, "stopped by SIGHUP (the terminal closed), as 130"),
];

/// Said under every exit status table.
const EXIT_NOTE: &str =
    "A closed standard output (`| head`) ends a command quietly, with status 0.";

/// The statuses among `codes` as `--help` shows them, from [`EXIT_TABLE`], in its order.
/// A command that can be interrupted (130) stops the same way on SIGTERM (143) and SIGHUP (129).
fn exit_statuses(codes: &[u8]) -> String {
    let mut out = "Exit status:\n".to_string();
    let shown =
        |code: &u8| codes.contains(code) || (codes.contains(&130) && [129, 143].contains(code));
    for (code, meaning) in EXIT_TABLE.iter().filter(|(c, _)| shown(c)) {
        out += &format!("  {code:<4} {meaning}\n");
    }
    out + "\n" + EXIT_NOTE
}

/// Every status, for `rstlab --help`.
fn all_exit_statuses() -> String {
    exit_statuses(&EXIT_TABLE.map(|(code, _)| code))
}

#[derive(Debug, Parser)]
#[command(name = "rstlab", version, about, after_help = all_exit_statuses())]
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
    /// Add up the JSON summaries of `explore --shard K/N` into the whole exploration's.
    Merge(merge::Args),
    /// Write the rules book (RULES.md and its diagrams) from evidence on this kernel.
    Rules(rules::Args),
    /// One SIGPIPE experiment, for `rstlab rules` to run in a child process.
    #[command(hide = true)]
    SigpipeProbe(sigpipe::Args),
    /// Print a fuzz input (crash artifact, corpus or regression file) as a scenario.
    Decode(decode::Args),
    /// Print a shell completion script: `rstlab completions bash > /etc/bash_completion.d/rstlab`.
    Completions(completions::Args),
    /// A broken peer for your own program: play a scenario's server steps on every connection.
    Serve(serve::Args),
    /// Run a program across the emulated link in real time, with the peer at the scripted moments.
    Exec(exec::Args),
    /// The oracle's prediction alone, for any kernel (`--kernel 5.10`): nothing runs.
    Predict(predict::Args),
    /// Check the rules on other kernels: Debian's 5.10, 6.1, 6.12 and 7.3 in VMs, and this one.
    Kernels(kernels::Args),
    /// A deterministic simulator (turmoil, turmoil-net) judged against Linux, step by step.
    Sim(sim::Args),
    /// What Python, Go, Node.js, Java, curl and Rust print in the book's situations, measured.
    Runtimes(runtimes::Args),
    /// The checks `kernels` runs inside each kernel, written as JSON.
    #[command(hide = true)]
    Survey(survey::Args),
    /// The silent peer's part of a survey, in the lane (run by `rstlab kernels --timers`).
    #[command(hide = true)]
    SurveySilence(survey::SilenceArgs),
    /// The batch of command lines inside the lane's VM (`run --kernel SERIES`).
    #[command(hide = true)]
    LaneGuest(lane::GuestArgs),
    /// A timer experiment in the lane: `lane-probe vanished-peer --kernel 6.12`.
    #[command(hide = true)]
    LaneProbe(lane::ProbeArgs),
}

/// How a command ended; each has its own exit status (see [`EXIT_TABLE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything agreed: 0.
    Agreement,
    /// The kernel disagrees with the oracle: 1.
    OracleDisagrees,
    /// The oracle agrees with the kernel, which contradicts a `=>` expectation: 3.
    ExpectationContradicted,
    /// `sim`: the simulator answers other than Linux on some step: 4.
    SimulatorDiverges,
    /// Stopped by a signal: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP, as a shell reports
    /// a process that signal ended.
    Interrupted(signals::Signal),
}

impl Status {
    /// 0 for agreement, 1 otherwise: for commands with no expectations of their own.
    pub fn of_agreement(agree: bool) -> Status {
        if agree {
            Status::Agreement
        } else {
            Status::OracleDisagrees
        }
    }

    /// The exit status.
    pub fn code(self) -> u8 {
        match self {
            Status::Agreement => 0,
            Status::OracleDisagrees => 1,
            Status::ExpectationContradicted => 3,
            Status::SimulatorDiverges => 4,
            Status::Interrupted(signal) => signal.code(),
        }
    }
}

/// The exit status of an error: bad input, bad usage, or a failure that stopped the command.
const ERROR: u8 = 2;

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

/// The `--net` flag.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum NetArg {
    /// 127.0.0.0/8: no delay, sleeps in real time.
    #[default]
    Loopback,
    /// The emulated link between two namespaces: delay, hold, drop; virtual time.
    Link,
}

impl From<NetArg> for rstlab::run::Net {
    fn from(n: NetArg) -> rstlab::run::Net {
        match n {
            NetArg::Loopback => rstlab::run::Net::Loopback,
            NetArg::Link => rstlab::run::Net::Link,
        }
    }
}

/// Runs the command line; exit status 0 only when everything agreed (see [`EXIT_TABLE`]).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Seed(args) => seed::main(args),
        Command::Explore(args) => explore::main(args),
        Command::Merge(args) => merge::main(args),
        Command::Rules(args) => rules::main(args),
        Command::SigpipeProbe(args) => sigpipe::main(args),
        Command::Decode(args) => decode::main(args),
        Command::Completions(args) => completions::main(args),
        Command::Serve(args) => serve::main(args),
        Command::Exec(args) => exec::main(args),
        Command::Predict(args) => predict::main(args),
        Command::Kernels(args) => kernels::main(args),
        Command::Sim(args) => sim::main(args),
        Command::Runtimes(args) => runtimes::main(args),
        Command::Survey(args) => survey::main(args),
        Command::SurveySilence(args) => survey::silence(args),
        Command::LaneGuest(args) => lane::guest(args),
        Command::LaneProbe(args) => lane::probe(args),
    };
    // Whatever a command left in the buffer goes out now, where its errors can be seen.
    let result = result.and_then(|status| {
        output::stdout().flush()?;
        Ok(status)
    });
    match result {
        Ok(status) => ExitCode::from(status.code()),
        // The reader of standard output has gone (`| head`): nothing more to say, to anyone.
        Err(e) if output::is_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(cause) = output::write_failure(&e) {
                eprintln!("rstlab: writing to standard output: {cause}");
                return ExitCode::from(ERROR);
            }
            eprintln!("rstlab: {e:#}");
            ExitCode::from(ERROR)
        }
    }
}

/// Gives this process what the emulated link needs, without root: a user namespace of its own
/// (with a network namespace it owns), where the kernel allows unprivileged ones. Only what
/// needs the link calls it, once it knows it will use the link (`run` on the link, `seed
/// --delay`, `explore` with the link, `rules`, `exec`), so that everything else (`serve`
/// above all) stays in the caller's namespace, reachable. The kernel moves a process only while
/// it has one thread: call it before the command starts any. Where it is refused, the link
/// says in one line what it needs when it is set up.
fn enter_link_namespace() {
    if !rstlab::sys::net::effective_root() {
        let _ = rstlab::sys::net::enter_user_namespace();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_a_command_ends_with_is_in_the_table() {
        let codes = EXIT_TABLE.map(|(code, _)| code);
        for status in [
            Status::Agreement,
            Status::OracleDisagrees,
            Status::ExpectationContradicted,
            Status::SimulatorDiverges,
            Status::Interrupted(signals::Signal::Int),
            Status::Interrupted(signals::Signal::Term),
            Status::Interrupted(signals::Signal::Hup),
        ] {
            assert!(codes.contains(&status.code()), "{status:?}");
        }
        assert!(codes.contains(&ERROR));
        assert!(exit_statuses(&[0, 2]).starts_with("Exit status:\n  0    everything agreed"));
    }
}
