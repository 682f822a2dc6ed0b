//! The emulated link in real time: the namespaces and devices of a [`Link`], with a thread that
//! carries every packet across when the real clock says it is due, so that a real program meets
//! a real one-way delay (`rstlab exec`).
//!
//! A [`Link`] is driven by the scenario runner and keeps virtual time: nothing crosses until the
//! runner says so. A [`Relay`] is driven by the clock: its thread polls both TUN devices, puts
//! each packet on a [`Wire`] the moment it reads it, and writes it into the other device when it
//! is due. The wire's clock is the real time since the relay started, so the wire's semantics
//! hold unchanged: a packet sent at `t` under delay `d` is due at `t + d`; due packets leave in
//! order of due time, then order sent; `hold` keeps new packets until `release`; `drop` loses
//! everything in flight or held. [`Control::apply`] applies a `link` step at once, from any
//! thread (the peer's, as it plays the scenario).
//!
//! Every IPv4 packet crosses with the delay; TCP segments are recorded in the [`Trace`], with
//! sequence numbers relative to each side's SYN and the connection they belong to.
//!
//! ## What is set in the namespaces, and why it differs from the link's
//! [`Link`] sets each namespace so that no kernel timer can change an outcome while its clock is
//! virtual (see [`crate::net::link`]). Here the clock is real, and the kernel's timers are part of
//! what the program meets, so the relay's link is made with [`Clock::Real`], which keeps the
//! kernel's defaults where the virtual clock changes them (one table, [`crate::net::link::SETTINGS`]):
//! - no `rto_min` on the routes, so the kernel's 200 ms (the link: 10 s): a segment the link drops is retransmitted
//!   after the real minimum RTO, as on any network. With 10 s, a `link drop` would stall the
//!   connection for 10 s, which no real network does, and the program's own timeouts would
//!   fire first;
//! - `tcp_early_retrans` = 3 (tail loss probes), `tcp_recovery` = 1 (RACK), `tcp_sack` = 1:
//!   loss recovery as a default Linux stack does it;
//! - `tcp_invalid_ratelimit` = 500 ms: duplicate and challenge ACKs rate-limited as usual.
//!
//! It keeps the rest, for reasons that hold in real time too:
//! - `quickack` on the routes: every segment is acknowledged at once, never after the 40 ms
//!   delayed-ACK timer, so what the peer sees of your program follows the delay alone, and the
//!   oracle, which assumes it, stays comparable. (A program that depends on delayed ACKs, such
//!   as Nagle's algorithm waiting for one, is not tested for that here.)
//! - `gso_max_segs` = 1: one TCP segment per packet, so each segment has its own due time and
//!   fate, and its own line in the trace;
//! - Reno congestion control: the same on every machine (a namespace inherits the root's
//!   choice, and may not be allowed CUBIC);
//! - IPv6 off, `lo` up, `tcp_tw_reuse` = 0.
//!
//! ## Timing
//! The thread sleeps in `ppoll(2)` until the next packet is due (to the nanosecond, with 1 ns of
//! timer slack) or a device has one, and asks for `SCHED_FIFO` priority 1 (granted to root), so
//! that a busy machine does not make it wait for a time slice. Measured by
//! `cargo bench --bench speed -- --only jitter` (500 one-byte crossings on a 20 ms link, 2 cores,
//! each setting run 2 to 3 times, the machine shared with other work): from a packet's due time
//! to its delivery, median 0.04 to 0.09 ms, 99th percentile under 0.2 ms, at most 1.3 ms, idle
//! or with one or both cores kept busy by `yes > /dev/null`; without the real-time priority,
//! with both cores busy: median 0.09 ms, 99th percentile 4 to 8 ms, at most 33 ms. From a
//! `write` in one ordinary thread to the `read` that returns it in another, less the delay,
//! with both cores busy: median 0.09 ms, at most 5 ms (the test's threads wait for their
//! time slices too).
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use std::time::{Duration, Instant};
//! use rstlab::net::link::Link;
//! use rstlab::net::relay::Relay;
//! use rstlab::scenario::End;
//!
//! // Needs CAP_NET_ADMIN: `Relay::start` fails with `LinkError::NotPermitted` without it.
//! let relay = Relay::start(Duration::from_millis(20))?;
//! let listener = {
//!     let _inside = relay.enter(End::Server)?;
//!     TcpListener::bind((Link::address(End::Server), 0))?
//! };
//! let mut client = {
//!     let _inside = relay.enter(End::Client)?;
//!     TcpStream::connect(listener.local_addr()?)? // one round trip: 40 ms
//! };
//! let (mut server, _) = listener.accept()?;
//! let sent = Instant::now();
//! client.write_all(b"ping")?;
//! let mut buf = [0; 4];
//! server.read_exact(&mut buf)?;
//! assert!(sent.elapsed() >= Duration::from_millis(20));
//! let trace = relay.stop();
//! assert!(trace.segments.iter().any(|s| s.segment.len == 4));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::net::link::{Clock, Link, LinkError};
use crate::net::segment_log::{Follow, Packet, SegmentLog, parse};
use crate::net::wire::{Fate, Wire};
use crate::scenario::{End, LinkOp};
use crate::sys::{self, net as netsys};

