//! `rstlab exec [--delay D] SCENARIO -- COMMAND ARGS…`: the flags of
//! [`rstlab::peer::exec::run`], which does the work, and its report printed.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use rstlab::peer::PeerError;
use rstlab::peer::exec::{self, ExecError, ExecOptions};
use rstlab::scenario::source::Source;

use super::playing::{Respond, status_of};
use super::signals::Stop;
use super::{Status, durations, exit_statuses, output};

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 1, 2, 3, 130]))]
pub struct Args {
    /// The link's one-way delay, each way, from 0 to 100ms (`20ms`, `1.5ms`, `250us`).
    #[arg(long, value_parser = durations::delay, allow_hyphen_values = true, default_value = "0ms")]
    delay: Duration,
    /// The deadline of the whole run, from COMMAND's start: a command still running then is
    /// killed and reported (`10s`, `500ms`).
    #[arg(long, value_parser = durations::positive, allow_hyphen_values = true, default_value = "10s")]
    timeout: Duration,
    #[command(flatten)]
    respond: Respond,
    /// Print the report as one JSON object (COMMAND's standard output goes to standard error).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pcap: super::capture::Pcap,
    /// A scenario file, `-` for standard input, or the steps themselves separated by `;`. The
    /// peer plays it on COMMAND's first connection: `server` steps are its calls, `client` steps
    /// what it waits to see arrive, `link` steps are applied to the link when their turn comes.
    #[arg(value_name = "SCENARIO")]
    scenario: String,
    /// The program to run in the client's namespace, and its arguments, after `--`. It finds
    /// the peer in RSTLAB_PEER (`192.0.2.2:8080`), RSTLAB_PEER_HOST and RSTLAB_PEER_PORT.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Runs the command against the peer ([`exec::run`]) and prints the report.
pub fn main(args: Args) -> anyhow::Result<Status> {
    let Source { origin, script } = Source::read(&args.scenario)?;
    let cannot = || format!("{origin}: cannot play it on the link");
    let respond = args.respond.read()?;
    args.pcap.needs_link(true, "exec always runs on it")?;
    let mut options = ExecOptions::new(script, args.command);
    options.delay = args.delay;
    options.timeout = args.timeout;
    options.respond = respond;
    options.stdout_to_stderr = args.json;
    options.capture = args.pcap.wanted();
    let stop = Stop::install(std::sync::Arc::clone(&options.interrupt))?;
    // Before the relay starts its threads.
    super::enter_link_namespace();
    let banner = |options: &ExecOptions| eprintln!("rstlab exec: {}", options.banner());
    let report = exec::run_with(options, banner).map_err(|e| match e {
        ExecError::Peer(e @ (PeerError::Unplayable(_) | PeerError::Parse(_))) => {
            anyhow::Error::new(e).context(cannot())
        }
        e => anyhow::Error::new(e),
    })?;
    let signal = stop.signal().filter(|_| report.interrupted);
    let status = status_of(&report.peer, signal, report.timed_out);
    let mut out = output::stdout();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)
    } else {
        // A blank line first: the command's output may not end with a newline.
        write!(out, "\n{report}")
    }
    .and_then(|()| out.flush())
    .context("writing to standard output")?;
    // After the report: a capture that cannot be written does not take it away.
    if args.pcap.wanted() && report.wire.unrecorded > 0 {
        eprintln!(
            "capture: the relay records at most {} segments; {} more crossed unrecorded",
            rstlab::net::relay::MAX_TRACE,
            report.wire.unrecorded
        );
    }
    args.pcap.save(
        &format!(
            "rstlab exec: {} (real time since the command started)",
            report.command.join(" ")
        ),
        &report.wire.packets,
    )?;
    status
}
