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

use serde::Serialize;
use thiserror::Error;

use crate::outcome::{Errno, Outcome, PollEvents};
use crate::text::QUOTED_CHARS;
pub use crate::text::quote;

/// The limits of the language, shared by the parser, the proptest strategies and the
/// `arbitrary` implementation: one source of truth.
pub mod bounds {
    use std::time::Duration;

    /// At most this many steps in a scenario.
    pub const MAX_STEPS: usize = 64;
    /// At most this many bytes in one `write N` or `read N`.
    pub const MAX_IO: usize = 64 * 1024;
    /// At most this many bytes written in all, per direction. With the runner's socket buffers
    /// (see [`crate::run`]) this is far below what either buffer or the receive window holds,
    /// so every write is accepted whole and every byte reaches the peer before the next step.
    pub const MAX_BYTES_PER_DIRECTION: usize = 64 * 1024;
    /// The longest `sleep`: far below Linux's shortest state timer that can change an outcome
    /// (`tcp_fin_timeout` and TIME_WAIT, 60 s).
    pub const MAX_SLEEP: Duration = Duration::from_secs(5);
    /// The longest one-way delay of `link delay D`.
    pub const MAX_DELAY: Duration = Duration::from_millis(100);
}

use bounds::*;

/// An end of the connection: what has a socket, sends segments and is the other end's peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The side that called `connect`.
    Client,
    /// The side returned by `accept`.
    Server,
}

impl Actor {
    /// Both ends, client first.
    pub const BOTH: [Actor; 2] = [Actor::Client, Actor::Server];

    /// The other end of the connection.
    pub fn peer(self) -> Actor {
        match self {
            Actor::Client => Actor::Server,
            Actor::Server => Actor::Client,
        }
    }

    /// 0 for the client, 1 for the server: an index into per-end arrays.
    pub fn index(self) -> usize {
        match self {
            Actor::Client => 0,
            Actor::Server => 1,
        }
    }

