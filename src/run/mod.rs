//! The runner: scenarios on real loopback sockets, one fresh connection each.
//!
//! Two backends drive the same schedule: [`Backend::Std`] (std::net, every syscall
//! non-blocking) and [`Backend::Tokio`] (`tokio::net::TcpStream`'s `try_read`/`try_write`).
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
//!
//! Socket buffers are fixed (`SO_RCVBUF`/`SO_SNDBUF` of [`SOCKET_BUFFER`] before connect, which
//! also turns auto-tuning off), and Nagle is off, so that within the language's bounds every
//! write is accepted whole and sent at once.

mod std_backend;
mod tokio_backend;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use serde::Serialize;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use thiserror::Error;

use crate::outcome::Outcome;
use crate::scenario::{Actor, Scenario};
use crate::sys::{self, DiagSocket, SockDiag, TcpInfo};
use crate::tcp::TcpState;

/// The `SO_RCVBUF` and `SO_SNDBUF` asked for on both sockets. Linux doubles the value and caps
/// it at `net.core.{r,w}mem_max` (212 992 by default), which is still more than three times the
/// language's bound of 64 KiB per direction.
pub const SOCKET_BUFFER: usize = 1 << 20;

/// Which socket API drives the scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `std::net::TcpStream`, non-blocking.
    #[default]
    Std,
    /// `tokio::net::TcpStream` on a current-thread runtime.
    Tokio,
}

impl Backend {
    /// Both backends.
    pub const ALL: [Backend; 2] = [Backend::Std, Backend::Tokio];
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Std => "std",
            Backend::Tokio => "tokio",
        })
    }
}

/// How the runner behaves.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How long to wait for quiescence after a step before giving up.
    pub settle_timeout: Duration,
    /// Spread connections over `127.<first>.x.y` source addresses so that TIME_WAIT stubs never
    /// exhaust a port range; `None` connects from 127.0.0.1.
    pub source_range: Option<u8>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            settle_timeout: Duration::from_secs(2),
            source_range: Some(1),
        }
    }
}

/// What the kernel answered to one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedStep {
    /// The syscall's result.
    pub outcome: Outcome,
    /// The TCP state of each socket still held, once settled (client, server).
    pub states: [Option<TcpState>; 2],
    /// Something the backend's API showed that the raw syscall would not have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A wait for quiescence that ran out of time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Timeout {
    /// How long the runner waited.
    pub waited: Duration,
    /// What the kernel showed last.
    pub last_seen: String,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the connection was not quiescent after {:?}: {}",
            self.waited, self.last_seen
        )
    }
}

/// A scenario's run on real sockets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// The backend that ran it.
    pub backend: Backend,
    /// One entry per step run; shorter than the scenario only when `timeout` is set.
    pub steps: Vec<ObservedStep>,
    /// Set when a wait for quiescence timed out after the last step in `steps`.
    pub timeout: Option<Timeout>,
    /// The client's address (its source address and ephemeral port).
    pub client: SocketAddr,
    /// The server's address (the listener's).
    pub server: SocketAddr,
}

