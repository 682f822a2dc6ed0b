//! Where the model stops: [`Limit`], the edges of what it follows exactly, and [`Beyond`],
//! the step at which a scenario crosses one.

use std::time::Duration;

use serde::Serialize;

use super::timers::Window;
use crate::scenario::End;

/// Where a scenario leaves what the model follows exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Beyond {
    /// The 1-based step at which it happens.
    pub step: usize,
    /// Why the model stops there (in JSON, its sentence).
    #[serde(serialize_with = "crate::text::serialize_display")]
    pub reason: Limit,
}

impl std::fmt::Display for Beyond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {}: the model stops here: {}",
            self.step, self.reason
        )
    }
}

/// Why the model cannot follow a step: the edges of what it follows exactly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Limit {
    /// A step for the link that names a socket (the scenario checker refuses it; a hand-built
    /// step can still say it).
    #[error("`{0}`: the link has no socket")]
    LinkHasNoSocket(String),
    /// A segment left unacknowledged long enough that a real kernel's retransmission timer
    /// would fire.
    #[error(
        "the {who} has had a segment unacknowledged for more than {after:?} of link time: \
         a real kernel would retransmit it"
    )]
    Retransmission {
        /// The end whose segment waits.
        who: End,
        /// How long it may wait ([`super::RETRANSMIT_AFTER`]).
        after: Duration,
    },
    /// A host forgets its socket where Linux delays ACKs (loopback). An ACK either end still
    /// owes then leaves with the delayed-ACK timer (40 ms or more) or never: the peer's
    /// unacknowledged data or FIN comes back with its retransmission timer and draws an RST, or
    /// the survivor's late ACK does. What happens, and when, is the timers' business.
    #[error(
        "`{0} reboot` on loopback, where Linux delays ACKs: whether an ACK either end owes is sent before the host forgets its socket, and what the retransmission that follows meets, is decided by the kernel's delayed-ACK and retransmission timers, which the model does not keep yet; on the link (`--net link`) ACKs are not delayed"
    )]
    RebootWithDelayedAcks(End),
    /// A sleep long enough for keepalive's first probe, on a socket with keepalive on.
    #[error(
        "the {who} has keepalive on and would have received nothing for {idle:?} (its IDLE): \
         its keepalive timer would fire, which the model does not follow yet"
    )]
    Keepalive {
        /// The end whose timer fires.
        who: End,
        /// Its `TCP_KEEPIDLE`.
        idle: Duration,
    },
    /// A sleep longer than the lab's clock can stand for ([`LAB_MAX_SLEEP`]): past it the
    /// kernel's own timers decide, which run on the real clock outside the lane.
    #[error(
        "a sleep of {0:?}: past {LAB_MAX_SLEEP:?} the kernel's own timers decide (FIN_WAIT2 and TIME_WAIT end after 60 s, keepalive, retransmissions), and outside the lane they run on the real clock"
    )]
    LongSleep(Duration),
    /// In the kernel's time: a sleep ends too near something a timer does for the model to
    /// say whether it came first ([`super::silence::MARGIN`]).
    #[error(
        "the {who}'s {what} comes {earliest:?} to {latest:?} after its timer started, and the sleep ends {at:?} after it: too near to say which came first",
        earliest = window.earliest,
        latest = window.latest
    )]
    TimerWindow {
        /// Whose timer.
        who: End,
        /// What it does then.
        what: &'static str,
        /// When, as the timer model predicts it.
        window: Window,
        /// When the sleep ends, from the same start.
        at: Duration,
    },
    /// In the kernel's time: a timer at work in a way the model does not follow yet.
    #[error("the {who}'s {timer} timer: {why}")]
    Timer {
        /// Whose timer.
        who: End,
        /// Which timer.
        timer: &'static str,
        /// What the model does not follow.
        why: &'static str,
    },
    /// In the kernel's time: a link delay. The kernel's loss probe fires two round trips
    /// after a send (from 8 ms), and the round trips it measured at the handshake were
    /// microseconds: a delay would draw probes the model does not follow.
    #[error(
        "a link delay in the kernel's own time: the loss probe would fire within the delay, which the model does not follow yet"
    )]
    DelayInKernelTime,
    /// In the kernel's time: a sleep long enough for a FIN_WAIT2 or TIME_WAIT socket to
    /// expire (`tcp_fin_timeout`, `TCP_TIMEWAIT_LEN`: 60 s), or for an orphan's timers.
    #[error(
        "the {0} has a closed socket the kernel still keeps (an orphan, FIN_WAIT2 or TIME_WAIT), and the kernel's time would pass {ORPHAN_QUIET:?}: its timers (60 s for FIN_WAIT2 and TIME_WAIT) are not followed yet"
    )]
    ClosedSocketTimers(End),
    /// A duplicate ACK reached a sender: fast retransmit and loss recovery are not modelled.
    #[error("a duplicate ACK reaches the sender: loss recovery is not modelled")]
    LossRecovery,
    /// The scenario, once a caller has added its own steps (the peer's waits for the link's
    /// delay), is past the language's bounds.
    #[error(
        "with the peer's waits for the link's delay added, the scenario is past the language's bounds ({0})"
    )]
    Bounds(String),
}

impl Limit {
    /// What the user can change so that the model follows the scenario.
    pub fn hint(&self) -> &'static str {
        match self {
            Limit::LinkHasNoSocket(_) => "give the step to `client` or `server`",
            Limit::Retransmission { .. } => {
                "shorten the scenario's link time there, or cut the link and run it in the kernel's time (`--kernel 6.12`)"
            }
            Limit::LossRecovery => "drop fewer segments",
            Limit::Bounds(_) => "shorten the scenario",
            Limit::RebootWithDelayedAcks(_) => "run it on the link (`--net link`)",
            Limit::Keepalive { .. } => {
                "cut the link before the sleep and run it in the kernel's time (`--kernel 6.12`), or sleep less than keepalive's IDLE"
            }
            Limit::LongSleep(_) => "run it in the kernel's own time: `--kernel 6.12`",
            Limit::TimerWindow { .. } => "end the sleep further from that time",
            Limit::DelayInKernelTime => "leave the link's delay at zero in the kernel's time",
            Limit::ClosedSocketTimers(_) => "sleep less after the close",
            Limit::Timer { .. } => {
                "keep the link cut, and leave that socket alone, until its timer gives up"
            }
        }
    }

    /// Whether the scenario needs the kernel's own timers from here on: the model follows
    /// them where it keeps the kernel's time (the lane), and stops here elsewhere.
    pub fn needs_kernel_time(&self) -> bool {
        matches!(
            self,
            Limit::Retransmission { .. } | Limit::Keepalive { .. } | Limit::LongSleep(_)
        )
    }
}

/// In the kernel's time, how long the model lets a closed socket the kernel keeps wait: far
/// below the 60 s of FIN_WAIT2 and TIME_WAIT.
pub const ORPHAN_QUIET: Duration = Duration::from_secs(30);

/// The longest sleep the model follows on a real clock or the link's virtual one: far below
/// Linux's shortest state timer that can change an outcome (`tcp_fin_timeout` and TIME_WAIT,
/// 60 s), and short enough to wait for on loopback. Longer sleeps need the kernel's own time
/// (the lane), where the language allows up to [`crate::scenario::bounds::MAX_SLEEP`].
pub const LAB_MAX_SLEEP: Duration = Duration::from_secs(5);
