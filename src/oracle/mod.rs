//! The oracle: a state model of the Linux TCP stack that predicts every step of a scenario.
//!
//! Two parts, as in the kernel and on a real network:
//! - the **endpoints** (`endpoint.rs`): each end as the kernel keeps it: its TCP state, its
//!   sequence numbers, its send queue (bytes the congestion window holds back), its receive
//!   queue and out-of-order queue, whether a FIN arrived (`SOCK_DONE`), its shutdown flags, the
//!   single pending socket error (`sk_err`, which the next failing read or write consumes), and
//!   whether the application still holds it (open), closed it while the kernel keeps it alive
//!   (orphan), or the kernel has destroyed it (gone); a TIME_WAIT stub may answer for it. A call
//!   changes its end and may emit segments (data, FIN, RST, ACK); an arriving segment changes
//!   its receiver, which may answer;
//! - the **wire** ([`Wire`]): the segments in flight with their due times and the virtual
//!   clock, the same type the emulated link uses. A step's segments are delivered in order of
//!   due time, and each answer in turn, until nothing is due; `sleep` moves the clock on.
//!
//! On loopback the wire has no delay and every step settles completely, which is what the
//! loopback runner waits for. On the link, delay, hold and drop make time matter.
//!
//! ## Bounds: what the model refuses to guess
//! The model follows the kernel exactly while no timer would fire and the congestion window
//! only grows at an instant the link cannot stretch. Where a scenario leaves that ground the
//! prediction stops with [`Beyond`] and the step and reason: a segment left unacknowledged for
//! [`RETRANSMIT_AFTER`] of virtual time (a real kernel would retransmit it), a third duplicate
//! ACK (fast retransmit), or the congestion window growing while the link has a delay or
//! holds segments (slow start's exact timing). Generated scenarios stay inside.
//!
//! The model holds no table of known scenarios: outcomes follow from the state alone. Every
//! decision names the [`Rule`] behind it; the rules' doc strings and [`Rule::mechanism`] give the
//! kernel function and RFC section.

pub mod kernel;

mod endpoint;
pub mod invariants;
mod limit;
mod options;
mod silence;
#[cfg(test)]
mod tests_by_cut;
#[cfg(test)]
mod tests_by_kernel;
#[cfg(test)]
mod tests_by_state;
#[cfg(test)]
mod tests_by_time;
pub mod timers;

use std::time::Duration;

use serde::Serialize;

use crate::backend::Backend;
use crate::net::Net;
use crate::net::wire::Wire;
use crate::oracle::kernel::Kernel;
use crate::outcome::{Errno, Outcome, PollEvents};
use crate::reasons::Expected;
use crate::rules::Rule;
use crate::scenario::{End, How, LinkOp, Op, Scenario, Step};
use crate::tcp::TcpState;

use endpoint::{Endpoint, Life};
pub use limit::{Beyond, LAB_MAX_SLEEP, Limit};
use options::Options;
pub use silence::MARGIN as TIMER_MARGIN;

/// Payload bytes per segment on the link: MTU 1500 less the IPv4 and TCP headers and the
/// timestamp option (`tcp_mss`: 1500 - 20 - 20 - 12).
pub const LINK_MSS: usize = 1448;

/// The most payload one segment carries on IPv4 loopback, measured (`server close; client
/// write N`: up to 65,483 bytes one segment and one RST, from 65,484 two segments, the second
/// meeting no socket): lo's 64 KiB MTU less the headers and the timestamp option. Only the
/// language's largest writes (up to 64 KiB) are split, and only the number of segments, hence
/// of RSTs, shows it.
pub const LOOPBACK_MSS: usize = 65_483;

/// The least virtual time after which a real kernel retransmits an unacknowledged segment: its
/// retransmission timer is at least `tcp_rto_min` (200 ms) plus the smoothed round trip.
pub const RETRANSMIT_AFTER: Duration = Duration::from_millis(200);

