//! The emulated link: two network namespaces that rstlab creates, one TUN device in each, and
//! rstlab itself carrying every IP packet between them on a [`Wire`] with a virtual clock.
//!
//! A packet written into a TUN fd is processed by the receiving stack inside that `write(2)`
//! (`tun_get_user()` hands it to `netif_receive_skb()` in the writer's context), and whatever
//! the receiver answers is queued on its own TUN device before the write returns. So "nothing to
//! read from either TUN fd and nothing due on the wire" is an exact test of quiescence; the
//! `link_delivery_is_synchronous` test checks it on every run of `cargo test`.
//!
//! ## What is set in the namespaces, and why it stays faithful
//! Kernel timers run in real time while the link's time is virtual. Each namespace is set so
//! that no timer can change an outcome, and a scenario whose virtual time would reach a point
//! where a real kernel's timer fires is refused by the oracle (see [`crate::oracle`]). Each
//! setting is written once, with its reason, for both clocks (see [`Clock`]): the sysctls in
//! the table [`SETTINGS`], the route metrics in [`route_metrics`] (`quickack`, a locked
//! `rto_min`), and the device's `gso_max_segs = 1` in [`Link::with_clock`]: TCP sends one
//! segment per packet, so it never defers a send by `tcp_tso_should_defer()`, whose choice
//! depends on how much real time passed since the last send and on the smoothed RTT measured
//! in real time.
//!
//! Everything else is the kernel's default: MTU 1500 (a segment carries at most 1,448 bytes
//! with timestamps), initial congestion window 10.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::net::segment_log::{Follow, Packet, SegmentLog, parse};
use crate::net::wire::{Fate, Wire};
use crate::scenario::{End, LinkOp};
use crate::sys::net::{self as netsys, Entered, Namespace};

/// The client's address on the link (RFC 5737 documentation range: never a real host).
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The server's address on the link.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The client's source addresses: a whole /24 that is local in the client's namespace (an
/// "AnyIP" route), routed to the link in the server's. Connections take them in turn, so that a
/// 4-tuple comes back only after 254 × the ephemeral port range, long after any socket an
/// earlier scenario left (TIME_WAIT, an orphan whose FIN was dropped) has died. RFC 5737's
/// TEST-NET-2: never a real host.
pub const CLIENT_SOURCES: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 0);
/// The TUN device's name in each namespace.
const DEVICE: &str = "rstlab0";
/// The most deliveries one settling may take: far more than any scenario causes; past it the
/// two kernels are answering each other forever, which is a bug to report, not to wait out.
const MAX_DELIVERIES: usize = 100_000;
/// The most packet buffers kept for reuse: more than a scenario has in flight at once.
const MAX_SPARE: usize = 256;
/// How long the devices may take to become active.
const SETUP_DEADLINE: Duration = Duration::from_secs(5);

/// Why the link could not be set up or driven.
#[derive(Debug, Error)]
pub enum LinkError {
    /// Creating a namespace or a device was refused.
    #[error(
        "the emulated link needs CAP_NET_ADMIN and /dev/net/tun: run as root, or where unprivileged user namespaces are allowed and /dev/net/tun is open to all ({0})"
    )]
    NotPermitted(io::Error),
    /// Any other system call failed.
    #[error("{what}")]
    Io {
        /// What the link was doing.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The two stacks kept answering each other.
    #[error("the link never went quiet: more than {MAX_DELIVERIES} deliveries in one step")]
    Storm,
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> LinkError {
    move |source| LinkError::Io { what, source }
}

pub use crate::net::segment_log::{Flags, WireSegment};

struct Side {
    ns: Namespace,
    tun: OwnedFd,
}

/// Two namespaces joined by a wire that rstlab carries; see the [module](self).
pub struct Link {
    sides: [Side; 2],
    /// The namespace of the thread that made the link, where [`Link::enter`]'s guard returns.
    home: Namespace,
    wire: Wire<Vec<u8>>,
    log: SegmentLog,
    buffer: Vec<u8>,
    /// Buffers of delivered packets, for the next ones read ([`Link::recycle`]).
    spare: Vec<Vec<u8>>,
    /// Whether anything was written into each side's device since [`Link::take_delivered`].
    delivered: [bool; 2],
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("now", &self.wire.now())
            .field("in_flight", &self.wire.len())
            .finish_non_exhaustive()
    }
}

