//! One accepted connection: the scenario's `server` steps played, its `client` steps observed.
//!
//! What the peer observes never consumes anything: bytes are counted with `TCP_INFO`'s
//! `tcpi_bytes_received` (in-order bytes that reached the socket, read or not), FIN and RST with
//! the socket's TCP state, and once the peer has closed its socket, with sock_diag, which still
//! sees the orphan the kernel keeps. Reading, or peeking, would change what the peer's kernel
//! does next: a close with unread bytes sends RST instead of FIN, and a peek consumes a pending
//! error.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::forecast::Forecast;
use super::forecast::client_call_words;
use super::report::{ConnectionReport, PeerSaw, Predicted, StepReport};
use super::request::{self, QUIET};
use super::{Plan, Shared};
use crate::oracle::{PredictedStep, Prediction};
use crate::outcome::Outcome;
use crate::scenario::{End, How, Op, Scenario, Script, Step, Who, bounds};
use crate::sys::{self, SockDiag, TcpInfo};
use crate::tcp::TcpState;

/// The peer's end of the connection, as the kernel shows it now.
#[derive(Clone, Debug)]
enum View {
    /// The peer still holds its socket; with the payload bytes received (see
    /// [`Connection::view`]).
    Open(TcpInfo, u64),
    /// The peer closed its socket; the kernel keeps it in this state.
    Orphan(TcpState),
    /// No socket left on the peer's side.
    Gone,
    /// The kernel could not be asked.
    Unknown(String),
}

impl View {
    fn describe(&self) -> String {
        match self {
            View::Open(i, payload) => format!(
                "the peer's socket is {} with {payload} bytes received",
                i.state
            ),
            View::Orphan(state) => format!("the peer's closed socket is in {state}"),
            View::Gone => "the peer's socket is gone".to_string(),
            View::Unknown(why) => format!("the peer's socket cannot be seen ({why})"),
        }
    }
}

/// The states an open socket reaches only after the other end's FIN or RST arrived.
fn shows_client_end(state: TcpState) -> bool {
    matches!(
        state,
        TcpState::CloseWait
            | TcpState::LastAck
            | TcpState::Closing
            | TcpState::TimeWait
            | TcpState::Close
    )
}

/// The states an open socket reaches only after the other end's FIN arrived.
fn shows_client_fin(state: TcpState) -> bool {
    matches!(
        state,
        TcpState::CloseWait | TcpState::LastAck | TcpState::Closing | TcpState::TimeWait
    )
}

/// What one look at the socket says about an awaited arrival.
enum Check {
    /// It arrived: what, in words.
    Done(String),
    /// It can no longer arrive: why.
    Impossible(String),
    /// Not yet; with how far it got, in words, when part of it arrived (`67 of 68 bytes
    /// arrived`), for the report if the wait ends here.
    Pending(Option<String>),
}

struct Connection<'a> {
    number: usize,
    plan: &'a Plan,
    /// The script this connection plays.
    script: &'a Script,
    shared: &'a Shared,
    socket: Option<TcpStream>,
    /// (local, remote), for finding the socket with sock_diag after the peer closed it.
    addresses: Option<(SocketAddr, SocketAddr)>,
    diag: Option<SockDiag>,
    accepted: Instant,
    /// The scenario as this connection plays it: the plan's, with the byte counts of the
    /// client's writes made what actually arrived once the peer has seen it (bytes beyond the
    /// scenario's are added to the client's last write before them), so that every later
    /// prediction starts from what the peer's kernel holds.
    scenario: Scenario,
    /// The oracle's prediction of `scenario` (on the link: of the peer's timeline).
    prediction: Prediction,
    /// `scenario` differs from the plan's: the forecast is made again at the end.
    resolved: bool,
    /// The first `client write request` step (0-based) whose length is not known yet: the
    /// oracle predicts no step from there on.
    unknown_from: Option<usize>,
    /// Bytes the peer's `server read`s took: the rest of the client's bytes are still queued.
    read: u64,
    /// Bytes the scenario's `client write`s add up to so far.
    expected: u64,
    /// The scenario's client has sent its FIN or RST (a close, abort or shutdown write step).
    client_ended: bool,
    /// The largest byte count already reported as too many.
    excess_reported: u64,
    early_end_reported: bool,
    /// A state that only the client's FIN leads to was seen: `tcpi_bytes_received` counts it.
    fin_seen: bool,
    /// The last look at the socket: taken right after each server step, before the step is
    /// reported done, so that a client which waits for that report cannot change the socket
    /// before the peer has seen it.
    last: Option<View>,
    /// Where the next server write starts in the payload.
    payload_at: usize,
    buffer: Vec<u8>,
    deviations: Vec<String>,
}