/// The longest the relay's thread waits without looking whether it must stop, even if a wake-up
/// were lost.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// At most this many segments are recorded; later ones are carried and counted.
pub const MAX_TRACE: usize = 10_000;

/// At most this many connections are told apart in the trace; segments of later ones are
/// carried and counted.
const MAX_CONNECTIONS: usize = 1_000;

/// A ticket for a packet that is carried but not recorded.
const UNRECORDED: usize = usize::MAX;

pub use crate::net::segment_log::TracedSegment;

/// A `link` step the relay applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppliedOp {
    /// When, since the relay started.
    pub at: Duration,
    /// The step, as the language writes it (`link drop`).
    pub op: String,
}

/// What crossed the relay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// The TCP segments, in the order they reached the relay.
    pub segments: Vec<TracedSegment>,
    /// The `link` steps applied, in order.
    pub ops: Vec<AppliedOp>,
    /// TCP segments carried but not recorded, past [`MAX_TRACE`].
    pub unrecorded: usize,
    /// Packets that were not IPv4/TCP (carried with the same delay, not recorded).
    pub other_packets: usize,
    /// Errors of the relay's own reads and writes (none when all went well).
    pub problems: Vec<String>,
    /// Every packet of every connection, when capturing ([`Control::capture`]).
    #[serde(skip)]
    pub packets: Vec<Packet>,
}

struct State {
    wire: Wire<Vec<u8>>,
    /// The segments and their fates; moved into `trace.segments` when asked.
    log: SegmentLog,
    trace: Trace,
    stopping: bool,
    buffer: Vec<u8>,
}

struct Inner {
    link: Link,
    state: Mutex<State>,
    epoch: Instant,
    /// Written to wake the thread when a `link` step changes what is due, or to stop it.
    wake: UnixStream,
    woken: UnixStream,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn wake(&self) {
        // A full socket buffer means wake-ups are already pending: nothing is lost.
        let _ = (&self.wake).write(&[1]);
    }

