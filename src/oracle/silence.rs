//! When the peer falls silent, in the kernel's own time ([`super::TcpSettings::KernelTime`],
//! the lane): the model hands a connection whose segments are lost on a cut link to the
//! kernel's timers ([`crate::oracle::timers`]) and follows them through the scenario's sleeps.
//!
//! A *story* is one timer at work on one end, from the moment it started:
//! - **retransmission**: one data segment left and was lost. The tail loss probe resends it,
//!   then the retransmission timer does, backing off, until `tcp_retries2`'s time (924.6 s at
//!   the default 15) or `TCP_USER_TIMEOUT` has passed since the first retransmission; then the
//!   socket's error is `ETIMEDOUT` and it is closed (`tcp_write_err()`, `tcp_done()`);
//! - **keepalive**: the connection is idle, with nothing unacknowledged, and keepalive is on:
//!   after IDLE without a segment received a probe (a pure ACK) every INTERVAL, and after COUNT
//!   unanswered an RST and `ETIMEDOUT` (`tcp_keepalive_timer()`).
//!
//! Each time comes from the timer model as a [`Window`]; a sleep must end [`MARGIN`] or more
//! away from every window it decides, or the model stops ([`Limit::TimerWindow`]). The model
//! follows a story while the link stays cut and the end makes no call that changes what its
//! timer does; anything else stops it with [`Limit::Timer`] and the reason.

use std::time::Duration;

use super::endpoint::{Endpoint, Life};
use super::limit::{Limit, ORPHAN_QUIET};
use super::options::Options;
use crate::oracle::kernel::Kernel;
use crate::oracle::timers::{self, Keepalive, Prediction, Retransmission, TimerSettings, Window};
use crate::outcome::Errno;
use crate::reasons::RstReason;
use crate::rules::Rule;
use crate::scenario::{End, How, Op};
use crate::tcp::TcpState;

/// How far from a window a sleep must end for the model to say on which side of it the kernel
/// was: the guest time the steps themselves take, which the model does not count (tens of
/// microseconds each in the lane), with a wide margin.
pub const MARGIN: Duration = Duration::from_millis(50);

/// Which timer a story follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The loss probe and the retransmission timer, resending a lost segment of `len` bytes;
    /// the first segment the retransmission timer itself sends is `first_rto` (after the
    /// loss probe's).
    Retransmission { len: usize, first_rto: usize },
    /// Keepalive.
    Keepalive,
}

impl Timer {
    fn name(self) -> &'static str {
        match self {
            Timer::Retransmission { .. } => "retransmission",
            Timer::Keepalive => "keepalive",
        }
    }
}

/// One timer at work on one end.
#[derive(Clone, Debug)]
pub(super) struct Story {
    pub(super) timer: Timer,
    /// The model time at which the timer started: the lost segment's send, or the last
    /// segment received (keepalive).
    start: Duration,
    prediction: Prediction,
    /// Segments of `prediction` sent so far.
    sent: usize,
}

/// What a story's timer does, at a time the model can place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Event {
    /// It resends the lost segment (lost again).
    Resend,
    /// It gives up: `ETIMEDOUT`; keepalive sends an RST first.
    GiveUp,
}

impl Story {
    /// The retransmission timer of `end`, whose one unacknowledged segment of `len` bytes left
    /// at `start` and was lost.
    fn retransmission(
        kernel: Kernel,
        settings: &TimerSettings,
        start: Duration,
        len: usize,
    ) -> Story {
        let s = &settings.sysctls;
        let loss_probe = matches!(s.tcp_early_retrans, 3 | 4) && s.tcp_sack;
        Story {
            timer: Timer::Retransmission {
                len,
                first_rto: usize::from(loss_probe),
            },
            start,
            prediction: timers::predict(
                &Retransmission::new(kernel, settings, timers::link_estimator()),
                kernel,
            ),
            sent: 0,
        }
    }

    /// The keepalive timer of an idle end that last received a segment at `start`.
    fn keepalive(kernel: Kernel, settings: &TimerSettings, start: Duration) -> Story {
        Story {
            timer: Timer::Keepalive,
            start,
            prediction: timers::predict(&Keepalive::new(kernel, settings), kernel),
            sent: 0,
        }
    }