/// How the link's clock runs, which decides how each namespace is set (see [`SETTINGS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The scenario runner's virtual time ([`Link`]): no kernel timer may change an outcome.
    Virtual,
    /// The real clock ([`crate::net::relay`]): the kernel's own timers are part of what a program
    /// meets, so loss recovery and the retransmission timer are the kernel's defaults.
    Real,
}

/// One sysctl of each namespace: its value under each clock, and why. Every kernel rstlab
/// supports (5.10 on) has every one.
#[derive(Clone, Copy, Debug)]
pub struct Sysctl {
    /// The key under `/proc/sys`.
    pub key: &'static str,
    /// Its value with a virtual clock.
    pub virtual_time: &'static str,
    /// Its value with the real clock.
    pub real_time: &'static str,
    /// Why it is set so.
    pub why: &'static str,
}

/// The sysctls set in each namespace, once for both clocks, each with its reason (the
/// real-time values are the kernel's defaults where timers must run as on any network).
/// Settings that no sysctl makes on every kernel are route metrics or device settings instead
/// ([`route_metrics`], [`netsys::set_gso_max_segs`]).
pub const SETTINGS: &[Sysctl] = &[
    Sysctl {
        key: "net/ipv6/conf/all/disable_ipv6",
        virtual_time: "1",
        real_time: "1",
        why: "No router solicitations or MLD reports on the link.",
    },
    Sysctl {
        key: "net/ipv6/conf/default/disable_ipv6",
        virtual_time: "1",
        real_time: "1",
        why: "The same for the devices created after it.",
    },
    Sysctl {
        key: "net/ipv4/tcp_congestion_control",
        virtual_time: "reno",
        real_time: "reno",
        why: "A new namespace inherits the root namespace's choice, which may be BBR (it paces segments with real-time timers); CUBIC (the Linux default) may not be set in a namespace unless the root allows it, and its HyStart samples real-time delays. Reno has the slow start they all share (initial window 10, one segment more per segment acknowledged) and nothing that reads the clock.",
    },
    Sysctl {
        key: "net/ipv4/tcp_early_retrans",
        virtual_time: "0",
        real_time: "3",
        why: "No tail loss probe (it fires after about 2 RTT, 10 ms at least).",
    },
    Sysctl {
        key: "net/ipv4/tcp_sack",
        virtual_time: "0",
        real_time: "1",
        why: "With tcp_recovery = 0: loss is detected by duplicate ACKs only, never by RACK's real-time reordering timer.",
    },
    Sysctl {
        key: "net/ipv4/tcp_recovery",
        virtual_time: "0",
        real_time: "1",
        why: "No RACK: its reordering timer runs in real time.",
    },
    Sysctl {
        key: "net/ipv4/tcp_invalid_ratelimit",
        virtual_time: "0",
        real_time: "500",
        why: "Duplicate and challenge ACKs are never suppressed by their 500 ms real-time rate limit.",
    },
    Sysctl {
        key: "net/ipv4/tcp_challenge_ack_limit",
        virtual_time: "2147483647",
        real_time: "2147483647",
        why: "Before 6.0 (79e3602caa6f) the challenge ACKs of every namespace share one host-wide budget (1,000 a second by default, randomised): set high, a busy host cannot take a scenario's challenge ACK away. 6.0 and later default to this value (no limit).",
    },
    Sysctl {
        key: "net/ipv4/tcp_tw_reuse",
        virtual_time: "0",
        real_time: "0",
        why: "A new connection never takes the 4-tuple of a TIME_WAIT stub, whose peer may still hold an earlier scenario's socket (the client's 254 source addresses give millions of 4-tuples; see CLIENT_SOURCES).",
    },
];

