//! The oracle: a state model of the Linux TCP stack that predicts every step of a scenario.
//!
//! Each endpoint is modelled as the kernel keeps it: its TCP state, its receive queue, whether a
//! FIN arrived (`SOCK_DONE`), its shutdown flags (`RCV_SHUTDOWN`, `SEND_SHUTDOWN`), the single
//! pending socket error (`sk_err`, which the next failing read or write consumes), and whether
//! the application still holds it (open), closed it while the kernel keeps it alive (orphan), or
//! the kernel has destroyed it (gone). A step changes its actor's endpoint and may emit segments
//! (data, FIN, RST); each segment is delivered to the other endpoint, whose answer (an RST, or
//! an ACK that moves the sender on) is delivered in turn, until nothing is in flight. That
//! matches the runner, which waits for the same quiescence between steps.
//!
//! The model holds no table of known scenarios: outcomes follow from the state alone. Every
//! decision names the [`Rule`] behind it; the rules' doc strings and [`Rule::mechanism`] give the
//! kernel function and RFC section.
//!
//! Where to look first: the write path is `Model::write` (EPIPE and the pending error), the
//! read path `Model::read`, what a socket answers to a segment `Model::deliver`; the pending
//! error is set in `Model::reset` (`tcp_reset()`).

pub mod invariants;
#[cfg(test)]
mod tests_by_state;

use std::collections::VecDeque;

use serde::Serialize;

use crate::outcome::{Errno, Outcome};
use crate::rules::Rule;
use crate::run::Backend;
use crate::scenario::{Actor, How, Op, Scenario, Step};
use crate::tcp::TcpState;

/// What the oracle says of one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PredictedStep {
    /// The syscall's result.
    pub outcome: Outcome,
    /// The rules that decided the outcome and the consequences of the step, in order.
    pub rules: Vec<Rule>,
    /// The segments the step causes, in the order they travel.
    pub segments: Vec<Segment>,
    /// The TCP state of each socket the application still holds, once the step has settled:
    /// index 0 the client, 1 the server.
    pub states: [Option<TcpState>; 2],
}

/// A segment on the wire, as the model sees it. Pure ACKs are left out: they change no outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// The sender.
    pub from: Actor,
    /// What it carries.
    pub kind: SegmentKind,
    /// The rule that made the sender's kernel emit it.
    pub rule: Rule,
}

/// The kinds of segment that matter to outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentKind {
    /// Payload of this many bytes.
    Data(usize),
    /// FIN.
    Fin,
    /// RST.
    Rst,
}

/// The oracle's prediction for a whole scenario: one [`PredictedStep`] per step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// One entry per step of the scenario.
    pub steps: Vec<PredictedStep>,
}

/// Predicts what Linux answers to every step of `scenario`.
///
/// ```
/// use rstlab::{oracle, Errno, Outcome, Rule, Scenario};
/// let seed: Scenario = "client write 1; server read 1; server close; client write 1; client write 1"
///     .parse()
///     .unwrap();
/// let p = oracle::predict(&seed);
/// assert_eq!(p.steps[3].outcome, Outcome::Bytes(1));
/// assert!(p.steps[3].rules.contains(&Rule::WriteAfterPeerCloseSucceeds));
/// assert_eq!(p.steps[4].outcome, Outcome::Err(Errno::EPIPE));
/// ```
pub fn predict(scenario: &Scenario) -> Prediction {
    let mut model = Model::new();
    Prediction {
        steps: scenario.steps().iter().map(|s| model.step(s)).collect(),
    }
}

/// Predicts what `backend`'s API reports for every step: the kernel's answer from [`predict`],
/// except where the API is known to report something else (each such place names its rule).
///
/// ```
/// use rstlab::{oracle, Errno, Outcome, Scenario};
/// use rstlab::run::Backend;
/// let s: Scenario = "server abort; client shutdown write".parse().unwrap();
/// assert_eq!(oracle::predict_for(&s, Backend::Std).steps[1].outcome, Outcome::Err(Errno::ENOTCONN));
/// assert_eq!(oracle::predict_for(&s, Backend::Tokio).steps[1].outcome, Outcome::Ok);
/// ```
pub fn predict_for(scenario: &Scenario, backend: Backend) -> Prediction {
    let mut prediction = predict(scenario);
    if backend == Backend::Tokio {
        for (step, predicted) in scenario.steps().iter().zip(&mut prediction.steps) {
            let hidden = Outcome::Err(Errno::ENOTCONN);
            if step.op == Op::Shutdown(How::Write) && predicted.outcome == hidden {
                predicted.outcome = Outcome::Ok;
                predicted.rules.push(Rule::TokioShutdownHidesEnotconn);
            }
        }
    }
    prediction
}

