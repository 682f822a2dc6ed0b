//! A broken peer for your own code: a server that plays a scenario against whatever program
//! connects to it, and reports what it did, what it saw, and what the oracle says your program's
//! kernel answered.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use rstlab::peer::Peer;
//!
//! // The server reads the 5-byte request, answers 3 bytes and closes.
//! let peer = Peer::serve("client write 5; server read 5; server write 3; server close")?;
//! let mut conn = TcpStream::connect(peer.addr())?;
//! conn.write_all(b"hello")?;
//! let mut answer = Vec::new();
//! conn.read_to_end(&mut answer)?; // 3 bytes, then EOF: the peer's FIN
//! assert_eq!(answer.len(), 3);
//! let report = peer.finish()?;
//! assert!(report.as_scripted(), "{report}");
//! // What a write on that connection does now, by the oracle:
//! let next = &report.connections[0].forecast;
//! assert!(next.writes[0].lost); // succeeds, and the peer's kernel answers it with RST
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How a scenario is played
//!
//! The peer listens (on `127.0.0.1` and a free port unless told otherwise) and plays the
//! scenario on each connection it accepts, in a thread of its own, from the first step:
//!
//! - a `server` step is the peer's own call on its socket, made when the step comes, never
//!   waiting (`read N` takes what has arrived, up to N bytes). `write N` sends N bytes of the
//!   [`PeerOptions::respond`] payload (taken in order, from its start again when it runs out),
//!   or N filler bytes `x` without one;
//! - a `client` step is what the peer waits to see arrive from your program, for at most
//!   [`PeerOptions::timeout`]: `client write N` is N more bytes arriving, `client close` and
//!   `client shutdown write|both` the client's FIN (or RST), `client abort` its RST. A step that
//!   does not arrive in time (or before the peer is stopped) is reported as not seen, with how
//!   far it got (`67 of 68 bytes arrived`), never as agreement, and the rest of the scenario is
//!   not played;
//! - `client write request` is your program's request, whatever its length: the peer waits for
//!   an HTTP/1.x request to the end of its headers and body (`Content-Length`, or a chunked
//!   body's last chunk), for anything else until no byte arrived for 100 ms (or the client's
//!   FIN), and from then on predicts with the number of bytes that arrived. The steps after a
//!   request not seen are not predicted. It needs the peer's socket to count bytes: after a
//!   `server close` or `server abort` it is refused ([`check_playable`]).
//!
//! The peer observes without consuming anything: it counts bytes with `TCP_INFO`'s
//! `tcpi_bytes_received` and sees FIN and RST in its socket's TCP state, so the scenario's own
//! `server read` steps are the only reads. (Reading would change what the peer's kernel does: a
//! close with unread bytes sends RST instead of FIN.) After the peer closed its socket, it looks
//! at the orphan the kernel keeps with sock_diag: data reaching it is answered with RST and the
//! orphan disappears.
//!
//! Your program's reads cannot be observed from the other end (they send nothing), nor can a
//! `shutdown read`; a scenario with a `client read` or `client shutdown read` step is refused
//! before the peer listens, with the step's line and column. The oracle's predictions therefore
//! assume your program read nothing; what matters for them is what the peer's kernel receives.
//!
//! `link` steps need the emulated link: on loopback they are refused the same way. On the
//! real-time link ([`PeerBuilder::on_link`], what `rstlab exec` uses) the peer applies each one to
//! the link when its turn comes, waits out a `sleep` of either actor (the story's clock moves
//! for both ends), and predicts with the link's delay; see [`check_playable_on_link`] for the
//! steps that make no sense when time is real.
//!
//! After the last step, a socket the scenario left open is kept open, sending nothing, until
//! your program ends the connection, the peer is finished, or the timeout runs out; then the peer
//! closes it.
//!
//! ## The report
//!
//! Each connection's [`ConnectionReport`] lists, per step, what the peer did or saw and when,
//! the oracle's prediction ([`oracle::predict`] on the scenario) and, for your program's steps,
//! what its call returned in plain words; then the [`Forecast`]: what your program's next write
//! or read on that connection gets ("your next write succeeds, but its bytes are lost …; the one
//! after fails with EPIPE"), from the oracle on the scenario extended with those calls.
//! Bytes or a FIN that your program sent beyond or before what the scenario says are reported as
//! deviations. Extra bytes are in the peer's receive queue, where they change what its calls do
//! (a close with unread bytes sends RST): the oracle's predictions of the later steps count them
//! as part of your program's last write before them.
//! A `=>` expectation on a `server` step is checked against the peer's call; on a `client` step,
//! whose result only your program sees, it is held against the oracle's prediction. Either
//! mismatch is a deviation.
//!
//! ## Tests
//!
//! There is no global state: several peers can run in one test process, each on its own port.
//! Dropping a [`Peer`] stops it, and every thread and socket it made is released. It runs its
//! own threads, so it serves std and tokio clients alike; [`Peer::finish`] blocks (from async
//! code call it after the client's work, or in `spawn_blocking`).

