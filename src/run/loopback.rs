//! Loopback: both sockets in this namespace, on 127.0.0.0/8 (or on `::1`, [`Family::V6`]);
//! quiescence read from the kernel.
//!
//! Between steps the runner waits until the connection is *quiescent*: every segment a step
//! caused, and every answer to it, has been delivered and processed. It decides that from the
//! kernel alone, never from the oracle:
//! - a socket the application holds is read with `TCP_INFO` (state, unacknowledged segments,
//!   unsent bytes);
//! - a socket it has closed is found with sock_diag, which sees orphans and TIME_WAIT stubs;
//! - quiescent means: no socket in a transient state (FIN_WAIT1, LAST_ACK, CLOSING, SYN_*), no
//!   unacknowledged byte or FIN in a live state, and when one end is closed or gone the other is
//!   too (so an RST in flight is waited for).
//!
//! A receiver may delay its ACK by 40 ms or more; the runner then sets `TCP_QUICKACK`, which
//! sends a scheduled ACK at once and changes no outcome. Every wait has a deadline; a wait that
//! times out is recorded in the trace and reported as such, never as agreement.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use socket2::{SockRef, Type};

use super::{Family, RunError, Timeout, accept, io_err, new_socket};
use crate::scenario::End;
use crate::sys::{self, DiagSocket, SockDiag, TcpInfo};
use crate::tcp::TcpState;

/// The loopback network of one runner: its listener, its netlink socket, its source addresses.
pub(super) struct Loopback {
    listener: TcpListener,
    /// The listener's address, read once.
    target: SocketAddr,
    settler: Settler,
    source_range: Option<u8>,
    family: Family,
    timeout: Duration,
    connections: u64,
}

impl Loopback {
    pub(super) fn new(
        family: Family,
        source_range: Option<u8>,
        timeout: Duration,
    ) -> Result<Loopback, RunError> {
        let listener = listen(family).map_err(io_err("creating the listener"))?;
        let target = listener.local_addr().map_err(io_err("listener address"))?;
        let diag = SockDiag::open().map_err(io_err("opening sock_diag"))?;
        Ok(Loopback {
            listener,
            target,
            settler: Settler {
                diag,
                timeout,
                addresses: [None; 2],
                frozen: [None; 2],
            },
            source_range: source_range.filter(|_| family == Family::V4),
            family,
            timeout,
            connections: 0,
        })
    }

    /// A fresh, established connection: (client, server), and their addresses.
    ///
    /// It is quiescent once accepted: the listener queues the server's socket when it has
    /// processed the client's ACK, the last segment of the handshake, which the client sent in
    /// ESTABLISHED; nothing else is in flight. So the runner reads nothing before the first
    /// step ([`super::Network::setup_settle`]).
    pub(super) fn connect(&mut self) -> Result<([TcpStream; 2], [SocketAddr; 2]), RunError> {
        let target = self.target;
        // Non-blocking from the start: on loopback the handshake is carried out within
        // `connect` (the SYN-ACK is processed when it releases the socket), and the accept loop
        // below waits for it in any case.
        let socket = new_socket(localhost(self.family), Type::STREAM.nonblocking())
            .map_err(io_err("creating the client socket"))?;
        let source = self.source_range.map(|first| {
            let source = source_address(first, self.connections);
            sys::set_bind_address_no_port(&socket)
                .and_then(|()| socket.bind(&SocketAddr::new(source, 0).into()))
                .map(|()| source)
                .map_err(io_err("binding the client to its source address"))
        });
        let source = source.transpose()?;
        self.connections += 1;
        match socket.connect(&target.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(io_err("connecting")(e)),
        }
        let client: TcpStream = socket.into();
        // A source address of its own names the connection: its port is the accepted peer's
        // (one call fewer). From 127.0.0.1 or ::1 the port must be asked for.
        let ours = match source {
            Some(ip) => Ours::From(ip),
            None => Ours::Exactly(client.local_addr().map_err(io_err("client address"))?),
        };
        let deadline = Instant::now() + self.timeout;
        let (server, client_addr) = loop {
            match accept(&self.listener) {
                // A connection left from an earlier, failed run is not ours: drop it. (It
                // came from an earlier source address: one is used again only after 64,516
                // connections, and every run empties the queue up to its own.)
                Ok((server, peer)) if ours.is(peer) => break (server, peer),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::yield_now()
                }
                Err(e) => {
                    return Err(RunError::Io {
                        what: "accepting",
                        source: e,
                    });
                }
            }
        };
        self.settler.addresses = [Some((client_addr, target)), Some((target, client_addr))];
        self.settler.frozen = [None; 2];
        Ok(([client, server], [client_addr, target]))
    }

    /// `end`'s socket was forgotten (`reboot`): it went without a word on the wire, which
    /// quiescence must not wait for.
    pub(super) fn forgot(&mut self, end: End) {
        self.settler.frozen[end.index()] = Some(View::Forgotten);
    }

    /// Waits until the connection is quiescent; returns the TCP state of each open socket.
    pub(super) fn settle(
        &mut self,
        open: [Option<BorrowedFd<'_>>; 2],
    ) -> Result<[Option<TcpState>; 2], Timeout> {
        self.settler.settle(open)
    }
}

