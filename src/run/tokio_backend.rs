//! The tokio backend: `tokio::net::TcpStream` for both ends on a current-thread runtime.
//!
//! Reads and writes use `try_read`/`try_write`, which never wait, so the schedule is the same as
//! the std backend's. tokio answers from its own readiness state before making a syscall: after
//! each step has settled, the task yields once so that the reactor polls epoll and tokio's
//! readiness matches the kernel. Whatever tokio still reports differently (a `WouldBlock` with no
//! errno, say) is recorded as it is, and `check` reports it as a disagreement.
//!
//! tokio has no API for `shutdown(SHUT_RD)` or SO_LINGER 0 (its `set_linger` is deprecated):
//! those go through socket2 on the same socket. `shutdown write` uses tokio's
//! `AsyncWriteExt::shutdown`, and `close` is a drop, as a tokio user would write it: tokio offers
//! no way to see close(2)'s result, so it is recorded as `ok`.

use std::net::TcpStream as StdStream;
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::SockRef;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{ObservedStep, RunError, Settler, Trace, abort_all, io_err};
use crate::outcome::Outcome;
use crate::scenario::{How, Op, Scenario};

pub(super) fn run(
    runtime: &tokio::runtime::Runtime,
    scenario: &Scenario,
    sockets: [StdStream; 2],
    settler: &mut Settler,
    buffer: &mut [u8],
    trace: &mut Trace,
) -> Result<(), RunError> {
    runtime.block_on(async {
        let mut ends = [None, None];
        for (end, socket) in ends.iter_mut().zip(sockets) {
            *end = Some(TcpStream::from_std(socket).map_err(io_err("registering with tokio"))?);
        }
        // Let the reactor see the sockets' initial readiness.
        tokio::task::yield_now().await;
        for step in scenario.steps() {
            let end = &mut ends[step.actor.index()];
            let outcome = perform(end, &step.op, buffer).await;
            let settled = settler.settle(ends.each_ref().map(|e| e.as_ref().map(AsFd::as_fd)));
            tokio::task::yield_now().await;
            let note = match &outcome {
                Outcome::NoErrno(_) => {
                    Some("tokio answered from its readiness state, without a syscall".to_string())
                }
                _ => None,
            };
            match settled {
                Ok(states) => trace.steps.push(ObservedStep {
                    outcome,
                    states,
                    note,
                }),
                Err(timeout) => {
                    trace.steps.push(ObservedStep {
                        outcome,
                        states: [None, None],
                        note,
                    });
                    trace.timeout = Some(timeout);
                    break;
                }
            }
        }
        abort_all(ends);
        Ok(())
    })
}

async fn perform(end: &mut Option<TcpStream>, op: &Op, buffer: &mut [u8]) -> Outcome {
    if let Op::Sleep(d) = op {
        tokio::time::sleep(*d).await;
        return Outcome::Ok;
    }
    let Some(stream) = end else {
        return Outcome::NoErrno("the socket is already closed".to_string());
    };
    match op {
        Op::Write(n) => Outcome::of_write(stream.try_write(&buffer[..*n])),
        Op::Read(n) => Outcome::of_read(stream.try_read(&mut buffer[..*n])),
        Op::Shutdown(How::Write) => Outcome::of_unit(stream.shutdown().await),
        Op::Shutdown(how) => Outcome::of_unit(SockRef::from(&*stream).shutdown(how.to_std())),
        Op::Close => {
            drop(end.take());
            Outcome::Ok
        }
        Op::Abort => {
            if let Err(e) = SockRef::from(&*stream).set_linger(Some(Duration::ZERO)) {
                return Outcome::of_error(&e);
            }
            drop(end.take());
            Outcome::Ok
        }
        Op::Sleep(_) => unreachable!("handled above"),
    }
}