pub mod exec;
pub mod forecast;
mod play;
mod playable;
mod realtime;
pub mod report;
mod request;
mod resets;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use thiserror::Error;

use crate::net::relay::Control;
use crate::oracle::{self, Prediction};
use crate::scenario::{Op, ParseError, Scenario, Script};

pub use forecast::Forecast;
use playable::check_all;
pub use playable::{Unplayable, check_playable, check_playable_on_link, parse, parse_on_link};
pub use report::{
    ConnectionReport, ConnectionResets, PeerSaw, Predicted, Refused, Report, StepReport,
};

/// How a [`Peer`] plays: its timeouts, its payload, how many connections. Where it listens is
/// the [`PeerBuilder`]'s ([`PeerBuilder::listen`], [`PeerBuilder::listener`],
/// [`PeerBuilder::on_link`]).
#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// How long to wait for each `client` step to arrive, and to hold a socket the scenario left
    /// open. Default 5 s.
    pub timeout: Duration,
    /// The bytes `server write` steps send, in order, from the start again when they run out.
    /// Empty (the default): filler bytes `x`.
    pub respond: Vec<u8>,
    /// Play at most this many connections; reset any later one at once and report it as
    /// refused. Default: no limit.
    pub max_connections: Option<usize>,
    /// Read the kernel's reason for every RST of the connections (`tcp/tcp_send_reset`), from
    /// perf rings of the peer's own ([`crate::reasons::ResetLog`]): it needs root and Linux 6.10 on; without, the
    /// peer plays all the same and says why ([`Peer::reasons_missing`]). Default: true.
    pub reasons: bool,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            timeout: Duration::from_secs(5),
            respond: Vec::new(),
            max_connections: None,
            reasons: true,
        }
    }
}

/// Where a peer listens.
#[derive(Debug)]
enum Listen {
    /// An address the peer binds: loopback only.
    Address(SocketAddr),
    /// A listener the caller made (in a network namespace of its own, say), and the real-time
    /// link it is on, if any.
    Listener(TcpListener, Option<Control>),
}

/// Starts a [`Peer`]: the scenarios it plays, where it listens, its [`PeerOptions`].
/// Connection N plays the Nth scenario, and every connection after the last scenario plays the
/// last one. Every scenario is checked ([`check_playable`]) before the peer listens; a refusal
/// names the scenario (1-based) when there are several.
///
/// ```
/// use rstlab::peer::{Peer, PeerOptions};
/// use std::time::Duration;
/// let options = PeerOptions { timeout: Duration::from_secs(1), ..PeerOptions::default() };
/// // The first connection is closed at once, later ones are reset.
/// let peer = Peer::builder()
///     .scenario("server close")
///     .scenario("server abort")
///     .options(options)
///     .start()?;
/// let report = peer.finish()?;
/// assert_eq!(report.summary(), format!("no client connected to {}", report.addr));
/// # Ok::<(), rstlab::peer::PeerError>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `start`"]
pub struct PeerBuilder {
    /// The scenarios, as text (parsed by `start`) or parsed.
    scenarios: Vec<Result<Script, String>>,
    options: PeerOptions,
    listen: Listen,
}

