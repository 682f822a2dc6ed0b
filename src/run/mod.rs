//! The runner: scenarios on real sockets, one fresh connection each.
//!
//! Two seams, one step loop ([`Runner::run`]):
//! - the **network** ([`Net`]): [`Net::Loopback`] (both sockets on 127.0.0.0/8 in this
//!   namespace; quiescence read from the kernel with `TCP_INFO` and sock_diag, see `loopback.rs`)
//!   or [`Net::Link`] (the emulated link of [`crate::net::link`]: two namespaces, every packet carried
//!   by rstlab on a wire with a virtual clock; quiescence is exact, and the wire is recorded);
//! - the **socket API** ([`Backend`]): [`Backend::Std`] (std::net, every syscall non-blocking)
//!   or [`Backend::Tokio`] (`tokio::net::TcpStream`'s `try_read`/`try_write`).
//!
//! After every step the network settles: every segment the step caused, and every answer to it,
//! has been delivered and processed (on the link: everything due by the virtual clock). `sleep`
//! belongs to the network: a real pause on loopback, virtual time on the link; `link` steps too.
//!
//! Socket buffers are fixed (`SO_RCVBUF`/`SO_SNDBUF` of [`SOCKET_BUFFER`] before connect, which
//! also turns auto-tuning off), and Nagle is off, so that within the language's bounds every
//! write is accepted whole and sent at once (on the link: as far as the congestion window lets
//! it; see [`crate::oracle`]).

mod link_net;
mod loopback;
mod pause;
mod std_backend;
mod tokio_backend;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use thiserror::Error;

use crate::net::link::{Clock, LinkError, WireSegment};
use crate::net::segment_log::Packet;
use crate::oracle::{LAB_MAX_SLEEP, TcpSettings};
use crate::outcome::Outcome;
use crate::reasons::ResetLog;
use crate::reasons::{Missing, Resets};
use crate::scenario::{End, Op, Scenario, Setting};
use crate::tcp::TcpState;

pub use link_net::LINK_CLIENT_BATCH;
use link_net::LinkNet;
use pause::pause;
#[cfg(test)]
use pause::{SPIN_AT_MOST, sleep};

pub use crate::backend::Backend;
pub use crate::net::{Family, Net};
use loopback::Loopback;

/// The `SO_RCVBUF` and `SO_SNDBUF` asked for on both sockets. Linux doubles the value and caps
/// it at `net.core.{r,w}mem_max` (212 992 by default), which is still more than three times the
/// language's bound of 64 KiB per direction.
pub const SOCKET_BUFFER: usize = 1 << 20;

/// How the runner behaves.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The network.
    pub net: Net,
    /// How long to wait for quiescence after a step before giving up.
    pub settle_timeout: Duration,
    /// Spread connections over `127.<first>.x.y` source addresses so that TIME_WAIT stubs never
    /// exhaust a port range; `None` connects from 127.0.0.1. IPv6 has one loopback address,
    /// `::1`, and ignores it.
    pub source_range: Option<u8>,
    /// The address family on loopback: 127.0.0.0/8 or `::1`. The link carries IPv4 only.
    pub family: Family,
    /// Keep every packet for a capture ([`Trace::packets`]). The link only: on loopback the
    /// packets never pass through rstlab (`tcpdump -i lo` sees them there).
    pub capture: bool,
    /// Record the kernel's reason for every RST ([`Trace::resets`]): perf rings of the
    /// runner's own, which needs root (without, runs go on and say why the reasons are missing).
    pub reasons: bool,
    /// The TCP settings of the namespaces and the clock they run on: the lab's
    /// ([`TcpSettings::Lab`]), or the kernel's defaults in its own time
    /// ([`TcpSettings::KernelTime`]), which only the lane has: a runner elsewhere refuses it
    /// ([`RunError::NotKernelTime`]).
    pub tcp: TcpSettings,
    /// Set (by a signal handler) to stop: a run starts no step after it, and its trace holds
    /// the steps run ([`Trace::interrupted`]). A step in progress ends first (a `sleep` on
    /// loopback within its bound of 5 s).
    pub stop: Arc<AtomicBool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            net: Net::Loopback,
            settle_timeout: Duration::from_secs(2),
            source_range: Some(1),
            family: Family::V4,
            capture: false,
            reasons: true,
            tcp: TcpSettings::Lab,
            stop: Arc::default(),
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
    /// On the link: the segments sent up to the end of this step are `trace.wire[..wire_end]`
    /// (those of this step start where the previous step's end).
    #[serde(skip)]
    pub wire_end: usize,
    /// On the link: the link's virtual clock once the step has settled (zero on loopback).
    #[serde(skip)]
    pub time: Duration,
}

