//! Exploration: many random scenarios on real sockets, each checked against the oracle, every
//! disagreement shrunk to a minimal scenario.
//!
//! Case `i` of seed `s` is always the same scenario, whatever the number of jobs or shards: each
//! case draws from its own random stream, derived from `(s, i)` ([`crate::generate::case_on`]), and [`Summary::fingerprint`] lets two runs
//! show that they explored the same cases. A case runs the value of its value tree, drawn
//! without the tree ([`crate::generate::case_scenario`]); the tree is built only to shrink. Jobs share nothing but a few counters; each has its
//! own runner, listener, netlink socket and source addresses (`127.<job + 1>.x.y`), so that
//! TIME_WAIT stubs left by one job never take a port another needs.

pub mod merge;
pub mod shard;
pub mod summary;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::strategy::ValueTree;

use crate::check::Disagreement;
use crate::check::verify::{Verified, VerifyError, predict_for, verify, verify_predicted};
use crate::explore::shard::Shard;
use crate::generate::MAX_LOOPBACK_SLEEP;
use crate::oracle::{Prediction, TcpSettings};
use crate::outcome::Outcome;
use crate::run::{Backend, Net, RunOptions, Runner};
use crate::scenario::{Arg, Scenario, Step};

/// The most jobs an exploration runs: each job connects from its own source range
/// `127.<job + 1>.0.0/16`, and the second octet stops at 255.
pub const MAX_JOBS: usize = 254;

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    /// How many cases at most; `None`: no limit but [`ExploreOptions::time`] (or a stop).
    pub cases: Option<u64>,
    /// Stop starting new cases after this long.
    pub time: Option<Duration>,
    /// The seed: the same seed gives the same scenarios.
    pub seed: u64,
    /// Which socket API.
    pub backend: Backend,
    /// The networks, taken in turn: case `i` runs on `nets[i % nets.len()]`.
    pub nets: Vec<Net>,
    /// How many worker threads, 1 to [`MAX_JOBS`] (more are capped).
    pub jobs: usize,
    /// Shrink and keep at most this many disagreements, those of the lowest case numbers (the
    /// same whatever the number of jobs); the others are only counted.
    pub max_findings: usize,
    /// Run only this shard's cases ([`crate::explore::shard`]): with the same seed and case count, the
    /// shards together run exactly the cases of the whole exploration.
    pub shard: Option<Shard>,
    /// Read the kernel's reason for every RST and check it ([`crate::reasons`]); off only to
    /// measure what that costs.
    pub reasons: bool,
    /// Which cases the seed gives: with [`Draws::Timers`], the timer steps too (reboots, cuts
    /// and restores of the link, `set user-timeout`, `set keepalive`).
    pub draws: Draws,
}

impl ExploreOptions {
    /// The TCP settings the cases run with: the kernel's own time for the silent peer's
    /// stories ([`Draws::Silence`]), the lab's otherwise.
    pub fn tcp(&self) -> TcpSettings {
        match self.draws {
            Draws::Silence => TcpSettings::KernelTime,
            Draws::Plain | Draws::Timers => TcpSettings::Lab,
        }
    }
}

impl Default for ExploreOptions {
    fn default() -> Self {
        ExploreOptions {
            cases: Some(1000),
            time: None,
            seed: 0,
            backend: Backend::Std,
            nets: vec![Net::Loopback],
            jobs: 1,
            max_findings: 5,
            shard: None,
            reasons: true,
            draws: Draws::Plain,
        }
    }
}

/// Counters the caller can watch while [`explore`] runs (for a progress bar).
#[derive(Debug, Default)]
pub struct Progress {
    /// Cases finished.
    pub done: AtomicU64,
    /// Disagreements so far.
    pub disagreements: AtomicU64,
    /// Set by the caller (on Ctrl-C) to stop: each job finishes the case it is running and
    /// those it has drawn ahead (at most 32, a millisecond or so), takes no new case number,
    /// and [`explore`] returns the summary of the cases run. Shared, so that a
    /// signal handler can hold it.
    pub stop: Arc<AtomicBool>,
}

pub use crate::generate::{Draws, case, case_drawing, case_drawn, case_on, case_scenario};
pub use summary::{Finding, Fingerprint, Summary};

