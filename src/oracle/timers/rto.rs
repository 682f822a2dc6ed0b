//! The retransmission timeout as Linux computes it (`net/ipv4/tcp_input.c`,
//! `include/net/tcp.h`): the smoothed round trip and its variance from RTT samples
//! (`tcp_rtt_estimator`), the RTO from them (`__tcp_set_rto`, `tcp_set_rto`, `tcp_bound_rto`),
//! its floor (`tcp_rto_min`, `tcp_rto_min_us`), its backoff, the tail loss probe's timeout
//! (`tcp_schedule_loss_probe`) and the retransmission budget as time (`tcp_model_timeout`).

use std::time::Duration;

use super::{Jiffies, Tick};

/// `TCP_RTO_MAX`: the RTO's ceiling, 120 s.
pub const RTO_MAX: Duration = Duration::from_secs(120);
/// `TCP_RTO_MIN`: the RTO's default floor, `HZ / 5`.
pub const RTO_MIN: Duration = Duration::from_millis(200);
/// `TCP_TIMEOUT_INIT`: the RTO before any RTT sample, 1 s.
pub const TIMEOUT_INIT: Duration = Duration::from_secs(1);
/// `TCP_TIMEOUT_MIN_US`: the tail loss probe's allowance with more than one packet out.
pub const TIMEOUT_MIN: Duration = Duration::from_millis(2);

/// The RTT estimator's state, in the kernel's units and scales: `srtt_us` is 8 times the
/// smoothed RTT, `mdev_us` 4 times the mean deviation (`struct tcp_sock`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RttEstimator {
    /// `srtt_us`: smoothed RTT << 3, in µs (0: no sample yet).
    pub srtt_us: u32,
    /// `mdev_us`: medium deviation << 2, in µs.
    pub mdev_us: u32,
    /// `mdev_max_us`: the largest `mdev_us` in the last window of data.
    pub mdev_max_us: u32,
    /// `rttvar_us`: the variance the RTO uses, never below the RTO floor.
    pub rttvar_us: u32,
}

impl RttEstimator {
    /// The state `TCP_INFO` reports (`tcpi_rtt` = `srtt_us >> 3`, `tcpi_rttvar` =
    /// `mdev_us >> 2`), with `rttvar_us` at least `rto_min` as the estimator keeps it.
    pub fn from_info(rtt_us: u32, rttvar_us: u32, rto_min: Duration) -> RttEstimator {
        let mdev_us = rttvar_us << 2;
        let rttvar_us = mdev_us.max(rto_min.as_micros() as u32);
        RttEstimator {
            srtt_us: (rtt_us << 3).max(1),
            mdev_us,
            mdev_max_us: rttvar_us,
            rttvar_us,
        }
    }

    /// One RTT sample (`tcp_rtt_estimator`, Jacobson's algorithm with Linux's twists: a
    /// falling RTT moves the deviation 8 times less, and the variance the RTO uses only falls
    /// once per window of data, `window_done`, never below `rto_min`).
    pub fn sample(&mut self, rtt: Duration, rto_min: Duration, window_done: bool) {
        let rto_min_us = rto_min.as_micros() as u32;
        let mut m = rtt.as_micros() as i64;
        let mut srtt = self.srtt_us as i64;
        if srtt != 0 {
            m -= srtt >> 3;
            srtt += m;
            if m < 0 {
                m = -m - (self.mdev_us >> 2) as i64;
                if m > 0 {
                    m >>= 3;
                }
            } else {
                m -= (self.mdev_us >> 2) as i64;
            }
            self.mdev_us = (self.mdev_us as i64 + m).max(0) as u32;
            if self.mdev_us > self.mdev_max_us {
                self.mdev_max_us = self.mdev_us;
                self.rttvar_us = self.rttvar_us.max(self.mdev_max_us);
            }
            if window_done {
                if self.mdev_max_us < self.rttvar_us {
                    self.rttvar_us -= (self.rttvar_us - self.mdev_max_us) >> 2;
                }
                self.mdev_max_us = rto_min_us;
            }
        } else {
            srtt = m << 3;
            self.mdev_us = (m << 1) as u32;
            self.rttvar_us = self.mdev_us.max(rto_min_us);
            self.mdev_max_us = self.rttvar_us;
        }
        self.srtt_us = srtt.max(1) as u32;
    }

    /// The smoothed RTT (`srtt_us >> 3`).
    pub fn srtt(&self) -> Duration {
        Duration::from_micros((self.srtt_us >> 3).into())
    }

    /// The RTO, in jiffies (`tcp_set_rto`: `__tcp_set_rto`, srtt + rttvar rounded up to a
    /// jiffy by `usecs_to_jiffies`, then `tcp_bound_rto`, at most `TCP_RTO_MAX`); before any
    /// sample, `TCP_TIMEOUT_INIT`.
    pub fn rto(&self, tick: Tick) -> Jiffies {
        if self.srtt_us == 0 {
            return tick.jiffies_up(TIMEOUT_INIT);
        }
        let us = u64::from(self.srtt_us >> 3) + u64::from(self.rttvar_us);
        tick.jiffies_up(Duration::from_micros(us))
            .min(tick.jiffies_up(RTO_MAX))
    }
}

/// The RTO after one more unanswered retransmission (`tcp_retransmit_timer`: `icsk_rto << 1`,
/// at most `TCP_RTO_MAX`).
pub fn backed_off(rto: Jiffies, tick: Tick) -> Jiffies {
    (rto << 1).min(tick.jiffies_up(RTO_MAX))
}

