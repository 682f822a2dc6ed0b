//! The kernel's TCP timers as a pure model: when a connection whose peer fell silent reports
//! the error, and when each segment in between leaves.
//!
//! Three timers end a connection whose peer is gone without a word, each a small state type
//! here that is told the time (jiffies) and answers what the kernel's handler would do, after
//! the kernel functions it follows (`net/ipv4/tcp_timer.c` unless said otherwise):
//! - [`Retransmission`]: data left and is lost. The tail loss probe first
//!   (`tcp_schedule_loss_probe`), then the retransmission timer (`tcp_retransmit_timer`),
//!   doubling the RTO up to 120 s; it gives up once the time since the first retransmission
//!   reaches `tcp_retries2` as a time (`retransmits_timed_out`, `tcp_model_timeout`: 924.6 s
//!   for 15), or `TCP_USER_TIMEOUT`, to which the RTO is clamped
//!   (`tcp_clamp_rto_to_user_timeout`); an orphan counts `tcp_orphan_retries` instead
//!   (`tcp_write_timeout`).
//! - [`WindowProbe`]: data is queued but none is out, because the peer's window is closed or
//!   no route is left (`lo` down): the zero-window probe timer (`tcp_probe_timer`,
//!   `tcp_send_probe0`), which counts probes against `tcp_retries2` and measures
//!   `TCP_USER_TIMEOUT` from its first expiry.
//! - [`Keepalive`]: no data, keepalive on (`tcp_keepalive_timer`): IDLE after the last segment
//!   received, a probe every INTERVAL; the error after COUNT unanswered probes, or, with
//!   `TCP_USER_TIMEOUT`, once that much time has passed and one probe went unanswered.
//!
//! Every timer is a timer-wheel timer ([`wheel`]), rounded up to its level's granularity: 1
//! jiffy up to 62, then 8, 64, 512, 4,096 jiffies... (a jiffy is 4 ms at Debian's HZ 250).
//! How much a timer is rounded depends on the jiffy at which the story starts, which no
//! scenario knows; so [`predict`] plays the timer from every start phase that matters and
//! reports each time as a [`Window`], earliest to latest. The window's width is the model's
//! stated tolerance: about one granule of the coarsest level the timer used (2.05 s for the
//! 120 s RTOs of a vanished peer, 36 ms for the user timeout of 2 s), plus [`SLACK`].
//!
//! Pure: no clocks, no I/O; time is passed in. The kernel's differences come from the kernel
//! profile ([`crate::oracle::kernel::TimerProfile`]); the settings from [`TimerSettings`].

pub mod machines;
pub mod rto;
pub mod wheel;

#[cfg(test)]
mod calibration;

use std::time::Duration;

use serde::Serialize;

use crate::oracle::kernel::Kernel;

pub use machines::{Fire, Keepalive, Retransmission, Timer, WindowProbe};
pub use rto::RttEstimator;

/// A count of timer ticks.
pub type Jiffies = u64;

/// The kernel's tick: conversions between time and jiffies as the kernel rounds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// `CONFIG_HZ`.
    pub hz: u32,
}

impl Tick {
    /// The tick of `kernel` ([`Kernel::timers`]).
    pub fn of(kernel: Kernel) -> Tick {
        Tick {
            hz: kernel.timers().hz,
        }
    }

    /// One jiffy.
    pub fn jiffy(self) -> Duration {
        Duration::from_nanos(1_000_000_000 / u64::from(self.hz))
    }

    /// `d` in jiffies, rounded up (`usecs_to_jiffies`, `msecs_to_jiffies`).
    pub fn jiffies_up(self, d: Duration) -> Jiffies {
        let ns = d.as_nanos() as u64;
        let jiffy = self.jiffy().as_nanos() as u64;
        ns.div_ceil(jiffy)
    }

    /// `j` jiffies as time (`jiffies_to_usecs`).
    pub fn duration(self, j: Jiffies) -> Duration {
        self.jiffy() * j as u32
    }

    /// Milliseconds at jiffy `j` (`tcp_time_stamp`, read at a tick: the kernel aligns ticks
    /// to whole multiples of the jiffy on its monotonic clock).
    pub fn millis(self, j: Jiffies) -> u64 {
        j * 1000 / u64::from(self.hz)
    }
}

