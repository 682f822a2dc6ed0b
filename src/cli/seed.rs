//! `rstlab seed`: the seed article's program, on real sockets, beside the oracle.
//!
//! The article's Go program: a server accepts, reads one byte and closes; a client writes "a",
//! "b" and "c" one second apart and logs each failure. Here both ends are driven in one thread,
//! step by step, with the same pauses (`--no-pause` drops them).
//!
//! With `--delay D` the program runs on the emulated link with a one-way delay D, its pauses in
//! the link's time (`--interval`, 1 s by default, sets them): the server's read waits for "a" to
//! arrive, and every write issued before the RST has come back succeeds, so a short interval or
//! a long delay changes what the article shows.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use rstlab::check::verify::{Verified, VerifyError, verify};
use rstlab::diagram::timeline::Timeline;
use rstlab::run::{Backend, Net, RunOptions, Runner};
use rstlab::scenario::{End, LinkOp, Op, Scenario, Step};
use rstlab::{Errno, Outcome};

use super::signals::Stop;
use super::{BackendArg, Status, durations};

#[derive(Debug, clap::Args)]
#[command(after_help = super::exit_statuses(&[0, 1, 2, 3, 130]))]
pub struct Args {
    /// Drop the one-second pauses between the client's writes.
    #[arg(long)]
    no_pause: bool,
    /// The socket API that runs it.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendArg,
    /// Run on the emulated link with this one-way delay (`20ms`; at most 100ms), the pauses in
    /// the link's time. Needs CAP_NET_ADMIN.
    #[arg(long, value_parser = durations::delay, allow_hyphen_values = true)]
    delay: Option<Duration>,
    /// The pause between the client's writes (with --delay: in the link's time) [default: 1s].
    #[arg(long, value_parser = durations::any, allow_hyphen_values = true)]
    interval: Option<Duration>,
    /// How many one-byte writes the client makes (the article: 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=26))]
    writes: u64,
    #[command(flatten)]
    pcap: super::capture::Pcap,
    #[command(flatten)]
    kernel: super::lane::KernelArg,
}

/// The article's program as a scenario (with `delay`, on the link: the server's read first
/// waits for "a" to cross), and the index of each client write in it.
fn program(interval: Duration, delay: Option<Duration>, writes: usize) -> (Scenario, Vec<usize>) {
    let mut steps = Vec::new();
    if let Some(d) = delay {
        steps.push(Step::link(LinkOp::Delay(d)));
    }
    steps.push(Step::new(End::Client, Op::Write(1)));
    let mut indexes = vec![steps.len() - 1];
    if let Some(d) = delay {
        steps.push(Step::new(End::Server, Op::Sleep(d)));
    }
    steps.push(Step::new(End::Server, Op::Read(1)));
    steps.push(Step::new(End::Server, Op::Close));
    for _ in 1..writes {
        if !interval.is_zero() {
            steps.push(Step::new(End::Client, Op::Sleep(interval)));
        }
        steps.push(Step::new(End::Client, Op::Write(1)));
        indexes.push(steps.len() - 1);
    }
    (
        Scenario::new(steps).expect("the seed program is a valid scenario"),
        indexes,
    )
}

/// Go's text for an errno, as its `syscall.Errno.Error()` prints it.
fn go_text(e: Errno) -> String {
    match e {
        Errno::EPIPE => "broken pipe".into(),
        Errno::ECONNRESET => "connection reset by peer".into(),
        other => std::io::Error::from_raw_os_error(other.0)
            .to_string()
            .split(" (os error")
            .next()
            .unwrap_or_default()
            .to_lowercase(),
    }
}