    /// The word for this end in the language.
    pub fn as_str(self) -> &'static str {
        Who::from(self).as_str()
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who performs a step, the first word of its line: an end of the connection ([`Actor`]),
/// on its socket or pausing, or the emulated link between them, which has no socket and only
/// `link` ops.
///
/// ```
/// use rstlab::scenario::{Actor, LinkOp, Scenario, Step, Who};
/// let s: Scenario = "link hold; client write 1".parse().unwrap();
/// assert_eq!(s.steps()[0], Step::link(LinkOp::Hold));
/// assert_eq!(s.steps()[0].end(), None); // the link is no end: no socket, no peer
/// assert_eq!(s.steps()[1].end(), Some(Actor::Client));
/// assert!(s.steps()[1].actor == Actor::Client);
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
    pub fn end(self) -> Option<Actor> {
        match self {
            Who::Client => Some(Actor::Client),
            Who::Server => Some(Actor::Server),
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

impl From<Actor> for Who {
    fn from(actor: Actor) -> Who {
        match actor {
            Actor::Client => Who::Client,
            Actor::Server => Who::Server,
        }
    }
}

impl PartialEq<Actor> for Who {
    /// Whether this is that end: `step.actor == Actor::Client`.
    fn eq(&self, actor: &Actor) -> bool {
        self.end() == Some(*actor)
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `how` of `shutdown(2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// `SHUT_RD`.
    Read,
    /// `SHUT_WR`: sends FIN.
    Write,
    /// `SHUT_RDWR`.
    Both,
}

impl How {
    /// Every `how`, in the order the fuzz encoding numbers them.
    pub const ALL: [How; 3] = [How::Write, How::Read, How::Both];

    /// Whether this shuts the sending direction (and so sends FIN).
    pub fn shuts_write(self) -> bool {
        matches!(self, How::Write | How::Both)
    }

    /// Whether this shuts the receiving direction.
    pub fn shuts_read(self) -> bool {
        matches!(self, How::Read | How::Both)
    }

    /// The matching `std::net::Shutdown`.
    pub fn to_std(self) -> std::net::Shutdown {
        match self {
            How::Read => std::net::Shutdown::Read,
            How::Write => std::net::Shutdown::Write,
            How::Both => std::net::Shutdown::Both,
        }
    }

    /// The word for it in the language.
    pub fn as_str(self) -> &'static str {
        match self {
            How::Read => "read",
            How::Write => "write",
            How::Both => "both",
        }
    }
}

/// What the `link` actor does to the emulated link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkOp {
    /// `link delay D`: segments sent from now on take D to cross, either way
    /// (0 ≤ D ≤ [`MAX_DELAY`]); segments already in flight keep their due time.
    Delay(Duration),
    /// `link hold`: segments sent from now on stay in the link until `link release`.
    Hold,
    /// `link release`: every held segment starts across now, in the order sent, under the
    /// current delay; holding stops.
    Release,
    /// `link drop`: every segment in flight or held right now is lost.
    Drop,
}

impl fmt::Display for LinkOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Op::Link(*self).fmt(f)
    }
}

/// One operation on a socket, a pause, or a change to the link. Every op is a row of the
/// [`OpKind`] table, which says who performs it, what it takes and what it can end as.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `write N`: send N bytes (1 ≤ N ≤ [`MAX_IO`]).
    Write(usize),
    /// `read N`: read up to N bytes without waiting for data that has not arrived.
    Read(usize),
    /// `close`: close(2).
    Close,
    /// `abort`: SO_LINGER {on, 0 s}, then close(2).
    Abort,
    /// `shutdown read|write|both`: shutdown(2).
    Shutdown(How),
    /// `sleep D`: a pause of at most [`MAX_SLEEP`]: in real time on loopback, in the link's
    /// virtual time on the link.
    Sleep(Duration),
    /// `poll`: poll(2) on the socket for `POLLIN | POLLPRI | POLLOUT | POLLRDHUP` with a zero
    /// timeout; the outcome is the events returned ([`Outcome::Ready`]).
    Poll,
    /// `error`: getsockopt(SO_ERROR), which returns the pending error and clears it; the
    /// outcome is `ok` when none is pending, else its errno.
    Error,
    /// A step of the `link` actor.
    Link(LinkOp),
}

/// Who may perform an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Performer {
    /// `client` or `server`, on its own socket: never after its own `close` or `abort`.
    Socket,
    /// `client` or `server`, even after its socket is closed (a pause).
    End,
    /// The `link`.
    Link,
}

impl Performer {
    /// Whether `who` may perform an op of this kind.
    pub fn admits(self, who: impl Into<Who>) -> bool {
        (self == Performer::Link) == (who.into() == Who::Link)
    }
}

/// What an op takes after its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// Nothing.
    None,
    /// A byte count, 1 ≤ N ≤ [`MAX_IO`].
    Count,
    /// `read`, `write` or `both`.
    How,
    /// A duration ([`parse_duration`]) of at most this much.
    Duration(Duration),
}

/// The argument of one op: the value of its [`Param`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// No argument.
    None,
    /// A byte count.
    Count(usize),
    /// A `how`.
    How(How),
    /// A duration.
    Duration(Duration),
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::None => Ok(()),
            Arg::Count(n) => write!(f, "{n}"),
            Arg::How(how) => f.write_str(how.as_str()),
            Arg::Duration(d) => write!(f, "{}", DisplayDuration(*d)),
        }
    }
}

/// The outcomes an op can end as: the shape check behind `=>` lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ends {
    /// `ok` only.
    Ok,
    /// `ok` or an errno.
    OkOrErrno,
    /// `ok(k)` for 1 ≤ k ≤ N, an errno, and `eof` when `eof` is true.
    Bytes {
        /// Whether the op can return 0 bytes, the end of the stream.
        eof: bool,
    },
    /// Poll events ([`Outcome::Ready`]).
    Events,
}

impl Ends {
    /// Whether an op of this shape whose argument is `arg` can end as `outcome`.
    fn admits(self, arg: Arg, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (Ends::Ok, o) => *o == Outcome::Ok,
            (Ends::OkOrErrno, o) => matches!(o, Outcome::Ok | Outcome::Err(_)),
            (Ends::Bytes { .. }, Outcome::Bytes(k)) => {
                matches!(arg, Arg::Count(n) if (1..=n).contains(k))
            }
            (Ends::Bytes { eof }, Outcome::Eof) => eof,
            (Ends::Bytes { .. }, Outcome::Err(_)) => true,
            (Ends::Events, Outcome::Ready(_)) => true,
            _ => false,
        }
    }
}

/// The table of ops: one row per op, from which the parser, the printer, the checker, the
/// proptest strategies, the `arbitrary` decoder and the fuzz encoding all follow. A new op is a
/// row here, a variant of [`Op`] with its two conversions ([`Op::kind`], [`OpKind::with`]),
/// then the oracle and the two runners.
macro_rules! ops {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident = $name:literal {
            by: $by:ident,
            param: $param:expr,
            ends_as: $ends:expr,
            ends_socket: $ends_socket:literal,
            weight: $weight:literal,
        }
    )*) => {
        /// The kind of an [`Op`]: a row of the ops table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OpKind {
            $(
                $(#[doc = $doc])*
                $kind,
            )*
        }

        impl OpKind {
            /// Every kind, in table order: the order of the fuzz encoding.
            pub const ALL: &'static [OpKind] = &[$(OpKind::$kind),*];

            /// The op's word in the language.
            pub fn name(self) -> &'static str {
                match self {
                    $(OpKind::$kind => $name,)*
                }
            }

            /// Who may perform it.
            pub fn performer(self) -> Performer {
                match self {
                    $(OpKind::$kind => Performer::$by,)*
                }
            }

            /// What it takes after its name.
            pub fn param(self) -> Param {
                match self {
                    $(OpKind::$kind => $param,)*
                }
            }

            /// What it can end as.
            pub fn ends_as(self) -> Ends {
                match self {
                    $(OpKind::$kind => $ends,)*
                }
            }

            /// Whether it ends the actor's socket, so that no later step may use it.
            pub fn ends_socket(self) -> bool {
                match self {
                    $(OpKind::$kind => $ends_socket,)*
                }
            }

            /// Its weight among the ops of its performer when steps are drawn at random (the
            /// proptest strategies and the `arbitrary` decoder).
            pub fn weight(self) -> u8 {
                match self {
                    $(OpKind::$kind => $weight,)*
                }
            }
        }
    };
}

ops! {
    /// `write N`.
    Write = "write" { by: Socket, param: Param::Count, ends_as: Ends::Bytes { eof: false }, ends_socket: false, weight: 4, }
    /// `read N`.
    Read = "read" { by: Socket, param: Param::Count, ends_as: Ends::Bytes { eof: true }, ends_socket: false, weight: 3, }
    /// `close`.
    Close = "close" { by: Socket, param: Param::None, ends_as: Ends::OkOrErrno, ends_socket: true, weight: 1, }
    /// `abort`.
    Abort = "abort" { by: Socket, param: Param::None, ends_as: Ends::OkOrErrno, ends_socket: true, weight: 1, }
    /// `shutdown read|write|both`.
    Shutdown = "shutdown" { by: Socket, param: Param::How, ends_as: Ends::OkOrErrno, ends_socket: false, weight: 1, }
    /// `sleep D`.
    Sleep = "sleep" { by: End, param: Param::Duration(MAX_SLEEP), ends_as: Ends::Ok, ends_socket: false, weight: 1, }
    /// `poll`. Its weight and `error`'s sum to 7, so that the socket ops weigh 18 in all: the
    /// fuzz decoder picks an op as a byte modulo that sum, and 18 keeps every committed fuzz
    /// input decoding to the scenario it decoded to when the ops were the six above (weighing
    /// 11): the encoder's bytes are below 11, and the one libFuzzer-made regression input picks
    /// its `read` with the byte 59 (59 mod 11 = 4 and 59 mod 18 = 5, both `read`).
    Poll = "poll" { by: Socket, param: Param::None, ends_as: Ends::Events, ends_socket: false, weight: 5, }
    /// `error`.
    Error = "error" { by: Socket, param: Param::None, ends_as: Ends::OkOrErrno, ends_socket: false, weight: 2, }
    /// `link delay D`.
    Delay = "delay" { by: Link, param: Param::Duration(MAX_DELAY), ends_as: Ends::Ok, ends_socket: false, weight: 1, }
    /// `link hold`.
    Hold = "hold" { by: Link, param: Param::None, ends_as: Ends::Ok, ends_socket: false, weight: 1, }
    /// `link release`.
    Release = "release" { by: Link, param: Param::None, ends_as: Ends::Ok, ends_socket: false, weight: 1, }
    /// `link drop`.
    Drop = "drop" { by: Link, param: Param::None, ends_as: Ends::Ok, ends_socket: false, weight: 1, }
}

impl OpKind {
    /// The op of this kind with `arg`, or `None` when `arg` is not what [`OpKind::param`] says.
    ///
    /// ```
    /// use rstlab::scenario::{Arg, Op, OpKind};
    /// assert_eq!(OpKind::Write.with(Arg::Count(3)), Some(Op::Write(3)));
    /// assert_eq!(OpKind::Poll.with(Arg::None), Some(Op::Poll));
    /// assert_eq!(OpKind::Poll.with(Arg::Count(3)), None);
    /// ```
    pub fn with(self, arg: Arg) -> Option<Op> {
        Some(match (self, arg) {
            (OpKind::Write, Arg::Count(n)) => Op::Write(n),
            (OpKind::Read, Arg::Count(n)) => Op::Read(n),
            (OpKind::Close, Arg::None) => Op::Close,
            (OpKind::Abort, Arg::None) => Op::Abort,
            (OpKind::Shutdown, Arg::How(how)) => Op::Shutdown(how),
            (OpKind::Sleep, Arg::Duration(d)) => Op::Sleep(d),
            (OpKind::Poll, Arg::None) => Op::Poll,
            (OpKind::Error, Arg::None) => Op::Error,
            (OpKind::Delay, Arg::Duration(d)) => Op::Link(LinkOp::Delay(d)),
            (OpKind::Hold, Arg::None) => Op::Link(LinkOp::Hold),
            (OpKind::Release, Arg::None) => Op::Link(LinkOp::Release),
            (OpKind::Drop, Arg::None) => Op::Link(LinkOp::Drop),
            _ => return None,
        })
    }

    /// The kinds `performer` may perform, in table order.
    pub fn of(performer: Performer) -> impl Iterator<Item = OpKind> {
        OpKind::ALL
            .iter()
            .copied()
            .filter(move |k| k.performer() == performer)
    }

    /// The kinds `who` may perform, in table order.
    pub fn for_actor(who: impl Into<Who>) -> impl Iterator<Item = OpKind> {
        let who = who.into();
        OpKind::ALL
            .iter()
            .copied()
            .filter(move |k| k.performer().admits(who))
    }
}

impl Op {
    /// Its row of the ops table.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Write(_) => OpKind::Write,
            Op::Read(_) => OpKind::Read,
            Op::Close => OpKind::Close,
            Op::Abort => OpKind::Abort,
            Op::Shutdown(_) => OpKind::Shutdown,
            Op::Sleep(_) => OpKind::Sleep,
            Op::Poll => OpKind::Poll,
            Op::Error => OpKind::Error,
            Op::Link(LinkOp::Delay(_)) => OpKind::Delay,
            Op::Link(LinkOp::Hold) => OpKind::Hold,
            Op::Link(LinkOp::Release) => OpKind::Release,
            Op::Link(LinkOp::Drop) => OpKind::Drop,
        }
    }

    /// Its argument.
    pub fn arg(&self) -> Arg {
        match self {
            Op::Write(n) | Op::Read(n) => Arg::Count(*n),
            Op::Shutdown(how) => Arg::How(*how),
            Op::Sleep(d) | Op::Link(LinkOp::Delay(d)) => Arg::Duration(*d),
            _ => Arg::None,
        }
    }

    /// Whether this op ends the actor's socket, so that no later step may use it.
    pub fn ends_socket(&self) -> bool {
        self.kind().ends_socket()
    }

    /// The op's first word.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Whether this op acts on the actor's socket (not a pause, not the link).
    pub fn on_socket(&self) -> bool {
        self.kind().performer() == Performer::Socket
    }

    /// Whether the op is within the language's bounds (byte counts, durations), regardless of
    /// the steps around it.
    pub fn check_bounds(&self) -> Result<(), Invalid> {
        match *self {
            Op::Write(0) | Op::Read(0) => Err(Invalid::ZeroBytes),
            Op::Write(n) | Op::Read(n) if n > MAX_IO => Err(Invalid::TooManyBytes(n)),
            Op::Sleep(d) if d > MAX_SLEEP => Err(Invalid::SleepTooLong(d)),
            Op::Link(LinkOp::Delay(d)) if d > MAX_DELAY => Err(Invalid::DelayTooLong(d)),
            _ => Ok(()),
        }
    }

    /// Whether the op can ever end as `outcome`: the shape check behind `=>` lines.
    ///
    /// ```
    /// use rstlab::scenario::Op;
    /// use rstlab::{Errno, Outcome};
    /// assert!(Op::Read(4).can_end_as(&Outcome::Eof));
    /// assert!(!Op::Write(4).can_end_as(&Outcome::Bytes(5)));
    /// assert!(Op::Error.can_end_as(&Outcome::Err(Errno::ECONNRESET)));
    /// assert!(!Op::Poll.can_end_as(&Outcome::Ok));
    /// ```
    pub fn can_end_as(&self, outcome: &Outcome) -> bool {
        self.kind().ends_as().admits(self.arg(), outcome)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self.arg() {
            Arg::None => Ok(()),
            arg => write!(f, " {arg}"),
        }
    }
}

/// A duration in the language's units: the largest of `s`, `ms`, `us` that shows it exactly.
struct DisplayDuration(Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_micros();
        if us != 0 && us % 1_000_000 == 0 {
            write!(f, "{}s", us / 1_000_000)
        } else if us != 0 && us % 1_000 == 0 {
            write!(f, "{}ms", us / 1_000)
        } else {
            write!(f, "{us}us")
        }
    }
}

/// One line of a scenario: an actor, an op, and optionally the outcome it must have.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// Who acts: an end, or the link.
    pub actor: Who,
    /// What it does.
    pub op: Op,
    /// The `=> outcome` part: what the real kernel must answer.
    pub expect: Option<Outcome>,
}

