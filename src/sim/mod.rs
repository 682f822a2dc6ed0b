//! Simulators judged against Linux.
//!
//! Deterministic network simulators let people test network code without sockets, and people
//! trust them to behave like the kernel. This module runs the same scenarios in a simulator and
//! compares every step with the oracle ([`crate::oracle`]), which stands for Linux: the rules'
//! canonical scenarios and random loopback scenarios from the generator, each divergence shrunk
//! to a minimal scenario that `rstlab run` answers as Linux does.
//!
//! A simulator is one file: a type implementing [`Simulator`], which performs a list of steps on
//! the simulator's own socket API and says which ops have no meaning there
//! ([`Simulator::unmodelled`]). It knows nothing of the oracle or of any scenario's answer: the
//! divergences come from running. [`survey`] does the rest: it asks the oracle, compares, shrinks
//! and groups. A step the simulator cannot perform is reported as not modelled, never guessed;
//! the steps after it are not compared (they would start from another state), except after a
//! `poll`, which changes nothing on Linux. `link …` steps are out of scope: a scenario with one is
//! refused ([`CompareError::Link`]).
//!
//! - [`turmoil`]: `turmoil` 0.7 (`turmoil::net::TcpStream` in a `turmoil::Sim`).
//! - [`turmoil_net`]: `turmoil-net` 0.1 (its tokio shim, driven through its fabric).
//! - [`known`]: the divergences known so far, with what is known of them upstream; `cargo test`
//!   fails when a simulator release fixes one.
//! - [`chapter`](mod@chapter): the book's "Simulators" chapter, rendered from the stored reports
//!   (`docs/simulators/*.json`).

pub mod chapter;
pub mod known;
pub mod turmoil;
pub mod turmoil_net;

use std::collections::BTreeMap;
use std::io;

use proptest::strategy::ValueTree;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::backend::Backend;
use crate::net::Net;
use crate::oracle::kernel::Kernel;
use crate::oracle::{self, Beyond, Prediction};
use crate::outcome::{Errno, Outcome};
use crate::rules::Rule;
use crate::scenario::{Op, Scenario, Step};

pub use chapter::{body as chapter_body, chapter, load as load_reports, render};

/// The version of a report's JSON form (`rstlab sim --json`, `docs/simulators/*.json`): it
/// changes when a field changes meaning or goes away, not when one is added.
pub const SCHEMA: u32 = 1;

/// What the simulator answered to one step it performed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The answer in the language's words: `ok(N)`, `eof`, an errno. An `io::Error` without an
    /// errno is given the errno that std turns into the same `io::ErrorKind` on Linux (see
    /// [`errno_of`]), and [`Outcome::NoErrno`] when there is none.
    pub outcome: Outcome,
    /// The simulator's own words: the `io::ErrorKind` and message, or the value returned.
    pub detail: String,
}

impl Observed {
    /// An answer with nothing more to say than the outcome.
    pub fn plain(outcome: Outcome) -> Observed {
        Observed {
            detail: outcome.to_string(),
            outcome,
        }
    }

    /// The answer of an I/O call that moves bytes: `Ok(0)` is `eof`.
    pub fn of_io(result: io::Result<usize>) -> Observed {
        match result {
            Ok(0) => Observed::plain(Outcome::Eof),
            Ok(n) => Observed::plain(Outcome::Bytes(n)),
            Err(e) => Observed::of_error(&e),
        }
    }

    /// The answer of a call that returns nothing.
    pub fn of_unit(result: io::Result<()>) -> Observed {
        match result {
            Ok(()) => Observed::plain(Outcome::Ok),
            Err(e) => Observed::of_error(&e),
        }
    }

    /// The answer of a failed call.
    pub fn of_error(e: &io::Error) -> Observed {
        let outcome = match errno_of(e) {
            Some(errno) => Outcome::Err(errno),
            None => Outcome::NoErrno(format!("{:?}", e.kind())),
        };
        Observed {
            outcome,
            detail: format!("{:?}: {e}", e.kind()),
        }
    }
}