/// What the oracle says of one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PredictedStep {
    /// The syscall's result.
    pub outcome: Outcome,
    /// The rules that decided the outcome and the consequences of the step, in order.
    pub rules: Vec<Rule>,
    /// The data, FIN and RST segments sent during the step, in the order sent (a data segment
    /// that carries a FIN is its data, then its FIN). Pure ACKs are left out.
    pub segments: Vec<Segment>,
    /// The TCP state of each socket the application still holds, once the step has settled:
    /// index 0 the client, 1 the server.
    pub states: [Option<TcpState>; 2],
    /// Segments still held or in flight on the link after the step.
    pub in_flight: usize,
    /// What poll(2) would report for each socket the application still holds, once the step
    /// has settled (index 0 the client, 1 the server): the events an epoll-based API such as
    /// tokio is told of.
    #[serde(skip)]
    pub readiness: [Option<PollEvents>; 2],
}

/// A segment on the wire, as the model sees it. Pure ACKs are left out of predictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// The sender.
    pub from: End,
    /// What it carries.
    pub kind: SegmentKind,
    /// The rule that made the sender's kernel emit it.
    pub rule: Rule,
    /// For an RST: the reason the sender's kernel gives (its `tcp_send_reset` event), from the
    /// path in the kernel that sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Expected>,
}

/// The kinds of segment that matter to outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentKind {
    /// Payload of this many bytes.
    Data(usize),
    /// FIN.
    Fin,
    /// RST.
    Rst,
}

/// The oracle's prediction for a whole scenario: one [`PredictedStep`] per step, fewer when
/// the scenario goes [`Beyond`] the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// One entry per step of the scenario, up to `beyond`'s step (excluded).
    pub steps: Vec<PredictedStep>,
    /// Set when the model stops before the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beyond: Option<Beyond>,
}

/// What a prediction assumes: which kernel, which socket API, which network and which TCP
/// settings. One value, passed in like the kernel profile it holds; [`Settings::default`] is the
/// running kernel, std, the network the scenario needs ([`Net::for_scenario`]) and the settings
/// rstlab's namespaces use.
///
/// ```
/// use rstlab::oracle::{self, Settings};
/// use rstlab::oracle::kernel::Kernel;
/// use rstlab::run::{Backend, Net};
/// let settings = Settings { kernel: Kernel::NEWEST, backend: Backend::Tokio, net: Some(Net::Link), ..Settings::default() };
/// assert_eq!(settings.net_for(&"client write 1".parse().unwrap()), Net::Link);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The kernel whose behaviour is predicted.
    pub kernel: Kernel,
    /// The socket API whose reports are predicted: the kernel's answer, except where the API
    /// is known to report something else.
    pub backend: Backend,
    /// The network; `None` for the one the scenario needs ([`Net::for_scenario`]).
    pub net: Option<Net>,
    /// The TCP settings of both hosts.
    pub tcp: TcpSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            kernel: Kernel::running(),
            backend: Backend::Std,
            net: None,
            tcp: TcpSettings::Lab,
        }
    }
}

impl Settings {
    /// The network `scenario` is predicted on.
    pub fn net_for(&self, scenario: &Scenario) -> Net {
        self.net.unwrap_or_else(|| Net::for_scenario(scenario))
    }
}

/// The TCP settings a prediction assumes for both hosts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TcpSettings {
    /// What rstlab's namespaces set so that every step settles the same way on every run: on
    /// loopback the kernel's defaults, on the link the table `SETTINGS` and the route metrics
    /// of [`crate::net::link`] (quick ACKs, Reno, no SACK, a fixed `rto_min`). The model
    /// follows them exactly while no retransmission timer would fire ([`Limit`]).
    #[default]
    Lab,
    /// The kernel's defaults (`rto_min` 200 ms, loss probes, SACK, RACK, keepalive's sysctls)
    /// in the kernel's own time: the lane, where the guest's clock is virtual and sleeps of
    /// any length pass at once. The link keeps Reno and quick ACKs (see
    /// [`crate::net::link::SETTINGS`] under the real clock). The model follows the timers
    /// of a connection whose peer fell silent on a cut link ([`silence`]) and sleeps up to
    /// the language's bound.
    KernelTime,
}

