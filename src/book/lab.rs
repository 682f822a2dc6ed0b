//! The lab: runs scenarios on its bench (real sockets: one runner per backend and network, the
//! link's made when first needed) and counts every run it makes exactly once, by kind, into its
//! [`Tallies`]. The book's numbers all come from there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::backend::Backend;
use crate::check::verify::{Verified, VerifyError, verify};
use crate::net::Net;
use crate::run::{RunOptions, Runner};
use crate::scenario::Scenario;

use super::options::BookError;
use super::run::{Kind, Run};
use super::tally::Tallies;

/// Where the lab's scenarios run: on real sockets ([`Runners`]), or, in tests, wherever a
/// trace comes from.
pub(super) trait Bench {
    /// Runs `scenario` on `backend` and `net`, and checks the kernel against the oracle.
    fn verify(
        &mut self,
        scenario: &Scenario,
        backend: Backend,
        net: Net,
    ) -> Result<Verified, BookError>;
}

/// Real sockets: one runner per backend and network, the link's made when first needed.
pub(super) struct Runners(Vec<Runner>);

impl Runners {
    /// A loopback runner for every backend.
    pub(super) fn new() -> Result<Runners, BookError> {
        Runners::with_backends(&Backend::ALL)
    }

    /// Loopback runners for `backends` only.
    pub(super) fn with_backends(backends: &[Backend]) -> Result<Runners, BookError> {
        Ok(Runners(
            backends
                .iter()
                .map(|&b| Runner::new(b))
                .collect::<Result<_, _>>()?,
        ))
    }
}

impl Bench for Runners {
    fn verify(
        &mut self,
        scenario: &Scenario,
        backend: Backend,
        net: Net,
    ) -> Result<Verified, BookError> {
        let runners = &mut self.0;
        if net == Net::Link
            && !runners
                .iter()
                .any(|r| r.backend() == backend && r.net() == net)
            && runners.iter().any(|r| r.backend() == backend)
        {
            let options = RunOptions {
                net,
                ..RunOptions::default()
            };
            runners.push(Runner::with_options(backend, options)?);
        }
        // Never another backend's runner in its place: that would file one backend's results
        // under another's name.
        let runner = runners
            .iter_mut()
            .find(|r| r.backend() == backend && r.net() == net)
            .unwrap_or_else(|| panic!("the lab has no runner for the {backend} backend"));
        verify(runner, scenario).map_err(|e| match e {
            VerifyError::Run(e) => BookError::from(e),
            VerifyError::Beyond(b) => BookError::Canonical {
                id: "(a scenario the oracle cannot follow)",
                message: b.to_string(),
            },
        })
    }
}

/// Runs scenarios on its bench and counts each run once, by kind.
pub(super) struct Lab<B> {
    bench: B,
    tallies: Tallies,
    stop: Arc<AtomicBool>,
}

impl<B: Bench> Lab<B> {
    /// A lab that has counted nothing yet.
    pub(super) fn new(bench: B) -> Lab<B> {
        Lab {
            bench,
            tallies: Tallies::default(),
            stop: Arc::default(),
        }
    }

    /// The same lab, stopping at its next run once `stop` is set.
    pub(super) fn stopping_on(self, stop: Arc<AtomicBool>) -> Lab<B> {
        Lab { stop, ..self }
    }

    /// Runs `scenario` on `backend`, on the link when it has `link` steps, else on loopback.
    pub(super) fn run(
        &mut self,
        kind: Kind,
        scenario: &Scenario,
        backend: Backend,
    ) -> Result<Run, BookError> {
        self.run_on(kind, scenario, backend, Net::for_scenario(scenario))
    }

    /// Runs `scenario` on `backend` and `net`, and counts the run.
    pub(super) fn run_on(
        &mut self,
        kind: Kind,
        scenario: &Scenario,
        backend: Backend,
        net: Net,
    ) -> Result<Run, BookError> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(BookError::Interrupted);
        }
        // A run whose RST reasons the kernel lost (another program's RSTs filled the trace's
        // buffer meanwhile) is taken again, a few times at most: the book's counts of what the
        // kernel stated must not depend on what else the machine was doing.
        let mut verified = self.bench.verify(scenario, backend, net)?;
        for _ in 0..4 {
            if !matches!(
                verified.trace.resets,
                crate::reasons::Resets::Missing(crate::reasons::Missing::Lost(_))
            ) {
                break;
            }
            verified = self.bench.verify(scenario, backend, net)?;
        }
        let Verified {
            prediction,
            trace,
            disagreement,
        } = verified;
        let run = Run {
            kind,
            scenario: scenario.clone(),
            backend,
            prediction,
            trace,
            disagreement,
        };
        self.tallies.add(&run);
        Ok(run)
    }

    /// What the lab counted.
    pub(super) fn into_tallies(self) -> Tallies {
        self.tallies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "the lab has no runner for the tokio backend")]
    fn a_lab_never_runs_a_backend_on_anothers_runner() {
        let mut lab = Lab::new(Runners::with_backends(&[Backend::Std]).unwrap());
        let scenario = Scenario::parse("client write 1").unwrap();
        let _ = lab.run(Kind::Canonical, &scenario, Backend::Tokio);
    }

    #[test]
    fn every_run_is_counted_once_by_its_kind() {
        let mut lab = Lab::new(Runners::with_backends(&[Backend::Std]).unwrap());
        let scenario = Scenario::parse("client write 1; server read 1").unwrap();
        lab.run(Kind::Question, &scenario, Backend::Std).unwrap();
        lab.run(Kind::Random, &scenario, Backend::Std).unwrap();
        lab.run(Kind::Random, &scenario, Backend::Std).unwrap();
        let t = lab.into_tallies();
        assert_eq!(t.runs.get(&Kind::Question), 1);
        assert_eq!(t.runs.get(&Kind::Random), 2);
        assert_eq!(t.total_runs(), 3);
        let queued = t.rule(crate::rules::Rule::WriteQueuesData);
        assert_eq!(queued.runs.total(), 3);
        // Both random runs wrote once.
        assert_eq!(queued.random_steps, 2);
    }
}
