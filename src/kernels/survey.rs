//! A survey of the kernel this process runs on: every rule's canonical scenario, every
//! question's scenarios, and a random exploration on each network with each backend, all
//! through the one pipeline ([`crate::check::verify`]) with the running kernel's profile. `rstlab
//! kernels` runs one inside each kernel it boots (and one here) and keeps the JSON as the
//! evidence of the book's "Kernels" chapter (`docs/kernels/<version>.json`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::check::verify::{Verified, needs_kernel_time, verify};
use crate::explore::{self, ExploreOptions, Progress};
use crate::net::link::Link;
use crate::oracle::kernel::Kernel;
use crate::questions::QUESTIONS;
use crate::rules::Rule;
use crate::run::{Backend, Net, RunOptions, Runner};
use crate::scenario::Scenario;

/// What to survey.
#[derive(Clone, Debug)]
pub struct SurveyOptions {
    /// Random cases per backend and network.
    pub cases: u64,
    /// The exploration's seed.
    pub seed: u64,
    /// Worker threads of the exploration.
    pub jobs: usize,
    /// Set (by a signal handler) to stop: the survey runs no further scenario, its exploration
    /// ends after the cases running, and [`survey`] returns what ran.
    pub stop: Arc<AtomicBool>,
}

/// One scenario run: a rule's canonical scenario or a question's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRun {
    /// `rule:<id>` or `question:<anchor>#<n>`.
    pub name: String,
    /// The backend.
    pub backend: String,
    /// The network.
    pub net: String,
    /// The rules the oracle named, in catalogue ids.
    pub rules: Vec<String>,
    /// `None` when the kernel agreed with the oracle and with every `=>` line; otherwise the
    /// disagreement, or why it could not run.
    pub disagreement: Option<String>,
}

/// One exploration: one backend on one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exploration {
    /// The backend.
    pub backend: String,
    /// The network.
    pub net: String,
    /// Cases run.
    pub cases: u64,
    /// Cases where kernel and oracle agreed.
    pub agreements: u64,
    /// Cases where they did not.
    pub disagreements: u64,
    /// The shrunk disagreements kept, one line each.
    pub findings: Vec<String>,
    /// Cases that could not run.
    pub errors: u64,
    /// The first error's text.
    pub first_error: Option<String>,
    /// How often each rule decided a step of an agreeing case.
    pub rules: BTreeMap<String, u64>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The evidence from one kernel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Survey {
    /// `uname -r`.
    pub release: String,
    /// `uname -v`.
    pub build: String,
    /// The version the oracle's profile was chosen for.
    pub version: String,
    /// The changes of [`crate::oracle::kernel::CHANGES`] this kernel lacks, by commit.
    pub lacks: Vec<String>,
    /// Where it ran: `host`, or how the VM ran (`vm (kvm)`, `vm (emulated)`), set by the caller.
    pub machine: String,
    /// The exploration's seed.
    pub seed: u64,
    /// Every canonical and question scenario run.
    pub scenarios: Vec<ScenarioRun>,
    /// The explorations.
    pub explorations: Vec<Exploration>,
    /// Whether the emulated link could be set up; when not, why.
    pub link_error: Option<String>,
    /// The silent peer's part, run in the kernel's own time (the lane): `rstlab kernels
    /// --timers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<Silence>,
    /// Wall-clock seconds for the whole survey.
    pub seconds: f64,
}

/// One measurement of when a silent peer's first error shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The production case: `vanished peer`, `user timeout`, `keepalive`.
    pub case: String,
    /// The lane experiment that measured it.
    pub experiment: String,
    /// `TCP_USER_TIMEOUT`, in milliseconds, when set.
    pub user_timeout_ms: Option<u64>,
    /// Keepalive's IDLE, INTERVAL (seconds) and COUNT, when set.
    pub keepalive: Option<[u32; 3]>,
    /// The first error, as the call that took it returned it.
    pub error: String,
    /// The kernel's seconds from the start (the write, or for keepalive the last segment
    /// received) to POLLERR; `None` when it never came within the limit.
    pub error_after_s: Option<f64>,
    /// The write after it.
    pub next_write: String,
}

/// The silent peer's part of one kernel's survey, run by [`crate::kernels::silence`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// `uname -r` in the lane.
    pub release: String,
    /// The rules' and questions' scenarios the model follows on the link at the kernel's
    /// defaults in its own time: those that need the kernel's timers, and every other one
    /// without a link delay.
    pub scenarios: Vec<ScenarioRun>,
    /// The random stories of a silent peer, one exploration per backend.
    pub explorations: Vec<Exploration>,
    /// When the first error shows, measured.
    pub measured: Vec<Measured>,
    /// Real seconds the lane's VM took, boot included (set by the host).
    pub real_seconds: f64,
}