/// Who holds a kernel socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// The application holds the fd.
    Open,
    /// The application closed it; the kernel keeps it to finish the connection.
    Orphan,
    /// The kernel destroyed it (or keeps only a TIME_WAIT stub that ignores everything we send).
    Gone,
}

/// One end of the connection, as the kernel keeps it.
#[derive(Clone, Debug)]
struct Endpoint {
    life: Life,
    state: TcpState,
    /// Bytes in `sk_receive_queue` not yet read.
    unread: usize,
    /// `SOCK_DONE`: the peer's FIN has arrived.
    fin_received: bool,
    /// `RCV_SHUTDOWN`.
    rcv_shutdown: bool,
    /// `SEND_SHUTDOWN`.
    snd_shutdown: bool,
    /// `sk_err`: the pending error.
    error: Option<Errno>,
}

impl Endpoint {
    fn established() -> Endpoint {
        Endpoint {
            life: Life::Open,
            state: TcpState::Established,
            unread: 0,
            fin_received: false,
            rcv_shutdown: false,
            snd_shutdown: false,
            error: None,
        }
    }

    /// What `tcp_done()` leaves: CLOSE, both directions shut, the write queue gone; an orphan is
    /// destroyed.
    fn done(&mut self) {
        self.state = TcpState::Close;
        self.rcv_shutdown = true;
        self.snd_shutdown = true;
        if self.life == Life::Orphan {
            self.life = Life::Gone;
        }
    }
}

/// The state of both endpoints; [`predict`] drives it one step at a time.
#[derive(Clone, Debug)]
pub struct Model {
    ends: [Endpoint; 2],
}

impl Default for Model {
    fn default() -> Self {
        Model::new()
    }
}

/// What one step produces while it runs.
struct Effects {
    rules: Vec<Rule>,
    segments: Vec<Segment>,
    in_flight: VecDeque<Segment>,
}

impl Effects {
    fn rule(&mut self, rule: Rule) {
        if !self.rules.contains(&rule) {
            self.rules.push(rule);
        }
    }

    fn send(&mut self, from: Actor, kind: SegmentKind, rule: Rule) {
        self.rule(rule);
        self.in_flight.push_back(Segment { from, kind, rule });
    }
}

impl Model {
    /// Both endpoints on a freshly established connection.
    pub fn new() -> Model {
        Model {
            ends: [Endpoint::established(), Endpoint::established()],
        }
    }

    /// Applies one step and returns its prediction.
    pub fn step(&mut self, step: &Step) -> PredictedStep {
        let mut fx = Effects {
            rules: Vec::new(),
            segments: Vec::new(),
            in_flight: VecDeque::new(),
        };
        let a = step.actor;
        let outcome = match step.op {
            Op::Write(n) => self.write(a, n, &mut fx),
            Op::Read(n) => self.read(a, n, &mut fx),
            Op::Close => self.close(a, false, &mut fx),
            Op::Abort => self.close(a, true, &mut fx),
            Op::Shutdown(how) => self.shutdown(a, how, &mut fx),
            Op::Sleep(_) => {
                fx.rule(Rule::SleepChangesNothing);
                Outcome::Ok
            }
        };
        while let Some(segment) = fx.in_flight.pop_front() {
            fx.segments.push(segment);
            self.deliver(segment, &mut fx);
        }
        PredictedStep {
            outcome,
            rules: fx.rules,
            segments: fx.segments,
            states: self.open_states(),
        }
    }

    /// The TCP state of each socket the application holds.
    pub fn open_states(&self) -> [Option<TcpState>; 2] {
        self.ends
            .clone()
            .map(|e| (e.life == Life::Open).then_some(e.state))
    }

    /// `write(2)`: `tcp_sendmsg_locked()`.
    ///
    /// Data is accepted only in ESTABLISHED and CLOSE_WAIT. In any other state the write waits
    /// for a connection in `sk_stream_wait_connect()`, which returns the pending error if there
    /// is one (consuming it) and EPIPE otherwise. In an accepting state, `SEND_SHUTDOWN` or a
    /// pending error fail with EPIPE through `sk_stream_error()`, which also prefers (and
    /// consumes) a pending error.
    fn write(&mut self, a: Actor, n: usize, fx: &mut Effects) -> Outcome {
        let e = &mut self.ends[a.index()];
        let accepting = matches!(e.state, TcpState::Established | TcpState::CloseWait);
        if !accepting || e.snd_shutdown || e.error.is_some() {
            if let Some(error) = e.error.take() {
                fx.rule(Rule::PendingErrorReportedOnce);
                return Outcome::Err(error);
            }
            fx.rule(if e.state == TcpState::Close {
                Rule::WriteOnClosedConnectionFails
            } else {
                Rule::WriteAfterShutdownWriteFails
            });
            return Outcome::Err(Errno::EPIPE);
        }
        let rule = if e.state == TcpState::CloseWait {
            Rule::WriteAfterPeerCloseSucceeds
        } else {
            Rule::WriteQueuesData
        };
        fx.send(a, SegmentKind::Data(n), rule);
        Outcome::Bytes(n)
    }

