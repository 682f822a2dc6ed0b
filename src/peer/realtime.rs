//! Playing a scenario on the real-time link ([`crate::net::relay`], `rstlab exec`): which `link` steps
//! make sense when time is real, and what the oracle predicts of the peer's timeline.
//!
//! The peer sees a `client` step when it *arrives*: one delay after your program made the call.
//! It makes its own calls at once. So on a link with delay `d`, the scenario as the peer plays it
//! is, in the oracle's virtual time: the link's delay, then the steps, with a pause of `d` after
//! every run of `client` steps the peer waits for. [`predict`] asks the oracle about exactly
//! that. Your program's calls are taken to come the moment the peer reached the step before
//! (the earliest the story allows); a call made later may meet a FIN or RST that arrived
//! meanwhile, which the wire trace shows.

use std::time::Duration;

use crate::oracle::{self, Beyond, Prediction};
use crate::scenario::{End, LinkOp, Op, Scenario, Step, Who};

/// The 0-based index of a step the peer cannot play on the real-time link, and why; `delay` is
/// the link's delay before the first step.
pub(super) fn refusal(scenario: &Scenario, delay: Duration) -> Option<(usize, String)> {
    let mut delay = delay;
    let mut held_at: Option<usize> = None;
    let mut cut_at: Option<usize> = None;
    for (i, step) in scenario.steps().iter().enumerate() {
        match (&step.who, &step.op) {
            (Who::Link, Op::Link(LinkOp::Delay(d))) => delay = *d,
            (Who::Link, Op::Link(LinkOp::Hold)) => held_at = held_at.or(Some(i)),
            (Who::Link, Op::Link(LinkOp::Release)) => held_at = None,
            (Who::Link, Op::Link(LinkOp::Cut)) => cut_at = cut_at.or(Some(i)),
            (Who::Link, Op::Link(LinkOp::Restore)) => cut_at = None,
            (Who::Link, Op::Link(LinkOp::Drop)) if delay.is_zero() && held_at.is_none() => {
                return Some((
                    i,
                    "with no delay and nothing held, a segment crosses the real-time link within microseconds, so what `link drop` catches would be a matter of chance; give the link a delay first (`--delay`, `link delay`) or `link hold`"
                        .to_string(),
                ));
            }
            (Who::Client, op) if !matches!(op, Op::Sleep(_)) => {
                if let Some(at) = cut_at {
                    return Some((
                        i,
                        format!(
                            "the link loses every segment from `link cut` (step {}) until a `link restore`, and the peer sees your program's steps when they arrive: this one could not arrive",
                            at + 1
                        ),
                    ));
                }
                if let Some(at) = held_at {
                    return Some((
                        i,
                        format!(
                            "the link holds every segment from `link hold` (step {}) until a `link release`, and the peer sees your program's steps when they arrive: this one could not arrive",
                            at + 1
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// The oracle's prediction of `scenario` as the peer plays it on a link whose delay is `delay`
/// before the first step (see the [module](self)): one entry per step of `scenario`.
pub(super) fn predict(scenario: &Scenario, delay: Duration) -> Prediction {
    let mut timeline = Vec::with_capacity(scenario.steps().len() * 2 + 1);
    if !delay.is_zero() {
        timeline.push(Step::link(LinkOp::Delay(delay)));
    }
    let mut delay = delay;
    let mut waiting = false;
    // Where each step of `scenario` is in the timeline.
    let mut at = Vec::with_capacity(scenario.steps().len());
    for step in scenario.steps() {
        let awaited = step.who == End::Client && !matches!(step.op, Op::Sleep(_));
        if waiting && !awaited && !delay.is_zero() {
            // The peer's wait for the client's last step to arrive.
            timeline.push(Step::new(End::Server, Op::Sleep(delay)));
        }
        waiting = awaited;
        if let Op::Link(LinkOp::Delay(d)) = step.op {
            delay = d;
        }
        at.push(timeline.len());
        timeline.push(step.clone());
    }
    let timeline = match Scenario::new(timeline) {
        Ok(s) => s,
        Err(e) => {
            return Prediction {
                steps: Vec::new(),
                beyond: Some(Beyond {
                    step: 1,
                    reason: crate::oracle::Limit::Bounds(e.to_string()),
                }),
            };
        }
    };
    let full = oracle::predict(
        &timeline,
        &oracle::Settings {
            net: Some(crate::run::Net::Link),
            ..oracle::Settings::default()
        },
    );
    let steps: Vec<_> = at
        .iter()
        .map_while(|&t| full.steps.get(t).cloned())
        .collect();
    let beyond = full.beyond.map(|b| Beyond {
        // The first step of the scenario at or after the timeline's step where the model stops.
        step: at.iter().position(|&t| t + 1 >= b.step).unwrap_or(at.len()) + 1,
        reason: b.reason,
    });
    Prediction { steps, beyond }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Errno, Outcome};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn client_steps_while_the_link_holds_are_refused() {
        let s: Scenario = "link hold; server write 1; client write 1; link release"
            .parse()
            .unwrap();
        let (i, why) = refusal(&s, ms(10)).unwrap();
        assert_eq!(i, 2);
        assert!(why.contains("(step 1)"), "{why}");
        let s: Scenario = "link hold; client sleep 5ms; link release; client write 1"
            .parse()
            .unwrap();
        assert_eq!(refusal(&s, ms(10)), None);
    }

    #[test]
    fn client_steps_while_the_link_is_cut_are_refused() {
        let s: Scenario = "link cut; server write 1; client write 1; link restore"
            .parse()
            .unwrap();
        let (i, why) = refusal(&s, Duration::ZERO).unwrap();
        assert_eq!(i, 2);
        assert!(why.contains("`link cut` (step 1)"), "{why}");
        let s: Scenario =
            "link cut; server write 1; client sleep 5ms; link restore; client write 1"
                .parse()
                .unwrap();
        assert_eq!(refusal(&s, ms(10)), None);
    }

    #[test]
    fn a_cut_loses_what_the_peer_sends_until_the_restore() {
        let s: Scenario = "link cut; server write 3; link restore; server write 1"
            .parse()
            .unwrap();
        let p = predict(&s, ms(20));
        assert_eq!(p.beyond, None);
        assert_eq!(p.steps[1].in_flight, 0, "{p:?}");
        assert_eq!(p.steps[3].in_flight, 1, "{p:?}");
    }

    #[test]
    fn a_drop_with_nothing_delayed_or_held_is_refused() {
        let s: Scenario = "server write 1; link drop".parse().unwrap();
        assert_eq!(refusal(&s, Duration::ZERO).map(|r| r.0), Some(1));
        assert_eq!(refusal(&s, ms(20)), None);
        let s: Scenario = "link delay 5ms; server write 1; link drop".parse().unwrap();
        assert_eq!(refusal(&s, Duration::ZERO), None);
        let s: Scenario = "link hold; server write 1; link drop".parse().unwrap();
        assert_eq!(refusal(&s, Duration::ZERO), None);
    }

    #[test]
    fn the_peer_waits_for_the_client_then_acts_at_once() {
        // The seed on a 20 ms link: the peer reads the first byte when it arrives and closes;
        // your program's second write, made at once, arrives at the closed socket and is
        // answered with RST; its third, made before the FIN or the RST came back, succeeds.
        let s: Scenario =
            "client write 1; server read 1; server close; client write 1; client write 1"
                .parse()
                .unwrap();
        let p = predict(&s, ms(20));
        assert_eq!(p.beyond, None);
        let outcomes: Vec<String> = p.steps.iter().map(|s| s.outcome.to_string()).collect();
        assert_eq!(outcomes, ["ok(1)", "ok(1)", "ok", "ok(1)", "ok(1)"]);
        // Without a delay it is the seed: the last write fails.
        let p = predict(&s, Duration::ZERO);
        assert_eq!(p.steps[4].outcome, Outcome::Err(Errno::EPIPE));
    }

    #[test]
    fn a_drop_after_the_peers_write_loses_it() {
        let s: Scenario = "client write 1; server write 3; link drop".parse().unwrap();
        let p = predict(&s, ms(20));
        assert_eq!(p.steps.len(), 3, "{p:?}");
        assert!(p.steps[2].in_flight == 0, "{p:?}");
    }
}