/// Totals over a survey.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Scenario runs and random cases that agreed.
    pub agreements: u64,
    /// Those that did not.
    pub disagreements: u64,
    /// Those that could not run.
    pub errors: u64,
    /// Random cases among them.
    pub random: u64,
}

impl Survey {
    /// Every scenario run, the silent peer's part's included.
    fn all_scenarios(&self) -> impl Iterator<Item = &ScenarioRun> {
        let silence = self.silence.iter().flat_map(|s| &s.scenarios);
        self.scenarios.iter().chain(silence)
    }

    /// Every exploration, the silent peer's part's included.
    fn all_explorations(&self) -> impl Iterator<Item = &Exploration> {
        let silence = self.silence.iter().flat_map(|s| &s.explorations);
        self.explorations.iter().chain(silence)
    }

    /// Agreements, disagreements and errors, scenarios and random cases together. A scenario
    /// run that could not run counts as an error, and a missing link as one error.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in self.all_scenarios() {
            match &s.disagreement {
                None => t.agreements += 1,
                Some(d) if d.starts_with(NOT_RUN) => t.errors += 1,
                Some(_) => t.disagreements += 1,
            }
        }
        for e in self.all_explorations() {
            t.agreements += e.agreements;
            t.disagreements += e.disagreements;
            t.errors += e.errors;
            t.random += e.cases;
        }
        t.errors += u64::from(self.link_error.is_some());
        t
    }

    /// Why the first part that could not run did not (the link, a scenario, a random case), for
    /// a summary that counts errors to say what they were.
    pub fn first_error(&self) -> Option<String> {
        if let Some(e) = &self.link_error {
            return Some(format!("the emulated link could not be set up: {e}"));
        }
        let scenario = self.scenarios.iter().find_map(|s| {
            let why = s.disagreement.as_deref()?.strip_prefix(NOT_RUN)?;
            Some(format!("{} could not run: {why}", s.name))
        });
        scenario.or_else(|| {
            self.explorations.iter().find_map(|e| {
                let why = e.first_error.as_deref()?;
                Some(format!(
                    "a random case ({} backend, {}) could not run: {why}",
                    e.backend, e.net
                ))
            })
        })
    }

    /// How a rule fared: runs that applied it, and disagreements among the scenario runs that
    /// named it (random disagreements name no rule until shrunk and read).
    pub fn rule_tally(&self, rule: Rule) -> (u64, u64) {
        let id = rule.id();
        let mut runs = 0;
        let mut disagreements = 0;
        for s in self.all_scenarios() {
            if s.rules.iter().any(|r| r == id) || s.name == format!("rule:{id}") {
                if s.disagreement.is_some() {
                    disagreements += 1;
                } else if s.rules.iter().any(|r| r == id) {
                    runs += 1;
                }
            }
        }
        for e in self.all_explorations() {
            runs += e.rules.get(id).copied().unwrap_or(0);
        }
        (runs, disagreements)
    }
}

/// How a scenario run that did not take place begins.
pub const NOT_RUN: &str = "not run: ";