/// The errno behind an `io::Error`: its own where it has one, else the one errno that std's
/// Linux `decode_error_kind` turns into the error's kind (`BrokenPipe` is only ever `EPIPE`,
/// `ConnectionReset` only `ECONNRESET`, `WouldBlock` only `EAGAIN`, …); `None` for a kind no
/// single errno gives (`Other`, `UnexpectedEof`, …).
///
/// ```
/// use std::io;
/// use rstlab::Errno;
/// use rstlab::sim::errno_of;
/// assert_eq!(errno_of(&io::ErrorKind::BrokenPipe.into()), Some(Errno::EPIPE));
/// assert_eq!(errno_of(&io::Error::from_raw_os_error(libc::ECONNRESET)), Some(Errno::ECONNRESET));
/// assert_eq!(errno_of(&io::Error::other("no")), None);
/// ```
pub fn errno_of(e: &io::Error) -> Option<Errno> {
    if let Some(raw) = e.raw_os_error() {
        return Some(Errno(raw));
    }
    use io::ErrorKind as K;
    Some(match e.kind() {
        K::BrokenPipe => Errno::EPIPE,
        K::ConnectionReset => Errno::ECONNRESET,
        K::WouldBlock => Errno::EAGAIN,
        K::NotConnected => Errno::ENOTCONN,
        K::ConnectionAborted => Errno::ECONNABORTED,
        K::ConnectionRefused => Errno::ECONNREFUSED,
        K::TimedOut => Errno::ETIMEDOUT,
        K::AddrInUse => Errno::EADDRINUSE,
        K::AddrNotAvailable => Errno::EADDRNOTAVAIL,
        K::InvalidInput => Errno::EINVAL,
        K::Interrupted => Errno::EINTR,
        K::HostUnreachable => Errno::EHOSTUNREACH,
        K::NetworkUnreachable => Errno::ENETUNREACH,
        _ => return None,
    })
}

/// Why a simulator could not run a scenario at all.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SimError {
    /// The simulator failed outside any step (setting up the connection, a host that stopped),
    /// or a step never answered.
    #[error("{0}")]
    Failed(String),
    /// The simulator panicked.
    #[error("the simulator panicked: {0}")]
    Panicked(String),
}

/// A deterministic network simulator, driven through the scenario language.
pub trait Simulator {
    /// Its name on the command line and in reports (`turmoil`).
    fn name(&self) -> &'static str;
    /// The version of the crate that is driven.
    fn version(&self) -> &'static str;
    /// The real socket API the simulator stands in for: the oracle predicts what that API
    /// reports on Linux. Both simulators here mirror `tokio::net`.
    fn backend(&self) -> Backend {
        Backend::Tokio
    }
    /// How the scenario's steps are mapped to the simulator's API, in one paragraph.
    fn mapping(&self) -> &'static str;
    /// Why `step` has no meaning in the simulator (its API has no such call), or `None` when
    /// [`Simulator::run`] performs it.
    fn unmodelled(&self, step: &Step) -> Option<&'static str>;
    /// Sets up a fresh connection (a client that connected, a server that accepted) and
    /// performs `steps` in order, every one of which [`Simulator::unmodelled`] accepts, letting
    /// the simulated network settle after each (every segment a step caused delivered and
    /// answered). One answer per step.
    fn run(&mut self, steps: &[Step]) -> Result<Vec<Observed>, SimError>;
}

/// The simulators rstlab drives, by name.
pub const NAMES: [&str; 2] = ["turmoil", "turmoil-net"];

/// The simulator called `name` (one of [`NAMES`]).
pub fn by_name(name: &str) -> Option<Box<dyn Simulator>> {
    match name {
        "turmoil" => Some(Box::new(turmoil::Turmoil::new())),
        "turmoil-net" => Some(Box::new(turmoil_net::TurmoilNet::new())),
        _ => None,
    }
}