    /// Reads every packet waiting on both devices onto the wire, stamped with the time read.
    /// Called with the lock held, by the thread and by [`Control::apply`], so packets enter the
    /// wire in the order they were read.
    fn collect(&self, state: &mut State) {
        for side in End::BOTH {
            loop {
                let n = match netsys::read_fd(self.link.device(side), &mut state.buffer) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        problem(state, format!("reading from the {side}'s device: {e}"));
                        break;
                    }
                };
                let packet = state.buffer[..n].to_vec();
                let now = self.now();
                state.wire.advance_to(now);
                let ticket = match parse(&packet) {
                    Some(header) => state
                        .log
                        .record(side, &header, &packet, now)
                        .unwrap_or(UNRECORDED),
                    None => {
                        state.trace.other_packets += 1;
                        UNRECORDED
                    }
                };
                // A cut link loses it as it enters.
                if let Some((_, _, ticket)) = state.wire.push(side, packet, ticket) {
                    state.log.set_fate(ticket, Fate::Dropped(now));
                }
            }
        }
    }

    /// Writes every packet that is due into the receiver's device.
    fn deliver(&self, state: &mut State) {
        state.wire.advance_to(self.now());
        while let Some((from, packet, ticket)) = state.wire.pop_due() {
            let at = self.now();
            if let Err(e) = netsys::write_fd(self.link.device(from.peer()), &packet) {
                problem(
                    state,
                    format!("writing to the {}'s device: {e}", from.peer()),
                );
            }
            state.log.set_fate(ticket, Fate::Delivered(at));
        }
    }
}

/// Notes a problem once; a few are enough to tell what went wrong.
fn problem(state: &mut State, what: String) {
    if state.trace.problems.len() < 20 && !state.trace.problems.contains(&what) {
        state.trace.problems.push(what);
    }
}

/// The relay's thread: collect, deliver, wait until the next packet is due or a device has one.
fn run(inner: &Inner) {
    // Wake-ups on time to the microsecond, not the default 50 µs of slack; and, where allowed
    // (root), ahead of ordinary threads on a busy machine (see "Timing" above). Without it the
    // relay still runs, later under load.
    let _ = sys::set_timer_slack(1);
    let _ = sys::set_realtime_priority();
    let mut fds = [
        sys::PollFd::new(inner.link.device(End::Client), sys::PollFlags::IN),
        sys::PollFd::new(inner.link.device(End::Server), sys::PollFlags::IN),
        sys::PollFd::new(&inner.woken, sys::PollFlags::IN),
    ];
    let mut drain = [0u8; 64];
    loop {
        let wait = {
            let mut state = inner.lock();
            if state.stopping {
                return;
            }
            inner.collect(&mut state);
            inner.deliver(&mut state);
            // What the deliveries made the receivers answer is read at the next turn, at once.
            let now = inner.now();
            state
                .wire
                .next_due()
                .map_or(MAX_WAIT, |due| due.saturating_sub(now))
                .min(MAX_WAIT)
        };
        if let Err(e) = sys::poll_for(&mut fds, wait)
            && e.kind() != io::ErrorKind::Interrupted
        {
            problem(&mut inner.lock(), format!("polling the devices: {e}"));
        }
        while matches!((&inner.woken).read(&mut drain), Ok(n) if n > 0) {}
    }
}

/// The emulated link carried in real time; see the [module](self).
///
/// Dropping it stops its thread; the namespaces go when the last [`Control`] goes too.
pub struct Relay {
    control: Control,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> LinkError {
    move |source| LinkError::Io { what, source }
}

impl Relay {
    /// Creates the link (two namespaces, a device in each; see [`Link::new`]), puts back the
    /// kernel's timer defaults, and starts carrying packets with a one-way delay of `delay`.
    /// Fails with [`LinkError::NotPermitted`] without CAP_NET_ADMIN.
    pub fn start(delay: Duration) -> Result<Relay, LinkError> {
        let link = Link::with_clock(Clock::Real)?;
        let (wake, woken) = UnixStream::pair().map_err(io_err("creating the wake-up socket"))?;
        wake.set_nonblocking(true)
            .and_then(|()| woken.set_nonblocking(true))
            .map_err(io_err("setting the wake-up socket non-blocking"))?;
        let mut wire = Wire::new();
        wire.set_delay(delay);
        let inner = Arc::new(Inner {
            link,
            state: Mutex::new(State {
                wire,
                log: SegmentLog::new(Follow::Any(MAX_CONNECTIONS), MAX_TRACE),
                trace: Trace::default(),
                stopping: false,
                buffer: vec![0; 65_536],
            }),
            epoch: Instant::now(),
            wake,
            woken,
        });
        let thread = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("rstlab-relay".to_string())
                .spawn(move || run(&inner))
                .map_err(io_err("starting the relay's thread"))?
        };
        Ok(Relay {
            control: Control { inner },
            thread: Some(thread),
        })
    }

