//! One run of the book ([`Run`]) and what it was for ([`Kind`]): every run the book makes is of
//! exactly one kind, and the book counts its runs by kind.

use std::collections::BTreeMap;
use std::fmt;

use crate::backend::Backend;
use crate::check::Disagreement;
use crate::oracle::Prediction;
use crate::rules::Rule;
use crate::run::Trace;
use crate::scenario::Scenario;

/// What a run is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    /// A rule's canonical scenario, on each backend.
    Canonical,
    /// A situation of the summary table and the next write or read after it, on each backend.
    Situation,
    /// A scenario of "Questions people ask", on each backend.
    Question,
    /// A random scenario, on each backend and network.
    Random,
    /// A canonical scenario without `link` steps, again on the link at zero delay (std).
    ZeroDelay,
    /// A point of the timing chart (std, on the link).
    Chart,
}

impl Kind {
    /// Every kind, in the order the book lists them.
    pub(super) const ALL: [Kind; 6] = [
        Kind::Canonical,
        Kind::Situation,
        Kind::Question,
        Kind::Random,
        Kind::ZeroDelay,
        Kind::Chart,
    ];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Canonical => "canonical",
            Kind::Situation => "situation",
            Kind::Question => "question",
            Kind::Random => "random",
            Kind::ZeroDelay => "zero-delay",
            Kind::Chart => "timing chart",
        })
    }
}

/// One scenario on one backend: what it was for, the oracle's prediction, the kernel's trace,
/// and the first disagreement.
#[derive(Clone, Debug)]
pub(super) struct Run {
    pub(super) kind: Kind,
    pub(super) scenario: Scenario,
    pub(super) backend: Backend,
    pub(super) prediction: Prediction,
    pub(super) trace: Trace,
    pub(super) disagreement: Option<Disagreement>,
}

impl Run {
    /// The steps that count as evidence: all of them when the run agreed, else those before
    /// the first disagreement.
    pub(super) fn agreeing_steps(&self) -> usize {
        self.disagreement
            .as_ref()
            .map_or(self.trace.steps.len(), |d| d.step - 1)
            .min(self.trace.steps.len())
    }

    /// The rules the oracle applied in the agreeing steps, with how many steps applied each.
    pub(super) fn rules(&self) -> BTreeMap<Rule, u64> {
        let mut rules = BTreeMap::new();
        for step in &self.prediction.steps[..self.agreeing_steps()] {
            for rule in &step.rules {
                *rules.entry(*rule).or_default() += 1;
            }
        }
        rules
    }

    /// The rules the oracle applied up to and including the step that disagreed.
    pub(super) fn rules_up_to_disagreement(&self) -> Vec<Rule> {
        let Some(d) = &self.disagreement else {
            return Vec::new();
        };
        let mut rules: Vec<Rule> = self.prediction.steps[..d.step.min(self.prediction.steps.len())]
            .iter()
            .flat_map(|s| s.rules.iter().copied())
            .collect();
        rules.sort();
        rules.dedup();
        rules
    }
}

/// The run on `backend` among `runs`, if there is one.
pub(super) fn on(runs: &[Run], backend: Backend) -> Option<&Run> {
    runs.iter().find(|r| r.backend == backend)
}