impl Default for PeerBuilder {
    fn default() -> Self {
        PeerBuilder {
            scenarios: Vec::new(),
            options: PeerOptions::default(),
            listen: Listen::Address(SocketAddr::from(([127, 0, 0, 1], 0))),
        }
    }
}

impl PeerBuilder {
    /// Adds a scenario in the language, parsed (with its places, `client write request`
    /// included) when the peer starts.
    pub fn scenario(mut self, text: &str) -> Self {
        self.scenarios.push(Err(text.to_string()));
        self
    }

    /// Adds a scenario already parsed: a [`Script`] (with its places, for the refusals) or a
    /// [`Scenario`].
    pub fn script(mut self, script: impl Into<Script>) -> Self {
        self.scenarios.push(Ok(script.into()));
        self
    }

    /// How the peer plays (default [`PeerOptions::default`]).
    pub fn options(mut self, options: PeerOptions) -> Self {
        self.options = options;
        self
    }

    /// Listens on `addr`: a loopback address only (`127.0.0.0/8` or `::1`), anything else is
    /// refused when the peer starts; port 0 picks a free port. The default: `127.0.0.1:0`.
    /// On `::1`, `client` steps after the peer closed its socket are not observable (the
    /// kernel's sock_diag lookups used for closed sockets are IPv4 only here).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Listen::Address(addr);
        self
    }

    /// Accepts on `listener`, the caller's, instead of listening itself: it is not checked for
    /// loopback, so that a caller that made its own network namespace can hand it in.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listen = Listen::Listener(listener, None);
        self
    }

    /// Accepts on `listener`, in the server's namespace of a real-time link
    /// ([`crate::net::relay::Relay::enter`]), as `rstlab exec` does: the peer applies the
    /// scenario's `link` steps to the link through `link`, looks at its closed sockets in that
    /// namespace, and predicts with the link's delay; see [`check_playable_on_link`].
    pub fn on_link(mut self, listener: TcpListener, link: Control) -> Self {
        self.listen = Listen::Listener(listener, Some(link));
        self
    }

    /// Parses and checks every scenario, listens, and starts accepting.
    pub fn start(self) -> Result<Peer, PeerError> {
        let scripts = self
            .scenarios
            .into_iter()
            .map(|s| s.or_else(|text| Script::parse(&text)))
            .collect::<Result<Vec<_>, _>>()?;
        let (listener, link) = match self.listen {
            Listen::Address(addr) => {
                if !addr.ip().is_loopback() {
                    return Err(PeerError::NotLoopback(addr));
                }
                check_all(&scripts, None)?;
                (listen(addr)?, None)
            }
            Listen::Listener(listener, link) => {
                check_all(&scripts, link.as_ref().map(Control::delay))?;
                (listener, link)
            }
        };
        Peer::start(listener, scripts, self.options, link)
    }
}

/// At most this many connections are played at once; more are refused, so that a client
/// that connects in a loop cannot make the peer start threads without bound.
pub const MAX_CONCURRENT: usize = 64;

/// How long the accept loop blocks in one `accept` before it looks whether it must stop: the
/// longest a [`Peer::finish`], [`Peer::stop`] or drop waits for it.
const ACCEPT_SLICE: Duration = Duration::from_millis(20);

/// Why a peer could not start, or could not end cleanly.
#[derive(Debug, Error)]
pub enum PeerError {
    /// The scenario text does not parse. Its text holds the parse error's, which is not
    /// also its source: an error chain (`{:#}`) says it once.
    #[error("not a valid scenario: {0}")]
    Parse(ParseError),
    /// A step the peer cannot play.
    #[error(transparent)]
    Unplayable(#[from] Unplayable),
    /// No scenario was given.
    #[error("no scenario to play")]
    NoScenario,
    /// A listen address that is not loopback.
    #[error(
        "refusing to listen on {0}: rstlab's peer listens on loopback only (127.0.0.0/8 or ::1), so that no other machine can reach a server that misbehaves on purpose"
    )]
    NotLoopback(SocketAddr),
    /// A socket call failed while setting up the listener. Its text says what the peer was
    /// doing; the error itself is its source (`{:#}` of an `anyhow::Error` shows both, once).
    #[error("{what}")]
    Io {
        /// What the peer was doing.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// [`Peer::wait_for_step`] ran out of time.
    #[error("connection {connection} did not reach step {step} within {waited:?}")]
    NotReached {
        /// The connection, 1-based.
        connection: usize,
        /// The step, 1-based.
        step: usize,
        /// How long the wait lasted.
        waited: Duration,
    },
}

