//! The evidence: everything the book reports, gathered by [`gather`] through the lab, which
//! counts each run once by kind.

use crate::backend::Backend;
use crate::check::Disagreement;
use crate::net::Net;
use crate::outcome::Outcome;
use crate::questions::{QUESTIONS, Shown};
use crate::rules::Rule;
use crate::scenario::Scenario;
use crate::sigpipe::{self, Probe, ProbeReport};

use super::chart;
use super::lab::{Bench, Lab};
use super::options::{BookError, BookOptions};
use super::run::{Kind, Run};
use super::situations::{Next, SITUATIONS, Situation};
use super::tally::Tallies;

/// A rule's canonical scenario and its runs, one per backend.
pub(super) struct Canonical {
    pub(super) rule: Rule,
    pub(super) scenario: Scenario,
    pub(super) runs: Vec<Run>,
}

/// A situation of the summary table and its runs: the next write's and the next read's, one
/// per backend each.
pub(super) struct SituationRuns {
    pub(super) situation: &'static Situation,
    pub(super) write: Vec<Run>,
    pub(super) read: Vec<Run>,
}

impl SituationRuns {
    /// The runs that end with `next`.
    pub(super) fn runs(&self, next: Next) -> &[Run] {
        match next {
            Next::Write => &self.write,
            Next::Read => &self.read,
        }
    }

    fn runs_mut(&mut self, next: Next) -> &mut Vec<Run> {
        match next {
            Next::Write => &mut self.write,
            Next::Read => &mut self.read,
        }
    }
}

/// Everything the book reports.
pub(super) struct Evidence {
    pub(super) canonical: Vec<Canonical>,
    pub(super) situations: Vec<SituationRuns>,
    /// Every scenario of "Questions people ask", with what each backend showed.
    pub(super) questions: Vec<(Scenario, Vec<Shown>)>,
    /// Every canonical scenario without `link` steps, run on the link at zero delay (std):
    /// whether it agreed with the oracle and with its `=>` lines.
    pub(super) zero_delay: Vec<(Rule, Option<Disagreement>)>,
    /// The chart of the timing section.
    pub(super) chart: Vec<chart::Point>,
    /// The SIGPIPE experiment, one report per child.
    pub(super) probes: Vec<ProbeReport>,
    /// What the lab counted: every run above, once.
    pub(super) tallies: Tallies,
}

/// Whether `scenario` needs the kernel's own timers (the lane), which the book's runs on this
/// machine cannot give.
pub(super) fn in_kernel_time(scenario: &Scenario) -> bool {
    crate::check::verify::needs_kernel_time(Backend::Std, Net::for_scenario(scenario), scenario)
        .is_some()
}

/// Runs everything the book reports, in `lab`, and takes what it counted.
pub(super) fn gather(
    options: &BookOptions,
    mut lab: Lab<impl Bench>,
) -> Result<Evidence, BookError> {
    let mut canonical = Vec::new();
    for &rule in Rule::ALL {
        let scenario = rule.scenario().clone();
        // A rule of the kernel's own timers runs in the lane only: its evidence is the stored
        // surveys' ("When the peer goes silent").
        if in_kernel_time(&scenario) {
            canonical.push(Canonical {
                rule,
                scenario,
                runs: Vec::new(),
            });
            continue;
        }
        let runs = Backend::ALL
            .iter()
            .map(|&backend| lab.run(Kind::Canonical, &scenario, backend))
            .collect::<Result<_, _>>()?;
        canonical.push(Canonical {
            rule,
            scenario,
            runs,
        });
    }

    let mut situations = Vec::new();
    for situation in SITUATIONS {
        let mut runs = SituationRuns {
            situation,
            write: Vec::new(),
            read: Vec::new(),
        };
        for next in Next::ALL {
            let scenario = situation.scenario(next).map_err(|e| BookError::Canonical {
                id: "(situation)",
                message: e.to_string(),
            })?;
            for backend in Backend::ALL {
                let run = lab.run(Kind::Situation, &scenario, backend)?;
                runs.runs_mut(next).push(run);
            }
        }
        situations.push(runs);
    }

    for backend in Backend::ALL {
        for net in Net::ALL {
            for index in 0..options.cases {
                let scenario = crate::generate::case_scenario(options.seed, index, net);
                lab.run_on(Kind::Random, &scenario, backend, net)?;
            }
        }
    }

    let mut questions = Vec::new();
    for question in QUESTIONS {
        let scenarios = question.scenarios().map_err(|e| BookError::Canonical {
            id: "(a question's scenario)",
            message: e.to_string(),
        })?;
        for scenario in scenarios {
            let mut shown = Vec::new();
            if in_kernel_time(&scenario) {
                questions.push((scenario, shown));
                continue;
            }
            for backend in Backend::ALL {
                let run = lab.run(Kind::Question, &scenario, backend)?;
                shown.push(Shown::of(
                    backend,
                    &scenario,
                    &run.trace,
                    run.disagreement.is_none(),
                ));
            }
            questions.push((scenario, shown));
        }
    }

    let mut zero_delay = Vec::new();
    for c in &canonical {
        if !c.scenario.needs_link() {
            let run = lab.run_on(Kind::ZeroDelay, &c.scenario, Backend::Std, Net::Link)?;
            zero_delay.push((c.rule, run.disagreement));
        }
    }

    let mut points = Vec::new();
    for rtt_ms in chart::RTTS_MS {
        for interval_ms in chart::INTERVALS_MS {
            let scenario = chart::scenario(rtt_ms, interval_ms);
            let run = lab.run(Kind::Chart, &scenario, Backend::Std)?;
            let observed: Vec<Outcome> =
                run.trace.steps.iter().map(|s| s.outcome.clone()).collect();
            let predicted: Vec<Outcome> = run
                .prediction
                .steps
                .iter()
                .map(|s| s.outcome.clone())
                .collect();
            let (measured, first_error) = chart::successes(&observed[2..]);
            points.push(chart::Point {
                rtt_ms,
                interval_ms,
                measured,
                predicted: chart::successes(&predicted[2..]).0,
                first_error,
                agree: run.disagreement.is_none(),
            });
        }
    }

    let probes = match &options.probe_exe {
        Some(exe) => Probe::BOOK
            .iter()
            .map(|p| sigpipe::run_in_child(exe, p))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };

    Ok(Evidence {
        canonical,
        situations,
        questions,
        zero_delay,
        chart: points,
        probes,
        tallies: lab.into_tallies(),
    })
}
