//! `rstlab serve SCENARIO`: a broken peer for your own program (see `rstlab::peer`).
//!
//! The first line of standard output is the address, alone, so that scripts can read it
//! (`read ADDR < <(…)`, `head -1`); every connection's report follows it when the connection's
//! play ends, then a summary when `serve` ends (after `--once`'s or `--connections N`'s
//! connections, `--accept-timeout` without a client, or Ctrl-C, SIGTERM or SIGHUP: then with
//! status 130).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use rstlab::peer::{self, ConnectionReport, Peer, PeerError, PeerOptions, PeerSaw, Refused};
use rstlab::scenario::{Actor, Script};

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
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    connections: Option<u64>,
    /// The longest wait for each `client` step, more than 0 (`5s`, `500ms`, `1.5s`).
    #[arg(long, value_parser = durations::positive, allow_hyphen_values = true, default_value = "5s")]
    timeout: Duration,
    /// End when no client has connected within this long, more than 0 (default: wait until
    /// Ctrl-C).
    #[arg(long, value_parser = durations::positive, allow_hyphen_values = true)]
    accept_timeout: Option<Duration>,
    /// The bytes `server write` steps send, in order, from the file's start again when it runs
    /// out (an HTTP response, say); without it, filler bytes `x`.
    #[arg(long)]
    respond: Option<PathBuf>,
    /// After the address line, one JSON object per line: each connection's report, then a
    /// summary object.
    #[arg(long)]
    json: bool,
}

/// The scenario's text and where it came from: a file, `-`, or inline steps.
pub(super) fn load(arg: &str) -> anyhow::Result<(String, String)> {
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the scenario from standard input")?;
        Ok(("<stdin>".to_string(), text))
    } else if Path::new(arg).is_file() {
        let text = std::fs::read_to_string(arg).with_context(|| format!("reading {arg}"))?;
        Ok((arg.to_string(), text))
    } else if !arg.ends_with(".scenario") && arg.contains(char::is_whitespace) {
        Ok(("<command line>".to_string(), arg.to_string()))
    } else {
        bail!(
            "{arg}: no such file (and not a scenario: steps look like `client write 1; server close`)"
        )
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    summary: String,
    as_scripted: bool,
    connections: usize,
    refused: &'a [Refused],
    problems: &'a [String],
    interrupted: bool,
}

/// The status of a peer's run (`serve`'s and `exec`'s), in the global table: 130 when
/// interrupted; an error (2) when the peer itself had problems; 1 when one of its calls
/// returned other than the oracle predicts (the oracle is wrong, as in `run`); 3 when the run
/// did not go as the scenario scripts otherwise (a `client` step not seen, a `=>` line
/// contradicted, a connection refused, no client, or `failed`: exec's command past its
/// deadline); else 0.
pub(super) fn status_of(
    report: &peer::Report,
    interrupted: bool,
    failed: bool,
) -> anyhow::Result<Status> {
    if interrupted {
        return Ok(Status::Interrupted);
    }
    if let Some(first) = report.problems.first() {
        bail!(
            "the peer had {} problem(s) of its own; the first: {first}",
            report.problems.len()
        );
    }
    let oracle_wrong = report.connections.iter().flat_map(|c| &c.steps).any(|s| {
        s.actor == Actor::Server
            && s.as_scripted == Some(false)
            && matches!(&s.peer, PeerSaw::Called { outcome, .. } if *outcome != s.predicted)
    });
    Ok(if oracle_wrong {
        Status::OracleDisagrees
    } else if failed || !report.as_scripted() {
        Status::ExpectationContradicted
    } else {
        Status::Agreement
    })
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

pub fn main(args: Args) -> anyhow::Result<Status> {
    let mut scenarios = Vec::new();
    let mut origins = Vec::new();
    for arg in &args.scenarios {
        let (origin, text) = load(arg)?;
        // The syntax here, with the place; what the peer cannot play, `serve_scripts` refuses
        // before it listens.
        let script = Script::parse(&text)
            .map_err(PeerError::from)
            .with_context(|| format!("{origin}: cannot serve it"))?;
        scenarios.push(script);
        origins.push(origin);
    }
    let respond = match &args.respond {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("reading the response payload {}", path.display()))?,
        None => Vec::new(),
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    // The handlers only set the flag; the loop below looks at it at least every 50 ms. SIGTERM
    // (a service manager's, `kill`'s, `timeout`'s) and SIGHUP end it as Ctrl-C does: with the
    // summary.
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("installing the Ctrl-C handler")?;
    }
    let limit = if args.once {
        Some(1)
    } else {
        args.connections
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    let options = PeerOptions {
        listen: args.listen,
        timeout: args.timeout,
        respond,
        max_connections: limit,
        link: None,
    };
    let steps: Vec<String> = scenarios
        .iter()
        .map(|s| s.shape().steps().len().to_string())
        .collect();
    let peer = Peer::serve_scripts(scenarios, options)
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
    status_of(&report, interrupted, false)
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