/// How the runner knows its connection in the listener's queue.
#[derive(Clone, Copy)]
enum Ours {
    /// By its source address, used by no other connection in the queue.
    From(IpAddr),
    /// By its address and port.
    Exactly(SocketAddr),
}

impl Ours {
    fn is(self, peer: SocketAddr) -> bool {
        match self {
            Ours::From(ip) => peer.ip() == ip,
            Ours::Exactly(addr) => peer == addr,
        }
    }
}

/// The source address for connection number `n`: 127.first.x.y, never .0 or .255 in the last
/// two octets, cycling through 254 × 254 addresses.
fn source_address(first: u8, n: u64) -> IpAddr {
    let n = n % (254 * 254);
    IpAddr::V4(Ipv4Addr::new(
        127,
        first,
        (n / 254) as u8 + 1,
        (n % 254) as u8 + 1,
    ))
}

/// The loopback address of `family`.
fn localhost(family: Family) -> IpAddr {
    match family {
        Family::V4 => Ipv4Addr::LOCALHOST.into(),
        Family::V6 => Ipv6Addr::LOCALHOST.into(),
    }
}

fn listen(family: Family) -> io::Result<TcpListener> {
    let ip = localhost(family);
    let socket = new_socket(ip, Type::STREAM)?;
    if family == Family::V6 {
        socket.set_only_v6(true)?;
    }
    socket.bind(&SocketAddr::new(ip, 0).into())?;
    socket.listen(128)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Decides, from the kernel alone, when a connection is quiescent.
struct Settler {
    diag: SockDiag,
    timeout: Duration,
    /// (local, remote) of each actor's socket, for finding it after the application closed it.
    addresses: [Option<(SocketAddr, SocketAddr)>; 2],
    /// What a closed socket shows for the rest of the scenario, once nothing can change it
    /// ([`Settler::freeze`]): no more sock_diag lookups for it.
    frozen: [Option<View>; 2],
}

/// One end of the connection, as the kernel shows it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    /// A socket the application holds.
    Open(TcpInfo),
    /// A socket the application closed and the kernel still keeps.
    Orphan(DiagSocket),
    /// No socket.
    Gone,
    /// No socket, and none went away with a word on the wire: the host `reboot`ed. Unlike
    /// [`View::Gone`], no RST of this end can be in flight, so the other end may stay as it is.
    Forgotten,
}

impl View {
    fn state(self) -> Option<TcpState> {
        match self {
            View::Open(info) => Some(info.state),
            View::Orphan(diag) => Some(diag.state),
            View::Gone | View::Forgotten => None,
        }
    }

    fn send_queue_empty(self) -> bool {
        match self {
            View::Open(info) => info.send_queue_empty(),
            View::Orphan(diag) => diag.write_queue == 0,
            View::Gone | View::Forgotten => true,
        }
    }

    /// The peer's FIN has been processed here.
    fn received_fin(self) -> bool {
        matches!(
            self.state(),
            Some(TcpState::CloseWait | TcpState::LastAck | TcpState::Closing | TcpState::TimeWait)
        )
    }

