//! The scenario language: what a scenario is, its bounds, and its text form.
//!
//! A scenario is a list of steps, one per line (or separated by `;`), each
//! `<actor> <op> [argument] [=> <outcome>]`. The ops are the rows of one table, [`OpKind`]:
//! `write N`, `read N`, `close`, `abort`, `shutdown read|write|both`, `sleep D`, `poll` (what
//! poll(2) reports: `IN|OUT|RDHUP`, …, or `none`) and `error` (what getsockopt(SO_ERROR) returns
//! and clears: `ok` or an errno name) for `client` and `server`; `delay D`, `hold`, `release` and
//! `drop` for the `link`.
//!
//! ```text
//! # the seed article, in the language
//! client write 1 => ok(1)
//! server read 1 => ok(1)
//! server close
//! client write 1 => ok(1)
//! client write 1 => EPIPE
//! ```
//!
//! `client write request` is the client's request, whatever its length: only the peer
//! ([`crate::peer`]) plays it, counting what arrives. [`Script`] keeps it, with each step's place
//! in the text ([`Span`]); [`Scenario::parse`] refuses it, since the oracle needs a count.
//!
//! Durations (`sleep D`, and `rstlab explore --time D`) have one syntax, read by
//! [`parse_duration`]: a number, then a unit with nothing between, such as `250us`, `5ms`,
//! `1.5s`, `2m` or `1h`.
//!
//! Every scenario starts on a freshly established loopback connection. The bounds in [`bounds`]
//! keep every socket buffer far from full, so no result depends on buffer auto-tuning, and keep
//! every pause shorter than any TCP timer that could change a result.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::outcome::{Errno, Outcome, PollEvents};
use crate::text::QUOTED_CHARS;
pub use crate::text::quote;

pub mod bounds;
mod ops;
mod parse;
mod script;
pub mod source;
#[cfg(test)]
mod tests;

pub use ops::{
    Arg, Ends, How, LinkOp, MAX_KEEPALIVE_COUNT, MAX_KEEPALIVE_SECONDS, Op, OpKind, Param,
    Performer, Setting,
};
pub use parse::{ParseError, parse_duration};
pub use script::{REQUEST, Script, Span};

use bounds::*;

/// An end of the connection: what has a socket, sends segments and is the other end's peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    /// The side that called `connect`.
    Client,
    /// The side returned by `accept`.
    Server,
}

impl End {
    /// Both ends, client first.
    pub const BOTH: [End; 2] = [End::Client, End::Server];

    /// The other end of the connection.
    pub fn peer(self) -> End {
        match self {
            End::Client => End::Server,
            End::Server => End::Client,
        }
    }

    /// 0 for the client, 1 for the server: an index into per-end arrays.
    pub fn index(self) -> usize {
        match self {
            End::Client => 0,
            End::Server => 1,
        }
    }

    /// The word for this end in the language.
    pub fn as_str(self) -> &'static str {
        Who::from(self).as_str()
    }
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who performs a step, the first word of its line: an end of the connection ([`End`]),
/// on its socket or pausing, or the emulated link between them, which has no socket and only
/// `link` ops.
///
/// ```
/// use rstlab::scenario::{End, LinkOp, Scenario, Step, Who};
/// let s: Scenario = "link hold; client write 1".parse().unwrap();
/// assert_eq!(s.steps()[0], Step::link(LinkOp::Hold));
/// assert_eq!(s.steps()[0].end(), None); // the link is no end: no socket, no peer
/// assert_eq!(s.steps()[1].end(), Some(End::Client));
/// assert!(s.steps()[1].who == End::Client);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Who {
    /// The client end.
    Client,
    /// The server end.
    Server,
    /// The emulated link.
    Link,
}

impl Who {
    /// The end, when it is one; `None` for the link.
    pub fn end(self) -> Option<End> {
        match self {
            Who::Client => Some(End::Client),
            Who::Server => Some(End::Server),
            Who::Link => None,
        }
    }

    /// The word in the language.
    pub fn as_str(self) -> &'static str {
        match self {
            Who::Client => "client",
            Who::Server => "server",
            Who::Link => "link",
        }
    }
}

impl From<End> for Who {
    fn from(actor: End) -> Who {
        match actor {
            End::Client => Who::Client,
            End::Server => Who::Server,
        }
    }
}