/// The metrics of the routes between the two sides under `clock`:
/// - `quickack` always: every segment is acknowledged at once, never by the 40 ms delayed-ACK
///   timer, so an ACK's virtual time is its segment's arrival time;
/// - with a virtual clock, a locked `rto_min` of 10 s: the retransmission timer cannot fire
///   while a scenario runs, even on a loaded machine or in an emulated VM. On a real link it
///   fires no sooner than 200 ms + RTT after a send; the oracle refuses scenarios that leave a
///   segment unacknowledged that long in virtual time. The route metric rather than the
///   `tcp_rto_min_us` sysctl, which only 6.11 and later have: `tcp_rto_min()` prefers a locked
///   route metric on every kernel.
pub fn route_metrics(clock: Clock) -> netsys::RouteMetrics {
    netsys::RouteMetrics {
        quickack: true,
        rto_min: (clock == Clock::Virtual).then_some(VIRTUAL_RTO_MIN),
    }
}

/// The least retransmission timeout with a virtual clock: far beyond any scenario's real
/// duration, even on a loaded machine or in an emulated VM.
const VIRTUAL_RTO_MIN: Duration = Duration::from_secs(10);

fn set_sysctl(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(format!("/proc/sys/{key}"), value)
        .map_err(|e| io::Error::new(e.kind(), format!("setting {key} = {value}: {e}")))
}

impl Link {
    /// Creates both namespaces and devices for a virtual clock ([`Link::with_clock`]).
    pub fn new() -> Result<Link, LinkError> {
        Link::with_clock(Clock::Virtual)
    }

