//! The silent peer's part of a kernel's survey, in the kernel's own time (the lane) at its
//! default TCP settings: the canonical and question scenarios the model follows there (those
//! that need the kernel's timers, and every other one without a link delay), random stories of a silent
//! peer ([`crate::generate::Draws::Silence`]) on each backend, and the lane's timer experiments
//! ([`crate::kernels::lane::probe`]) that measure when the first error shows. `rstlab kernels
//! --timers` runs it with the hidden `rstlab survey-silence` in the lane's VM of each kernel and
//! keeps it in the kernel's survey ([`crate::kernels::survey::Survey::silence`]).

use std::time::Duration;

use crate::check::verify::verify;
use crate::explore::{self, Draws, ExploreOptions, Progress};
use crate::kernels::lane::probe::{self, Keepalive, Params};
use crate::kernels::survey::{Exploration, NOT_RUN, ScenarioRun, named_scenarios};
pub use crate::kernels::survey::{Measured, Silence};
use crate::oracle;
use crate::oracle::TcpSettings;
use crate::run::{Backend, Net, RunOptions, Runner};

/// The longest the kernel's time an experiment waits for its first error: far past the
/// vanished peer's 15.5 minutes.
const EXPERIMENT_LIMIT: Duration = Duration::from_secs(3600);

/// The production cases the experiments measure: (case, experiment, parameters).
fn production_cases() -> [(&'static str, &'static str, Params); 3] {
    [
        ("vanished peer", "cut-peer", Params::default()),
        (
            "user timeout",
            "user-timeout",
            Params {
                user_timeout: Some(Duration::from_secs(2)),
                keepalive: None,
            },
        ),
        (
            "keepalive",
            "keepalive",
            Params {
                user_timeout: None,
                keepalive: Some(Keepalive {
                    idle_s: 10,
                    interval_s: 2,
                    count: 3,
                }),
            },
        ),
    ]
}

/// Runs the silent peer's part of the survey on this kernel, which must be the lane's (its
/// runners refuse the kernel's time elsewhere): `cases` random stories per backend.
pub fn survey(cases: u64, seed: u64, mut progress: impl FnMut(&str)) -> Silence {
    let (release, _) = crate::oracle::kernel::uname();
    let mut scenarios = Vec::new();
    progress("the rules' and questions' scenarios at the kernel's defaults");
    let named = named_scenarios(&mut scenarios);
    for backend in Backend::ALL {
        let options = RunOptions {
            net: Net::Link,
            tcp: TcpSettings::KernelTime,
            ..RunOptions::default()
        };
        let mut runner = match Runner::with_options(backend, options) {
            Ok(r) => r,
            Err(e) => {
                scenarios.push(ScenarioRun::not_run(
                    format!("runner {backend}"),
                    &e.to_string(),
                ));
                continue;
            }
        };
        for (name, scenario) in named.iter().cloned() {
            // Those that need the kernel's timers, and every other one the model follows on
            // the link at the kernel's defaults (no link delay): the rules at the defaults.
            let timed = oracle::predict(
                &scenario,
                &oracle::Settings {
                    backend,
                    net: Some(Net::Link),
                    tcp: TcpSettings::KernelTime,
                    ..oracle::Settings::default()
                },
            );
            if timed.beyond.is_some() {
                continue;
            }
            let mut run = ScenarioRun::named(name, backend, Net::Link);
            match verify(&mut runner, &scenario) {
                Ok(v) => run.verified(&v),
                Err(e) => run.disagreement = Some(format!("{NOT_RUN}{e}")),
            }
            scenarios.push(run);
        }
    }
    let mut explorations = Vec::new();
    for backend in Backend::ALL {
        progress(&format!(
            "exploring {cases} silent-peer stories, {backend} backend"
        ));
        let options = ExploreOptions {
            cases: Some(cases),
            seed,
            backend,
            nets: vec![Net::Link],
            jobs: 1,
            draws: Draws::Silence,
            ..ExploreOptions::default()
        };
        let summary = explore::explore(&options, &Progress::default());
        explorations.push(Exploration::of(backend, "link, kernel time", &summary));
    }
    progress("measuring when the first error shows");
    let measured = production_cases()
        .into_iter()
        .map(|(case, experiment, params)| measure(case, experiment, params))
        .collect();
    Silence {
        release,
        scenarios,
        explorations,
        measured,
        real_seconds: 0.0,
    }
}

/// Runs one lane experiment and reads what it measured.
fn measure(case: &str, experiment: &str, params: Params) -> Measured {
    let mut m = Measured {
        case: case.to_string(),
        experiment: experiment.to_string(),
        user_timeout_ms: params.user_timeout.map(|d| d.as_millis() as u64),
        keepalive: params.keepalive.map(|k| [k.idle_s, k.interval_s, k.count]),
        error: String::new(),
        error_after_s: None,
        next_write: String::new(),
    };
    match probe::run(experiment, EXPERIMENT_LIMIT, params)
        .map_err(|e| e.to_string())
        .and_then(|json| {
            serde_json::from_str::<serde_json::Value>(&json).map_err(|e| e.to_string())
        }) {
        Ok(v) => {
            m.error = v["error"].as_str().unwrap_or_default().to_string();
            m.error_after_s = v["error_after_s"].as_f64();
            m.next_write = v["next_write"].as_str().unwrap_or_default().to_string();
        }
        Err(e) => m.error = format!("{NOT_RUN}{e}"),
    }
    m
}