    /// Every payload byte this open socket sent has been processed by the open `peer`.
    fn data_received_by(self, peer: View) -> bool {
        match (self, peer) {
            (View::Open(me), View::Open(them)) => {
                me.notsent_bytes == 0 && me.bytes_sent == them.bytes_received
            }
            _ => false,
        }
    }

    /// Settled on its own, given what `peer` shows: nothing it sent is still unprocessed.
    ///
    /// What was sent counts as processed once it is acknowledged, or once the peer shows it
    /// without having acknowledged it yet: the peer's in-order byte count matches, or the peer
    /// is past our FIN (CLOSE_WAIT and after; a FIN comes after every byte). Linux delays ACKs
    /// (`tcp_fin()` even enters pingpong mode), `TCP_QUICKACK` cannot force one while anything
    /// sits unread in the receive queue, and a pure ACK changes no outcome.
    fn settled(self, peer: View) -> bool {
        let processed = self.send_queue_empty() || self.data_received_by(peer);
        match self.state() {
            None | Some(TcpState::TimeWait | TcpState::Close) => true,
            Some(TcpState::Established | TcpState::CloseWait | TcpState::FinWait2) => processed,
            Some(TcpState::FinWait1 | TcpState::LastAck | TcpState::Closing) => {
                self.send_queue_empty() || peer.received_fin()
            }
            Some(_) => false,
        }
    }

    /// The connection is over at this end.
    fn finished(self) -> bool {
        matches!(
            self.state(),
            None | Some(TcpState::Close | TcpState::TimeWait)
        )
    }

    fn describe(self) -> String {
        match self {
            View::Open(i) => format!(
                "open {} ({} unacked, {} unsent)",
                i.state, i.unacked, i.notsent_bytes
            ),
            View::Orphan(d) => format!(
                "closed, kernel {} ({} in write queue)",
                d.state, d.write_queue
            ),
            View::Gone => "gone".to_string(),
            View::Forgotten => "forgotten (rebooted)".to_string(),
        }
    }
}

fn quiescent(views: [View; 2]) -> bool {
    let [a, b] = views;
    // An end that is over sent an RST (or answered one); a forgotten end sent nothing.
    let over = |v: View| {
        v != View::Forgotten && (v.state().is_none() || v.state() == Some(TcpState::Close))
    };
    let reset_in_flight = (over(a) && !b.finished()) || (over(b) && !a.finished());
    a.settled(b) && b.settled(a) && !reset_in_flight
}