    /// What the timer does after the last call and by model time `now`, each with its window
    /// (from the model's start), or which of its windows `now` falls in.
    pub(super) fn until(&mut self, who: End, now: Duration) -> Result<Vec<(Window, Event)>, Limit> {
        let at = now.saturating_sub(self.start);
        let undecided = |what, window: Window| Limit::TimerWindow {
            who,
            what,
            window,
            at,
        };
        // Whether the window is over by `at` (Some(true)), still ahead (Some(false)), or too
        // near to say.
        let past = |w: &Window| {
            if at + MARGIN < w.earliest {
                Some(false)
            } else if at > w.latest + MARGIN {
                Some(true)
            } else {
                None
            }
        };
        let shifted = |w: &Window| Window {
            earliest: self.start + w.earliest,
            latest: self.start + w.latest,
        };
        let mut events = Vec::new();
        // Keepalive's probes are pure ACKs, lost on the cut link: only its end shows.
        if let Timer::Retransmission { .. } = self.timer {
            let always = self.prediction.always;
            for (i, w) in self.prediction.segments.iter().enumerate().skip(self.sent) {
                match past(w) {
                    Some(true) if i >= always => {
                        return Err(undecided(
                            "retransmission that only some start jiffies send",
                            *w,
                        ));
                    }
                    Some(true) => events.push((shifted(w), Event::Resend)),
                    Some(false) => break,
                    None => return Err(undecided("next retransmission", *w)),
                }
            }
        }
        if let Some(w) = self.prediction.error {
            match past(&w) {
                Some(true) => events.push((shifted(&w), Event::GiveUp)),
                Some(false) => {}
                None => return Err(undecided("ETIMEDOUT", w)),
            }
        }
        self.sent += events.iter().filter(|(_, e)| *e == Event::Resend).count();
        Ok(events)
    }

    /// The retransmission timer has resent the segment itself (not only the loss probe): the
    /// congestion window is one segment, and it is out (`tcp_enter_loss()`).
    pub(super) fn in_loss(&self) -> bool {
        matches!(self.timer, Timer::Retransmission { first_rto, .. } if self.sent > first_rto)
    }
}

/// A story the timers of `end` start when time passes, where the model follows one: the link
/// is cut (every segment lost) and the end is a socket the application holds, in a state whose
/// timer the model knows. `Ok(None)`: no timer of this end's does anything.
pub(super) fn story_for(
    e: &Endpoint,
    options: &Options,
    kernel: Kernel,
    now: Duration,
    cut: bool,
) -> Result<Option<Story>, Limit> {
    let stop = |why| Limit::Timer {
        who: e.me,
        timer: "retransmission",
        why,
    };
    let live = e.life == Life::Open && e.state != TcpState::Close;
    let settings = options.timer_settings();
    if let Some(sent) = e.oldest_unacked() {
        if e.life == Life::Orphan {
            return Err(stop(
                "an orphan retries as tcp_orphan_retries says and then is gone; not followed yet",
            ));
        }
        if !live {
            return Ok(None);
        }
        if !cut {
            return Err(stop(
                "the retransmission would cross the link and be answered; not followed yet",
            ));
        }
        let Some(len) = e.lost_segment() else {
            return Err(stop(
                "several segments, or a FIN, are unacknowledged: which the loss probe and the timer resend is not followed yet",
            ));
        };
        return Ok(Some(Story::retransmission(kernel, &settings, sent, len)));
    }
    // Keepalive on a silent peer's connection; elsewhere (probes that would be answered, a
    // state whose timer the model does not follow) the caller refuses a sleep long enough for
    // its first probe, as on the lab's clock ([`super::Model::keepalive_waits`]).
    let idle_state = matches!(e.state, TcpState::Established | TcpState::CloseWait);
    if options.keepalive_idle.is_some() && live && cut && idle_state && !e.has_unsent() {
        let start = now.saturating_sub(options.quiet);
        return Ok(Some(Story::keepalive(kernel, &settings, start)));
    }
    Ok(None)
}

/// Whether `op` by the end whose timer `story` follows leaves the story as the model follows
/// it; `Err` says why not.
pub(super) fn allows(story: &Story, who: End, op: &Op) -> Result<(), Limit> {
    let stop = |why| Limit::Timer {
        who,
        timer: story.timer.name(),
        why,
    };
    match op {
        Op::Read(_) | Op::Poll | Op::Error | Op::Sleep(_) => Ok(()),
        Op::Write(_) if story.in_loss() => Ok(()),
        Op::Write(_) => Err(stop(
            "a write before the timer has resent the segment sends new data, which changes what it resends; not followed yet",
        )),
        Op::Shutdown(How::Read) => Ok(()),
        _ => Err(stop(
            "a call that sends, closes or sets options while the timer runs is not followed yet",
        )),
    }
}