/// Predicts what `settings.backend`'s API reports for every step of `scenario`, on
/// `settings.kernel` and `settings.net`: the kernel model, then the API's own quirks, kept out
/// of the kernel model (each such place names its rule).
///
/// ```
/// use rstlab::{oracle, Errno, Outcome, Rule, Scenario};
/// use rstlab::oracle::Settings;
/// let seed: Scenario = "client write 1; server read 1; server close; client write 1; client write 1"
///     .parse()
///     .unwrap();
/// let p = oracle::predict(&seed, &Settings::default());
/// assert_eq!(p.steps[3].outcome, Outcome::Bytes(1));
/// assert!(p.steps[3].rules.contains(&Rule::WriteAfterPeerCloseSucceeds));
/// assert_eq!(p.steps[4].outcome, Outcome::Err(Errno::EPIPE));
/// ```
///
/// On the link, with a kernel of choice:
///
/// ```
/// use rstlab::{oracle, Scenario};
/// use rstlab::oracle::{Settings, kernel::Kernel};
/// use rstlab::run::Net;
/// // The seed on a 20 ms link: the FIN, then the RST, are each a delay away.
/// let s: Scenario = "link delay 20ms; client write 1; client sleep 20ms; server read 1; \
///     server close; client write 1; client sleep 20ms; client write 1; client sleep 20ms; \
///     client write 1".parse().unwrap();
/// let settings = Settings { kernel: Kernel::NEWEST, net: Some(Net::Link), ..Settings::default() };
/// let p = oracle::predict(&s, &settings);
/// let writes: Vec<String> = [1, 5, 7, 9].iter().map(|&i| p.steps[i].outcome.to_string()).collect();
/// assert_eq!(writes, ["ok(1)", "ok(1)", "ok(1)", "EPIPE"]);
/// ```
///
/// Each API's quirks:
///
/// ```
/// use rstlab::{oracle, Errno, Outcome, Scenario};
/// use rstlab::oracle::Settings;
/// use rstlab::run::Backend;
/// let s: Scenario = "server abort; client shutdown write".parse().unwrap();
/// let on = |backend| oracle::predict(&s, &Settings { backend, ..Settings::default() }).steps[1].outcome.clone();
/// assert_eq!(on(Backend::Std), Outcome::Err(Errno::ENOTCONN));
/// assert_eq!(on(Backend::Tokio), Outcome::Ok);
/// // tokio's readiness is a cache: after the read took the byte, poll(2) says OUT alone, tokio
/// // still says readable.
/// let s: Scenario = "client write 1; server read 1; server poll".parse().unwrap();
/// let poll = |backend| oracle::predict(&s, &Settings { backend, ..Settings::default() }).steps[2].outcome.to_string();
/// assert_eq!(poll(Backend::Std), "OUT");
/// assert_eq!(poll(Backend::Tokio), "IN|OUT");
/// ```
pub fn predict(scenario: &Scenario, settings: &Settings) -> Prediction {
    let mut model = match settings.tcp {
        TcpSettings::Lab => Model::on(settings.net_for(scenario), settings.kernel),
        TcpSettings::KernelTime => {
            Model::in_kernel_time(settings.net_for(scenario), settings.kernel)
        }
    };
    let mut prediction = Prediction {
        steps: Vec::with_capacity(scenario.steps().len()),
        beyond: None,
    };
    for (i, step) in scenario.steps().iter().enumerate() {
        match model.step(step) {
            Ok(p) => prediction.steps.push(p),
            Err(reason) => {
                prediction.beyond = Some(Beyond {
                    step: i + 1,
                    reason,
                });
                break;
            }
        }
    }
    if settings.backend == Backend::Tokio {
        let mut cache = TokioReadiness::new();
        for (step, predicted) in scenario.steps().iter().zip(&mut prediction.steps) {
            let hidden = Outcome::Err(Errno::ENOTCONN);
            if step.op == Op::Shutdown(How::Write) && predicted.outcome == hidden {
                predicted.outcome = Outcome::Ok;
                predicted.rules.push(Rule::TokioShutdownHidesEnotconn);
            }
            cache.step(step, predicted);
        }
    }
    prediction
}

/// What tokio believes of each socket's readiness: the events of every edge epoll reported,
/// ORed together, less READABLE where a read returned WouldBlock since. In the language's
/// names, the way the tokio runner reports `TcpStream::ready()` (see `run::tokio_backend`).
struct TokioReadiness {
    cached: [PollEvents; 2],
}

impl TokioReadiness {
    /// A fresh connection: registration reports OUT (epoll_ctl(EPOLL_CTL_ADD) queues the
    /// socket when it is ready), which the first settle delivers.
    fn new() -> TokioReadiness {
        TokioReadiness {
            cached: [tokio_sees(PollEvents::OUT); 2],
        }
    }