/// A wait for quiescence that ran out of time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// The network it ran on.
    pub net: Net,
    /// One entry per step run; shorter than the scenario only when `timeout` is set.
    pub steps: Vec<ObservedStep>,
    /// Set when a wait for quiescence timed out after the last step in `steps`.
    pub timeout: Option<Timeout>,
    /// The client's address (its source address and ephemeral port).
    pub client: SocketAddr,
    /// The server's address (the listener's).
    pub server: SocketAddr,
    /// On the link: every segment of the connection after the handshake, in the order sent,
    /// with its fate. Empty on loopback.
    pub wire: Vec<WireSegment>,
    /// The RSTs the kernel sent on the connection during the steps, with the reasons it stated
    /// (`tcp/tcp_send_reset`), or why they are missing ([`crate::reasons`]).
    pub resets: Resets,
    /// With [`RunOptions::capture`]: every packet of the connection, the handshake and what
    /// the runner's ending of the sockets sent included, each with the step that sent it
    /// ([`crate::net::pcap`]).
    #[serde(skip)]
    pub packets: Vec<Packet>,
    /// Whether [`RunOptions::stop`] ended the run before its last step: `steps` holds the
    /// steps run.
    pub interrupted: bool,
}

impl Trace {
    /// The segments sent during step `index` (0-based): empty on loopback.
    pub fn wire_of(&self, index: usize) -> &[WireSegment] {
        let start = index
            .checked_sub(1)
            .and_then(|i| self.steps.get(i))
            .map_or(0, |s| s.wire_end);
        let end = self.steps.get(index).map_or(start, |s| s.wire_end);
        self.wire.get(start..end).unwrap_or(&[])
    }
}

/// A run that could not take place: the connection could not be set up.
#[derive(Debug, Error)]
pub enum RunError {
    /// The kernel's own time was asked for outside the lane, where the clock is real.
    #[error(
        "the kernel's defaults in its own time run in the lane only (`--kernel SERIES`): here the clock is real"
    )]
    NotKernelTime,
    /// A sleep past [`LAB_MAX_SLEEP`] on the lab's clock.
    #[error(
        "a sleep of {0:?} on the lab's clock: past {LAB_MAX_SLEEP:?} the kernel's own timers decide; run it in the lane (`--kernel SERIES`)"
    )]
    LongSleep(Duration),
    /// A socket call failed while setting up or tearing down the connection.
    #[error("{what}")]
    Io {
        /// What the runner was doing.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The fresh connection did not settle.
    #[error("setting up the connection: {0}")]
    Setup(Timeout),
    /// A connection across the link was not established once the link settled.
    #[error("the handshake from {client} did not complete on the link (segments: {seen})")]
    Handshake {
        /// The client's address.
        client: SocketAddr,
        /// The segments the link carried for it.
        seen: String,
    },
    /// The emulated link failed.
    #[error(transparent)]
    Link(LinkError),
    /// A capture asked for on loopback.
    #[error(
        "a capture needs the link (--net link): on loopback the packets never pass through rstlab; `tcpdump -i lo` sees them there"
    )]
    CaptureNeedsLink,
    /// A scenario with `link` steps, asked to run on loopback.
    #[error("this scenario has `link` steps: it runs only on the link (--net link)")]
    NeedsLink,
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> RunError {
    move |source| RunError::Io { what, source }
}

/// Runs scenarios, one fresh connection each. Keep one per thread and reuse it: it holds the
/// network (the listener and netlink socket, or the whole emulated link), the buffers and (for
/// tokio) the runtime.
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
    tcp: TcpSettings,
    stop: Arc<AtomicBool>,
    network: Network,
    buffer: Vec<u8>,
    runtime: Option<tokio::runtime::Runtime>,
    /// Where the kernel's RST reasons come from, or why they do not.
    resets: Result<ResetLog, Missing>,
}

