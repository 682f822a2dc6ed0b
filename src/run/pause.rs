//! A pause of the runner's on the real clock (a `sleep` step on loopback): spun when short,
//! slept with a fine timer slack when longer.

use std::time::Duration;

use super::Idle;

/// Pauses `d` as [`sleep`] does, giving the time of a spun pause to `idle` first.
pub(super) fn pause(d: Duration, idle: &mut Idle<'_>) {
    if d > SPIN_AT_MOST {
        return sleep(d);
    }
    let start = std::time::Instant::now();
    let end = start + d;
    while std::time::Instant::now() < end && idle(end) {}
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Pauses at or below this are spun, not slept: putting the thread to sleep costs a wakeup
/// that, with other processes on the machine, often lasts longer than the pause itself, and the
/// generated loopback pauses are all below it ([`crate::generate::MAX_LOOPBACK_SLEEP`]).
pub(super) const SPIN_AT_MOST: Duration = Duration::from_micros(200);

/// Pauses `d`: a short pause spins on the clock; a longer one sleeps with a timer slack of 1 ns,
/// then puts the thread's slack back (also on unwind): the default 50 µs would add a fifth to a
/// pause of a quarter of a millisecond. Either way the kernel goes on with the connection (its
/// timers and softirqs do not wait for this thread), and the pause lasts at least `d`.
pub(super) fn sleep(d: Duration) {
    if d <= SPIN_AT_MOST {
        let start = std::time::Instant::now();
        while start.elapsed() < d {
            std::hint::spin_loop();
        }
        return;
    }
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = crate::sys::set_timer_slack(self.0);
        }
    }
    // Best effort: without prctl the sleep is only less precise.
    let _restore = crate::sys::timer_slack()
        .ok()
        .filter(|_| crate::sys::set_timer_slack(1).is_ok())
        .map(Restore);
    std::thread::sleep(d);
}
