//! Standard output for every command: a writer whose errors are reported, never a panic.
//!
//! `println!` panics when standard output is a pipe whose reader has gone (`rstlab … | head`).
//! Every command writes through [`stdout`] instead and passes its errors up; [`is_closed`] tells
//! [`super::main`] that the error was only that, and it ends the command quietly, as ripgrep
//! does: status 0, nothing on standard error. An EPIPE of a socket rstlab drives is something
//! else and is never taken for it: only this writer marks its errors.

use std::fmt;
use std::io::{self, Write};

/// Standard output, its errors reported to the caller; a closed pipe is marked as such.
pub struct Stdout(io::StdoutLock<'static>);

/// Standard output for a command (see the module's documentation).
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

/// The mark on a write error that means only "the reader of standard output has gone".
#[derive(Debug)]
struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for Closed {}

/// The mark on any other write error of standard output: the error message then says which file
/// failed ("No space left on device" alone does not, when the output goes to a full disk).
#[derive(Debug)]
struct Failed(io::Error);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Failed {}

fn mark(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, Closed)
    } else {
        io::Error::new(e.kind(), Failed(e))
    }
}

/// The cause, when `error` comes from a failed write to standard output (other than a closed
/// pipe): [`super::main`] says it was standard output, once, whatever context the command added.
pub fn write_failure(error: &anyhow::Error) -> Option<&io::Error> {
    error.chain().find_map(|cause| {
        let inner = cause.downcast_ref::<io::Error>()?.get_ref()?;
        inner.downcast_ref::<Failed>().map(|f| &f.0)
    })
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(mark)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(mark)
    }
}

/// Whether `error` comes from a write to a standard output whose reader has gone.
pub fn is_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<Closed>()
            || cause
                .downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
                .is_some_and(|inner| inner.is::<Closed>())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn only_a_marked_broken_pipe_is_a_closed_output() {
        let marked = anyhow::Error::from(mark(io::Error::from(io::ErrorKind::BrokenPipe)));
        assert!(is_closed(&marked));
        assert!(is_closed(&marked.context("writing the report")));
        let socket = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(!is_closed(&socket), "a socket's EPIPE is an error");
        let full = anyhow::Error::from(mark(io::Error::from(io::ErrorKind::StorageFull)));
        assert!(!is_closed(&full));
        assert_eq!(
            write_failure(&full.context("x")).map(io::Error::kind),
            Some(io::ErrorKind::StorageFull)
        );
        let closed = anyhow::Error::from(mark(io::Error::from(io::ErrorKind::BrokenPipe)));
        assert!(write_failure(&closed).is_none());
        assert!(write_failure(&socket).is_none());
        let wrapped: anyhow::Result<()> =
            Err(mark(io::Error::from(io::ErrorKind::BrokenPipe))).context("x");
        assert!(is_closed(&wrapped.unwrap_err()));
    }
}