/// The network seam: what differs between loopback and the link. (One of each lives per runner,
/// so their sizes do not matter.)
#[allow(clippy::large_enum_variant)]
enum Network {
    Loopback(Loopback),
    Link(LinkNet),
}

impl Network {
    fn net(&self) -> Net {
        match self {
            Network::Loopback(_) => Net::Loopback,
            Network::Link(_) => Net::Link,
        }
    }

    /// A fresh connection: (client, server), and their addresses, known from setting it up.
    fn connect(&mut self) -> Result<([TcpStream; 2], [SocketAddr; 2]), RunError> {
        // Both come non-blocking and with Nagle off ([`new_socket`], [`accept`]).
        match self {
            Network::Loopback(l) => l.connect(),
            Network::Link(l) => l.connect(),
        }
    }

    /// Waits (loopback) or delivers (link) until the connection is quiescent.
    fn settle(
        &mut self,
        open: [Option<BorrowedFd<'_>>; 2],
    ) -> Result<Result<[Option<TcpState>; 2], Timeout>, RunError> {
        match self {
            Network::Loopback(l) => Ok(l.settle(open)),
            Network::Link(l) => l.settle(open).map(Ok),
        }
    }

    /// `end`'s socket was forgotten (`reboot`), without a word on the wire.
    fn forgot(&mut self, end: End) {
        if let Network::Loopback(l) = self {
            l.forgot(end);
        }
    }

    /// Once a fresh connection is set up, before the first step: makes sure it is quiescent.
    /// Its states are not part of the trace, so nothing is read that [`Network::settle`] would.
    fn setup_settle(&mut self) -> Result<Result<(), Timeout>, RunError> {
        match self {
            // Quiescent by construction (see `Loopback::connect`).
            Network::Loopback(_) => Ok(Ok(())),
            Network::Link(l) => l.setup_settle().map(Ok),
        }
    }

    /// After a socket call of `actor`'s that may have sent, with the network settled before
    /// it: on the link only `actor`'s side can have sent anything.
    fn sent_from(&mut self, actor: End) {
        if let Network::Link(l) = self {
            l.sent_from(actor);
        }
    }

    /// After a socket call that sent nothing ([`looks_only`]), with the network settled
    /// before it: on the link there is then nothing to read or deliver, and the next settle
    /// only reads the states.
    fn nothing_sent(&mut self) {
        if let Network::Link(l) = self {
            l.nothing_sent();
        }
    }

    /// `sleep D` and the `link` steps; a loopback pause gives its time to `idle`.
    fn perform(&mut self, op: &Op, idle: &mut Idle<'_>) -> Result<Outcome, RunError> {
        match (self, op) {
            (Network::Loopback(_), Op::Sleep(d)) => pause(*d, idle),
            (Network::Link(l), Op::Sleep(d)) => l.sleep(*d)?,
            (Network::Link(l), Op::Link(op)) => l.apply(*op)?,
            (Network::Loopback(_), Op::Link(_)) => return Err(RunError::NeedsLink),
            (_, op) => unreachable!("`{op}` is a socket op"),
        }
        Ok(Outcome::Ok)
    }

    fn now(&self) -> Duration {
        match self {
            Network::Loopback(_) => Duration::ZERO,
            Network::Link(l) => l.now(),
        }
    }

    fn logged(&self) -> usize {
        match self {
            Network::Loopback(_) => 0,
            Network::Link(l) => l.logged(),
        }
    }

    /// Names what happens next, for a capture's packets.
    fn note(&mut self, note: impl FnOnce() -> String) {
        if let Network::Link(l) = self {
            l.note(note);
        }
    }

    fn take_packets(&mut self) -> Vec<Packet> {
        match self {
            Network::Loopback(_) => Vec::new(),
            Network::Link(l) => l.take_packets(),
        }
    }

    fn take_log(&mut self) -> Vec<WireSegment> {
        match self {
            Network::Loopback(_) => Vec::new(),
            Network::Link(l) => l.take_log(),
        }
    }

    /// After the sockets are ended; `gone` as [`end_all`] returns it.
    fn reset(&mut self, gone: bool) -> Result<(), RunError> {
        match self {
            Network::Loopback(_) => Ok(()),
            Network::Link(l) => l.reset(gone),
        }
    }
}

/// The socket-API seam: what differs between std and tokio. Only socket ops reach it.
trait Api {
    /// Performs `op` on `actor`'s socket: the outcome, and a note when the API showed something
    /// the raw syscall would not have.
    fn perform(&mut self, actor: End, op: &Op, buffer: &mut [u8]) -> (Outcome, Option<String>);
    /// The sockets the application still holds.
    fn fds(&self) -> [Option<BorrowedFd<'_>>; 2];
    /// After the network settled (tokio: let the reactor see the new readiness).
    fn settled(&mut self) {}
    /// Ends every socket still open ([`end_all`]): whether the connection is gone without a
    /// trace.
    fn end_all(&mut self) -> bool;
}

impl Runner {
    /// A runner on loopback with the default options.
    pub fn new(backend: Backend) -> Result<Runner, RunError> {
        Runner::with_options(backend, RunOptions::default())
    }

