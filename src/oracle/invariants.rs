//! Properties every prediction must have, whatever the scenario: the model's own contract.
//!
//! They are checked by `cargo test` (proptest), by the `oracle` fuzz target and on every corpus
//! input. They are stated as Linux behaves, not as one might guess: after a write fails with
//! EPIPE, a later RST can still make the next write fail with ECONNRESET (so "EPIPE forever"
//! is *not* an invariant, "failing forever" is); and after `shutdown read` a read can return
//! EOF and later return bytes again.

use std::fmt;

use super::{PredictedStep, Prediction, predict};
use crate::outcome::{Errno, Outcome, PollEvents};
use crate::scenario::{End, LinkOp, Op, Scenario};
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

/// Checks every invariant of `prediction`, which must be `predict(scenario)`: first the
/// properties ([`check_properties`]), then that predicting again gives the same prediction.
///
/// ```
/// use rstlab::{oracle, Scenario};
/// let s: Scenario = "server abort; client write 1; client write 1".parse().unwrap();
/// assert_eq!(oracle::invariants::check(&s, &oracle::predict(&s, &rstlab::oracle::Settings::default())), Ok(()));
/// ```
pub fn check(scenario: &Scenario, prediction: &Prediction) -> Result<(), Violation> {
    check_with(scenario, prediction, &crate::oracle::Settings::default())
}

/// [`check`] for a prediction made with `settings` (`predict(scenario, settings)`).
pub fn check_with(
    scenario: &Scenario,
    prediction: &Prediction,
    settings: &crate::oracle::Settings,
) -> Result<(), Violation> {
    // The properties come first: a prediction that breaks one is reported for it, not merely
    // for differing from `predict` (which a tampered prediction always does).
    check_properties(scenario, prediction)?;
    if predict(scenario, settings) != *prediction {
        return Err(Violation {
            step: 0,
            message: "the same scenario gave another prediction".into(),
        });
    }
    Ok(())
}

/// Checks the properties every prediction of `scenario` must have, on `prediction` alone
/// (without predicting again): one prediction per step, a rule behind each, writes whole and
/// failing for good once failed, ECONNRESET at most once per side, reads returning only bytes
/// written and failing only with EAGAIN or ECONNRESET, `close`, `abort` and `sleep` always
/// `ok`, `poll` returning events `tcp_poll()` can return, `error` returning `ok`, ECONNRESET or
/// EPIPE, and every socket settled in a state a quiescent connection can be in.
pub fn check_properties(scenario: &Scenario, prediction: &Prediction) -> Result<(), Violation> {
    let fail = |step: usize, message: String| Err(Violation { step, message });
    if prediction.steps.len() != scenario.steps().len() {
        return fail(0, "one prediction per step".into());
    }
    let mut write_failed = [false; 2];
    let mut resets_seen = [0u32; 2];
    let mut written = [0usize; 2];
    let mut read = [0usize; 2];
    let mut ended = [false; 2];
    // Once the link has lost a segment, an end may wait for it for good.
    let mut lost = false;
    for (i, (step, p)) in scenario.steps().iter().zip(&prediction.steps).enumerate() {
        let n = i + 1;
        if p.rules.is_empty() {
            return fail(n, "no rule decided this step".into());
        }
        let Some(actor) = step.end() else {
            if p.outcome != Outcome::Ok {
                return fail(n, format!("`link {}` returned {}", step.op, p.outcome));
            }
            lost |= matches!(step.op, Op::Link(LinkOp::Drop | LinkOp::Cut));
            check_states(n, p, ended, lost)?;
            continue;
        };
        let who = actor.index();
        if p.outcome == Outcome::Err(Errno::ECONNRESET) {
            resets_seen[who] += 1;
            if resets_seen[who] > 1 {
                return fail(n, format!("the {} sees ECONNRESET twice", step.who));
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
                if m > k || read[who] > written[actor.peer().index()] {
                    return fail(n, "a read returned bytes nobody wrote".into());
                }
            }
            // ETIMEDOUT: a timer gave up (the kernel's own time).
            (Op::Read(_), Outcome::Err(e))
                if ![Errno::EAGAIN, Errno::ECONNRESET, Errno::ETIMEDOUT].contains(e) =>
            {
                return fail(n, format!("a read failed with {e}"));
            }
            (Op::Close | Op::Abort | Op::Sleep(_), o) if *o != Outcome::Ok => {
                return fail(n, format!("`{}` returned {o}", step.op));
            }
            (Op::Poll, Outcome::Ready(events)) => {
                if let Some(why) = impossible_events(*events) {
                    return fail(n, format!("poll returned {events}: {why}"));
                }
            }
            (Op::Poll, o) => return fail(n, format!("poll returned {o}, not events")),
            (Op::Error, o)
                if !matches!(
                    o,
                    Outcome::Ok | Outcome::Err(Errno::ECONNRESET | Errno::EPIPE | Errno::ETIMEDOUT)
                ) =>
            {
                return fail(n, format!("SO_ERROR returned {o}"));
            }
            _ => {}
        }
        ended[who] |= step.op.ends_socket();
        check_states(n, p, ended, lost)?;
    }
    Ok(())
}

