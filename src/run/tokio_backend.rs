//! The tokio backend: `tokio::net::TcpStream` for both ends on a current-thread runtime.
//!
//! Reads and writes use `try_read`/`try_write`, which never wait, so the schedule is the same as
//! the std backend's; each op runs in its own `block_on`. tokio answers from its own readiness
//! state before making a syscall: after each step has settled, the runtime yields once so that
//! the reactor polls epoll and tokio's readiness has every event the kernel reported. tokio's
//! `WouldBlock` carries no errno (made up from its readiness state, or put in place of the
//! syscall's EAGAIN); it is recorded as EAGAIN with a note in the trace; anything else tokio reports differently from the
//! kernel is recorded as it is, and `check` reports it as a disagreement.
//!
//! `poll` asks `TcpStream::ready(Interest::READABLE | Interest::WRITABLE | Interest::ERROR)`,
//! polled once (a readiness that is not there is `none`, never a wait), and names what it
//! returns: readable `IN`, priority `PRI`, writable `OUT`, read-closed `RDHUP`, error `ERR`,
//! write-closed `HUP`. That answer comes from tokio's cache of epoll's edges, not from the
//! socket; where it differs from poll(2) on the same socket, the trace's note says what poll(2)
//! returned, and the oracle predicts tokio's answer by its own rules
//! (`tokio-readable-until-would-block`, `tokio-error-readiness-stays`). `error` is
//! `TcpStream::take_error()`, which is getsockopt(SO_ERROR).
//!
//! tokio has no API for `shutdown(SHUT_RD)` or SO_LINGER 0 (its `set_linger` is deprecated):
//! those go through socket2 on the same socket. `shutdown write` uses tokio's
//! `AsyncWriteExt::shutdown`, and `close` is a drop, as a tokio user would write it: tokio offers
//! no way to see close(2)'s result, so it is recorded as `ok`.

use std::net::TcpStream as StdStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use socket2::SockRef;
use tokio::io::{AsyncWriteExt, Interest, Ready};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use super::{Api, RunError, end_all, io_err};
use crate::outcome::{Outcome, PollEvents};
use crate::scenario::{End, How, Op};
use crate::tcp::TcpState;

/// Both ends on `runtime`, `None` once closed.
pub(super) struct TokioApi<'r> {
    runtime: &'r Runtime,
    ends: [Option<TcpStream>; 2],
}

impl<'r> TokioApi<'r> {
    pub(super) fn new(runtime: &'r Runtime, sockets: [StdStream; 2]) -> Result<Self, RunError> {
        let _context = runtime.enter();
        let mut ends = [None, None];
        for (end, socket) in ends.iter_mut().zip(sockets) {
            *end = Some(TcpStream::from_std(socket).map_err(io_err("registering with tokio"))?);
        }
        Ok(TokioApi { runtime, ends })
    }
}

impl Api for TokioApi<'_> {
    fn perform(&mut self, actor: End, op: &Op, buffer: &mut [u8]) -> (Outcome, Option<String>) {
        let end = &mut self.ends[actor.index()];
        self.runtime.block_on(perform(end, op, buffer))
    }

    fn fds(&self) -> [Option<BorrowedFd<'_>>; 2] {
        self.ends.each_ref().map(|e| e.as_ref().map(AsFd::as_fd))
    }

    fn settled(&mut self) {
        self.runtime.block_on(tokio::task::yield_now());
    }

    fn end_all(&mut self) -> bool {
        let _context = self.runtime.enter();
        end_all(&mut self.ends)
    }
}

/// What tokio said of a `try_read`/`try_write`, with a note when tokio answered `WouldBlock`.
///
/// tokio's `try_*` first consult the readiness the reactor last saw; when it says "not ready",
/// they return `WouldBlock` with no errno and make no syscall; when the syscall meets EAGAIN
/// they clear that readiness and return the same errno-less `WouldBlock`
/// (`Registration::try_io()`). That is the API's EAGAIN, and it
/// is recorded as EAGAIN, with a note: if the kernel had bytes (or an error) to give, the oracle
/// predicted that instead, and the check reports the difference.
fn tokio_io(result: std::io::Result<usize>, read: bool) -> (Outcome, Option<String>) {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && e.raw_os_error().is_none() => (
            Outcome::Err(crate::Errno::EAGAIN),
            Some(
                "tokio's WouldBlock carries no errno: it answers from its readiness cache, and \
                 replaces the syscall's EAGAIN with its own"
                    .into(),
            ),
        ),
        other if read => (Outcome::of_read(other), None),
        other => (Outcome::of_write(other), None),
    }
}

