//! Why the kernel sent an RST: its own reason, and the oracle's.
//!
//! From 6.10 on, Linux states a reason for every RST it sends: the tracepoint
//! `tcp/tcp_send_reset` carries `enum sk_rst_reason` (`include/net/rstreason.h`). From 6.12 the
//! resets a socket sends itself (close with unread data, an abort, a keepalive timeout) carry
//! theirs too; before, they said `NOT_SPECIFIED`. The numbers of the enum moved between releases,
//! so rstlab never keeps a table of numbers: it reads them from the event's `format` file
//! ([`ring`], [`log`]).
//!
//! [`RstReason`] is the set of reasons the oracle predicts, one row each in [`REASONS`] with the
//! kernel function that sends it. The oracle gives each RST it emits the reason of the kernel path
//! it follows (which depends on the state, never on the scenario), and [`crate::check`] compares
//! it with the reason the kernel stated, a second, independent witness of every RST.

pub mod log;
pub mod ring;

pub use log::ResetLog;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::scenario::End;

/// A reason the oracle gives for an RST: the names of `enum sk_rst_reason` without their
/// `SK_RST_REASON_` prefix, as the tracepoint prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RstReason {
    /// No socket for the segment's addresses.
    NoSocket,
    /// New data reached a socket that has shut down its reading side.
    TcpAbortOnData,
    /// A TIME_WAIT or FIN_WAIT2 mini-socket was sent data.
    TcpTimewaitSocket,
    /// `close()` with data the application never read.
    TcpAbortOnClose,
    /// An abort (`SO_LINGER` {on, 0}) of a synchronized connection.
    TcpState,
    /// An abort in CLOSING or LAST_ACK with data or a FIN not yet sent.
    TcpDisconnectWithData,
    /// A listening socket was sent a segment with an ACK: a segment for a connection the
    /// server no longer has, on the port it still listens on.
    TcpFlags,
    /// Keepalive's probes went unanswered: the timer resets the connection as it gives up.
    TcpKeepaliveTimeout,
}

/// One row of [`REASONS`].
#[derive(Clone, Copy, Debug)]
pub struct ReasonInfo {
    /// Which reason.
    pub reason: RstReason,
    /// The name the kernel prints (`reason=` in the tracepoint's text).
    pub name: &'static str,
    /// Where the kernel sends it.
    pub function: &'static str,
    /// When, in a sentence.
    pub what: &'static str,
}

/// Every reason the oracle predicts.
pub const REASONS: &[ReasonInfo] = &[
    ReasonInfo {
        reason: RstReason::NoSocket,
        name: "NO_SOCKET",
        function: "tcp_v4_rcv() → tcp_v4_send_reset()",
        what: "a segment for addresses no socket holds (the socket is closed, reset or was never there)",
    },
    ReasonInfo {
        reason: RstReason::TcpAbortOnData,
        name: "TCP_ABORT_ON_DATA",
        function: "tcp_rcv_state_process() → tcp_v4_send_reset()",
        what: "new data for a socket in FIN_WAIT1 or FIN_WAIT2 whose reading side is shut (close or shutdown both)",
    },
    ReasonInfo {
        reason: RstReason::TcpTimewaitSocket,
        name: "TCP_TIMEWAIT_SOCKET",
        function: "tcp_timewait_state_process() → tcp_v4_send_reset()",
        what: "new data for the FIN_WAIT2 mini-socket a closed socket became once its FIN was acknowledged",
    },
    ReasonInfo {
        reason: RstReason::TcpAbortOnClose,
        name: "TCP_ABORT_ON_CLOSE",
        function: "__tcp_close() → tcp_send_active_reset()",
        what: "close() with received data the application never read",
    },
    ReasonInfo {
        reason: RstReason::TcpState,
        name: "TCP_STATE",
        function: "tcp_disconnect() → tcp_send_active_reset()",
        what: "an abort (SO_LINGER {on, 0}) in ESTABLISHED, CLOSE_WAIT, FIN_WAIT1 or FIN_WAIT2 (tcp_need_reset())",
    },
    ReasonInfo {
        reason: RstReason::TcpDisconnectWithData,
        name: "TCP_DISCONNECT_WITH_DATA",
        function: "tcp_disconnect() → tcp_send_active_reset()",
        what: "an abort in CLOSING or LAST_ACK while data or the FIN is not yet sent",
    },
    ReasonInfo {
        reason: RstReason::TcpFlags,
        name: "TCP_FLAGS",
        function: "tcp_rcv_state_process() (LISTEN) → tcp_v4_send_reset()",
        what: "a segment with an ACK for a connection the server no longer has, met by its listening socket on the same port",
    },
    ReasonInfo {
        reason: RstReason::TcpKeepaliveTimeout,
        name: "TCP_KEEPALIVE_TIMEOUT",
        function: "tcp_keepalive_timer() → tcp_send_active_reset()",
        what: "keepalive's last probe went unanswered: the connection is reset as the timer gives up (ETIMEDOUT)",
    },
];