    /// A runner with `options`. On [`Net::Link`] this creates the namespaces and devices, which
    /// needs CAP_NET_ADMIN ([`LinkError::NotPermitted`] otherwise).
    pub fn with_options(backend: Backend, options: RunOptions) -> Result<Runner, RunError> {
        if options.tcp == TcpSettings::KernelTime && !crate::kernels::lane::guest::in_lane() {
            return Err(RunError::NotKernelTime);
        }
        let network = match options.net {
            Net::Loopback => Network::Loopback(Loopback::new(
                options.family,
                options.source_range,
                options.settle_timeout,
            )?),
            Net::Link if options.family == Family::V6 => {
                return Err(RunError::Io {
                    what: "setting up the link",
                    source: io::Error::new(
                        io::ErrorKind::Unsupported,
                        "the emulated link carries IPv4 only",
                    ),
                });
            }
            Net::Link => Network::Link(LinkNet::new(
                options.capture,
                match options.tcp {
                    TcpSettings::Lab => Clock::Virtual,
                    TcpSettings::KernelTime => Clock::Real,
                },
            )?),
        };
        if options.capture && options.net != Net::Link {
            return Err(RunError::CaptureNeedsLink);
        }
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
            tcp: options.tcp,
            backend,
            stop: options.stop,
            network,
            buffer: vec![b'x'; crate::scenario::bounds::MAX_IO],
            runtime,
            resets: if options.reasons {
                ResetLog::open()
            } else {
                Err(Missing::Off)
            },
        })
    }

    /// The backend this runner drives.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The TCP settings and clock this runner's sockets have.
    pub fn tcp(&self) -> TcpSettings {
        self.tcp
    }

    /// The network this runner uses.
    pub fn net(&self) -> Net {
        self.network.net()
    }

    /// Whether this runner records the RST reasons (its rings, which end with it, are open).
    pub fn records_reasons(&self) -> bool {
        self.resets.is_ok()
    }

    /// Why this runner records no RST reasons (`None`: it records them).
    pub fn reasons_missing(&self) -> Option<&Missing> {
        self.resets.as_ref().err()
    }

    /// Runs `scenario` on a fresh connection and records what the kernel answered.
    pub fn run(&mut self, scenario: &Scenario) -> Result<Trace, RunError> {
        self.run_with(scenario, &mut |_| false)
    }

