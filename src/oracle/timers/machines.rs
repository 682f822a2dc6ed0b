//! The three timers that end a connection whose peer went silent, as state types told the
//! time: each one's `fire` is the kernel's handler at an expiry, answering what it sent and
//! when it wants to run next, or that it gave up (`tcp_write_err`: POLLERR, `ETIMEDOUT`).

use std::time::Duration;

use super::rto::{self, RttEstimator};
use super::{Jiffies, Tick, TimerSettings};
use crate::oracle::kernel::Kernel;

/// What a handler did at an expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fire {
    /// It sent a segment and rearmed the timer this many jiffies from now.
    Sent(Jiffies),
    /// It sent nothing and rearmed the timer this many jiffies from now.
    Quiet(Jiffies),
    /// It gave up: the socket's error is `ETIMEDOUT`; `reset` when it sent an RST first.
    GiveUp {
        /// An RST left (keepalive's `tcp_send_active_reset`).
        reset: bool,
    },
}

/// A kernel timer as a state machine: armed once from a system call, then fired.
pub trait Timer {
    /// Arms it from the system call at jiffy `now`: jiffies until its first expiry.
    fn start(&mut self, now: Jiffies) -> Jiffies;
    /// Its handler at an expiry at jiffy `now`.
    fn fire(&mut self, now: Jiffies) -> Fire;
}

/// The retransmission timer after one segment left and was lost, its tail loss probe first
/// (`tcp_schedule_loss_probe`, `tcp_send_loss_probe`, `tcp_retransmit_timer`,
/// `tcp_write_timeout`, `tcp_clamp_rto_to_user_timeout`).
#[derive(Clone, Debug)]
pub struct Retransmission {
    tick: Tick,
    /// `icsk_rto`.
    rto: Jiffies,
    /// The loss probe's timeout, while one is due (`ICSK_TIME_LOSS_PROBE`).
    loss_probe: Option<Jiffies>,
    /// `icsk_retransmits`.
    retransmits: u32,
    /// `retrans_stamp`, in milliseconds: the first retransmission (the loss probe does not
    /// set it).
    retrans_stamp: Option<u64>,
    /// `icsk_user_timeout`, in milliseconds.
    user_timeout: Option<u64>,
    /// How long the retransmissions may go on without a user timeout, in milliseconds:
    /// `tcp_model_timeout` of `tcp_retries2`, or of the orphan's retries.
    budget_ms: u64,
}

impl Retransmission {
    /// The timer after a write of one segment on an idle connection whose RTT estimator is
    /// `est`.
    pub fn new(kernel: Kernel, settings: &TimerSettings, est: RttEstimator) -> Retransmission {
        let tick = Tick::of(kernel);
        let rto = est.rto(tick);
        let s = &settings.sysctls;
        let rto_min = settings.rto_min(kernel);
        let loss_probe = (matches!(s.tcp_early_retrans, 3 | 4) && s.tcp_sack)
            .then(|| rto::loss_probe_timeout(&est, 1, rto_min, tick.duration(rto), tick));
        let boundary = if settings.orphan {
            orphan_retries(s.tcp_orphan_retries, rto < tick.jiffies_up(rto::RTO_MAX))
        } else {
            s.tcp_retries2
        };
        let budget = rto::model_timeout(boundary, rto::RTO_MIN, tick);
        Retransmission {
            tick,
            rto,
            loss_probe,
            retransmits: 0,
            retrans_stamp: None,
            user_timeout: settings.user_timeout_ms(),
            budget_ms: tick.millis(budget),
        }
    }

    /// `retransmits_timed_out`: whether the time since the first retransmission has reached
    /// the user timeout, or else the budget.
    fn timed_out(&self, now: Jiffies) -> bool {
        let Some(stamp) = self.retrans_stamp else {
            return false;
        };
        if self.retransmits == 0 {
            return false;
        }
        let elapsed = self.tick.millis(now).saturating_sub(stamp);
        elapsed >= self.user_timeout.unwrap_or(self.budget_ms)
    }

    /// `tcp_clamp_rto_to_user_timeout`: the RTO, or what is left of the user timeout if less
    /// (1 jiffy once it has passed).
    fn clamped(&self, now: Jiffies) -> Jiffies {
        match (self.user_timeout, self.retrans_stamp) {
            (Some(ut), Some(stamp)) => {
                let elapsed = self.tick.millis(now).saturating_sub(stamp);
                if elapsed >= ut {
                    1
                } else {
                    self.rto
                        .min(self.tick.jiffies_up(Duration::from_millis(ut - elapsed)))
                }
            }
            _ => self.rto,
        }
    }
}

/// `tcp_orphan_retries`: the sysctl, whose 0 means 8 while the RTO is below its ceiling.
pub fn orphan_retries(sysctl: u32, alive: bool) -> u32 {
    if sysctl == 0 && alive { 8 } else { sysctl }
}

impl Timer for Retransmission {
    fn start(&mut self, _now: Jiffies) -> Jiffies {
        self.loss_probe.unwrap_or(self.rto)
    }

    fn fire(&mut self, now: Jiffies) -> Fire {
        if self.loss_probe.take().is_some() {
            // The probe resends the last segment; `tcp_rearm_rto` then arms a whole RTO
            // from now (the pending timer was cleared first).
            return Fire::Sent(self.rto);
        }
        if self.timed_out(now) {
            return Fire::GiveUp { reset: false };
        }
        if self.retrans_stamp.is_none() {
            self.retrans_stamp = Some(self.tick.millis(now));
        }
        self.retransmits += 1;
        self.rto = rto::backed_off(self.rto, self.tick);
        Fire::Sent(self.clamped(now))
    }
}