    /// Applies one step: its answer for a `poll`, its clearing for a read that met EAGAIN, then
    /// the edges of the step's end. Every change of a socket's events wakes epoll (data and FIN
    /// through sk_data_ready(), RST through sk_error_report() and sk_state_change(), shutdown
    /// through sk_state_change()), and the runner lets the reactor run once each step has
    /// settled; events only go away without a wakeup (a read takes the bytes, a call the
    /// error), so ORing in the events of every step's end is what the reactor sees.
    fn step(&mut self, step: &Step, predicted: &mut PredictedStep) {
        if step.op.on_socket()
            && let Some(actor) = step.end()
        {
            let me = actor.index();
            match (&step.op, &predicted.outcome) {
                (Op::Poll, Outcome::Ready(kernel)) => {
                    let kernel = *kernel;
                    let tokio = self.cached[me];
                    if tokio.contains(PollEvents::IN) && !kernel.contains(PollEvents::IN) {
                        predicted.rules.push(Rule::TokioReadableUntilWouldBlock);
                    }
                    if tokio.contains(PollEvents::ERR) && !kernel.contains(PollEvents::ERR) {
                        predicted.rules.push(Rule::TokioErrorReadinessStays);
                    }
                    predicted.outcome = Outcome::Ready(tokio);
                }
                (Op::Read(_), Outcome::Err(Errno::EAGAIN)) => {
                    self.cached[me] = self.cached[me].without(PollEvents::IN);
                }
                _ => {}
            }
        }
        for (cached, now) in self.cached.iter_mut().zip(predicted.readiness) {
            if let Some(now) = now {
                *cached |= tokio_sees(now);
            }
        }
    }
}

/// What tokio makes of an edge whose events are `kernel`, in the language's names: mio's
/// epoll selector (registered for EPOLLIN | EPOLLRDHUP | EPOLLOUT | EPOLLET, so EPOLLPRI never
/// comes) gives readable = IN or PRI, writable = OUT, read-closed = HUP, or IN with RDHUP,
/// write-closed = HUP, or OUT with ERR, or ERR alone, error = ERR; tokio's `Ready::from_mio()`
/// keeps them, and the runner names readable IN, writable OUT, read-closed RDHUP, error ERR
/// and write-closed HUP.
fn tokio_sees(kernel: PollEvents) -> PollEvents {
    let has = |e| kernel.contains(e);
    let mut seen = PollEvents::NONE;
    let pairs = [
        (has(PollEvents::IN), PollEvents::IN),
        (has(PollEvents::OUT), PollEvents::OUT),
        (
            has(PollEvents::HUP) || (has(PollEvents::IN) && has(PollEvents::RDHUP)),
            PollEvents::RDHUP,
        ),
        (has(PollEvents::ERR), PollEvents::ERR),
        (
            has(PollEvents::HUP)
                || (has(PollEvents::OUT) && has(PollEvents::ERR))
                || kernel == PollEvents::ERR,
            PollEvents::HUP,
        ),
    ];
    for (set, event) in pairs {
        if set {
            seen |= event;
        }
    }
    seen
}

/// A segment in the model, as it travels: the fields an arriving segment is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wired {
    from: End,
    seq: u32,
    /// The acknowledgement number; `None` for an RST sent in answer to a segment.
    ack: Option<u32>,
    len: usize,
    fin: bool,
    /// An RST, with the reason its sender's kernel gives.
    rst: Option<Expected>,
    /// A pure ACK the sender's kernel delays (the ACK of a FIN on loopback, 40 ms): the model
    /// delivers it at once, as the states are the same either way, but the kernel sends it
    /// alone only when the timer fires before the sender's next segment, which carries it
    /// otherwise. Only the reason of an RST it leads to depends on which came first.
    late: bool,
}

/// What one step produces while it runs: rules, segments to put on the wire, and whether it
/// left the model's ground.
#[derive(Default)]
struct Effects {
    rules: Vec<Rule>,
    outbox: Vec<(Wired, Option<Rule>)>,
    segments: Vec<Segment>,
    beyond: Option<Limit>,
}

