//! `rstlab explore`: random scenarios against the oracle, in parallel.
//!
//! The seed is printed first, so that even a run that dies can be repeated. Ctrl-C, SIGTERM or
//! SIGHUP ([`super::signals`]) stops the workers after the case each is running and prints the
//! summary of the cases run (exit status 130, 143, 129); a second signal exits at once.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};

use rstlab::explore::{self, Draws, ExploreOptions, MAX_JOBS, Progress, Summary};

use super::signals::Stop;
use super::{BackendArg, Status, durations, exit_statuses, output};
use rstlab::run::Net;

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 1, 2, 130]))]
pub struct Args {
    /// Do not read the kernel's reason for each RST (tcp/tcp_send_reset): to measure what
    /// reading them costs.
    #[arg(long)]
    no_reasons: bool,
    /// Draw the timer steps too: reboots, cuts and restores of the link, `set user-timeout`
    /// and `set keepalive` (never drawn without it, so that a seed's cases stay the same;
    /// `--seed S --timers` repeats a run). With --kernel SERIES, the silent peer's stories
    /// instead, on the link at the kernel's defaults in its own time: long sleeps, the
    /// retransmissions, keepalive and ETIMEDOUT
    #[arg(long)]
    timers: bool,
    /// How many scenarios, at least 1 [default: 10000, or no limit with --time].
    #[arg(long, value_parser = super::counts::cases, allow_hyphen_values = true)]
    cases: Option<u64>,
    /// Stop after this long, more than 0 (`500ms`, `30s`, `1.5m`, `1h`: the duration syntax of
    /// `sleep`); with --cases, whichever comes first.
    #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
    time: Option<Duration>,
    /// The seed (the same seed gives the same scenarios); random when absent, and printed first.
    #[arg(long)]
    seed: Option<u64>,
    /// The socket API.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendArg,
    /// The network: loopback, the emulated link, or both in turn [default: both where the link
    /// can be set up (it needs CAP_NET_ADMIN), else loopback].
    #[arg(long, value_enum)]
    net: Option<NetsArg>,
    /// Worker threads, 1 to 254: each job connects from its own source range 127.<job+1>.0.0/16
    /// [default: one per core, at most 254].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_JOBS as u64))]
    jobs: Option<u64>,
    /// Print one JSON summary object instead of text (format: docs/json.md): cases, seconds,
    /// jobs, seed, agreements, disagreements (minimal scenarios, one line each), findings,
    /// rules, outcomes, fingerprint, interrupted.
    #[arg(long)]
    json: bool,
    /// Run only shard K of N (`2/4`): cases 2p and 2p+1 for every p that is K-1 modulo N. With the same
    /// --seed and --cases on every machine, the N shards run exactly the whole exploration's
    /// cases; `rstlab merge` adds their --json summaries up.
    /// Needs --seed and --cases: every shard must draw the same cases and know how many the
    /// whole exploration has.
    #[arg(long, value_name = "K/N", requires_all = ["seed", "cases"], value_parser = clap::value_parser!(rstlab::explore::shard::Shard))]
    shard: Option<rstlab::explore::shard::Shard>,
    /// Write a capture (pcapng) of each disagreement kept that ran on the link, its minimal
    /// scenario run again, to DIR/case-<number>.pcapng (DIR is made then, in a folder that
    /// exists).
    #[arg(long, value_name = "DIR")]
    pcap: Option<std::path::PathBuf>,
    #[command(flatten)]
    kernel: super::lane::KernelArg,
}

/// How long `explore --kernel` may take, boot included.
const LANE_DEADLINE: Duration = Duration::from_secs(60 * 60);

/// The `--net` flag of explore.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum NetsArg {
    /// Loopback only.
    Loopback,
    /// The emulated link only.
    Link,
    /// Loopback and the link in turn.
    Both,
}