/// The zero-window probe timer (`tcp_check_probe_timer`, `tcp_probe_timer`,
/// `tcp_send_probe0`, `tcp_clamp_probe0_to_user_timeout`): data is queued and none is out,
/// because the peer's window is closed or the segment found no route. The model follows
/// commit 9d9b1ee0b2d1 ("tcp: fix TCP_USER_TIMEOUT with zero window", 5.11, in every stable
/// series since, Debian's three included): the user timeout counts from the first expiry.
#[derive(Clone, Debug)]
pub struct WindowProbe {
    tick: Tick,
    /// `icsk_rto`.
    rto: Jiffies,
    /// `icsk_backoff`.
    backoff: u32,
    /// `icsk_probes_out`.
    probes_out: u32,
    /// `icsk_probes_tstamp`.
    probes_tstamp: Option<Jiffies>,
    /// `tcp_retries2`: probes before giving up.
    max_probes: u32,
    /// `icsk_user_timeout`, in milliseconds.
    user_timeout: Option<u64>,
    /// Each probe is answered (a peer whose window stays closed): the count starts over,
    /// and only the user timeout ends it.
    answered: bool,
}

impl WindowProbe {
    /// The probe timer on a connection whose RTT estimator is `est`; `answered` when the
    /// peer is alive and answers each probe with its closed window.
    pub fn new(
        kernel: Kernel,
        settings: &TimerSettings,
        est: RttEstimator,
        answered: bool,
    ) -> WindowProbe {
        WindowProbe {
            tick: Tick::of(kernel),
            rto: est.rto(Tick::of(kernel)),
            backoff: 0,
            probes_out: 0,
            probes_tstamp: None,
            max_probes: settings.sysctls.tcp_retries2,
            user_timeout: settings.user_timeout_ms(),
            answered,
        }
    }
}

impl Timer for WindowProbe {
    fn start(&mut self, _now: Jiffies) -> Jiffies {
        rto::probe0_when(self.rto, 0, self.tick)
    }

    fn fire(&mut self, now: Jiffies) -> Fire {
        let user_timeout = self
            .user_timeout
            .map(|ut| self.tick.jiffies_up(Duration::from_millis(ut)));
        match (self.probes_tstamp, user_timeout) {
            (None, _) => self.probes_tstamp = Some(now),
            (Some(stamp), Some(ut)) if now - stamp >= ut => return Fire::GiveUp { reset: false },
            _ => {}
        }
        if self.probes_out >= self.max_probes {
            return Fire::GiveUp { reset: false };
        }
        if !self.answered {
            self.probes_out += 1;
        }
        if self.backoff < self.max_probes {
            self.backoff += 1;
        }
        let mut when = rto::probe0_when(self.rto, self.backoff, self.tick);
        if let (Some(ut), Some(stamp)) = (user_timeout, self.probes_tstamp) {
            // `TCP_TIMEOUT_MIN`: at least 2 jiffies.
            let remaining = ut.saturating_sub(now - stamp).max(2);
            when = when.min(remaining);
        }
        Fire::Sent(when)
    }
}

/// The keepalive timer of an idle connection (`tcp_keepalive_timer`, `keepalive_time_when`,
/// `keepalive_intvl_when`, `keepalive_probes`, `keepalive_time_elapsed`), started by the
/// socket option at the jiffy of the last segment received.
#[derive(Clone, Debug)]
pub struct Keepalive {
    idle: Jiffies,
    interval: Jiffies,
    count: u32,
    /// `icsk_user_timeout`, in jiffies.
    user_timeout: Option<Jiffies>,
    /// The jiffy of the last segment received (`rcv_tstamp`, `lrcvtime`).
    received: Jiffies,
    /// `icsk_probes_out`.
    probes_out: u32,
}

impl Keepalive {
    /// Keepalive as `settings` set it (the sysctls where the socket sets nothing).
    pub fn new(kernel: Kernel, settings: &TimerSettings) -> Keepalive {
        let tick = Tick::of(kernel);
        let (idle, interval, count) = settings.keepalive_when();
        Keepalive {
            idle: tick.jiffies_up(idle),
            interval: tick.jiffies_up(interval),
            count,
            user_timeout: settings
                .user_timeout_ms()
                .map(|ms| tick.jiffies_up(Duration::from_millis(ms))),
            received: 0,
            probes_out: 0,
        }
    }
}

impl Timer for Keepalive {
    fn start(&mut self, now: Jiffies) -> Jiffies {
        self.received = now;
        self.idle
    }

    fn fire(&mut self, now: Jiffies) -> Fire {
        let elapsed = now - self.received;
        if elapsed < self.idle {
            return Fire::Quiet(self.idle - elapsed);
        }
        let give_up = match self.user_timeout {
            // The user timeout replaces the count: time since the last segment received,
            // once at least one probe went unanswered.
            Some(ut) => elapsed >= ut && self.probes_out > 0,
            None => self.probes_out >= self.count,
        };
        if give_up {
            return Fire::GiveUp { reset: true };
        }
        self.probes_out += 1;
        Fire::Sent(self.interval)
    }
}
