//! `rstlab serve SCENARIO`: a broken peer for your own program (see `rstlab::peer`).
//!
//! The first line of standard output is the address, alone, so that scripts can read it
//! (`read ADDR < <(…)`, `head -1`); every connection's report follows it when the connection's
//! play ends, then a summary when `serve` ends (after `--once`'s or `--connections N`'s
//! connections, `--accept-timeout` without a client, or Ctrl-C, SIGTERM or SIGHUP: then with
//! status 130).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use rstlab::peer::{ConnectionReport, Peer, PeerError, PeerOptions, Refused};
use rstlab::scenario::source::Source;

use super::playing::{Respond, status_of};
use super::signals::Stop;
use super::{Status, durations, exit_statuses, output};

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 1, 2, 3, 130]))]
pub struct Args {
    /// A scenario file, `-` for standard input, or the steps themselves separated by `;`.
    /// `server` steps are the peer's calls; `client` steps are what it waits to see from your
    /// program (`client write N`: N more bytes; `client close`: its FIN or RST). With several,
    /// connection N plays the Nth, and every later connection the last.
    #[arg(required = true, value_name = "SCENARIO")]
    scenarios: Vec<String>,
    /// Where to listen: a loopback address only; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Play one connection, then end (later connections are reset and reported).
    #[arg(long, conflicts_with = "connections")]
    once: bool,
    /// Play N connections, then end (later ones are reset and reported).
    #[arg(long, value_name = "N", value_parser = parse_connections, allow_hyphen_values = true)]
    connections: Option<u64>,
    /// The longest wait for each `client` step, more than 0 (`5s`, `500ms`, `1.5s`).
    #[arg(long, value_parser = durations::positive, allow_hyphen_values = true, default_value = "5s")]
    timeout: Duration,
    /// End when no client has connected within this long, more than 0 (default: wait until
    /// Ctrl-C).
    #[arg(long, value_parser = durations::positive, allow_hyphen_values = true)]
    accept_timeout: Option<Duration>,
    #[command(flatten)]
    respond: Respond,
    /// After the address line, one JSON object per line: each connection's report, then a
    /// summary object.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Summary<'a> {
    summary: String,
    as_scripted: bool,
    connections: usize,
    refused: &'a [Refused],
    problems: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons_missing: Option<&'a str>,
    interrupted: bool,
}

/// The error of a peer that could not start: a port already taken is said once, with the port.
/// Why the peer did not start; a scenario it cannot play is named by where it came from.
fn not_started(e: PeerError, listen: SocketAddr, origins: &[String]) -> anyhow::Error {
    match e {
        PeerError::Unplayable(mut refused) => {
            let index = refused.scenario.take().unwrap_or(1);
            let origin = origins.get(index - 1).map_or("<scenario>", String::as_str);
            anyhow::Error::new(PeerError::Unplayable(refused))
                .context(format!("{origin}: cannot serve it"))
        }
        e => not_listening(e, listen),
    }
}

fn not_listening(e: PeerError, listen: SocketAddr) -> anyhow::Error {
    match &e {
        PeerError::Io { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            anyhow::anyhow!(
                "cannot listen on {listen}: port {} is in use already (another `rstlab serve`?); \
                 choose another with --listen, or port 0 for a free one",
                listen.port()
            )
        }
        _ => anyhow::Error::new(e).context("starting the peer"),
    }
}

/// `--connections N`: at least 1, said in words rather than as a range up to u64::MAX.
fn parse_connections(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("0 connections is nothing to play: give at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "expected a number of connections (a whole number, at least 1), found {}",
            rstlab::scenario::quote(text)
        )),
    }
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let mut scenarios = Vec::new();
    let mut origins = Vec::new();
    for arg in &args.scenarios {
        // The syntax here, with the place; what the peer cannot play, the peer refuses before
        // it listens.
        let Source { origin, script } = Source::read(arg)?;
        scenarios.push(script);
        origins.push(origin);
    }
    let respond = args.respond.read()?;
    // The loop below looks at its flag at least every 50 ms.
    let stop = Stop::new()?;
    let interrupted = stop.flag();
    let limit = if args.once {
        Some(1)
    } else {
        args.connections
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    let options = PeerOptions {
        timeout: args.timeout,
        respond,
        max_connections: limit,
        reasons: true,
    };
    let steps: Vec<String> = scenarios
        .iter()
        .map(|s| s.shape().steps().len().to_string())
        .collect();
    let peer = scenarios
        .into_iter()
        .fold(Peer::builder(), |builder, script| builder.script(script))
        .options(options)
        .listen(args.listen)
        .start()
        .map_err(|e| not_started(e, args.listen, &origins))?;
    let mut out = output::stdout();
    writeln!(out, "{}", peer.addr()).context("writing to standard output")?;
    out.flush().context("writing to standard output")?;
    eprintln!(
        "rstlab serve: playing {} step(s) on {} to {}; Ctrl-C to stop",
        steps.join("/"),
        match limit {
            Some(1) => "the first connection".to_string(),
            Some(n) => format!("each of the first {n} connections"),
            None => "every connection".to_string(),
        },
        peer.addr()
    );
    // Once, not under each connection: no connection will show the kernel's reasons.
    if let Some(why) = peer.reasons_missing() {
        eprintln!(
            "rstlab serve: {}",
            rstlab::peer::report::reasons_missing_line(&why.to_string())
        );
    }

    let start = Instant::now();
    let mut printed = Vec::new();
    loop {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        if let Some(connection) = peer.next_connection(Duration::from_millis(50)) {
            print_connection(&mut out, &connection, args.json)?;
            printed.push(connection.number);
            if limit.is_some_and(|n| printed.len() >= n) {
                break;
            }
        }
        if args
            .accept_timeout
            .is_some_and(|t| peer.connections() == 0 && start.elapsed() >= t)
        {
            break;
        }
    }
    let interrupted = interrupted.load(Ordering::SeqCst);
    let report = if interrupted {
        peer.stop()
    } else {
        peer.finish()
    }
    .context("ending the peer")?;
    for connection in &report.connections {
        if !printed.contains(&connection.number) {
            print_connection(&mut out, connection, args.json)?;
        }
    }
    let mut summary = report.summary();
    if interrupted {
        summary += " (interrupted)";
    }
    if args.json {
        let summary = Summary {
            summary,
            as_scripted: report.as_scripted(),
            connections: report.connections.len(),
            refused: &report.refused,
            problems: &report.problems,
            reasons_missing: report.reasons_missing.as_deref(),
            interrupted,
        };
        writeln!(out, "{}", serde_json::to_string(&summary)?)
            .context("writing to standard output")?;
    } else {
        for r in &report.refused {
            writeln!(out, "refused: connection from {}: {}", r.client, r.why)
                .context("writing to standard output")?;
        }
        for p in &report.problems {
            writeln!(out, "problem: {p}").context("writing to standard output")?;
        }
        writeln!(out, "summary: {summary}").context("writing to standard output")?;
    }
    out.flush().context("writing to standard output")?;
    status_of(&report, stop.signal(), false)
}

fn print_connection(
    out: &mut impl Write,
    connection: &ConnectionReport,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(connection)?)
    } else {
        writeln!(out, "{connection}")
    }
    .and_then(|()| out.flush())
    .context("writing to standard output")
}