fn parse_time(text: &str) -> Result<Duration, String> {
    // A negative time is refused as 0 is: the duration syntax's "give 0 or more" would be
    // wrong here.
    if text.starts_with('-') {
        return Err(format!(
            "a time cannot be negative, found {}: give more than 0, such as `30s`",
            rstlab::scenario::quote(text)
        ));
    }
    let time = durations::any(text)?;
    if time.is_zero() {
        return Err("a time of 0 explores nothing: give more than 0, such as `30s`".to_string());
    }
    Ok(time)
}

/// What the progress bar shows: its length and position, and the text beside it.
#[derive(Debug, PartialEq)]
struct BarView {
    len: u64,
    pos: u64,
    message: String,
}

/// The bar at `elapsed`: with `--time` alone it measures time (elapsed and remaining); with a
/// case count it measures cases, and the time left when there is a `--time` too.
fn bar_view(
    cases: Option<u64>,
    time: Option<Duration>,
    done: u64,
    disagreements: u64,
    elapsed: Duration,
) -> BarView {
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
    let counts = format!("{rate:.0} cases/s, {disagreements} disagreements");
    let left = |time: Duration| time.saturating_sub(elapsed).as_secs_f64();
    match (cases, time) {
        (None, Some(time)) => BarView {
            len: time.as_millis() as u64,
            pos: elapsed.min(time).as_millis() as u64,
            message: format!(
                "{:.1} s of {:.1} s, {:.1} s left: {done} cases, {counts}",
                elapsed.min(time).as_secs_f64(),
                time.as_secs_f64(),
                left(time)
            ),
        },
        (cases, time) => {
            let cases = cases.unwrap_or(DEFAULT_CASES);
            let mut message = format!(
                "{done}/{cases} cases, {counts}, {:.1} s",
                elapsed.as_secs_f64()
            );
            if let Some(time) = time {
                message += &format!(" ({:.1} s left at most)", left(time));
            }
            BarView {
                len: cases,
                pos: done.min(cases),
                message,
            }
        }
    }
}

const DEFAULT_CASES: u64 = 10_000;

