//! The rules book: `RULES.md`, generated from evidence gathered on the running kernel.
//!
//! [`build`] runs every canonical scenario (`scenarios/<id>.scenario`) on both backends, a
//! table of situations (what the next write and the next read return after each way a
//! connection can end), a number of random scenarios per backend, and the SIGPIPE experiment
//! ([`crate::sigpipe`]); then it writes the book: the summary table, the seed article's closing
//! claim checked against the evidence, SIGPIPE, and one section per [`Rule`] with its statement,
//! mechanism, canonical scenario, sequence diagram ([`crate::diagram`]), observed results and
//! evidence.
//!
//! Everything in the book is sorted and deterministic: regenerating it on the same kernel
//! changes only counts, dates and the kernel version ([`mask_volatile`] hides exactly those).
//! [`catalogue_in`] reads the rules back out of a book, so that a test can hold the committed
//! book to the catalogue.
//!
//! ```
//! use rstlab::book::{catalogue, catalogue_in};
//! // A book lists every rule of the catalogue, with its statement, mechanism and scenario.
//! let book = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/RULES.md")).unwrap();
//! assert_eq!(catalogue_in(&book), catalogue());
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::check::Disagreement;
use crate::diagram::Diagram;
use crate::oracle::{Prediction, SegmentKind};
use crate::outcome::Outcome;
use crate::rules::Rule;
use crate::run::{Backend, Net, RunError, RunOptions, Runner, Trace};
use crate::scenario::{Op, Scenario};
use crate::timeline::Timeline;
use crate::verify::{Verified, VerifyError, verify};

pub mod kernels;
mod timing;
use crate::sigpipe::{self, Probe, ProbeError, ProbeReport};

/// What goes into a book.
#[derive(Clone, Debug)]
pub struct BookOptions {
    /// Random scenarios per backend, on top of the canonical ones.
    pub cases: u64,
    /// The seed of the random scenarios ([`crate::explore::case`]).
    pub seed: u64,
    /// The `rstlab` binary that runs the SIGPIPE probes in child processes; `None` leaves the
    /// experiment out of the book.
    pub probe_exe: Option<PathBuf>,
    /// Where the SVG diagrams go, relative to the book, with `/` separators.
    pub svg_dir: String,
    /// The surveys of the "Kernels" chapter (`rstlab kernels --out DIR`): read, not run.
    pub kernels_dir: PathBuf,
}

impl Default for BookOptions {
    fn default() -> Self {
        BookOptions {
            cases: 2000,
            seed: 0,
            probe_exe: None,
            svg_dir: "docs/rules".to_string(),
            kernels_dir: PathBuf::from("docs/kernels"),
        }
    }
}

/// A generated book: the Markdown text, its SVG files, and what it took.
#[derive(Clone, Debug)]
pub struct Book {
    /// The text of `RULES.md`.
    pub markdown: String,
    /// `(path relative to the book, SVG text)`, one per rule, sorted by path.
    pub svgs: Vec<(String, String)>,
    /// Rules in the book.
    pub rules: usize,
    /// Scenarios run on real sockets (every backend counted).
    pub scenarios_run: u64,
    /// Runs in which the kernel disagreed with the oracle or with a `=>` line.
    pub disagreements: u64,
    /// The book's claims and rules that this run's evidence does not support, each marked
    /// "unsupported" in the text: a rule no run exercised, a claim the counts contradict or
    /// have nothing for. Empty for a book that stands on its evidence.
    pub unsupported: Vec<String>,
}

