//! `rstlab run FILE | - | "step; step; …"`
//!
//! Exit status 0 when the kernel did what the oracle predicted and what every `=>` line expects,
//! 1 when the kernel disagrees with the oracle, 3 when the oracle was right but a `=>` line is
//! not, 2 on bad input.

use std::io::Write;

use serde::Serialize;

use rstlab::check::verify::{Verified, VerifyError, verify};
use rstlab::check::{self, Mismatch};
use rstlab::oracle::{PredictedStep, Prediction};
use rstlab::run::{Backend, ObservedStep, RunOptions, Runner, Trace};
use rstlab::scenario::source::Source;
use rstlab::{Outcome, Rule, Scenario, TcpState};

use super::{BackendArg, NetArg, Status, exit_statuses, output};
use rstlab::net::segment_log::{WireLine, wire_table};
use rstlab::table;

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 1, 2, 3]))]
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
    /// Print one JSON object instead of a table (format: docs/json.md); with --diagram, the
    /// diagram is its `diagram` field.
    #[arg(long)]
    json: bool,
    /// Also print a sequence diagram: both lanes, the segments between them, every result.
    #[arg(long)]
    diagram: bool,
    #[command(flatten)]
    pcap: super::capture::Pcap,
}

/// Reads the scenario named by `arg` (a file, `-`, or inline steps) with the reader every
/// command shares, for the oracle: `client write request` is refused.
pub fn load(arg: &str) -> anyhow::Result<(String, Scenario)> {
    Ok(Source::read(arg)?.into_scenario()?)
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

/// The version of `run --json`'s format (docs/json.md, docs/schema/run.schema.json): it changes
/// when a field changes meaning or goes away, not when one is added.
const SCHEMA: u32 = 1;

/// What a run concluded; `verdict` in the JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    /// The kernel did what the oracle predicted and what every `=>` line expects.
    Agreement,
    /// The kernel disagrees with the oracle somewhere (an outcome or a state), or a step never
    /// settled.
    OracleDisagrees,
    /// The oracle predicted what the kernel did, but a `=>` line expects something else.
    ExpectationContradicted,
}

impl Verdict {
    fn status(self) -> Status {
        match self {
            Verdict::Agreement => Status::Agreement,
            Verdict::OracleDisagrees => Status::OracleDisagrees,
            Verdict::ExpectationContradicted => Status::ExpectationContradicted,
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    schema: u32,
    verdict: Verdict,
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
    /// The sequence diagram as text, with `--diagram`.
    #[serde(skip_serializing_if = "Option::is_none")]
    diagram: Option<String>,
}

#[derive(Serialize)]
struct WireRow<'a> {
    step: usize,
    #[serde(flatten)]
    segment: &'a rstlab::net::link::WireSegment,
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let (_, scenario) = load(&args.scenario)?;
    let backend = Backend::from(args.backend);
    let net = match args.net {
        Some(net) => net.into(),
        None => rstlab::net::Net::for_scenario(&scenario),
    };
    args.pcap
        .needs_link(net == rstlab::run::Net::Link, "--net link")?;
    if net == rstlab::run::Net::Link {
        super::enter_link_namespace();
    }
    let options = RunOptions {
        net,
        capture: args.pcap.wanted(),
        ..RunOptions::default()
    };
    let mut runner = Runner::with_options(backend, options)?;
    // The pipeline refuses, before running, a scenario the oracle cannot follow to the end.
    let Verified {
        prediction,
        trace,
        disagreement,
    } = verify(&mut runner, &scenario).map_err(|e| match e {
        VerifyError::Beyond(b) => anyhow::anyhow!(
            "{b}\nrstlab refuses to run what it cannot emulate faithfully: shorten the \
             scenario's link time there, or drop fewer segments"
        ),
        VerifyError::Run(e) => e.into(),
    })?;
    let capture_title = format!(
        "rstlab run --backend {backend}: {}",
        scenario.to_string().trim().replace('\n', "; ")
    );
    let mut report = report(&scenario, &prediction, &trace, disagreement.is_none());
    let diagram = args
        .diagram
        .then(|| rstlab::diagram::Diagram::new(&scenario, &prediction, Some(&trace)).text());
    let mut out = output::stdout();
    if args.json {
        report.diagram = diagram;
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(out, "{}", render(&report))?;
        if let Some(diagram) = diagram {
            write!(out, "\n{diagram}")?;
        }
    }
    // The report first: a capture that cannot be written does not take it away.
    out.flush()?;
    args.pcap.save(&capture_title, &trace.packets)?;
    Ok(report.verdict.status())
}

/// The report of a run; `agree` is the pipeline's verdict (no disagreement), not worked out again.
fn report<'a>(
    scenario: &'a Scenario,
    prediction: &'a Prediction,
    trace: &'a Trace,
    agree: bool,
) -> Report<'a> {
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
    let verdict = verdict(agree, &rows);
    Report {
        schema: SCHEMA,
        verdict,
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
        diagram: None,
    }
}