pub fn main(args: Args) -> anyhow::Result<Status> {
    if !args.kernel.is_host() {
        if args.pcap.is_some() {
            anyhow::bail!(
                "--pcap with --kernel: not yet (the captures would stay in the VM); explore on \
                 the host for captures"
            );
        }
        return super::lane::forward("explore", &args.kernel, LANE_DEADLINE);
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let jobs = jobs.min(MAX_JOBS);
    let cases = match (args.cases, args.time) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_CASES),
    };
    // Before any setup. The folder is created when the first capture goes in: none is left
    // empty.
    if let Some(dir) = &args.pcap {
        super::paths::check_output("--pcap", dir, super::paths::Kind::Folder)?;
    }
    if !matches!(args.net, Some(NetsArg::Loopback)) {
        super::enter_link_namespace();
    }
    // In the kernel's own time (the lane), --timers draws the silent peer's stories, which
    // need the link.
    let silence = args.timers && rstlab::kernels::lane::guest::in_lane();
    if silence && matches!(args.net, Some(NetsArg::Loopback)) {
        bail!(
            "--timers in the kernel's own time draws the silent peer's stories, which cut the link: not with --net loopback"
        );
    }
    let nets = match args.net {
        _ if silence => vec![Net::Link],
        Some(NetsArg::Loopback) => vec![Net::Loopback],
        Some(NetsArg::Link) => vec![Net::Link],
        Some(NetsArg::Both) => vec![Net::Loopback, Net::Link],
        None => match rstlab::net::link::Link::new() {
            Ok(_) => vec![Net::Loopback, Net::Link],
            Err(e) => {
                eprintln!("rstlab: exploring loopback only: {e}");
                vec![Net::Loopback]
            }
        },
    };
    let options = ExploreOptions {
        cases,
        time: args.time,
        seed,
        backend: args.backend.into(),
        nets,
        jobs,
        shard: args.shard,
        reasons: !args.no_reasons,
        draws: if silence {
            Draws::Silence
        } else if args.timers {
            Draws::Timers
        } else {
            Draws::Plain
        },
        ..ExploreOptions::default()
    };
    if args.pcap.is_some() && !options.nets.contains(&Net::Link) {
        bail!(
            "--pcap needs the emulated link: no case runs on it here (--net link or both), and \
             on loopback the packets never pass through rstlab"
        );
    }
    let progress = Progress::default();
    // Before anything is printed: a test (or a user) that sees the first line may press Ctrl-C.
    let stop = Stop::install(std::sync::Arc::clone(&progress.stop))?;
    let limit = match (cases, args.time) {
        (Some(n), Some(t)) => format!("{n} cases or {:.1} s", t.as_secs_f64()),
        (Some(n), None) => format!("{n} cases"),
        // No limit of cases comes only with --time.
        (None, t) => format!("{:.1} s", t.unwrap_or_default().as_secs_f64()),
    };
    let shard = args.shard.map_or(String::new(), |s| format!(", shard {s}"));
    let timers = if args.timers { " --timers" } else { "" };
    let start = format!(
        "exploring {limit} with seed {seed}{shard}{} ({jobs} jobs, {} backend; `--seed {seed}{timers}` repeats it)",
        if silence {
            ", the silent peer's stories in the kernel's own time"
        } else if args.timers {
            ", timer steps drawn"
        } else {
            ""
        },
        options.backend
    );
    // With --json, standard output holds the JSON alone.
    let mut out = output::stdout();
    if args.json {
        eprintln!("{start}");
    } else {
        writeln!(out, "{start}")?;
    }
    // The bar goes to standard error, and only when that is a terminal: nothing of it in a
    // pipe, a file or a CI log. `--json` output goes to standard output either way.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(1);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let (finished, done) = mpsc::channel::<()>();
    let summary = std::thread::scope(|scope| {
        let (options, progress) = (&options, &progress);
        // `finished` moves into the thread: if it panics, the channel disconnects.
        let worker = scope.spawn(move || {
            let summary = explore::explore(options, progress);
            let _ = finished.send(());
            summary
        });
        if let Some(bar) = &bar {
            // Redraw ten times a second until the exploration ends (or its thread dies).
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                done.recv_timeout(Duration::from_millis(100))
            {
                let view = bar_view(
                    args.cases,
                    args.time,
                    progress.done.load(Ordering::Relaxed),
                    progress.disagreements.load(Ordering::Relaxed),
                    bar.elapsed(),
                );
                bar.set_length(view.len);
                bar.set_position(view.pos);
                bar.set_message(view.message);
            }
            bar.finish_and_clear();
        }
        worker.join()
    });
    let summary = match summary {
        Ok(s) => s,
        Err(_) => bail!("the exploration panicked"),
    };
    let signal = stop.signal();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        if let Some(signal) = signal {
            writeln!(
                out,
                "interrupted by {} after {} cases; what they found:",
                signal.name(),
                summary.cases
            )?;
        }
        write!(out, "{}", render(&summary))?;
    }
    // After the summary: a capture that fails does not take the exploration's results away.
    if let Some(dir) = &args.pcap {
        out.flush()?;
        capture_findings(&summary, options.backend, dir)?;
    }
    if let Some(signal) = signal {
        return Ok(Status::Interrupted(signal));
    }
    if summary.disagreement_count > 0 {
        return Ok(Status::OracleDisagrees);
    }
    if summary.errors > 0 {
        bail!(
            "{} cases could not run; the first: {}",
            summary.errors,
            summary.first_error.as_deref().unwrap_or("(not recorded)")
        );
    }
    Ok(Status::Agreement)
}

