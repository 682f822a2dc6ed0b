//! `rstlab run FILE | - | "step; step; …"`

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;

use rstlab::check::{self, Mismatch};
use rstlab::oracle::{self, PredictedStep, Prediction};
use rstlab::run::{Backend, ObservedStep, RunOptions, Runner, Trace};
use rstlab::{Outcome, Rule, Scenario, TcpState};

use super::{BackendArg, NetArg, table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A scenario file, `-` for standard input, or the steps themselves separated by `;`.
    scenario: String,
    /// The socket API that runs it.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendArg,
    /// The network: loopback, or the emulated link (needs CAP_NET_ADMIN). A scenario with
    /// `link` steps runs on the link whatever this says.
    #[arg(long, value_enum)]
    net: Option<NetArg>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Also print a sequence diagram: both lanes, the segments between them, every result.
    #[arg(long)]
    diagram: bool,
}

/// Reads the scenario named by `arg`: a file, `-`, or inline steps.
pub fn load(arg: &str) -> anyhow::Result<(String, Scenario)> {
    let (origin, text) = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the scenario from standard input")?;
        ("<stdin>".to_string(), text)
    } else if Path::new(arg).is_file() {
        let text = std::fs::read_to_string(arg).with_context(|| format!("reading {arg}"))?;
        (arg.to_string(), text)
    } else if !arg.ends_with(".scenario") && arg.contains(char::is_whitespace) {
        ("<command line>".to_string(), arg.to_string())
    } else {
        bail!(
            "{arg}: no such file (and not a scenario: steps look like `client write 1; server close`)"
        );
    };
    let scenario =
        Scenario::parse(&text).with_context(|| format!("{origin}: not a valid scenario"))?;
    Ok((origin, scenario))
}

/// One row of the report.
#[derive(Serialize)]
struct Row<'a> {
    step: usize,
    text: String,
    predicted: &'a Outcome,
    observed: Option<&'a Outcome>,
    expected: Option<&'a Outcome>,
    rules: &'a [Rule],
    predicted_states: States,
    observed_states: Option<States>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    agree: bool,
    mismatches: Vec<Mismatch>,
}

#[derive(Serialize)]
struct States {
    client: Option<TcpState>,
    server: Option<TcpState>,
}

impl From<[Option<TcpState>; 2]> for States {
    fn from([client, server]: [Option<TcpState>; 2]) -> States {
        States { client, server }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    scenario: String,
    backend: Backend,
    client: String,
    server: String,
    agree: bool,
    steps: Vec<Row<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
}

pub fn main(args: Args) -> anyhow::Result<bool> {
    let (_, scenario) = load(&args.scenario)?;
    let backend = Backend::from(args.backend);
    let prediction = oracle::predict_for(&scenario, backend);
    let net = match args.net {
        Some(net) => net.into(),
        None if scenario.uses_link() => rstlab::run::Net::Link,
        None => rstlab::run::Net::Loopback,
    };
    let options = RunOptions {
        net,
        ..RunOptions::default()
    };
    let mut runner = Runner::with_options(backend, options)?;
    let trace = runner.run(&scenario)?;
    let report = report(&scenario, &prediction, &trace);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
        if args.diagram {
            let diagram = rstlab::diagram::Diagram::new(&scenario, &prediction, Some(&trace));
            print!("\n{}", diagram.text());
        }
    }
    Ok(report.agree)
}

fn report<'a>(scenario: &'a Scenario, prediction: &'a Prediction, trace: &'a Trace) -> Report<'a> {
    let rows: Vec<Row<'a>> = scenario
        .steps()
        .iter()
        .zip(&prediction.steps)
        .enumerate()
        .map(|(i, (step, predicted))| {
            let observed: Option<&ObservedStep> = trace.steps.get(i);
            let mismatches =
                observed.map_or_else(Vec::new, |o| check::step_mismatches(step, predicted, o));
            row(i, step, predicted, observed, mismatches)
        })
        .collect();
    let agree = check::check(scenario, prediction, trace).is_none();
    Report {
        scenario: scenario.to_string(),
        backend: trace.backend,
        client: trace.client.to_string(),
        server: trace.server.to_string(),
        agree,
        steps: rows,
        timeout: trace.timeout.as_ref().map(ToString::to_string),
    }
}

fn row<'a>(
    i: usize,
    step: &'a rstlab::scenario::Step,
    predicted: &'a PredictedStep,
    observed: Option<&'a ObservedStep>,
    mismatches: Vec<Mismatch>,
) -> Row<'a> {
    Row {
        step: i + 1,
        text: step.to_string(),
        predicted: &predicted.outcome,
        observed: observed.map(|o| &o.outcome),
        expected: step.expect.as_ref(),
        rules: &predicted.rules,
        predicted_states: predicted.states.into(),
        observed_states: observed.map(|o| o.states.into()),
        note: observed.and_then(|o| o.note.as_deref()),
        agree: observed.is_some() && mismatches.is_empty(),
        mismatches,
    }
}

fn state_pair(s: &States) -> String {
    let one = |s: Option<TcpState>| s.map_or("-".to_string(), |s| s.to_string());
    format!("{}/{}", one(s.client), one(s.server))
}

fn render(report: &Report<'_>) -> String {
    let rows: Vec<Vec<String>> = report
        .steps
        .iter()
        .map(|r| {
            vec![
                r.step.to_string(),
                r.text.clone(),
                r.predicted.to_string(),
                r.observed
                    .map_or("(not run)".to_string(), ToString::to_string),
                r.observed_states
                    .as_ref()
                    .map_or("-".to_string(), state_pair),
                r.rules
                    .iter()
                    .map(|r| r.id())
                    .collect::<Vec<_>>()
                    .join(", "),
                if r.agree { "yes" } else { "NO" }.to_string(),
            ]
        })
        .collect();
    let mut out = format!(
        "{} backend, client {} -> server {}\n\n",
        report.backend, report.client, report.server
    );
    out += &table::render(
        &[
            "#",
            "step",
            "predicted",
            "observed",
            "client/server state",
            "rule",
            "agree",
        ],
        &rows,
    );
    out.push('\n');
    for r in &report.steps {
        for m in &r.mismatches {
            out += &format!("step {}: {m}\n", r.step);
        }
        if let Some(note) = r.note {
            out += &format!("step {}: note: {note}\n", r.step);
        }
    }
    if let Some(t) = &report.timeout {
        out += &format!("timeout: {t}\n");
    }
    out += if report.agree {
        "agreement: the kernel did what the oracle predicted and what the scenario expects\n"
    } else {
        "DISAGREEMENT: see above; the kernel is the judge\n"
    };
    out
}