/// The TCP sysctls the timers read (`/proc/sys/net/ipv4/`), Linux's defaults unless changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sysctls {
    /// `tcp_retries2` (15): retransmissions before giving up, as a time.
    pub tcp_retries2: u32,
    /// `tcp_orphan_retries` (0, which means 8 while the RTO is below its ceiling).
    pub tcp_orphan_retries: u32,
    /// `tcp_early_retrans` (3): tail loss probes on (3 or 4) or off.
    pub tcp_early_retrans: u8,
    /// `tcp_sack` (1): loss probes need SACK.
    pub tcp_sack: bool,
    /// `tcp_rto_min_us` (200 ms), honoured from 6.11.
    pub tcp_rto_min: Duration,
    /// `tcp_keepalive_time` (7,200 s).
    pub tcp_keepalive_time: Duration,
    /// `tcp_keepalive_intvl` (75 s).
    pub tcp_keepalive_intvl: Duration,
    /// `tcp_keepalive_probes` (9).
    pub tcp_keepalive_probes: u32,
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            tcp_retries2: 15,
            tcp_orphan_retries: 0,
            tcp_early_retrans: 3,
            tcp_sack: true,
            tcp_rto_min: rto::RTO_MIN,
            tcp_keepalive_time: Duration::from_secs(7_200),
            tcp_keepalive_intvl: Duration::from_secs(75),
            tcp_keepalive_probes: 9,
        }
    }
}

/// Keepalive's per-socket settings (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`); `None`
/// takes the sysctl.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeepaliveOptions {
    /// `TCP_KEEPIDLE`.
    pub idle: Option<Duration>,
    /// `TCP_KEEPINTVL`.
    pub interval: Option<Duration>,
    /// `TCP_KEEPCNT`.
    pub count: Option<u32>,
}

/// What a socket's timers are set to, and the host's sysctls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TimerSettings {
    /// The host's sysctls.
    pub sysctls: Sysctls,
    /// `TCP_USER_TIMEOUT` (0 and `None` alike: unset).
    pub user_timeout: Option<Duration>,
    /// `SO_KEEPALIVE` on, with these options.
    pub keepalive: Option<KeepaliveOptions>,
    /// The route's `rto_min` metric (`ip route ... rto_min`), which wins over the sysctl.
    pub route_rto_min: Option<Duration>,
    /// The application has closed the socket (`SOCK_DEAD`): `tcp_orphan_retries` counts.
    pub orphan: bool,
}

impl TimerSettings {
    /// The RTO's floor (`tcp_rto_min`, `tcp_rto_min_us`): the route's `rto_min`, else the
    /// sysctl where the kernel honours it, else `TCP_RTO_MIN`.
    pub fn rto_min(&self, kernel: Kernel) -> Duration {
        self.route_rto_min
            .unwrap_or(if kernel.timers().rto_min_sysctl {
                self.sysctls.tcp_rto_min
            } else {
                rto::RTO_MIN
            })
    }

    /// `TCP_USER_TIMEOUT` in milliseconds, when set (`icsk_user_timeout`).
    pub fn user_timeout_ms(&self) -> Option<u64> {
        self.user_timeout
            .map(|d| d.as_millis() as u64)
            .filter(|&ms| ms > 0)
    }

    /// `keepalive_time_when`, `keepalive_intvl_when`, `keepalive_probes`: the socket's
    /// option, else the sysctl.
    pub fn keepalive_when(&self) -> (Duration, Duration, u32) {
        let o = self.keepalive.unwrap_or_default();
        (
            o.idle.unwrap_or(self.sysctls.tcp_keepalive_time),
            o.interval.unwrap_or(self.sysctls.tcp_keepalive_intvl),
            o.count.unwrap_or(self.sysctls.tcp_keepalive_probes),
        )
    }
}

/// When something happens, as the model can know it: from `earliest` to `latest` after the
/// start, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    /// The earliest it can happen.
    pub earliest: Duration,
    /// The latest.
    pub latest: Duration,
}

impl Window {
    /// `latest - earliest`: the model's tolerance for this time.
    pub fn width(&self) -> Duration {
        self.latest - self.earliest
    }

    /// Whether `t` falls inside.
    pub fn contains(&self, t: Duration) -> bool {
        self.earliest <= t && t <= self.latest
    }
}

/// Added on both sides of every window: the time between the system call that starts the
/// story and the timer it arms, and between the timer's expiry and the wake-up of the
/// application waiting in poll (microseconds in the lane).
pub const SLACK: Duration = Duration::from_millis(1);

/// What a timer does to a connection, predicted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// When the kernel gives up (POLLERR, `ETIMEDOUT`); `None` if it never does within the
    /// model's bound on expiries.
    pub error: Option<Window>,
    /// When each segment the timer sends leaves (loss probe, retransmissions, window or
    /// keepalive probes, keepalive's final RST), in order; where start phases disagree on how
    /// many there are, the ones some phases send.
    pub segments: Vec<Window>,
    /// How many of `segments` every start phase sends: the others depend on the jiffy at
    /// which the story started.
    pub always: usize,
    /// The start phases played (jiffies modulo the coarsest granule used).
    pub phases: u64,
}

/// At most this many expiries are played per phase: the longest story (15 retransmissions,
/// or a keepalive's probes) needs a few dozen.
const MAX_EXPIRIES: usize = 1_000;