/// Captures each finding kept ([`explore::capture_findings`]) and says where.
fn capture_findings(
    summary: &Summary,
    backend: rstlab::run::Backend,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    if summary.findings.iter().any(|f| f.net == Net::Link) {
        super::paths::create_folder("--pcap", dir)?;
    }
    let done = explore::capture_findings(&summary.findings, backend, dir)
        .map_err(|e| anyhow::anyhow!("capturing the findings: {e}"))?;
    for (case, captured) in done {
        match captured {
            explore::Captured::Written {
                path,
                packets,
                disagreed,
            } => eprintln!(
                "capture: {packets} packets in {} (case {case} run again: {})",
                path.display(),
                if disagreed {
                    "it disagrees again"
                } else {
                    "it agreed this time, so the capture does not show the disagreement"
                }
            ),
            explore::Captured::Loopback => eprintln!(
                "capture: none for case {case} (it ran on loopback, where packets do not pass \
                 through rstlab)"
            ),
        }
    }
    Ok(())
}

fn render(s: &Summary) -> String {
    let mut out = format!(
        "explored {} cases in {:.2} s ({:.0} cases/s, {} jobs, {} backend, seed {}{})\n",
        s.cases,
        s.seconds,
        s.cases_per_second,
        s.jobs,
        s.backend,
        s.seed,
        if s.timers { ", timer steps drawn" } else { "" }
    );
    out += &format!(
        "agreements: {}   disagreements: {}   errors: {}\n",
        s.agreements, s.disagreement_count, s.errors
    );
    if let Some(e) = &s.first_error {
        out += &format!("first error: {e}\n");
    }
    out += "\noutcomes (agreeing cases):\n";
    for (k, v) in &s.outcomes {
        out += &format!("  {k:<28} {v}\n");
    }
    out += "\nwhy the RSTs (the kernel's own reasons, each the oracle's, agreeing cases):\n";
    for (reason, n) in &s.reasons {
        out += &format!("  {reason:<28} {n}\n");
    }
    if let Some(why) = &s.reasons_missing {
        out += &format!("  not recorded in some cases: {why}\n");
    }
    out += "\nrules exercised (agreeing cases):\n";
    for (rule, n) in &s.rules {
        out += &format!("  {:<42} {n}\n", rule.id());
    }
    for f in &s.findings {
        out += &format!(
            "\nDISAGREEMENT (case {}): {}\nminimal scenario (replay with `rstlab run -` and paste, or save it to a file):\n",
            f.case, f.disagreement
        );
        for line in f.scenario.lines() {
            out += &format!("    {line}\n");
        }
        out += &format!("inline: rstlab run \"{}\"\n", f.inline);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_time_alone_the_bar_shows_elapsed_and_remaining_time() {
        let view = bar_view(
            None,
            Some(Duration::from_secs(10)),
            500,
            0,
            Duration::from_secs(4),
        );
        assert_eq!((view.len, view.pos), (10_000, 4_000));
        assert!(
            view.message
                .starts_with("4.0 s of 10.0 s, 6.0 s left: 500 cases"),
            "{}",
            view.message
        );
        // Past the deadline (the last cases finishing) the bar stays full, nothing negative.
        let view = bar_view(
            None,
            Some(Duration::from_secs(10)),
            9,
            0,
            Duration::from_secs(11),
        );
        assert_eq!(view.pos, view.len);
        assert!(view.message.contains("0.0 s left"), "{}", view.message);
    }

    #[test]
    fn with_a_case_count_the_bar_counts_cases() {
        let view = bar_view(Some(200), None, 50, 1, Duration::from_secs(1));
        assert_eq!((view.len, view.pos), (200, 50));
        assert!(
            view.message
                .starts_with("50/200 cases, 50 cases/s, 1 disagreements")
        );
        let view = bar_view(
            Some(200),
            Some(Duration::from_secs(3)),
            50,
            0,
            Duration::from_secs(1),
        );
        assert!(
            view.message.contains("2.0 s left at most"),
            "{}",
            view.message
        );
    }

    #[test]
    fn zero_time_is_refused() {
        assert!(parse_time("0s").unwrap_err().contains("explores nothing"));
        assert!(parse_time("0.0ms").is_err());
        assert!(parse_time("3").unwrap_err().contains("unit"));
        assert_eq!(parse_time("1.5s"), Ok(Duration::from_millis(1500)));
    }
}
