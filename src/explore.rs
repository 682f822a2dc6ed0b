//! Exploration: many random scenarios on real sockets, each checked against the oracle, every
//! disagreement shrunk to a minimal scenario.
//!
//! Case `i` of seed `s` is always the same scenario, whatever the number of jobs: each case draws
//! from its own random stream, derived from `(s, i)`. Jobs share nothing but two counters; each
//! has its own runner, listener and source addresses.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::Serialize;

use crate::check::{self, Disagreement};
use crate::oracle;
use crate::rules::Rule;
use crate::run::{Backend, RunError, RunOptions, Runner};
use crate::scenario::Scenario;

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    /// How many cases at most.
    pub cases: u64,
    /// Stop starting new cases after this long.
    pub time: Option<Duration>,
    /// The seed: the same seed gives the same scenarios.
    pub seed: u64,
    /// Which socket API.
    pub backend: Backend,
    /// How many worker threads.
    pub jobs: usize,
    /// Keep at most this many (shrunk) disagreements; later ones are only counted.
    pub max_findings: usize,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        ExploreOptions {
            cases: 1000,
            time: None,
            seed: 0,
            backend: Backend::Std,
            jobs: 1,
            max_findings: 5,
        }
    }
}

/// A disagreement between the kernel and the oracle, shrunk.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The case number that found it.
    pub case: u64,
    /// The smallest scenario found that still disagrees, in the language.
    pub scenario: String,
    /// Where and how it disagrees.
    pub disagreement: Disagreement,
    /// The scenario as first generated.
    pub original: String,
}

/// The result of an exploration.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Cases run.
    pub cases: u64,
    /// Wall time.
    pub seconds: f64,
    /// Cases per second.
    pub cases_per_second: f64,
    /// Worker threads.
    pub jobs: usize,
    /// The seed.
    pub seed: u64,
    /// The backend.
    pub backend: Backend,
    /// Cases where kernel and oracle agreed on every step.
    pub agreements: u64,
    /// Cases that disagreed.
    pub disagreement_count: u64,
    /// The first disagreements, shrunk.
    pub disagreements: Vec<Finding>,
    /// Cases that could not run (setup failures), with the first error.
    pub errors: u64,
    /// The first setup error, if any.
    pub first_error: Option<String>,
    /// How often each rule decided a step of an agreeing case.
    pub rules: BTreeMap<String, u64>,
    /// How often each op ended each way (`write => EPIPE`), over agreeing cases.
    pub outcomes: BTreeMap<String, u64>,
}

/// Counters the caller can watch while [`explore`] runs (for a progress bar).
#[derive(Debug, Default)]
pub struct Progress {
    /// Cases finished.
    pub done: AtomicU64,
    /// Disagreements so far.
    pub disagreements: AtomicU64,
}

