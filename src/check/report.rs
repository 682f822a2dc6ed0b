//! The report of one run, as `rstlab run` shows it and `rstlab run --json` prints it
//! (docs/json.md, docs/schema/run.schema.json): each step predicted, observed and expected, the
//! mismatches, the wire on the link, and the [`Verdict`] that decides the exit status.

use serde::Serialize;

use crate::check::{Mismatch, step_mismatches};
use crate::oracle::{PredictedStep, Prediction};
use crate::run::{Backend, ObservedStep, Trace};
use crate::scenario::Scenario;
use crate::{Outcome, Rule, TcpState};

/// One row of the report.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    /// The step's number, from 1.
    pub step: usize,
    /// The step, in the language.
    pub text: String,
    /// The oracle's outcome.
    pub predicted: &'a Outcome,
    /// The kernel's (`None`: the step did not run).
    pub observed: Option<&'a Outcome>,
    /// The scenario's `=>`, if any.
    pub expected: Option<&'a Outcome>,
    /// The rules the oracle applied.
    pub rules: &'a [Rule],
    /// The states the oracle predicted once the step settled.
    pub predicted_states: States,
    /// The states the kernel reported.
    pub observed_states: Option<States>,
    /// What the runner noted of the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'a str>,
    /// Whether the step agreed with the prediction and the expectation.
    pub agree: bool,
    /// Every way the step differs from the prediction or the expectation.
    pub mismatches: Vec<Mismatch>,
}

/// Both sockets' states.
#[derive(Debug, Serialize)]
pub struct States {
    /// The client's socket (`None`: closed by the application).
    pub client: Option<TcpState>,
    /// The server's.
    pub server: Option<TcpState>,
}

impl From<[Option<TcpState>; 2]> for States {
    fn from([client, server]: [Option<TcpState>; 2]) -> States {
        States { client, server }
    }
}

/// The version of `run --json`'s format (docs/json.md, docs/schema/run.schema.json): it changes
/// when a field changes meaning or goes away, not when one is added.
pub const SCHEMA: u32 = 1;

/// What a run concluded; `verdict` in the JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The kernel did what the oracle predicted and what every `=>` line expects.
    Agreement,
    /// The kernel disagrees with the oracle somewhere (an outcome or a state), or a step never
    /// settled.
    OracleDisagrees,
    /// The oracle predicted what the kernel did, but a `=>` line expects something else.
    ExpectationContradicted,
}

/// The report of one run.
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    /// [`SCHEMA`].
    pub schema: u32,
    /// What the run concluded.
    pub verdict: Verdict,
    /// The scenario, in the language.
    pub scenario: String,
    /// The socket API.
    pub backend: Backend,
    /// The client's address.
    pub client: String,
    /// The server's address.
    pub server: String,
    /// Whether the whole run agreed with the oracle.
    pub agree: bool,
    /// One row per step.
    pub steps: Vec<Row<'a>>,
    /// Why the run stopped early, when a step never settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The network.
    pub net: crate::run::Net,
    /// On the link: every segment after the handshake, with the step that sent it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wire: Vec<WireRow<'a>>,
    /// The run's RSTs in order: the oracle's reason beside the kernel's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resets: Vec<ResetRow>,
    /// Why the kernel's reasons are missing or not checked, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons_missing: Option<String>,
    /// The sequence diagram as text, with `--diagram`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagram: Option<String>,
}

/// An RST of the run: who sent it, in which step, and why, by the oracle and by the kernel.
/// The peer's reports show their connections' RSTs so too.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResetRow {
    /// The step (from 1).
    pub step: usize,
    /// Whose kernel sent it (the kernel's word where both exist).
    pub from: crate::scenario::End,
    /// The oracle's reason (`None`: it predicted no such RST).
    pub predicted: Option<crate::reasons::Expected>,
    /// The kernel's (`None`: not recorded, or the kernel sent no such RST).
    pub stated: Option<String>,
    /// Whether both say the same.
    pub agree: bool,
}

impl ResetRow {
    /// The row of one pair (steps from 1); `None` for a pair with neither side, which pairing
    /// never makes.
    pub fn of(pair: crate::check::resets::ResetPair) -> Option<ResetRow> {
        Some(ResetRow {
            step: pair.step + 1,
            from: pair.from()?,
            agree: pair.agrees(),
            predicted: pair.predicted.map(|p| p.reason),
            stated: pair.stated.map(|s| s.reason),
        })
    }