/// How one step compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The simulator answered what Linux answers.
    Agree,
    /// The simulator answered something else.
    Diverge,
    /// The step has no meaning in the simulator: why.
    Unmodelled(&'static str),
    /// Not compared: after a divergence or after a step that is not modelled, the simulator
    /// and Linux no longer start from the same state.
    NotCompared,
}

/// One scenario compared.
#[derive(Clone, Debug)]
pub struct Compared {
    /// Linux's answers (the oracle), for the simulator's backend on loopback.
    pub prediction: Prediction,
    /// The simulator's answer to each step it performed.
    pub observed: Vec<Option<Observed>>,
    /// Each step's verdict.
    pub verdicts: Vec<Verdict>,
}

impl Compared {
    /// The index of the first step that diverges.
    pub fn first_divergence(&self) -> Option<usize> {
        self.verdicts.iter().position(|v| *v == Verdict::Diverge)
    }
}

/// Why a scenario was not compared.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CompareError {
    /// A `link …` step: out of scope.
    #[error(
        "a `link` step (step {0}): the emulated link is out of scope for simulators (rstlab compares \
         loopback scenarios only)"
    )]
    Link(usize),
    /// The oracle stops before the end.
    #[error("{0}")]
    Beyond(Beyond),
    /// The simulator failed.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// The oracle's answers for `sim`'s API on loopback: Linux.
pub fn linux(sim: &dyn Simulator, scenario: &Scenario) -> Prediction {
    oracle::predict(
        scenario,
        &oracle::Settings {
            backend: sim.backend(),
            net: Some(Net::Loopback),
            ..oracle::Settings::default()
        },
    )
}

/// Runs `scenario` in `sim` and compares each step with Linux (the oracle).
pub fn compare(sim: &mut dyn Simulator, scenario: &Scenario) -> Result<Compared, CompareError> {
    if let Some(i) = scenario
        .steps()
        .iter()
        .position(|s| matches!(s.op, Op::Link(_)))
    {
        return Err(CompareError::Link(i + 1));
    }
    let prediction = linux(sim, scenario);
    if let Some(beyond) = prediction.beyond {
        return Err(CompareError::Beyond(beyond));
    }
    let steps = scenario.steps();
    let mut verdicts = vec![Verdict::NotCompared; steps.len()];
    let mut performed = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match sim.unmodelled(step) {
            Some(why) => {
                verdicts[i] = Verdict::Unmodelled(why);
                // poll(2) changes nothing on Linux: the steps after it still compare.
                if step.op != Op::Poll {
                    break;
                }
            }
            None => performed.push(i),
        }
    }
    let to_run: Vec<Step> = performed.iter().map(|&i| steps[i].clone()).collect();
    let answers = sim.run(&to_run)?;
    if answers.len() != to_run.len() {
        return Err(SimError::Failed(format!(
            "{} answered {} of {} steps",
            sim.name(),
            answers.len(),
            to_run.len()
        ))
        .into());
    }
    let mut observed = vec![None; steps.len()];
    for (&i, answer) in performed.iter().zip(answers) {
        verdicts[i] = if answer.outcome == prediction.steps[i].outcome {
            Verdict::Agree
        } else {
            Verdict::Diverge
        };
        observed[i] = Some(answer);
    }
    if let Some(first) = verdicts.iter().position(|v| *v == Verdict::Diverge) {
        for v in &mut verdicts[first + 1..] {
            *v = Verdict::NotCompared;
        }
    }
    Ok(Compared {
        prediction,
        observed,
        verdicts,
    })
}

/// What identifies a divergence: the op, the rules behind Linux's answer, and both answers,
/// with byte counts left out (`ok(N)`), so that the same difference found with other sizes is
/// one divergence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signature {
    /// The rules behind Linux's answer: every rule the oracle names for the step, in the order
    /// it applied them, joined by `, ` (the first is the step's own).
    pub rules: String,
    /// The op (`write`, `read`, `shutdown write`, …).
    pub op: String,
    /// Linux's answer, counts left out.
    pub linux: String,
    /// The simulator's answer, counts left out.
    pub simulator: String,
}

