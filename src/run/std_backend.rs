//! The std backend: `std::net::TcpStream`, both ends in this thread, every call non-blocking.
//!
//! `TcpStream::write` sends with `MSG_NOSIGNAL`, so a write that fails with EPIPE raises no
//! SIGPIPE; `close` goes through `close(2)` directly so its result is seen.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use socket2::SockRef;

use super::{ObservedStep, Settler, Trace, abort_all};
use crate::outcome::Outcome;
use crate::scenario::{Op, Scenario};
use crate::sys;

pub(super) fn run(
    scenario: &Scenario,
    sockets: [TcpStream; 2],
    settler: &mut Settler,
    buffer: &mut [u8],
    trace: &mut Trace,
) {
    let mut ends = sockets.map(Some);
    for step in scenario.steps() {
        let end = &mut ends[step.actor.index()];
        let outcome = perform(end, &step.op, buffer);
        match settler.settle(ends.each_ref().map(|e| e.as_ref().map(AsFd::as_fd))) {
            Ok(states) => trace.steps.push(ObservedStep {
                outcome,
                states,
                note: None,
            }),
            Err(timeout) => {
                trace.steps.push(ObservedStep {
                    outcome,
                    states: [None, None],
                    note: None,
                });
                trace.timeout = Some(timeout);
                break;
            }
        }
    }
    abort_all(ends);
}

fn perform(end: &mut Option<TcpStream>, op: &Op, buffer: &mut [u8]) -> Outcome {
    if let Op::Sleep(d) = op {
        std::thread::sleep(*d);
        return Outcome::Ok;
    }
    let Some(stream) = end else {
        // Scenario::new forbids this; say so rather than panic if it ever happens.
        return Outcome::NoErrno("the socket is already closed".to_string());
    };
    match op {
        Op::Write(n) => Outcome::of_write(stream.write(&buffer[..*n])),
        Op::Read(n) => Outcome::of_read(stream.read(&mut buffer[..*n])),
        Op::Shutdown(how) => Outcome::of_unit(stream.shutdown(how.to_std())),
        Op::Close | Op::Abort => {
            if *op == Op::Abort
                && let Err(e) = SockRef::from(&*stream).set_linger(Some(Duration::ZERO))
            {
                return Outcome::of_error(&e);
            }
            let stream = end.take().expect("checked above");
            Outcome::of_unit(sys::close(OwnedFd::from(stream)))
        }
        Op::Sleep(_) => unreachable!("handled above"),
    }
}