    /// The rows as the "why each RST" table of `run`, `serve` and `exec`: the step, who sent
    /// it, the kernel's reason (`-` where it was not recorded), the oracle's, and whether they
    /// agree (`-` where the kernel's reasons are not `checked`).
    pub fn table(rows: &[ResetRow], checked: bool) -> String {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.step.to_string(),
                    r.from.to_string(),
                    r.stated.clone().unwrap_or_else(|| "-".to_string()),
                    r.predicted
                        .map_or("(none predicted)".to_string(), |p| p.to_string()),
                    match (checked, r.agree) {
                        (false, _) => "-",
                        (true, true) => "yes",
                        (true, false) => "NO",
                    }
                    .to_string(),
                ]
            })
            .collect();
        crate::table::render(&["step", "from", "kernel", "oracle", "agree"], &rows)
    }
}

/// A segment of the wire, with the step that sent it.
#[derive(Debug, Serialize)]
pub struct WireRow<'a> {
    /// The step that sent it.
    pub step: usize,
    /// The segment.
    #[serde(flatten)]
    pub segment: &'a crate::net::link::WireSegment,
}

impl<'a> RunReport<'a> {
    /// The report of a run; `agree` is the pipeline's verdict (no disagreement), not worked out again.
    pub fn new(
        scenario: &'a Scenario,
        prediction: &'a Prediction,
        trace: &'a Trace,
        agree: bool,
    ) -> RunReport<'a> {
        let mut reset = crate::check::reset_mismatch(prediction, trace);
        let rows: Vec<Row<'a>> = scenario
            .steps()
            .iter()
            .zip(&prediction.steps)
            .enumerate()
            .map(|(i, (step, predicted))| {
                let observed: Option<&ObservedStep> = trace.steps.get(i);
                let wire = (trace.net == crate::run::Net::Link).then(|| trace.wire_of(i));
                let mut mismatches =
                    observed.map_or_else(Vec::new, |o| step_mismatches(step, predicted, o, wire));
                if observed.is_some() && reset.as_ref().is_some_and(|(step, _)| *step == i) {
                    mismatches.extend(reset.take().map(|(_, m)| m));
                }
                row(i, step, predicted, observed, mismatches)
            })
            .collect();
        let verdict = verdict(agree, &rows);
        RunReport {
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
            resets: crate::check::resets::shown(prediction, trace)
                .into_iter()
                .filter_map(ResetRow::of)
                .collect(),
            reasons_missing: trace.resets.missing(),
            diagram: None,
        }
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
    step: &'a crate::scenario::Step,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errno;
    use crate::check::check;

    /// A trace in which the kernel did exactly what the oracle predicted.
    fn as_predicted(prediction: &Prediction) -> Trace {
        crate::check::predicted_trace(prediction, Backend::Std)
    }

    fn verdict_of(text: &str, tamper: impl FnOnce(&mut Trace)) -> Verdict {
        let s: Scenario = text.parse().unwrap();
        let p = crate::oracle::predict(&s, &crate::oracle::Settings::default());
        let mut trace = as_predicted(&p);
        tamper(&mut trace);
        RunReport::new(&s, &p, &trace, check(&s, &p, &trace).is_none()).verdict
    }

    #[test]
    fn the_verdict_tells_the_oracles_error_from_the_scenarios() {
        let seed = "server close; client write 1; client write 1 => EPIPE";
        assert_eq!(verdict_of(seed, |_| {}), Verdict::Agreement);
        // The oracle was right, the `=>` line is not.
        let wrong = "server close; client write 1 => EPIPE";
        let v = verdict_of(wrong, |_| {});
        assert_eq!(v, Verdict::ExpectationContradicted);
        // The kernel did something else than the oracle said: the oracle's error, even where a
        // `=>` line is contradicted too.
        let v = verdict_of(seed, |t| {
            t.steps[2].outcome = Outcome::Err(Errno::ECONNRESET)
        });
        assert_eq!(v, Verdict::OracleDisagrees);
        let v = verdict_of(wrong, |t| {
            t.steps[0].states[0] = Some(TcpState::Established)
        });
        assert_eq!(v, Verdict::OracleDisagrees);
        // A step that never settled is no evidence for the scenario either way.
        let v = verdict_of(wrong, |t| {
            t.steps.pop();
            t.timeout = Some(crate::run::Timeout {
                waited: std::time::Duration::from_secs(2),
                last_seen: String::new(),
            });
        });
        assert_eq!(v, Verdict::OracleDisagrees);
    }

    #[test]
    fn the_json_report_carries_its_schema_version_and_verdict() {
        let s: Scenario = "server close; client write 1 => EPIPE".parse().unwrap();
        let p = crate::oracle::predict(&s, &crate::oracle::Settings::default());
        let trace = as_predicted(&p);
        let v = serde_json::to_value(RunReport::new(
            &s,
            &p,
            &trace,
            check(&s, &p, &trace).is_none(),
        ))
        .unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["verdict"], "expectation_contradicted");
    }
}
