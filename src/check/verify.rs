//! The one pipeline: predict → run → check. `rstlab run`, `rstlab seed`, `explore`, the rules
//! book and the tests all go through [`verify`], so the oracle is always asked for the backend
//! and the network the runner really uses, and a scenario the oracle cannot follow is refused
//! before it runs.

use std::time::Duration;

use thiserror::Error;

use crate::backend::Backend;
use crate::check::{self, Disagreement};
use crate::net::Net;
use crate::oracle::{self, Beyond, Prediction};
use crate::run::{Idle, RunError, Runner, Trace};
use crate::scenario::{Op, Scenario};

/// A scenario checked against the kernel: what the oracle said, what the kernel did, and the
/// first disagreement (`None`: they agree on every step, and the kernel does what every `=>`
/// line says).
#[derive(Clone, Debug)]
pub struct Verified {
    /// The oracle's prediction, for the runner's backend and network.
    pub prediction: Prediction,
    /// Where the run disagreed with `prediction` on loopback after the machine held the runner
    /// between steps: the prediction with that time passed in ([`pauses`]), which the run
    /// agrees with. The kernel's delayed-ACK timer then raced the next step, as a `sleep`
    /// would have made it.
    pub retimed: Option<Prediction>,
    /// The kernel's answers.
    pub trace: Trace,
    /// The first step where they differ.
    pub disagreement: Option<Disagreement>,
}

/// Why a scenario was not verified.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The oracle stops before the end: rstlab cannot emulate the rest faithfully.
    #[error("{0}; rstlab refuses to run what it cannot emulate faithfully")]
    Beyond(Beyond),
    /// The run could not take place.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Predicts `scenario` for `runner`'s backend and network, runs it, and checks the kernel
/// against the prediction.
///
/// ```
/// use rstlab::run::{Backend, Runner};
/// let mut runner = Runner::new(Backend::Std).unwrap();
/// let s: rstlab::Scenario = "server close; client write 1; client write 1 => EPIPE".parse().unwrap();
/// let v = rstlab::check::verify::verify(&mut runner, &s).unwrap();
/// assert!(v.disagreement.is_none(), "{:?}", v.disagreement);
/// ```
pub fn verify(runner: &mut Runner, scenario: &Scenario) -> Result<Verified, VerifyError> {
    let prediction = predict_for(runner.backend(), runner.net(), scenario);
    verify_predicted(runner, scenario, prediction, &mut |_| false)
}

/// The oracle's prediction of `scenario` for a runner of `backend` on `net`: what [`verify`]
/// asks for.
pub fn predict_for(backend: Backend, net: Net, scenario: &Scenario) -> Prediction {
    oracle::predict(scenario, &settings(backend, net))
}

/// The oracle's settings for a runner of `backend` on `net`.
fn settings(backend: Backend, net: Net) -> oracle::Settings {
    oracle::Settings {
        backend,
        net: Some(net),
        ..oracle::Settings::default()
    }
}

/// [`verify`] with the prediction made beforehand ([`predict_for`] with the runner's backend
/// and network), giving the time of the run's loopback pauses to `idle`
/// ([`crate::run::Idle`]). `rstlab explore` predicts its next cases while a case pauses.
pub fn verify_predicted(
    runner: &mut Runner,
    scenario: &Scenario,
    prediction: Prediction,
    idle: &mut Idle<'_>,
) -> Result<Verified, VerifyError> {
    if let Some(beyond) = prediction.beyond {
        return Err(VerifyError::Beyond(beyond));
    }
    let trace = runner.run_with(scenario, idle)?;
    let mut disagreement = check::check(scenario, &prediction, &trace);
    let mut retimed = None;
    if disagreement.is_some() && trace.net == Net::Loopback {
        // The kernel's timers run in real time on loopback. A machine that held the runner
        // between two steps gave them time the scenario did not ask for: the oracle, whose
        // time is passed in, is asked again with the time the run really took.
        let pauses = pauses(scenario, &trace);
        if pauses.iter().any(|p| !p.is_zero()) {
            let again =
                oracle::predict_timed(scenario, &settings(trace.backend, trace.net), &pauses);
            if again.beyond.is_none() && check::check(scenario, &again, &trace).is_none() {
                disagreement = None;
                retimed = Some(again);
            }
        }
    }
    Ok(Verified {
        prediction,
        retimed,
        trace,
        disagreement,
    })
}

/// What passed before each step of a loopback run besides the scenario's own sleeps: the time
/// from one step's beginning to the next's, less the sleep the earlier one was.
pub fn pauses(scenario: &Scenario, trace: &Trace) -> Vec<Duration> {
    let mut pauses = vec![Duration::ZERO; trace.steps.len()];
    for (i, pair) in trace.steps.windows(2).enumerate() {
        let asked = match scenario.steps()[i].op {
            Op::Sleep(d) => d,
            _ => Duration::ZERO,
        };
        pauses[i + 1] = pair[1].began.saturating_sub(pair[0].began + asked);
    }
    pauses
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reasons::{Expected, RstReason};

    fn first_rst(p: &Prediction) -> Expected {
        p.steps
            .iter()
            .flat_map(|s| &s.segments)
            .find_map(|s| s.reason)
            .expect("an RST")
    }

    #[test]
    fn time_the_machine_took_between_steps_is_time_the_delayed_ack_had() {
        // On loopback the ACK of the server's FIN waits for the delayed-ACK timer (40 ms at
        // least) or rides on the client's data. With no time between the steps the oracle
        // cannot tell which comes first: the data meets the full socket, still in FIN_WAIT1,
        // or a FIN_WAIT2 mini-socket. 100 ms later the timer has run: the mini-socket only.
        let s: Scenario = "server close; client write 1 => ok(1); client write 1 => EPIPE"
            .parse()
            .unwrap();
        let settings = settings(Backend::Std, Net::Loopback);
        let planned = oracle::predict(&s, &settings);
        assert_eq!(
            first_rst(&planned),
            Expected {
                reason: RstReason::TcpAbortOnData,
                or: Some(RstReason::TcpTimewaitSocket)
            }
        );
        let held = [Duration::ZERO, Duration::from_millis(100), Duration::ZERO];
        let again = oracle::predict_timed(&s, &settings, &held);
        assert_eq!(first_rst(&again), RstReason::TcpTimewaitSocket.into());
        // The outcomes are the same either way.
        let outcomes = |p: &Prediction| {
            p.steps
                .iter()
                .map(|s| s.outcome.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(outcomes(&again), outcomes(&planned));
    }

    #[test]
    fn the_pauses_are_the_time_between_steps_less_the_sleeps_asked_for() {
        let s: Scenario = "client write 1; client sleep 10ms; server read 1"
            .parse()
            .unwrap();
        let p = oracle::predict(&s, &settings(Backend::Std, Net::Loopback));
        let mut trace = crate::check::predicted_trace(&p, Backend::Std);
        let ms = Duration::from_millis;
        for (step, began) in trace.steps.iter_mut().zip([ms(0), ms(3), ms(14)]) {
            step.began = began;
        }
        assert_eq!(pauses(&s, &trace), [ms(0), ms(3), ms(1)]);
    }
}
