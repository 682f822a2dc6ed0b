//! `rstlab explore`: random scenarios against the oracle, in parallel.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};

use rstlab::explore::{self, ExploreOptions, Progress, Summary};

use super::BackendArg;
use rstlab::run::Net;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many scenarios [default: 10000, or no limit with --time].
    #[arg(long)]
    cases: Option<u64>,
    /// Stop after this long (`30s`, `5m`, `500ms`); with --cases, whichever comes first.
    #[arg(long, value_parser = parse_duration)]
    time: Option<Duration>,
    /// The seed (the same seed gives the same scenarios); random when absent.
    #[arg(long)]
    seed: Option<u64>,
    /// The socket API.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendArg,
    /// The network: loopback, the emulated link, or both in turn [default: both where the link
    /// can be set up (it needs CAP_NET_ADMIN), else loopback].
    #[arg(long, value_enum)]
    net: Option<NetsArg>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Print one JSON summary object instead of text: cases, seconds, cases_per_second, jobs,
    /// agreements, disagreements (minimal scenarios, one line each), findings, rules, outcomes.
    #[arg(long)]
    json: bool,
}

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

fn parse_duration(text: &str) -> Result<Duration, String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = text.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("expected a duration like 30s, found {text:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!(
            "unknown unit {unit:?} in {text:?}: use ms, s, m or h"
        )),
    }
}

pub fn main(args: Args) -> anyhow::Result<bool> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let cases = match (args.cases, args.time) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) => 10_000,
    };
    let nets = match args.net {
        Some(NetsArg::Loopback) => vec![Net::Loopback],
        Some(NetsArg::Link) => vec![Net::Link],
        Some(NetsArg::Both) => vec![Net::Loopback, Net::Link],
        None => match rstlab::link::Link::new() {
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
        ..ExploreOptions::default()
    };
    let progress = Progress::default();
    // The bar goes to standard error, and only when that is a terminal: nothing of it in a
    // pipe, a file or a CI log. `--json` output goes to standard output either way.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = if cases == u64::MAX {
            ProgressBar::no_length()
        } else {
            ProgressBar::new(cases)
        };
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} cases, {msg} [{elapsed}]")
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
                let done = progress.done.load(Ordering::Relaxed);
                bar.set_position(done);
                bar.set_message(format!(
                    "{:.0} cases/s, {} disagreements",
                    done as f64 / bar.elapsed().as_secs_f64().max(1e-3),
                    progress.disagreements.load(Ordering::Relaxed)
                ));
            }
            bar.finish_and_clear();
        }
        worker.join()
    });
    let summary = match summary {
        Ok(s) => s,
        Err(_) => bail!("the exploration panicked"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", render(&summary));
    }
    Ok(summary.disagreement_count == 0 && summary.errors == 0)
}

fn render(s: &Summary) -> String {
    let mut out = format!(
        "explored {} cases in {:.2} s ({:.0} cases/s, {} jobs, {} backend, seed {})\n",
        s.cases, s.seconds, s.cases_per_second, s.jobs, s.backend, s.seed
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
    out += "\nrules exercised (agreeing cases):\n";
    for (rule, n) in explore::rule_counts(s) {
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