    /// [`Runner::run`], giving the time of a loopback pause to `idle` ([`Idle`]).
    pub fn run_with(
        &mut self,
        scenario: &Scenario,
        idle: &mut Idle<'_>,
    ) -> Result<Trace, RunError> {
        if !self.net().can_run(scenario) {
            return Err(RunError::NeedsLink);
        }
        // On the lab's clock a long sleep would take its real time, and the kernel's timers
        // would decide meanwhile.
        if self.tcp == TcpSettings::Lab
            && let Some(&Op::Sleep(d)) = scenario
                .steps()
                .iter()
                .map(|s| &s.op)
                .find(|op| matches!(op, Op::Sleep(d) if *d > LAB_MAX_SLEEP))
        {
            return Err(RunError::LongSleep(d));
        }
        self.network
            .note(|| "handshake (before the first step)".to_string());
        let (sockets, [client, server]) = self.network.connect()?;
        // The kernel's RSTs from now on are this connection's.
        let since = self
            .resets
            .as_mut()
            .map_or(Duration::ZERO, ResetLog::skip_to_now);
        let mut api: Box<dyn Api + '_> = match (self.backend, &self.runtime) {
            (Backend::Std, _) => Box::new(std_backend::StdApi::new(sockets)),
            (Backend::Tokio, Some(runtime)) => {
                Box::new(tokio_backend::TokioApi::new(runtime, sockets)?)
            }
            (Backend::Tokio, None) => unreachable!("a tokio runner has a runtime"),
        };
        let mut trace = Trace {
            backend: self.backend,
            net: self.network.net(),
            steps: Vec::with_capacity(scenario.steps().len()),
            timeout: None,
            client,
            server,
            wire: Vec::new(),
            resets: Resets::Missing(Missing::Unsettled),
            packets: Vec::new(),
            interrupted: false,
        };
        let result = steps(
            scenario,
            &self.stop,
            &mut self.network,
            api.as_mut(),
            &mut self.buffer,
            &mut trace,
            idle,
        );
        trace.wire = self.network.take_log();
        // Before the runner ends the sockets: what the kernel sent during the steps. (Its RSTs
        // after that, where it could not end a socket silently, are read with the next run's
        // and left out: another connection.)
        trace.resets = match &mut self.resets {
            Ok(_) if result.is_err() || trace.timeout.is_some() => {
                Resets::Missing(Missing::Unsettled)
            }
            Ok(log) => log.take(client, server, since),
            Err(missing) => Resets::Missing(missing.clone()),
        };
        self.network
            .note(|| "after the last step: the runner ends the sockets left open".to_string());
        let gone = api.end_all();
        drop(api);
        let reset = self.network.reset(gone);
        trace.packets = self.network.take_packets();
        name_resets(&mut trace.packets, &trace.resets);
        result.and(reset).map(|()| trace)
    }
}

/// The one step loop, whatever the network and the API.
fn steps(
    scenario: &Scenario,
    stop: &AtomicBool,
    network: &mut Network,
    api: &mut dyn Api,
    buffer: &mut [u8],
    trace: &mut Trace,
    idle: &mut Idle<'_>,
) -> Result<(), RunError> {
    if let Err(timeout) = network.setup_settle()? {
        return Err(RunError::Setup(timeout));
    }
    api.settled();
    for (i, step) in scenario.steps().iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            trace.interrupted = true;
            break;
        }
        network.note(|| format!("step {}: {step}", i + 1));
        let (outcome, note) = match (step.end(), &step.op) {
            (_, op @ (Op::Sleep(_) | Op::Link(_))) => (network.perform(op, idle)?, None),
            (Some(actor), op) => {
                let done = api.perform(actor, op, buffer);
                if looks_only(op) {
                    network.nothing_sent();
                } else {
                    network.sent_from(actor);
                }
                if *op == Op::Reboot && done.0 == Outcome::Ok {
                    network.forgot(actor);
                }
                done
            }
            // The checker gives the link `link` ops only.
            (None, op) => (network.perform(op, idle)?, None),
        };
        let settled = network.settle(api.fds())?;
        api.settled();
        let wire_end = network.logged();
        let time = network.now();
        match settled {
            Ok(states) => trace.steps.push(ObservedStep {
                outcome,
                states,
                note,
                wire_end,
                time,
            }),
            Err(timeout) => {
                trace.steps.push(ObservedStep {
                    outcome,
                    states: [None, None],
                    note,
                    wire_end,
                    time,
                });
                trace.timeout = Some(timeout);
                break;
            }
        }
    }
    Ok(())
}

/// Whether `op`'s call only looks at the socket and never puts a segment on the wire: poll(2)
/// and getsockopt(SO_ERROR).
fn looks_only(op: &Op) -> bool {
    matches!(op, Op::Poll | Op::Error)
}

/// A TCP socket of type `ty` (`Type::STREAM`, or with `.nonblocking()` for one that is so from
/// the start) for `ip`'s family, with the runner's fixed buffers and Nagle off. A listener made
/// here passes both on to the sockets it accepts, so that an accepted socket needs no call of its
/// own.
fn new_socket(ip: IpAddr, ty: Type) -> io::Result<Socket> {
    let domain = match ip {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let socket = Socket::new(domain, ty.cloexec(), Some(Protocol::TCP))?;
    // Fixed sizes, set before the handshake so the window scale matches, turn auto-tuning off.
    socket.set_recv_buffer_size(SOCKET_BUFFER)?;
    socket.set_send_buffer_size(SOCKET_BUFFER)?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket)
}

