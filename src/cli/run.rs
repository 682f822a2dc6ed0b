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
    net: rstlab::run::Net,
    /// On the link: every segment after the handshake, with the step that sent it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    wire: Vec<WireRow<'a>>,
}

#[derive(Serialize)]
struct WireRow<'a> {
    step: usize,
    #[serde(flatten)]
    segment: &'a rstlab::link::WireSegment,
}

pub fn main(args: Args) -> anyhow::Result<bool> {
    let (_, scenario) = load(&args.scenario)?;
    let backend = Backend::from(args.backend);
    let net = match args.net {
        Some(net) => net.into(),
        None if scenario.uses_link() => rstlab::run::Net::Link,
        None => rstlab::run::Net::Loopback,
    };
    let prediction = oracle::predict_with(&scenario, backend, net);
    if let Some(beyond) = &prediction.beyond {
        bail!(
            "{beyond}\nrstlab refuses to run what it cannot emulate faithfully: shorten the scenario's \
             link time there, or drop fewer segments"
        );
    }
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
            let wire = (trace.net == rstlab::run::Net::Link).then(|| trace.wire_of(i));
            let mismatches = observed.map_or_else(Vec::new, |o| {
                check::step_mismatches(step, predicted, o, wire)
            });
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
        net: trace.net,
        wire: (0..trace.steps.len())
            .flat_map(|i| {
                trace.wire_of(i).iter().map(move |segment| WireRow {
                    step: i + 1,
                    segment,
                })
            })
            .collect(),
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
    if !report.wire.is_empty() {
        out += "\nthe wire (times are link time; seq and ack relative to each side's SYN):\n";
        let rows: Vec<Vec<String>> = report
            .wire
            .iter()
            .map(|w| {
                let s = w.segment;
                let arrow = match s.from {
                    rstlab::scenario::Actor::Client => "client -> server",
                    _ => "server -> client",
                };
                let fate = match s.fate {
                    rstlab::wire::Fate::Delivered(t) => format!("arrived {t:?}"),
                    rstlab::wire::Fate::Dropped(t) => format!("dropped {t:?}"),
                    rstlab::wire::Fate::InFlight => "in flight at the end".to_string(),
                };
                vec![
                    w.step.to_string(),
                    format!("{:?}", s.sent),
                    arrow.to_string(),
                    s.flags.to_string(),
                    s.seq.to_string(),
                    s.ack.to_string(),
                    s.len.to_string(),
                    fate,
                ]
            })
            .collect();
        out += &table::render(
            &[
                "step",
                "sent",
                "direction",
                "flags",
                "seq",
                "ack",
                "len",
                "fate",
            ],
            &rows,
        );
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
