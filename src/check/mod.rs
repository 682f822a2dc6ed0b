//! Comparing what the kernel did ([`Trace`]) with what the oracle said ([`Prediction`]) and with
//! the scenario's own `=>` expectations.
//!
//! The kernel is the judge: a mismatch is reported as the oracle's (or the expectation's) error,
//! with both values, at the first step where it appears.

pub mod report;
pub mod resets;
pub mod verify;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::net::link::{Flags, WireSegment};
use crate::oracle::{PredictedStep, Prediction, SegmentKind};
use crate::outcome::Outcome;
use crate::reasons::StatedReset;
use crate::run::{Net, ObservedStep, Timeout, Trace};
use crate::scenario::{End, Scenario, Step};
use crate::tcp::TcpState;

/// A segment as the check compares it: who sent it and what it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The sender.
    pub from: End,
    /// Data, FIN or RST.
    pub kind: SegmentKind,
}

impl fmt::Display for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            SegmentKind::Data(n) => format!("{n} bytes of data"),
            SegmentKind::Fin => "FIN".to_string(),
            SegmentKind::Rst => "RST".to_string(),
        };
        write!(f, "the {} sends {what}", self.from)
    }
}

/// What the wire shows of segments, in the check's terms: a data segment that carries a FIN is
/// its data, then its FIN; pure ACKs are left out.
pub fn sent_on_wire(wire: &[WireSegment]) -> Vec<Sent> {
    let mut out = Vec::new();
    for s in wire {
        if s.len > 0 {
            out.push(Sent {
                from: s.from,
                kind: SegmentKind::Data(s.len),
            });
        }
        for (bit, kind) in [
            (Flags::FIN, SegmentKind::Fin),
            (Flags::RST, SegmentKind::Rst),
        ] {
            if s.flags.has(bit) {
                out.push(Sent { from: s.from, kind });
            }
        }
    }
    out
}

/// One way a step's observation differs from what was predicted or expected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mismatch {
    /// The syscall returned something else than the oracle predicted.
    Outcome {
        /// The oracle's outcome.
        predicted: Outcome,
        /// The kernel's.
        observed: Outcome,
    },
    /// The step's `=>` expectation does not hold.
    Expectation {
        /// What the scenario says.
        expected: Outcome,
        /// The kernel's.
        observed: Outcome,
    },
    /// A socket the application holds settled in another TCP state than the oracle predicted.
    State {
        /// Whose socket.
        actor: End,
        /// The oracle's state (`None`: the application no longer holds it).
        predicted: Option<TcpState>,
        /// The kernel's.
        observed: Option<TcpState>,
    },
    /// The connection never became quiescent: the step has no trustworthy result.
    Timeout(Timeout),
    /// On the link, the segments sent during the step differ: the first difference.
    Wire {
        /// Its position among the step's segments (0-based).
        index: usize,
        /// The oracle's segment there (`None`: it predicted no more).
        predicted: Option<Sent>,
        /// The wire's (`None`: no more crossed).
        observed: Option<Sent>,
    },
    /// The RSTs differ: another sender or another reason than the kernel stated
    /// ([`resets`]), or one more on either side.
    Reset {
        /// Its position among the run's RSTs (0-based).
        index: usize,
        /// The oracle's RST there (`None`: it predicted no more).
        predicted: Option<resets::PredictedReset>,
        /// The kernel's (`None`: it sent no more). Boxed: the other mismatches are small.
        stated: Option<Box<StatedReset>>,
    },
    /// The oracle does not follow the scenario this far (see [`crate::oracle::Beyond`]).
    Beyond {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = |s: &Option<TcpState>| s.map_or("closed".to_string(), |s| s.to_string());
        match self {
            Mismatch::Outcome {
                predicted,
                observed,
            } => write!(
                f,
                "the oracle predicted {predicted}, the kernel returned {observed}"
            ),
            Mismatch::Expectation { expected, observed } => {
                write!(
                    f,
                    "the scenario expects {expected}, the kernel returned {observed}"
                )
            }
            Mismatch::State {
                actor,
                predicted,
                observed,
            } => write!(
                f,
                "the oracle predicted the {actor} in {}, the kernel shows {}",
                state(predicted),
                state(observed)
            ),
            Mismatch::Timeout(t) => write!(f, "{t}"),
            Mismatch::Wire {
                index,
                predicted,
                observed,
            } => {
                let say =
                    |s: &Option<Sent>| s.map_or("nothing more".to_string(), |s| s.to_string());
                write!(
                    f,
                    "segment {}: the oracle predicted {}, the wire shows {}",
                    index + 1,
                    say(predicted),
                    say(observed)
                )
            }
            Mismatch::Reset {
                index,
                predicted,
                stated,
            } => {
                let p = predicted.map_or("no more RSTs".to_string(), |p| p.to_string());
                let s = stated
                    .as_ref()
                    .map_or("no more".to_string(), ToString::to_string);
                write!(
                    f,
                    "RST {}: the oracle predicted {p}, the kernel stated {s}",
                    index + 1
                )
            }
            Mismatch::Beyond { reason } => write!(f, "the oracle stops here: {reason}"),
        }
    }
}

