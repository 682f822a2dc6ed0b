//! The RSTs of a run, the oracle's reasons beside the kernel's.
//!
//! The kernel's reasons come as one list per run, in the order sent ([`Resets`]); the oracle's
//! are on its segments, step by step. They are paired in order: the k-th RST the oracle
//! predicted with the k-th the kernel stated. Where both agree, each stated reason belongs to
//! the step of its prediction; the first pair that differs (another sender, another reason, or
//! one RST more on either side) is a disagreement at the step of the predicted RST (for an RST
//! the oracle did not predict: the last step run).

use serde::{Deserialize, Serialize};

use crate::oracle::{Prediction, SegmentKind};
use crate::reasons::{Expected, Missing, Resets, StatedReset};
use crate::run::Trace;
use crate::scenario::End;

/// An RST the oracle predicted, with its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictedReset {
    /// Whose kernel sends it.
    pub from: End,
    /// Why.
    pub reason: Expected,
    /// The rule that sent it.
    pub rule: crate::rules::Rule,
}

impl std::fmt::Display for PredictedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an RST from the {} ({})", self.from, self.reason)
    }
}

/// The k-th RST of a run: the oracle's and the kernel's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResetPair {
    /// The step (0-based) of the prediction, or the last step run for an RST the oracle did not
    /// predict.
    pub step: usize,
    /// The oracle's (`None`: it predicted no more).
    pub predicted: Option<PredictedReset>,
    /// The kernel's (`None`: it sent no more; or the reasons were not recorded).
    pub stated: Option<StatedReset>,
}

impl ResetPair {
    /// Whether both name the same sender and reason.
    pub fn agrees(&self) -> bool {
        match (&self.predicted, &self.stated) {
            (Some(p), Some(s)) => p.from == s.from && p.reason.admits(&s.reason),
            _ => false,
        }
    }
}

/// The RSTs the oracle predicted for the steps that ran, in order, with their steps (0-based).
pub fn predicted(prediction: &Prediction, steps_run: usize) -> Vec<(usize, PredictedReset)> {
    prediction
        .steps
        .iter()
        .take(steps_run)
        .enumerate()
        .flat_map(|(i, step)| {
            step.segments
                .iter()
                .filter_map(move |s| match (s.kind, s.reason) {
                    (SegmentKind::Rst, Some(reason)) => Some((
                        i,
                        PredictedReset {
                            from: s.from,
                            reason,
                            rule: s.rule,
                        },
                    )),
                    _ => None,
                })
        })
        .collect()
}

/// The run's RSTs paired in order; `None` when the kernel's reasons were not recorded (then
/// only the oracle's can be shown, [`predicted`]).
pub fn pairs(prediction: &Prediction, trace: &Trace) -> Option<Vec<ResetPair>> {
    Some(pair(prediction, trace, trace.resets.stated()?))
}

/// The run's RSTs paired in order for showing: with the kernel's reasons where they were
/// recorded (also those of a kernel that states only some, shown but not checked), with the
/// oracle's alone where not.
pub fn shown(prediction: &Prediction, trace: &Trace) -> Vec<ResetPair> {
    let stated: &[StatedReset] = match &trace.resets {
        Resets::Stated(s) | Resets::Missing(Missing::Incomplete(s)) => s,
        Resets::Missing(_) => &[],
    };
    pair(prediction, trace, stated)
}

fn pair(prediction: &Prediction, trace: &Trace, stated: &[StatedReset]) -> Vec<ResetPair> {
    let predicted = predicted(prediction, trace.steps.len());
    let last = trace.steps.len().saturating_sub(1);
    (0..predicted.len().max(stated.len()))
        .map(|k| ResetPair {
            step: predicted.get(k).map_or(last, |(step, _)| *step),
            predicted: predicted.get(k).map(|(_, p)| *p),
            stated: stated.get(k).cloned(),
        })
        .collect()
}

/// The first pair that differs, with its position among the run's RSTs (0-based).
pub fn first_difference(prediction: &Prediction, trace: &Trace) -> Option<(usize, ResetPair)> {
    if trace.timeout.is_some() {
        // A step that never settled may have sent what its prediction says later.
        return None;
    }
    pairs(prediction, trace)?
        .into_iter()
        .enumerate()
        .find(|(_, p)| !p.agrees())
}

/// What [`Resets`] holds for a run in which the kernel did what the oracle predicted.
pub fn as_predicted(prediction: &Prediction) -> Resets {
    Resets::Stated(
        predicted(prediction, prediction.steps.len())
            .into_iter()
            .map(|(_, p)| StatedReset {
                from: p.from,
                reason: p.reason.reason.name().to_string(),
                state: "TCP_CLOSE".to_string(),
            })
            .collect(),
    )
}
