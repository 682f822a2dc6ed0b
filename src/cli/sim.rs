//! `rstlab sim turmoil|turmoil-net`: a deterministic simulator judged against Linux (the
//! oracle), on the rules' canonical scenarios and random loopback scenarios. The logic is in
//! `rstlab::sim`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use rstlab::sim::{self, SurveyOptions};

use super::output::stdout;
use super::signals::Stop;
use super::{Status, exit_statuses};

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 2, 4, 130]))]
pub struct Args {
    /// The simulator.
    #[arg(value_enum)]
    simulator: SimArg,
    /// Random loopback scenarios from the generator, after the rules' canonical scenarios.
    /// `--cases 0` is allowed here (unlike `explore`): the canonical scenarios alone.
    #[arg(long, default_value_t = 1000)]
    cases: u64,
    /// The seed of the random scenarios (case i of seed s is `rstlab explore`'s case i of seed s
    /// on loopback).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object (the report: counts, ops not modelled, refused scenarios and the
    /// divergences, each with its scenario, rule, Linux's answer and the simulator's) instead
    /// of tables.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to FILE (`docs/simulators/turmoil.json`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Compare this one scenario instead (a file, `-` for standard input, or the steps
    /// separated by `;`), step by step: Linux's answer, the simulator's, the verdict.
    #[arg(long, conflicts_with_all = ["cases", "seed", "out", "json"])]
    scenario: Option<String>,
}

/// The `simulator` argument.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SimArg {
    /// turmoil 0.7 (turmoil::net::TcpStream in a turmoil::Sim).
    Turmoil,
    /// turmoil-net 0.1 (its tokio shim, driven through its fabric).
    TurmoilNet,
}

impl SimArg {
    fn name(self) -> &'static str {
        match self {
            SimArg::Turmoil => "turmoil",
            SimArg::TurmoilNet => "turmoil-net",
        }
    }
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let mut simulator = sim::by_name(args.simulator.name())
        .with_context(|| format!("no simulator called {}", args.simulator.name()))?;
    if let Some(out) = &args.out {
        // Refused before anything runs.
        super::paths::check_output("--out", out, super::paths::Kind::File)?;
    }
    if let Some(arg) = &args.scenario {
        let (_, scenario) = super::run::load(arg)?;
        return one(&mut *simulator, &scenario);
    }
    let options = SurveyOptions {
        cases: args.cases,
        seed: args.seed,
        canonical: true,
        ..SurveyOptions::default()
    };
    let stop = Stop::install(std::sync::Arc::clone(&options.stop))?;
    let name = simulator.name();
    let report = sim::survey(&mut *simulator, &options, |what| {
        eprintln!("rstlab sim {name}: {what}");
    });
    let json = serde_json::to_string_pretty(&report)?;
    let signal = stop.signal();
    // A survey cut short is no report to keep: --out is left as it was.
    if let Some(out) = args.out.as_ref().filter(|_| signal.is_none()) {
        std::fs::write(out, format!("{json}\n"))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let mut out = stdout();
    if args.json {
        writeln!(out, "{json}")?;
    } else {
        if let Some(signal) = signal {
            writeln!(
                out,
                "interrupted by {} after {} scenarios; what they found:",
                signal.name(),
                report.scenarios
            )?;
        }
        write!(out, "{}", sim::chapter::summary(&report))?;
    }
    if let Some(signal) = signal {
        return Ok(Status::Interrupted(signal));
    }
    Ok(if report.divergences.is_empty() {
        Status::Agreement
    } else {
        Status::SimulatorDiverges
    })
}

/// `--scenario`: one scenario, step by step.
fn one(simulator: &mut dyn sim::Simulator, scenario: &rstlab::Scenario) -> anyhow::Result<Status> {
    let compared = sim::compare(simulator, scenario)
        .with_context(|| format!("{} cannot compare this scenario", simulator.name()))?;
    let mut rows = Vec::new();
    for (i, step) in scenario.steps().iter().enumerate() {
        let predicted = &compared.prediction.steps[i];
        let rules: Vec<&str> = predicted.rules.iter().map(|r| r.id()).collect();
        let (answer, verdict) = match (&compared.verdicts[i], &compared.observed[i]) {
            (sim::Verdict::Agree, Some(o)) => (o.outcome.to_string(), "yes".to_string()),
            (sim::Verdict::Diverge, Some(o)) if o.detail == o.outcome.to_string() => {
                (o.outcome.to_string(), "NO".to_string())
            }
            (sim::Verdict::Diverge, Some(o)) => {
                (format!("{} ({})", o.outcome, o.detail), "NO".to_string())
            }
            (sim::Verdict::Unmodelled(why), _) => ("-".to_string(), format!("not modelled: {why}")),
            (_, Some(o)) => (o.outcome.to_string(), "not compared".to_string()),
            (_, None) => ("-".to_string(), "not compared".to_string()),
        };
        rows.push(vec![
            (i + 1).to_string(),
            format!("{} {}", step.who, step.op),
            predicted.outcome.to_string(),
            answer,
            verdict,
            rules.join(", "),
        ]);
    }
    let mut out = stdout();
    writeln!(
        out,
        "{} {} against Linux {} ({} API), loopback\n",
        simulator.name(),
        simulator.version(),
        rstlab::oracle::kernel::Kernel::running(),
        simulator.backend()
    )?;
    write!(
        out,
        "{}",
        rstlab::table::render(
            &["#", "step", "linux", simulator.name(), "agree", "rules"],
            &rows
        )
    )?;
    Ok(if compared.first_divergence().is_some() {
        Status::SimulatorDiverges
    } else {
        Status::Agreement
    })
}