fn shape(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Bytes(_) => "ok(N)".to_string(),
        other => other.to_string(),
    }
}

fn op_words(op: &Op) -> String {
    match op {
        Op::Write(_) | Op::Read(_) | Op::Sleep(_) => op.name().to_string(),
        other => other.to_string(),
    }
}

/// The rules the oracle names for a predicted step, in order.
fn rules_of(prediction: &Prediction, i: usize) -> Vec<String> {
    prediction.steps[i]
        .rules
        .iter()
        .map(|r| r.id().to_string())
        .collect()
}

/// The signature of the first divergence of a compared scenario.
pub fn signature(scenario: &Scenario, compared: &Compared) -> Option<Signature> {
    let i = compared.first_divergence()?;
    let observed = compared.observed[i].as_ref()?;
    Some(Signature {
        rules: rules_of(&compared.prediction, i).join(", "),
        op: op_words(&scenario.steps()[i].op),
        linux: shape(&compared.prediction.steps[i].outcome),
        simulator: shape(&observed.outcome),
    })
}

/// Whether `scenario` still diverges first with `wanted`.
fn diverges_as(sim: &mut dyn Simulator, scenario: &Scenario, wanted: &Signature) -> bool {
    match compare(sim, scenario) {
        Ok(c) => signature(scenario, &c).as_ref() == Some(wanted),
        Err(_) => false,
    }
}

/// Shrinks `scenario` by deleting steps and lowering byte counts, for as long as it diverges
/// first with `wanted`: a local minimum, where no single deletion or lowering keeps it.
pub fn shrink_steps(sim: &mut dyn Simulator, scenario: &Scenario, wanted: &Signature) -> Scenario {
    let mut best = scenario.without_expectations();
    let mut changed = true;
    let mut tries = 0;
    while changed && tries < 2000 {
        changed = false;
        // Deleting steps, from the end: later steps depend on earlier ones more than the reverse.
        let mut i = best.steps().len();
        while i > 0 {
            i -= 1;
            let mut steps = best.steps().to_vec();
            steps.remove(i);
            tries += 1;
            let candidate = Scenario::new(steps).ok().filter(|c| !c.steps().is_empty());
            if let Some(candidate) = candidate.filter(|c| diverges_as(sim, c, wanted)) {
                best = candidate;
                changed = true;
            }
            i = i.min(best.steps().len());
        }
        // Lowering counts: to 1, else to half.
        for i in 0..best.steps().len() {
            let n = match best.steps()[i].op {
                Op::Write(n) | Op::Read(n) if n > 1 => n,
                _ => continue,
            };
            for smaller in [1, n / 2] {
                let mut steps = best.steps().to_vec();
                steps[i].op = match steps[i].op {
                    Op::Write(_) => Op::Write(smaller),
                    _ => Op::Read(smaller),
                };
                tries += 1;
                let candidate = Scenario::new(steps).ok();
                if let Some(candidate) = candidate.filter(|c| diverges_as(sim, c, wanted)) {
                    best = candidate;
                    changed = true;
                    break;
                }
            }
        }
    }
    best
}

/// Shrinks a generated case through its value tree (the generator's own shrinking, as
/// `explore` does), keeping what still diverges first with `wanted`.
fn shrink_tree(
    sim: &mut dyn Simulator,
    tree: &mut dyn ValueTree<Value = Scenario>,
    wanted: &Signature,
) -> Scenario {
    let mut best = tree.current();
    if !tree.simplify() {
        return best;
    }
    for _ in 0..1024 {
        let candidate = tree.current();
        if diverges_as(sim, &candidate, wanted) {
            best = candidate;
            if !tree.simplify() {
                break;
            }
        } else if !tree.complicate() {
            break;
        }
    }
    best
}