/// Exit status 1 when the oracle disagrees with the kernel, 3 when both agree but the kernel did
/// not do what the article shows (ok, ok, EPIPE).
pub fn main(args: Args) -> anyhow::Result<Status> {
    if !args.kernel.is_host() {
        if args.pcap.wanted() {
            anyhow::bail!(
                "--pcap with --kernel: not yet (the capture would stay in the VM); run the seed \
                 on the host for a capture"
            );
        }
        // The article's pauses are seconds of the guest's clock: no real time.
        return super::lane::forward("seed", &args.kernel, Duration::from_secs(15 * 60));
    }
    let interval = match (args.no_pause, args.interval) {
        (true, _) => Duration::ZERO,
        (false, Some(i)) => i,
        (false, None) => Duration::from_secs(1),
    };
    // The article's pauses are sleeps on the lab's clock, which follows them up to its bound.
    if interval > rstlab::oracle::LAB_MAX_SLEEP {
        anyhow::bail!(
            "an interval of {interval:?} is past the bound of {:?}",
            rstlab::oracle::LAB_MAX_SLEEP
        );
    }
    let (scenario, writes) = program(interval, args.delay, args.writes as usize);
    let backend = Backend::from(args.backend);
    let net = if args.delay.is_some() {
        Net::Link
    } else {
        Net::Loopback
    };
    args.pcap.needs_link(net == Net::Link, "--delay")?;
    if net == Net::Link {
        super::enter_link_namespace();
    }
    let options = RunOptions {
        net,
        capture: args.pcap.wanted(),
        ..RunOptions::default()
    };
    let stop = Stop::install(std::sync::Arc::clone(&options.stop))?;
    let mut runner = Runner::with_options(backend, options).context("starting the runner")?;
    let mut out = super::output::stdout();
    writeln!(out, "The seed article's program, as a scenario:\n")?;
    for line in scenario.to_string().lines() {
        writeln!(out, "    {line}")?;
    }
    writeln!(out)?;
    let Verified {
        prediction,
        trace,
        disagreement,
    } = verify(&mut runner, &scenario).map_err(|e| match e {
        VerifyError::Beyond(b) => anyhow::anyhow!(
            "{b}\nrstlab cannot emulate this faithfully: choose a shorter interval or delay"
        ),
        VerifyError::Run(e) => e.into(),
    })?;
    let stamp = || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (h, m, s) = ((now / 3600) % 24, (now / 60) % 60, now % 60);
        format!("{h:02}:{m:02}:{s:02}")
    };
    let mut all_as_article = true;
    let letters: Vec<String> = (b'a'..=b'z').map(|c| (c as char).to_string()).collect();
    for (letter, &index) in letters.iter().zip(&writes) {
        let observed = trace.steps.get(index).map(|s| &s.outcome);
        let predicted = &prediction.steps[index];
        let rules: Vec<&str> = predicted.rules.iter().map(|r| r.id()).collect();
        let shown = observed.map_or("(not run)".to_string(), ToString::to_string);
        writeln!(
            out,
            "write {letter:?}: kernel {shown:<6} oracle {:<6} [{}]",
            predicted.outcome.to_string(),
            rules.join(", ")
        )?;
        if let Some(Outcome::Err(e)) = observed {
            writeln!(
                out,
                "  {} client: write tcp {}->{}: write: {}",
                stamp(),
                trace.client,
                trace.server,
                go_text(*e)
            )?;
            if *e == Errno::EPIPE {
                writeln!(out, "  {} This is broken pipe error", stamp())?;
            }
        }
    }
    let observed: Vec<Option<&Outcome>> = writes
        .iter()
        .map(|&i| trace.steps.get(i).map(|s| &s.outcome))
        .collect();
    let article = [
        Outcome::Bytes(1),
        Outcome::Bytes(1),
        Outcome::Err(Errno::EPIPE),
    ];
    all_as_article &= observed.iter().zip(&article).all(|(o, a)| *o == Some(a));
    if let Some(d) = args.delay {
        writeln!(out, "\nthe wire, in the link's time:\n")?;
        write!(out, "{}", Timeline::new(&scenario, &trace).text())?;
        let after_close = observed.iter().skip(1);
        let succeeded = after_close
            .clone()
            .take_while(|o| matches!(o, Some(Outcome::Bytes(_))))
            .count();
        writeln!(
            out,
            "\non this link a round trip is {:?}; the writes after the server's close were {:?} \
             apart, and {succeeded} of them succeeded before the RST came back (each one's \
             bytes lost){}",
            d * 2,
            interval,
            if all_as_article {
                ""
            } else {
                ": not what the article shows"
            }
        )?;
    }
    writeln!(out)?;
    match &disagreement {
        None => writeln!(out, "the oracle agrees with the kernel on every step")?,
        Some(d) => writeln!(out, "DISAGREEMENT: {d}")?,
    }
    writeln!(
        out,
        "{}",
        if all_as_article {
            "as in the article: ok, ok, EPIPE"
        } else {
            "NOT as in the article (ok, ok, EPIPE)"
        }
    )?;
    // On a link, or with other writes than the article's, a different story is no failure: the
    // oracle's agreement is the verdict.
    let article_setting = args.delay.is_none() && args.writes == 3;
    if let Some(signal) = stop.signal() {
        out.flush()?;
        eprintln!(
            "rstlab seed: interrupted by {} after {} of {} steps",
            signal.name(),
            trace.steps.len(),
            scenario.steps().len()
        );
        return Ok(Status::Interrupted(signal));
    }
    // The report first: a capture that cannot be written does not take it away.
    out.flush()?;
    args.pcap.save(
        &format!("rstlab seed --backend {backend}: the seed article's program"),
        &trace.packets,
    )?;
    Ok(match (&disagreement, all_as_article) {
        (Some(_), _) => Status::OracleDisagrees,
        (None, false) if article_setting => Status::ExpectationContradicted,
        (None, _) => Status::Agreement,
    })
}