impl Step {
    /// A step without an expectation; `actor` is an [`Actor`] or [`Who::Link`].
    pub fn new(actor: impl Into<Who>, op: Op) -> Step {
        Step {
            actor: actor.into(),
            op,
            expect: None,
        }
    }

    /// A step of the link.
    pub fn link(op: LinkOp) -> Step {
        Step::new(Who::Link, Op::Link(op))
    }

    /// The end that performs this step; `None` for a step of the link.
    pub fn end(&self) -> Option<Actor> {
        self.actor.end()
    }

    /// The same step, expecting `outcome`.
    pub fn expecting(mut self, outcome: Outcome) -> Step {
        self.expect = Some(outcome);
        self
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.actor, self.op)?;
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
        actor: Actor,
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
        actor: Actor,
        /// Its total.
        total: usize,
    },
    /// A sleep past [`MAX_SLEEP`].
    #[error("a sleep of {0:?} is past the bound of {MAX_SLEEP:?}")]
    SleepTooLong(Duration),
    /// More than [`MAX_STEPS`] steps.
    #[error("more than {MAX_STEPS} steps")]
    TooManySteps,
    /// A `link` op by a socket end, or a socket op by the link.
    #[error("`{op}` is not a step of the {actor}")]
    WrongActor {
        /// Who.
        actor: Who,
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
/// use rstlab::scenario::{Actor, Op, Scenario, Step};
/// let seed: Scenario = "client write 1; server read 1; server close; client write 1; client write 1"
///     .parse()
///     .unwrap();
/// assert_eq!(seed.steps().len(), 5);
/// assert_eq!(seed.steps()[2], Step::new(Actor::Server, Op::Close));
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
    /// use rstlab::scenario::{Actor, Op, Scenario, Step};
    /// let raw = vec![
    ///     Step::new(Actor::Server, Op::Close),
    ///     Step::new(Actor::Server, Op::Read(1)), // after close: dropped
    ///     Step::new(Actor::Client, Op::Write(0)), // zero bytes: dropped
    ///     Step::new(Actor::Client, Op::Write(1)),
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
                .map(|s| Step::new(s.actor, s.op.clone()))
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
        self.steps.iter().any(|s| s.actor == Who::Link)
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
        if !kind.performer().admits(step.actor) {
            return Err(Invalid::WrongActor {
                actor: step.actor,
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

/// A scenario text that does not parse, with where and why.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

/// Where a step is in the scenario text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the step's first word, in characters.
    pub column: usize,
    /// The step's bytes in the text, from its first word to the end of its last.
    pub bytes: std::ops::Range<usize>,
}

/// A scenario as written: its steps, where each one is in the text ([`Span`]), and which of
/// its client writes are `client write request`, the client's request whatever its length.
///
/// `client write request` is for the peer ([`crate::peer`], `rstlab serve`, `rstlab exec`),
/// which plays the server against a real program: it waits for the request to arrive (for
/// HTTP, to the end of its headers and body) and takes its length from what arrived. Nothing
/// else can give it a length, so [`Script::into_scenario`] (and [`Scenario::parse`], what
/// `rstlab run` reads) refuses it with its place.
///
/// ```
/// use rstlab::scenario::Script;
/// let script = Script::parse("client write request\nserver read 65536; server close").unwrap();
/// assert_eq!(script.requests(), [0]);
/// assert_eq!((script.spans()[2].line, script.spans()[2].column), (2, 20));
/// assert_eq!(script.written(0), "client write request");
/// let refused = script.into_scenario().unwrap_err();
/// assert_eq!((refused.line, refused.column), (1, 14));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The steps, each request as a write of one byte (its least length).
    shape: Scenario,
    /// Where each step is in the text; empty for a script made from a [`Scenario`].
    spans: Vec<Span>,
    /// The 0-based indexes of the `client write request` steps, in order, with the column of
    /// the word `request`.
    requests: Vec<(usize, usize)>,
}

/// The word that stands for the client's request's length in `client write request`.
pub const REQUEST: &str = "request";

impl Script {
    /// Parses the text form, `client write request` included.
    pub fn parse(text: &str) -> Result<Script, ParseError> {
        parse(text)
    }

    /// The steps, with each `client write request` as `client write 1` (the least length a
    /// request has): for what does not depend on byte counts (who acts, in which order, what
    /// the peer can play). The oracle needs the real counts: ask it about
    /// [`Script::with_lengths`] once they are known.
    pub fn shape(&self) -> &Scenario {
        &self.shape
    }

    /// Where each step is in the text, one per step; empty when the script was not parsed.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Where step `index` (0-based) is in the text.
    pub fn span(&self, index: usize) -> Option<&Span> {
        self.spans.get(index)
    }

    /// The 0-based indexes of the `client write request` steps, in order.
    pub fn requests(&self) -> Vec<usize> {
        self.requests.iter().map(|&(i, _)| i).collect()
    }

    /// Whether step `index` (0-based) is a `client write request`.
    pub fn is_request(&self, index: usize) -> bool {
        self.requests.iter().any(|&(i, _)| i == index)
    }

    /// The scenario with the requests' lengths: `lengths[k]` for the k-th request, its least
    /// length (1) for those not given. Checked against the language's bounds again.
    pub fn with_lengths(&self, lengths: &[usize]) -> Result<Scenario, InvalidStep> {
        let mut steps = self.shape.steps().to_vec();
        for (&(i, _), &n) in self.requests.iter().zip(lengths) {
            steps[i].op = Op::Write(n);
        }
        Scenario::new(steps)
    }

    /// The scenario, when no step is a request; else the error of `rstlab run`'s parser: the
    /// oracle cannot predict a write whose length nobody gives.
    pub fn into_scenario(self) -> Result<Scenario, ParseError> {
        match self.requests.first() {
            None => Ok(self.shape),
            Some(&(i, column)) => Err(ParseError {
                line: self.spans.get(i).map_or(1, |s| s.line),
                column,
                message: format!(
                    "`client write {REQUEST}` has no byte count, and the oracle needs one: only the peer (`rstlab serve`, `rstlab exec`, `rstlab::peer`) plays it, counting the bytes that arrive; here give the count (`client write 68`)"
                ),
            }),
        }
    }

    /// Step `index` (0-based) as written, without its `=>` expectation: `client write request`
    /// for a request.
    pub fn written(&self, index: usize) -> String {
        let Some(step) = self.shape.steps().get(index) else {
            return String::new();
        };
        if self.is_request(index) {
            format!("{} write {REQUEST}", step.actor)
        } else {
            format!("{} {}", step.actor, step.op)
        }
    }

    /// The script on one line, steps separated by `; `.
    pub fn to_inline(&self) -> String {
        self.lines().collect::<Vec<_>>().join("; ")
    }

    /// Each step as written, with its expectation.
    fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.shape.steps().iter().enumerate().map(|(i, step)| {
            let mut line = self.written(i);
            if let Some(expect) = &step.expect {
                line += &format!(" => {expect}");
            }
            line
        })
    }
}

impl fmt::Display for Script {
    /// One step per line, each ending in a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

impl From<Scenario> for Script {
    /// A script without places or requests.
    fn from(shape: Scenario) -> Script {
        Script {
            shape,
            spans: Vec::new(),
            requests: Vec::new(),
        }
    }
}

/// A word of the input, the column it starts at and its byte offset in its line.
#[derive(Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    column: usize,
    byte: usize,
}

fn parse(text: &str) -> Result<Script, ParseError> {
    let mut steps = Vec::new();
    let mut spans = Vec::new();
    let mut requests = Vec::new();
    let mut line_start = 0;
    for (line_index, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line_no = line_index + 1;
        let code = line.split('#').next().unwrap_or("");
        let mut start = 0;
        for segment in code.split(';') {
            let end = start + segment.len();
            let tokens = tokenize(code, start, end);
            start = end + 1;
            let (Some(first), Some(last)) = (tokens.first(), tokens.last()) else {
                continue;
            };
            let end_column = char_column(code, end);
            let (step, request) =
                parse_step(&tokens, end_column).map_err(|(column, message)| ParseError {
                    line: line_no,
                    column,
                    message,
                })?;
            if let Some(column) = request {
                requests.push((steps.len(), column));
            }
            spans.push(Span {
                line: line_no,
                column: first.column,
                bytes: line_start + first.byte..line_start + last.byte + last.text.len(),
            });
            steps.push(step);
        }
        line_start += raw.len();
    }
    let shape = Scenario::new(steps).map_err(|e| {
        let span = &spans[e.step - 1];
        ParseError {
            line: span.line,
            column: span.column,
            message: e.invalid.to_string(),
        }
    })?;
    Ok(Script {
        shape,
        spans,
        requests,
    })
}

/// The 1-based character column of byte offset `byte` in `line`.
fn char_column(line: &str, byte: usize) -> usize {
    line.get(..byte.min(line.len()))
        .map_or(byte, |prefix| prefix.chars().count())
        + 1
}

/// Splits `line[start..end]` into whitespace-separated words, with their columns in `line`.
fn tokenize(line: &str, start: usize, end: usize) -> Vec<Token<'_>> {
    let segment = &line[start..end];
    let mut tokens = Vec::new();
    let mut word_start = None;
    for (i, c) in segment.char_indices().chain([(segment.len(), ' ')]) {
        match (c.is_whitespace(), word_start) {
            (true, Some(s)) => {
                tokens.push(Token {
                    text: &segment[s..i],
                    column: char_column(line, start + s),
                    byte: start + s,
                });
                word_start = None;
            }
            (false, None) => word_start = Some(i),
            _ => {}
        }
    }
    tokens
}

