//! The ops of the language: one table ([`OpKind`]) of what each op is, takes and can end as.

use super::*;

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
    /// `link cut`: every segment in flight or held right now is lost, and so is every segment
    /// sent until `link restore`, both ways (a partition, or a host that vanished). A cut
    /// while cut changes nothing.
    Cut,
    /// `link restore`: ends a cut; segments sent from now on cross again under the current
    /// delay (or are held, if a `link hold` is still in force). Without a cut, nothing changes.
    Restore,
}

/// A socket option of the `set` step: one of the kernel's timers that end a connection whose
/// peer fell silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    /// `set user-timeout D`: `TCP_USER_TIMEOUT`, in whole milliseconds (0 turns it off): how
    /// long data may stay unacknowledged, or unsent behind a closed window, before the kernel
    /// gives up with `ETIMEDOUT`.
    UserTimeout(Duration),
    /// `set keepalive IDLE INTERVAL COUNT`: `SO_KEEPALIVE` on, with `TCP_KEEPIDLE`,
    /// `TCP_KEEPINTVL` and `TCP_KEEPCNT` (whole seconds, 1 to 32,767; COUNT 1 to 127): after
    /// IDLE without a segment received, a probe every INTERVAL, and `ETIMEDOUT` after COUNT
    /// unanswered.
    Keepalive {
        /// `TCP_KEEPIDLE`.
        idle: Duration,
        /// `TCP_KEEPINTVL`.
        interval: Duration,
        /// `TCP_KEEPCNT`.
        count: u32,
    },
}

impl Setting {
    /// The option's word after `set`.
    pub fn name(self) -> &'static str {
        match self {
            Setting::UserTimeout(_) => "user-timeout",
            Setting::Keepalive { .. } => "keepalive",
        }
    }

    /// Every option's word, for messages.
    pub const NAMES: [&'static str; 2] = ["user-timeout", "keepalive"];

    /// Whether the values are what the kernel takes (`do_tcp_setsockopt`: whole milliseconds
    /// up to `INT_MAX` for the user timeout; whole seconds from 1 to `MAX_TCP_KEEPIDLE`,
    /// `MAX_TCP_KEEPINTVL` (32,767) and a count from 1 to `MAX_TCP_KEEPCNT` (127) for
    /// keepalive).
    pub fn check(self) -> Result<(), Invalid> {
        let whole_seconds = |d: Duration| {
            d.subsec_nanos() == 0 && (1..=MAX_KEEPALIVE_SECONDS).contains(&d.as_secs())
        };
        match self {
            Setting::UserTimeout(d)
                if d.subsec_nanos() % 1_000_000 != 0 || d.as_millis() > i32::MAX as u128 =>
            {
                Err(Invalid::Setting(format!(
                    "user-timeout takes whole milliseconds up to {}ms, not {}",
                    i32::MAX,
                    DisplayDuration(d)
                )))
            }
            Setting::Keepalive {
                idle,
                interval,
                count,
            } => {
                for (what, d) in [("IDLE", idle), ("INTERVAL", interval)] {
                    if !whole_seconds(d) {
                        return Err(Invalid::Setting(format!(
                            "keepalive's {what} takes whole seconds from 1s to \
                             {MAX_KEEPALIVE_SECONDS}s, not {}",
                            DisplayDuration(d)
                        )));
                    }
                }
                if !(1..=MAX_KEEPALIVE_COUNT).contains(&count) {
                    return Err(Invalid::Setting(format!(
                        "keepalive's COUNT goes from 1 to {MAX_KEEPALIVE_COUNT}, not {count}"
                    )));
                }
                Ok(())
            }
            Setting::UserTimeout(_) => Ok(()),
        }
    }
}

/// `MAX_TCP_KEEPIDLE` and `MAX_TCP_KEEPINTVL` (`include/net/tcp.h`), in seconds.
pub const MAX_KEEPALIVE_SECONDS: u64 = 32_767;
/// `MAX_TCP_KEEPCNT`.
pub const MAX_KEEPALIVE_COUNT: u32 = 127;

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Setting::UserTimeout(d) => write!(f, "user-timeout {}", DisplayDuration(d)),
            Setting::Keepalive {
                idle,
                interval,
                count,
            } => write!(
                f,
                "keepalive {} {} {count}",
                DisplayDuration(idle),
                DisplayDuration(interval)
            ),
        }
    }
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
    /// `reboot`: the end's host restarts and comes back without its sockets: the socket is gone
    /// without a word on the wire (a host that crashed, or a server restarted on the same
    /// address). rstlab closes it in repair mode (`TCP_REPAIR`), which needs `CAP_NET_ADMIN`.
    Reboot,
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
    /// `set user-timeout D` or `set keepalive IDLE INTERVAL COUNT`: setsockopt(2) of one of
    /// the kernel's timers ([`Setting`]).
    Set(Setting),
    /// A step of the `link` actor.
    Link(LinkOp),
}