/// At most this many start phases are played; a timer whose coarsest granule is larger is
/// sampled evenly (hours-long keepalives).
const MAX_PHASES: u64 = 1 << 15;

/// The expiries of `timer` started at jiffy `start`: the jiffies, relative to `start`, at
/// which it sent a segment, and at which it gave up.
pub fn play<T: Timer + Clone>(timer: &T, start: Jiffies) -> (Vec<Jiffies>, Option<Jiffies>) {
    let mut timer = timer.clone();
    let mut sent = Vec::new();
    // Armed from a system call: the wheel's clock is the current jiffy.
    let mut now = wheel::fires_at(start + timer.start(start), start);
    for _ in 0..MAX_EXPIRIES {
        let next = match timer.fire(now) {
            Fire::Sent(after) => {
                sent.push(now - start);
                after
            }
            Fire::Quiet(after) => after,
            Fire::GiveUp { reset } => {
                if reset {
                    sent.push(now - start);
                }
                return (sent, Some(now - start));
            }
        };
        // Armed from the timer's own callback: the wheel's clock is one jiffy ahead.
        now = wheel::fires_at(now + next, now + 1);
    }
    (sent, None)
}

/// Plays `timer` from every start phase that matters on `kernel`'s tick and gathers the
/// windows: a time measured from a start at `start + φ` (`0 ≤ φ < 1` jiffy) to an expiry at
/// jiffy `F` is `F - start - φ` jiffies, so each window runs from the least `F - start`
/// less one jiffy to the greatest, widened by [`SLACK`].
pub fn predict<T: Timer + Clone>(timer: &T, kernel: Kernel) -> Prediction {
    let tick = Tick::of(kernel);
    // The coarsest granule a phase-0 run uses bounds the phases that differ.
    let (sent, end) = play(timer, 0);
    let mut last = 0;
    let mut coarsest = 1;
    for &t in sent.iter().chain(end.iter()) {
        coarsest = coarsest.max(wheel::granularity(t - last));
        last = t;
    }
    let phases = coarsest.min(MAX_PHASES);
    let step = coarsest / phases;
    let mut error: Option<(Jiffies, Jiffies)> = None;
    let mut never = false;
    let mut segments: Vec<(Jiffies, Jiffies)> = Vec::new();
    let mut always = usize::MAX;
    // Far from 0, so that no jiffy count goes below the wheel's clock.
    let base = 1 << 30;
    for p in 0..phases {
        let (sent, end) = play(timer, base + p * step);
        always = always.min(sent.len());
        match end {
            Some(e) => error = Some(error.map_or((e, e), |(lo, hi)| (lo.min(e), hi.max(e)))),
            None => never = true,
        }
        for (i, &t) in sent.iter().enumerate() {
            match segments.get_mut(i) {
                Some((lo, hi)) => {
                    *lo = (*lo).min(t);
                    *hi = (*hi).max(t);
                }
                None => segments.push((t, t)),
            }
        }
    }
    let window = |(lo, hi): (Jiffies, Jiffies)| Window {
        earliest: tick.duration(lo.saturating_sub(1)).saturating_sub(SLACK),
        latest: tick.duration(hi) + SLACK,
    };
    Prediction {
        error: if never { None } else { error.map(window) },
        always: always.min(segments.len()),
        segments: segments.into_iter().map(window).collect(),
        phases,
    }
}

/// The vanished peer: one write after the peer fell silent, with `est` the RTT the
/// connection had measured. `lost` says how: the segments leave and are lost (a cut cable, a
/// peer's host gone: the retransmission timer), or they cannot leave at all (`lo` down, no
/// route: the window-probe timer). The error's window is the guest time from the write.
pub fn vanished_peer(
    kernel: Kernel,
    settings: &TimerSettings,
    est: RttEstimator,
    lost: Lost,
) -> Prediction {
    match lost {
        Lost::OnTheWay => predict(&Retransmission::new(kernel, settings, est), kernel),
        Lost::NoRoute => predict(&WindowProbe::new(kernel, settings, est, false), kernel),
    }
}

/// The RTT estimator of a connection on the lane's link at zero delay (or across its
/// real-time relay): every RTT the kernel measures there is tens of microseconds (52 µs,
/// rttvar 26 µs on 5.10, measured; see `docs/timers/measured.json`), and any RTT under 3.8 ms
/// gives the same RTO (51 jiffies).
pub fn link_estimator() -> RttEstimator {
    RttEstimator::from_info(52, 26, rto::RTO_MIN)
}

/// How the segments of a vanished peer's connection are lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lost {
    /// They leave and vanish on the way (the emulated link's cut, a dead peer).
    OnTheWay,
    /// They cannot leave: no route (the interface went down).
    NoRoute,
}
