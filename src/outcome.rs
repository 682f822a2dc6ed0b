//! What a syscall returned, in the words of the scenario language.
//!
//! An [`Outcome`] is `ok`, `ok(N)`, `eof`, or an errno name such as `EPIPE`. Errors are kept as
//! [`Errno`] numbers, not `io::ErrorKind`s: `EPIPE` and `ECONNRESET` are exactly the distinction
//! this crate exists to explain, and `ErrorKind` would blur others (`ENOTCONN` and `EINVAL`).

use std::fmt;
use std::io;

use serde::{Serialize, Serializer};

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

/// The result of one step.
///
/// ```
/// use rstlab::{Errno, Outcome};
/// assert_eq!(Outcome::Bytes(3).to_string(), "ok(3)");
/// assert_eq!(Outcome::Err(Errno::EPIPE).to_string(), "EPIPE");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded and has no count (`close`, `abort`, `shutdown`, `sleep`).
    Ok,
    /// A read or write moved this many bytes (never 0: a read of 0 is [`Outcome::Eof`]).
    Bytes(usize),
    /// A read returned 0: the end of the stream.
    Eof,
    /// The call failed with this errno.
    Err(Errno),
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
            Outcome::NoErrno(what) => write!(f, "no-errno: {what}"),
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
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