/// A run that could not take place: the connection could not be set up.
#[derive(Debug, Error)]
pub enum RunError {
    /// A socket call failed while setting up or tearing down the connection.
    #[error("{what}: {source}")]
    Io {
        /// What the runner was doing.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The fresh connection did not settle.
    #[error("setting up the connection: {0}")]
    Setup(Timeout),
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> RunError {
    move |source| RunError::Io { what, source }
}

/// Runs scenarios, one fresh loopback connection each. Keep one per thread and reuse it: it
/// holds the listener, the netlink socket, the buffers and (for tokio) the runtime.
///
/// Do not fork (or spawn a child process) in another thread while a scenario runs: until the
/// child calls exec it holds copies of the scenario's sockets, so a `close` or `abort` sends
/// nothing and the run records what such a half-closed descriptor does, not what the scenario
/// says. The tests that start child processes run their scenarios serially for that reason.
///
/// ```
/// use rstlab::run::{Backend, Runner};
/// use rstlab::{Errno, Outcome, Scenario};
/// let mut runner = Runner::new(Backend::Std).unwrap();
/// let seed: Scenario = "client write 1; server read 1; server close; client write 1; client write 1"
///     .parse()
///     .unwrap();
/// let trace = runner.run(&seed).unwrap();
/// assert_eq!(trace.steps[4].outcome, Outcome::Err(Errno::EPIPE));
/// ```
pub struct Runner {
    backend: Backend,
    options: RunOptions,
    listener: TcpListener,
    /// The listener's address, read once.
    target: SocketAddr,
    settler: Settler,
    buffer: Vec<u8>,
    connections: u64,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Runner {
    /// A runner with the default options.
    pub fn new(backend: Backend) -> Result<Runner, RunError> {
        Runner::with_options(backend, RunOptions::default())
    }

    /// A runner with `options`.
    pub fn with_options(backend: Backend, options: RunOptions) -> Result<Runner, RunError> {
        let listener = listen().map_err(io_err("creating the listener"))?;
        let target = listener.local_addr().map_err(io_err("listener address"))?;
        let diag = SockDiag::open().map_err(io_err("opening sock_diag"))?;
        let runtime = match backend {
            Backend::Std => None,
            Backend::Tokio => Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                    .map_err(io_err("starting the tokio runtime"))?,
            ),
        };
        Ok(Runner {
            backend,
            settler: Settler {
                diag,
                timeout: options.settle_timeout,
                addresses: [None; 2],
            },
            options,
            listener,
            target,
            buffer: vec![b'x'; crate::scenario::bounds::MAX_IO],
            connections: 0,
            runtime,
        })
    }

    /// The backend this runner drives.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `scenario` on a fresh connection and records what the kernel answered.
    pub fn run(&mut self, scenario: &Scenario) -> Result<Trace, RunError> {
        let (client, server) = self.connect()?;
        let settled = self
            .settler
            .settle([Some(client.as_fd()), Some(server.as_fd())]);
        if let Err(timeout) = settled {
            abort_all([Some(client), Some(server)]);
            return Err(RunError::Setup(timeout));
        }
        let [Some((client_addr, server_addr)), _] = self.settler.addresses else {
            unreachable!("connect() records the addresses");
        };
        let mut trace = Trace {
            backend: self.backend,
            steps: Vec::with_capacity(scenario.steps().len()),
            timeout: None,
            client: client_addr,
            server: server_addr,
        };
        match self.backend {
            Backend::Std => std_backend::run(
                scenario,
                [client, server],
                &mut self.settler,
                &mut self.buffer,
                &mut trace,
            ),
            Backend::Tokio => {
                let runtime = self.runtime.as_ref().expect("tokio runner has a runtime");
                tokio_backend::run(
                    runtime,
                    scenario,
                    [client, server],
                    &mut self.settler,
                    &mut self.buffer,
                    &mut trace,
                )?
            }
        }
        Ok(trace)
    }

    /// A fresh, established connection: (client, server), both non-blocking.
    fn connect(&mut self) -> Result<(TcpStream, TcpStream), RunError> {
        let target = self.target;
        let socket = new_socket().map_err(io_err("creating the client socket"))?;
        if let Some(first) = self.options.source_range {
            let source = source_address(first, self.connections);
            sys::set_bind_address_no_port(&socket)
                .and_then(|()| socket.bind(&SocketAddr::new(source, 0).into()))
                .map_err(io_err("binding the client to its source address"))?;
        }
        self.connections += 1;
        socket
            .connect(&target.into())
            .map_err(io_err("connecting"))?;
        let client: TcpStream = socket.into();
        let client_addr = client.local_addr().map_err(io_err("client address"))?;
        let deadline = Instant::now() + self.options.settle_timeout;
        let server = loop {
            match self.listener.accept() {
                // A connection left from an earlier, failed run is not ours: drop it.
                Ok((server, peer)) if peer == client_addr => break server,
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
        for s in [&client, &server] {
            s.set_nodelay(true).map_err(io_err("setting TCP_NODELAY"))?;
            s.set_nonblocking(true)
                .map_err(io_err("setting O_NONBLOCK"))?;
        }
        self.settler.addresses = [Some((client_addr, target)), Some((target, client_addr))];
        Ok((client, server))
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

fn new_socket() -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM.cloexec(), Some(Protocol::TCP))?;
    // Fixed sizes, set before the handshake so the window scale matches, turn auto-tuning off.
    socket.set_recv_buffer_size(SOCKET_BUFFER)?;
    socket.set_send_buffer_size(SOCKET_BUFFER)?;
    Ok(socket)
}

fn listen() -> io::Result<TcpListener> {
    let socket = new_socket()?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    socket.listen(128)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Ends every socket still open with an RST, so that nothing lingers in the kernel.
fn abort_all<S: AsFd>(sockets: [Option<S>; 2]) {
    for socket in sockets.into_iter().flatten() {
        // Best effort: a socket that cannot take SO_LINGER is closed all the same.
        let _ = SockRef::from(&socket).set_linger(Some(Duration::ZERO));
        drop(socket);
    }
}

/// Decides, from the kernel alone, when a connection is quiescent.
struct Settler {
    diag: SockDiag,
    timeout: Duration,
    /// (local, remote) of each actor's socket, for finding it after the application closed it.
    addresses: [Option<(SocketAddr, SocketAddr)>; 2],
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
}

impl View {
    fn state(self) -> Option<TcpState> {
        match self {
            View::Open(info) => Some(info.state),
            View::Orphan(diag) => Some(diag.state),
            View::Gone => None,
        }
    }

    fn send_queue_empty(self) -> bool {
        match self {
            View::Open(info) => info.send_queue_empty(),
            View::Orphan(diag) => diag.write_queue == 0,
            View::Gone => true,
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
        }
    }
}

fn quiescent(views: [View; 2]) -> bool {
    let [a, b] = views;
    let over = |v: View| v.state().is_none() || v.state() == Some(TcpState::Close);
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

    fn views(&mut self, open: &[Option<BorrowedFd<'_>>; 2]) -> [View; 2] {
        let mut views = [View::Gone; 2];
        for actor in Actor::BOTH {
            let i = actor.index();
            views[i] = match open[i] {
                Some(fd) => match sys::tcp_info(&fd) {
                    Ok(info) => View::Open(info),
                    Err(_) => View::Gone,
                },
                None => match self.addresses[i] {
                    Some((local, remote)) => match self.diag.lookup(local, remote) {
                        Ok(Some(found)) => View::Orphan(found),
                        Ok(None) | Err(_) => View::Gone,
                    },
                    None => View::Gone,
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