/// The first step at which the kernel disagrees with the oracle or with the scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disagreement {
    /// 1-based step number.
    pub step: usize,
    /// The step, in the language.
    pub text: String,
    /// What differs.
    pub mismatch: Mismatch,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} `{}`: {}", self.step, self.text, self.mismatch)
    }
}

/// The RST mismatch of a run ([`resets::first_difference`]) and the step (0-based) it belongs to.
pub fn reset_mismatch(prediction: &Prediction, trace: &Trace) -> Option<(usize, Mismatch)> {
    resets::first_difference(prediction, trace).map(|(index, pair)| {
        (
            pair.step,
            Mismatch::Reset {
                index,
                predicted: pair.predicted,
                stated: pair.stated.map(Box::new),
            },
        )
    })
}

/// Everything that differs in one step; empty when the step agrees. `wire` is what crossed the
/// link during the step (`None` on loopback, where nothing is recorded). The run's RSTs are
/// compared as a whole ([`reset_mismatch`]).
pub fn step_mismatches(
    step: &Step,
    predicted: &PredictedStep,
    observed: &ObservedStep,
    wire: Option<&[WireSegment]>,
) -> Vec<Mismatch> {
    let mut found = Vec::new();
    if predicted.outcome != observed.outcome {
        found.push(Mismatch::Outcome {
            predicted: predicted.outcome.clone(),
            observed: observed.outcome.clone(),
        });
    }
    if let Some(expected) = &step.expect
        && *expected != observed.outcome
    {
        found.push(Mismatch::Expectation {
            expected: expected.clone(),
            observed: observed.outcome.clone(),
        });
    }
    for actor in End::BOTH {
        let (p, o) = (
            predicted.states[actor.index()],
            observed.states[actor.index()],
        );
        if !same_settled_state(p, o) {
            found.push(Mismatch::State {
                actor,
                predicted: p,
                observed: o,
            });
        }
    }
    if let Some(wire) = wire {
        let predicted: Vec<Sent> = predicted
            .segments
            .iter()
            .map(|s| Sent {
                from: s.from,
                kind: s.kind,
            })
            .collect();
        let observed = sent_on_wire(wire);
        if predicted != observed {
            let index = predicted
                .iter()
                .zip(&observed)
                .take_while(|(p, o)| p == o)
                .count();
            found.push(Mismatch::Wire {
                index,
                predicted: predicted.get(index).copied(),
                observed: observed.get(index).copied(),
            });
        }
    }
    found
}

/// Whether an observed state is the predicted one, once the only thing left in flight is an
/// ACK the peer is allowed to delay.
///
/// Linux delays the ACK of a FIN by up to 40 ms (`tcp_fin()` enters pingpong mode), so a socket
/// that sent FIN may still be in FIN_WAIT1 when the oracle, which treats that ACK as sent,
/// says FIN_WAIT2. The runner has already checked that the peer processed the FIN; every op of
/// the language behaves the same in both states (`tcp_sendmsg_locked()`, `tcp_recvmsg_locked()`,
/// `tcp_close_state()`, `tcp_need_reset()`, and an arriving FIN carries the missing ACK).
pub fn same_settled_state(predicted: Option<TcpState>, observed: Option<TcpState>) -> bool {
    predicted == observed
        || (predicted == Some(TcpState::FinWait2) && observed == Some(TcpState::FinWait1))
}

/// Compares a run with the oracle's prediction and the scenario's expectations.
///
/// ```
/// use rstlab::run::{Backend, Runner};
/// use rstlab::{check, oracle, Scenario};
/// let s: Scenario = "server abort; client write 1 => ECONNRESET".parse().unwrap();
/// let trace = Runner::new(Backend::Std).unwrap().run(&s).unwrap();
/// assert_eq!(check::check(&s, &oracle::predict(&s, &rstlab::oracle::Settings::default()), &trace), None);
/// ```
pub fn check(scenario: &Scenario, prediction: &Prediction, trace: &Trace) -> Option<Disagreement> {
    let steps = scenario.steps();
    let mut reset = reset_mismatch(prediction, trace);
    for (i, observed) in trace.steps.iter().enumerate() {
        let Some(predicted) = prediction.steps.get(i) else {
            let reason = prediction
                .beyond
                .as_ref()
                .map_or_else(|| "no prediction".to_string(), |b| b.reason.to_string());
            return Some(Disagreement {
                step: i + 1,
                text: steps[i].to_string(),
                mismatch: Mismatch::Beyond { reason },
            });
        };
        let wire = (trace.net == Net::Link).then(|| trace.wire_of(i));
        // A step whose wait for quiescence timed out has an outcome but no settled states and
        // no complete wire: those are not observations, and the timeout below is the finding.
        let unsettled = trace.timeout.is_some() && i + 1 == trace.steps.len();
        let mut found = step_mismatches(&steps[i], predicted, observed, wire);
        if reset.as_ref().is_some_and(|(step, _)| *step == i) {
            found.extend(reset.take().map(|(_, m)| m));
        }
        if let Some(mismatch) = found
            .into_iter()
            .find(|m| !(unsettled && matches!(m, Mismatch::State { .. } | Mismatch::Wire { .. })))
        {
            return Some(Disagreement {
                step: i + 1,
                text: steps[i].to_string(),
                mismatch,
            });
        }
    }
    if let Some(timeout) = &trace.timeout {
        let step = trace.steps.len().max(1);
        return Some(Disagreement {
            step,
            text: steps
                .get(step - 1)
                .map_or_else(String::new, Step::to_string),
            mismatch: Mismatch::Timeout(timeout.clone()),
        });
    }
    None
}

