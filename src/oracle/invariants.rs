//! Properties every prediction must have, whatever the scenario: the model's own contract.
//!
//! They are checked by `cargo test` (proptest), by the `oracle` fuzz target and on every corpus
//! input. They are stated as Linux behaves, not as one might guess: after a write fails with
//! EPIPE, a later RST can still make the next write fail with ECONNRESET (so "EPIPE forever"
//! is *not* an invariant, "failing forever" is); and after `shutdown read` a read can return
//! EOF and later return bytes again.

use std::fmt;

use super::{PredictedStep, Prediction, predict};
use crate::outcome::{Errno, Outcome};
use crate::scenario::{Actor, Op, Scenario};
use crate::tcp::TcpState;

/// A broken invariant, at a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// 1-based step, or 0 for the scenario as a whole.
    pub step: usize,
    /// What is broken.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}", self.step, self.message)
    }
}

impl std::error::Error for Violation {}

/// Checks every invariant of `prediction`, which must be `predict(scenario)`.
///
/// ```
/// use rstlab::{oracle, Scenario};
/// let s: Scenario = "server abort; client write 1; client write 1".parse().unwrap();
/// assert_eq!(oracle::invariants::check(&s, &oracle::predict(&s)), Ok(()));
/// ```
pub fn check(scenario: &Scenario, prediction: &Prediction) -> Result<(), Violation> {
    let fail = |step: usize, message: String| Err(Violation { step, message });
    if prediction.steps.len() != scenario.steps().len() {
        return fail(0, "one prediction per step".into());
    }
    if predict(scenario) != *prediction {
        return fail(0, "the same scenario gave another prediction".into());
    }
    let mut write_failed = [false; 2];
    let mut resets_seen = [0u32; 2];
    let mut written = [0usize; 2];
    let mut read = [0usize; 2];
    let mut ended = [false; 2];
    for (i, (step, p)) in scenario.steps().iter().zip(&prediction.steps).enumerate() {
        let n = i + 1;
        let who = step.actor.index();
        if p.rules.is_empty() {
            return fail(n, "no rule decided this step".into());
        }
        if p.outcome == Outcome::Err(Errno::ECONNRESET) {
            resets_seen[who] += 1;
            if resets_seen[who] > 1 {
                return fail(n, format!("the {} sees ECONNRESET twice", step.actor));
            }
        }
        match (&step.op, &p.outcome) {
            (Op::Write(k), Outcome::Bytes(m)) => {
                if k != m {
                    return fail(n, format!("a write of {k} accepted {m}: writes are whole"));
                }
                if write_failed[who] {
                    return fail(n, "a write succeeded after an earlier write failed".into());
                }
                written[who] += m;
            }
            (Op::Write(_), Outcome::Err(_)) => write_failed[who] = true,
            (Op::Read(k), Outcome::Bytes(m)) => {
                read[who] += m;
                if m > k || read[who] > written[step.actor.peer().index()] {
                    return fail(n, "a read returned bytes nobody wrote".into());
                }
            }
            (Op::Read(_), Outcome::Err(e)) if ![Errno::EAGAIN, Errno::ECONNRESET].contains(e) => {
                return fail(n, format!("a read failed with {e}"));
            }
            (Op::Close | Op::Abort | Op::Sleep(_), o) if *o != Outcome::Ok => {
                return fail(n, format!("`{}` returned {o}", step.op));
            }
            _ => {}
        }
        ended[who] |= step.op.ends_socket();
        check_states(n, p, ended)?;
    }
    Ok(())
}

/// Open sockets settle in a state a quiescent connection can be in; closed ones have none.
fn check_states(step: usize, p: &PredictedStep, ended: [bool; 2]) -> Result<(), Violation> {
    for actor in Actor::BOTH {
        let state = p.states[actor.index()];
        let ok = match (ended[actor.index()], state) {
            (true, None) => true,
            (false, Some(s)) => matches!(
                s,
                TcpState::Established | TcpState::CloseWait | TcpState::FinWait2 | TcpState::Close
            ),
            _ => false,
        };
        if !ok {
            return Err(Violation {
                step,
                message: format!("the {actor} settles in {state:?}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, FileFailurePersistence};

    proptest! {
        #![proptest_config(Config {
            cases: 2000,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
                "proptest-regressions/oracle_invariants.txt",
            ))),
            ..Config::default()
        })]

        #[test]
        fn every_prediction_keeps_the_models_invariants(s in crate::generate::scenario()) {
            let p = predict(&s);
            prop_assert_eq!(check(&s, &p), Ok(()));
        }
    }

    #[test]
    fn a_write_after_epipe_can_still_report_econnreset() {
        let s: Scenario = "client shutdown write; client write 1; server abort; client write 1"
            .parse()
            .unwrap();
        let p = predict(&s);
        assert_eq!(p.steps[1].outcome, Outcome::Err(Errno::EPIPE));
        assert_eq!(p.steps[3].outcome, Outcome::Err(Errno::ECONNRESET));
        assert_eq!(check(&s, &p), Ok(()));
    }

    #[test]
    fn a_tampered_prediction_is_caught() {
        let s: Scenario = "server abort; client write 1; client write 1"
            .parse()
            .unwrap();
        let mut p = predict(&s);
        p.steps[2].outcome = Outcome::Err(Errno::ECONNRESET);
        assert!(check(&s, &p).is_err());
    }
}