impl Settler {
    /// Waits until the connection is quiescent; returns the TCP state of each open socket.
    fn settle(
        &mut self,
        open: [Option<BorrowedFd<'_>>; 2],
    ) -> Result<[Option<TcpState>; 2], Timeout> {
        if open.iter().all(Option::is_none) {
            // Nothing the application holds can observe anything any more.
            return Ok([None, None]);
        }
        let start = Instant::now();
        let mut flushed = false;
        let mut round = 0u32;
        loop {
            let views = self.views(&open);
            if quiescent(views) {
                self.freeze(&open, views);
                return Ok(views.map(|v| match v {
                    View::Open(info) => Some(info.state),
                    _ => None,
                }));
            }
            if !flushed {
                // A delayed ACK is the usual reason to wait: ask for it now.
                for fd in open.iter().flatten() {
                    let _ = SockRef::from(fd).set_tcp_quickack(true);
                }
                flushed = true;
                continue;
            }
            let waited = start.elapsed();
            if waited >= self.timeout {
                return Err(Timeout {
                    waited,
                    last_seen: format!(
                        "client {}; server {}",
                        views[0].describe(),
                        views[1].describe()
                    ),
                });
            }
            round += 1;
            if round < 64 {
                std::thread::yield_now();
            } else {
                let pause = Duration::from_micros(10u64 << (round - 64).min(7));
                std::thread::sleep(pause);
                if round % 16 == 0 {
                    flushed = false;
                }
            }
        }
    }

    /// Keeps what a closed socket shows once nothing can change it: it is gone or a TIME_WAIT
    /// stub, and the socket still open is in CLOSE. A socket in CLOSE sends nothing whatever
    /// the application does with it (a write fails with EPIPE, a close or an abort finds
    /// nothing to send), so nothing reaches the closed one any more, and neither a TIME_WAIT
    /// stub's timer (60 s) nor anything else of a gone socket runs within a scenario. (A
    /// lookup can miss a socket that is becoming a TIME_WAIT stub, see [`Settler::views`]:
    /// gone and TIME_WAIT lead to the same decisions while the other end is in CLOSE.) Most
    /// scenarios that close one end and reset the other end there, and each later step spared
    /// its lookup.
    fn freeze(&mut self, open: &[Option<BorrowedFd<'_>>; 2], views: [View; 2]) {
        for closed in 0..2 {
            let other = 1 - closed;
            let still = matches!(
                views[closed],
                View::Gone
                    | View::Orphan(DiagSocket {
                        state: TcpState::TimeWait,
                        ..
                    })
            );
            if open[closed].is_none()
                && open[other].is_some()
                && still
                && views[other].state() == Some(TcpState::Close)
            {
                self.frozen[closed] = Some(views[closed]);
            }
        }
    }

    fn views(&mut self, open: &[Option<BorrowedFd<'_>>; 2]) -> [View; 2] {
        let mut views = [View::Gone; 2];
        for actor in End::BOTH {
            let i = actor.index();
            views[i] = match open[i] {
                Some(fd) => match sys::tcp_info(&fd) {
                    Ok(info) => View::Open(info),
                    Err(_) => View::Gone,
                },
                None => match (self.frozen[i], self.addresses[i]) {
                    (Some(frozen), _) => frozen,
                    (None, Some((local, remote))) => match self.diag.lookup(local, remote) {
                        Ok(Some(found)) => View::Orphan(found),
                        // Not cached when gone (unless frozen, see `freeze`): a lookup can miss
                        // a socket for an instant, while the kernel swaps an orphan for its
                        // TIME_WAIT stub (the stub enters the hash chain before the socket
                        // leaves it, and a lookup already past the chain's head sees neither).
                        Ok(None) | Err(_) => View::Gone,
                    },
                    (None, None) => View::Gone,
                },
            };
        }
        views
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_stay_in_loopback_and_avoid_network_and_broadcast_octets() {
        for n in [0, 1, 253, 254, 254 * 254 - 1, 254 * 254, u64::MAX] {
            let IpAddr::V4(ip) = source_address(1, n) else {
                unreachable!()
            };
            assert!(ip.is_loopback());
            let [_, _, c, d] = ip.octets();
            assert!((1..=254).contains(&c) && (1..=254).contains(&d), "{ip}");
        }
    }

    fn info(state: TcpState, unacked: u32) -> TcpInfo {
        TcpInfo {
            state,
            unacked,
            notsent_bytes: 0,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    #[test]
    fn an_rst_in_flight_is_not_quiescent() {
        let established = View::Open(info(TcpState::Established, 0));
        assert!(!quiescent([established, View::Gone]));
        assert!(quiescent([established, established]));
        let reset = View::Open(info(TcpState::Close, 1));
        assert!(quiescent([reset, View::Gone]));
        // A rebooted end sent nothing: the other end, open and idle, has nothing to wait for.
        assert!(quiescent([established, View::Forgotten]));
    }

    #[test]
    fn a_fin_shown_by_the_peer_needs_no_ack() {
        let fin_sent = View::Orphan(DiagSocket {
            state: TcpState::FinWait1,
            write_queue: 1,
        });
        assert!(quiescent([
            fin_sent,
            View::Open(info(TcpState::CloseWait, 0))
        ]));
        assert!(!quiescent([
            fin_sent,
            View::Open(info(TcpState::Established, 0))
        ]));
    }

    #[test]
    fn data_shown_by_the_peer_needs_no_ack() {
        let mut sender = info(TcpState::Established, 1);
        sender.bytes_sent = 5;
        let mut receiver = info(TcpState::Established, 0);
        receiver.bytes_received = 4;
        assert!(!quiescent([View::Open(sender), View::Open(receiver)]));
        receiver.bytes_received = 5;
        assert!(quiescent([View::Open(sender), View::Open(receiver)]));
    }
}