    /// `read(2)` without waiting: `tcp_recvmsg_locked()`, whose order of tests is the whole
    /// story: queued bytes first, then `SOCK_DONE` (EOF), then `sk_err` (consumed), then
    /// `RCV_SHUTDOWN` (EOF), then CLOSE (ENOTCONN), then EAGAIN.
    fn read(&mut self, a: Actor, n: usize, fx: &mut Effects) -> Outcome {
        let e = &mut self.ends[a.index()];
        if e.unread > 0 {
            let k = n.min(e.unread);
            e.unread -= k;
            fx.rule(Rule::ReadTakesQueued);
            if e.error.is_some() || e.state == TcpState::Close {
                fx.rule(Rule::QueuedDataSurvivesRst);
            }
            return Outcome::Bytes(k);
        }
        if e.fin_received {
            fx.rule(Rule::FinReadsAsEof);
            if e.error.is_some() {
                fx.rule(Rule::EofBeforePendingError);
            }
            return Outcome::Eof;
        }
        if let Some(error) = e.error.take() {
            fx.rule(Rule::PendingErrorReportedOnce);
            return Outcome::Err(error);
        }
        if e.rcv_shutdown {
            fx.rule(if e.state == TcpState::Close {
                Rule::ReadAfterResetReturnsEof
            } else {
                Rule::ShutdownReadStillReceives
            });
            return Outcome::Eof;
        }
        if e.state == TcpState::Close {
            fx.rule(Rule::ReadAfterResetReturnsEof);
            return Outcome::Err(Errno::ENOTCONN);
        }
        fx.rule(Rule::ReadWouldBlock);
        Outcome::Err(Errno::EAGAIN)
    }

    /// `shutdown(2)`: `inet_shutdown()` and `tcp_shutdown()`. The flags are set even on a closed
    /// connection, which answers ENOTCONN; only the write direction sends anything (FIN).
    fn shutdown(&mut self, a: Actor, how: How, fx: &mut Effects) -> Outcome {
        let e = &mut self.ends[a.index()];
        e.rcv_shutdown |= how.shuts_read();
        e.snd_shutdown |= how.shuts_write();
        if e.state == TcpState::Close {
            fx.rule(Rule::ShutdownOnClosedConnection);
            return Outcome::Err(Errno::ENOTCONN);
        }
        if how == How::Read {
            fx.rule(Rule::ShutdownReadStillReceives);
        }
        if how.shuts_write() {
            let rule = if how == How::Both {
                Rule::ShutdownBothResetsOnData
            } else {
                Rule::HalfClosePeerKeepsWriting
            };
            if self.send_fin(a) {
                fx.send(a, SegmentKind::Fin, rule);
            } else {
                fx.rule(Rule::FinIsSentOnce);
            }
        }
        Outcome::Ok
    }

    /// `tcp_close_state()`: moves to the state after our FIN and says whether a FIN must go out.
    fn send_fin(&mut self, a: Actor) -> bool {
        let e = &mut self.ends[a.index()];
        match e.state {
            TcpState::Established => e.state = TcpState::FinWait1,
            TcpState::CloseWait => e.state = TcpState::LastAck,
            _ => return false,
        }
        true
    }

    /// `close(2)`, with SO_LINGER {on, 0} when `abort`: `__tcp_close()`.
    ///
    /// Unread data is checked first, then zero linger, then the orderly FIN.
    fn close(&mut self, a: Actor, abort: bool, fx: &mut Effects) -> Outcome {
        let e = &mut self.ends[a.index()];
        e.life = Life::Orphan;
        e.rcv_shutdown = true;
        e.snd_shutdown = true;
        let unread = std::mem::take(&mut e.unread);
        if e.state == TcpState::Close {
            e.life = Life::Gone;
            fx.rule(Rule::CloseAfterResetSendsNothing);
            return Outcome::Ok;
        }
        let synchronized = matches!(
            e.state,
            TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::FinWait2
        );
        if unread > 0 || (abort && synchronized) {
            e.state = TcpState::Close;
            e.life = Life::Gone;
            let rule = if unread > 0 {
                Rule::CloseWithUnreadDataSendsRst
            } else {
                Rule::AbortSendsRst
            };
            fx.send(a, SegmentKind::Rst, rule);
        } else if abort {
            e.done();
            fx.rule(Rule::CloseAfterResetSendsNothing);
        } else if self.send_fin(a) {
            fx.send(a, SegmentKind::Fin, Rule::CloseSendsFin);
        } else {
            fx.rule(Rule::FinIsSentOnce);
        }
        Outcome::Ok
    }