impl Effects {
    fn rule(&mut self, rule: Rule) {
        if !self.rules.contains(&rule) {
            self.rules.push(rule);
        }
    }

    /// Sends a segment; `rule` names why (and is recorded) unless it is a pure ACK.
    fn emit(&mut self, segment: Wired, rule: Option<Rule>) {
        if let Some(rule) = rule {
            self.rule(rule);
            let from = segment.from;
            if segment.len > 0 {
                self.segments.push(Segment {
                    from,
                    kind: SegmentKind::Data(segment.len),
                    rule,
                    reason: None,
                });
            }
            if segment.fin {
                self.segments.push(Segment {
                    from,
                    kind: SegmentKind::Fin,
                    rule,
                    reason: None,
                });
            }
            if let Some(reason) = segment.rst {
                self.segments.push(Segment {
                    from,
                    kind: SegmentKind::Rst,
                    rule,
                    reason: Some(reason),
                });
            }
        }
        self.outbox.push((segment, rule));
    }

    fn beyond(&mut self, reason: Limit) {
        self.beyond.get_or_insert(reason);
    }
}

/// The state of both endpoints and of the wire between them; [`predict`] drives it one step at
/// a time.
#[derive(Clone, Debug)]
pub struct Model {
    ends: [Endpoint; 2],
    wire: Wire<Wired>,
    /// Linux delays ACKs here (loopback: no `quickack` route). The model knows when it delays
    /// the ACK of a FIN, not the ACK of data.
    delays_acks: bool,
    /// Each end's timer options (`set`) and quiet time.
    options: [Options; 2],
    /// The kernel's own time ([`TcpSettings::KernelTime`]): the timers of a silent peer's
    /// connection are followed ([`silence`]).
    timed: bool,
    /// The kernel whose timers are followed.
    kernel: Kernel,
    /// Each end's timer at work, in the kernel's time.
    stories: [Option<silence::Story>; 2],
    /// Since when each end has a closed socket the kernel keeps (an orphan, a FIN_WAIT2 or
    /// TIME_WAIT mini-socket), whose own timers run from then.
    kept_since: [Option<Duration>; 2],
}

impl Default for Model {
    fn default() -> Self {
        Model::new()
    }
}

impl Model {
    /// Both endpoints on a freshly established loopback connection, on the running kernel.
    pub fn new() -> Model {
        Model::on(Net::Loopback, Kernel::running())
    }

    /// Both endpoints on a freshly established connection on `net`, behaving as `kernel`
    /// does. On loopback a write is one
    /// segment up to [`LOOPBACK_MSS`] bytes (its MTU is 64 KiB); on the link segments carry at
    /// most [`LINK_MSS`] bytes.
    pub fn on(net: Net, kernel: Kernel) -> Model {
        let mss = match net {
            Net::Loopback => LOOPBACK_MSS,
            Net::Link => LINK_MSS,
        };
        Model {
            ends: [
                Endpoint::established(End::Client, mss, kernel, net == Net::Loopback),
                Endpoint::established(End::Server, mss, kernel, net == Net::Loopback),
            ],
            wire: Wire::new(),
            delays_acks: net == Net::Loopback,
            options: [Options::default(); 2],
            timed: false,
            kernel,
            stories: [None, None],
            kept_since: [None; 2],
        }
    }

    /// [`Model::on`] in the kernel's own time ([`TcpSettings::KernelTime`]).
    pub fn in_kernel_time(net: Net, kernel: Kernel) -> Model {
        Model {
            timed: true,
            ..Model::on(net, kernel)
        }
    }