/// Why a book could not be built.
#[derive(Debug, Error)]
pub enum BookError {
    /// A scenario could not be run.
    #[error("running a scenario: {0}")]
    Run(#[from] RunError),
    /// The SIGPIPE experiment could not be carried out.
    #[error("the SIGPIPE experiment: {0}")]
    Probe(#[from] ProbeError),
    /// The kernels' surveys could not be read.
    #[error("reading the kernels' surveys: {0}")]
    Kernels(std::io::Error),
    /// A canonical scenario does not parse (the catalogue is broken).
    #[error("scenarios/{id}.scenario: {message}")]
    Canonical {
        /// The rule.
        id: &'static str,
        /// The parse error.
        message: String,
    },
}

/// A rule as the book states it: what a test compares between the catalogue and the book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleEntry {
    /// The stable id.
    pub id: String,
    /// The one-line statement.
    pub statement: String,
    /// The mechanism and its source.
    pub mechanism: String,
    /// The canonical scenario, as in `scenarios/<id>.scenario` (trimmed).
    pub scenario: String,
}

/// The catalogue's rules, as a book must state them.
pub fn catalogue() -> Vec<RuleEntry> {
    Rule::ALL
        .iter()
        .map(|r| RuleEntry {
            id: r.id().to_string(),
            statement: r.statement().to_string(),
            mechanism: r.mechanism().to_string(),
            scenario: r.canonical().trim().to_string(),
        })
        .collect()
}

/// The rules a book states, in its order: every `### id` section under `## Rules`.
///
/// ```
/// let book = "## Rules\n\n### a-rule\n\n> Says this.\n\n**Mechanism.** That.\n\n\
///             **Canonical scenario**:\n\n```text\nserver close\n```\n\n## After\n";
/// let rules = rstlab::book::catalogue_in(book);
/// assert_eq!(rules.len(), 1);
/// assert_eq!((rules[0].id.as_str(), rules[0].scenario.as_str()), ("a-rule", "server close"));
/// ```
pub fn catalogue_in(markdown: &str) -> Vec<RuleEntry> {
    let start = if markdown.starts_with("## Rules\n") {
        0
    } else {
        match markdown.find("\n## Rules\n") {
            Some(at) => at + 1,
            None => return Vec::new(),
        }
    };
    let rest = &markdown[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end]
        .split("\n### ")
        .skip(1)
        .map(|section| {
            let id = section.lines().next().unwrap_or("").trim().to_string();
            let statement = section
                .lines()
                .find_map(|l| l.strip_prefix("> "))
                .unwrap_or("")
                .to_string();
            let mechanism = section
                .lines()
                .find_map(|l| l.strip_prefix("**Mechanism.** "))
                .unwrap_or("")
                .to_string();
            let scenario = section
                .find("**Canonical scenario**")
                .and_then(|at| {
                    let after = &section[at..];
                    let open = after.find("```text\n")? + "```text\n".len();
                    let close = after[open..].find("\n```")?;
                    Some(after[open..open + close].trim().to_string())
                })
                .unwrap_or_default();
            RuleEntry {
                id,
                statement,
                mechanism,
                scenario,
            }
        })
        .collect()
}

/// The book with what may change between two runs on a machine hidden: every number (counts,
/// dates) and the kernel release. Two books of the same catalogue are equal under this mask.
///
/// ```
/// use rstlab::book::mask_volatile;
/// assert_eq!(
///     mask_volatile("Linux `6.1.0-arch`, 2026-11-25: 17 runs"),
///     mask_volatile("Linux `6.18.44`, 2027-01-02: 3 runs"),
/// );
/// ```
pub fn mask_volatile(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(at) = rest.find("Linux `") {
        let (before, after) = rest.split_at(at + "Linux `".len());
        out.push_str(before);
        match after.find('`') {
            Some(end) => {
                out.push('#');
                rest = &after[end..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    let mut masked = String::with_capacity(out.len());
    let mut in_number = false;
    for c in out.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                masked.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            masked.push(c);
        }
    }
    masked
}

/// One scenario on one backend: the oracle's prediction, the kernel's trace, and the first
/// disagreement.
struct Run {
    scenario: Scenario,
    backend: Backend,
    prediction: Prediction,
    trace: Trace,
    disagreement: Option<Disagreement>,
}

impl Run {
    /// The steps that count as evidence: all of them when the run agreed, else those before
    /// the first disagreement.
    fn agreeing_steps(&self) -> usize {
        self.disagreement
            .as_ref()
            .map_or(self.trace.steps.len(), |d| d.step - 1)
            .min(self.trace.steps.len())
    }

    /// The rules the oracle applied in the agreeing steps, with how many steps applied each.
    fn rules(&self) -> BTreeMap<Rule, u64> {
        let mut rules = BTreeMap::new();
        for step in &self.prediction.steps[..self.agreeing_steps()] {
            for rule in &step.rules {
                *rules.entry(*rule).or_default() += 1;
            }
        }
        rules
    }

    /// The rules the oracle applied up to and including the step that disagreed.
    fn rules_up_to_disagreement(&self) -> Vec<Rule> {
        let Some(d) = &self.disagreement else {
            return Vec::new();
        };
        let mut rules: Vec<Rule> = self.prediction.steps[..d.step.min(self.prediction.steps.len())]
            .iter()
            .flat_map(|s| s.rules.iter().copied())
            .collect();
        rules.sort();
        rules.dedup();
        rules
    }
}

/// Runs scenarios and keeps one runner per backend and network (the link's made when first
/// needed).
struct Lab {
    runners: Vec<Runner>,
    runs: u64,
    disagreements: u64,
}

impl Lab {
    fn new() -> Result<Lab, BookError> {
        Lab::with_backends(&Backend::ALL)
    }

    fn with_backends(backends: &[Backend]) -> Result<Lab, BookError> {
        Ok(Lab {
            runners: backends
                .iter()
                .map(|&b| Runner::new(b))
                .collect::<Result<_, _>>()?,
            runs: 0,
            disagreements: 0,
        })
    }

    /// Runs `scenario` on `backend`, on the link when it has `link` steps, else on loopback.
    fn run(&mut self, scenario: &Scenario, backend: Backend) -> Result<Run, BookError> {
        let net = Net::for_scenario(scenario);
        self.run_on(scenario, backend, net)
    }

    fn run_on(
        &mut self,
        scenario: &Scenario,
        backend: Backend,
        net: Net,
    ) -> Result<Run, BookError> {
        if net == Net::Link
            && !self
                .runners
                .iter()
                .any(|r| r.backend() == backend && r.net() == net)
            && self.runners.iter().any(|r| r.backend() == backend)
        {
            let options = RunOptions {
                net,
                ..RunOptions::default()
            };
            self.runners.push(Runner::with_options(backend, options)?);
        }
        // Never another backend's runner in its place: that would file one backend's results
        // under another's name.
        let runner = self
            .runners
            .iter_mut()
            .find(|r| r.backend() == backend && r.net() == net)
            .unwrap_or_else(|| panic!("the lab has no runner for the {backend} backend"));
        let Verified {
            prediction,
            trace,
            disagreement,
        } = verify(runner, scenario).map_err(|e| match e {
            VerifyError::Run(e) => BookError::from(e),
            VerifyError::Beyond(b) => BookError::Canonical {
                id: "(a scenario the oracle cannot follow)",
                message: b.to_string(),
            },
        })?;
        self.runs += 1;
        self.disagreements += u64::from(disagreement.is_some());
        Ok(Run {
            scenario: scenario.clone(),
            backend,
            prediction,
            trace,
            disagreement,
        })
    }
}

/// One row of the summary table: a way the connection got where it is, and the client's next
/// write and next read, each on a fresh connection.
struct Situation {
    what: &'static str,
    steps: &'static str,
    /// What the next write and read return by the rules that "How to read it" states: the book
    /// prints that summary only when the kernel answered exactly these.
    write: &'static str,
    read: &'static str,
}

const SITUATIONS: &[Situation] = &[
    Situation {
        what: "open, nothing queued",
        steps: "",
        write: "ok(1)",
        read: "EAGAIN",
    },
    Situation {
        what: "peer closed cleanly (FIN), nothing written since",
        steps: "server close",
        write: "ok(1)",
        read: "eof",
    },
    Situation {
        what: "peer closed cleanly, our write answered with RST (the seed)",
        steps: "server close; client write 1",
        write: "EPIPE",
        read: "eof",
    },
    Situation {
        what: "peer closed with our data unread (RST)",
        steps: "client write 1; server close",
        write: "ECONNRESET",
        read: "ECONNRESET",
    },
    Situation {
        what: "peer aborted (SO_LINGER 0: RST)",
        steps: "server abort",
        write: "ECONNRESET",
        read: "ECONNRESET",
    },
    Situation {
        what: "peer sent 2 bytes, then aborted",
        steps: "server write 2; server abort",
        write: "ECONNRESET",
        read: "ok(2)",
    },
    Situation {
        what: "peer half-closed (shutdown write: FIN)",
        steps: "server shutdown write",
        write: "ok(1)",
        read: "eof",
    },
    Situation {
        what: "peer shut down reading (shutdown read)",
        steps: "server shutdown read",
        write: "ok(1)",
        read: "EAGAIN",
    },
    Situation {
        what: "peer shut down both ways",
        steps: "server shutdown both",
        write: "ok(1)",
        read: "eof",
    },
    Situation {
        what: "peer shut down both ways, our write answered with RST",
        steps: "server shutdown both; client write 1",
        write: "EPIPE",
        read: "eof",
    },
    Situation {
        what: "we half-closed (shutdown write)",
        steps: "client shutdown write",
        write: "EPIPE",
        read: "EAGAIN",
    },
    Situation {
        what: "we shut down reading (shutdown read)",
        steps: "client shutdown read",
        write: "ok(1)",
        read: "eof",
    },
    Situation {
        what: "both sides sent FIN",
        steps: "client shutdown write; server close",
        write: "EPIPE",
        read: "eof",
    },
    Situation {
        what: "RST already reported, by a read",
        steps: "server abort; client read 1",
        write: "EPIPE",
        read: "eof",
    },
    Situation {
        what: "RST already reported, by a write",
        steps: "server abort; client write 1",
        write: "EPIPE",
        read: "eof",
    },
];

/// The results of one situation: the next write's and the next read's runs, per backend.
struct SituationRuns {
    write: Vec<Run>,
    read: Vec<Run>,
}

/// What the book counts per rule.
#[derive(Default)]
struct RuleCounts {
    /// Runs (canonical, situations, random; every backend) whose agreeing steps applied it.
    runs: u64,
    /// Random runs that applied it.
    random_runs: u64,
    /// Steps of random runs that applied it.
    random_steps: u64,
    /// Runs that disagreed at or after a step that applied it.
    disagreements: u64,
}

/// The seed article's claim, tallied: outcome counts of reads and writes after an RST arrived.
#[derive(Default)]
struct Tally {
    /// row -> outcome -> count.
    rows: BTreeMap<u8, BTreeMap<String, u64>>,
}

impl Tally {
    const ROWS: [&'static str; 6] = [
        "write, error not reported yet, the RST came before any FIN",
        "write, error not reported yet, the peer's FIN came first",
        "write, after a call reported the error",
        "read, error not reported yet, the RST came before any FIN",
        "read, error not reported yet, the peer's FIN came first",
        "read, after a call reported the error",
    ];

    /// Adds the reads and writes of one run's agreeing steps.
    fn add(&mut self, run: &Run) {
        // Per actor: whether the peer's FIN has arrived, and, once an RST has, whether the FIN
        // came first and whether a call has reported the error since.
        let mut fin = [false; 2];
        let mut rst: [Option<(bool, bool)>; 2] = [None; 2];
        let steps = run
            .scenario
            .steps()
            .iter()
            .zip(&run.prediction.steps)
            .zip(&run.trace.steps)
            .take(run.agreeing_steps());
        for ((step, predicted), observed) in steps {
            let Some(actor) = step.end() else {
                continue;
            };
            let me = actor.index();
            // SO_ERROR takes the pending error as a failing call would: it is reported then.
            if let (Some((_, reported)), Op::Error, Outcome::Err(_)) =
                (&mut rst[me], &step.op, &observed.outcome)
            {
                *reported = true;
            }
            let is_write = matches!(step.op, Op::Write(_));
            if let (Some((fin_first, reported)), true) =
                (&mut rst[me], matches!(step.op, Op::Write(_) | Op::Read(_)))
            {
                let row = match (is_write, *reported) {
                    (true, false) => u8::from(*fin_first),
                    (true, true) => 2,
                    (false, false) => 3 + u8::from(*fin_first),
                    (false, true) => 5,
                };
                let observed = &observed.outcome;
                let outcome = match observed {
                    Outcome::Bytes(_) => "ok(n)".to_string(),
                    other => other.to_string(),
                };
                *self
                    .rows
                    .entry(row)
                    .or_default()
                    .entry(outcome)
                    .or_default() += 1;
                *reported |= matches!(observed, Outcome::Err(_));
            }
            for segment in &predicted.segments {
                let to = segment.from.peer().index();
                match segment.kind {
                    SegmentKind::Fin => fin[to] = true,
                    SegmentKind::Rst if rst[to].is_none() => rst[to] = Some((fin[to], false)),
                    _ => {}
                }
            }
        }
    }

    fn count(&self, row: u8, outcome: &str) -> u64 {
        self.rows
            .get(&row)
            .and_then(|m| m.get(outcome))
            .copied()
            .unwrap_or(0)
    }

    fn total(&self, row: u8) -> u64 {
        self.rows.get(&row).map_or(0, |m| m.values().sum())
    }
}

/// Everything the book reports.
struct Evidence {
    canonical: Vec<(Rule, Scenario, Vec<Run>)>,
    situations: Vec<SituationRuns>,
    counts: BTreeMap<Rule, RuleCounts>,
    random_runs: u64,
    random_disagreements: Vec<(Backend, String, Disagreement)>,
    tally: Tally,
    probes: Vec<ProbeReport>,
    /// Every canonical scenario without `link` steps, run on the link at zero delay (std):
    /// whether it agreed with the oracle and with its `=>` lines.
    zero_delay: Vec<(Rule, Option<Disagreement>)>,
    /// The chart of the timing section.
    chart: Vec<timing::Point>,
    /// Random scenarios run on the link, per backend.
    random_link_runs: u64,
    /// Every scenario of "Questions people ask", with what each backend showed.
    questions: Vec<(Scenario, Vec<crate::questions::Shown>)>,
}

fn parse_steps(text: &str) -> Result<Scenario, BookError> {
    Scenario::parse(text).map_err(|e| BookError::Canonical {
        id: "(situation)",
        message: e.to_string(),
    })
}

impl Evidence {
    /// No evidence yet: every rule counted 0.
    fn new() -> Evidence {
        Evidence {
            canonical: Vec::new(),
            situations: Vec::new(),
            counts: Rule::ALL
                .iter()
                .map(|r| (*r, RuleCounts::default()))
                .collect(),
            random_runs: 0,
            random_disagreements: Vec::new(),
            tally: Tally::default(),
            probes: Vec::new(),
            zero_delay: Vec::new(),
            chart: Vec::new(),
            random_link_runs: 0,
            questions: Vec::new(),
        }
    }

    /// Counts one run: the rules its agreeing steps applied, the rules up to its disagreement,
    /// and (on std) the calls after an RST for the seed article's claim.
    fn count(&mut self, run: &Run, random: bool) {
        for (rule, steps) in run.rules() {
            let c = self.counts.entry(rule).or_default();
            c.runs += 1;
            if random {
                c.random_runs += 1;
                c.random_steps += steps;
            }
        }
        for rule in run.rules_up_to_disagreement() {
            self.counts.entry(rule).or_default().disagreements += 1;
        }
        // The claim's table reads which segments arrived from the step that sent them, which
        // holds at zero delay only (with `link` steps they may arrive later, or not at all).
        if run.backend == Backend::Std && !run.scenario.uses_link() {
            self.tally.add(run);
        }
    }
}

fn gather(options: &BookOptions, lab: &mut Lab) -> Result<Evidence, BookError> {
    let mut ev = Evidence::new();
    let mut canonical = Vec::new();
    for &rule in Rule::ALL {
        let scenario = Scenario::parse(rule.canonical()).map_err(|e| BookError::Canonical {
            id: rule.id(),
            message: e.to_string(),
        })?;
        let mut runs = Vec::new();
        for backend in Backend::ALL {
            let run = lab.run(&scenario, backend)?;
            ev.count(&run, false);
            runs.push(run);
        }
        canonical.push((rule, scenario, runs));
    }

    let mut situations = Vec::new();
    for situation in SITUATIONS {
        let mut runs = SituationRuns {
            write: Vec::new(),
            read: Vec::new(),
        };
        for (next, into) in [("client write 1", 0), ("client read 10", 1)] {
            let text = if situation.steps.is_empty() {
                next.to_string()
            } else {
                format!("{}; {next}", situation.steps)
            };
            let scenario = parse_steps(&text)?;
            for backend in Backend::ALL {
                let run = lab.run(&scenario, backend)?;
                ev.count(&run, false);
                if into == 0 {
                    runs.write.push(run);
                } else {
                    runs.read.push(run);
                }
            }
        }
        situations.push(runs);
    }

    let mut random_disagreements = Vec::new();
    let mut random_runs = 0;
    for backend in Backend::ALL {
        for net in Net::ALL {
            for index in 0..options.cases {
                use proptest::strategy::ValueTree;
                let scenario = crate::explore::case_on(options.seed, index, net).current();
                let run = lab.run_on(&scenario, backend, net)?;
                random_runs += 1;
                ev.random_link_runs += u64::from(net == Net::Link);
                ev.count(&run, true);
                if let Some(d) = &run.disagreement {
                    random_disagreements.push((backend, scenario.to_inline(), d.clone()));
                }
            }
        }
    }

    for question in crate::questions::QUESTIONS {
        let scenarios = question.scenarios().map_err(|e| BookError::Canonical {
            id: "(a question's scenario)",
            message: e.to_string(),
        })?;
        for scenario in scenarios {
            let mut shown = Vec::new();
            for backend in Backend::ALL {
                let run = lab.run(&scenario, backend)?;
                ev.count(&run, false);
                shown.push(crate::questions::Shown::of(
                    backend,
                    &scenario,
                    &run.trace,
                    run.disagreement.is_none(),
                ));
            }
            ev.questions.push((scenario, shown));
        }
    }

    for (rule, scenario, _) in &canonical {
        if !scenario.uses_link() {
            let run = lab.run_on(scenario, Backend::Std, Net::Link)?;
            ev.zero_delay.push((*rule, run.disagreement));
        }
    }
    for rtt_ms in timing::RTTS_MS {
        for interval_ms in timing::INTERVALS_MS {
            let scenario = timing::scenario(rtt_ms, interval_ms);
            let run = lab.run(&scenario, Backend::Std)?;
            let observed: Vec<Outcome> =
                run.trace.steps.iter().map(|s| s.outcome.clone()).collect();
            let predicted: Vec<Outcome> = run
                .prediction
                .steps
                .iter()
                .map(|s| s.outcome.clone())
                .collect();
            let (measured, first_error) = timing::successes(&observed[2..]);
            ev.chart.push(timing::Point {
                rtt_ms,
                interval_ms,
                measured,
                predicted: timing::successes(&predicted[2..]).0,
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

    ev.canonical = canonical;
    ev.situations = situations;
    ev.random_runs = random_runs;
    ev.random_disagreements = random_disagreements;
    ev.probes = probes;
    Ok(ev)
}

/// Builds the book: runs everything on real sockets and writes the text and the diagrams.
///
/// ```no_run
/// use rstlab::book::{build, BookOptions};
/// let book = build(&BookOptions { cases: 100, ..Default::default() })?;
/// std::fs::write("RULES.md", &book.markdown).unwrap();
/// # Ok::<(), rstlab::book::BookError>(())
/// ```
pub fn build(options: &BookOptions) -> Result<Book, BookError> {
    let surveys = kernels::load(&options.kernels_dir).map_err(BookError::Kernels)?;
    let mut lab = Lab::new()?;
    let evidence = gather(options, &mut lab)?;
    let stamp = Stamp::now();
    let mut svgs = Vec::new();
    for (rule, scenario, runs) in &evidence.canonical {
        let shown = diagram_run(*rule, runs);
        let svg = if scenario.uses_link() {
            Timeline::new(scenario, &shown.trace).svg(&format!("{}: timeline", rule.id()))
        } else {
            Diagram::new(scenario, &shown.prediction, Some(&shown.trace))
                .svg(&format!("{}: sequence diagram", rule.id()))
        };
        svgs.push((svg_path(options, *rule), svg));
    }
    svgs.push((chart_path(options), timing::svg(&evidence.chart)));
    svgs.sort();
    let (markdown, unsupported) = render(options, &evidence, &stamp, &surveys);
    Ok(Book {
        markdown,
        svgs,
        rules: Rule::ALL.len(),
        scenarios_run: lab.runs,
        disagreements: lab.disagreements,
        unsupported,
    })
}

/// The run a rule's diagram shows: tokio's for the tokio rule, std's for every other.
fn diagram_run(rule: Rule, runs: &[Run]) -> &Run {
    let backend = if rule == Rule::TokioShutdownHidesEnotconn {
        Backend::Tokio
    } else {
        Backend::Std
    };
    runs.iter()
        .find(|r| r.backend == backend)
        .unwrap_or_else(|| panic!("{}: no run on the {backend} backend to draw", rule.id()))
}

/// Where [`build`] puts each rule's diagram, relative to the book (the paths of [`Book::svgs`]):
/// for a caller that checks the places before the build.
pub fn svg_paths(options: &BookOptions) -> Vec<String> {
    let mut paths: Vec<String> = Rule::ALL.iter().map(|r| svg_path(options, *r)).collect();
    paths.push(chart_path(options));
    paths.sort();
    paths
}

/// Where the timing section's chart goes.
fn chart_path(options: &BookOptions) -> String {
    format!(
        "{}/timing-writes-after-close.svg",
        options.svg_dir.trim_end_matches('/')
    )
}

fn svg_path(options: &BookOptions, rule: Rule) -> String {
    format!(
        "{}/{}.svg",
        options.svg_dir.trim_end_matches('/'),
        rule.id()
    )
}

/// The kernel release and the date of the run.
struct Stamp {
    kernel: String,
    date: String,
}

impl Stamp {
    fn now() -> Stamp {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string());
        let days = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        Stamp {
            kernel,
            date: civil_date(days as i64),
        }
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn link(rule: Rule) -> String {
    format!("[`{}`](#{})", rule.id(), rule.id())
}

fn outcome_cell(runs: &[Run], step: usize) -> String {
    let std = runs
        .iter()
        .find(|r| r.backend == Backend::Std)
        .and_then(|r| r.trace.steps.get(step))
        .map_or("(not run)".to_string(), |o| o.outcome.to_string());
    let differ: Vec<String> = runs
        .iter()
        .filter(|r| r.backend != Backend::Std)
        .filter_map(|r| {
            let o = r.trace.steps.get(step)?.outcome.to_string();
            (o != std).then(|| format!("{o} ({})", r.backend))
        })
        .collect();
    let agree = runs.iter().all(|r| r.disagreement.is_none());
    let mut cell = format!("`{std}`");
    for d in differ {
        cell += &format!(", `{d}`");
    }
    if !agree {
        cell += " **(disagrees)**";
    }
    cell
}

fn rules_of_last_step(runs: &[&Run]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = runs
        .iter()
        .filter(|r| r.backend == Backend::Std)
        .filter_map(|r| r.prediction.steps.last())
        .flat_map(|s| s.rules.iter().copied())
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

/// The book's text, and the claims and rules its evidence does not support (marked so in the
/// text).
fn render(
    options: &BookOptions,
    ev: &Evidence,
    stamp: &Stamp,
    surveys: &[crate::survey::Survey],
) -> (String, Vec<String>) {
    let mut md = String::new();
    let mut unsupported = Vec::new();
    let n_rules = Rule::ALL.len();
    let _ = writeln!(md, "# The rules book\n");
    let _ = writeln!(
        md,
        "When does a TCP write succeed, fail with `EPIPE` (\"broken pipe\") or with `ECONNRESET` \
         (\"connection reset by peer\"), and what do reads return around them? This book states \
         {n_rules} rules of the Linux TCP stack, each with its mechanism in the kernel, a minimal \
         scenario, a sequence diagram and the evidence that the running kernel follows it.\n"
    );
    let _ = writeln!(
        md,
        "Generated by `rstlab rules` (do not edit by hand) on Linux `{}`, {}: {} canonical \
         scenarios and {} situations on both backends (std and tokio), and {} random scenarios \
         per backend (seed {}). The scenario language is described in [README.md](README.md); \
         every scenario below runs with `rstlab run FILE` (add `--diagram` for the picture, \
         `--backend tokio` for tokio).\n",
        stamp.kernel,
        stamp.date,
        ev.canonical.len(),
        ev.situations.len(),
        options.cases,
        options.seed
    );
    let _ = writeln!(md, "Contents:\n");
    for (title, anchor) in [
        (
            "What the next write and read return",
            "what-the-next-write-and-read-return",
        ),
        (
            "The seed article's claim, checked",
            "the-seed-articles-claim-checked",
        ),
        ("SIGPIPE: how Rust avoids it", "sigpipe-how-rust-avoids-it"),
        ("Questions people ask", "questions-people-ask"),
        ("Timing: the link", "timing-the-link"),
        (kernels::TITLE, "kernels"),
        ("Subjects", "subjects"),
        ("Rules", "rules"),
        ("Disagreements", "disagreements"),
    ] {
        let _ = writeln!(md, "- [{title}](#{anchor})");
    }
    md.push('\n');

    render_summary(&mut md, ev, &mut unsupported);
    render_claim(&mut md, ev, &mut unsupported);
    render_sigpipe(&mut md, ev, &mut unsupported);
    crate::questions::render(&mut md, |scenario| {
        ev.questions
            .iter()
            .find(|(s, _)| s == scenario)
            .map(|(_, shown)| shown.clone())
            .unwrap_or_default()
    });
    render_timing(&mut md, options, ev, &mut unsupported);
    kernels::render(&mut md, surveys);
    render_subjects(&mut md);
    render_rules(&mut md, options, ev, stamp, &mut unsupported);
    render_disagreements(&mut md, ev);
    (md, unsupported)
}

/// How the book marks a statement its evidence does not support.
const UNSUPPORTED: &str = "**Unsupported by this run's evidence:**";

fn render_summary(md: &mut String, ev: &Evidence, unsupported: &mut Vec<String>) {
    let _ = writeln!(md, "## What the next write and read return\n");
    let _ = writeln!(
        md,
        "The client's next `write 1` and next `read 10` after each situation, each on a fresh \
         connection (`<steps>; client write 1` and `<steps>; client read 10`), as the kernel \
         answered them on std; a backend that answered otherwise is named. Everything settles \
         between steps: every segment has arrived. The roles are symmetric: swap `client` and \
         `server` and the table holds for the server.\n"
    );
    let _ = writeln!(
        md,
        "| situation | steps before | next write | next read | rules |\n|---|---|---|---|---|"
    );
    for (situation, runs) in SITUATIONS.iter().zip(&ev.situations) {
        let steps = if situation.steps.is_empty() {
            "(none)".to_string()
        } else {
            format!("`{}`", situation.steps)
        };
        let last = runs
            .write
            .first()
            .expect("every situation has a write run")
            .scenario
            .steps()
            .len()
            - 1;
        let all: Vec<&Run> = runs.write.iter().chain(&runs.read).collect();
        let rules: Vec<String> = rules_of_last_step(&all).into_iter().map(link).collect();
        let _ = writeln!(
            md,
            "| {} | {steps} | {} | {} | {} |",
            situation.what,
            outcome_cell(&runs.write, last),
            outcome_cell(&runs.read, last),
            rules.join(", ")
        );
    }
    // The summary below states the rules the situations' `write` and `read` fields encode:
    // it is printed as a conclusion only when the kernel answered every one of them so.
    let mut off: Vec<String> = Vec::new();
    for (situation, runs) in SITUATIONS.iter().zip(&ev.situations) {
        for (runs, expected) in [(&runs.write, situation.write), (&runs.read, situation.read)] {
            for run in runs {
                let last = run.scenario.steps().len() - 1;
                let observed = run
                    .trace
                    .steps
                    .get(last)
                    .map_or("(not run)".to_string(), |o| o.outcome.to_string());
                if observed != expected {
                    off.push(format!(
                        "`{}` on {}: {observed}, not {expected}",
                        run.scenario.to_inline(),
                        run.backend
                    ));
                }
            }
        }
    }
    if ev.situations.len() != SITUATIONS.len() {
        off.push("not every situation was run".to_string());
    }
    let how = "a write succeeds while the connection is open or only the peer has sent FIN; it \
               fails with the error an RST left (once), then with `EPIPE` for ever. A read \
               returns queued bytes first, then EOF if the peer's FIN arrived, then the error an \
               RST left (once), then EOF.";
    if off.is_empty() {
        let _ = writeln!(md, "\nHow to read it: {how}\n");
    } else {
        let _ = writeln!(
            md,
            "\nHow to read it: {UNSUPPORTED} the usual summary (\"{how}\") does not hold for: {}.\n",
            off.join("; ")
        );
        unsupported.push(format!("How to read it: {}", off.join("; ")));
    }
}

/// A bullet of the seed article's claim: row `row` of the tally mostly ends as `main`, and
/// otherwise only as one of `others`.
struct Claim {
    row: u8,
    main: &'static str,
    others: &'static [&'static str],
}

impl Claim {
    /// Whether the counts bear it out: at least one call of the row ended as `main`, and none
    /// ended otherwise than the claim allows.
    fn holds(&self, t: &Tally) -> bool {
        t.count(self.row, self.main) > 0
            && t.rows.get(&self.row).is_some_and(|outcomes| {
                outcomes
                    .keys()
                    .all(|o| o == self.main || self.others.contains(&o.as_str()))
            })
    }

    /// `(x of y)`'s two numbers.
    fn counts(&self, t: &Tally) -> (u64, u64) {
        (t.count(self.row, self.main), t.total(self.row))
    }
}

/// The claims of "The seed article's claim, checked", in the order the text states them.
const CLAIMS: [Claim; 6] = [
    // Writes after the error was reported: EPIPE.
    Claim {
        row: 2,
        main: "EPIPE",
        others: &[],
    },
    // The seed's case: the first write after an RST that followed a FIN: EPIPE.
    Claim {
        row: 1,
        main: "EPIPE",
        others: &[],
    },
    // The first read after an RST before any FIN: ECONNRESET, or bytes queued before it.
    Claim {
        row: 3,
        main: "ECONNRESET",
        others: &["ok(n)"],
    },
    // The first write after an RST before any FIN: ECONNRESET.
    Claim {
        row: 0,
        main: "ECONNRESET",
        others: &[],
    },
    // A read after the peer's FIN: EOF, or bytes queued before it.
    Claim {
        row: 4,
        main: "eof",
        others: &["ok(n)"],
    },
    // A read after the error was reported: EOF, or bytes still queued.
    Claim {
        row: 5,
        main: "eof",
        others: &["ok(n)"],
    },
];

fn render_claim(md: &mut String, ev: &Evidence, unsupported: &mut Vec<String>) {
    let t = &ev.tally;
    // Each bullet is marked when its counts do not bear it out.
    let mut mark = |i: usize| -> &'static str {
        if CLAIMS[i].holds(t) {
            ""
        } else {
            let (n, of) = CLAIMS[i].counts(t);
            unsupported.push(format!(
                "the seed article's claim, row \"{}\": {n} of {of} {}",
                Tally::ROWS[CLAIMS[i].row as usize],
                CLAIMS[i].main
            ));
            "**Unsupported by this run's evidence:** "
        }
    };
    let marks: Vec<&str> = (0..CLAIMS.len()).map(&mut mark).collect();
    let n = |i: usize| CLAIMS[i].counts(t);
    let _ = writeln!(md, "## The seed article's claim, checked\n");
    let _ = writeln!(
        md,
        "The article ends: *you usually get `broken pipe` when you write after the RST, and \
         `connection reset by peer` when you read after the RST.* Every read and write that came \
         after an RST arrived, in every run of this book on std (canonical scenarios, \
         situations and random scenarios; steps before any disagreement), by what the kernel \
         returned:\n"
    );
    let mut outcomes: Vec<&String> = t.rows.values().flat_map(|m| m.keys()).collect();
    outcomes.sort();
    outcomes.dedup();
    let _ = write!(md, "| call |");
    for o in &outcomes {
        let _ = write!(md, " `{o}` |");
    }
    let _ = write!(md, "\n|---|");
    for _ in &outcomes {
        let _ = write!(md, "---:|");
    }
    md.push('\n');
    for (row, label) in Tally::ROWS.iter().enumerate() {
        let _ = write!(md, "| {label} |");
        for o in &outcomes {
            let _ = write!(md, " {} |", t.count(row as u8, o));
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "\nWhere it holds:\n\n\
         - {}**Writes after the error was reported** fail with `EPIPE` ({} of {}): \
         [`write-on-closed-connection-fails-epipe`](#write-on-closed-connection-fails-epipe).\n\
         - {}**The seed's case**: the RST answered a write sent after the peer's FIN. The kernel \
         records `EPIPE` for such an RST, so even the first write after it fails with `EPIPE` \
         ({} of {}): [`rst-after-fin-leaves-epipe`](#rst-after-fin-leaves-epipe).\n\
         - {}**The first read after an RST that came before any FIN** fails with `ECONNRESET` \
         ({} of {}; the others returned bytes queued before the RST): \
         [`rst-leaves-econnreset`](#rst-leaves-econnreset), \
         [`queued-data-survives-rst`](#queued-data-survives-rst).\n",
        marks[0],
        n(0).0,
        n(0).1,
        marks[1],
        n(1).0,
        n(1).1,
        marks[2],
        n(2).0,
        n(2).1,
    );
    let _ = writeln!(
        md,
        "Where it does not:\n\n\
         - {}**The first write after an RST that came before any FIN** (the peer aborted, or \
         closed with unread data) fails with `ECONNRESET`, not `EPIPE` ({} of {}). \
         \"Broken pipe\" comes only from the next write: the error an RST leaves is reported \
         once, by whichever call comes first \
         ([`pending-error-reported-once`](#pending-error-reported-once)).\n\
         - {}**A read after the peer's FIN never reports the RST**: it returns EOF ({} of {}; the \
         others returned bytes queued before the FIN), and the error waits for the next write \
         ([`eof-before-pending-error`](#eof-before-pending-error)). Had the seed's client read \
         after the RST, it would have seen EOF, not \"connection reset by peer\".\n\
         - {}**A read after the error was reported** returns EOF, never `ECONNRESET` ({} of {}; \
         the others returned bytes still queued): \
         [`read-after-reset-returns-eof`](#read-after-reset-returns-eof).\n",
        marks[3],
        n(3).0,
        n(3).1,
        marks[4],
        n(4).0,
        n(4).1,
        marks[5],
        n(5).0,
        n(5).1,
    );
    if marks.iter().all(|m| m.is_empty()) {
        let _ = writeln!(
            md,
            "In one line: **the first call after an RST reports it** (`ECONNRESET`, or `EPIPE` \
             when the peer's FIN came first, and reads skip it after a FIN); **afterwards writes \
             fail with `EPIPE` and reads return EOF**.\n"
        );
    } else {
        let _ = writeln!(
            md,
            "In one line: {UNSUPPORTED} the counts above do not bear out every point (see the \
             points marked), so no summary is drawn from them.\n"
        );
    }
}

/// Whether the SIGPIPE experiment came out as the book's conclusion says: every child found
/// `SIG_IGN` at start; with `write(2)` and `SIG_DFL` the EPIPE write kills the child and the
/// ECONNRESET write before it does not; with `MSG_NOSIGNAL` or `SIG_IGN` the child writes and
/// gets EPIPE, and exits 0. `None` when it does; else what differs.
fn sigpipe_off(probes: &[ProbeReport]) -> Option<String> {
    let mut off = Vec::new();
    for (i, expected) in Probe::BOOK.iter().enumerate() {
        let Some(report) = probes.iter().find(|r| r.probe == *expected) else {
            off.push(format!("{expected}: not run"));
            continue;
        };
        let (writes, killed): (&[&str], bool) = match i {
            0 => (&["ok(1)"], true),
            1 => (&["ECONNRESET"], true),
            _ => (&["ok(1)", "EPIPE"], false),
        };
        let started_ignored = report
            .lines
            .iter()
            .any(|l| l == "SIGPIPE at start: SIG_IGN");
        let ended_as_said = if killed {
            report.signal == Some(libc::SIGPIPE)
        } else {
            report.code == Some(0) && report.signal.is_none()
        };
        if report.writes() != writes || !ended_as_said || !started_ignored {
            off.push(format!(
                "{expected}: writes {:?}, {}",
                report.writes(),
                report.ending()
            ));
        }
    }
    (!off.is_empty()).then(|| off.join("; "))
}

fn render_sigpipe(md: &mut String, ev: &Evidence, unsupported: &mut Vec<String>) {
    let _ = writeln!(md, "## SIGPIPE: how Rust avoids it\n");
    let _ = writeln!(
        md,
        "A write that fails with `EPIPE` also raises `SIGPIPE`, whose default action terminates \
         the process; a write that fails with `ECONNRESET` raises nothing \
         ([`write-epipe-raises-sigpipe`](#write-epipe-raises-sigpipe)). A Rust program never \
         dies of it, twice over: the runtime sets `SIGPIPE` to `SIG_IGN` before `main`, and \
         `std::net::TcpStream::write` sends with `send(2)` and `MSG_NOSIGNAL` (so do tokio and \
         mio, which call it). A C program calling `write(2)` with the default disposition dies \
         on the seed's third write.\n"
    );
    if ev.probes.is_empty() {
        let _ = writeln!(md, "(The experiment was left out of this run.)\n");
        return;
    }
    let _ = writeln!(
        md,
        "The experiment: `rstlab sigpipe-probe` runs in a child process, reports the \
         disposition it found at start, sets it as asked, connects over loopback, lets the peer \
         end the connection and writes one byte twice. The parent records what the child \
         printed and how it ended:\n"
    );
    let _ = writeln!(
        md,
        "| write call | SIGPIPE while writing | peer | SIGPIPE at start | writes | the child |\n|---|---|---|---|---|---|"
    );
    for report in &ev.probes {
        let p = report.probe;
        let field = |prefix: &str| {
            report
                .lines
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or("?")
                .to_string()
        };
        let writes: Vec<String> = report.writes().iter().map(|w| format!("`{w}`")).collect();
        let mut writes = writes.join(", ");
        if report.signal.is_some() {
            writes += ", then killed by the next write";
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | **{}** |",
            match p.api {
                sigpipe::Api::Plain => "`write(2)`",
                sigpipe::Api::Std => "`TcpStream::write` (`send`, `MSG_NOSIGNAL`)",
            },
            field("SIGPIPE while writing: "),
            match p.peer {
                sigpipe::End::Close => "close (FIN)",
                sigpipe::End::Abort => "abort (RST)",
            },
            field("SIGPIPE at start: "),
            writes,
            report.ending()
        );
    }
    match sigpipe_off(&ev.probes) {
        None => {
            let _ = writeln!(
                md,
                "\nThe child found `SIG_IGN` at start: Rust's runtime set it before `main` (std's \
                 `Command` gives children the default disposition, and a C program keeps the one \
                 it inherits). With `write(2)` and `SIG_DFL` the `EPIPE` write kills the process \
                 while the `ECONNRESET` write before it does not; with `MSG_NOSIGNAL` the default \
                 disposition is harmless.\n"
            );
        }
        Some(off) => {
            let _ = writeln!(
                md,
                "\n{UNSUPPORTED} the children did not all end as Rust's runtime and \
                 `MSG_NOSIGNAL` would have them end: {off}.\n"
            );
            unsupported.push(format!("SIGPIPE: {off}"));
        }
    }
}

fn render_subjects(md: &mut String) {
    let _ = writeln!(md, "## Subjects\n");
    let subjects: &[(&str, &[Rule])] = &[
        (
            "The seed: write, write, EPIPE",
            &[
                Rule::WriteAfterPeerCloseSucceeds,
                Rule::ClosedSocketAnswersDataWithRst,
                Rule::RstAfterFinLeavesEpipe,
            ],
        ),
        (
            "FIN or RST on close: unread data, SO_LINGER 0",
            &[
                Rule::CloseSendsFin,
                Rule::CloseWithUnreadDataSendsRst,
                Rule::AbortSendsRst,
            ],
        ),
        (
            "The pending error: reported once (ECONNRESET or EPIPE), then EPIPE / EOF",
            &[
                Rule::RstLeavesEconnreset,
                Rule::RstAfterFinLeavesEpipe,
                Rule::PendingErrorReportedOnce,
                Rule::WriteOnClosedConnectionFails,
                Rule::ReadAfterResetReturnsEof,
            ],
        ),
        ("Data queued before an RST", &[Rule::QueuedDataSurvivesRst]),
        (
            "EOF, repeated; EOF before the error",
            &[Rule::FinReadsAsEof, Rule::EofBeforePendingError],
        ),
        (
            "Half-close: the peer keeps writing",
            &[Rule::HalfClosePeerKeepsWriting],
        ),
        (
            "shutdown(SHUT_RD) on Linux",
            &[Rule::ShutdownReadStillReceives],
        ),
        ("shutdown(SHUT_RDWR)", &[Rule::ShutdownBothResetsOnData]),
        (
            "Our own shutdown(SHUT_WR)",
            &[Rule::WriteAfterShutdownWriteFails, Rule::FinIsSentOnce],
        ),
        (
            "Roles reversed (the client closes, the server writes)",
            &[
                Rule::WriteAfterPeerCloseSucceeds,
                Rule::RstEndsAClosedSocketSilently,
            ],
        ),
        (
            "Shutdown or close on a reset connection",
            &[
                Rule::ShutdownOnClosedConnection,
                Rule::CloseAfterResetSendsNothing,
                Rule::TokioShutdownHidesEnotconn,
            ],
        ),
        (
            "Both FINs: an orderly end",
            &[Rule::BothFinsCloseTheConnection],
        ),
        (
            "Timing on loopback: nothing moves between steps",
            &[Rule::SleepChangesNothing],
        ),
        (
            "Timing on a link: the broken pipe takes a round trip",
            &[
                Rule::SegmentsArriveAfterTheDelay,
                Rule::WritesWithinARoundTripSucceed,
                Rule::WriteWhileFinInFlightFindsEstablished,
                Rule::CloseBeforeDataArrivesSendsFin,
            ],
        ),
        (
            "Loss on a link",
            &[
                Rule::DropLosesSegments,
                Rule::LostRstIsAnsweredByANewRst,
                Rule::RstOutOfPlaceDrawsChallengeAck,
                Rule::OutOfOrderDataWaits,
                Rule::NoSocketAnswersEvenAnAckWithRst,
            ],
        ),
        (
            "The send queue behind the congestion window",
            &[Rule::CwndHoldsBackData, Rule::RstDiscardsUnsentData],
        ),
        ("SIGPIPE", &[Rule::WriteEpipeRaisesSigpipe]),
        (
            "The baseline",
            &[
                Rule::WriteQueuesData,
                Rule::ReadTakesQueued,
                Rule::ReadWouldBlock,
            ],
        ),
    ];
    let _ = writeln!(md, "| subject | rules |\n|---|---|");
    for (subject, rules) in subjects {
        let links: Vec<String> = rules.iter().map(|r| link(*r)).collect();
        let _ = writeln!(md, "| {subject} | {} |", links.join(", "));
    }
    md.push('\n');
}

fn render_timing(
    md: &mut String,
    options: &BookOptions,
    ev: &Evidence,
    unsupported: &mut Vec<String>,
) {
    let _ = writeln!(
        md,
        "## Timing: the link
"
    );
    let _ = writeln!(
        md,
        "On loopback every step settles before the next, so time cannot matter. On the emulated \
         link (`--net link`, or any scenario with a `link` step) rstlab carries every packet \
         between two network namespaces itself, on a wire with a virtual clock: `link delay D` \
         makes each segment take D to cross, `sleep` moves the clock, `link hold`, `link \
         release` and `link drop` hold, release and lose what is in flight. What the \
         namespaces are set to, and why it stays faithful to a real link with the same delay, \
         is in [`src/link.rs`](src/link.rs); the oracle refuses a scenario whose link time \
         would reach a point where a real kernel retransmits.\n"
    );
    let agreeing = ev.zero_delay.iter().filter(|(_, d)| d.is_none()).count();
    let total = ev.zero_delay.len();
    if total > 0 && agreeing == total {
        let _ = writeln!(
            md,
            "**Zero delay is loopback.** All {total} canonical scenarios without `link` steps \
             were run on the link at zero delay too: the kernel agreed with the oracle and with \
             every `=>` line on all {total}.\n"
        );
    } else {
        let failing: Vec<String> = ev
            .zero_delay
            .iter()
            .filter_map(|(r, d)| d.as_ref().map(|d| format!("{}: {d}", r.id())))
            .collect();
        let text = format!(
            "{UNSUPPORTED} zero delay is loopback: {agreeing} of {total} canonical scenarios \
             agreed on the link at zero delay ({}).",
            failing.join("; ")
        );
        let _ = writeln!(md, "{text}\n");
        unsupported.push(text);
    }
    let _ = writeln!(
        md,
        "**How many writes after the peer's close succeed?** The seed article on a link: the \
         server closes at once and the client writes one byte every interval. The server's FIN \
         arrives after one delay; the client's first write reaches the closed socket after one \
         delay too and draws an RST, which is back one round trip after the close. Every write \
         before it succeeds, and its byte is lost. Measured on the link (std backend), each \
         point one run:\n"
    );
    let _ = writeln!(
        md,
        "![Successful writes after the close by round-trip time]({})\n",
        chart_path(options)
    );
    let _ = writeln!(
        md,
        "| round trip | one write every | writes that succeeded | then | oracle | agrees |\n|---:|---:|---:|---|---:|---|"
    );
    let mut disagreeing = 0;
    let mut off_the_rule = 0;
    for p in &ev.chart {
        let _ = writeln!(
            md,
            "| {} ms | {} ms | {} | {} | {} | {} |",
            p.rtt_ms,
            p.interval_ms,
            p.measured,
            p.first_error.as_deref().unwrap_or("(no failure)"),
            p.predicted,
            if p.agree { "yes" } else { "**no**" }
        );
        disagreeing += usize::from(!p.agree);
        // Writes at 0, I, 2I, ... before the round trip: ceil(RTT / I).
        off_the_rule += usize::from(p.measured as u64 != p.rtt_ms.div_ceil(p.interval_ms));
    }
    md.push('\n');
    if disagreeing == 0 && off_the_rule == 0 && !ev.chart.is_empty() {
        let _ = writeln!(
            md,
            "Every point agrees with the oracle, and with the rule of thumb it implies: the \
             writes issued within one round trip of the peer's close succeed, \
             ⌈RTT / interval⌉ of them; the next write fails with EPIPE (the RST came after the \
             FIN, [rst-after-fin-leaves-epipe](#rst-after-fin-leaves-epipe)). On loopback the \
             round trip is microseconds, so the seed article saw exactly one.\n"
        );
    } else {
        let text = format!(
            "{UNSUPPORTED} the round-trip rule: {disagreeing} of {} points disagree with the \
             oracle, {off_the_rule} differ from ⌈RTT / interval⌉.",
            ev.chart.len()
        );
        let _ = writeln!(md, "{text}\n");
        unsupported.push(text);
    }
    let _ = writeln!(
        md,
        "The timing rules, each below with its timeline (drawn from the recorded wire trace: \
         time flows down, each arrow from its send to its arrival): {}. On the link, `rstlab \
         run` prints the wire trace after the table.\n",
        [
            Rule::SegmentsArriveAfterTheDelay,
            Rule::WritesWithinARoundTripSucceed,
            Rule::WriteWhileFinInFlightFindsEstablished,
            Rule::CloseBeforeDataArrivesSendsFin,
            Rule::LostRstIsAnsweredByANewRst,
            Rule::RstDiscardsUnsentData,
            Rule::CwndHoldsBackData,
            Rule::RstOutOfPlaceDrawsChallengeAck,
            Rule::NoSocketAnswersEvenAnAckWithRst,
            Rule::OutOfOrderDataWaits,
            Rule::DropLosesSegments,
        ]
        .iter()
        .map(|r| link(*r))
        .collect::<Vec<_>>()
        .join(", ")
    );
}

fn render_rules(
    md: &mut String,
    options: &BookOptions,
    ev: &Evidence,
    stamp: &Stamp,
    unsupported: &mut Vec<String>,
) {
    let _ = writeln!(md, "## Rules\n");
    let _ = writeln!(
        md,
        "Each rule: its statement, its mechanism (Linux 6.x functions in `net/ipv4/tcp*.c`, \
         `net/ipv4/af_inet.c`, `net/core/stream.c`; RFC sections), its canonical scenario \
         (`=>` marks what the kernel must answer), the scenario's sequence diagram as the kernel \
         ran it (segments as the oracle predicts them, which the kernel confirms when the run \
         agrees), every step's result and the evidence.\n"
    );
    for (rule, scenario, runs) in &ev.canonical {
        let id = rule.id();
        let _ = writeln!(md, "### {id}\n");
        let _ = writeln!(md, "> {}\n", rule.statement());
        let _ = writeln!(md, "**Mechanism.** {}\n", rule.mechanism());
        let _ = writeln!(
            md,
            "**Canonical scenario** ([`scenarios/{id}.scenario`](scenarios/{id}.scenario)):\n"
        );
        let _ = writeln!(md, "```text\n{}\n```\n", rule.canonical().trim());
        let std_run = runs
            .iter()
            .find(|r| r.backend == Backend::Std)
            .unwrap_or_else(|| panic!("{id}: the canonical scenario has no std run"));
        let shown = diagram_run(*rule, runs);
        let on_link = scenario.uses_link();
        let diagram = if on_link {
            Timeline::new(scenario, &shown.trace).text()
        } else {
            Diagram::new(scenario, &shown.prediction, Some(&shown.trace)).text()
        };
        let _ = writeln!(
            md,
            "![{} of {id}]({})\n",
            if on_link {
                "Timeline"
            } else {
                "Sequence diagram"
            },
            svg_path(options, *rule)
        );
        let _ = writeln!(
            md,
            "<details><summary>As text ({})</summary>\n\n```text\n{}```\n\n</details>\n",
            if shown.backend == Backend::Tokio {
                format!("<code>rstlab run scenarios/{id}.scenario --backend tokio --diagram</code>")
            } else if on_link {
                format!("<code>rstlab run scenarios/{id}.scenario</code> prints the wire trace")
            } else {
                format!("<code>rstlab run scenarios/{id}.scenario --diagram</code>")
            },
            diagram
        );
        let _ = writeln!(md, "**Observed.**\n");
        let _ = writeln!(
            md,
            "| # | step | oracle | std | tokio | rules |\n|---:|---|---|---|---|---|"
        );
        for (i, step) in scenario.steps().iter().enumerate() {
            let observed = |b: usize| {
                runs.get(b)
                    .and_then(|r| r.trace.steps.get(i))
                    .map_or("(not run)".to_string(), |o| format!("`{}`", o.outcome))
            };
            let predicted = &std_run.prediction.steps[i];
            let mut oracle_cell = format!("`{}`", predicted.outcome);
            if let Some(tokio) = runs.get(1)
                && tokio.prediction.steps[i].outcome != predicted.outcome
            {
                oracle_cell += &format!(", `{}` (tokio)", tokio.prediction.steps[i].outcome);
            }
            let mut rules: Vec<Rule> = runs
                .iter()
                .flat_map(|r| r.prediction.steps[i].rules.iter().copied())
                .collect();
            rules.dedup();
            let mut seen = Vec::new();
            rules.retain(|r| {
                let new = !seen.contains(r);
                seen.push(*r);
                new
            });
            let rules: Vec<String> = rules.into_iter().map(link).collect();
            let _ = writeln!(
                md,
                "| {} | `{}` | {oracle_cell} | {} | {} | {} |",
                i + 1,
                step,
                observed(0),
                observed(1),
                rules.join(", ")
            );
        }
        md.push('\n');
        let c = ev
            .counts
            .get(rule)
            .unwrap_or_else(|| panic!("{id}: not counted"));
        let canonical_verdict = if runs.iter().all(|r| r.disagreement.is_none()) {
            "the canonical scenario agrees with the oracle and with its `=>` lines on std and tokio"
                .to_string()
        } else {
            let failing: Vec<String> = runs
                .iter()
                .filter_map(|r| Some(format!("{}: {}", r.backend, r.disagreement.as_ref()?)))
                .collect();
            format!(
                "**the canonical scenario disagrees**: {}",
                failing.join("; ")
            )
        };
        let extra = match rule {
            Rule::WriteEpipeRaisesSigpipe => {
                let mut text = " The oracle never names this rule (the runner sends with \
                                `MSG_NOSIGNAL`); its evidence is the \
                                [SIGPIPE experiment](#sigpipe-how-rust-avoids-it), one child \
                                process per line:"
                    .to_string();
                text.push('\n');
                for report in &ev.probes {
                    let writes: Vec<String> =
                        report.writes().iter().map(|w| format!("`{w}`")).collect();
                    let when = if report.signal.is_some() {
                        " in the next write"
                    } else {
                        ""
                    };
                    text += &format!(
                        "\n- {}: writes {}, then {}{when}",
                        report.probe,
                        writes.join(", "),
                        report.ending()
                    );
                }
                if ev.probes.is_empty() {
                    text += " (left out of this run).";
                }
                text
            }
            Rule::TokioShutdownHidesEnotconn => " Applied on the tokio backend only.".to_string(),
            _ => String::new(),
        };
        let total_runs = (ev.canonical.len() * Backend::ALL.len()) as u64
            + (ev.situations.len() * 2 * Backend::ALL.len()) as u64
            + ev.random_runs;
        // A rule stands on runs that exercised it; the SIGPIPE rule, which the oracle never
        // names, on the experiment.
        let no_evidence = if *rule == Rule::WriteEpipeRaisesSigpipe {
            ev.probes.is_empty()
        } else {
            c.runs == 0
        };
        // A rule of older kernels only: on a kernel that has the change, its evidence is the
        // "Kernels" chapter's (the stored surveys of kernels without it).
        let older_only = crate::kernel::CHANGES.iter().find(|c| {
            c.only_before.contains(rule) && crate::kernel::Kernel::running().has(c.change)
        });
        let verdict = if let (true, Some(change)) = (no_evidence, older_only) {
            format!(
                "Not on this kernel, which has commit `{}` (Linux {}.{}); kernels before it follow \
                 the rule: their runs are in [Kernels](#kernels). ",
                change.commit, change.since.major, change.since.minor
            )
        } else if no_evidence {
            unsupported.push(format!("{id}: no evidence in this run"));
            format!("{UNSUPPORTED} no run of this book gave evidence for this rule. ")
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "**Evidence.** {verdict}On Linux `{}`, {}: {canonical_verdict}. Runs of this book \
             that exercised the rule (steps before any disagreement): {} of {total_runs}, {} of \
             them among the {} random runs ({} steps). Disagreements in runs that exercised it: \
             {}.{extra}\n",
            stamp.kernel,
            stamp.date,
            c.runs,
            c.random_runs,
            ev.random_runs,
            c.random_steps,
            c.disagreements
        );
    }
}

fn render_disagreements(md: &mut String, ev: &Evidence) {
    let _ = writeln!(md, "## Disagreements\n");
    let mut lines: Vec<String> = Vec::new();
    for (rule, _, runs) in &ev.canonical {
        for run in runs {
            if let Some(d) = &run.disagreement {
                lines.push(format!(
                    "- canonical `{}` on {}: {d}",
                    rule.id(),
                    run.backend
                ));
            }
        }
    }
    for (situation, runs) in SITUATIONS.iter().zip(&ev.situations) {
        for run in runs.write.iter().chain(&runs.read) {
            if let Some(d) = &run.disagreement {
                lines.push(format!(
                    "- situation \"{}\" on {}: `{}`: {d}",
                    situation.what,
                    run.backend,
                    run.scenario.to_inline()
                ));
            }
        }
    }
    for (backend, scenario, d) in &ev.random_disagreements {
        lines.push(format!("- random on {backend}: `{scenario}`: {d}"));
    }
    if lines.is_empty() {
        let _ = writeln!(
            md,
            "None: in every run of this book the kernel did what the oracle predicted and what \
             the scenarios expect.\n"
        );
    } else {
        lines.sort();
        let _ = writeln!(
            md,
            "The kernel is the judge: each of these is the oracle's error (or the scenario's), \
             to be fixed.\n"
        );
        for l in lines {
            let _ = writeln!(md, "{l}");
        }
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check, oracle};

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_416), "2025-11-24");
    }

    #[test]
    fn masking_hides_numbers_and_the_kernel_only() {
        assert_eq!(
            mask_volatile("Linux `6.1`, 12 of 345 runs, `ok(1)`"),
            "Linux `#`, # of # runs, `ok(#)`"
        );
        assert_eq!(mask_volatile("no kernel here"), "no kernel here");
    }

    /// A run in which the kernel did exactly what the oracle predicted: evidence without
    /// sockets, for testing what the book draws from evidence.
    fn as_predicted(scenario: &Scenario, backend: Backend) -> Run {
        let prediction = oracle::predict_for(scenario, backend);
        let trace = Trace::as_predicted(&prediction, backend);
        let disagreement = check::check(scenario, &prediction, &trace);
        Run {
            scenario: scenario.clone(),
            backend,
            prediction,
            trace,
            disagreement,
        }
    }

    /// What a SIGPIPE child prints and how it ends, as the book's conclusion has it.
    fn probe_as_expected(i: usize) -> ProbeReport {
        let writes: &[&str] = match i {
            0 => &["ok(1)"],
            1 => &["ECONNRESET"],
            _ => &["ok(1)", "EPIPE"],
        };
        let mut lines = vec!["SIGPIPE at start: SIG_IGN".to_string()];
        lines.extend(
            writes
                .iter()
                .enumerate()
                .map(|(n, w)| format!("write {}: {w}", n + 1)),
        );
        let killed = i < 2;
        ProbeReport {
            probe: Probe::BOOK[i],
            lines,
            code: (!killed).then_some(0),
            signal: killed.then_some(libc::SIGPIPE),
        }
    }

    /// The evidence of a book run on a kernel that does what the oracle says.
    fn evidence() -> Evidence {
        let mut ev = Evidence::new();
        for &rule in Rule::ALL {
            let scenario = Scenario::parse(rule.canonical()).unwrap();
            let runs: Vec<Run> = Backend::ALL
                .iter()
                .map(|&b| as_predicted(&scenario, b))
                .collect();
            for run in &runs {
                ev.count(run, false);
            }
            ev.canonical.push((rule, scenario, runs));
        }
        for situation in SITUATIONS {
            let mut runs = SituationRuns {
                write: Vec::new(),
                read: Vec::new(),
            };
            for (next, into) in [
                ("client write 1", &mut runs.write),
                ("client read 10", &mut runs.read),
            ] {
                let text = format!("{}; {next}", situation.steps);
                let scenario = Scenario::parse(&text).unwrap();
                for &b in &Backend::ALL {
                    let run = as_predicted(&scenario, b);
                    ev.count(&run, false);
                    into.push(run);
                }
            }
            ev.situations.push(runs);
        }
        for index in 0..60 {
            use proptest::strategy::ValueTree;
            let scenario = crate::explore::case(0, index).current();
            for &b in &Backend::ALL {
                ev.count(&as_predicted(&scenario, b), true);
                ev.random_runs += 1;
            }
        }
        ev.probes = (0..Probe::BOOK.len()).map(probe_as_expected).collect();
        for (rule, scenario, _) in &ev.canonical {
            if !scenario.uses_link() {
                ev.zero_delay.push((*rule, None));
            }
        }
        for rtt_ms in timing::RTTS_MS {
            for interval_ms in timing::INTERVALS_MS {
                let p = oracle::predict(&timing::scenario(rtt_ms, interval_ms));
                let outcomes: Vec<Outcome> = p.steps.iter().map(|s| s.outcome.clone()).collect();
                let (n, first_error) = timing::successes(&outcomes[2..]);
                ev.chart.push(timing::Point {
                    rtt_ms,
                    interval_ms,
                    measured: n,
                    predicted: n,
                    first_error,
                    agree: true,
                });
            }
        }
        ev
    }

    fn stamp() -> Stamp {
        Stamp {
            kernel: "6.0-test".to_string(),
            date: "2026-01-01".to_string(),
        }
    }

    fn render_of(ev: &Evidence) -> (String, Vec<String>) {
        render(&BookOptions::default(), ev, &stamp(), &[])
    }

    #[test]
    fn catalogue_in_reads_back_what_render_writes() {
        let (md, unsupported) = render_of(&evidence());
        assert_eq!(catalogue_in(&md), catalogue());
        assert_eq!(unsupported, Vec::<String>::new());
        assert!(!md.contains("Unsupported"), "{md}");
        assert!(md.contains("In one line: **the first call after an RST reports it**"));
        assert!(md.contains("How to read it: a write succeeds"));
        assert!(md.contains("The child found `SIG_IGN` at start"));
        assert!(catalogue_in("no rules").is_empty());
    }

    #[test]
    fn a_claim_the_counts_contradict_is_printed_unsupported() {
        let mut ev = evidence();
        // One write after an RST that came before any FIN returned EPIPE: the claim that such a
        // write fails with ECONNRESET no longer holds, nor does the one-line summary.
        *ev.tally
            .rows
            .entry(0)
            .or_default()
            .entry("EPIPE".into())
            .or_default() += 1;
        let (md, unsupported) = render_of(&ev);
        assert!(
            md.contains("- **Unsupported by this run's evidence:** **The first write after an RST"),
            "{md}"
        );
        assert!(
            md.contains("In one line: **Unsupported by this run's evidence:**"),
            "{md}"
        );
        assert_eq!(unsupported.len(), 1, "{unsupported:?}");

        // No evidence at all for a claim: unsupported too, not "0 of 0".
        let mut ev = evidence();
        ev.tally.rows.remove(&1);
        let (md, unsupported) = render_of(&ev);
        assert!(
            md.contains("- **Unsupported by this run's evidence:** **The seed's case**"),
            "{md}"
        );
        assert!(unsupported[0].contains("0 of 0"), "{unsupported:?}");
    }

    #[test]
    fn a_rule_without_evidence_is_printed_unsupported() {
        let mut ev = evidence();
        ev.counts.insert(Rule::AbortSendsRst, RuleCounts::default());
        let (md, unsupported) = render_of(&ev);
        assert_eq!(unsupported, ["abort-sends-rst: no evidence in this run"]);
        let section = md.split("### abort-sends-rst\n").nth(1).unwrap();
        assert!(
            section.contains("**Evidence.** **Unsupported by this run's evidence:** no run"),
            "{section}"
        );
        // The SIGPIPE rule stands on the experiment: without it, it has no evidence either.
        let mut ev = evidence();
        ev.probes.clear();
        let (_, unsupported) = render_of(&ev);
        assert_eq!(
            unsupported,
            ["write-epipe-raises-sigpipe: no evidence in this run"]
        );
    }

    #[test]
    fn the_summary_and_sigpipe_conclusions_follow_their_evidence() {
        let mut ev = evidence();
        ev.situations[4].read[0]
            .trace
            .steps
            .last_mut()
            .unwrap()
            .outcome = Outcome::Eof;
        let (md, unsupported) = render_of(&ev);
        assert!(
            md.contains("How to read it: **Unsupported by this run's evidence:**"),
            "{md}"
        );
        assert!(
            md.contains("`server abort; client read 10` on std: eof, not ECONNRESET"),
            "{md}"
        );
        assert_eq!(unsupported.len(), 1, "{unsupported:?}");

        let mut ev = evidence();
        ev.probes[0].signal = None;
        ev.probes[0].code = Some(0);
        let (md, unsupported) = render_of(&ev);
        assert!(!md.contains("The child found `SIG_IGN` at start"), "{md}");
        assert!(unsupported[0].starts_with("SIGPIPE: "), "{unsupported:?}");
    }

    #[test]
    fn each_situation_expects_what_the_oracle_predicts() {
        for s in SITUATIONS {
            for (next, expected) in [("client write 1", s.write), ("client read 10", s.read)] {
                let scenario = Scenario::parse(&format!("{}; {next}", s.steps)).unwrap();
                let p = oracle::predict(&scenario);
                let last = p.steps.last().unwrap().outcome.to_string();
                assert_eq!(last, expected, "{}; {next}", s.steps);
            }
        }
    }

    #[test]
    #[should_panic(expected = "no run on the tokio backend to draw")]
    fn a_diagram_without_its_backends_run_is_a_panic_not_another_run() {
        let scenario = Scenario::parse(Rule::TokioShutdownHidesEnotconn.canonical()).unwrap();
        let runs = [as_predicted(&scenario, Backend::Std)];
        diagram_run(Rule::TokioShutdownHidesEnotconn, &runs);
    }

    #[test]
    #[should_panic(expected = "the lab has no runner for the tokio backend")]
    fn a_lab_never_runs_a_backend_on_anothers_runner() {
        let mut lab = Lab::with_backends(&[Backend::Std]).unwrap();
        let _ = lab.run(&Scenario::parse("client write 1").unwrap(), Backend::Tokio);
    }

    #[test]
    fn every_situation_parses_with_a_next_call() {
        for s in SITUATIONS {
            let text = format!("{}; client write 1", s.steps);
            assert!(Scenario::parse(&text).is_ok(), "{text}");
        }
    }
}