    /// What the receiver's kernel does with a segment, and what it answers.
    fn deliver(&mut self, segment: Segment, fx: &mut Effects) {
        let to = segment.from.peer();
        let e = &mut self.ends[to.index()];
        if e.life == Life::Gone {
            // A TIME_WAIT stub or no socket at all: an RST is dropped; anything else would be
            // answered with RST (`tcp_v4_send_reset()`), though no scenario within the language
            // can send it: the sender would have been reset first.
            if segment.kind != SegmentKind::Rst {
                fx.send(to, SegmentKind::Rst, Rule::ClosedSocketAnswersDataWithRst);
            }
            return;
        }
        match segment.kind {
            SegmentKind::Data(n) => {
                let can_read =
                    !e.rcv_shutdown || !matches!(e.state, TcpState::FinWait1 | TcpState::FinWait2);
                if e.state == TcpState::Close {
                    fx.send(to, SegmentKind::Rst, Rule::ClosedSocketAnswersDataWithRst);
                } else if can_read {
                    e.unread += n;
                    if e.rcv_shutdown {
                        fx.rule(Rule::ShutdownReadStillReceives);
                    } else if matches!(e.state, TcpState::FinWait1 | TcpState::FinWait2) {
                        fx.rule(Rule::HalfClosePeerKeepsWriting);
                    }
                } else {
                    // tcp_reset() on the receiver itself, then the RST reply.
                    let rule = if e.life == Life::Open {
                        e.error = Some(Errno::ECONNRESET);
                        Rule::ShutdownBothResetsOnData
                    } else {
                        Rule::ClosedSocketAnswersDataWithRst
                    };
                    e.done();
                    fx.send(to, SegmentKind::Rst, rule);
                }
            }
            SegmentKind::Fin => {
                match e.state {
                    TcpState::Established => {
                        e.state = TcpState::CloseWait;
                        e.fin_received = true;
                        e.rcv_shutdown = true;
                    }
                    TcpState::FinWait1 | TcpState::FinWait2 => {
                        e.fin_received = true;
                        // tcp_time_wait(): an open socket is left in CLOSE, an orphan becomes a
                        // TIME_WAIT stub, which answers nothing we can still send.
                        e.done();
                        fx.rule(Rule::BothFinsCloseTheConnection);
                    }
                    _ => {
                        fx.send(to, SegmentKind::Rst, Rule::ClosedSocketAnswersDataWithRst);
                        return;
                    }
                }
                self.fin_acknowledged(segment.from, fx);
            }
            SegmentKind::Rst => self.reset(to, fx),
        }
    }

    /// The ACK of `sender`'s FIN arrives.
    fn fin_acknowledged(&mut self, sender: Actor, fx: &mut Effects) {
        let e = &mut self.ends[sender.index()];
        match e.state {
            TcpState::FinWait1 => e.state = TcpState::FinWait2,
            TcpState::LastAck => {
                e.done();
                fx.rule(Rule::BothFinsCloseTheConnection);
            }
            _ => {}
        }
    }

    /// `tcp_reset()`: an acceptable RST arrives at `who`.
    fn reset(&mut self, who: Actor, fx: &mut Effects) {
        let e = &mut self.ends[who.index()];
        if e.state == TcpState::Close {
            return;
        }
        if e.life == Life::Orphan {
            e.done();
            fx.rule(Rule::RstEndsAClosedSocketSilently);
            return;
        }
        let (error, rule) = if e.state == TcpState::CloseWait {
            (Errno::EPIPE, Rule::RstAfterFinLeavesEpipe)
        } else {
            (Errno::ECONNRESET, Rule::RstLeavesEconnreset)
        };
        e.error = Some(error);
        e.done();
        fx.rule(rule);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(text: &str) -> Vec<String> {
        let s: Scenario = text.parse().unwrap();
        predict(&s)
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
        let p = predict(&s);
        assert_eq!(p.steps[1].segments[0].kind, SegmentKind::Rst);
        assert_eq!(p.steps[2].outcome, Outcome::Err(Errno::ECONNRESET));
        assert_eq!(p.steps[3].outcome, Outcome::Eof);
    }

    #[test]
    fn abort_sends_rst_not_fin() {
        let p = predict(&"server abort".parse().unwrap());
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
    fn both_fins_leave_the_open_socket_closed() {
        let s: Scenario = "client shutdown write; server close; client read 1; client write 1"
            .parse()
            .unwrap();
        let p = predict(&s);
        assert_eq!(p.steps[1].states, [Some(TcpState::Close), None]);
        assert_eq!(p.steps[2].outcome, Outcome::Eof);
        assert_eq!(p.steps[3].outcome, Outcome::Err(Errno::EPIPE));
    }
}