/// The reason the oracle gives an RST, and the other one the kernel may give where a timer
/// races with the scenario's next step (the 40 ms delayed ACK of a FIN on loopback).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Expected {
    /// The reason.
    pub reason: RstReason,
    /// The other reason the kernel may state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub or: Option<RstReason>,
    /// An active reset (an abort, a close with unread data) of a socket whose FIN the peer
    /// may still owe a delayed ACK (loopback, 40 ms): the kernel takes the socket out of its
    /// lookup table (`tcp_set_state(TCP_CLOSE)`) before `tcp_send_active_reset()` sends the
    /// RST, and a process can be preempted in between; the peer's ACK can then meet no socket
    /// and draw an RST from this end with `NO_SOCKET`, just before this one or, when the RST
    /// waits in a softirq queue, just after it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crossed: bool,
}

impl Expected {
    /// Whether the kernel's `name` is this reason (or its alternative).
    pub fn admits(self, name: &str) -> bool {
        self.reason.name() == name || self.or.is_some_and(|o| o.name() == name)
    }
}

impl From<RstReason> for Expected {
    fn from(reason: RstReason) -> Expected {
        Expected {
            reason,
            or: None,
            crossed: false,
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.or {
            Some(or) => write!(f, "{} or {or}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl RstReason {
    /// Its row in [`REASONS`].
    pub fn info(self) -> &'static ReasonInfo {
        REASONS
            .iter()
            .find(|r| r.reason == self)
            .expect("every reason has its row in REASONS")
    }

    /// The name the kernel prints.
    pub fn name(self) -> &'static str {
        self.info().name
    }
}

impl fmt::Display for RstReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An RST the kernel sent on a scenario's connection, and the reason it stated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatedReset {
    /// Whose kernel sent it.
    pub from: End,
    /// The reason, as the kernel names it (`TCP_ABORT_ON_CLOSE`); any name, also one the
    /// oracle does not know.
    pub reason: String,
    /// The sending socket's state as the tracepoint shows it (`TCP_CLOSE`; `UNKNOWN` where no
    /// socket sent it).
    pub state: String,
}

impl fmt::Display for StatedReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an RST from the {} ({})", self.from, self.reason)
    }
}

/// The kernel's reasons for a run's RSTs, or why there are none to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resets {
    /// Every RST the kernel sent on the connection during the steps, in the order sent.
    Stated(Vec<StatedReset>),
    /// Not recorded.
    Missing(Missing),
}

impl Resets {
    /// The stated resets, if they were recorded.
    pub fn stated(&self) -> Option<&[StatedReset]> {
        match self {
            Resets::Stated(r) => Some(r),
            Resets::Missing(_) => None,
        }
    }

    /// Why they are missing, in words (`None`: they were recorded): the reports' and the
    /// JSON's `reasons_missing`.
    pub fn missing(&self) -> Option<String> {
        match self {
            Resets::Stated(_) => None,
            Resets::Missing(m) => Some(m.to_string()),
        }
    }
}

/// Why a run has no reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// The runner was asked not to record them.
    #[error("not asked for")]
    Off,
    /// tracefs is not there and could not be mounted, or rstlab may not use it.
    #[error("tracefs is not available ({0}); run as root to see the kernel's reasons")]
    NoTracefs(String),
    /// The kernel refused to record the event (`perf_event_open`).
    #[error(
        "the kernel does not let rstlab record tcp/tcp_send_reset ({0}); run as root to see the kernel's reasons"
    )]
    NoPerf(String),
    /// The kernel has no `tcp/tcp_send_reset` event.
    #[error("this kernel has no tcp/tcp_send_reset trace event")]
    NoEvent,
    /// The event has no `reason` field: a kernel before 6.10.
    #[error("this kernel's tcp/tcp_send_reset event has no reason (Linux states one from 6.10)")]
    NoReasonField,
    /// Before 6.12 an RST a socket sends itself says `NOT_SPECIFIED`: the reasons are shown,
    /// not checked.
    #[error(
        "before 6.12 the kernel states no reason for the resets a socket sends itself (close, abort)"
    )]
    Incomplete(Vec<StatedReset>),
    /// The trace buffer overflowed: some events were lost.
    #[error("the kernel lost {0} trace events before rstlab read them")]
    Lost(u64),
    /// Reading the trace failed.
    #[error("reading the trace: {0}")]
    Read(String),
    /// No prediction of reasons for this run: the scenario did not run to its end.
    #[error("the run did not settle")]
    Unsettled,
}
