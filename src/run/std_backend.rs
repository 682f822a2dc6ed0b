//! The std backend: `std::net::TcpStream`, both ends in this thread, every call non-blocking.
//!
//! `TcpStream::write` sends with `MSG_NOSIGNAL`, so a write that fails with EPIPE raises no
//! SIGPIPE; `close` goes through `close(2)` directly so its result is seen. `sleep D` sleeps D
//! with the thread's timer slack at 1 ns rather than the default 50 µs, which would add a fifth
//! to the average generated sleep.

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
        sleep(*d);
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

/// Sleeps `d` with a timer slack of 1 ns, then puts the thread's slack back (also on unwind).
fn sleep(d: Duration) {
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = sys::set_timer_slack(self.0);
        }
    }
    // Best effort: without prctl the sleep is only less precise.
    let _restore = sys::timer_slack()
        .ok()
        .filter(|_| sys::set_timer_slack(1).is_ok())
        .map(Restore);
    std::thread::sleep(d);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_lasts_at_least_its_duration_and_puts_the_timer_slack_back() {
        let before = sys::timer_slack().unwrap();
        let start = std::time::Instant::now();
        sleep(Duration::from_micros(300));
        assert!(start.elapsed() >= Duration::from_micros(300));
        assert_eq!(sys::timer_slack().unwrap(), before);
    }
}