    /// Moves the calling thread into `side`'s namespace until the guard is dropped: sockets
    /// created meanwhile live there (a listener for the peer, say).
    pub fn enter(&self, side: End) -> io::Result<netsys::Entered<'_>> {
        self.control.enter(side)
    }

    /// Makes `command`'s process start in `side`'s namespace (see
    /// [`netsys::run_in_namespace`]).
    pub fn run_in<'a>(&self, side: End, command: &'a mut Command) -> io::Result<&'a mut Command> {
        netsys::run_in_namespace(command, self.control.inner.link.namespace(side))
    }

    /// A handle for applying `link` steps from other threads.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// What crossed so far.
    pub fn trace(&self) -> Trace {
        self.control.trace()
    }

    /// Stops carrying packets (whatever is held or in flight stays there) and returns what
    /// crossed.
    pub fn stop(mut self) -> Trace {
        self.halt();
        self.trace()
    }

    fn halt(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.control.inner.lock().stopping = true;
        self.control.inner.wake();
        // The thread looks at `stopping` at least every MAX_WAIT, so this join is bounded.
        if thread.join().is_err() {
            problem(
                &mut self.control.inner.lock(),
                "the relay's thread panicked".to_string(),
            );
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A handle on a [`Relay`] for other threads: applies `link` steps, reads the clock and the
/// trace. Cloning it is cheap.
#[derive(Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("now", &self.now())
            .field("delay", &self.delay())
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Applies a `link` step now: the packets the devices hold are put on the wire first, so
    /// `hold`, `drop` and `cut` act on everything sent before the call.
    pub fn apply(&self, op: LinkOp) {
        let inner = &self.inner;
        let mut state = inner.lock();
        inner.collect(&mut state);
        let now = inner.now();
        state.wire.advance_to(now);
        for (_, _, ticket) in state.wire.apply(op) {
            state.log.set_fate(ticket, Fate::Dropped(now));
        }
        state.trace.ops.push(AppliedOp {
            at: now,
            op: format!("link {op}"),
        });
        drop(state);
        inner.wake();
    }

    /// Real time since the relay started: the clock of the trace.
    pub fn now(&self) -> Duration {
        self.inner.now()
    }

    /// The one-way delay for packets sent from now on.
    pub fn delay(&self) -> Duration {
        self.inner.lock().wire.delay()
    }

    /// What crossed so far.
    pub fn trace(&self) -> Trace {
        let state = self.inner.lock();
        Trace {
            segments: state.log.traced(),
            unrecorded: state.log.unrecorded(),
            packets: state.log.packets().to_vec(),
            ..state.trace.clone()
        }
    }

    /// Keeps every packet of every connection from now on, for a capture (`Trace::packets`).
    pub fn capture(&self) {
        self.inner.lock().log.capture();
    }

    /// Names what happens next (the step the peer plays), for the packets a capture keeps;
    /// `note` is called only while capturing.
    pub fn note(&self, note: impl FnOnce() -> String) {
        let inner = &self.inner;
        let mut state = inner.lock();
        if state.log.capturing() {
            // What the devices hold was sent under the previous note: it goes on the wire
            // first, as `apply` does, so each packet carries the step that sent it.
            inner.collect(&mut state);
            state.log.note(note);
        }
    }

    /// Moves the calling thread into `side`'s namespace until the guard is dropped.
    pub fn enter(&self, side: End) -> io::Result<netsys::Entered<'_>> {
        self.inner.link.enter(side)
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    fn relay_or_skip(delay: Duration) -> Option<Relay> {
        crate::net::skip::or_skip(Relay::start(delay), None)
    }

    fn pair(relay: &Relay) -> (TcpStream, TcpStream) {
        let listener = {
            let _in = relay.enter(End::Server).unwrap();
            TcpListener::bind((Link::address(End::Server), 0)).unwrap()
        };
        let client = {
            let _in = relay.enter(End::Client).unwrap();
            TcpStream::connect(listener.local_addr().unwrap()).unwrap()
        };
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn a_segment_takes_the_delay_to_cross_and_is_traced() {
        let Some(relay) = relay_or_skip(Duration::from_millis(15)) else {
            return;
        };
        let (mut client, mut server) = pair(&relay);
        let sent = Instant::now();
        client.write_all(b"abc").unwrap();
        let mut buf = [0u8; 3];
        server.read_exact(&mut buf).unwrap();
        let took = sent.elapsed();
        assert!(took >= Duration::from_millis(15), "{took:?}");
        let trace = relay.stop();
        let data = trace
            .segments
            .iter()
            .find(|s| s.segment.len == 3)
            .expect("the data is traced");
        assert_eq!(data.connection, 1);
        assert_eq!(data.segment.seq, 1, "relative to the SYN");
        let Fate::Delivered(at) = data.segment.fate else {
            panic!("{data:?}")
        };
        assert!(
            at >= data.segment.sent + Duration::from_millis(15),
            "{data:?}"
        );
        assert!(trace.problems.is_empty(), "{:?}", trace.problems);
    }

    #[test]
    fn hold_keeps_segments_until_release_and_drop_loses_them() {
        let Some(relay) = relay_or_skip(Duration::ZERO) else {
            return;
        };
        let (mut client, mut server) = pair(&relay);
        server.set_nonblocking(true).unwrap();
        let control = relay.control();
        control.apply(LinkOp::Hold);
        client.write_all(b"lost").unwrap();
        control.apply(LinkOp::Drop);
        control.apply(LinkOp::Release);
        client.write_all(b"x").unwrap();
        // The first write is gone; the second is out of order, so the server reads nothing
        // until the first is retransmitted (after the real minimum RTO, 200 ms).
        server.set_nonblocking(false).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 5];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"lostx");
        let trace = relay.stop();
        let fates: Vec<_> = trace
            .segments
            .iter()
            .filter(|s| s.segment.len == 4)
            .map(|s| s.segment.fate)
            .collect();
        assert!(matches!(fates[0], Fate::Dropped(_)), "{fates:?}");
        assert!(
            fates[1..].iter().any(|f| matches!(f, Fate::Delivered(_))),
            "retransmitted: {fates:?}"
        );
        let ops: Vec<&str> = trace.ops.iter().map(|o| o.op.as_str()).collect();
        assert_eq!(ops, ["link hold", "link drop", "link release"]);
    }

    #[test]
    fn cut_loses_what_is_sent_until_restore_then_the_retransmission_crosses() {
        let Some(relay) = relay_or_skip(Duration::ZERO) else {
            return;
        };
        let (mut client, mut server) = pair(&relay);
        let control = relay.control();
        control.apply(LinkOp::Cut);
        client.write_all(b"cut").unwrap();
        // Until the restore every transmission is lost, the retransmissions too: nothing
        // arrives within a bounded wait longer than the least retransmission timeout.
        server
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 3];
        let err = server.read(&mut buf).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        control.apply(LinkOp::Restore);
        // The next retransmission crosses (the timer backs off: 400 ms, then 800 ms).
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"cut");
        let trace = relay.stop();
        let fates: Vec<_> = trace
            .segments
            .iter()
            .filter(|s| s.segment.len == 3)
            .map(|s| s.segment.fate)
            .collect();
        assert!(
            fates.len() >= 2 && matches!(fates[0], Fate::Dropped(_)),
            "{fates:?}"
        );
        assert!(
            matches!(fates.last(), Some(Fate::Delivered(_))),
            "{fates:?}"
        );
        let ops: Vec<&str> = trace.ops.iter().map(|o| o.op.as_str()).collect();
        assert_eq!(ops, ["link cut", "link restore"]);
    }
}
