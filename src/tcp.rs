//! TCP connection states, numbered as Linux numbers them (`include/net/tcp_states.h`).
//!
//! `libc` has no names for these numbers; `TCP_INFO`'s `tcpi_state` and sock_diag's
//! `idiag_state` report them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A TCP state, as `TCP_INFO` reports it.
///
/// ```
/// use rstlab::TcpState;
/// assert_eq!(TcpState::from_linux(8), Some(TcpState::CloseWait));
/// assert_eq!(TcpState::CloseWait.to_string(), "CLOSE_WAIT");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// 1: data flows both ways.
    Established = 1,
    /// 2: SYN sent, no answer yet.
    SynSent = 2,
    /// 3: SYN received and answered.
    SynRecv = 3,
    /// 4: our FIN is sent, not yet acknowledged.
    FinWait1 = 4,
    /// 5: our FIN is acknowledged; the peer may still send.
    FinWait2 = 5,
    /// 6: both FINs done, waiting out old segments.
    TimeWait = 6,
    /// 7: no connection (reset, or both FINs done on an open socket).
    Close = 7,
    /// 8: the peer's FIN arrived; we may still send.
    CloseWait = 8,
    /// 9: our FIN after the peer's, not yet acknowledged.
    LastAck = 9,
    /// 10: a listening socket.
    Listen = 10,
    /// 11: both FINs crossed.
    Closing = 11,
}

impl TcpState {
    /// The state for Linux's number, or `None` for a number Linux does not use.
    pub fn from_linux(n: u8) -> Option<TcpState> {
        use TcpState::*;
        Some(match n {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            _ => return None,
        })
    }

    /// The kernel's name, as `ss` prints it.
    pub fn name(self) -> &'static str {
        use TcpState::*;
        match self {
            Established => "ESTABLISHED",
            SynSent => "SYN_SENT",
            SynRecv => "SYN_RECV",
            FinWait1 => "FIN_WAIT1",
            FinWait2 => "FIN_WAIT2",
            TimeWait => "TIME_WAIT",
            Close => "CLOSE",
            CloseWait => "CLOSE_WAIT",
            LastAck => "LAST_ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for TcpState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TcpState {
    /// A state by its kernel name (`"CLOSE_WAIT"`), as [`TcpState::name`] gives it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TcpState, D::Error> {
        let name = String::deserialize(deserializer)?;
        (1..=11)
            .filter_map(TcpState::from_linux)
            .find(|s| s.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("not a TCP state: {name}")))
    }
}
