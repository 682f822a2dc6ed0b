//! The timer options a scenario sets on each socket (`set user-timeout`, `set keepalive`), as
//! the model keeps them: state that sends nothing and changes no outcome until its timer would
//! fire, which the model then refuses to follow ([`super::Limit::Keepalive`]).
//!
//! `TCP_USER_TIMEOUT` acts only through the retransmission and zero-window probe timers, which
//! the model already stops before ([`super::Limit::Retransmission`]). Keepalive acts on an idle
//! connection: its timer fires once IDLE has passed since the last segment received
//! (`tcp_keepalive_timer()`, `keepalive_time_elapsed()`), so the model counts that quiet time.

use std::time::Duration;

use crate::oracle::timers::{KeepaliveOptions, TimerSettings};
use crate::scenario::Setting;

/// Real time the model grants a keepalive timer beyond the sleeps it counts.
pub(super) const KEEPALIVE_MARGIN: Duration = Duration::from_secs(1);

/// One socket's timer options, and how long it has received nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Options {
    /// `TCP_USER_TIMEOUT`, when set and not 0.
    pub(super) user_timeout: Option<Duration>,
    /// `TCP_KEEPIDLE`, when `SO_KEEPALIVE` is on (`set keepalive` turns it on).
    pub(super) keepalive_idle: Option<Duration>,
    /// `TCP_KEEPINTVL` and `TCP_KEEPCNT`, with `keepalive_idle`.
    keepalive_then: Option<(Duration, u32)>,
    /// Time passed since the socket last received a segment (the handshake's last, at first).
    pub(super) quiet: Duration,
}

impl Options {
    /// `set`: setsockopt(2) stores the values (`do_tcp_setsockopt()`, `sock_setsockopt()` ->
    /// `tcp_set_keepalive()`, which arms the keepalive timer in the future and sends nothing).
    pub(super) fn set(&mut self, setting: Setting) {
        match setting {
            Setting::UserTimeout(d) => self.user_timeout = Some(d).filter(|d| !d.is_zero()),
            Setting::Keepalive {
                idle,
                interval,
                count,
            } => {
                self.keepalive_idle = Some(idle);
                self.keepalive_then = Some((interval, count));
            }
        }
    }

    /// The socket's timer settings for the timer model, on the kernel's default sysctls.
    pub(super) fn timer_settings(&self) -> TimerSettings {
        TimerSettings {
            user_timeout: self.user_timeout,
            keepalive: self.keepalive_idle.map(|idle| {
                let (interval, count) = self.keepalive_then.unzip();
                KeepaliveOptions {
                    idle: Some(idle),
                    interval,
                    count,
                }
            }),
            ..TimerSettings::default()
        }
    }

    /// A segment arrived: the connection is not idle.
    pub(super) fn received(&mut self) {
        self.quiet = Duration::ZERO;
    }

    /// Whether keepalive's first probe could leave within the next `d` of quiet, on a socket
    /// that can still send one: then it is the timers' business. The model counts the quiet
    /// time of sleeps alone, while the kernel's timer runs on the real clock (the steps between
    /// sleeps, a loaded machine, an emulated VM): [`KEEPALIVE_MARGIN`] more is refused.
    /// `d` = 0 asks about now: `set keepalive` on a socket quiet for IDLE already sends a probe
    /// at once (`tcp_sock_set_keepidle_locked()` re-arms the timer for what is left of IDLE).
    pub(super) fn keepalive_fires_within(&self, d: Duration) -> Option<Duration> {
        self.keepalive_idle
            .filter(|&idle| self.quiet + d + KEEPALIVE_MARGIN >= idle)
    }

    /// `d` passed.
    pub(super) fn time_passes(&mut self, d: Duration) {
        self.quiet += d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_fires_once_idle_has_passed_since_the_last_segment_received() {
        let mut o = Options::default();
        assert_eq!(o.keepalive_fires_within(Duration::from_secs(3600)), None);
        o.set(Setting::Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(2),
            count: 3,
        });
        o.time_passes(Duration::from_secs(6));
        // With a second's margin for the real clock.
        assert_eq!(o.keepalive_fires_within(Duration::from_secs(2)), None);
        assert_eq!(
            o.keepalive_fires_within(Duration::from_secs(3)),
            Some(Duration::from_secs(10))
        );
        o.received();
        assert_eq!(o.keepalive_fires_within(Duration::from_secs(8)), None);
        assert_eq!(o.keepalive_fires_within(Duration::ZERO), None);
        o.time_passes(Duration::from_secs(9));
        assert!(o.keepalive_fires_within(Duration::ZERO).is_some());
    }

    #[test]
    fn a_user_timeout_of_zero_turns_it_off() {
        let mut o = Options::default();
        o.set(Setting::UserTimeout(Duration::from_secs(2)));
        assert_eq!(o.user_timeout, Some(Duration::from_secs(2)));
        o.set(Setting::UserTimeout(Duration::ZERO));
        assert_eq!(o.user_timeout, None);
    }
}