/// A divergence between a simulator and Linux, with its smallest scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergence {
    /// The rule behind Linux's answer at the diverging step: the first the oracle names, the
    /// step's own.
    pub rule: String,
    /// Every rule the oracle names for that step, in the order it applied them.
    pub rules: Vec<String>,
    /// The op of the diverging step (`write`, `read`, `shutdown write`, …).
    pub op: String,
    /// The diverging step, counted from 1.
    pub step: usize,
    /// Linux's answer (the oracle's, which agrees with the kernel).
    pub linux: String,
    /// The simulator's answer.
    pub simulator: String,
    /// The simulator's own words (the `io::ErrorKind` and message).
    pub simulator_detail: String,
    /// The smallest scenario found, runnable by `rstlab run` (with `--backend tokio`: the
    /// simulators stand in for `tokio::net`): the diverging step carries `=> <linux>` and a
    /// comment with the simulator's answer.
    pub scenario: String,
    /// The same steps on one line.
    pub inline: String,
    /// Where it was first found: `rule:<id>` (a canonical scenario) or `case <i>` (random).
    pub found_in: String,
    /// How many compared scenarios diverged first this way.
    pub occurrences: u64,
    /// What is known of it ([`known::KNOWN`]), or `None` for a divergence not yet listed there.
    pub known: Option<String>,
}

/// Why the steps of one op were not modelled, and how many there were.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmodelled {
    /// Why the op has no meaning in the simulator.
    pub why: String,
    /// Steps not modelled.
    pub steps: u64,
}

/// A scenario that was not compared, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// `rule:<id>` or `case <i>`.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// A simulator judged against Linux: what `rstlab sim NAME --json` prints and
/// `docs/simulators/NAME.json` stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The simulator's name.
    pub simulator: String,
    /// The version driven.
    pub version: String,
    /// The API whose Linux answers are the reference (`tokio`).
    pub backend: String,
    /// The kernel profile the oracle predicted for.
    pub kernel: String,
    /// How the steps are mapped to the simulator.
    pub mapping: String,
    /// The seed of the random cases.
    pub seed: u64,
    /// Whether a signal stopped the survey: the counts are those of the scenarios compared.
    /// Absent from a whole survey's JSON (the stored reports).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Random cases run.
    pub cases: u64,
    /// Canonical scenarios (one per rule) compared.
    pub canonical: u64,
    /// Scenarios compared in all.
    pub scenarios: u64,
    /// Steps compared (an answer of the simulator set against Linux's).
    pub steps_compared: u64,
    /// Of those, the steps where they agree.
    pub agreements: u64,
    /// Steps that have no meaning in the simulator.
    pub unmodelled: u64,
    /// Steps not compared (after a divergence, or after a step not modelled).
    pub not_compared: u64,
    /// Scenarios that diverged (at their first diverging step).
    pub divergent_scenarios: u64,
    /// Ops not modelled, by op: why, and how many steps.
    pub unmodelled_ops: BTreeMap<String, Unmodelled>,
    /// Scenarios refused (`link` steps, beyond the oracle) or that the simulator could not run.
    pub refused: Vec<Refused>,
    /// The divergences, grouped by (rules, op, Linux, simulator), each with its smallest
    /// scenario, in catalogue order of their first rule.
    pub divergences: Vec<Divergence>,
}

