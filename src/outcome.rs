//! What a syscall returned, in the words of the scenario language.
//!
//! An [`Outcome`] is `ok`, `ok(N)`, `eof`, an errno name such as `EPIPE`, or the events a `poll`
//! returned ([`PollEvents`], such as `IN|OUT|RDHUP`). Errors are kept as
//! [`Errno`] numbers, not `io::ErrorKind`s: `EPIPE` and `ECONNRESET` are exactly the distinction
//! this crate exists to explain, and `ErrorKind` would blur others (`ENOTCONN` and `EINVAL`).

use std::fmt;
use std::io;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Linux errno value with its symbolic name.
///
/// ```
/// use rstlab::Errno;
/// assert_eq!(Errno::EPIPE.to_string(), "EPIPE");
/// assert_eq!(Errno::from_name("ECONNRESET"), Some(Errno::ECONNRESET));
/// assert_eq!(Errno(libc::EPIPE), Errno::EPIPE);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! errno_table {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                pub const $name: Errno = Errno(libc::$name);
            )*

            /// Every errno this crate knows by name, in table order.
            pub const KNOWN: &'static [Errno] = &[$(Errno::$name),*];

            /// The symbolic name, or `None` for a number outside the table.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $(libc::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// Looks an errno up by its symbolic name (`"EPIPE"`).
            pub fn from_name(name: &str) -> Option<Errno> {
                match name {
                    $(stringify!($name) => Some(Errno::$name),)*
                    _ => None,
                }
            }
        }
    };
}

// The errors a TCP socket can plausibly return from read, write, shutdown or close. `EAGAIN` is
// listed and `EWOULDBLOCK` is not: on Linux they are the same number, and the table must map each
// number to one name.
errno_table!(
    EPIPE,
    ECONNRESET,
    EAGAIN,
    ENOTCONN,
    ECONNABORTED,
    ECONNREFUSED,
    ETIMEDOUT,
    EHOSTUNREACH,
    ENETUNREACH,
    EINVAL,
    EBADF,
    EINTR,
    ENOBUFS,
    ENOMEM,
    EMSGSIZE,
    ESHUTDOWN,
    EISCONN,
    EINPROGRESS,
    EALREADY,
    EADDRINUSE,
    EADDRNOTAVAIL,
    EOPNOTSUPP,
    EFAULT,
    EIO,
);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "errno{}", self.0),
        }
    }
}

impl Serialize for Errno {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The events `poll(2)` returned for one socket, among those the language names: `IN`, `PRI`,
/// `OUT`, `RDHUP`, `ERR` and `HUP` (`POLLIN`, `POLLPRI`, `POLLOUT`, `POLLRDHUP`, `POLLERR`,
/// `POLLHUP`). Printed joined by `|`, always in that order, or `none`; parsed in any order.
///
/// ```
/// use rstlab::outcome::PollEvents;
/// let e = PollEvents::IN | PollEvents::OUT | PollEvents::RDHUP;
/// assert_eq!(e.to_string(), "IN|OUT|RDHUP");
/// assert_eq!("RDHUP|IN|OUT".parse::<PollEvents>(), Ok(e));
/// assert_eq!(PollEvents::NONE.to_string(), "none");
/// assert!("IN|IN".parse::<PollEvents>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PollEvents(u8);

impl PollEvents {
    /// No event.
    pub const NONE: PollEvents = PollEvents(0);
    /// `POLLIN`: a read would not block (bytes, EOF or an error to report).
    pub const IN: PollEvents = PollEvents(1);
    /// `POLLPRI`: urgent data (never, in this language).
    pub const PRI: PollEvents = PollEvents(1 << 1);
    /// `POLLOUT`: a write would not block (which says nothing of whether it succeeds).
    pub const OUT: PollEvents = PollEvents(1 << 2);
    /// `POLLRDHUP`: the receiving direction is shut (the peer's FIN, or our `shutdown read`).
    pub const RDHUP: PollEvents = PollEvents(1 << 3);
    /// `POLLERR`: an error is pending (`SO_ERROR` would return it).
    pub const ERR: PollEvents = PollEvents(1 << 4);
    /// `POLLHUP`: both directions are shut, or the connection is closed.
    pub const HUP: PollEvents = PollEvents(1 << 5);