/// Runs `scenario` and checks it ([`crate::check::verify::verify`]): `Ok(None)` when kernel and
/// oracle agree.
pub fn run_and_check(
    runner: &mut Runner,
    scenario: &Scenario,
) -> Result<Option<Disagreement>, VerifyError> {
    Ok(verify(runner, scenario)?.disagreement)
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
/// let summary = explore(&ExploreOptions { cases: Some(20), ..Default::default() }, &Progress::default());
/// assert_eq!(summary.cases, 20);
/// assert_eq!(summary.agreements, 20, "{:?}", summary.findings);
/// ```
pub fn explore(options: &ExploreOptions, progress: &Progress) -> Summary {
    let start = Instant::now();
    let deadline = options.time.map(|t| start + t);
    let shared = Shared {
        next: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        findings: Mutex::new(Vec::new()),
    };
    let jobs = options.jobs.clamp(1, MAX_JOBS);
    let identity = Summary {
        planned_cases: options.cases,
        shard: options.shard,
        max_findings: options.max_findings,
        seed: options.seed,
        timers: options.draws != Draws::Plain,
        backend: options.backend,
        nets: options.nets.clone(),
        ..Summary::default()
    };
    let parts: Vec<Summary> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|job| {
                let shared = &shared;
                scope.spawn(move || work(options, job, deadline, shared, progress))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let findings = shared
        .findings
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let mut summary = parts.into_iter().fold(identity, |sum, part| sum + part);
    summary += Summary {
        findings,
        seconds: start.elapsed().as_secs_f64(),
        jobs,
        interrupted: progress.stop.load(Ordering::Relaxed),
        ..Summary::default()
    };
    summary
}

/// What the jobs share.
struct Shared {
    /// The next case number to run.
    next: AtomicU64,
    /// Set when a job cannot start: the others stop too.
    stop: AtomicBool,
    /// The shrunk disagreements kept so far.
    findings: Mutex<Vec<Finding>>,
}

impl Shared {
    /// Whether case `index`'s disagreement is worth shrinking: it is among the `max` lowest
    /// case numbers found so far. Keeping exactly those makes the findings the same whatever the
    /// number of jobs.
    fn wants(&self, index: u64, max: usize) -> bool {
        if max == 0 {
            return false;
        }
        let found = self.findings.lock().unwrap_or_else(|e| e.into_inner());
        if found.len() < max {
            return true;
        }
        let mut cases: Vec<u64> = found.iter().map(|f| f.case).collect();
        cases.sort_unstable();
        cases.get(max - 1).is_some_and(|&c| index < c)
    }
}

/// Case `index`'s contribution to [`Summary::fingerprint`] (which adds them up, wrapping): the
/// 64-bit FNV-1a hash of the index as 8 little-endian bytes followed by the scenario's text
/// (one step per line). Unlike std's `DefaultHasher`, whose output may change between Rust
/// releases, FNV-1a is defined once and for all.
pub fn case_digest(index: u64, scenario: &Scenario) -> u64 {
    let mut hash = fnv1a(FNV_OFFSET_BASIS, &index.to_le_bytes());
    for step in scenario.steps() {
        match step_text(step, &mut hash) {
            Some(()) => hash = fnv1a(hash, b"\n"),
            None => return digest_of_display(index, scenario),
        }
    }
    hash
}

/// [`case_digest`] by the scenario's `Display`: the definition, which [`step_text`] follows.
fn digest_of_display(index: u64, scenario: &Scenario) -> u64 {
    let mut hash = Fnv1a(fnv1a(FNV_OFFSET_BASIS, &index.to_le_bytes()));
    // The text's bytes as `Display` writes them, hashed on the way: no string per case.
    std::fmt::Write::write_fmt(&mut hash, format_args!("{scenario}")).expect("hashing never fails");
    hash.0
}

/// Hashes `step`'s line as `Display` writes it (`who op[ arg]`, without its newline) into
/// `hash`, without the formatting machinery, which cost five times the hashing (a tenth of a
/// link case's user-space instructions); `None`, hashing nothing, for a step with an expected
/// outcome (`=> ...`), which generated scenarios never have. A test holds it to `Display`.
fn step_text(step: &Step, hash: &mut u64) -> Option<()> {
    if step.expect.is_some() {
        return None;
    }
    let mut h = fnv1a(*hash, step.who.as_str().as_bytes());
    h = fnv1a(h, b" ");
    h = fnv1a(h, step.op.name().as_bytes());
    let mut digits = [0u8; 20];
    match step.op.arg() {
        Arg::None => {}
        Arg::Count(n) => {
            h = fnv1a(h, b" ");
            h = fnv1a(h, decimal(n as u64, &mut digits));
        }
        Arg::How(how) => {
            h = fnv1a(h, b" ");
            h = fnv1a(h, how.as_str().as_bytes());
        }
        Arg::Duration(d) => {
            // The largest of `s`, `ms`, `us` that shows it exactly (`DisplayDuration`).
            let us = u64::try_from(d.as_micros()).ok()?;
            let (n, unit): (u64, &[u8]) = if us != 0 && us % 1_000_000 == 0 {
                (us / 1_000_000, b"s")
            } else if us != 0 && us % 1_000 == 0 {
                (us / 1_000, b"ms")
            } else {
                (us, b"us")
            };
            h = fnv1a(h, b" ");
            h = fnv1a(h, decimal(n, &mut digits));
            h = fnv1a(h, unit);
        }
        // Never drawn at random (weight 0): its text, as `Display` gives it.
        Arg::Setting(setting) => {
            h = fnv1a(h, b" ");
            h = fnv1a(h, setting.to_string().as_bytes());
        }
    }
    *hash = h;
    Some(())
}

/// `n` in decimal, in the end of `digits`.
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[at..];
        }
    }
}