/// Runs the survey on this kernel. `progress` is told what runs, one line at a time (`rstlab
/// kernels` shows it while a VM works).
pub fn survey(options: &SurveyOptions, mut progress: impl FnMut(&str)) -> Survey {
    let start = Instant::now();
    let kernel = Kernel::running();
    let (release, build) = crate::oracle::kernel::uname();
    let link_error = Link::new().err().map(|e| e.to_string());
    let nets: Vec<Net> = if link_error.is_none() {
        vec![Net::Loopback, Net::Link]
    } else {
        vec![Net::Loopback]
    };
    let stop = &options.stop;
    let mut scenarios = Vec::new();
    progress("canonical and question scenarios");
    let named = named_scenarios(&mut scenarios);
    for backend in Backend::ALL {
        for &net in &nets {
            let options = RunOptions {
                net,
                ..RunOptions::default()
            };
            let mut runner = match Runner::with_options(backend, options) {
                Ok(r) => r,
                Err(e) => {
                    scenarios.push(ScenarioRun::not_run(
                        format!("runner {backend} on {net}"),
                        &e.to_string(),
                    ));
                    continue;
                }
            };
            for (name, scenario) in &named {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // A scenario the model predicts on the link only (link steps, or a reboot,
                // which loopback's delayed ACKs put beyond the model) runs there only; any
                // other on both. Run on loopback, a reboot is refused and counts as an error.
                if net == Net::Loopback && scenario.needs_link() {
                    continue;
                }
                // The kernel's own timers run in the lane only ([`crate::kernels::silence`]).
                if needs_kernel_time(backend, net, scenario).is_some() {
                    continue;
                }
                let mut run = ScenarioRun::named(name.clone(), backend, net);
                match verify(&mut runner, scenario) {
                    Ok(v) => run.verified(&v),
                    Err(e) => run.disagreement = Some(format!("{NOT_RUN}{e}")),
                }
                scenarios.push(run);
            }
        }
    }
    let mut explorations = Vec::new();
    for backend in Backend::ALL {
        for &net in &nets {
            if options.stop.load(Ordering::Relaxed) {
                break;
            }
            progress(&format!(
                "exploring {} cases, {backend} backend, {net}",
                options.cases
            ));
            let explore_options = ExploreOptions {
                cases: Some(options.cases),
                seed: options.seed,
                backend,
                nets: vec![net],
                jobs: options.jobs,
                ..ExploreOptions::default()
            };
            let explore_progress = Progress {
                stop: Arc::clone(&options.stop),
                ..Progress::default()
            };
            let summary = explore::explore(&explore_options, &explore_progress);
            explorations.push(Exploration::of(backend, &net.to_string(), &summary));
        }
    }
    Survey {
        release,
        build,
        version: kernel.version.to_string(),
        lacks: kernel.lacks().map(|c| c.commit.to_string()).collect(),
        machine: "host".to_string(),
        seed: options.seed,
        scenarios,
        explorations,
        link_error,
        silence: None,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Every rule's canonical scenario and every question's, named `rule:<id>` and
/// `question:<anchor>#<n>`; a question whose scenarios do not parse goes into `runs` as not
/// run.
pub fn named_scenarios(runs: &mut Vec<ScenarioRun>) -> Vec<(String, Scenario)> {
    let mut named: Vec<(String, Scenario)> = Vec::new();
    for &rule in Rule::ALL {
        named.push((format!("rule:{}", rule.id()), rule.scenario().clone()));
    }
    for q in QUESTIONS {
        match q.scenarios() {
            Ok(list) => {
                for (i, s) in list.into_iter().enumerate() {
                    named.push((format!("question:{}#{}", q.anchor(), i + 1), s));
                }
            }
            Err(e) => runs.push(ScenarioRun::not_run(
                format!("question:{}", q.anchor()),
                &e.to_string(),
            )),
        }
    }
    named
}

impl ScenarioRun {
    /// A run of `name` on `backend` and `net`, not checked yet.
    pub fn named(name: String, backend: Backend, net: Net) -> ScenarioRun {
        ScenarioRun {
            name,
            backend: backend.to_string(),
            net: net.to_string(),
            rules: Vec::new(),
            disagreement: None,
        }
    }

    /// A part that could not run, and why.
    pub fn not_run(name: String, why: &str) -> ScenarioRun {
        ScenarioRun {
            name,
            backend: String::new(),
            net: String::new(),
            rules: Vec::new(),
            disagreement: Some(format!("{NOT_RUN}{why}")),
        }
    }

    /// Takes what the check found: the rules the oracle named, and the disagreement.
    pub fn verified(&mut self, v: &Verified) {
        let mut rules: Vec<&str> = v
            .prediction
            .steps
            .iter()
            .flat_map(|s| s.rules.iter().map(|r| r.id()))
            .collect();
        rules.sort_unstable();
        rules.dedup();
        self.rules = rules.into_iter().map(String::from).collect();
        self.disagreement = v.disagreement.as_ref().map(ToString::to_string);
    }
}

impl Exploration {
    /// What `summary`, an exploration of `backend` on `net`, found.
    pub fn of(backend: Backend, net: &str, summary: &explore::Summary) -> Exploration {
        Exploration {
            backend: backend.to_string(),
            net: net.to_string(),
            cases: summary.cases,
            agreements: summary.agreements,
            disagreements: summary.disagreement_count,
            findings: summary.disagreements.clone(),
            errors: summary.errors,
            first_error: summary.first_error.clone(),
            rules: summary
                .rules
                .iter()
                .map(|(rule, &n)| (rule.id().to_string(), n))
                .collect(),
            seconds: summary.seconds,
        }
    }
}

/// The file name stem of a survey of `version`: its series, `major.minor`.
pub fn series_of(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Writes `survey` as pretty JSON to `path`, through a temporary file renamed into place.
pub fn save(survey: &Survey, path: &Path) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        serde_json::to_writer_pretty(&mut file, survey)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Reads a survey written by [`save`].
pub fn load(path: &Path) -> std::io::Result<Survey> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}