/// The random stream of case `index` under `seed`.
fn case_rng(seed: u64, index: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    let mut state = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The value tree of case `index` under `seed`: `current()` is the scenario, `simplify()`
/// shrinks it.
pub fn case(seed: u64, index: u64) -> impl ValueTree<Value = Scenario> {
    let mut runner = TestRunner::new_with_rng(Config::default(), case_rng(seed, index));
    crate::generate::scenario()
        .new_tree(&mut runner)
        .expect("the scenario strategy never rejects")
}

/// Runs `scenario` and checks it: `Ok(None)` when kernel and oracle agree.
pub fn run_and_check(
    runner: &mut Runner,
    scenario: &Scenario,
) -> Result<Option<Disagreement>, RunError> {
    let prediction = oracle::predict_for(scenario, runner.backend());
    let trace = runner.run(scenario)?;
    Ok(check::check(scenario, &prediction, &trace))
}

/// Shrinks a failing case: the smallest scenario reachable by `simplify` that still disagrees.
pub fn shrink(
    runner: &mut Runner,
    tree: &mut impl ValueTree<Value = Scenario>,
    first: Disagreement,
) -> (Scenario, Disagreement) {
    let mut best = (tree.current(), first);
    let mut iterations = 0;
    if !tree.simplify() {
        return best;
    }
    while iterations < 1024 {
        iterations += 1;
        let candidate = tree.current();
        match run_and_check(runner, &candidate) {
            Ok(Some(d)) => {
                best = (candidate, d);
                if !tree.simplify() {
                    break;
                }
            }
            // Agreement, or a run that could not be set up: not a smaller failure.
            Ok(None) | Err(_) => {
                if !tree.complicate() {
                    break;
                }
            }
        }
    }
    best
}

/// Explores `options.cases` random scenarios (or until `options.time`), in `options.jobs`
/// threads.
///
/// ```
/// use rstlab::explore::{explore, ExploreOptions, Progress};
/// let summary = explore(&ExploreOptions { cases: 20, ..Default::default() }, &Progress::default());
/// assert_eq!(summary.cases, 20);
/// assert_eq!(summary.agreements, 20, "{:?}", summary.disagreements);
/// ```
pub fn explore(options: &ExploreOptions, progress: &Progress) -> Summary {
    let start = Instant::now();
    let deadline = options.time.map(|t| start + t);
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let jobs = options.jobs.clamp(1, 254);
    let merged = Mutex::new(Summary::default());
    let findings = Mutex::new(Vec::<Finding>::new());
    std::thread::scope(|scope| {
        for job in 0..jobs {
            let (next, stop, merged, findings) = (&next, &stop, &merged, &findings);
            scope.spawn(move || {
                let local = work(options, job, deadline, next, stop, findings, progress);
                let mut m = merged.lock().unwrap_or_else(|e| e.into_inner());
                m.cases += local.cases;
                m.agreements += local.agreements;
                m.disagreement_count += local.disagreement_count;
                m.errors += local.errors;
                if m.first_error.is_none() {
                    m.first_error = local.first_error;
                }
                for (k, v) in local.rules {
                    *m.rules.entry(k).or_default() += v;
                }
                for (k, v) in local.outcomes {
                    *m.outcomes.entry(k).or_default() += v;
                }
            });
        }
    });
    let mut summary = merged.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut found = findings.into_inner().unwrap_or_else(|e| e.into_inner());
    found.sort_by_key(|f| f.case);
    found.truncate(options.max_findings);
    summary.disagreements = found;
    summary.seconds = start.elapsed().as_secs_f64();
    summary.cases_per_second = summary.cases as f64 / summary.seconds.max(1e-9);
    summary.jobs = jobs;
    summary.seed = options.seed;
    summary.backend = options.backend;
    summary
}

/// One worker: takes case numbers from `next` until the cases or the time run out.
fn work(
    options: &ExploreOptions,
    job: usize,
    deadline: Option<Instant>,
    next: &AtomicU64,
    stop: &AtomicBool,
    findings: &Mutex<Vec<Finding>>,
    progress: &Progress,
) -> Summary {
    let mut local = Summary::default();
    let run_options = RunOptions {
        source_range: Some(1 + job as u8),
        ..RunOptions::default()
    };
    let mut runner = match Runner::with_options(options.backend, run_options) {
        Ok(r) => r,
        Err(e) => {
            local.errors += 1;
            local.first_error = Some(e.to_string());
            stop.store(true, Ordering::Relaxed);
            return local;
        }
    };
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= options.cases {
            break;
        }
        let mut tree = case(options.seed, index);
        let scenario = tree.current();
        let prediction = oracle::predict_for(&scenario, options.backend);
        local.cases += 1;
        match runner.run(&scenario) {
            Err(e) => {
                local.errors += 1;
                if local.first_error.is_none() {
                    local.first_error = Some(format!("case {index}: {e}"));
                }
            }
            Ok(trace) => match check::check(&scenario, &prediction, &trace) {
                None => {
                    local.agreements += 1;
                    for (step, predicted) in scenario.steps().iter().zip(&prediction.steps) {
                        let outcome = match &predicted.outcome {
                            crate::Outcome::Bytes(_) => "ok(n)".to_string(),
                            other => other.to_string(),
                        };
                        *local
                            .outcomes
                            .entry(format!("{} => {outcome}", step.op.name()))
                            .or_default() += 1;
                        for rule in &predicted.rules {
                            *local.rules.entry(rule.id().to_string()).or_default() += 1;
                        }
                    }
                }
                Some(first) => {
                    local.disagreement_count += 1;
                    progress.disagreements.fetch_add(1, Ordering::Relaxed);
                    let keep = findings.lock().map(|f| f.len()).unwrap_or(0) < options.max_findings;
                    if keep {
                        let (minimal, disagreement) = shrink(&mut runner, &mut tree, first);
                        let finding = Finding {
                            case: index,
                            scenario: minimal.to_string(),
                            disagreement,
                            original: scenario.to_string(),
                        };
                        if let Ok(mut f) = findings.lock() {
                            f.push(finding);
                        }
                    }
                }
            },
        }
        progress.done.fetch_add(1, Ordering::Relaxed);
    }
    local
}

/// Every rule the oracle knows, with the number of times `summary` saw it (0 included).
pub fn rule_counts(summary: &Summary) -> Vec<(Rule, u64)> {
    Rule::ALL
        .iter()
        .map(|r| (*r, summary.rules.get(r.id()).copied().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_index_give_the_same_scenario() {
        for i in 0..50 {
            assert_eq!(case(7, i).current(), case(7, i).current());
        }
        let differ = (0..50).filter(|&i| case(7, i).current() != case(8, i).current());
        assert!(differ.count() > 25);
    }
}