/// Plays scenario `index` of `plan` on `stream`, accepted as connection `number`; its report,
/// and the oracle's prediction it played against.
pub(super) fn play(
    number: usize,
    stream: TcpStream,
    client: SocketAddr,
    accepted: Instant,
    plan: &Plan,
    shared: &Shared,
) -> (ConnectionReport, Prediction) {
    let index = plan.index_for(number);
    let mut deviations = Vec::new();
    // The listener's buffer sizes are inherited; Nagle off sends every write at once, as the
    // runner does, so a write the scenario splits reaches your program split.
    for (what, result) in [
        ("setting TCP_NODELAY", stream.set_nodelay(true)),
        ("setting O_NONBLOCK", stream.set_nonblocking(true)),
    ] {
        if let Err(e) = result {
            deviations.push(format!("{what} on the peer's socket: {e}"));
        }
    }
    let addresses = stream.local_addr().ok().map(|local| (local, client));
    let mut c = Connection {
        number,
        plan,
        script: &plan.scripts[index],
        shared,
        socket: Some(stream),
        addresses,
        // sock_diag answers for the namespace the netlink socket was made in: the link's
        // server namespace when the listener is there.
        diag: match &plan.link {
            Some(link) => link
                .enter(End::Server)
                .ok()
                .and_then(|_inside| SockDiag::open().ok()),
            None => SockDiag::open().ok(),
        },
        accepted,
        scenario: plan.scripts[index].shape().clone(),
        prediction: plan.predictions[index].clone(),
        resolved: false,
        unknown_from: plan.scripts[index].requests().first().copied(),
        read: 0,
        expected: 0,
        client_ended: false,
        excess_reported: 0,
        early_end_reported: false,
        fin_seen: false,
        last: None,
        payload_at: 0,
        buffer: vec![0; crate::scenario::bounds::MAX_IO],
        deviations,
    };
    let steps = c.play_steps();
    let after = c.release(
        steps
            .iter()
            .all(|s| !matches!(s.peer, PeerSaw::NotRun { .. } | PeerSaw::NotSeen { .. })),
    );
    let forecast = match (c.unknown_from, &plan.forecasts[index]) {
        (Some(request), _) => Forecast::unknown(format!(
            "Your program's next calls are not predicted: the length of its request (step {}) is not known.",
            request + 1
        )),
        (None, Some(forecast)) if !c.resolved => forecast.clone(),
        (None, _) => Forecast::of(&c.scenario),
    };
    let report = ConnectionReport {
        number,
        client,
        scenario: plan.scripts[index].to_inline(),
        steps,
        deviations: c.deviations,
        after,
        forecast,
        duration_ms: millis(accepted.elapsed()),
        reasons: Default::default(),
    };
    (report, c.prediction)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Connection<'_> {
    fn play_steps(&mut self) -> Vec<StepReport> {
        let count = self.scenario.steps().len();
        let mut reports = Vec::with_capacity(count);
        let mut halted: Option<String> = None;
        for i in 0..count {
            let step = self.scenario.steps()[i].clone();
            // A stopped peer makes no more calls; a client step still gets its look, so that
            // the report says what had arrived ("67 of 68 bytes") rather than nothing.
            let awaited = step.who == End::Client && !matches!(step.op, Op::Sleep(_));
            if halted.is_none() && !awaited && self.shared.stopped() {
                halted = Some("the peer was stopped".to_string());
            }
            if let Some(link) = &self.plan.link {
                // For a capture: what the peer plays or waits for while these packets cross.
                link.note(|| format!("step {}: {step}", i + 1));
            }
            let (peer, at_ms) = match &halted {
                Some(why) => (PeerSaw::NotRun { why: why.clone() }, None),
                None => {
                    let peer = match step.who {
                        Who::Server => {
                            self.check_client_ahead(i + 1);
                            let called = self.perform(&step.op);
                            self.last = Some(self.view());
                            called
                        }
                        // On the link the story's clock moves for both ends: the peer
                        // waits out your program's pause too.
                        Who::Client
                            if self.plan.link.is_some() && matches!(step.op, Op::Sleep(_)) =>
                        {
                            self.perform(&step.op)
                        }
                        Who::Client if self.script.is_request(i) => self.observe_request(i),
                        Who::Client => self.observe(&step.op),
                        Who::Link => self.perform_link(&step.op),
                    };
                    (peer, Some(millis(self.accepted.elapsed())))
                }
            };
            match &peer {
                PeerSaw::NotSeen { .. } if halted.is_none() => {
                    halted = Some(format!("step {} was not seen", i + 1));
                }
                PeerSaw::NotRun { why } if halted.is_none() => halted = Some(why.clone()),
                _ => {}
            }
            // The prediction is taken once the step is played: playing it may have told the
            // peer what the scenario leaves open (how many bytes arrived).
            let unknown = self.unknown_from.filter(|&u| u <= i);
            let known = i < self.prediction.steps.len() && unknown.is_none();
            // Past the point where the oracle's model stops (on the link), or past a request
            // whose length is not known, steps are still played, with nothing to compare them
            // with.
            let predicted: Result<PredictedStep, String> = match self.prediction.steps.get(i) {
                Some(p) if known => Ok(p.clone()),
                _ => Err(match (unknown, &self.prediction.beyond) {
                    (Some(u), _) => format!(
                        "the length of the client's request (step {}) is not known",
                        u + 1
                    ),
                    (None, Some(b)) => b.to_string(),
                    (None, None) => "the oracle gave no prediction for this step".to_string(),
                }),
            };
            let predicted_outcome = predicted.as_ref().ok().map(|p| &p.outcome);
            // A `=>` expectation is checked where the peer sees the result (its own calls);
            // on your program's steps it can only be held against the oracle.
            let expected = step.expect.as_ref();
            match (&peer, expected, predicted_outcome) {
                (PeerSaw::Called { outcome, .. }, Some(e), _) if e != outcome => {
                    self.deviations.push(format!(
                        "step {} expects {e}, the peer's kernel returned {outcome}",
                        i + 1
                    ));
                }
                (_, Some(e), Some(p)) if step.who == End::Client && e != p => {
                    self.deviations.push(format!(
                        "step {} expects {e} of your program's call; the oracle predicts {p}",
                        i + 1,
                    ));
                }
                _ => {}
            }
            let as_scripted = match (&peer, predicted_outcome) {
                (PeerSaw::Called { .. }, None) => None,
                (PeerSaw::Called { outcome, .. }, Some(p)) => {
                    Some(outcome == p && expected.is_none_or(|e| e == outcome))
                }
                (PeerSaw::Seen { .. }, _) => Some(true),
                (PeerSaw::NotSeen { .. } | PeerSaw::NotRun { .. }, _) => Some(false),
                (PeerSaw::Uncounted { .. } | PeerSaw::Unobservable { .. }, _) => None,
            };
            let (predicted, rules, oracle) = match predicted {
                Ok(p) => {
                    let oracle = match step.who {
                        Who::Client => client_call_words(&step, &p),
                        _ => p.outcome.to_string(),
                    };
                    (Predicted::Outcome(p.outcome), p.rules, oracle)
                }
                Err(why) => {
                    let not = Predicted::NotPredicted(why);
                    let oracle = not.to_string();
                    (not, Vec::new(), oracle)
                }
            };
            reports.push(StepReport {
                step: i + 1,
                text: self.script.written(i),
                who: step.who,
                at_ms,
                peer,
                predicted,
                rules,
                oracle,
                as_scripted,
            });
            self.shared.progress(self.number, i + 1);
        }
        reports
    }

    /// Makes `steps` the scenario this connection plays from now on, and predicts it again.
    /// Steps already reported keep their prediction: the oracle's prediction of a step depends
    /// on the steps before it only, and those are what the peer saw. Returns whether it could
    /// (the changed scenario may break the language's bounds: then the old one stays).
    fn replay_with(&mut self, steps: Vec<Step>) -> Result<(), String> {
        let scenario = Scenario::new(steps).map_err(|e| e.to_string())?;
        self.prediction = self.plan.predict(&scenario);
        self.scenario = scenario;
        self.resolved = true;
        Ok(())
    }

    /// Looks at the peer's end. For an open socket, the payload bytes received are
    /// `tcpi_bytes_received` less the client's FIN, which it counts as one byte (the FIN
    /// advances `rcv_nxt`). A FIN is known to have come in CLOSE_WAIT, LAST_ACK, CLOSING and
    /// TIME_WAIT, and in CLOSE when one of those was seen before; CLOSE straight from
    /// FIN_WAIT1/2 may follow the client's FIN or its RST, which the peer cannot tell apart
    /// without consuming the pending error, and is taken as an RST (no FIN counted).
    fn view(&mut self) -> View {
        if let Some(socket) = &self.socket {
            return match sys::tcp_info(socket) {
                Ok(info) => {
                    self.fin_seen |= shows_client_fin(info.state);
                    let fin = shows_client_fin(info.state)
                        || (info.state == TcpState::Close && self.fin_seen);
                    View::Open(info, info.bytes_received.saturating_sub(u64::from(fin)))
                }
                Err(e) => View::Unknown(format!("TCP_INFO: {e}")),
            };
        }
        let (Some(diag), Some((local, remote))) = (&mut self.diag, self.addresses) else {
            return View::Unknown("no sock_diag socket".to_string());
        };
        match diag.lookup(local, remote) {
            Ok(Some(found)) => View::Orphan(found.state),
            Ok(None) => View::Gone,
            Err(e) => View::Unknown(format!("sock_diag: {e}")),
        }
    }

    /// Looks at the socket until `check` says done or impossible, the timeout runs out or the
    /// peer is stopped. Never sleeps longer than about a millisecond between looks. A wait that
    /// ends without the arrival is not seen, and says how far it got.
    fn wait(&mut self, mut check: impl FnMut(&View) -> Check) -> PeerSaw {
        let start = Instant::now();
        let timeout = self.plan.options.timeout;
        let mut round = 0u32;
        loop {
            let view = self.view();
            self.last = Some(view.clone());
            let waited_ms = millis(start.elapsed());
            let progress = match check(&view) {
                Check::Done(what) => return PeerSaw::Seen { what, waited_ms },
                Check::Impossible(why) => return PeerSaw::NotSeen { waited_ms, why },
                Check::Pending(progress) => progress,
            };
            // "67 of 68 bytes arrived (the peer's socket is …)", or the socket alone.
            let so_far = match progress {
                Some(progress) => format!("{progress} ({})", view.describe()),
                None => view.describe(),
            };
            let waited = start.elapsed();
            if waited >= timeout {
                // The time of this look, not of the view before it: a wait that ran out
                // waited the whole timeout (the view was taken a moment earlier).
                return PeerSaw::NotSeen {
                    waited_ms: millis(waited),
                    why: format!("not seen within {timeout:?}: {so_far}"),
                };
            }
            round += 1;
            if round < 32 {
                std::thread::yield_now();
                continue;
            }
            let pause = Duration::from_micros(20 << (round - 32).min(6)).min(timeout - waited);
            if self.shared.pause(pause, |s| s.stopped) {
                let waited_ms = millis(start.elapsed());
                return PeerSaw::NotSeen {
                    waited_ms,
                    why: format!(
                        "the peer was stopped after waiting {}: {so_far}",
                        super::report::ms(waited_ms)
                    ),
                };
            }
        }
    }

    /// Waits for what a `client` step sends to arrive.
    fn observe(&mut self, op: &Op) -> PeerSaw {
        // An orphan that vanished since the last look went on arrival of what is awaited (or
        // of something before it): start from the orphan, and let the wait see it gone.
        let first = match (self.view(), &self.last) {
            (View::Gone, Some(last @ View::Orphan(_))) => last.clone(),
            (now, _) => now,
        };
        let gone = |why: String| PeerSaw::Unobservable { why };
        match op {
            Op::Write(n) => {
                let n = *n as u64;
                let target = self.expected + n;
                self.expected = target;
                // What of this step's bytes arrived: "67 of 68 bytes arrived".
                let part = move |payload: u64| {
                    format!(
                        "{} of {n} byte{} arrived",
                        payload.saturating_sub(target - n),
                        if n == 1 { "" } else { "s" }
                    )
                };
                match first {
                    View::Open(..) => self.wait(|v| match v {
                        View::Open(_, payload) if *payload >= target => Check::Done(format!(
                            "{n} byte{} arrived ({payload} in all)",
                            if n == 1 { "" } else { "s" }
                        )),
                        View::Open(i, payload) if shows_client_end(i.state) => Check::Impossible(format!(
                            "the client's FIN or RST came first ({}); {} ({payload} of the {target} bytes expected in all)",
                            i.state,
                            part(*payload)
                        )),
                        View::Open(_, payload) => Check::Pending(Some(part(*payload))),
                        other => Check::Impossible(other.describe()),
                    }),
                    // A closed socket counts nothing: that something came is all the peer can
                    // see, so the step is not checked (neither as scripted nor not).
                    View::Orphan(TcpState::FinWait1 | TcpState::FinWait2) => match self.wait(|v| match v {
                        View::Gone => Check::Done(
                            "data or an RST reached the peer's closed socket, which is gone (data is answered with RST)".to_string(),
                        ),
                        View::Orphan(TcpState::FinWait1 | TcpState::FinWait2) => Check::Pending(None),
                        View::Orphan(state) => Check::Impossible(format!(
                            "the peer's closed socket moved to {state}: the client's FIN came, not data"
                        )),
                        other => Check::Impossible(other.describe()),
                    }) {
                        PeerSaw::Seen { what, waited_ms } => PeerSaw::Uncounted {
                            what,
                            waited_ms,
                            why: format!(
                                "the peer had closed its socket, which counts no bytes: whether your {n} byte{} or an RST reached it is not known",
                                if n == 1 { "" } else { "s" }
                            ),
                        },
                        other => other,
                    },
                    View::Orphan(state) => gone(format!(
                        "the peer's closed socket is in {state}: the client's FIN arrived already, so no data can follow"
                    )),
                    View::Gone => gone(
                        "the peer's socket is gone (reset, or closed with unread data): nothing sees bytes arrive"
                            .to_string(),
                    ),
                    View::Unknown(why) => gone(why),
                }
            }
            Op::Close | Op::Shutdown(How::Write | How::Both) => {
                self.client_ended = true;
                match first {
                    View::Open(i, _) if shows_client_end(i.state) => PeerSaw::Seen {
                        what: format!("already arrived: the peer's socket is {}", i.state),
                        waited_ms: 0.0,
                    },
                    View::Open(..) => self.wait(|v| match v {
                        View::Open(i, _) if i.state == TcpState::CloseWait => {
                            Check::Done("the client's FIN arrived (CLOSE_WAIT)".to_string())
                        }
                        View::Open(i, _) if shows_client_end(i.state) => Check::Done(format!(
                            "the client's FIN or RST arrived ({})",
                            i.state
                        )),
                        View::Open(..) => Check::Pending(None),
                        other => Check::Impossible(other.describe()),
                    }),
                    View::Orphan(TcpState::FinWait1 | TcpState::FinWait2) => {
                        self.wait(|v| match v {
                            View::Orphan(state @ (TcpState::TimeWait | TcpState::Closing)) => {
                                Check::Done(format!(
                                    "the client's FIN reached the peer's closed socket ({state})"
                                ))
                            }
                            View::Gone => Check::Done(
                                "the peer's closed socket is gone: the client's RST (or data) reached it"
                                    .to_string(),
                            ),
                            View::Orphan(_) => Check::Pending(None),
                            other => Check::Impossible(other.describe()),
                        })
                    }
                    View::Orphan(state) => PeerSaw::Seen {
                        what: format!("already arrived: the peer's closed socket is in {state}"),
                        waited_ms: 0.0,
                    },
                    View::Gone => gone(
                        "the peer's socket is gone: nothing on this side sees a FIN arrive"
                            .to_string(),
                    ),
                    View::Unknown(why) => gone(why),
                }
            }
            Op::Abort => {
                self.client_ended = true;
                match first {
                    View::Open(i, _) if i.state == TcpState::Close => PeerSaw::Seen {
                        what: "already: the peer's socket is CLOSE".to_string(),
                        waited_ms: 0.0,
                    },
                    View::Open(..) => self.wait(|v| match v {
                        View::Open(i, _) if i.state == TcpState::Close => {
                            Check::Done("the client's RST arrived (CLOSE)".to_string())
                        }
                        View::Open(..) => Check::Pending(None),
                        other => Check::Impossible(other.describe()),
                    }),
                    View::Orphan(_) => self.wait(|v| match v {
                        View::Gone => Check::Done(
                            "the peer's closed socket is gone: the client's RST reached it"
                                .to_string(),
                        ),
                        View::Orphan(_) => Check::Pending(None),
                        other => Check::Impossible(other.describe()),
                    }),
                    View::Gone => gone(
                        "the peer's socket is gone: nothing on this side sees an RST arrive"
                            .to_string(),
                    ),
                    View::Unknown(why) => gone(why),
                }
            }
            Op::Sleep(_) => gone("a pause in your program: nothing to observe".to_string()),
            // `super::unplayable` refuses every other client step before the peer listens.
            other => gone(format!("the peer cannot observe `client {other}`")),
        }
    }

    /// Waits for the client's request, step `index` (`client write request`), to arrive whole
    /// (see [`request`]), and makes its length the step's byte count from then on.
    fn observe_request(&mut self, index: usize) -> PeerSaw {
        // A descriptor of its own for peeking, so that the wait's look can use it; closed when
        // this returns. `super::check` refuses a request after the peer's close.
        let Some(socket) = self.socket.as_ref().and_then(|s| s.try_clone().ok()) else {
            return PeerSaw::Unobservable {
                why: "the peer's socket is closed: nothing on its side counts the request's bytes"
                    .to_string(),
            };
        };
        let before = self.expected;
        // The client's bytes before the request that the peer's reads left queued.
        let skip = usize::try_from(before.saturating_sub(self.read)).unwrap_or(usize::MAX);
        let mut peeked = vec![0u8; skip.saturating_add(bounds::MAX_IO + 1)];
        let mut seen = before;
        let mut changed = Instant::now();
        // Looked at again whenever more bytes arrived; nothing has arrived before the first look.
        let mut end = request::RequestEnd::NotHttp;
        let mut length = None;
        let saw = self.wait(|view| {
            let View::Open(info, payload) = view else {
                return Check::Impossible(view.describe());
            };
            let arrived = payload.saturating_sub(before);
            let ended = shows_client_end(info.state);
            if *payload != seen {
                seen = *payload;
                changed = Instant::now();
                // Peeking consumes a pending error: look only in states that have none (an
                // RST turns the socket to CLOSE). MSG_PEEK leaves the bytes queued.
                end = match info.state {
                    TcpState::Established
                    | TcpState::CloseWait
                    | TcpState::FinWait1
                    | TcpState::FinWait2 => match socket.peek(&mut peeked)
                    {
                        Ok(n) => request::end(peeked.get(skip..n).unwrap_or_default()),
                        Err(_) => request::RequestEnd::NotHttp,
                    },
                    _ => request::RequestEnd::NotHttp,
                };
            }
            let bytes = |n: u64| format!("{n} byte{}", if n == 1 { "" } else { "s" });
            if arrived == 0 {
                return if ended {
                    Check::Impossible(format!(
                        "the client's FIN or RST came first ({}), before any byte of the request",
                        info.state
                    ))
                } else {
                    Check::Pending(Some("no byte of the request arrived".to_string()))
                };
            }
            match &end {
                request::RequestEnd::Http(n) => {
                    length = Some(*n);
                    Check::Done(format!(
                        "an HTTP request of {} arrived ({} in all)",
                        bytes(*n as u64),
                        before + *n as u64
                    ))
                }
                request::RequestEnd::HttpPartial(missing) if ended => Check::Impossible(format!(
                    "the client's FIN or RST came ({}) before the end of its HTTP request: {} arrived, {missing}",
                    info.state,
                    bytes(arrived)
                )),
                request::RequestEnd::HttpPartial(missing) => Check::Pending(Some(
                    format!("{} of an HTTP request arrived, {missing}", bytes(arrived)),
                )),
                _ if ended || changed.elapsed() >= QUIET => {
                    length = usize::try_from(arrived).ok();
                    Check::Done(format!(
                        "a request of {} arrived, then {} ({payload} in all)",
                        bytes(arrived),
                        if ended {
                            format!("the client's FIN or RST ({})", info.state)
                        } else {
                            format!("nothing for {QUIET:?}")
                        }
                    ))
                }
                _ => Check::Pending(Some(format!(
                    "{} of the request arrived, waiting for a pause of {QUIET:?}",
                    bytes(arrived)
                ))),
            }
        });
        let (PeerSaw::Seen { waited_ms, .. }, Some(length)) = (&saw, length) else {
            return saw;
        };
        let mut steps = self.scenario.steps().to_vec();
        steps[index].op = Op::Write(length);
        if let Err(why) = self.replay_with(steps) {
            return PeerSaw::NotSeen {
                waited_ms: *waited_ms,
                why: format!(
                    "a request of {length} bytes arrived, past the language's bounds ({why}): the oracle cannot predict it"
                ),
            };
        }
        self.expected = before + length as u64;
        self.unknown_from = self.script.requests().into_iter().find(|&r| r > index);
        saw
    }

    /// Before a server step: notes bytes or a FIN from the client that the scenario does not
    /// have yet, since they change what the peer's calls return.
    fn check_client_ahead(&mut self, step: usize) {
        if self.socket.is_none() {
            return;
        }
        let View::Open(info, payload) = self.view() else {
            return;
        };
        self.note_excess(payload, &format!("before step {step}"));
        if payload > self.expected {
            self.take_excess(step, payload);
        }
        if shows_client_fin(info.state) && !self.client_ended && !self.early_end_reported {
            self.early_end_reported = true;
            self.deviations.push(format!(
                "before step {step} the client's FIN had arrived ({}), but the scenario's client has not ended its side yet",
                info.state
            ));
        }
    }

    /// Notes bytes beyond the scenario's `client write`s as a deviation; not while a request's
    /// length is unknown (one that did not arrive whole, or has not come yet): the scenario
    /// then gives no count to hold them against, and they may be the request itself.
    fn note_excess(&mut self, received: u64, when: &str) {
        if self.unknown_from.is_some() {
            return;
        }
        if received > self.expected && received > self.excess_reported {
            self.excess_reported = received;
            self.deviations.push(format!(
                "{when} the client had sent {received} bytes, {} more than the scenario's client writes up to there ({})",
                received - self.expected,
                self.expected
            ));
        }
    }

    /// Bytes beyond the scenario's arrived before step `step` (1-based): they are in the
    /// peer's receive queue, and change what its calls do (a close with unread bytes sends
    /// RST). The prediction from here on takes them as part of the client's last write before
    /// the step, so that it starts from what arrived; a later `client write N` waits for N more.
    fn take_excess(&mut self, step: usize, received: u64) {
        let extra = received - self.expected;
        let mut steps = self.scenario.steps().to_vec();
        let last_write = steps[..step - 1]
            .iter_mut()
            .rev()
            .find(|s| s.who == End::Client && matches!(s.op, Op::Write(_)));
        let Some(last_write) = last_write else {
            self.deviations.push(format!(
                "the oracle's predictions from step {step} on do not count those bytes: the scenario has no client write before it to take them"
            ));
            return;
        };
        let Op::Write(n) = last_write.op else {
            return;
        };
        let Ok(extra) = usize::try_from(extra) else {
            return;
        };
        last_write.op = Op::Write(n.saturating_add(extra));
        match self.replay_with(steps) {
            Ok(()) => self.expected = received,
            Err(why) => self.deviations.push(format!(
                "the oracle's predictions from step {step} on do not count those bytes: with them {why}"
            )),
        }
    }

    /// Applies a `link` step to the real-time link.
    fn perform_link(&mut self, op: &Op) -> PeerSaw {
        match (&self.plan.link, op) {
            (Some(link), Op::Link(op)) => {
                link.apply(*op);
                PeerSaw::Called {
                    outcome: Outcome::Ok,
                    state: self.open_state(),
                }
            }
            // `super::check` refuses link steps without a link before the peer listens.
            _ => PeerSaw::NotRun {
                why: format!("`link {op}` needs the emulated link"),
            },
        }
    }

    /// Makes a `server` step's call.
    fn perform(&mut self, op: &Op) -> PeerSaw {
        if let Op::Sleep(d) = op {
            if self.shared.pause(*d, |s| s.stopped) {
                return PeerSaw::NotRun {
                    why: "the peer was stopped during the pause".to_string(),
                };
            }
            return PeerSaw::Called {
                outcome: Outcome::Ok,
                state: self.open_state(),
            };
        }
        let Some(stream) = &mut self.socket else {
            // Scenario::new forbids this; say so rather than panic if it ever happens.
            return PeerSaw::Called {
                outcome: Outcome::NoErrno("the peer's socket is already closed".to_string()),
                state: None,
            };
        };
        let outcome = match op {
            Op::Write(n) => {
                let n = *n;
                let payload = &self.plan.options.respond;
                if payload.is_empty() {
                    self.buffer[..n].fill(b'x');
                } else {
                    for byte in &mut self.buffer[..n] {
                        *byte = payload[self.payload_at % payload.len()];
                        self.payload_at += 1;
                    }
                }
                Outcome::of_write(stream.write(&self.buffer[..n]))
            }
            Op::Read(n) => {
                let outcome = Outcome::of_read(stream.read(&mut self.buffer[..*n]));
                if let Outcome::Bytes(k) = outcome {
                    self.read += k as u64;
                }
                outcome
            }
            Op::Shutdown(how) => Outcome::of_unit(stream.shutdown(how.to_std())),
            Op::Set(setting) => crate::run::set(SockRef::from(&*stream), *setting),
            Op::Close | Op::Abort => {
                if *op == Op::Abort
                    && let Err(e) = SockRef::from(&*stream).set_linger(Some(Duration::ZERO))
                {
                    return PeerSaw::Called {
                        outcome: Outcome::of_error(&e),
                        state: self.open_state(),
                    };
                }
                match self.socket.take() {
                    Some(stream) => Outcome::of_unit(sys::close(OwnedFd::from(stream))),
                    None => Outcome::NoErrno("the peer's socket is already closed".to_string()),
                }
            }
            other => Outcome::NoErrno(format!("the peer cannot play `server {other}`")),
        };
        PeerSaw::Called {
            outcome,
            state: self.open_state(),
        }
    }

    fn open_state(&self) -> Option<TcpState> {
        let socket = self.socket.as_ref()?;
        sys::tcp_info(socket).ok().map(|i| i.state)
    }

    /// After the steps: a socket the scenario left open is held until the client ends the
    /// connection, the peer is finished, or the timeout runs out (only when every step was
    /// played), then closed. Says what it did.
    fn release(&mut self, played: bool) -> String {
        if self.socket.is_none() {
            return "the peer's socket was already closed by the scenario".to_string();
        }
        if let View::Open(_, payload) = self.view() {
            self.note_excess(payload, "after the last step");
        }
        let held = Instant::now();
        let timeout = self.plan.options.timeout;
        let how = if !played {
            "the peer stopped playing and closed its socket".to_string()
        } else {
            let mut round = 0u32;
            loop {
                let info = self.socket.as_ref().map(sys::tcp_info);
                let state = match info {
                    Some(Ok(info)) => info.state,
                    Some(Err(e)) => {
                        break format!("the peer could not see its socket ({e}) and closed it");
                    }
                    None => break String::new(),
                };
                if shows_client_end(state) {
                    break format!(
                        "the peer kept its socket open until the client ended the connection ({state}, {} after the last step), then closed it",
                        super::report::ms(millis(held.elapsed()))
                    );
                }
                if held.elapsed() >= timeout {
                    break format!(
                        "the peer kept its socket open for {timeout:?} without the client ending the connection, then closed it"
                    );
                }
                round += 1;
                let pause = Duration::from_micros(50 << round.min(5));
                if self.shared.pause(pause, |s| s.stopped || s.finishing) {
                    break "the peer kept its socket open until it was finished, then closed it"
                        .to_string();
                }
            }
        };
        if let View::Open(_, payload) = self.view() {
            self.note_excess(payload, "when the peer closed its socket");
        }
        if let Some(socket) = self.socket.take()
            && let Err(e) = sys::close(OwnedFd::from(socket))
        {
            self.deviations
                .push(format!("closing the peer's socket after the scenario: {e}"));
        }
        how
    }
}
