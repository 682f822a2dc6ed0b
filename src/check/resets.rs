//! The RSTs of a run, the oracle's reasons beside the kernel's.
//!
//! The kernel's reasons come as one list per run, in the order sent ([`Resets`]); the oracle's
//! are on its segments, step by step. They are paired in order: the k-th RST the oracle
//! predicted with the k-th the kernel stated. Where both agree, each stated reason belongs to
//! the step of its prediction; the first pair that differs (another sender, another reason, or
//! one RST more on either side) is a disagreement at the step of the predicted RST (for an RST
//! the oracle did not predict: the last step run). The server's listener is the exception: its
//! RSTs name no peer, so one the oracle did not predict may be an older connection's, and is
//! left out.

use serde::{Deserialize, Serialize};

use crate::oracle::{Prediction, SegmentKind};
use crate::reasons::{Expected, Missing, Resets, RstReason, StatedReset};
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
    /// Whose kernel sent it: the kernel's word where it has one, else the oracle's.
    pub fn from(&self) -> Option<End> {
        self.stated
            .as_ref()
            .map(|s| s.from)
            .or(self.predicted.map(|p| p.from))
    }

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
    Some(pair_run(prediction, trace, trace.resets.stated()?))
}

/// The run's RSTs paired in order for showing: with the kernel's reasons where they were
/// recorded (also those of a kernel that states only some, shown but not checked), with the
/// oracle's alone where not.
pub fn shown(prediction: &Prediction, trace: &Trace) -> Vec<ResetPair> {
    let stated: &[StatedReset] = match &trace.resets {
        Resets::Stated(s) | Resets::Missing(Missing::Incomplete(s)) => s,
        Resets::Missing(_) => &[],
    };
    pair_run(prediction, trace, stated)
}

fn pair_run(prediction: &Prediction, trace: &Trace, stated: &[StatedReset]) -> Vec<ResetPair> {
    let predicted = predicted(prediction, trace.steps.len());
    pair(&predicted, stated, trace.steps.len().saturating_sub(1))
}

/// The RSTs `predicted` ([`predicted`]) paired in order with those the kernel `stated` (see the
/// [module](self)); an RST the oracle did not predict goes to step `last` (0-based).
pub fn pair(
    predicted: &[(usize, PredictedReset)],
    stated: &[StatedReset],
    last: usize,
) -> Vec<ResetPair> {
    // The server's listening socket answers segments of any connection it no longer has, and
    // its event names no peer: one that answers an older connection's straggler (an orphan's
    // FIN sent again, long after) cannot be told from this connection's. So the listener's
    // RSTs pair only with the listener's RSTs the oracle predicts, and one more of them is not
    // this connection's; every other RST pairs in order, and one more is a disagreement.
    let (mut listener, mut others): (Vec<&StatedReset>, Vec<&StatedReset>) =
        stated.iter().partition(|s| is_listeners(s));
    listener.reverse();
    others.reverse();
    let mut pairs: Vec<ResetPair> = Vec::with_capacity(predicted.len());
    for (k, (step, p)) in predicted.iter().enumerate() {
        // A NO_SOCKET just after is the crossing's only when the oracle predicts none next.
        let no_socket_next = predicted
            .get(k + 1)
            .is_some_and(|(_, n)| n.from == p.from && n.reason.admits(RstReason::NoSocket.name()));
        let from_listener = p.from == End::Server && p.reason.reason == RstReason::TcpFlags;
        // The peer's delayed ACK that crossed an active reset: one NO_SOCKET from the same end,
        // just before it or just after it ([`Expected::crossed`]), admitted beside it.
        let crossing = |s: Option<&&StatedReset>| {
            p.reason.crossed
                && s.is_some_and(|s| s.from == p.from && s.reason == RstReason::NoSocket.name())
        };
        let admitted = |s: &StatedReset| ResetPair {
            step: *step,
            predicted: Some(PredictedReset {
                reason: RstReason::NoSocket.into(),
                ..*p
            }),
            stated: Some(s.clone()),
        };
        let before = !from_listener && crossing(others.last());
        if before {
            let crossed = others.pop().expect("just seen");
            pairs.push(admitted(crossed));
        }
        let next = if from_listener {
            listener.pop()
        } else {
            others.pop()
        };
        pairs.push(ResetPair {
            step: *step,
            predicted: Some(*p),
            stated: next.cloned(),
        });
        if !from_listener && !before && !no_socket_next && crossing(others.last()) {
            let crossed = others.pop().expect("just seen");
            pairs.push(admitted(crossed));
        }
    }
    pairs.extend(others.into_iter().rev().map(|s| ResetPair {
        step: last,
        predicted: None,
        stated: Some(s.clone()),
    }));
    pairs
}

