//! The one pipeline: predict → run → check. `rstlab run`, `rstlab seed`, `explore`, the rules
//! book and the tests all go through [`verify`], so the oracle is always asked for the backend
//! and the network the runner really uses, and a scenario the oracle cannot follow is refused
//! before it runs.

use thiserror::Error;

use crate::backend::Backend;
use crate::check::{self, Disagreement};
use crate::net::Net;
use crate::oracle::{self, Beyond, Prediction, TcpSettings};
use crate::run::{Idle, RunError, Runner, Trace};
use crate::scenario::Scenario;

/// A scenario checked against the kernel: what the oracle said, what the kernel did, and the
/// first disagreement (`None`: they agree on every step, and the kernel does what every `=>`
/// line says).
#[derive(Clone, Debug)]
pub struct Verified {
    /// The oracle's prediction, for the runner's backend and network.
    pub prediction: Prediction,
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
    let prediction = predict_for(runner.backend(), runner.net(), runner.tcp(), scenario);
    verify_predicted(runner, scenario, prediction, &mut |_| false)
}

/// The oracle's prediction of `scenario` for a runner of `backend` on `net` with `tcp`: what
/// [`verify`] asks for.
pub fn predict_for(
    backend: Backend,
    net: Net,
    tcp: TcpSettings,
    scenario: &Scenario,
) -> Prediction {
    oracle::predict(
        scenario,
        &oracle::Settings {
            backend,
            net: Some(net),
            tcp,
            ..oracle::Settings::default()
        },
    )
}

/// Where the lab's model stops because the kernel's own timers decide
/// ([`crate::oracle::Limit::needs_kernel_time`]): `Some` when `scenario` needs the kernel's own
/// time ([`TcpSettings::KernelTime`], the lane) on `net`, and the model follows it further
/// there (a scenario it refuses there too is refused here, not sent to a VM to be refused).
pub fn needs_kernel_time(backend: Backend, net: Net, scenario: &Scenario) -> Option<Beyond> {
    let lab = predict_for(backend, net, TcpSettings::Lab, scenario);
    let beyond = lab.beyond.filter(|b| b.reason.needs_kernel_time())?;
    let timed = predict_for(backend, net, TcpSettings::KernelTime, scenario);
    timed
        .beyond
        .is_none_or(|t| t.step > beyond.step)
        .then_some(beyond)
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
    let disagreement = check::check(scenario, &prediction, &trace);
    Ok(Verified {
        prediction,
        trace,
        disagreement,
    })
}