/// What [`survey`] runs.
#[derive(Clone, Debug)]
pub struct SurveyOptions {
    /// Random loopback cases from the generator.
    pub cases: u64,
    /// Their seed (case `i` of seed `s` is `rstlab explore`'s case `i` of seed `s` on loopback).
    pub seed: u64,
    /// Whether to compare the rules' canonical scenarios first.
    pub canonical: bool,
    /// Set (by a signal handler) to stop: no scenario starts after it, and the report holds
    /// what was compared ([`Report::interrupted`]).
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Default for SurveyOptions {
    fn default() -> Self {
        SurveyOptions {
            cases: 1000,
            seed: 1,
            canonical: true,
            stop: Default::default(),
        }
    }
}

/// The scenario text of a divergence: the steps, the diverging one with Linux's answer as its
/// expectation and the simulator's in a comment.
fn divergence_text(
    sim: &dyn Simulator,
    scenario: &Scenario,
    i: usize,
    linux: &Outcome,
    observed: &Observed,
) -> String {
    let mut text = String::new();
    for (j, step) in scenario.steps().iter().enumerate() {
        if j == i {
            let mut step = step.clone();
            step.expect = Some(linux.clone());
            let answer = observed.outcome.to_string();
            let detail = if observed.detail == answer {
                String::new()
            } else {
                format!(" ({})", observed.detail)
            };
            text += &format!(
                "{step}   # {} {}: {answer}{detail}\n",
                sim.name(),
                sim.version(),
            );
        } else {
            text += &format!("{step}\n");
        }
    }
    text
}

/// Accumulates compared scenarios into a [`Report`].
struct Tally {
    report: Report,
    groups: BTreeMap<Signature, Divergence>,
}

impl Tally {
    fn count(&mut self, compared: &Compared, scenario: &Scenario) {
        self.report.scenarios += 1;
        for (step, verdict) in scenario.steps().iter().zip(&compared.verdicts) {
            match verdict {
                Verdict::Agree => {
                    self.report.steps_compared += 1;
                    self.report.agreements += 1;
                }
                Verdict::Diverge => {
                    self.report.steps_compared += 1;
                    self.report.divergent_scenarios += 1;
                }
                Verdict::Unmodelled(why) => {
                    self.report.unmodelled += 1;
                    self.report
                        .unmodelled_ops
                        .entry(op_words(&step.op))
                        .or_insert_with(|| Unmodelled {
                            why: why.to_string(),
                            steps: 0,
                        })
                        .steps += 1;
                }
                Verdict::NotCompared => self.report.not_compared += 1,
            }
        }
    }

    /// Compares `scenario` (named `name` in the report) and counts what it shows; a divergence
    /// is shrunk (a random case by its value `tree` first, then step by step) and kept as its
    /// group's example if it is the smallest. A case with a tree is not shrunk again once its
    /// group's example has two steps or fewer. Returns whether it could be compared (if not,
    /// it is listed as refused, with the reason).
    fn compare(
        &mut self,
        sim: &mut dyn Simulator,
        scenario: &Scenario,
        name: &str,
        tree: Option<&mut dyn ValueTree<Value = Scenario>>,
    ) -> bool {
        let compared = match compare(sim, scenario) {
            Ok(compared) => compared,
            Err(e) => {
                self.report.refused.push(Refused {
                    name: name.to_string(),
                    reason: e.to_string(),
                });
                return false;
            }
        };
        self.count(&compared, scenario);
        let Some(sig) = signature(scenario, &compared) else {
            return true;
        };
        let shrunk = match tree {
            None => Some(shrink_steps(sim, scenario, &sig)),
            Some(tree) => {
                let kept_steps = self.groups.get(&sig).map(|d| d.inline.matches(';').count());
                // Shrink a new divergence, or one whose example could get smaller.
                kept_steps.is_none_or(|k| k > 1).then(|| {
                    let shrunk = shrink_tree(sim, tree, &sig);
                    shrink_steps(sim, &shrunk, &sig)
                })
            }
        };
        if let Some(shrunk) = shrunk {
            self.keep(sim, sig.clone(), &shrunk, name);
        }
        if let Some(d) = self.groups.get_mut(&sig) {
            d.occurrences += 1;
        }
        true
    }