/// FNV-1a over everything written to it: as text, or as a [`Hasher`] for the counts kept per
/// step, whose keys rstlab makes itself and which SipHash (std's default) made cost more than
/// the check of the step.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(FNV_OFFSET_BASIS)
    }
}

impl std::fmt::Write for Fnv1a {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 = fnv1a(self.0, s.as_bytes());
        Ok(())
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(self.0, bytes);
    }
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, continuing from `hash`.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// How many cases a job draws ahead at most, in the pauses of the case it runs.
const MAX_AHEAD: usize = 32;

/// A job's supply of case numbers: from `shared.next` until the cases or the time run out, or
/// a stop. Every number handed out is run (a case drawn ahead too), so that the cases of an
/// exploration that stopped are still 0 to n - 1 (with `--shard`, the shard's first n).
struct Feed<'a> {
    options: &'a ExploreOptions,
    deadline: Option<Instant>,
    shared: &'a Shared,
    progress: &'a Progress,
    /// Nothing more to hand out.
    dry: bool,
}

impl Feed<'_> {
    fn next(&mut self) -> Option<u64> {
        if self.dry
            || self.shared.stop.load(Ordering::Relaxed)
            || self.progress.stop.load(Ordering::Relaxed)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
        {
            self.dry = true;
            return None;
        }
        let position = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let index = self.options.shard.map_or(position, |s| s.case_at(position));
        if self.options.cases.is_some_and(|cases| index >= cases) {
            self.dry = true;
            return None;
        }
        Some(index)
    }
}

/// A case ready to run: its scenario, its part of the fingerprint, the oracle's prediction.
struct Drawn {
    index: u64,
    scenario: Scenario,
    digest: u64,
    prediction: Prediction,
}

impl Drawn {
    fn new(options: &ExploreOptions, nets: &[Net], index: u64) -> Drawn {
        let backend = options.backend;
        let net = nets[(index % nets.len() as u64) as usize];
        // The value only: the tree is built again from the seed if the case must be shrunk.
        let (scenario, made) =
            crate::generate::case_drawn_of(options.seed, index, net, options.draws);
        let prediction = match made {
            Some(prediction) if backend == Backend::Std => prediction,
            _ => predict_for(backend, net, options.tcp(), &scenario),
        };
        Drawn {
            index,
            digest: case_digest(index, &scenario),
            prediction,
            scenario,
        }
    }
}

/// The cases a job has drawn ahead, in the order their numbers came.
///
/// A loopback pause (`sleep` of at most 50 µs in a generated case) leaves the job's thread
/// nothing to do but watch the clock; drawing and predicting the next cases there takes that
/// work off the cases that do not pause (a case's pauses are 7 µs on average, its draw and
/// prediction about 4). A case is begun only if half as long again as the usual one still fits
/// before the pause's end, so a pause lasts hardly longer than asked ([`crate::run::Idle`]).
struct Ahead {
    cases: std::collections::VecDeque<Drawn>,
    /// How long drawing a case usually takes: a moving average (weight 1/8), each time counted
    /// at most [`MAX_LOOPBACK_SLEEP`] (a draw that long was preempted, and says nothing of the
    /// next).
    usual: Duration,
}