impl From<ParseError> for PeerError {
    fn from(e: ParseError) -> PeerError {
        PeerError::Parse(e)
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> PeerError {
    let what = what.into();
    move |source| PeerError::Io { what, source }
}

/// The scenarios, their predictions and forecasts, and the options: what every connection
/// thread reads.
struct Plan {
    scripts: Vec<Script>,
    /// The oracle's prediction of each script's shape: right up to its first request, whose
    /// length each connection learns when it arrives (the oracle predicts a step from the steps
    /// before it).
    predictions: Vec<Prediction>,
    /// The forecast of each script without requests; one with requests is made per connection.
    forecasts: Vec<Option<Forecast>>,
    options: PeerOptions,
    /// The real-time link the listener is on ([`PeerBuilder::on_link`]).
    link: Option<Control>,
    /// The real-time link's delay before the first step, when the peer is on it.
    delay: Option<Duration>,
}

impl Plan {
    /// The oracle's prediction of `scenario` as the peer plays it: on the real-time link, the
    /// peer's timeline ([`realtime::predict`]).
    fn predict(&self, scenario: &Scenario) -> Prediction {
        match self.delay {
            Some(delay) => realtime::predict(scenario, delay),
            None => oracle::predict(scenario, &oracle::Settings::default()),
        }
    }

    /// Connection `number` (1-based) plays this scenario: its own, or the last one.
    fn index_for(&self, number: usize) -> usize {
        (number - 1).min(self.scripts.len() - 1)
    }
}

/// What the peer's threads share.
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// The kernel's reasons for the connections' RSTs; the rings go with the last
    /// thread that holds it.
    resets: resets::ResetWatch,
}

#[derive(Default)]
struct State {
    /// `finish` or `stop` was called: accept what is already queued, then no more.
    closing: bool,
    /// `finish` was called: sockets held after the last step are closed now.
    finishing: bool,
    /// `stop` was called or the peer dropped: every wait ends now.
    stopped: bool,
    /// Threads still running (the accept loop and the connections).
    live: usize,
    /// Steps done so far, per connection.
    progress: Vec<usize>,
    /// Finished connections, in the order they finished.
    done: Vec<ConnectionReport>,
    /// How many of `done` `next_connection` has handed out.
    delivered: usize,
    refused: Vec<Refused>,
    problems: Vec<String>,
    handles: Vec<JoinHandle<()>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking thread leaves consistent data behind (every update is one assignment), so
        // a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Waits `d`, or less when `wake` becomes true; returns whether it did.
    fn pause(&self, d: Duration, wake: fn(&State) -> bool) -> bool {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, d, |s| !wake(s))
            .unwrap_or_else(PoisonError::into_inner);
        wake(&state)
    }

    fn progress(&self, number: usize, steps: usize) {
        let mut state = self.lock();
        if let Some(p) = state.progress.get_mut(number - 1) {
            *p = steps;
        }
        drop(state);
        self.changed.notify_all();
    }
}

/// Counts a running thread; uncounts it when the thread ends, even by panic.
struct Live(Arc<Shared>);

impl Live {
    fn new(shared: &Arc<Shared>) -> Live {
        shared.lock().live += 1;
        Live(Arc::clone(shared))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.lock().live -= 1;
        self.0.changed.notify_all();
    }
}

/// A server that plays scenarios against the programs that connect to it; see the
/// [module documentation](self).
pub struct Peer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    plan: Arc<Plan>,
    accept: Option<JoinHandle<()>>,
}