type StepError = (usize, String);

/// One step, and the column of the word `request` when it is `client write request`.
fn parse_step(tokens: &[Token<'_>], end_column: usize) -> Result<(Step, Option<usize>), StepError> {
    let mut cursor = Cursor {
        tokens,
        next: 0,
        end_column,
    };
    const ACTORS: &str = "an actor (`client`, `server` or `link`)";
    let actor = match cursor.word(ACTORS)? {
        t if t.text == "client" => Who::Client,
        t if t.text == "server" => Who::Server,
        t if t.text == "link" => Who::Link,
        t => return Err(unexpected(t, ACTORS)),
    };
    let names: Vec<&str> = OpKind::for_actor(actor).map(OpKind::name).collect();
    let expected = format!(
        "{} ({})",
        if actor == Who::Link {
            "a link op"
        } else {
            "an op"
        },
        one_of(&names)
    );
    let op_token = cursor.word(&expected)?;
    let Some(kind) = OpKind::for_actor(actor).find(|k| k.name() == op_token.text) else {
        return Err(unexpected(op_token, &expected));
    };
    let mut request = None;
    let arg = match kind.param() {
        Param::None => Arg::None,
        Param::Count if actor == Who::Client && kind == OpKind::Write => {
            if let Some(word) = cursor.peek().filter(|t| t.text == REQUEST) {
                cursor.next += 1;
                request = Some(word.column);
                // Its least length, until the peer sees what arrives.
                Arg::Count(1)
            } else {
                Arg::Count(cursor.count(&format!(
                    "a byte count (a whole number, at least 1) or `{REQUEST}` (the client's request, whatever its length)"
                ))?)
            }
        }
        Param::Count => Arg::Count(cursor.count(if kind == OpKind::Write {
            "a byte count (a whole number, at least 1; `request` is for `client write` only)"
        } else {
            COUNT
        })?),
        Param::How => {
            let expected = one_of(&["read", "write", "both"]);
            let word = cursor.word(&expected)?;
            match How::ALL.into_iter().find(|h| h.as_str() == word.text) {
                Some(how) => Arg::How(how),
                None => return Err(unexpected(word, &expected)),
            }
        }
        Param::Duration(_) => Arg::Duration(cursor.duration()?),
    };
    let Some(op) = kind.with(arg) else {
        unreachable!("the argument is parsed by the op's own parameter")
    };
    if let Err(invalid) = op.check_bounds() {
        let at = cursor.tokens[cursor.next - 1].column;
        return Err((at, invalid.to_string()));
    }
    let step = finish_step(actor, op, cursor, tokens, end_column, request.is_some())?;
    Ok((step, request))
}

const COUNT: &str = "a byte count (a whole number, at least 1)";

/// `a`, `` `a` or `b` ``, `` `a`, `b` or `c` ``: words for an error message.
fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The optional `=> outcome` after an op, and its shape check.
fn finish_step(
    actor: Who,
    op: Op,
    mut cursor: Cursor<'_, '_>,
    tokens: &[Token<'_>],
    end_column: usize,
    request: bool,
) -> Result<Step, StepError> {
    let mut expect = None;
    if let Some(arrow) = cursor.peek() {
        if arrow.text != "=>" {
            return Err(unexpected(arrow, "`=>` or the end of the step"));
        }
        cursor.next += 1;
        let outcome = cursor.word(OUTCOMES)?;
        expect = Some(parse_outcome(outcome)?);
        if let Some(extra) = cursor.peek() {
            return Err(unexpected(extra, "the end of the step"));
        }
    }
    let step = Step { actor, op, expect };
    let at = tokens.last().map_or(end_column, |t| t.column);
    if request && let Some(expect @ Outcome::Bytes(_)) = &step.expect {
        return Err((
            at,
            format!(
                "the length of the client's request is known only when it arrives, so `{expect}` cannot be checked: leave the expectation out, or give the count"
            ),
        ));
    }
    // Shape errors of the expectation point at the arrow's outcome, bound errors at the step.
    if let Some(expect) = &step.expect
        && !step.op.can_end_as(expect)
    {
        return Err((
            at,
            Invalid::ImpossibleExpectation {
                op: step.op.clone(),
                expect: expect.clone(),
            }
            .to_string(),
        ));
    }
    Ok(step)
}

const OUTCOMES: &str = "an outcome (`ok`, `ok(N)`, `eof`, an errno name such as `EPIPE`, or poll events such as `IN|OUT` or `none`)";

fn parse_outcome(token: Token<'_>) -> Result<Outcome, StepError> {
    let text = token.text;
    let event_word = |w: &str| PollEvents::NAMED.iter().any(|(_, name)| *name == w);
    if text == "none" || text.contains('|') || event_word(text) {
        return text
            .parse::<PollEvents>()
            .map(Outcome::Ready)
            .map_err(|e| (token.column, e.to_string()));
    }
    if text == "ok" {
        return Ok(Outcome::Ok);
    }
    if text == "eof" {
        return Ok(Outcome::Eof);
    }
    if let Some(inner) = text.strip_prefix("ok(").and_then(|t| t.strip_suffix(')')) {
        return match inner.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Outcome::Bytes(n)),
            _ => Err((
                token.column + 3,
                format!(
                    "expected a byte count of at least 1 inside `ok(...)`, found {}",
                    quote(inner)
                ),
            )),
        };
    }
    if let Some(errno) = Errno::from_name(text) {
        return Ok(Outcome::Err(errno));
    }
    if text.len() > 1 && text.starts_with('E') && text.chars().all(|c| c.is_ascii_uppercase()) {
        let known: Vec<&str> = Errno::KNOWN.iter().filter_map(|e| e.name()).collect();
        return Err((
            token.column,
            format!(
                "unknown errno name {}; known names: {}",
                quote(text),
                known.join(", ")
            ),
        ));
    }
    Err(unexpected(token, OUTCOMES))
}