/// Why `events` cannot come from `tcp_poll()` on a connected socket, if it cannot: OUT is
/// always there, no urgent data is ever sent, RDHUP comes with IN, and HUP with RDHUP.
fn impossible_events(events: PollEvents) -> Option<&'static str> {
    if !events.contains(PollEvents::OUT) {
        Some("a connected socket always reports OUT")
    } else if events.contains(PollEvents::PRI) {
        Some("no urgent data is ever sent")
    } else if events.contains(PollEvents::RDHUP) && !events.contains(PollEvents::IN) {
        Some("RDHUP comes with IN (a read returns EOF)")
    } else if events.contains(PollEvents::HUP) && !events.contains(PollEvents::RDHUP) {
        Some("HUP comes with RDHUP (both directions are shut)")
    } else {
        None
    }
}

/// Open sockets settle in a state a quiescent connection can be in (with segments still on the
/// link, or lost by it, also the states that wait for them); closed ones have none.
fn check_states(
    step: usize,
    p: &PredictedStep,
    ended: [bool; 2],
    lost: bool,
) -> Result<(), Violation> {
    for actor in End::BOTH {
        let state = p.states[actor.index()];
        let ok = match (ended[actor.index()], state) {
            (true, None) => true,
            (false, Some(s)) => {
                matches!(
                    s,
                    TcpState::Established
                        | TcpState::CloseWait
                        | TcpState::FinWait2
                        | TcpState::Close
                ) || ((p.in_flight > 0 || lost)
                    && matches!(
                        s,
                        TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck
                    ))
            }
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
            let p = predict(&s, &crate::oracle::Settings::default());
            prop_assert_eq!(check(&s, &p), Ok(()));
        }

        #[test]
        fn every_prediction_on_the_link_keeps_the_models_invariants(
            s in crate::generate::scenario_on(crate::net::Net::Link)
        ) {
            let p = predict(&s, &crate::oracle::Settings { net: Some(crate::net::Net::Link), ..Default::default() });
            prop_assert_eq!(&p.beyond, &None, "generated scenarios stay in the model");
            prop_assert_eq!(check_properties(&s, &p), Ok(()));
        }
    }

    #[test]
    fn a_write_after_epipe_can_still_report_econnreset() {
        let s: Scenario = "client shutdown write; client write 1; server abort; client write 1"
            .parse()
            .unwrap();
        let p = predict(&s, &crate::oracle::Settings::default());
        assert_eq!(p.steps[1].outcome, Outcome::Err(Errno::EPIPE));
        assert_eq!(p.steps[3].outcome, Outcome::Err(Errno::ECONNRESET));
        assert_eq!(check(&s, &p), Ok(()));
    }

    /// `text`'s prediction, tampered with by `tamper`: `check` must report `message` at `step`,
    /// and the untampered prediction must pass. Each invariant has its own tampering, which
    /// breaks it and no other, so deleting the invariant makes its test fail.
    fn caught(text: &str, tamper: impl FnOnce(&mut Prediction), step: usize, message: &str) {
        let s: Scenario = text.parse().unwrap();
        let mut p = predict(&s, &crate::oracle::Settings::default());
        assert_eq!(check(&s, &p), Ok(()), "{text}");
        tamper(&mut p);
        let v = check(&s, &p).expect_err("the tampered prediction passed");
        assert_eq!(v.step, step, "{text}: {v}");
        assert!(v.message.contains(message), "{text}: {v}");
    }

    #[test]
    fn a_missing_step_is_caught() {
        caught(
            "client write 1; server read 1",
            |p| drop(p.steps.pop()),
            0,
            "one prediction per step",
        );
    }

    #[test]
    fn a_prediction_that_changes_is_caught() {
        // Segments are in no property: only predicting again sees the change.
        caught(
            "server close",
            |p| p.steps[0].segments.clear(),
            0,
            "another prediction",
        );
    }

    #[test]
    fn a_step_without_a_rule_is_caught() {
        caught(
            "client write 1",
            |p| p.steps[0].rules.clear(),
            1,
            "no rule decided",
        );
    }

    #[test]
    fn econnreset_twice_is_caught() {
        caught(
            "server abort; client read 1; client read 1",
            |p| p.steps[2].outcome = Outcome::Err(Errno::ECONNRESET),
            3,
            "the client sees ECONNRESET twice",
        );
    }

    #[test]
    fn a_partial_write_is_caught() {
        caught(
            "client write 3",
            |p| p.steps[0].outcome = Outcome::Bytes(2),
            1,
            "writes are whole",
        );
    }

    #[test]
    fn a_write_succeeding_after_a_failed_one_is_caught() {
        caught(
            "server abort; client write 1; client write 1",
            |p| p.steps[2].outcome = Outcome::Bytes(1),
            3,
            "a write succeeded after an earlier write failed",
        );
    }

    #[test]
    fn a_read_of_bytes_nobody_wrote_is_caught() {
        caught(
            "client write 1; server read 5",
            |p| p.steps[1].outcome = Outcome::Bytes(2),
            2,
            "bytes nobody wrote",
        );
    }

    #[test]
    fn a_read_failing_with_another_error_is_caught() {
        caught(
            "client read 1",
            |p| p.steps[0].outcome = Outcome::Err(Errno::EPIPE),
            1,
            "a read failed with EPIPE",
        );
    }

    #[test]
    fn close_abort_or_sleep_failing_is_caught() {
        for op in ["close", "abort", "sleep 1ms"] {
            caught(
                &format!("client {op}"),
                |p| p.steps[0].outcome = Outcome::Err(Errno::ECONNRESET),
                1,
                &format!("`{op}` returned ECONNRESET"),
            );
        }
    }

    #[test]
    fn poll_events_tcp_poll_cannot_return_are_caught() {
        let events =
            |e: PollEvents| move |p: &mut Prediction| p.steps[0].outcome = Outcome::Ready(e);
        let (i, o, r, h) = (
            PollEvents::IN,
            PollEvents::OUT,
            PollEvents::RDHUP,
            PollEvents::HUP,
        );
        caught("client poll", events(i), 1, "always reports OUT");
        caught("client poll", events(o | PollEvents::PRI), 1, "urgent");
        caught("client poll", events(o | r), 1, "RDHUP comes with IN");
        caught("client poll", events(i | o | h), 1, "HUP comes with RDHUP");
        caught(
            "client poll",
            |p| p.steps[0].outcome = Outcome::Ok,
            1,
            "poll returned ok, not events",
        );
    }

    #[test]
    fn so_error_returning_another_error_is_caught() {
        caught(
            "client error",
            |p| p.steps[0].outcome = Outcome::Err(Errno::EAGAIN),
            1,
            "SO_ERROR returned EAGAIN",
        );
    }

    #[test]
    fn a_socket_settling_in_a_passing_state_or_a_closed_one_with_a_state_is_caught() {
        let settles = |actor: usize, state: Option<TcpState>| {
            move |p: &mut Prediction| p.steps[0].states[actor] = state
        };
        caught(
            "client write 1",
            settles(1, Some(TcpState::FinWait1)),
            1,
            "the server settles in",
        );
        caught(
            "client write 1",
            settles(0, None),
            1,
            "the client settles in None",
        );
        caught(
            "server close",
            settles(1, Some(TcpState::Close)),
            1,
            "the server settles in",
        );
    }
}