/// A loopback trace in which the kernel did exactly what `prediction` says (no wire, no
/// timeout, every RST's reason stated as predicted): for testing what is built from traces
/// (reports, checks, the book) without sockets.
///
/// ```
/// use rstlab::run::Backend;
/// let s: rstlab::Scenario = "server close; client write 1".parse().unwrap();
/// let p = rstlab::oracle::predict(&s, &rstlab::oracle::Settings::default());
/// let t = rstlab::check::predicted_trace(&p, Backend::Std);
/// assert_eq!(rstlab::check::check(&s, &p, &t), None);
/// ```
pub fn predicted_trace(prediction: &Prediction, backend: crate::run::Backend) -> Trace {
    Trace {
        backend,
        net: Net::Loopback,
        steps: prediction
            .steps
            .iter()
            .map(|p| ObservedStep {
                outcome: p.outcome.clone(),
                states: p.states,
                note: None,
                wire_end: 0,
                time: std::time::Duration::ZERO,
            })
            .collect(),
        timeout: None,
        client: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        server: std::net::SocketAddr::from(([127, 0, 0, 1], 2)),
        wire: Vec::new(),
        resets: resets::as_predicted(prediction),
        packets: Vec::new(),
        interrupted: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::predict;
    use crate::run::Backend;
    use std::time::Duration;

    fn trace_of(s: &Scenario, steps: usize, timeout: Option<Timeout>) -> Trace {
        let mut trace = predicted_trace(
            &predict(s, &crate::oracle::Settings::default()),
            Backend::Std,
        );
        trace.steps.truncate(steps);
        trace.timeout = timeout;
        trace
    }

    #[test]
    fn a_timed_out_wait_is_a_disagreement_never_an_agreement() {
        let s: Scenario = "client write 1; server read 1".parse().unwrap();
        let timeout = Timeout {
            waited: Duration::from_secs(2),
            last_seen: "client open ESTABLISHED (1 unacked, 0 unsent)".into(),
        };
        let mut trace = trace_of(&s, 1, Some(timeout.clone()));
        let d = check(
            &s,
            &predict(&s, &crate::oracle::Settings::default()),
            &trace,
        )
        .expect("a timeout disagrees");
        assert_eq!(d.step, 1);
        assert_eq!(d.mismatch, Mismatch::Timeout(timeout.clone()));
        // The runner records no states for a step that never settled: that is the timeout,
        // not a socket found closed.
        trace.steps[0].states = [None, None];
        let d = check(
            &s,
            &predict(&s, &crate::oracle::Settings::default()),
            &trace,
        )
        .expect("a timeout disagrees");
        assert_eq!(d.mismatch, Mismatch::Timeout(timeout));
        // Its outcome was observed, and a wrong one is still reported as such.
        trace.steps[0].outcome = Outcome::Bytes(2);
        let d = check(
            &s,
            &predict(&s, &crate::oracle::Settings::default()),
            &trace,
        )
        .unwrap();
        assert!(matches!(d.mismatch, Mismatch::Outcome { .. }), "{d}");
    }

    #[test]
    fn the_first_differing_step_is_reported_with_both_outcomes() {
        let s: Scenario = "server close; client write 1; client write 1"
            .parse()
            .unwrap();
        let mut trace = trace_of(&s, 3, None);
        assert_eq!(
            check(
                &s,
                &predict(&s, &crate::oracle::Settings::default()),
                &trace
            ),
            None
        );
        trace.steps[2].outcome = Outcome::Bytes(1);
        let d = check(
            &s,
            &predict(&s, &crate::oracle::Settings::default()),
            &trace,
        )
        .unwrap();
        assert_eq!(d.step, 3);
        assert!(
            d.to_string()
                .contains("predicted EPIPE, the kernel returned ok(1)"),
            "{d}"
        );
    }

    #[test]
    fn an_expectation_is_checked_against_the_kernel() {
        let s: Scenario = "server abort; client write 1 => EPIPE".parse().unwrap();
        let trace = trace_of(&s, 2, None);
        let d = check(
            &s,
            &predict(&s, &crate::oracle::Settings::default()),
            &trace,
        )
        .unwrap();
        assert!(matches!(d.mismatch, Mismatch::Expectation { .. }), "{d}");
    }
}