impl super::Model {
    /// In the kernel's time, a closed socket the kernel keeps (an orphan, a FIN_WAIT2 or
    /// TIME_WAIT mini-socket) may not see the model's clock pass [`ORPHAN_QUIET`]: its own
    /// timers are not followed yet.
    pub(super) fn closed_sockets_wait(&self, target: Duration) -> Result<(), Limit> {
        for (since, e) in self.kept_since.iter().zip(&self.ends) {
            let kept = e.life == Life::Orphan || e.stub.is_some();
            if let (true, Some(since)) = (kept, since)
                && target.saturating_sub(*since) > ORPHAN_QUIET
            {
                return Err(Limit::ClosedSocketTimers(e.me));
            }
        }
        Ok(())
    }

    /// In the kernel's time, what the ends' timers do by `target` on a cut link, in the order
    /// they do it ([`silence`]).
    pub(super) fn timers_until(
        &mut self,
        target: Duration,
        fx: &mut super::Effects,
    ) -> Result<bool, Limit> {
        let mut events = Vec::new();
        for end in End::BOTH {
            let i = end.index();
            if self.stories[i].is_none() {
                let cut = self.wire.is_cut();
                let now = self.wire.now();
                self.stories[i] =
                    story_for(&self.ends[i], &self.options[i], self.kernel, now, cut)?;
            }
            if let Some(story) = &mut self.stories[i] {
                events.extend(
                    story
                        .until(end, target)?
                        .into_iter()
                        .map(|(w, e)| (w, end, e)),
                );
            }
        }
        events.sort_by_key(|(w, _, _)| w.earliest);
        for pair in events.windows(2) {
            let ((a, who, _), (b, other, _)) = (pair[0], pair[1]);
            if who != other && a.latest + MARGIN >= b.earliest {
                return Err(Limit::Timer {
                    who,
                    timer: "retransmission or keepalive",
                    why: "the other end's timer fires at about the same time: which segment leaves first is not followed",
                });
            }
        }
        let acted = !events.is_empty();
        for (_, end, event) in events {
            let i = end.index();
            let story = self.stories[i].take().expect("an event comes from a story");
            self.ends[i].timer_event(&story, event, fx);
            if event == Event::Resend {
                self.stories[i] = Some(story);
            }
        }
        self.post(fx);
        Ok(acted)
    }
}

/// What the timers do to an endpoint.
impl Endpoint {
    /// The one data segment unacknowledged, with nothing behind it (no unsent data, no FIN):
    /// its length.
    fn lost_segment(&self) -> Option<usize> {
        match (
            self.unacked.len(),
            self.unsent,
            self.fin_seq,
            self.fin_pending,
        ) {
            (1, 0, None, false) => Some(self.unacked[0].end.wrapping_sub(self.snd_una) as usize),
            _ => None,
        }
    }

    /// Data written but not sent.
    fn has_unsent(&self) -> bool {
        self.unsent > 0 || self.fin_pending
    }

    /// What `story`'s timer does at `event`: the loss probe or the retransmission timer
    /// resends the unacknowledged segment (`tcp_send_loss_probe()`, `tcp_retransmit_skb()`;
    /// from the timer's own resend on, `tcp_enter_loss()` leaves a congestion window of one
    /// segment, which that segment holds: later writes are queued, not sent); or it gives up.
    pub(super) fn timer_event(&mut self, story: &Story, event: Event, fx: &mut super::Effects) {
        match (event, story.timer) {
            (Event::Resend, Timer::Retransmission { len, .. }) => {
                let seg = self.segment(self.snd_una, len);
                fx.emit(seg, Some(Rule::LostDataIsRetransmitted));
                if story.in_loss() {
                    self.cwnd = 1;
                }
            }
            (Event::Resend, Timer::Keepalive) => {}
            (Event::GiveUp, timer) => self.time_out(timer == Timer::Keepalive, fx),
        }
    }

    /// `tcp_write_err()`: the timer gave up; keepalive's `tcp_keepalive_timer()` sends an RST
    /// first (`tcp_send_active_reset()`).
    fn time_out(&mut self, keepalive: bool, fx: &mut super::Effects) {
        let rule = if keepalive {
            Rule::KeepaliveTimesOutASilentPeer
        } else {
            Rule::SilentPeerTimesOut
        };
        if keepalive {
            let mut seg = self.segment(self.snd_nxt, 0);
            seg.rst = Some(RstReason::TcpKeepaliveTimeout.into());
            fx.emit(seg, Some(rule));
        }
        self.error = Some(Errno::ETIMEDOUT);
        self.done();
        fx.rule(rule);
    }
}