    /// Applies one step and returns its prediction, or why the model cannot follow it.
    pub fn step(&mut self, step: &Step) -> Result<PredictedStep, Limit> {
        let mut fx = Effects::default();
        let now = self.wire.now();
        let outcome = match step.op {
            Op::Sleep(d) => {
                self.advance(d, &mut fx)?;
                Outcome::Ok
            }
            Op::Link(op) => {
                self.link(op, &mut fx);
                Outcome::Ok
            }
            ref op => {
                // The checker admits a socket op or a pause of an end only.
                let Some(a) = step.end() else {
                    return Err(Limit::LinkHasNoSocket(step.to_string()));
                };
                if *op == Op::Reboot && self.delays_acks {
                    return Err(Limit::RebootWithDelayedAcks(a));
                }
                if let Some(story) = &self.stories[a.index()] {
                    silence::allows(story, a, op)?;
                }
                let outcome = self.call(a, op, now, &mut fx);
                self.deliver(&mut fx);
                outcome
            }
        };
        if let Some(reason) = fx.beyond {
            return Err(reason);
        }
        // Only the kernel's time follows a kept socket's timers: the lab's hot path skips it.
        if self.timed {
            for (since, e) in self.kept_since.iter_mut().zip(&self.ends) {
                if e.life == Life::Orphan || e.stub.is_some() {
                    since.get_or_insert(self.wire.now());
                }
            }
        }
        Ok(PredictedStep {
            outcome,
            rules: fx.rules,
            segments: fx.segments,
            states: self.open_states(),
            in_flight: self.wire.len(),
            readiness: self
                .ends
                .each_ref()
                .map(|e| (e.life == Life::Open).then(|| e.poll())),
        })
    }

    fn call(&mut self, a: End, op: &Op, now: Duration, fx: &mut Effects) -> Outcome {
        let peer = &self.ends[a.peer().index()];
        let peer_closed = peer.life != Life::Open || peer.fin_seq.is_some();
        let peer_fin_sent = peer.fin_seq.is_some();
        let peer_sent = peer.snd_nxt;
        let me = &mut self.ends[a.index()];
        match *op {
            Op::Write(n) => {
                let in_flight_fin = me.state == TcpState::Established && peer_fin_sent;
                let outcome = me.write(n, now, fx);
                if matches!(outcome, Outcome::Bytes(_)) {
                    if in_flight_fin {
                        fx.rule(Rule::WriteWhileFinInFlightFindsEstablished);
                    }
                    if peer_closed {
                        fx.rule(Rule::WritesWithinARoundTripSucceed);
                    }
                }
                outcome
            }
            Op::Read(n) => me.read(n, fx),
            Op::Close => me.close(false, peer_sent, now, fx),
            Op::Abort => me.close(true, peer_sent, now, fx),
            Op::Reboot => me.forget(fx),
            Op::Shutdown(how) => me.shutdown(how, now, fx),
            Op::Poll => {
                me.poll_rules(fx);
                if peer_fin_sent
                    && !me.fin_received
                    && me.life == Life::Open
                    && me.state != TcpState::Close
                {
                    fx.rule(Rule::PollCannotSeeAFinInFlight);
                }
                Outcome::Ready(me.poll())
            }
            Op::Error => me.take_error(fx),
            Op::Set(setting) => {
                self.options[a.index()].set(setting);
                // Quiet for IDLE already: the probe leaves at once.
                if let Err(limit) = self.keepalive_waits(a, Duration::ZERO) {
                    fx.beyond = Some(limit);
                }
                fx.rule(Rule::TimerOptionsSendNothing);
                Outcome::Ok
            }
            Op::Sleep(_) | Op::Link(_) => unreachable!("not a socket call"),
        }
    }

    /// Puts what the endpoints sent on the wire, then delivers everything due now, and every
    /// answer in turn.
    fn deliver(&mut self, fx: &mut Effects) {
        self.post(fx);
        while let Some((from, segment, _)) = self.wire.pop_due() {
            let now = self.wire.now();
            self.options[from.peer().index()].received();
            self.ends[from.peer().index()].receive(segment, now, fx);
            self.post(fx);
        }
    }

    fn post(&mut self, fx: &mut Effects) {
        let mut lost = false;
        for (segment, _) in fx.outbox.drain(..) {
            if let Some((from, segment, _)) = self.wire.push(segment.from, segment, 0) {
                self.lose(from, &segment);
                lost = true;
            }
        }
        if lost {
            fx.rule(Rule::CutLosesSegments);
        }
    }

    /// A segment the link lost (`link drop`, or sent across a `link cut`): only a lost RST
    /// changes what the model predicts later (its sender answers the next segment anew); lost
    /// data and FINs stay unacknowledged, which [`Model::advance`] refuses to wait past.
    fn lose(&mut self, from: End, segment: &Wired) {
        if segment.rst.is_some() {
            self.ends[from.index()].rst_lost = true;
        }
    }