/// A connection from `listener`'s queue, non-blocking from the start (`accept4` with
/// `SOCK_NONBLOCK`), and its peer's address.
fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (socket, peer) =
        SockRef::from(listener).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)?;
    let peer = peer
        .as_socket()
        .ok_or_else(|| io::Error::other("an accepted TCP connection without an IP address"))?;
    Ok((socket.into(), peer))
}

/// `set`: the socket option's setsockopt(2) calls (`TCP_USER_TIMEOUT`; `SO_KEEPALIVE` with
/// `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and `TCP_KEEPCNT`), the same for every API and the peer.
pub(crate) fn set(socket: SockRef<'_>, setting: Setting) -> Outcome {
    Outcome::of_unit(match setting {
        Setting::UserTimeout(d) => socket.set_tcp_user_timeout(Some(d).filter(|d| !d.is_zero())),
        Setting::Keepalive {
            idle,
            interval,
            count,
        } => socket.set_tcp_keepalive(
            &socket2::TcpKeepalive::new()
                .with_time(idle)
                .with_interval(interval)
                .with_retries(count),
        ),
    })
}

/// What a `reboot` step ends as where the socket cannot enter repair mode: never an errno
/// (which would pass for the kernel's answer to the application), but why it could not run.
fn reboot_refused(error: &io::Error) -> Outcome {
    let why = if error.raw_os_error() == Some(libc::EPERM) {
        "needs CAP_NET_ADMIN (run as root)"
    } else {
        "failed"
    };
    Outcome::NoErrno(format!("reboot {why}: setsockopt(TCP_REPAIR) said {error}"))
}

/// Ends every socket still open, so that nothing lingers in the kernel.
///
/// While the application still holds both ends, the connection has no orphan, and the runner
/// ends both silently where the kernel lets it put them in repair mode (`TCP_REPAIR`: close
/// then sends nothing, in any state; it needs CAP_NET_ADMIN over the socket's namespace, which
/// a non-root loopback runner lacks). The case's checks are over by then, and an RST of the
/// runner's own was only work: a segment to carry, and an event every reader of the kernel's
/// RST reasons had to read and pass over. What is still in flight on the link then meets no
/// socket; the link drops it ([`crate::net::link::Link::reset_gone`]).
///
/// Otherwise a socket aborts (SO_LINGER 0) as before: where the kernel refuses repair mode, and
/// where the scenario closed the other end, since the RST is what ends that end's orphan at
/// once (ended silently, it left an orphan with data to send probing for seconds, answered by
/// the listener in a later case).
///
/// Returns whether the connection is gone without a trace: both ends were held and both ended
/// silently, so no socket and no orphan of it is left to answer or to need what is still on
/// the link.
fn end_all<S: AsFd>(sockets: &mut [Option<S>; 2]) -> bool {
    let mut silent = sockets.iter().all(Option::is_some);
    for socket in sockets.iter_mut().filter_map(Option::take) {
        if !silent || crate::sys::set_tcp_repair(&socket.as_fd()).is_err() {
            silent = false;
            // Best effort: a socket that cannot take SO_LINGER is closed all the same.
            let _ = SockRef::from(&socket).set_linger(Some(Duration::ZERO));
        }
        drop(socket);
    }
    silent
}

/// Work for the runner's thread while a loopback pause passes: called with the instant the
/// pause ends, again and again while it returns `true` and the pause lasts. A pause belongs to
/// the connection, not to the thread: the kernel goes on with the connection meanwhile, and the
/// thread would only spin on the clock. The work must not touch the run's sockets, and should
/// start only what it expects to finish by then: the pause lasts at least its duration
/// whatever the work does, and longer by whatever the work takes past its end.
///
/// `rstlab explore` draws and predicts its next cases there.
pub type Idle<'a> = dyn FnMut(std::time::Instant) -> bool + 'a;