async fn perform(
    end: &mut Option<TcpStream>,
    op: &Op,
    buffer: &mut [u8],
) -> (Outcome, Option<String>) {
    let Some(stream) = end else {
        return (
            Outcome::NoErrno("the socket is already closed".to_string()),
            None,
        );
    };
    let outcome = match op {
        Op::Write(n) => return tokio_io(stream.try_write(&buffer[..*n]), false),
        Op::Read(n) => return tokio_io(stream.try_read(&mut buffer[..*n]), true),
        Op::Shutdown(How::Write) => {
            // tokio turns ENOTCONN into Ok; say so when the kernel shows why it would have.
            let closed = crate::sys::tcp_info(&*stream).is_ok_and(|i| i.state == TcpState::Close);
            let outcome = Outcome::of_unit(stream.shutdown().await);
            let note = (closed && outcome == Outcome::Ok).then(|| {
                "the socket was in CLOSE, where shutdown(2) fails with ENOTCONN; tokio returned Ok"
                    .to_string()
            });
            return (outcome, note);
        }
        Op::Shutdown(how) => Outcome::of_unit(SockRef::from(&*stream).shutdown(how.to_std())),
        Op::Poll => return ready(stream).await,
        Op::Error => Outcome::of_so_error(stream.take_error()),
        Op::Set(setting) => super::set(SockRef::from(&*stream), *setting),
        Op::Close => {
            drop(end.take());
            Outcome::Ok
        }
        Op::Reboot => match crate::sys::set_tcp_repair(&*stream) {
            Err(e) => super::reboot_refused(&e),
            Ok(()) => {
                drop(end.take());
                Outcome::Ok
            }
        },
        Op::Abort => match SockRef::from(&*stream).set_linger(Some(Duration::ZERO)) {
            Err(e) => Outcome::of_error(&e),
            Ok(()) => {
                drop(end.take());
                Outcome::Ok
            }
        },
        Op::Sleep(_) | Op::Link(_) => unreachable!("the network performs `{op}`"),
    };
    (outcome, None)
}

/// tokio's readiness for `stream`, asked once: the future is polled a single time, so that
/// readiness tokio does not have is `none` rather than a wait. With a note giving poll(2)'s
/// answer on the same socket when it differs.
async fn ready(stream: &TcpStream) -> (Outcome, Option<String>) {
    let interest = Interest::READABLE | Interest::WRITABLE | Interest::ERROR;
    let mut future = std::pin::pin!(stream.ready(interest));
    let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx))).await;
    let outcome = match polled {
        std::task::Poll::Pending => Outcome::Ready(PollEvents::NONE),
        std::task::Poll::Ready(Ok(ready)) => Outcome::Ready(events_of(ready)),
        std::task::Poll::Ready(Err(e)) => Outcome::of_error(&e),
    };
    let kernel = super::std_backend::poll(stream);
    let note = (kernel != outcome).then(|| format!("poll(2) on the same socket returns {kernel}"));
    (outcome, note)
}

/// tokio's `Ready`, in the language's names.
fn events_of(ready: Ready) -> PollEvents {
    [
        (ready.is_readable(), PollEvents::IN),
        (ready.is_priority(), PollEvents::PRI),
        (ready.is_writable(), PollEvents::OUT),
        (ready.is_read_closed(), PollEvents::RDHUP),
        (ready.is_error(), PollEvents::ERR),
        (ready.is_write_closed(), PollEvents::HUP),
    ]
    .into_iter()
    .filter(|&(set, _)| set)
    .fold(PollEvents::NONE, |all, (_, e)| all | e)
}