    /// Whether `end`'s keepalive timer stays quiet for the next `d` ([`Options`]); it runs on a
    /// socket the application holds, until the connection is over.
    fn keepalive_waits(&self, end: End, d: Duration) -> Result<(), Limit> {
        let e = &self.ends[end.index()];
        let live = e.life == Life::Open && e.state != TcpState::Close;
        match self.options[end.index()].keepalive_fires_within(d) {
            Some(idle) if live => Err(Limit::Keepalive { who: end, idle }),
            _ => Ok(()),
        }
    }

    /// `sleep D`: the clock moves on, delivering every segment at its due time; the model stops
    /// where a real kernel would retransmit.
    fn advance(&mut self, d: Duration, fx: &mut Effects) -> Result<(), Limit> {
        if !self.timed && d > LAB_MAX_SLEEP {
            return Err(Limit::LongSleep(d));
        }
        let target = self.wire.now() + d;
        let before = self.wire.len();
        if self.timed {
            self.closed_sockets_wait(target)?;
        }
        let timers_acted = self.timed && self.timers_until(target, fx)?;
        for end in End::BOTH {
            if self.stories[end.index()].is_none() {
                self.keepalive_waits(end, d)?;
            }
        }
        for e in &mut self.ends {
            e.time_passes(d);
        }
        for o in &mut self.options {
            o.time_passes(d);
        }
        loop {
            let next = self.wire.next_due().filter(|&t| t <= target);
            let until = next.unwrap_or(target);
            for e in &self.ends {
                let live = e.life != Life::Gone && e.state != TcpState::Close;
                let live = live && self.stories[e.me.index()].is_none();
                if let Some(sent) = e.oldest_unacked().filter(|_| live)
                    && until > sent + RETRANSMIT_AFTER
                {
                    return Err(Limit::Retransmission {
                        who: e.me,
                        after: RETRANSMIT_AFTER,
                    });
                }
            }
            self.wire.advance_to(until);
            self.deliver(fx);
            if next.is_none() {
                break;
            }
        }
        if timers_acted {
            // The timers' rules say what the sleep did.
            return Ok(());
        }
        fx.rule(if before > 0 || !fx.segments.is_empty() {
            Rule::SegmentsArriveAfterTheDelay
        } else {
            Rule::SleepChangesNothing
        });
        Ok(())
    }

    /// A `link` step.
    fn link(&mut self, op: LinkOp, fx: &mut Effects) {
        // In the kernel's time a delay stops the model, so a story never meets one.
        if matches!(op, LinkOp::Delay(d) if self.timed && !d.is_zero()) {
            fx.beyond(Limit::DelayInKernelTime);
        }
        if op == LinkOp::Restore
            && let Some(who) = End::BOTH
                .into_iter()
                .find(|e| self.stories[e.index()].is_some())
        {
            fx.beyond(Limit::Timer {
                who,
                timer: "retransmission or keepalive",
                why: "the link comes back while the timer runs: what its next segment meets is not followed yet",
            });
        }
        for (from, segment, _) in self.wire.apply(op) {
            self.lose(from, &segment);
        }
        fx.rule(match op {
            LinkOp::Drop => Rule::DropLosesSegments,
            LinkOp::Cut => Rule::CutLosesSegments,
            _ => Rule::SegmentsArriveAfterTheDelay,
        });
        self.deliver(fx);
    }