impl PartialEq<End> for Who {
    /// Whether this is that end: `step.who == End::Client`.
    fn eq(&self, actor: &End) -> bool {
        self.end() == Some(*actor)
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a scenario: an actor, an op, and optionally the outcome it must have.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// Who acts: an end, or the link.
    pub who: Who,
    /// What it does.
    pub op: Op,
    /// The `=> outcome` part: what the real kernel must answer.
    pub expect: Option<Outcome>,
}

impl Step {
    /// A step without an expectation; `actor` is an [`End`] or [`Who::Link`].
    pub fn new(actor: impl Into<Who>, op: Op) -> Step {
        Step {
            who: actor.into(),
            op,
            expect: None,
        }
    }

    /// A step of the link.
    pub fn link(op: LinkOp) -> Step {
        Step::new(Who::Link, Op::Link(op))
    }

    /// The end that performs this step; `None` for a step of the link.
    pub fn end(&self) -> Option<End> {
        self.who.end()
    }

    /// The same step, expecting `outcome`.
    pub fn expecting(mut self, outcome: Outcome) -> Step {
        self.expect = Some(outcome);
        self
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.who, self.op)?;
        if let Some(expect) = &self.expect {
            write!(f, " => {expect}")?;
        }
        Ok(())
    }
}

/// Why a list of steps is not a scenario.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Invalid {
    /// A socket op by an actor whose socket is already closed or aborted.
    #[error(
        "the {actor} already ended its socket with `{ended}` (step {at}); no later step may use it"
    )]
    AfterEnd {
        /// Who.
        actor: End,
        /// `close` or `abort`.
        ended: &'static str,
        /// The 1-based step that ended it.
        at: usize,
    },
    /// `write 0` or `read 0`.
    #[error("expected a byte count of at least 1")]
    ZeroBytes,
    /// A count past [`MAX_IO`].
    #[error("{0} bytes is past the bound of {MAX_IO} bytes per step")]
    TooManyBytes(usize),
    /// Writes past [`MAX_BYTES_PER_DIRECTION`].
    #[error(
        "the {actor} would have written {total} bytes in all, past the bound of {MAX_BYTES_PER_DIRECTION} per direction"
    )]
    DirectionFull {
        /// The writer.
        actor: End,
        /// Its total.
        total: usize,
    },
    /// A `set` whose values the kernel does not take.
    #[error("{0}")]
    Setting(String),
    /// A sleep past [`MAX_SLEEP`].
    #[error("a sleep of {0:?} is past the bound of {MAX_SLEEP:?}")]
    SleepTooLong(Duration),
    /// More than [`MAX_STEPS`] steps.
    #[error("more than {MAX_STEPS} steps")]
    TooManySteps,
    /// A `link` op by a socket end, or a socket op by the link.
    #[error("`{op}` is not a step of the {who}")]
    WrongActor {
        /// Who.
        who: Who,
        /// The op.
        op: Op,
    },
    /// A delay past [`MAX_DELAY`].
    #[error("a delay of {0:?} is past the bound of {MAX_DELAY:?}")]
    DelayTooLong(Duration),
    /// An expectation the op can never have (`close => ok(3)`, `write 1 => eof`).
    #[error("`{op}` can never end as `{expect}`")]
    ImpossibleExpectation {
        /// The op.
        op: Op,
        /// The expectation.
        expect: Outcome,
    },
}

/// A step of a scenario that breaks the language's rules.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("step {step}: {invalid}")]
pub struct InvalidStep {
    /// 1-based index of the offending step.
    pub step: usize,
    /// What is wrong with it.
    pub invalid: Invalid,
}

/// A valid scenario: every step within the bounds, no step on a socket after its end.
///
/// ```
/// use rstlab::scenario::{End, Op, Scenario, Step};
/// let seed: Scenario = "client write 1; server read 1; server close; client write 1; client write 1"
///     .parse()
///     .unwrap();
/// assert_eq!(seed.steps().len(), 5);
/// assert_eq!(seed.steps()[2], Step::new(End::Server, Op::Close));
/// assert_eq!(seed.to_string().parse::<Scenario>().unwrap(), seed);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scenario {
    steps: Vec<Step>,
}

impl Scenario {
    /// Checks `steps` against the language's rules.
    pub fn new(steps: Vec<Step>) -> Result<Scenario, InvalidStep> {
        let mut checker = Checker::default();
        for (i, step) in steps.iter().enumerate() {
            checker.admit(i, step).map_err(|invalid| InvalidStep {
                step: i + 1,
                invalid,
            })?;
        }
        Ok(Scenario { steps })
    }