/// Whether the server's listening socket sent it (the event shows its state).
fn is_listeners(reset: &StatedReset) -> bool {
    reset.from == End::Server && reset.state == "TCP_LISTEN"
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
                state: if p.reason.reason == RstReason::TcpFlags {
                    "TCP_LISTEN"
                } else {
                    "TCP_CLOSE"
                }
                .to_string(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::{Settings, predict};
    use crate::run::Backend;

    fn extra(from: End, reason: &str, state: &str) -> StatedReset {
        StatedReset {
            from,
            reason: reason.into(),
            state: state.into(),
        }
    }

    #[test]
    fn a_delayed_ack_that_crosses_an_abort_may_draw_one_no_socket_beside_it() {
        // Loopback: the server delays the ACK of the client's FIN; the client aborts.
        let s: crate::Scenario = "client shutdown write; client abort".parse().unwrap();
        let p = predict(
            &s,
            &Settings {
                net: Some(crate::run::Net::Loopback),
                ..Settings::default()
            },
        );
        let abort = predicted(&p, 2);
        assert_eq!(abort.len(), 1);
        assert!(abort[0].1.reason.crossed, "{abort:?}");
        let t = crate::check::predicted_trace(&p, Backend::Std);
        assert_eq!(first_difference(&p, &t), None);
        let no_socket = extra(End::Client, "NO_SOCKET", "UNKNOWN");
        for at in [0, 1] {
            let mut t = crate::check::predicted_trace(&p, Backend::Std);
            let Resets::Stated(stated) = &mut t.resets else {
                unreachable!()
            };
            stated.insert(at, no_socket.clone());
            assert_eq!(first_difference(&p, &t), None, "NO_SOCKET at {at}");
            assert_eq!(pairs(&p, &t).unwrap().len(), 2);
        }
        // One, not two; and never from the other end.
        let mut t = crate::check::predicted_trace(&p, Backend::Std);
        let Resets::Stated(stated) = &mut t.resets else {
            unreachable!()
        };
        stated.insert(0, no_socket.clone());
        stated.push(no_socket.clone());
        assert!(first_difference(&p, &t).is_some());
        let mut t = crate::check::predicted_trace(&p, Backend::Std);
        let Resets::Stated(stated) = &mut t.resets else {
            unreachable!()
        };
        stated.insert(0, extra(End::Server, "NO_SOCKET", "UNKNOWN"));
        assert!(first_difference(&p, &t).is_some());
        // Without a FIN whose ACK is owed, an abort is not crossed.
        let s: crate::Scenario = "client abort".parse().unwrap();
        let p = predict(&s, &Settings::default());
        assert!(!predicted(&p, 1)[0].1.reason.crossed);
    }

    #[test]
    fn an_unpredicted_listener_rst_is_not_the_connections_but_any_other_is() {
        let s: crate::Scenario = "server abort; client write 1".parse().unwrap();
        let p = predict(&s, &Settings::default());
        let mut t = crate::check::predicted_trace(&p, Backend::Std);
        assert_eq!(first_difference(&p, &t), None);
        let Resets::Stated(stated) = &mut t.resets else {
            unreachable!()
        };
        // An older connection's straggler met the listener before this connection's RST.
        stated.insert(0, extra(End::Server, "TCP_FLAGS", "TCP_LISTEN"));
        assert_eq!(first_difference(&p, &t), None);
        let Resets::Stated(stated) = &mut t.resets else {
            unreachable!()
        };
        stated.push(extra(End::Client, "NO_SOCKET", "UNKNOWN"));
        let (index, pair) = first_difference(&p, &t).expect("one RST more");
        assert_eq!((index, pair.predicted), (1, None));
    }
}