/// Who may perform an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Performer {
    /// `client` or `server`, on its own socket: never after its own `close`, `abort` or `reboot`.
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
    /// A socket option and its values ([`Setting`]).
    Setting,
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
    /// A socket option.
    Setting(Setting),
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::None => Ok(()),
            Arg::Count(n) => write!(f, "{n}"),
            Arg::How(how) => f.write_str(how.as_str()),
            Arg::Duration(d) => write!(f, "{}", DisplayDuration(*d)),
            Arg::Setting(s) => write!(f, "{s}"),
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
    /// `reboot`. Never drawn at random (weight 0): no random case and no committed fuzz input
    /// changes with it.
    Reboot = "reboot" { by: Socket, param: Param::None, ends_as: Ends::Ok, ends_socket: true, weight: 0, }
    /// `set user-timeout D`, `set keepalive IDLE INTERVAL COUNT`. Never drawn at random (weight
    /// 0), nor in the fuzz encoding's op codes: no random case and no committed fuzz input
    /// changes with it.
    Set = "set" { by: Socket, param: Param::Setting, ends_as: Ends::OkOrErrno, ends_socket: false, weight: 0, }
    /// `link delay D`.
    Delay = "delay" { by: Link, param: Param::Duration(MAX_DELAY), ends_as: Ends::Ok, ends_socket: false, weight: 1, }
    /// `link hold`.
    Hold = "hold" { by: Link, param: Param::None, ends_as: Ends::Ok, ends_socket: false, weight: 1, }
    /// `link release`.
    Release = "release" { by: Link, param: Param::None, ends_as: Ends::Ok, ends_socket: false, weight: 1, }
    /// `link drop`.
    Drop = "drop" { by: Link, param: Param::None, ends_as: Ends::Ok, ends_socket: false, weight: 1, }
    /// `link cut`. Never drawn at random (weight 0), nor in the fuzz encoding's op codes: no
    /// random case and no committed fuzz input changes with it.
    Cut = "cut" { by: Link, param: Param::None, ends_as: Ends::Ok, ends_socket: false, weight: 0, }
    /// `link restore`. Weight 0, as `link cut`.
    Restore = "restore" { by: Link, param: Param::None, ends_as: Ends::Ok, ends_socket: false, weight: 0, }
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
            (OpKind::Reboot, Arg::None) => Op::Reboot,
            (OpKind::Shutdown, Arg::How(how)) => Op::Shutdown(how),
            (OpKind::Sleep, Arg::Duration(d)) => Op::Sleep(d),
            (OpKind::Poll, Arg::None) => Op::Poll,
            (OpKind::Error, Arg::None) => Op::Error,
            (OpKind::Set, Arg::Setting(setting)) => Op::Set(setting),
            (OpKind::Delay, Arg::Duration(d)) => Op::Link(LinkOp::Delay(d)),
            (OpKind::Hold, Arg::None) => Op::Link(LinkOp::Hold),
            (OpKind::Release, Arg::None) => Op::Link(LinkOp::Release),
            (OpKind::Drop, Arg::None) => Op::Link(LinkOp::Drop),
            (OpKind::Cut, Arg::None) => Op::Link(LinkOp::Cut),
            (OpKind::Restore, Arg::None) => Op::Link(LinkOp::Restore),
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
            Op::Reboot => OpKind::Reboot,
            Op::Shutdown(_) => OpKind::Shutdown,
            Op::Sleep(_) => OpKind::Sleep,
            Op::Poll => OpKind::Poll,
            Op::Error => OpKind::Error,
            Op::Set(_) => OpKind::Set,
            Op::Link(LinkOp::Delay(_)) => OpKind::Delay,
            Op::Link(LinkOp::Hold) => OpKind::Hold,
            Op::Link(LinkOp::Release) => OpKind::Release,
            Op::Link(LinkOp::Drop) => OpKind::Drop,
            Op::Link(LinkOp::Cut) => OpKind::Cut,
            Op::Link(LinkOp::Restore) => OpKind::Restore,
        }
    }

    /// Its argument.
    pub fn arg(&self) -> Arg {
        match self {
            Op::Write(n) | Op::Read(n) => Arg::Count(*n),
            Op::Shutdown(how) => Arg::How(*how),
            Op::Sleep(d) | Op::Link(LinkOp::Delay(d)) => Arg::Duration(*d),
            Op::Set(setting) => Arg::Setting(*setting),
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
            Op::Set(setting) => setting.check(),
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
        if us != 0 && us % 3_600_000_000 == 0 {
            write!(f, "{}h", us / 3_600_000_000)
        } else if us != 0 && us % 60_000_000 == 0 {
            write!(f, "{}m", us / 60_000_000)
        } else if us != 0 && us % 1_000_000 == 0 {
            write!(f, "{}s", us / 1_000_000)
        } else if us != 0 && us % 1_000 == 0 {
            write!(f, "{}ms", us / 1_000)
        } else {
            write!(f, "{us}us")
        }
    }
}
