//! The std backend: `std::net::TcpStream`, both ends in this thread, every call non-blocking.
//!
//! `TcpStream::write` sends with `MSG_NOSIGNAL`, so a write that fails with EPIPE raises no
//! SIGPIPE; `close` goes through `close(2)` directly so its result is seen. `poll` is poll(2)
//! with a zero timeout, `error` socket2's `take_error()` (getsockopt(SO_ERROR)).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use socket2::SockRef;

use super::{Api, end_all};
use crate::outcome::{Outcome, PollEvents};
use crate::scenario::{End, Op};
use crate::sys;

/// Both ends, `None` once closed.
pub(super) struct StdApi {
    ends: [Option<TcpStream>; 2],
}

impl StdApi {
    pub(super) fn new(sockets: [TcpStream; 2]) -> StdApi {
        StdApi {
            ends: sockets.map(Some),
        }
    }
}

impl Api for StdApi {
    fn perform(&mut self, actor: End, op: &Op, buffer: &mut [u8]) -> (Outcome, Option<String>) {
        let end = &mut self.ends[actor.index()];
        let Some(stream) = end else {
            // Scenario::new forbids this; say so rather than panic if it ever happens.
            return (
                Outcome::NoErrno("the socket is already closed".to_string()),
                None,
            );
        };
        let outcome = match op {
            Op::Write(n) => Outcome::of_write(stream.write(&buffer[..*n])),
            Op::Read(n) => Outcome::of_read(stream.read(&mut buffer[..*n])),
            Op::Shutdown(how) => Outcome::of_unit(stream.shutdown(how.to_std())),
            Op::Poll => poll(&*stream),
            Op::Error => Outcome::of_so_error(SockRef::from(&*stream).take_error()),
            Op::Set(setting) => super::set(SockRef::from(&*stream), *setting),
            Op::Close | Op::Abort => {
                if *op == Op::Abort
                    && let Err(e) = SockRef::from(&*stream).set_linger(Some(Duration::ZERO))
                {
                    return (Outcome::of_error(&e), None);
                }
                let stream = end.take().expect("checked above");
                Outcome::of_unit(sys::close(OwnedFd::from(stream)))
            }
            Op::Reboot => {
                if let Err(e) = sys::set_tcp_repair(&*stream) {
                    return (super::reboot_refused(&e), None);
                }
                // In repair mode close(2) sends nothing and cannot fail for a TCP socket.
                let stream = end.take().expect("checked above");
                Outcome::of_unit(sys::close(OwnedFd::from(stream)))
            }
            Op::Sleep(_) | Op::Link(_) => unreachable!("the network performs `{op}`"),
        };
        (outcome, None)
    }

    fn fds(&self) -> [Option<BorrowedFd<'_>>; 2] {
        self.ends.each_ref().map(|e| e.as_ref().map(AsFd::as_fd))
    }

    fn end_all(&mut self) -> bool {
        end_all(&mut self.ends)
    }
}

/// The events poll(2) returns at once (timeout 0) for `socket`, asked for `POLLIN | POLLPRI |
/// POLLOUT | POLLRDHUP` (`POLLERR` and `POLLHUP` always come).
pub(super) fn poll(socket: &impl AsFd) -> Outcome {
    use sys::PollFlags;
    let events = PollFlags::IN | PollFlags::PRI | PollFlags::OUT | PollFlags::RDHUP;
    let mut fds = [sys::PollFd::new(socket, events)];
    match sys::poll(&mut fds, 0) {
        // The kernel's bits, as poll(2) returns them in a `short`.
        Ok(_) => Outcome::Ready(PollEvents::from_revents(fds[0].revents().bits() as i16)),
        Err(e) => Outcome::of_error(&e),
    }
}