impl Peer {
    /// Listens on `127.0.0.1` and a free port and plays `scenario` on every connection, with
    /// the default [`PeerOptions`].
    ///
    /// ```
    /// let peer = rstlab::peer::Peer::serve("client write 1; server abort")?;
    /// assert!(peer.addr().ip().is_loopback());
    /// # Ok::<(), rstlab::peer::PeerError>(())
    /// ```
    pub fn serve(scenario: &str) -> Result<Peer, PeerError> {
        Peer::builder().scenario(scenario).start()
    }

    /// A [`PeerBuilder`]: for several scenarios, other [`PeerOptions`], or another place to
    /// listen.
    pub fn builder() -> PeerBuilder {
        PeerBuilder::default()
    }

    /// Plays `scripts`, which the builder has checked ([`check_all`]), on `listener`.
    fn start(
        listener: TcpListener,
        scripts: Vec<Script>,
        options: PeerOptions,
        link: Option<Control>,
    ) -> Result<Peer, PeerError> {
        let delay = link.as_ref().map(Control::delay);
        let addr = listener
            .local_addr()
            .map_err(io_err("reading the listener's address"))?;
        // Blocking accepts that give up after a slice, so the loop sees `closing` in time
        // without polling: accept(2) honours SO_RCVTIMEO on Linux.
        listener
            .set_nonblocking(false)
            .and_then(|()| SockRef::from(&listener).set_read_timeout(Some(ACCEPT_SLICE)))
            .map_err(io_err("setting the listener's accept timeout"))?;
        let mut plan = Plan {
            predictions: Vec::new(),
            forecasts: scripts
                .iter()
                .map(|s| s.requests().is_empty().then(|| Forecast::of(s.shape())))
                .collect(),
            scripts,
            options,
            link,
            delay,
        };
        plan.predictions = plan
            .scripts
            .iter()
            .map(|s| plan.predict(s.shape()))
            .collect();
        let plan = Arc::new(plan);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            resets: resets::ResetWatch::open(plan.options.reasons),
        });
        let live = Live::new(&shared);
        let accept = {
            let (shared, plan) = (Arc::clone(&shared), Arc::clone(&plan));
            std::thread::Builder::new()
                .name(format!("rstlab-peer-accept-{}", addr.port()))
                .spawn(move || {
                    let _live = live;
                    accept_loop(&listener, &shared, &plan);
                })
                .map_err(io_err("starting the accept thread"))?
        };
        Ok(Peer {
            addr,
            shared,
            plan,
            accept: Some(accept),
        })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Why the peer reads no reasons for its connections' RSTs (`None`: it does): each
    /// connection's report then shows the oracle's alone.
    pub fn reasons_missing(&self) -> Option<crate::reasons::Missing> {
        self.shared.resets.missing()
    }

    /// Whether the peer records the RST reasons (its rings end with the peer and its threads).
    pub fn records_reasons(&self) -> bool {
        self.shared.resets.recording()
    }

    /// The forecast of scenario `index` (0-based): what a client's next calls get after it.
    /// `None` for a scenario with `client write request`, whose forecast depends on the
    /// request's length: each connection's report has its own.
    pub fn forecast(&self, index: usize) -> Option<&Forecast> {
        self.plan.forecasts.get(index)?.as_ref()
    }

    /// Waits until connection `connection` (1-based, in accept order) has played step `step`
    /// (1-based): made the call, or seen the arrival. For tests that must let the peer act
    /// before the client goes on: "the server has closed the idle connection". Waits at most
    /// the options' timeout.
    pub fn wait_for_step(&self, connection: usize, step: usize) -> Result<(), PeerError> {
        let timeout = self.plan.options.timeout;
        let start = Instant::now();
        // Connection 0 does not exist: it is never reached (and never underflows).
        let played = |s: &State| {
            connection
                .checked_sub(1)
                .and_then(|i| s.progress.get(i))
                .is_some_and(|&p| p >= step)
        };
        let reached =
            |s: &State| played(s) || s.done.iter().any(|c| c.number == connection) || s.stopped;
        let state = self.shared.lock();
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, timeout, |s| !reached(s))
            .unwrap_or_else(PoisonError::into_inner);
        if played(&state) {
            Ok(())
        } else {
            Err(PeerError::NotReached {
                connection,
                step,
                waited: start.elapsed(),
            })
        }
    }

    /// The next connection to finish its play, waiting at most `timeout` for one; each is
    /// handed out once. [`Peer::finish`] reports every connection all the same.
    pub fn next_connection(&self, timeout: Duration) -> Option<ConnectionReport> {
        let state = self.shared.lock();
        let (mut state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, timeout, |s| s.delivered >= s.done.len())
            .unwrap_or_else(PoisonError::into_inner);
        let next = state.done.get(state.delivered).cloned()?;
        state.delivered += 1;
        Some(next)
    }

    /// How many connections the peer has accepted and played or is playing.
    pub fn connections(&self) -> usize {
        self.shared.lock().progress.len()
    }

    /// Stops accepting (connections already queued in the kernel are still played), lets every
    /// connection finish its scenario (each wait is bounded by the timeout), closes the sockets
    /// held after the last step, and reports.
    pub fn finish(mut self) -> Result<Report, PeerError> {
        {
            let mut state = self.shared.lock();
            state.closing = true;
            state.finishing = true;
        }
        self.shared.changed.notify_all();
        // Every wait of a connection is bounded; this bound covers the longest scenario.
        let longest = self
            .plan
            .scripts
            .iter()
            .map(|s| {
                s.shape()
                    .steps()
                    .iter()
                    .map(|step| match step.op {
                        Op::Sleep(d) => d,
                        _ => self.plan.options.timeout,
                    })
                    .sum::<Duration>()
            })
            .max()
            .unwrap_or_default();
        let bound = longest + self.plan.options.timeout + Duration::from_secs(1);
        Ok(self.end(bound))
    }

    /// Stops at once: every wait ends, the steps not played yet are reported as such, every
    /// socket is closed.
    pub fn stop(mut self) -> Result<Report, PeerError> {
        Ok(self.end(Duration::ZERO))
    }

    /// Waits up to `grace` for the threads to end by themselves, then stops them, and reports.
    fn end(&mut self, grace: Duration) -> Report {
        // Sets a flag, wakes the threads, and waits up to `wait` for them all to end.
        let signal_and_wait = |flag: fn(&mut State), wait: Duration| {
            let mut state = self.shared.lock();
            flag(&mut state);
            drop(state);
            self.shared.changed.notify_all();
            let state = self.shared.lock();
            self.shared
                .changed
                .wait_timeout_while(state, wait, |s| s.live > 0)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        };
        drop(signal_and_wait(|s| s.closing = true, grace));
        // Every loop looks at `stopped` at least every few milliseconds.
        let mut state = signal_and_wait(|s| s.stopped = true, Duration::from_secs(2));
        let still_running = state.live;
        let handles: Vec<JoinHandle<()>> = state.handles.drain(..).collect();
        drop(state);
        let mut problems = Vec::new();
        if still_running > 0 {
            // Joining would wait without a bound: leave them (they end at their next look).
            problems.push(format!(
                "{still_running} thread(s) of the peer had not ended 2 s after it stopped"
            ));
        } else {
            for handle in self.accept.take().into_iter().chain(handles) {
                if handle.join().is_err() {
                    problems.push("a thread of the peer panicked".to_string());
                }
            }
        }
        let mut state = self.shared.lock();
        let mut connections = state.done.clone();
        connections.sort_by_key(|c| c.number);
        state.problems.extend(problems);
        Report {
            addr: self.addr,
            connections,
            refused: state.refused.clone(),
            problems: state.problems.clone(),
            reasons_missing: self.shared.resets.missing().map(|m| m.to_string()),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.end(Duration::ZERO);
        }
    }
}