/// The oracle's disagreement with the kernel comes first, wherever it is: it is rstlab's own
/// error. Only when the oracle was right everywhere is a contradicted `=>` line the verdict.
fn verdict(agree: bool, rows: &[Row<'_>]) -> Verdict {
    if agree {
        return Verdict::Agreement;
    }
    let only_expectations = rows.iter().all(|r| {
        r.observed.is_some()
            && r.mismatches
                .iter()
                .all(|m| matches!(m, Mismatch::Expectation { .. }))
    });
    if only_expectations {
        Verdict::ExpectationContradicted
    } else {
        Verdict::OracleDisagrees
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
    out += LEGEND;
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
        let labels: Vec<String> = report.wire.iter().map(|w| w.step.to_string()).collect();
        let lines: Vec<WireLine<'_>> = report
            .wire
            .iter()
            .zip(&labels)
            .map(|(w, label)| WireLine::Segment(label, w.segment))
            .collect();
        out += &wire_table("step", ["client", "server"], &lines, &|d| format!("{d:?}"));
    }
    if let Some(t) = &report.timeout {
        out += &format!("timeout: {t}\n");
    }
    out += match report.verdict {
        Verdict::Agreement => {
            "agreement: the kernel did what the oracle predicted and what the scenario expects\n"
        }
        Verdict::OracleDisagrees => {
            "DISAGREEMENT: the kernel did not do what the oracle predicted (see above); the kernel \
             is the judge, so the oracle is wrong (exit status 1)\n"
        }
        Verdict::ExpectationContradicted => {
            "EXPECTATION CONTRADICTED: the kernel did what the oracle predicted, not what the \
             scenario's `=>` lines expect (see above): the scenario is wrong (exit status 3)\n"
        }
    };
    out
}

/// Printed under the table: what the state column shows (the README says the same).
const LEGEND: &str = "
client/server state: what the kernel reports for each socket the application still holds, once
the step has settled. `-`: that side has closed its socket (or the step did not run).
CLOSE: the connection is over, TIME_WAIT included (Linux hands TIME_WAIT to a stub and leaves
the socket you hold in CLOSE). FIN_WAIT1: our FIN arrived but the peer delays its ACK (up to
40 ms); the oracle counts it as FIN_WAIT2. On the link, FIN_WAIT1, CLOSING and LAST_ACK can also
mean that a segment is still on its way: the wire trace below the table shows which.
";

#[cfg(test)]
mod tests {
    use super::*;
    use rstlab::Errno;

    /// A trace in which the kernel did exactly what the oracle predicted.
    fn as_predicted(prediction: &Prediction) -> Trace {
        Trace::as_predicted(prediction, Backend::Std)
    }

    fn verdict_of(text: &str, tamper: impl FnOnce(&mut Trace)) -> Verdict {
        let s: Scenario = text.parse().unwrap();
        let p = rstlab::oracle::predict(&s);
        let mut trace = as_predicted(&p);
        tamper(&mut trace);
        report(&s, &p, &trace, check::check(&s, &p, &trace).is_none()).verdict
    }

    #[test]
    fn the_verdict_tells_the_oracles_error_from_the_scenarios() {
        let seed = "server close; client write 1; client write 1 => EPIPE";
        assert_eq!(verdict_of(seed, |_| {}), Verdict::Agreement);
        assert_eq!(Verdict::Agreement.status().code(), 0);
        // The oracle was right, the `=>` line is not.
        let wrong = "server close; client write 1 => EPIPE";
        let v = verdict_of(wrong, |_| {});
        assert_eq!(v, Verdict::ExpectationContradicted);
        assert_eq!(v.status().code(), 3);
        // The kernel did something else than the oracle said: the oracle's error, even where a
        // `=>` line is contradicted too.
        let v = verdict_of(seed, |t| {
            t.steps[2].outcome = Outcome::Err(Errno::ECONNRESET)
        });
        assert_eq!(v, Verdict::OracleDisagrees);
        assert_eq!(v.status().code(), 1);
        let v = verdict_of(wrong, |t| {
            t.steps[0].states[0] = Some(TcpState::Established)
        });
        assert_eq!(v, Verdict::OracleDisagrees);
        // A step that never settled is no evidence for the scenario either way.
        let v = verdict_of(wrong, |t| {
            t.steps.pop();
            t.timeout = Some(rstlab::run::Timeout {
                waited: std::time::Duration::from_secs(2),
                last_seen: String::new(),
            });
        });
        assert_eq!(v, Verdict::OracleDisagrees);
    }

    #[test]
    fn the_json_report_carries_its_schema_version_and_verdict() {
        let s: Scenario = "server close; client write 1 => EPIPE".parse().unwrap();
        let p = rstlab::oracle::predict(&s);
        let trace = as_predicted(&p);
        let v = serde_json::to_value(report(
            &s,
            &p,
            &trace,
            check::check(&s, &p, &trace).is_none(),
        ))
        .unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["verdict"], "expectation_contradicted");
    }
}