    /// Creates both namespaces and devices, set for `clock`, and waits until each device really
    /// carries packets (a fresh device drops what is sent before the kernel activates its
    /// queue).
    pub fn with_clock(clock: Clock) -> Result<Link, LinkError> {
        let home = Namespace::current().map_err(io_err("opening this thread's namespace"))?;
        let mut sides = Vec::with_capacity(2);
        for (me, peer) in [(CLIENT_ADDR, SERVER_ADDR), (SERVER_ADDR, CLIENT_ADDR)] {
            let ns = Namespace::create().map_err(|e| match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => LinkError::NotPermitted(e),
                _ => LinkError::Io {
                    what: "creating a network namespace",
                    source: e,
                },
            })?;
            let tun = {
                let _inside = ns.enter(&home).map_err(io_err("entering the namespace"))?;
                for sysctl in SETTINGS {
                    let value = match clock {
                        Clock::Virtual => sysctl.virtual_time,
                        Clock::Real => sysctl.real_time,
                    };
                    set_sysctl(sysctl.key, value).map_err(io_err("configuring the namespace"))?;
                }
                netsys::set_up("lo").map_err(io_err("bringing lo up"))?;
                let tun = netsys::open_tun(DEVICE).map_err(|e| match e.raw_os_error() {
                    Some(libc::EPERM | libc::EACCES) => LinkError::NotPermitted(e),
                    _ => LinkError::Io {
                        what: "opening /dev/net/tun",
                        source: e,
                    },
                })?;
                netsys::set_ipv4(DEVICE, me, 32).map_err(io_err("addressing the device"))?;
                netsys::set_up(DEVICE).map_err(io_err("bringing the device up"))?;
                let index = netsys::ifindex(DEVICE).map_err(io_err("finding the device"))?;
                let via = netsys::RouteKind::Via(route_metrics(clock));
                netsys::add_route(peer, 32, index, via)
                    .map_err(io_err("adding the route to the peer"))?;
                let sources = if me == CLIENT_ADDR {
                    let lo = netsys::ifindex("lo").map_err(io_err("finding lo"))?;
                    (lo, netsys::RouteKind::Local)
                } else {
                    (index, via)
                };
                netsys::add_route(CLIENT_SOURCES, 24, sources.0, sources.1)
                    .map_err(io_err("routing the client's source addresses"))?;
                netsys::set_gso_max_segs(index, 1)
                    .map_err(io_err("limiting the device to one segment per packet"))?;
                tun
            };
            sides.push(Side { ns, tun });
        }
        let sides: [Side; 2] = sides.try_into().map_err(|_| unreachable!("two sides"))?;
        let mut link = Link {
            sides,
            home,
            wire: Wire::new(),
            log: SegmentLog::new(Follow::Watched, usize::MAX),
            buffer: vec![0; 65536],
            spare: Vec::new(),
            delivered: [false; 2],
        };
        link.wait_until_active()?;
        Ok(link)
    }

    /// Whether a link can be set up here: `Err(LinkError::NotPermitted)` without CAP_NET_ADMIN.
    /// It sets one up and drops it.
    pub fn check_available() -> Result<(), LinkError> {
        Link::new().map(drop)
    }

    /// Sends a UDP probe from each side until it comes out of that side's device: the device's
    /// queue is active (linkwatch has run) once it does.
    fn wait_until_active(&mut self) -> Result<(), LinkError> {
        let deadline = Instant::now() + SETUP_DEADLINE;
        for side in End::BOTH {
            let (me, peer) = match side {
                End::Client => (CLIENT_ADDR, SERVER_ADDR),
                _ => (SERVER_ADDR, CLIENT_ADDR),
            };
            let probe = {
                let _inside = self.enter(side).map_err(io_err("entering the namespace"))?;
                UdpSocket::bind((me, 0)).map_err(io_err("binding the probe"))?
            };
            loop {
                probe
                    .send_to(b"rstlab probe", (peer, 9))
                    .map_err(io_err("sending the probe"))?;
                let mut seen = false;
                let tun = &self.sides[side.index()].tun;
                // Wait for the device with a short, bounded poll rather than a fixed sleep.
                let mut fds = [crate::sys::PollFd::new(tun, crate::sys::PollFlags::IN)];
                let _ = crate::sys::poll(&mut fds, 1);
                while let Ok(n) = netsys::read_fd(tun, &mut self.buffer) {
                    // Any IPv4 packet out of the device proves it carries traffic.
                    seen |= n > 0 && self.buffer[0] >> 4 == 4;
                }
                if seen {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(LinkError::Io {
                        what: "waiting for the TUN device to carry packets",
                        source: io::Error::from(io::ErrorKind::TimedOut),
                    });
                }
            }
        }
        Ok(())
    }

    /// Moves the calling thread into `side`'s namespace until the guard is dropped: sockets
    /// created meanwhile live there. Call it from a thread in the namespace the link was made
    /// in (every thread of a process, unless one moved).
    pub fn enter(&self, side: End) -> io::Result<Entered<'_>> {
        self.sides[side.index()].ns.enter(&self.home)
    }

    /// The TUN device of `side`: the real-time relay ([`crate::net::relay`]) carries packets
    /// between the two itself.
    pub(crate) fn device(&self, side: End) -> &OwnedFd {
        &self.sides[side.index()].tun
    }

    /// The namespace of `side`, for starting a process in it ([`crate::net::relay`]).
    pub(crate) fn namespace(&self, side: End) -> &Namespace {
        &self.sides[side.index()].ns
    }

    /// The client's source address for connection number `n`: 198.51.100.1 to .254 in turn.
    pub fn client_source(n: u64) -> Ipv4Addr {
        let [a, b, c, _] = CLIENT_SOURCES.octets();
        Ipv4Addr::new(a, b, c, (n % 254) as u8 + 1)
    }

    /// The client's source port for connection number `n`: the same for 254 connections in a
    /// row (one from each source address), then the next, through the ephemeral range
    /// (32768-60999). A 4-tuple comes back after 254 × 28,232 = 7.2 million connections, hours
    /// at explore's speed, long after the TIME_WAIT stub of its last use (60 s) is gone; so the
    /// runner binds the port itself and needs no `getsockname` to learn it.
    pub fn client_port(n: u64) -> u16 {
        const FIRST: u64 = 32_768;
        const PORTS: u64 = 61_000 - FIRST;
        (FIRST + (n / 254) % PORTS) as u16
    }

    /// The address of `side` on the link.
    pub fn address(side: End) -> Ipv4Addr {
        match side {
            End::Client => CLIENT_ADDR,
            _ => SERVER_ADDR,
        }
    }

    /// Records the connection between `client` and `server` from now on (and forgets the
    /// previous one): its segments go on the wire and in the log; any other packet is carried
    /// across at once, unrecorded.
    pub fn watch(&mut self, client: SocketAddrV4, server: SocketAddrV4) {
        self.log.watch(client, server);
    }

    /// Keeps every packet of the watched connections from now on, handshake included, for a
    /// capture ([`Link::take_packets`]).
    pub fn capture(&mut self) {
        self.log.capture();
    }

    /// Names what happens next (a step), for the packets a capture keeps; `note` is called only
    /// while capturing.
    pub fn note(&mut self, note: impl FnOnce() -> String) {
        self.log.note(note);
    }

    /// The packets captured so far (see [`Link::capture`]).
    pub fn take_packets(&mut self) -> Vec<Packet> {
        self.log.take_packets()
    }

    /// The virtual clock.
    pub fn now(&self) -> Duration {
        self.wire.now()
    }

    /// The wire trace since the last [`Link::take_log`].
    pub fn log(&self) -> &[WireSegment] {
        self.log.segments()
    }

    /// Takes the wire trace recorded so far.
    pub fn take_log(&mut self) -> Vec<WireSegment> {
        self.log.take()
    }

    /// Reads every packet waiting on `sides`' devices onto the wire.
    fn collect(&mut self, sides: &[End]) -> Result<(), LinkError> {
        for &side in sides {
            loop {
                let n = match netsys::read_fd(&self.sides[side.index()].tun, &mut self.buffer) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(io_err("reading from the TUN device")(e)),
                };
                let Some(header) = parse(&self.buffer[..n]) else {
                    continue; // not IPv4/TCP: nothing of ours
                };
                let mut packet = self.spare.pop().unwrap_or_default();
                packet.clear();
                packet.extend_from_slice(&self.buffer[..n]);
                let now = self.wire.now();
                match self.log.record(side, &header, &packet, now) {
                    Some(ticket) => {
                        // A cut link loses it as it enters.
                        if let Some((_, packet, ticket)) = self.wire.push(side, packet, ticket) {
                            self.log.set_fate(ticket, Fate::Dropped(now));
                            self.recycle(packet);
                        }
                    }
                    // Another connection's packet (an earlier scenario's): carry it at once.
                    None => {
                        self.write(side.peer(), &packet)?;
                        self.recycle(packet);
                    }
                }
            }
        }
        Ok(())
    }

    /// Keeps a delivered packet's buffer for the next one read: an exploration moves millions of
    /// packets, and reusing buffers spares an allocation and a free for each.
    fn recycle(&mut self, packet: Vec<u8>) {
        if self.spare.len() < MAX_SPARE {
            self.spare.push(packet);
        }
    }

    fn write(&mut self, to: End, packet: &[u8]) -> Result<(), LinkError> {
        self.delivered[to.index()] = true;
        netsys::write_fd(&self.sides[to.index()].tun, packet)
            .map(drop)
            .map_err(io_err("writing to the TUN device"))
    }

    /// Whether anything was written into each side's device (client, server) since the last
    /// call: a side nothing reached, whose socket made no call either, is in the state it was
    /// (in virtual time no kernel timer changes a state).
    pub fn take_delivered(&mut self) -> [bool; 2] {
        std::mem::take(&mut self.delivered)
    }

    /// Delivers every segment due now, and everything the deliveries cause, until nothing is
    /// left to read and nothing is due.
    pub fn settle(&mut self) -> Result<(), LinkError> {
        // A call may have sent from either side.
        self.collect(&End::BOTH)?;
        self.deliver()
    }

    /// [`Link::settle`] after socket calls of `side` alone, on a link that had settled before
    /// them: only `side`'s stack can have sent since (the two stacks meet only through the
    /// link), so the other device is not read, a read that would find it empty.
    pub fn settle_from(&mut self, side: End) -> Result<(), LinkError> {
        let before = self.delivered[side.peer().index()];
        self.collect(&[side])?;
        // Another connection's packet is carried across at once: whatever answers it is in
        // the other device.
        if self.delivered[side.peer().index()] && !before {
            self.collect(&[side.peer()])?;
        }
        self.deliver()
    }

    /// Delivers every segment due now, and everything the deliveries cause, reading a device
    /// only after writing into it: after a delivery into one side, only that side's stack can
    /// have answered. What [`Link::settle`] does once it has read both devices, and all a
    /// settled link needs when nothing else sent since (its clock moved, or a `link` step
    /// changed the wire): reading both devices again would only find them empty, two reads
    /// for nothing each time.
    ///
    /// Segments due now for the same side go in one after the other, and the side's device is
    /// read once after the last of them (not once after each, which costs a read that finds
    /// nothing each time): a burst of segments and the ACKs that answer it. It changes nothing
    /// of what happens or of the order in which answers enter the wire: an answer enters
    /// behind every segment already on the wire, and is due no sooner than now, so whatever
    /// was due now goes first either way; and the device is read before anything goes to the
    /// other side, so answers from the two sides enter in the order they were made.
    fn deliver(&mut self) -> Result<(), LinkError> {
        // The side delivered to last, whose answers are not read yet.
        let mut unread: Option<End> = None;
        for _ in 0..MAX_DELIVERIES {
            let Some((from, packet, ticket)) = self.wire.pop_due() else {
                match unread.take() {
                    // Its answers may be due now (no delay): on the wire first, then again.
                    Some(side) => {
                        self.collect(&[side])?;
                        continue;
                    }
                    None => return Ok(()),
                }
            };
            let to = from.peer();
            if let Some(side) = unread.filter(|&side| side != to) {
                self.collect(&[side])?;
            }
            self.write(to, &packet)?;
            self.recycle(packet);
            self.log.set_fate(ticket, Fate::Delivered(self.wire.now()));
            unread = Some(to);
        }
        Err(LinkError::Storm)
    }

    /// Advances the virtual clock by `d`, delivering every segment on the way at its due time.
    pub fn advance(&mut self, d: Duration) -> Result<(), LinkError> {
        self.settle()?;
        self.advance_settled(d)
    }

    /// [`Link::advance`] for a caller that knows the link has settled and that nothing was sent
    /// into it since (the runner settles after every step).
    pub fn advance_settled(&mut self, d: Duration) -> Result<(), LinkError> {
        let target = self.wire.now() + d;
        while let Some(due) = self.wire.next_due().filter(|&t| t <= target) {
            self.wire.advance_to(due);
            self.deliver()?;
        }
        self.wire.advance_to(target);
        self.deliver()
    }

    /// [`Link::advance_settled`] in lock-step with the real clock, for [`Clock::Real`] in the
    /// kernel's own time (the lane, whose clock is virtual and jumps over idle time): the
    /// link's clock follows the real one for `d`; what either kernel's timers send meanwhile
    /// (retransmissions, probes) is read as it leaves, put on the wire then, and delivered when
    /// due. Every wait is bounded by the next due time and the end of `d`.
    pub fn advance_real(&mut self, d: Duration) -> Result<(), LinkError> {
        let origin = (self.wire.now(), Instant::now());
        let target = origin.0 + d;
        loop {
            let now = (origin.0 + origin.1.elapsed()).min(target);
            while let Some(due) = self.wire.next_due().filter(|&t| t <= now) {
                self.wire.advance_to(due);
                self.deliver()?;
            }
            self.wire.advance_to(now);
            if now >= target {
                break;
            }
            let next = self.wire.next_due().map_or(target, |t| t.min(target));
            let [client, server] = &self.sides;
            let mut fds = [
                crate::sys::PollFd::new(&client.tun, crate::sys::PollFlags::IN),
                crate::sys::PollFd::new(&server.tun, crate::sys::PollFlags::IN),
            ];
            if crate::sys::poll_for(&mut fds, next - now)
                .map_err(io_err("waiting on the devices"))?
                > 0
            {
                self.wire
                    .advance_to((origin.0 + origin.1.elapsed()).min(target));
                self.collect(&End::BOTH)?;
                self.deliver()?;
            }
        }
        self.deliver()
    }

    #[cfg(test)]
    fn set_delay_for_test(&mut self, d: Duration) {
        self.wire.set_delay(d);
    }

    /// Applies a `link` step, then settles.
    pub fn apply(&mut self, op: LinkOp) -> Result<(), LinkError> {
        self.settle()?;
        self.apply_settled(op)
    }

    /// [`Link::apply`] for a caller that knows the link has settled and that nothing was sent
    /// into it since.
    pub fn apply_settled(&mut self, op: LinkOp) -> Result<(), LinkError> {
        let now = self.wire.now();
        for (_, _, ticket) in self.wire.apply(op) {
            self.log.set_fate(ticket, Fate::Dropped(now));
        }
        self.deliver()
    }

    /// Ends the current connection's life on the wire: everything held or in flight is carried
    /// across at once (so orphans left by the scenario are answered and die), then the clock,
    /// the delay, the hold, the cut and the log start afresh.
    pub fn reset(&mut self) -> Result<(), LinkError> {
        self.wire.set_delay(Duration::ZERO);
        // A scenario that ends cut leaves orphans too: they must cross to be answered and die.
        self.wire.restore();
        self.wire.release();
        // What the sockets sent as they ended waits on the devices, to be read once (at the
        // first due time, as ever); then only deliveries make more.
        let mut read = false;
        while let Some(due) = self.wire.next_due() {
            self.wire.advance_to(due);
            if std::mem::replace(&mut read, true) {
                self.deliver()?;
            } else {
                self.settle()?;
            }
        }
        if read {
            self.deliver()?;
        } else {
            self.settle()?;
        }
        self.wire.reset();
        self.log.clear();
        Ok(())
    }

    /// [`Link::reset`] for a connection with no socket left at either end and no orphan (the
    /// runner ended both ends silently): what is still in flight or held would meet no socket
    /// and draw only answers that meet none either (the kernel's RST for no socket, or the
    /// listener's), so it is dropped instead of carried. The devices are read all the same,
    /// and whatever they hold is carried as ever. While capturing, everything is carried as
    /// [`Link::reset`] carries it, so that the capture shows where it went.
    pub fn reset_gone(&mut self) -> Result<(), LinkError> {
        if self.log.capturing() {
            return self.reset();
        }
        self.wire.set_delay(Duration::ZERO);
        self.wire.release();
        for (_, packet, _) in self.wire.drop_all() {
            self.recycle(packet);
        }
        self.settle()?;
        self.wire.reset();
        self.log.clear();
        Ok(())
    }
}