fn unexpected(token: Token<'_>, expected: &str) -> StepError {
    (
        token.column,
        format!("expected {expected}, found {}", quote(token.text)),
    )
}

/// Parses a duration: a number, then its unit, with nothing between. The number is a whole
/// number or a decimal fraction (`1.5`); the unit is `us` (or `µs`), `ms`, `s`, `m` or `h`, and
/// cannot be left out. The result must be a whole number of microseconds, the finest unit.
/// This is the one duration syntax of rstlab: `sleep D` in a scenario and every duration flag
/// of the command line (`explore --time`, `serve --timeout`, `exec --delay`, …) read it here.
/// A duration cannot be negative: `-30ms` is refused as such.
///
/// ```
/// use std::time::Duration;
/// use rstlab::scenario::parse_duration;
/// assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert!(parse_duration("3").unwrap_err().contains("with its unit"));
/// assert!(parse_duration("0.5us").unwrap_err().contains("microsecond"));
/// assert!(parse_duration("-30ms").unwrap_err().contains("cannot be negative"));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "a duration (a number and a unit: `250us`, `5ms`, `1.5s`, `2m`, `1h`)";
    if text.starts_with('-') {
        return Err(format!(
            "a duration cannot be negative, found {}: give 0 or more, such as `30ms`",
            quote(text)
        ));
    }
    let number_len = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (number.contains('.') && !digits(fraction)) {
        return Err(format!("expected {EXPECTED}, found {}", quote(text)));
    }
    let nanos_per_unit: u128 = match unit {
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => {
            return Err(format!(
                "expected a duration with its unit, found {}: add one of us, ms, s, m or h (`{}s`)",
                quote(text),
                if number.len() <= QUOTED_CHARS {
                    number
                } else {
                    "5"
                }
            ));
        }
        _ => {
            return Err(format!(
                "unknown unit {} in the duration {}: use us, ms, s, m or h",
                quote(unit),
                quote(text)
            ));
        }
    };
    let too_large = || format!("the duration {} is too large", quote(text));
    // Exact decimal arithmetic in nanoseconds: no float rounding, so `0.1s` is 100ms exactly.
    let fraction = fraction.trim_end_matches('0');
    if whole.len() > 24 || fraction.len() > 24 {
        return Err(too_large());
    }
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_large())?
    };
    let fraction_nanos = fraction.checked_mul(nanos_per_unit).ok_or_else(too_large)?;
    let nanos = whole
        .checked_mul(nanos_per_unit)
        .and_then(|n| n.checked_add(fraction_nanos / scale))
        .ok_or_else(too_large)?;
    if fraction_nanos % scale != 0 || nanos % 1_000 != 0 {
        return Err(format!(
            "the duration {} is finer than a microsecond, the finest unit",
            quote(text)
        ));
    }
    let seconds = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_large())?;
    Ok(Duration::new(seconds, (nanos % 1_000_000_000) as u32))
}