    /// Every event with its name, in printing order.
    pub const NAMED: [(PollEvents, &'static str); 6] = [
        (PollEvents::IN, "IN"),
        (PollEvents::PRI, "PRI"),
        (PollEvents::OUT, "OUT"),
        (PollEvents::RDHUP, "RDHUP"),
        (PollEvents::ERR, "ERR"),
        (PollEvents::HUP, "HUP"),
    ];

    /// Whether every event of `other` is in `self`.
    pub fn contains(self, other: PollEvents) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no event is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `self` without the events of `other`.
    pub fn without(self, other: PollEvents) -> PollEvents {
        PollEvents(self.0 & !other.0)
    }

    /// The events of a `poll(2)` `revents` field (other bits are left out).
    pub fn from_revents(revents: i16) -> PollEvents {
        let bits = i32::from(revents);
        [
            (libc::POLLIN, PollEvents::IN),
            (libc::POLLPRI, PollEvents::PRI),
            (libc::POLLOUT, PollEvents::OUT),
            (libc::POLLRDHUP, PollEvents::RDHUP),
            (libc::POLLERR, PollEvents::ERR),
            (libc::POLLHUP, PollEvents::HUP),
        ]
        .into_iter()
        .filter(|&(bit, _)| bits & i32::from(bit) != 0)
        .fold(PollEvents::NONE, |all, (_, e)| all | e)
    }
}

impl std::ops::BitOr for PollEvents {
    type Output = PollEvents;
    fn bitor(self, other: PollEvents) -> PollEvents {
        PollEvents(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for PollEvents {
    fn bitor_assign(&mut self, other: PollEvents) {
        self.0 |= other.0;
    }
}

impl fmt::Display for PollEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for (event, name) in PollEvents::NAMED {
            if self.contains(event) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Text that is not a set of poll events.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadEvents {
    /// A name that is not an event's.
    #[error("unknown poll event {0}: the events are IN, PRI, OUT, RDHUP, ERR and HUP")]
    Unknown(String),
    /// An event named twice.
    #[error("the poll event {0} is named twice")]
    Twice(&'static str),
}

impl std::str::FromStr for PollEvents {
    type Err = BadEvents;

    /// `none`, or event names joined by `|` (in any order, each once).
    fn from_str(text: &str) -> Result<PollEvents, BadEvents> {
        if text == "none" {
            return Ok(PollEvents::NONE);
        }
        let mut events = PollEvents::NONE;
        for word in text.split('|') {
            let Some(&(event, name)) = PollEvents::NAMED.iter().find(|(_, n)| *n == word) else {
                return Err(BadEvents::Unknown(crate::text::quote(word)));
            };
            if events.contains(event) {
                return Err(BadEvents::Twice(name));
            }
            events |= event;
        }
        Ok(events)
    }
}

/// The result of one step.
///
/// ```
/// use rstlab::{Errno, Outcome};
/// use rstlab::outcome::PollEvents;
/// assert_eq!(Outcome::Bytes(3).to_string(), "ok(3)");
/// assert_eq!(Outcome::Err(Errno::EPIPE).to_string(), "EPIPE");
/// assert_eq!(Outcome::Ready(PollEvents::OUT | PollEvents::HUP).to_string(), "OUT|HUP");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded and has no count (`close`, `abort`, `shutdown`, `sleep`); for `error`,
    /// no error was pending.
    Ok,
    /// A read or write moved this many bytes (never 0: a read of 0 is [`Outcome::Eof`]).
    Bytes(usize),
    /// A read returned 0: the end of the stream.
    Eof,
    /// The call failed with this errno; for `error` (`SO_ERROR`), the pending error it returned.
    Err(Errno),
    /// What `poll` returned: the events, possibly none.
    Ready(PollEvents),
    /// The API failed without an errno: for example tokio answering `WouldBlock` from its own
    /// readiness state without making the syscall. Never predicted; always a finding.
    NoErrno(String),
}

impl Outcome {
    /// The outcome of a read: `Ok(0)` is the end of the stream.
    pub fn of_read(result: io::Result<usize>) -> Outcome {
        match result {
            Ok(0) => Outcome::Eof,
            Ok(n) => Outcome::Bytes(n),
            Err(e) => Outcome::of_error(&e),
        }
    }

    /// The outcome of a write.
    pub fn of_write(result: io::Result<usize>) -> Outcome {
        match result {
            Ok(n) => Outcome::Bytes(n),
            Err(e) => Outcome::of_error(&e),
        }
    }

    /// The outcome of a call that returns nothing on success.
    pub fn of_unit(result: io::Result<()>) -> Outcome {
        match result {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::of_error(&e),
        }
    }

    /// The errno inside an `io::Error`, or a description when the error never came from the
    /// kernel.
    pub fn of_error(error: &io::Error) -> Outcome {
        match error.raw_os_error() {
            Some(code) => Outcome::Err(Errno(code)),
            None => Outcome::NoErrno(format!("{:?} ({error})", error.kind())),
        }
    }

    /// The outcome of `getsockopt(SO_ERROR)`: `ok` when nothing was pending, else the error
    /// it returned (and cleared). A failure of getsockopt itself is kept apart, as
    /// [`Outcome::NoErrno`], so that it can never pass for a pending error.
    pub fn of_so_error(result: io::Result<Option<io::Error>>) -> Outcome {
        match result {
            Ok(None) => Outcome::Ok,
            Ok(Some(pending)) => Outcome::of_error(&pending),
            Err(e) => Outcome::NoErrno(format!("getsockopt(SO_ERROR) failed: {e}")),
        }
    }

    /// The errno, if this outcome is an error.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Outcome::Err(e) => Some(*e),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Bytes(n) => write!(f, "ok({n})"),
            Outcome::Eof => f.write_str("eof"),
            Outcome::Err(e) => write!(f, "{e}"),
            Outcome::Ready(events) => write!(f, "{events}"),
            Outcome::NoErrno(what) => write!(f, "no-errno: {what}"),
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;

    /// An outcome as [`Display`](fmt::Display) prints it: `ok`, `ok(N)`, `eof`, an errno name
    /// (or `errnoN` for one outside the table), poll events, or `no-errno: …`. The scenario
    /// language reads the same words after `=>`, with messages that point into the line.
    ///
    /// ```
    /// use rstlab::{Errno, Outcome};
    /// for o in [Outcome::Ok, Outcome::Bytes(3), Outcome::Eof, Outcome::Err(Errno::EPIPE),
    ///           Outcome::Err(Errno(4095)), Outcome::NoErrno("WouldBlock".into())] {
    ///     assert_eq!(o.to_string().parse::<Outcome>(), Ok(o));
    /// }
    /// assert!("ok(x)".parse::<Outcome>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Outcome, String> {
        if let Some(what) = text.strip_prefix("no-errno: ") {
            return Ok(Outcome::NoErrno(what.to_string()));
        }
        match text {
            "ok" => return Ok(Outcome::Ok),
            "eof" => return Ok(Outcome::Eof),
            _ => {}
        }
        if let Some(n) = text
            .strip_prefix("ok(")
            .and_then(|t| t.strip_suffix(')'))
            .and_then(|n| n.parse::<usize>().ok())
        {
            return Ok(Outcome::Bytes(n));
        }
        if let Some(errno) = Errno::from_name(text) {
            return Ok(Outcome::Err(errno));
        }
        if let Some(code) = text.strip_prefix("errno").and_then(|n| n.parse().ok()) {
            return Ok(Outcome::Err(Errno(code)));
        }
        text.parse::<PollEvents>()
            .map(Outcome::Ready)
            .map_err(|_| format!("not an outcome: {}", crate::text::quote(text)))
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Outcome, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_errno_round_trips_through_its_name() {
        for &errno in Errno::KNOWN {
            let name = errno.name().expect("known errnos have names");
            assert_eq!(Errno::from_name(name), Some(errno));
        }
    }

    #[test]
    fn poll_events_print_in_one_order_and_parse_in_any() {
        let all = PollEvents::NAMED
            .iter()
            .fold(PollEvents::NONE, |a, &(e, _)| a | e);
        assert_eq!(all.to_string(), "IN|PRI|OUT|RDHUP|ERR|HUP");
        assert_eq!("HUP|ERR|RDHUP|OUT|PRI|IN".parse(), Ok(all));
        assert_eq!("none".parse(), Ok(PollEvents::NONE));
        assert!(matches!(
            "IN|".parse::<PollEvents>(),
            Err(BadEvents::Unknown(_))
        ));
        assert!(matches!(
            "OUT|POLLIN".parse::<PollEvents>(),
            Err(BadEvents::Unknown(_))
        ));
        assert_eq!(
            "OUT|OUT".parse::<PollEvents>(),
            Err(BadEvents::Twice("OUT"))
        );
    }

    #[test]
    fn revents_bits_map_to_their_names() {
        let revents = libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP | libc::POLLRDNORM;
        assert_eq!(
            PollEvents::from_revents(revents),
            PollEvents::IN | PollEvents::OUT | PollEvents::RDHUP
        );
        assert_eq!(
            PollEvents::from_revents(libc::POLLERR | libc::POLLHUP).to_string(),
            "ERR|HUP"
        );
    }

    #[test]
    fn so_error_is_ok_or_the_pending_errno() {
        assert_eq!(Outcome::of_so_error(Ok(None)), Outcome::Ok);
        let pending = io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(
            Outcome::of_so_error(Ok(Some(pending))),
            Outcome::Err(Errno::ECONNRESET)
        );
        let failed = io::Error::from_raw_os_error(libc::EBADF);
        assert!(matches!(
            Outcome::of_so_error(Err(failed)),
            Outcome::NoErrno(_)
        ));
    }

    #[test]
    fn a_read_of_zero_bytes_is_eof() {
        assert_eq!(Outcome::of_read(Ok(0)), Outcome::Eof);
        assert_eq!(Outcome::of_write(Ok(0)), Outcome::Bytes(0));
    }

    #[test]
    fn an_os_error_keeps_its_errno() {
        let e = io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(Outcome::of_error(&e), Outcome::Err(Errno::ECONNRESET));
        let synthetic = io::Error::from(io::ErrorKind::WouldBlock);
        assert!(matches!(Outcome::of_error(&synthetic), Outcome::NoErrno(_)));
    }
}