/// Appends the kernel's reason to the comment of each RST a step sent (`… | RST:
/// TCP_ABORT_ON_CLOSE`), for a capture: the k-th RST of the steps is the k-th the kernel stated.
/// The handshake's packets and what ending the sockets after the last step sent are not the
/// steps'.
fn name_resets(packets: &mut [Packet], resets: &Resets) {
    let Some(stated) = resets.stated() else {
        return;
    };
    let mut stated = stated.iter();
    for p in packets.iter_mut() {
        if p.note.starts_with("after the last step") {
            break;
        }
        if p.note.starts_with("handshake") || !crate::net::segment_log::is_rst(&p.bytes) {
            continue;
        }
        let Some(reset) = stated.next() else {
            break;
        };
        p.note = format!("{} | RST: {}", p.note, reset.reason).into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_lasts_at_least_its_duration_and_puts_the_timer_slack_back() {
        let before = crate::sys::timer_slack().unwrap();
        for d in [
            SPIN_AT_MOST / 4,
            SPIN_AT_MOST,
            SPIN_AT_MOST + Duration::from_micros(100),
        ] {
            let start = std::time::Instant::now();
            sleep(d);
            assert!(start.elapsed() >= d, "{d:?}");
        }
        assert_eq!(crate::sys::timer_slack().unwrap(), before);
    }

    #[test]
    fn a_spun_pause_gives_its_time_to_idle_work_and_lasts_its_duration() {
        let d = SPIN_AT_MOST;
        let mut calls = 0;
        let start = std::time::Instant::now();
        pause(d, &mut |until| {
            assert!(until >= start + d);
            calls += 1;
            calls < 3
        });
        assert!(start.elapsed() >= d);
        // Called until it said it was done (fewer times only if the thread lost its CPU for
        // most of the pause).
        assert!((1..=3).contains(&calls), "{calls} calls");
        // Work that overruns: the pause ends when it returns, and lasts at least `d` still.
        let start = std::time::Instant::now();
        pause(Duration::from_micros(1), &mut |_| {
            std::thread::sleep(Duration::from_micros(100));
            true
        });
        assert!(start.elapsed() >= Duration::from_micros(100));
    }

    /// What a step's syscall relies on: neither socket blocks, and both send at once.
    fn assert_ready_for_steps(network: &mut Network) {
        let (sockets, _) = network.connect().unwrap();
        for (actor, socket) in End::BOTH.into_iter().zip(&sockets) {
            assert!(SockRef::from(socket).tcp_nodelay().unwrap(), "{actor}");
            let mut byte = [0u8; 1];
            let read = std::io::Read::read(&mut &*socket, &mut byte);
            assert_eq!(
                read.unwrap_err().kind(),
                io::ErrorKind::WouldBlock,
                "{actor}"
            );
        }
        let mut sockets = sockets.map(Some);
        let gone = end_all(&mut sockets);
        network.reset(gone).unwrap();
    }

    #[test]
    fn a_fresh_connection_is_non_blocking_with_nagle_off_on_both_ends() {
        let loopback = Loopback::new(Family::V4, Some(1), Duration::from_secs(2)).unwrap();
        assert_ready_for_steps(&mut Network::Loopback(loopback));
        // The link needs CAP_NET_ADMIN: the rule of every link test for skipping without it.
        let link = LinkNet::new(false, Clock::Virtual).map_err(|e| match e {
            RunError::Link(e) => e,
            other => panic!("setting up the link: {other}"),
        });
        if let Some(link) = crate::net::skip::or_skip(link, None) {
            assert_ready_for_steps(&mut Network::Link(link));
        }
    }

    /// How many times this thread has given up its CPU of its own accord (preemption is
    /// counted apart, as `nonvoluntary_ctxt_switches`).
    fn voluntary_switches() -> u64 {
        std::fs::read_to_string("/proc/thread-self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("voluntary_ctxt_switches in /proc/thread-self/status")
    }

    #[test]
    fn a_generated_loopback_pause_keeps_the_cpu() {
        // Put to sleep, the thread would wait for its wakeup on top of the pause, and on a busy
        // machine that wait outlasts the pause.
        let before = voluntary_switches();
        for _ in 0..20 {
            sleep(crate::generate::MAX_LOOPBACK_SLEEP);
        }
        assert_eq!(voluntary_switches(), before);
    }
}