    /// The TCP state of each socket the application holds.
    pub fn open_states(&self) -> [Option<TcpState>; 2] {
        self.ends
            .each_ref()
            .map(|e| (e.life == Life::Open).then_some(e.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(text: &str) -> Vec<String> {
        let s: Scenario = text.parse().unwrap();
        predict(&s, &Settings::default())
            .steps
            .iter()
            .map(|p| p.outcome.to_string())
            .collect()
    }

    #[test]
    fn the_seed_writes_ok_ok_epipe() {
        let o =
            outcomes("client write 1; server read 1; server close; client write 1; client write 1");
        assert_eq!(o, ["ok(1)", "ok(1)", "ok", "ok(1)", "EPIPE"]);
    }

    #[test]
    fn close_with_unread_data_sends_rst_and_the_peer_sees_econnreset() {
        let s: Scenario = "client write 2; server close; client read 1; client read 1"
            .parse()
            .unwrap();
        let p = predict(&s, &Settings::default());
        assert_eq!(p.steps[1].segments[0].kind, SegmentKind::Rst);
        assert_eq!(p.steps[2].outcome, Outcome::Err(Errno::ECONNRESET));
        assert_eq!(p.steps[3].outcome, Outcome::Eof);
    }

    #[test]
    fn abort_sends_rst_not_fin() {
        let p = predict(&"server abort".parse().unwrap(), &Settings::default());
        let kinds: Vec<_> = p.steps[0].segments.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [SegmentKind::Rst]);
        assert_eq!(p.steps[0].states, [Some(TcpState::Close), None]);
    }

    #[test]
    fn rst_after_fin_leaves_epipe_that_reads_do_not_consume() {
        let o =
            outcomes("server close; client write 1; client read 1; client write 1; client write 1");
        assert_eq!(o, ["ok", "ok(1)", "eof", "EPIPE", "EPIPE"]);
    }

    #[test]
    fn rst_on_established_is_reported_once_then_epipe_and_eof() {
        let o = outcomes("server abort; client write 1; client write 1; client read 1");
        assert_eq!(o, ["ok", "ECONNRESET", "EPIPE", "eof"]);
        let o = outcomes("server abort; client read 1; client read 1; client write 1");
        assert_eq!(o, ["ok", "ECONNRESET", "eof", "EPIPE"]);
    }

    #[test]
    fn data_queued_before_rst_is_still_readable() {
        let o =
            outcomes("server write 3; server abort; client read 2; client read 2; client read 2");
        assert_eq!(o, ["ok(3)", "ok", "ok(2)", "ok(1)", "ECONNRESET"]);
    }

    #[test]
    fn half_close_does_not_make_the_peer_writes_fail() {
        let o = outcomes(
            "client shutdown write; server read 1; server write 4; server write 4; client read 8",
        );
        assert_eq!(o, ["ok", "eof", "ok(4)", "ok(4)", "ok(8)"]);
    }

    #[test]
    fn shutdown_both_then_peer_data_resets_both_ends() {
        let o = outcomes("server shutdown both; client write 1; client write 1; server read 1");
        assert_eq!(o, ["ok", "ok(1)", "EPIPE", "ECONNRESET"]);
    }

    #[test]
    fn shutdown_on_a_reset_connection_is_enotconn() {
        let o = outcomes("server abort; client shutdown write");
        assert_eq!(o, ["ok", "ENOTCONN"]);
    }

    #[test]
    fn a_fin_crossing_ours_is_acked_once() {
        // The client's data reaches the server after its close: RST. The client's FIN then finds
        // no socket: RST. The client ACKs the server's FIN once (tcp_fin() sends the ACK, which
        // clears the scheduled one), and that ACK finds no socket either: a third RST, no more.
        let s: Scenario =
            "link delay 1ms; client write 1; server close; client close; client sleep 2ms"
                .parse()
                .unwrap();
        let p = predict(&s, &Settings::default());
        let rsts = p.steps[4]
            .segments
            .iter()
            .filter(|seg| seg.from == End::Server && seg.kind == SegmentKind::Rst)
            .count();
        assert_eq!(rsts, 3);
    }

    #[test]
    fn poll_reports_what_has_arrived_and_error_clears_it() {
        let o = outcomes(
            "link delay 10ms; server close; client poll; client sleep 10ms; client poll; \
             client write 1; client sleep 20ms; client poll; client error; client poll; client error",
        );
        assert_eq!(
            o,
            [
                "ok",
                "ok",
                "OUT",
                "ok",
                "IN|OUT|RDHUP",
                "ok(1)",
                "ok",
                "IN|OUT|RDHUP|ERR|HUP",
                "EPIPE",
                "IN|OUT|RDHUP|HUP",
                "ok"
            ]
        );
    }

    #[test]
    fn both_fins_leave_the_open_socket_closed() {
        let s: Scenario = "client shutdown write; server close; client read 1; client write 1"
            .parse()
            .unwrap();
        let p = predict(&s, &Settings::default());
        assert_eq!(p.steps[1].states, [Some(TcpState::Close), None]);
        assert_eq!(p.steps[2].outcome, Outcome::Eof);
        assert_eq!(p.steps[3].outcome, Outcome::Err(Errno::EPIPE));
    }
}