struct Cursor<'t, 'a> {
    tokens: &'t [Token<'a>],
    next: usize,
    end_column: usize,
}

impl<'a> Cursor<'_, 'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).copied()
    }

    fn word(&mut self, expected: &str) -> Result<Token<'a>, StepError> {
        match self.peek() {
            Some(t) if t.text != "=>" => {
                self.next += 1;
                Ok(t)
            }
            Some(t) => Err(unexpected(t, expected)),
            None => Err((
                self.end_column,
                format!("expected {expected}, found the end of the step"),
            )),
        }
    }

    fn count(&mut self, expected: &str) -> Result<usize, StepError> {
        let token = self.word(expected)?;
        token.text.parse().map_err(|_| unexpected(token, expected))
    }

    fn duration(&mut self) -> Result<Duration, StepError> {
        let token = self.word("a duration such as `250us`, `5ms` or `1.5s`")?;
        parse_duration(token.text).map_err(|e| (token.column, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> ParseError {
        Scenario::parse(text).expect_err("should not parse")
    }

    #[test]
    fn the_seed_article_parses_with_its_expectations() {
        let text = "client write 1 => ok(1)\nserver read 1 => ok(1)\nserver close\n\
                    client write 1 => ok(1)\nclient write 1 => EPIPE\n";
        let seed = Scenario::parse(text).unwrap();
        assert_eq!(seed.steps().len(), 5);
        assert_eq!(seed.steps()[4].expect, Some(Outcome::Err(Errno::EPIPE)));
        assert_eq!(seed.to_string(), text);
    }

    #[test]
    fn comments_blank_lines_and_semicolons_are_separators() {
        let s =
            Scenario::parse("# a comment\n\n  client write 2 ; server read 5 # tail\n").unwrap();
        assert_eq!(s.to_inline(), "client write 2; server read 5");
    }

    #[test]
    fn every_op_prints_and_parses_back() {
        let text = "client write 3 => ok(3)\nserver read 10 => eof\nserver shutdown read => ok\n\
                    server shutdown write\nserver shutdown both => ENOTCONN\nclient sleep 250us\n\
                    client sleep 5ms => ok\nclient sleep 1s\nclient poll => IN|OUT|RDHUP\n\
                    client poll\nserver error => ECONNRESET\nserver error => ok\nclient poll => none\n\
                    link delay 10ms\nlink hold\nlink release => ok\nlink drop\n\
                    client abort\nserver close => ok\n";
        let s = Scenario::parse(text).unwrap();
        assert_eq!(s.to_string(), text);
        let kinds: std::collections::BTreeSet<OpKind> =
            s.steps().iter().map(|s| s.op.kind()).collect();
        assert_eq!(
            kinds.len(),
            OpKind::ALL.len(),
            "every row of the table is here"
        );
    }

    #[test]
    fn the_ops_table_names_each_op_once_and_builds_what_it_names() {
        let mut names: Vec<&str> = OpKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), OpKind::ALL.len());
        for &kind in OpKind::ALL {
            let arg = match kind.param() {
                Param::None => Arg::None,
                Param::Count => Arg::Count(1),
                Param::How => Arg::How(How::Both),
                Param::Duration(_) => Arg::Duration(Duration::from_millis(1)),
            };
            let op = kind.with(arg).expect("the op's own argument");
            assert_eq!((op.kind(), op.arg()), (kind, arg));
            assert_eq!(op.to_string().split(' ').next(), Some(kind.name()));
        }
    }

    #[test]
    fn poll_and_error_have_their_own_outcomes() {
        let s = Scenario::parse("client poll => OUT|IN; server error => EPIPE; client error => ok")
            .unwrap();
        assert_eq!(
            s.steps()[0].expect,
            Some(Outcome::Ready(PollEvents::IN | PollEvents::OUT))
        );
        assert_eq!(
            s.to_inline(),
            "client poll => IN|OUT; server error => EPIPE; client error => ok"
        );
        for (text, column, phrase) in [
            ("client poll => ok", 16, "can never end"),
            ("client error => IN", 17, "can never end"),
            ("client write 1 => OUT", 19, "can never end"),
            ("client poll => IN|IN", 16, "named twice"),
            ("client poll => IN|", 16, "unknown poll event \"\""),
            (
                "client poll => IN|POLLOUT",
                16,
                "unknown poll event \"POLLOUT\"",
            ),
            ("client poll 3", 13, "`=>` or the end of the step"),
            ("link poll", 6, "a link op"),
            (
                "client hold",
                8,
                "an op (`write`, `read`, `close`, `abort`, `shutdown`, `sleep`, `poll` or `error`)",
            ),
            ("client abort; client poll", 15, "already ended its socket"),
            ("client close; client error", 15, "already ended its socket"),
        ] {
            let e = error_of(text);
            assert_eq!(e.column, column, "{text}: {e}");
            assert!(e.message.contains(phrase), "{text}: {e}");
        }
    }

    #[test]
    fn an_unknown_actor_is_reported_at_its_column() {
        let e = error_of("client write 1\n  bob write 1");
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.message.contains("expected an actor"), "{e}");
    }

    #[test]
    fn an_unknown_op_is_reported_with_the_ops_expected() {
        let e = error_of("client send 1");
        assert_eq!((e.line, e.column), (1, 8));
        assert!(e.message.contains("expected an op"), "{e}");
    }

    #[test]
    fn a_missing_count_is_reported_at_the_end_of_the_step() {
        let e = error_of("client write");
        assert_eq!((e.line, e.column), (1, 13));
        assert!(e.message.contains("found the end of the step"), "{e}");
        let e = error_of("client write; server read 1");
        assert_eq!((e.line, e.column), (1, 13));
    }

    #[test]
    fn a_bad_count_is_reported_at_the_count() {
        let e = error_of("server read x1");
        assert_eq!((e.line, e.column), (1, 13));
        assert!(e.message.contains("byte count"), "{e}");
        let e = error_of("server read 0");
        assert!(e.message.contains("at least 1"), "{e}");
        let e = error_of("server read 65537");
        assert!(e.message.contains("past the bound"), "{e}");
    }

    #[test]
    fn a_step_after_close_is_an_error_that_names_the_close() {
        let e = error_of("server close\nclient write 1\nserver read 1");
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.message.contains("`close` (step 1)"), "{e}");
        let e = error_of("client abort; client shutdown write");
        assert_eq!((e.line, e.column), (1, 15));
        assert!(e.message.contains("`abort`"), "{e}");
    }

    #[test]
    fn sleeping_after_close_is_allowed() {
        assert!(Scenario::parse("server close; server sleep 1ms").is_ok());
    }

    #[test]
    fn writes_past_the_direction_bound_are_an_error() {
        let e = error_of("client write 65536\nserver write 65536\nclient write 1");
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.message.contains("per direction"), "{e}");
    }

    #[test]
    fn a_sleep_past_the_bound_or_without_a_unit_is_an_error() {
        assert!(
            error_of("client sleep 6s")
                .message
                .contains("past the bound")
        );
        assert!(error_of("client sleep 5").message.contains("with its unit"));
        assert!(
            error_of("client sleep 5h")
                .message
                .contains("past the bound")
        );
        assert!(error_of("client sleep 5x").message.contains("unknown unit"));
        assert!(error_of("client sleep s").message.contains("a duration"));
    }

    #[test]
    fn durations_have_one_syntax_with_fractions_and_units() {
        let ok = |t: &str| parse_duration(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("250µs"), Duration::from_micros(250));
        assert_eq!(ok("5ms"), Duration::from_millis(5));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("0.1s"), Duration::from_millis(100));
        assert_eq!(ok("1.000s"), Duration::from_secs(1));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("0s"), Duration::ZERO);
        for bad in [
            "", "3", "1.", ".5s", "1.5.5s", "1 s", "-1s", "1sec", "0.5us", "1e3s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
        let huge = format!("{}s", "9".repeat(30));
        assert!(parse_duration(&huge).unwrap_err().contains("too large"));
        // A sleep of a fraction prints in whole units and parses back to itself.
        let s = Scenario::parse("client sleep 1.5s").unwrap();
        assert_eq!(s.to_string(), "client sleep 1500ms\n");
        assert_eq!(Scenario::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn a_huge_bad_token_gives_a_short_error() {
        for token in ["7".repeat(1_000_000), "\0".repeat(100_000)] {
            for text in [
                format!("client write {token}"),
                format!("{token} write 1"),
                format!("client write 1 => {token}"),
                format!("client write 1 => ok({token})"),
                format!("client sleep {token}"),
            ] {
                let e = error_of(&text);
                let head: String = e.message.chars().take(200).collect();
                assert!(e.message.len() < 300, "{} bytes: {head}", e.message.len());
                assert!(e.message.contains("bytes)"), "{e}");
            }
        }
    }

    #[test]
    fn bad_outcomes_are_errors() {
        let e = error_of("client write 1 => EPIPES");
        assert!(e.message.contains("unknown errno name"), "{e}");
        assert_eq!(e.column, 19);
        assert!(
            error_of("client write 1 => ok(0)")
                .message
                .contains("at least 1")
        );
        assert!(
            error_of("client write 1 =>")
                .message
                .contains("expected an outcome")
        );
        assert!(
            error_of("client write 1 => ok(1) ok")
                .message
                .contains("end of the step")
        );
        assert!(error_of("client write 1 ok(1)").message.contains("`=>`"));
        assert!(
            error_of("client close => ok(3)")
                .message
                .contains("can never end")
        );
        assert!(
            error_of("client write 2 => eof")
                .message
                .contains("can never end")
        );
        assert!(
            error_of("client write 2 => ok(3)")
                .message
                .contains("can never end")
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = error_of("client sleep 1µs; bob close");
        assert_eq!((e.line, e.column), (1, 19));
    }

    #[test]
    fn too_many_steps_is_an_error() {
        let text = "client read 1\n".repeat(MAX_STEPS + 1);
        let e = error_of(&text);
        assert_eq!(e.line, MAX_STEPS + 1);
        assert!(e.message.contains("more than"), "{e}");
    }
}