impl Default for Ahead {
    fn default() -> Self {
        Ahead {
            cases: std::collections::VecDeque::with_capacity(MAX_AHEAD),
            usual: Duration::from_micros(10),
        }
    }
}

impl Ahead {
    /// Draws one more case if there is room and time before `until`: whether it did.
    fn fill(&mut self, until: Instant, feed: &mut Feed<'_>, nets: &[Net]) -> bool {
        let start = Instant::now();
        if self.cases.len() >= MAX_AHEAD || start + self.usual * 3 / 2 > until {
            return false;
        }
        let Some(index) = feed.next() else {
            return false;
        };
        let options = feed.options;
        self.cases.push_back(Drawn::new(options, nets, index));
        let took = start.elapsed().min(MAX_LOOPBACK_SLEEP);
        self.usual = self.usual - self.usual / 8 + took / 8;
        true
    }
}

/// One worker: takes case numbers from `shared.next` until the cases or the time run out.
fn work(
    options: &ExploreOptions,
    job: usize,
    deadline: Option<Instant>,
    shared: &Shared,
    progress: &Progress,
) -> Summary {
    let mut local = Summary::default();
    // Counted by (op, outcome) here, turned into names once at the end.
    let mut outcomes: HashMap<(&'static str, Outcome), u64, BuildHasherDefault<Fnv1a>> =
        HashMap::default();
    let nets = if options.nets.is_empty() {
        vec![Net::Loopback]
    } else {
        options.nets.clone()
    };
    // One runner per network, made when first needed (the link's namespaces cost a few ms).
    let mut runners: Vec<Option<Runner>> = nets.iter().map(|_| None).collect();
    let mut feed = Feed {
        options,
        deadline,
        shared,
        progress,
        dry: false,
    };
    let mut ahead = Ahead::default();
    // A case drawn ahead first, else the next number.
    while let Some(Drawn {
        index,
        scenario,
        digest,
        prediction,
    }) = ahead
        .cases
        .pop_front()
        .or_else(|| feed.next().map(|index| Drawn::new(options, &nets, index)))
    {
        let which = (index % nets.len() as u64) as usize;
        let net = nets[which];
        if runners[which].is_none() {
            let run_options = RunOptions {
                net,
                source_range: Some(1 + job as u8),
                reasons: options.reasons,
                tcp: options.tcp(),
                ..RunOptions::default()
            };
            match Runner::with_options(options.backend, run_options) {
                Ok(r) => runners[which] = Some(r),
                Err(e) => {
                    local.errors += 1;
                    local.first_error = Some(e.to_string());
                    shared.stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
        let runner = runners[which].as_mut().expect("made above");
        local.fingerprint = local.fingerprint + Fingerprint(digest);
        local.cases += 1;
        local.link_cases += u64::from(net == Net::Link);
        let mut idle = |until: Instant| ahead.fill(until, &mut feed, &nets);
        match verify_predicted(runner, &scenario, prediction, &mut idle) {
            Err(e) => {
                local.errors += 1;
                if local.first_error.is_none() {
                    local.first_error = Some(format!("case {index}: {e}"));
                }
            }
            Ok(Verified {
                prediction,
                disagreement,
                trace,
            }) => match disagreement {
                None => {
                    local.agreements += 1;
                    match &trace.resets {
                        crate::reasons::Resets::Stated(resets) => {
                            for r in resets {
                                *local.reasons.entry(r.reason.clone()).or_default() += 1;
                            }
                        }
                        crate::reasons::Resets::Missing(why) => {
                            if local.reasons_missing.is_none() {
                                local.reasons_missing = Some(why.to_string());
                            }
                        }
                    }
                    for (step, predicted) in scenario.steps().iter().zip(&prediction.steps) {
                        let outcome = match &predicted.outcome {
                            Outcome::Bytes(_) => Outcome::Bytes(0),
                            other => other.clone(),
                        };
                        *outcomes.entry((step.op.name(), outcome)).or_default() += 1;
                        for rule in &predicted.rules {
                            *local.rules.entry(*rule).or_default() += 1;
                        }
                    }
                }
                Some(first) => {
                    local.disagreement_count += 1;
                    progress.disagreements.fetch_add(1, Ordering::Relaxed);
                    if shared.wants(index, options.max_findings) {
                        let mut tree = case_drawing(options.seed, index, net, options.draws);
                        let (minimal, disagreement) = shrink(runner, &mut tree, first);
                        let finding = Finding {
                            case: index,
                            net,
                            scenario: minimal.to_string(),
                            inline: minimal.to_inline(),
                            disagreement,
                            original: scenario.to_string(),
                        };
                        shared
                            .findings
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(finding);
                    }
                }
            },
        }
        progress.done.fetch_add(1, Ordering::Relaxed);
    }
    local.outcomes = outcomes
        .into_iter()
        .map(|((op, outcome), n)| {
            let outcome = match outcome {
                Outcome::Bytes(_) => "ok(n)".to_string(),
                other => other.to_string(),
            };
            (format!("{op} => {outcome}"), n)
        })
        .collect();
    local
}

/// What [`capture_findings`] did with one finding.
#[derive(Debug)]
pub enum Captured {
    /// Its minimal scenario ran again on the link, checked again.
    Written {
        /// Where the capture is.
        path: std::path::PathBuf,
        /// How many packets it holds.
        packets: usize,
        /// Whether the run again disagreed with the oracle (if not, the capture shows a run
        /// that agreed: the finding did not repeat).
        disagreed: bool,
    },
    /// It ran on loopback, where packets do not pass through rstlab: no capture.
    Loopback,
}

/// Why a finding could not be captured.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The link could not be set up, or the scenario could not run again.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    /// A finding's scenario is not valid in the language (a finding read back from a file).
    #[error("case {case}: {error}")]
    Scenario {
        /// The finding's case number.
        case: u64,
        /// Why its scenario does not parse.
        error: crate::scenario::ParseError,
    },
    /// The scenario no longer runs: the oracle refuses it now.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The capture file could not be written.
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

/// Runs each finding's minimal scenario again on the link with a capture
/// ([`crate::net::pcap`]), into `dir/case-<number>.pcapng`; a loopback finding has none.
pub fn capture_findings(
    findings: &[Finding],
    backend: Backend,
    dir: &std::path::Path,
) -> Result<Vec<(u64, Captured)>, CaptureError> {
    let mut runner = None;
    let mut done = Vec::new();
    for f in findings {
        if f.net != Net::Link {
            done.push((f.case, Captured::Loopback));
            continue;
        }
        let runner = match &mut runner {
            Some(r) => r,
            None => runner.insert(Runner::with_options(
                backend,
                RunOptions {
                    net: Net::Link,
                    capture: true,
                    ..RunOptions::default()
                },
            )?),
        };
        let scenario: Scenario = f.scenario.parse().map_err(|error| CaptureError::Scenario {
            case: f.case,
            error,
        })?;
        let again = verify(runner, &scenario)?;
        let path = dir.join(format!("case-{}.pcapng", f.case));
        let title = format!("rstlab explore, case {}: {}", f.case, f.inline);
        crate::net::pcap::save(&path, &title, &again.trace.packets)?;
        done.push((
            f.case,
            Captured::Written {
                path,
                packets: again.trace.packets.len(),
                disagreed: again.disagreement.is_some(),
            },
        ));
    }
    Ok(done)
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

    #[test]
    fn the_same_seed_explores_the_same_scenarios_whatever_the_number_of_jobs() {
        let run = |jobs| {
            let options = ExploreOptions {
                cases: Some(300),
                seed: 42,
                jobs,
                ..ExploreOptions::default()
            };
            explore(&options, &Progress::default())
        };
        let one = run(1);
        assert_eq!(
            (one.cases, one.agreements),
            (300, 300),
            "{:?}",
            one.findings
        );
        for jobs in [2, 3] {
            let many = run(jobs);
            assert_eq!(many.jobs, jobs);
            assert_eq!(many.fingerprint, one.fingerprint, "{jobs} jobs");
            assert_eq!(many.agreements, one.agreements, "{jobs} jobs");
            assert_eq!(many.rules, one.rules, "{jobs} jobs");
            assert_eq!(many.outcomes, one.outcomes, "{jobs} jobs");
        }
        let other = explore(
            &ExploreOptions {
                cases: Some(300),
                seed: 43,
                ..ExploreOptions::default()
            },
            &Progress::default(),
        );
        assert_ne!(other.fingerprint, one.fingerprint);
    }

    #[test]
    fn two_shards_are_the_whole_exploration_case_for_case() {
        let run = |shard: Option<&str>| {
            let options = ExploreOptions {
                cases: Some(301),
                seed: 5,
                shard: shard.map(|s| s.parse().unwrap()),
                ..ExploreOptions::default()
            };
            explore(&options, &Progress::default())
        };
        let whole = run(None);
        let parts = [run(Some("1/2")), run(Some("2/2"))];
        assert_eq!((parts[0].cases, parts[1].cases), (151, 150));
        // As `rstlab merge` reads them: through their JSON form.
        let read = |s: &Summary| -> Summary {
            serde_json::from_value(serde_json::to_value(s).unwrap()).unwrap()
        };
        let merged = crate::explore::merge::merge(&[read(&parts[1]), read(&parts[0])]).unwrap();
        assert_eq!(merged.cases, whole.cases);
        assert_eq!(merged.agreements, whole.agreements);
        assert_eq!(merged.disagreement_count, whole.disagreement_count);
        assert_eq!(merged.rules, whole.rules);
        assert_eq!(merged.outcomes, whole.outcomes);
        assert_eq!(
            merged.fingerprint, whole.fingerprint,
            "the same cases, scenario for scenario"
        );
    }

    #[test]
    fn the_fingerprint_has_a_fixed_definition() {
        // FNV-1a's published test vectors.
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"foobar"), 0x8594_4171_f739_67e8);
        // A case's digest (computed apart, in Python, from the same definition): written out so any
        // change to it (or a return to a hasher without a fixed definition) fails.
        let s: Scenario = "client write 1\nserver close".parse().unwrap();
        let mut bytes = 7u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"client write 1\nserver close\n");
        assert_eq!(case_digest(7, &s), fnv1a(FNV_OFFSET_BASIS, &bytes));
        assert_eq!(case_digest(7, &s), 0x843f_6962_5e17_19e4);
    }

    #[test]
    fn a_digest_hashes_the_text_display_writes() {
        let check = |s: &Scenario| assert_eq!(case_digest(3, s), digest_of_display(3, s), "{s}");
        let written: Scenario =
            "link delay 0us; link delay 100ms; client sleep 1s; server sleep 1500ms; \
             client sleep 120000us; client sleep 7us; client write 65536; server read 10; \
             client shutdown both; server poll; server error; link hold; link release; link drop; \
             server abort"
                .parse()
                .unwrap();
        check(&written);
        let expecting: Scenario = "server close; client write 1 => ok(1)".parse().unwrap();
        check(&expecting);
        for net in Net::ALL {
            for index in 0..3000 {
                check(&case_scenario(11, index, net));
            }
        }
    }

    #[test]
    fn a_stop_request_ends_the_exploration_with_the_cases_run() {
        let progress = Progress::default();
        progress.stop.store(true, Ordering::Relaxed);
        let options = ExploreOptions {
            cases: Some(1_000_000),
            ..ExploreOptions::default()
        };
        let summary = explore(&options, &progress);
        assert_eq!(summary.cases, 0);
        assert_eq!(summary.agreements, 0);
    }

    #[test]
    fn the_findings_kept_are_those_of_the_lowest_case_numbers() {
        let shared = Shared {
            next: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            findings: Mutex::new(Vec::new()),
        };
        let finding = |case| Finding {
            case,
            net: Net::Loopback,
            scenario: String::new(),
            inline: String::new(),
            disagreement: Disagreement {
                step: 1,
                text: String::new(),
                mismatch: crate::check::Mismatch::Outcome {
                    predicted: Outcome::Ok,
                    observed: Outcome::Eof,
                },
            },
            original: String::new(),
        };
        for case in [30, 10, 20] {
            assert!(shared.wants(case, 3));
            shared.findings.lock().unwrap().push(finding(case));
        }
        assert!(!shared.wants(31, 3));
        assert!(shared.wants(5, 3));
        assert!(!shared.wants(0, 0));
    }
}
