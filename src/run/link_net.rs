//! The emulated link as the runner's network: the client socket in one namespace, the listener
//! in the other, every packet carried by [`Link`]. Quiescence is exact here: the link settles
//! when nothing is left to read from either device and nothing is due.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use socket2::{Socket, Type};

use super::{RunError, accept, io_err, new_socket};
use crate::net::link::{Clock, Link, LinkError, WireSegment};
use crate::net::segment_log::Packet;
use crate::scenario::{End, LinkOp};
use crate::sys;
use crate::tcp::TcpState;

/// How many client sockets the link makes at a time: a socket lives in the namespace of the
/// thread that makes it, so the runner's thread enters the client's namespace to make one and
/// returns, two setns(2) that cost as much as a few steps. Made ten at a time, a connection
/// takes one made ahead (an unbound socket holds no port and no connection). A runner on the
/// link therefore holds up to this many more descriptors between scenarios.
pub const LINK_CLIENT_BATCH: usize = 10;

/// How many source addresses a connection tries before the runner gives up.
const CONNECT_ATTEMPTS: u32 = 3;

/// One runner's link: the namespaces, the devices and the listener; reused for every scenario.
pub(super) struct LinkNet {
    link: Link,
    listener: TcpListener,
    target: SocketAddrV4,
    connections: u64,
    /// Client sockets made ahead, not yet bound: made in batches ([`LinkNet::make_clients`]).
    spare: Vec<Socket>,
    /// Nothing is left to deliver: set by what ends with a settle of its own (the handshake,
    /// `sleep`, a `link` step), taken by the runner's next [`LinkNet::settle`], which then only
    /// reads the states. Every socket call comes between two of the runner's settles, so a
    /// segment it sends is never left behind.
    settled: bool,
    /// Each side's socket made a call since the last settle that may send or change its
    /// state: when one side alone did, the next settle reads that side's device alone
    /// ([`Link::settle_from`]).
    acted: [bool; 2],
    /// The state each socket was in at the last settle, while it is known to be so: a socket
    /// that made no call and to which nothing was delivered since is in the same state, and
    /// is not asked again (in virtual time no kernel timer changes a state; [`Clock::Virtual`]).
    ///
    /// [`Clock::Virtual`]: crate::net::link::Clock::Virtual
    known: [Option<Option<TcpState>>; 2],
    /// The link's clock: on [`Clock::Real`] (the kernel's own time in the lane) the kernels'
    /// timers run while the link's clock follows the real one, so no state is known without
    /// asking, and a sleep passes in lock-step ([`Link::advance_real`]).
    clock: Clock,
}

impl From<LinkError> for RunError {
    fn from(e: LinkError) -> RunError {
        RunError::Link(e)
    }
}

impl LinkNet {
    /// The link, keeping every packet for a capture when `capture` is set.
    pub(super) fn new(capture: bool, clock: Clock) -> Result<LinkNet, RunError> {
        let mut link = Link::with_clock(clock)?;
        if capture {
            link.capture();
        }
        let listener = {
            let _inside = link
                .enter(End::Server)
                .map_err(io_err("entering the server's namespace"))?;
            let socket = new_socket(Link::address(End::Server).into(), Type::STREAM)
                .map_err(io_err("creating the listener"))?;
            socket
                .bind(&SocketAddr::new(Link::address(End::Server).into(), listener_port()).into())
                .and_then(|()| socket.listen(128))
                .and_then(|()| socket.set_nonblocking(true))
                .map_err(io_err("listening on the link"))?;
            TcpListener::from(socket)
        };
        let target = match listener.local_addr().map_err(io_err("listener address"))? {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!("the listener is bound to an IPv4 address"),
        };
        Ok(LinkNet {
            link,
            listener,
            target,
            connections: 0,
            spare: Vec::with_capacity(LINK_CLIENT_BATCH),
            settled: false,
            acted: [false; 2],
            known: [None; 2],
            clock,
        })
    }

