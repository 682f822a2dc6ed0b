//! What the book counts, keyed by enums: runs by [`Kind`], per rule the runs that exercised it,
//! the calls after an RST by [`Call`] (the seed article's claim), and every disagreement.
//! [`Tallies::add`] takes each run once; the lab calls it for every run it makes, so no count
//! can leave a run out or count one twice.

use std::collections::BTreeMap;
use std::fmt;

use crate::backend::Backend;
use crate::check::Disagreement;
use crate::net::Net;
use crate::oracle::SegmentKind;
use crate::outcome::Outcome;
use crate::rules::Rule;
use crate::scenario::Op;

use super::run::{Kind, Run};

/// A count per key, zero for a key never added.
#[derive(Clone, Debug)]
pub(super) struct Counts<K>(BTreeMap<K, u64>);

impl<K> Default for Counts<K> {
    fn default() -> Self {
        Counts(BTreeMap::new())
    }
}

impl<K: Ord> Counts<K> {
    /// Adds `n` to `key`'s count.
    pub(super) fn add(&mut self, key: K, n: u64) {
        *self.0.entry(key).or_default() += n;
    }

    /// `key`'s count.
    pub(super) fn get(&self, key: &K) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    /// Every key's count added up.
    pub(super) fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The keys counted at least once (or added 0), in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.keys()
    }
}

/// What the book counts per rule.
#[derive(Clone, Debug, Default)]
pub(super) struct RuleCounts {
    /// Runs whose agreeing steps applied it, by kind.
    pub(super) runs: Counts<Kind>,
    /// Steps of random runs that applied it.
    pub(super) random_steps: u64,
    /// Runs that disagreed at or after a step that applied it.
    pub(super) disagreements: u64,
    /// The RSTs it sent in agreeing runs, by the oracle's reason.
    pub(super) reasons_predicted: Counts<String>,
    /// Among them, those whose reason the kernel stated (`tcp/tcp_send_reset`), by the oracle's
    /// reason (the runs agree, so the kernel stated that one, or one of the two it names).
    pub(super) reasons_stated: Counts<String>,
}

/// A read or a write after an RST arrived, by what came before it: the rows of the seed
/// article's claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Call {
    /// A write, the error not reported yet, the RST before any FIN.
    WriteRstFirst,
    /// A write, the error not reported yet, the peer's FIN first.
    WriteFinFirst,
    /// A write after a call reported the error.
    WriteReported,
    /// A read, the error not reported yet, the RST before any FIN.
    ReadRstFirst,
    /// A read, the error not reported yet, the peer's FIN first.
    ReadFinFirst,
    /// A read after a call reported the error.
    ReadReported,
}

impl Call {
    /// Every row, in the order the table shows them.
    pub(super) const ALL: [Call; 6] = [
        Call::WriteRstFirst,
        Call::WriteFinFirst,
        Call::WriteReported,
        Call::ReadRstFirst,
        Call::ReadFinFirst,
        Call::ReadReported,
    ];

    fn of(write: bool, fin_first: bool, reported: bool) -> Call {
        match (write, reported, fin_first) {
            (true, false, false) => Call::WriteRstFirst,
            (true, false, true) => Call::WriteFinFirst,
            (true, true, _) => Call::WriteReported,
            (false, false, false) => Call::ReadRstFirst,
            (false, false, true) => Call::ReadFinFirst,
            (false, true, _) => Call::ReadReported,
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Call::WriteRstFirst => "write, error not reported yet, the RST came before any FIN",
            Call::WriteFinFirst => "write, error not reported yet, the peer's FIN came first",
            Call::WriteReported => "write, after a call reported the error",
            Call::ReadRstFirst => "read, error not reported yet, the RST came before any FIN",
            Call::ReadFinFirst => "read, error not reported yet, the peer's FIN came first",
            Call::ReadReported => "read, after a call reported the error",
        })
    }
}

/// The seed article's claim, tallied: what reads and writes after an RST returned (`ok(n)` for
/// any byte count), by [`Call`].
#[derive(Clone, Debug, Default)]
pub(super) struct Calls {
    pub(super) rows: BTreeMap<Call, Counts<String>>,
}