/// The zero-window probe timer's base (`tcp_probe0_base`: the RTO, at least `TCP_RTO_MIN`)
/// and its value after `backoff` probes (`tcp_probe0_when`: doubled each time, at most
/// `TCP_RTO_MAX`).
pub fn probe0_when(rto: Jiffies, backoff: u32, tick: Tick) -> Jiffies {
    let base = rto.max(tick.jiffies_up(RTO_MIN));
    let max = tick.jiffies_up(RTO_MAX);
    base.checked_shl(backoff).map_or(max, |w| w.min(max))
}

/// The tail loss probe's timeout (`tcp_schedule_loss_probe`, after commit 1c2709cfff1d "tcp:
/// fix excessive TLP and RACK timeouts from HZ rounding", which Debian's 5.10, 6.1 and 6.12
/// all carry): twice the smoothed RTT, plus `rto_min` when one packet is out (the peer may
/// delay its ACK) or 2 ms otherwise, but no later than the RTO would fire (`rto_left`), rounded
/// up to a jiffy once; `TCP_TIMEOUT_INIT` without an RTT sample.
pub fn loss_probe_timeout(
    est: &RttEstimator,
    packets_out: u32,
    rto_min: Duration,
    rto_left: Duration,
    tick: Tick,
) -> Jiffies {
    if est.srtt_us == 0 {
        return tick.jiffies_up(TIMEOUT_INIT);
    }
    let allowance = if packets_out == 1 {
        rto_min
    } else {
        TIMEOUT_MIN
    };
    let mut timeout = Duration::from_micros(u64::from(est.srtt_us >> 2)) + allowance;
    if !rto_left.is_zero() {
        timeout = timeout.min(rto_left);
    }
    tick.jiffies_up(timeout)
}

/// The time `boundary` retransmissions take when the RTO starts at `rto_base` and doubles up
/// to `TCP_RTO_MAX` (`tcp_model_timeout`): how `tcp_retries2` becomes a time limit
/// (`retransmits_timed_out`), counted from the first retransmission. For 15 from 200 ms:
/// 924.6 s.
pub fn model_timeout(boundary: u32, rto_base: Duration, tick: Tick) -> Jiffies {
    let base = tick.jiffies_up(rto_base);
    let max = tick.jiffies_up(RTO_MAX);
    // ilog2(TCP_RTO_MAX / rto_base)
    let thresh = (max / base.max(1)).max(1).ilog2();
    if boundary <= thresh {
        ((2u64 << boundary) - 1) * base
    } else {
        ((2u64 << thresh) - 1) * base + u64::from(boundary - thresh) * max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ250: Tick = Tick { hz: 250 };

    #[test]
    fn the_first_sample_sets_the_rto_to_the_rtt_plus_the_floor() {
        let mut est = RttEstimator::default();
        assert_eq!(est.rto(HZ250), 250, "1 s before any sample");
        est.sample(Duration::from_micros(65), RTO_MIN, false);
        // 65 µs + max(2 x 65 µs, 200 ms) = 200.065 ms, rounded up to 51 jiffies: 204 ms, what
        // TCP_INFO showed in the lane on all three kernels.
        assert_eq!(est.rto(HZ250), 51);
        // A 40 ms path: 40 + max(80, 200) = 240 ms.
        let mut est = RttEstimator::default();
        est.sample(Duration::from_millis(40), RTO_MIN, false);
        assert_eq!(HZ250.duration(est.rto(HZ250)), Duration::from_millis(240));
        // A 150 ms path: 150 + 300 = 450 ms.
        let mut est = RttEstimator::default();
        est.sample(Duration::from_millis(150), RTO_MIN, false);
        assert_eq!(HZ250.duration(est.rto(HZ250)), Duration::from_millis(452));
    }

    #[test]
    fn later_samples_smooth_the_rtt_by_an_eighth() {
        let mut est = RttEstimator::default();
        est.sample(Duration::from_millis(100), RTO_MIN, true);
        est.sample(Duration::from_millis(200), RTO_MIN, true);
        assert_eq!(est.srtt(), Duration::from_micros(112_500));
        // The RTO never falls below srtt + rto_min.
        assert!(HZ250.duration(est.rto(HZ250)) >= est.srtt() + RTO_MIN);
    }

    #[test]
    fn the_budget_of_15_retransmissions_is_924_6_seconds() {
        assert_eq!(
            HZ250.duration(model_timeout(15, RTO_MIN, HZ250)),
            Duration::from_millis(924_600)
        );
        assert_eq!(
            HZ250.duration(model_timeout(3, RTO_MIN, HZ250)),
            Duration::from_millis(3_000)
        );
        // Backoff doubles, then stays at 120 s.
        assert_eq!(backed_off(51, HZ250), 102);
        assert_eq!(backed_off(26_112, HZ250), 30_000);
        assert_eq!(probe0_when(51, 20, HZ250), 30_000);
        assert_eq!(probe0_when(10, 0, HZ250), 50, "at least TCP_RTO_MIN");
    }

    #[test]
    fn the_loss_probe_goes_at_twice_the_rtt_plus_the_floor_or_with_the_rto() {
        let est = RttEstimator::from_info(65, 34, RTO_MIN);
        let rto = HZ250.duration(est.rto(HZ250));
        assert_eq!(loss_probe_timeout(&est, 1, RTO_MIN, rto, HZ250), 51);
        assert_eq!(loss_probe_timeout(&est, 2, RTO_MIN, rto, HZ250), 1);
        let est = RttEstimator::from_info(20_000, 10_000, RTO_MIN);
        // 2 x 20 ms + 200 ms = 240 ms, but the RTO (220 ms) comes first.
        assert_eq!(
            loss_probe_timeout(&est, 1, RTO_MIN, Duration::from_millis(220), HZ250),
            55
        );
    }
}