/// Tests on the real link: they need CAP_NET_ADMIN, and skip with one line without it (except
/// with `RSTLAB_REQUIRE_LINK=1`, where they fail).
#[cfg(test)]
pub(crate) mod kernel_tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    /// A link, or `None` after a skip ([`crate::net::skip::or_skip`]: the one rule).
    pub(crate) fn link_or_skip() -> Option<Link> {
        crate::net::skip::or_skip(Link::new(), None)
    }

    #[test]
    fn link_delivery_is_synchronous() {
        let Some(mut link) = link_or_skip() else {
            return;
        };
        let listener = {
            let _in = link.enter(End::Server).unwrap();
            TcpListener::bind((SERVER_ADDR, 0)).unwrap()
        };
        listener.set_nonblocking(true).unwrap();
        let target = match listener.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let socket = {
            let _in = link.enter(End::Client).unwrap();
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap()
        };
        socket.set_nonblocking(true).unwrap();
        let _ = socket.connect(&std::net::SocketAddr::V4(target).into());
        let local = match socket.local_addr().unwrap().as_socket().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        link.watch(local, target);
        link.settle().unwrap();
        let (mut server, _) = listener
            .accept()
            .expect("the handshake is done once settled");
        server.set_nonblocking(true).unwrap();
        let mut client: TcpStream = socket.into();
        link.set_delay_for_test(Duration::from_millis(20));
        client.write_all(b"abc").unwrap();
        link.settle().unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(
            server.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "the data is 20 ms away"
        );
        link.advance(Duration::from_millis(20)).unwrap();
        assert_eq!(
            server.read(&mut buf).unwrap(),
            3,
            "delivered at 20 ms, no real wait"
        );
        let log = link.log();
        let kinds: Vec<String> = log
            .iter()
            .map(|s| format!("{:?} {} len {} {:?}", s.from, s.flags, s.len, s.fate))
            .collect();
        eprintln!("{kinds:#?}");
        assert!(
            log.iter()
                .any(|s| s.len == 3 && s.fate == Fate::Delivered(Duration::from_millis(20)))
        );
    }
}