impl Calls {
    /// Adds the reads and writes of one run's agreeing steps.
    fn add(&mut self, run: &Run) {
        // Per actor: whether the peer's FIN has arrived, and, once an RST has, whether the FIN
        // came first and whether a call has reported the error since.
        let mut fin = [false; 2];
        let mut rst: [Option<(bool, bool)>; 2] = [None; 2];
        let steps = run
            .scenario
            .steps()
            .iter()
            .zip(&run.prediction.steps)
            .zip(&run.trace.steps)
            .take(run.agreeing_steps());
        for ((step, predicted), observed) in steps {
            let Some(actor) = step.end() else {
                continue;
            };
            let me = actor.index();
            // SO_ERROR takes the pending error as a failing call would: it is reported then.
            if let (Some((_, reported)), Op::Error, Outcome::Err(_)) =
                (&mut rst[me], &step.op, &observed.outcome)
            {
                *reported = true;
            }
            let write = matches!(step.op, Op::Write(_));
            if let (Some((fin_first, reported)), true) =
                (&mut rst[me], matches!(step.op, Op::Write(_) | Op::Read(_)))
            {
                let observed = &observed.outcome;
                let outcome = match observed {
                    Outcome::Bytes(_) => "ok(n)".to_string(),
                    other => other.to_string(),
                };
                self.rows
                    .entry(Call::of(write, *fin_first, *reported))
                    .or_default()
                    .add(outcome, 1);
                *reported |= matches!(observed, Outcome::Err(_));
            }
            for segment in &predicted.segments {
                let to = segment.from.peer().index();
                match segment.kind {
                    SegmentKind::Fin => fin[to] = true,
                    SegmentKind::Rst if rst[to].is_none() => rst[to] = Some((fin[to], false)),
                    _ => {}
                }
            }
        }
    }

    /// How many calls of `call` returned `outcome`.
    pub(super) fn count(&self, call: Call, outcome: &str) -> u64 {
        self.rows
            .get(&call)
            .map_or(0, |m| m.get(&outcome.to_string()))
    }

    /// How many calls of `call` there were.
    pub(super) fn total(&self, call: Call) -> u64 {
        self.rows.get(&call).map_or(0, Counts::total)
    }
}

/// A run that disagreed, as the book lists it.
#[derive(Clone, Debug)]
pub(super) struct Disagreeing {
    pub(super) kind: Kind,
    pub(super) backend: Backend,
    pub(super) net: Net,
    /// The scenario, on one line.
    pub(super) scenario: String,
    pub(super) disagreement: Disagreement,
}

/// Everything the book counts, each run once.
#[derive(Clone, Debug)]
pub(super) struct Tallies {
    /// Every run, by kind.
    pub(super) runs: Counts<Kind>,
    /// Per rule (every rule present, counted 0 until a run applies it).
    pub(super) rules: BTreeMap<Rule, RuleCounts>,
    /// The calls after an RST, on std at zero delay.
    pub(super) calls: Calls,
    /// Every run that disagreed, in the order run.
    pub(super) disagreements: Vec<Disagreeing>,
}

impl Default for Tallies {
    fn default() -> Self {
        Tallies {
            runs: Counts::default(),
            rules: Rule::ALL
                .iter()
                .map(|r| (*r, RuleCounts::default()))
                .collect(),
            calls: Calls::default(),
            disagreements: Vec::new(),
        }
    }
}

impl Tallies {
    /// Counts one run: its kind, the rules its agreeing steps applied, the rules up to its
    /// disagreement, (on std at zero delay) the calls after an RST, and its disagreement.
    pub(super) fn add(&mut self, run: &Run) {
        self.runs.add(run.kind, 1);
        for (rule, steps) in run.rules() {
            let c = self.rules.entry(rule).or_default();
            c.runs.add(run.kind, 1);
            if run.kind == Kind::Random {
                c.random_steps += steps;
            }
        }
        for rule in run.rules_up_to_disagreement() {
            self.rules.entry(rule).or_default().disagreements += 1;
        }
        if run.disagreement.is_none() {
            for pair in crate::check::resets::shown(&run.prediction, &run.trace) {
                let Some(predicted) = pair.predicted else {
                    continue;
                };
                let c = self.rules.entry(predicted.rule).or_default();
                c.reasons_predicted.add(predicted.reason.to_string(), 1);
                // Keyed by the oracle's reason: where it names two (a timer racing with the next
                // step), which of them the kernel stated varies from run to run, so the book
                // counts that it stated one of them.
                if pair.stated.is_some() && run.trace.resets.stated().is_some() {
                    c.reasons_stated.add(predicted.reason.to_string(), 1);
                }
            }
        }
        // The claim's table reads which segments arrived from the step that sent them, which
        // holds at zero delay only (with `link` steps they may arrive later, or not at all).
        if run.backend == Backend::Std && !run.scenario.uses_link() {
            self.calls.add(run);
        }
        if let Some(d) = &run.disagreement {
            self.disagreements.push(Disagreeing {
                kind: run.kind,
                backend: run.backend,
                net: run.trace.net,
                scenario: run.scenario.to_inline(),
                disagreement: d.clone(),
            });
        }
    }

    /// How many runs the book made.
    pub(super) fn total_runs(&self) -> u64 {
        self.runs.total()
    }

    /// What the book counts for `rule`.
    pub(super) fn rule(&self, rule: Rule) -> &RuleCounts {
        self.rules
            .get(&rule)
            .unwrap_or_else(|| panic!("{}: not counted", rule.id()))
    }
}