    /// A fresh connection across the link at zero delay: (client, server). The handshake is
    /// carried synchronously, so the listener has the connection when the link settles.
    pub(super) fn connect(&mut self) -> Result<([TcpStream; 2], [SocketAddr; 2]), RunError> {
        // A new connection's 4-tuple can meet a socket an earlier scenario left on the server's
        // side (TIME_WAIT, or a connection whose handshake completed after its scenario gave
        // up on it), which answers the SYN with an ACK: then the client's kernel resets, and
        // the next source address is tried.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_connect() {
                Err(RunError::Handshake { .. }) if attempt < CONNECT_ATTEMPTS => {
                    self.link.reset()?;
                }
                other => return other,
            }
        }
    }

    fn try_connect(&mut self) -> Result<([TcpStream; 2], [SocketAddr; 2]), RunError> {
        let client = match self.spare.pop() {
            Some(client) => client,
            None => {
                self.make_clients()?;
                self.spare.pop().expect("made just now")
            }
        };
        let local = SocketAddrV4::new(
            Link::client_source(self.connections),
            Link::client_port(self.connections),
        );
        self.connections += 1;
        client
            .bind(&SocketAddr::V4(local).into())
            .map_err(io_err("binding the client to its source address"))?;
        match client.connect(&SocketAddr::V4(self.target).into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(io_err("connecting across the link")(e)),
        }
        self.link.watch(local, self.target);
        self.link.settle()?;
        let server = loop {
            match accept(&self.listener) {
                Ok((server, peer)) if peer == SocketAddr::V4(local) => break server,
                // A connection an earlier, failed handshake left in the queue: not ours.
                Ok((stale, _)) => {
                    let _ = socket2::SockRef::from(&stale).set_linger(Some(Duration::ZERO));
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Leave nothing of the failed attempt behind.
                    let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
                    let seen: Vec<String> = self
                        .link
                        .log()
                        .iter()
                        .map(|s| format!("{} {} seq {} ack {}", s.from, s.flags, s.seq, s.ack))
                        .collect();
                    return Err(RunError::Handshake {
                        client: SocketAddr::V4(local),
                        seen: seen.join(", "),
                    });
                }
                Err(e) => return Err(io_err("accepting")(e)),
            }
        };
        // The handshake is not part of the scenario's wire trace (the sequence numbers stay
        // relative to its SYNs).
        self.link.take_log();
        // The link settled before the accept, which sends nothing.
        self.settled = true;
        Ok((
            [client.into(), server],
            [SocketAddr::V4(local), SocketAddr::V4(self.target)],
        ))
    }

    /// Makes the next [`LINK_CLIENT_BATCH`] client sockets, in one visit to the client's
    /// namespace.
    fn make_clients(&mut self) -> Result<(), RunError> {
        let _inside = self
            .link
            .enter(End::Client)
            .map_err(io_err("entering the client's namespace"))?;
        for _ in 0..LINK_CLIENT_BATCH {
            let client = new_socket(
                Link::address(End::Client).into(),
                Type::STREAM.nonblocking(),
            )
            .map_err(io_err("creating the client socket"))?;
            self.spare.push(client);
        }
        Ok(())
    }

    /// Delivers everything due now; returns the TCP state of each open socket.
    pub(super) fn settle(
        &mut self,
        open: [Option<BorrowedFd<'_>>; 2],
    ) -> Result<[Option<TcpState>; 2], RunError> {
        let acted = std::mem::take(&mut self.acted);
        // On the real clock either kernel's timers may have sent since: both devices are read.
        let settled = std::mem::take(&mut self.settled) && self.clock == Clock::Virtual;
        if self.clock == Clock::Real {
            self.link.settle()?;
        } else if !settled {
            match acted {
                [true, false] => self.link.settle_from(End::Client)?,
                [false, true] => self.link.settle_from(End::Server)?,
                _ => self.link.settle()?,
            }
        }
        let delivered = self.link.take_delivered();
        let mut states = [None; 2];
        for (i, fd) in open.into_iter().enumerate() {
            let Some(fd) = fd else {
                self.known[i] = None;
                continue;
            };
            states[i] = match self.known[i] {
                Some(state) if !acted[i] && !delivered[i] && self.clock == Clock::Virtual => state,
                _ => sys::tcp_info(&fd).ok().map(|info| info.state),
            };
            self.known[i] = Some(states[i]);
        }
        Ok(states)
    }

    /// Before the first step: the handshake's settle is enough (nothing sent since), and the
    /// states it would read are not part of the trace.
    pub(super) fn setup_settle(&mut self) -> Result<(), RunError> {
        if !std::mem::take(&mut self.settled) {
            self.link.settle()?;
        }
        Ok(())
    }

    /// A socket call of `side`'s that may send: the next settle reads `side`'s device alone
    /// when no call of the other side's came since the last settle.
    pub(super) fn sent_from(&mut self, side: End) {
        self.acted[side.index()] = true;
    }

    /// The socket call since the last settle sent nothing (`poll`, `error`): the link is as
    /// that settle left it, so reading both devices again would only find them empty.
    pub(super) fn nothing_sent(&mut self) {
        // Taken on the virtual clock only ([`LinkNet::settle`]).
        self.settled = true;
    }

    /// `sleep D`: the link's virtual clock moves on by D.
    pub(super) fn sleep(&mut self, d: Duration) -> Result<(), RunError> {
        // Settled after the last step, and nothing sent since; `advance_settled` ends with a
        // settle.
        match self.clock {
            Clock::Virtual => {
                self.link.advance_settled(d)?;
                self.settled = true;
            }
            // A timer may send between the sleep's end and the next call: read again.
            Clock::Real => self.link.advance_real(d)?,
        }
        Ok(())
    }

    /// A `link` step.
    pub(super) fn apply(&mut self, op: LinkOp) -> Result<(), RunError> {
        // Settled after the last step, and nothing sent since; `apply_settled` ends with a
        // settle.
        self.link.apply_settled(op)?;
        self.settled = true;
        Ok(())
    }

    /// Names what happens next, for a capture's packets.
    pub(super) fn note(&mut self, note: impl FnOnce() -> String) {
        self.link.note(note);
    }

    /// The packets captured so far.
    pub(super) fn take_packets(&mut self) -> Vec<Packet> {
        self.link.take_packets()
    }

    /// The wire trace of the scenario so far.
    pub(super) fn take_log(&mut self) -> Vec<WireSegment> {
        self.link.take_log()
    }

    /// The link's virtual clock.
    pub(super) fn now(&self) -> Duration {
        self.link.now()
    }

    /// How many segments the wire trace holds now.
    pub(super) fn logged(&self) -> usize {
        self.link.log().len()
    }

    /// After the sockets are ended: carries everything left across, so nothing of this
    /// scenario lingers, and starts the wire afresh. When `gone` (no socket of the connection
    /// left, no orphan), what is left on the wire is dropped instead ([`Link::reset_gone`]).
    pub(super) fn reset(&mut self, gone: bool) -> Result<(), RunError> {
        self.settled = false;
        self.acted = [false; 2];
        self.known = [None; 2];
        if gone {
            Ok(self.link.reset_gone()?)
        } else {
            Ok(self.link.reset()?)
        }
    }
}

/// The port of a link's listener: another for each link of this process, and unlike other
/// processes' (it starts from the process id). Every link has the same addresses in namespaces
/// of its own, and the kernel's RST reasons ([`crate::reasons::log`]) tell one listener's
/// answers from another's only by address and port. Below the ephemeral range, so that no
/// client in the namespace can hold it; the namespace is new, so nothing else can.
fn listener_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 10_000;
    const PORTS: u32 = 20_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (FIRST + (std::process::id().wrapping_mul(7919).wrapping_add(n)) % PORTS) as u16
}