    /// Keeps `scenario` (already shrunk) as the example of `signature` if it is the smallest.
    fn keep(
        &mut self,
        sim: &mut dyn Simulator,
        signature: Signature,
        scenario: &Scenario,
        found_in: &str,
    ) {
        let Ok(compared) = compare(sim, scenario) else {
            return;
        };
        let Some(i) = compared.first_divergence() else {
            return;
        };
        let Some(observed) = compared.observed[i].clone() else {
            return;
        };
        let linux = compared.prediction.steps[i].outcome.clone();
        let scenario = scenario.without_expectations();
        let rules = rules_of(&compared.prediction, i);
        let candidate = Divergence {
            rule: rules.first().cloned().unwrap_or_else(|| "-".to_string()),
            rules,
            op: signature.op.clone(),
            step: i + 1,
            linux: linux.to_string(),
            simulator: observed.outcome.to_string(),
            simulator_detail: observed.detail.clone(),
            scenario: divergence_text(&*sim, &scenario, i, &linux, &observed),
            inline: scenario.to_inline(),
            found_in: found_in.to_string(),
            occurrences: 0,
            known: known::note(sim.name(), &signature).map(str::to_string),
        };
        let size = |d: &Divergence| (d.inline.matches(';').count(), d.inline.len());
        match self.groups.get_mut(&signature) {
            Some(kept) if size(kept) <= size(&candidate) => {}
            Some(kept) => {
                let occurrences = kept.occurrences;
                *kept = Divergence {
                    occurrences,
                    ..candidate
                };
            }
            None => {
                self.groups.insert(signature, candidate);
            }
        }
    }
}

/// Judges `sim` against Linux: the rules' canonical scenarios, then `options.cases` random
/// loopback scenarios; every divergence shrunk and grouped. `progress` is told what runs.
pub fn survey(
    sim: &mut dyn Simulator,
    options: &SurveyOptions,
    mut progress: impl FnMut(&str),
) -> Report {
    let mut tally = Tally {
        report: Report {
            schema: SCHEMA,
            simulator: sim.name().to_string(),
            version: sim.version().to_string(),
            backend: sim.backend().to_string(),
            kernel: Kernel::running().to_string(),
            mapping: sim.mapping().to_string(),
            seed: options.seed,
            interrupted: false,
            cases: 0,
            canonical: 0,
            scenarios: 0,
            steps_compared: 0,
            agreements: 0,
            unmodelled: 0,
            not_compared: 0,
            divergent_scenarios: 0,
            unmodelled_ops: BTreeMap::new(),
            refused: Vec::new(),
            divergences: Vec::new(),
        },
        groups: BTreeMap::new(),
    };
    let stopped = || options.stop.load(std::sync::atomic::Ordering::Relaxed);
    if options.canonical {
        progress("the rules' canonical scenarios");
        for &rule in Rule::ALL {
            if stopped() {
                break;
            }
            let name = format!("rule:{}", rule.id());
            let scenario = rule.scenario().without_expectations();
            if tally.compare(sim, &scenario, &name, None) {
                tally.report.canonical += 1;
            }
        }
    }
    if options.cases > 0 {
        progress(&format!(
            "{} random loopback scenarios, seed {}",
            options.cases, options.seed
        ));
    }
    for index in 0..options.cases {
        if stopped() {
            break;
        }
        let mut tree = crate::generate::case_on(options.seed, index, Net::Loopback);
        let scenario = tree.current();
        tally.report.cases += 1;
        tally.compare(sim, &scenario, &format!("case {index}"), Some(&mut tree));
    }
    let mut divergences: Vec<Divergence> = tally.groups.into_values().collect();
    divergences.sort_by(|a, b| {
        let order = |d: &Divergence| {
            Rule::ALL
                .iter()
                .position(|r| r.id() == d.rule)
                .unwrap_or(usize::MAX)
        };
        (order(a), &a.rules, &a.op, &a.linux, &a.simulator).cmp(&(
            order(b),
            &b.rules,
            &b.op,
            &b.linux,
            &b.simulator,
        ))
    });
    tally.report.divergences = divergences;
    tally.report.interrupted = stopped();
    tally.report
}

/// Runs `f` (one scenario in a simulator), turning a panic into [`SimError::Panicked`].
pub(crate) fn catch<T>(f: impl FnOnce() -> Result<T, SimError>) -> Result<T, SimError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            Err(SimError::Panicked(message))
        }
    }
}