/// A listener on `addr` with the runner's socket buffers (inherited by accepted sockets, so
/// that every write within the language's bounds is taken whole).
fn listen(addr: SocketAddr) -> Result<TcpListener, PeerError> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )
    .map_err(io_err("creating the listener"))?;
    socket
        .set_recv_buffer_size(crate::run::SOCKET_BUFFER)
        .and_then(|()| socket.set_send_buffer_size(crate::run::SOCKET_BUFFER))
        .map_err(io_err("setting the listener's buffer sizes"))?;
    // A fixed port used again soon after a run still has TIME_WAIT stubs on it.
    socket
        .set_reuse_address(true)
        .map_err(io_err("setting SO_REUSEADDR"))?;
    socket
        .bind(&addr.into())
        .map_err(io_err(format!("listening on {addr}")))?;
    socket
        .listen(128)
        .map_err(io_err(format!("listening on {addr}")))?;
    Ok(socket.into())
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, plan: &Arc<Plan>) {
    loop {
        // Every slice: the tracing buffer holds only a slice's RSTs of the host.
        shared.resets.poll();
        let closing = shared.lock().closing;
        if closing {
            // What the kernel already queued was a client that connected in time: play it.
            if listener.set_nonblocking(true).is_ok() {
                while let Ok((stream, from)) = listener.accept() {
                    take(stream, from, shared, plan);
                }
            }
            return;
        }
        match listener.accept() {
            Ok((stream, from)) => take(stream, from, shared, plan),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                // Out of descriptors, say: note it once per kind and let the condition pass.
                let mut state = shared.lock();
                let problem = format!("accepting a connection: {e}");
                if !state.problems.contains(&problem) {
                    state.problems.push(problem);
                }
                drop(state);
                shared.pause(ACCEPT_SLICE, |s| s.closing);
            }
        }
    }
}