    /// Keeps the longest valid scenario that `steps` allows, dropping each step that breaks a
    /// rule. Generators build raw step lists and pass them through this, so that shrinking a raw
    /// list always shrinks a valid scenario.
    ///
    /// ```
    /// use rstlab::scenario::{End, Op, Scenario, Step};
    /// let raw = vec![
    ///     Step::new(End::Server, Op::Close),
    ///     Step::new(End::Server, Op::Read(1)), // after close: dropped
    ///     Step::new(End::Client, Op::Write(0)), // zero bytes: dropped
    ///     Step::new(End::Client, Op::Write(1)),
    /// ];
    /// assert_eq!(Scenario::normalize(raw).to_string(), "server close\nclient write 1\n");
    /// ```
    pub fn normalize(steps: Vec<Step>) -> Scenario {
        let mut checker = Checker::default();
        let mut kept = Vec::with_capacity(steps.len().min(MAX_STEPS));
        for step in steps {
            if checker.admit(kept.len(), &step).is_ok() {
                kept.push(step);
            }
        }
        Scenario { steps: kept }
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The same scenario without any `=>` expectation.
    pub fn without_expectations(&self) -> Scenario {
        Scenario {
            steps: self
                .steps
                .iter()
                .map(|s| Step::new(s.who, s.op.clone()))
                .collect(),
        }
    }

    /// The scenario on one line, steps separated by `; `: the form for a command line.
    pub fn to_inline(&self) -> String {
        self.steps
            .iter()
            .map(Step::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Parses the text form; see the [module documentation](self). `client write request`
    /// is refused here: it has no byte count, and the oracle needs one ([`Script`] keeps it,
    /// for the peer).
    pub fn parse(text: &str) -> Result<Scenario, ParseError> {
        Script::parse(text)?.into_scenario()
    }

    /// Whether any step is the link's: such a scenario can run only on the emulated link.
    pub fn uses_link(&self) -> bool {
        self.steps.iter().any(|s| s.who == Who::Link)
    }

    /// Whether the scenario is predicted on the emulated link only: it has `link` steps, or a
    /// `reboot`, which the model follows only where Linux does not delay ACKs
    /// ([`crate::oracle::Limit::RebootWithDelayedAcks`]).
    pub fn needs_link(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.who == Who::Link || s.op == Op::Reboot)
    }
}

impl fmt::Display for Scenario {
    /// One step per line, each ending in a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}

impl FromStr for Scenario {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Scenario, ParseError> {
        Scenario::parse(text)
    }
}

/// The running state behind [`Scenario::new`] and [`Scenario::normalize`].
#[derive(Default)]
struct Checker {
    ended: [Option<(&'static str, usize)>; 2],
    written: [usize; 2],
}

impl Checker {
    /// Checks step number `index` (0-based) and, when it is valid, records its effects.
    fn admit(&mut self, index: usize, step: &Step) -> Result<(), Invalid> {
        if index >= MAX_STEPS {
            return Err(Invalid::TooManySteps);
        }
        let kind = step.op.kind();
        if !kind.performer().admits(step.who) {
            return Err(Invalid::WrongActor {
                who: step.who,
                op: step.op.clone(),
            });
        }
        // The link has no socket to end and writes nothing: its steps are checked above.
        let Some(actor) = step.end() else {
            step.op.check_bounds()?;
            return Ok(());
        };
        if kind.performer() == Performer::Socket
            && let Some((ended, at)) = self.ended[actor.index()]
        {
            return Err(Invalid::AfterEnd { actor, ended, at });
        }
        step.op.check_bounds()?;
        if let Some(expect) = &step.expect
            && !step.op.can_end_as(expect)
        {
            return Err(Invalid::ImpossibleExpectation {
                op: step.op.clone(),
                expect: expect.clone(),
            });
        }
        let who = actor.index();
        if let Op::Write(n) = step.op {
            let total = self.written[who] + n;
            if total > MAX_BYTES_PER_DIRECTION {
                return Err(Invalid::DirectionFull { actor, total });
            }
            self.written[who] = total;
        }
        if step.op.ends_socket() {
            self.ended[who] = Some((step.op.name(), index + 1));
        }
        Ok(())
    }
}