/// Plays an accepted connection in its own thread, or refuses it.
fn take(stream: TcpStream, from: SocketAddr, shared: &Arc<Shared>, plan: &Arc<Plan>) {
    let accepted = Instant::now();
    let mut state = shared.lock();
    let refusal = if state.stopped {
        Some("the peer was stopped".to_string())
    } else if plan
        .options
        .max_connections
        .is_some_and(|max| state.progress.len() >= max)
    {
        let max = plan.options.max_connections.unwrap_or_default();
        Some(format!(
            "the peer plays at most {max} connection{}",
            if max == 1 { "" } else { "s" }
        ))
    } else if state.live > MAX_CONCURRENT {
        Some(format!(
            "{MAX_CONCURRENT} connections are being played already"
        ))
    } else {
        None
    };
    if let Some(why) = refusal {
        state.refused.push(Refused { client: from, why });
        drop(state);
        // Reset, so the client learns at once and nothing lingers.
        let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        return;
    }
    state.progress.push(0);
    let number = state.progress.len();
    drop(state);
    if let Ok(local) = stream.local_addr() {
        shared.resets.watch(number, from, local);
    }
    let live = Live::new(shared);
    let (thread_shared, thread_plan) = (Arc::clone(shared), Arc::clone(plan));
    let spawned = std::thread::Builder::new()
        .name(format!("rstlab-peer-conn-{number}"))
        .spawn(move || {
            let _live = live;
            let (mut report, prediction) =
                play::play(number, stream, from, accepted, &thread_plan, &thread_shared);
            let stated = thread_shared.resets.finish(number);
            let played = report
                .steps
                .iter()
                .take_while(|s| !matches!(s.peer, PeerSaw::NotRun { .. } | PeerSaw::NotSeen { .. }))
                .count();
            let (resets, reasons_missing) = resets::rows(&prediction, played, &stated);
            report.reasons = report::ConnectionResets {
                resets,
                reasons_missing,
                peer_wide: thread_shared.resets.missing().is_some(),
            };
            thread_shared.lock().done.push(report);
            thread_shared.changed.notify_all();
        });
    match spawned {
        Ok(handle) => shared.lock().handles.push(handle),
        Err(e) => shared
            .lock()
            .problems
            .push(format!("starting the thread of connection {number}: {e}")),
    }
}
