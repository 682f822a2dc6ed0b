//! The kernel's timer wheel (`kernel/time/timer.c`), as far as it decides when a TCP timer
//! fires: a timer armed for `expires` is put in a bucket of the level its distance falls in,
//! and fires at that bucket's time, which is rounded *up* to the level's granularity, never
//! down (`calc_index`: "the timer wheel has to guarantee that a timer does not fire early").
//! Level 0 counts single jiffies, each further level 8 times coarser: a 120 s RTO at HZ 250
//! (30,000 jiffies) sits on level 3 and fires up to 512 jiffies (2.048 s) late.

use super::Jiffies;

/// `LVL_CLK_SHIFT`: each level is 8 times coarser than the one below.
const LVL_CLK_SHIFT: u32 = 3;
/// `LVL_BITS`: 64 buckets per level.
const LVL_BITS: u32 = 6;
/// `LVL_DEPTH` for HZ above 100 (Debian's 250): nine levels.
const LVL_DEPTH: u32 = 9;

/// `LVL_SHIFT(n)`: the level's granularity as a power of two.
const fn lvl_shift(level: u32) -> u32 {
    level * LVL_CLK_SHIFT
}

/// `LVL_START(n)`: the least distance that goes to level `n` (`n` ≥ 1).
const fn lvl_start(level: u32) -> Jiffies {
    ((1 << LVL_BITS) - 1) << ((level - 1) * LVL_CLK_SHIFT)
}

/// `WHEEL_TIMEOUT_CUTOFF`: farther timers are cut to `WHEEL_TIMEOUT_MAX`.
const WHEEL_TIMEOUT_CUTOFF: Jiffies = lvl_start(LVL_DEPTH);
/// `WHEEL_TIMEOUT_MAX`.
const WHEEL_TIMEOUT_MAX: Jiffies = WHEEL_TIMEOUT_CUTOFF - (1 << lvl_shift(LVL_DEPTH - 1));

/// The level a timer `delta` jiffies after the wheel's clock goes to (`calc_wheel_index`).
pub fn level(delta: Jiffies) -> u32 {
    (1..LVL_DEPTH)
        .find(|&l| delta < lvl_start(l))
        .map_or(LVL_DEPTH - 1, |l| l - 1)
}

/// The granularity of the level a timer `delta` jiffies away goes to: how late it may fire.
pub fn granularity(delta: Jiffies) -> Jiffies {
    1 << lvl_shift(level(delta))
}

/// The jiffy at which a timer armed for `expires` fires, the wheel's clock being `clk`
/// (`calc_wheel_index`, `calc_index`): `expires` rounded up, strictly, to the level's
/// granularity. `clk` is `jiffies` when a timer is armed from a system call, and `jiffies + 1`
/// when it is armed from a timer's own callback ("while executing timers, base->clk is 1
/// offset ahead of jiffies", `forward_timer_base`).
pub fn fires_at(expires: Jiffies, clk: Jiffies) -> Jiffies {
    if expires < clk {
        // Already due: the current bucket.
        return clk;
    }
    let mut delta = expires - clk;
    let mut expires = expires;
    if delta >= WHEEL_TIMEOUT_CUTOFF {
        expires = clk + WHEEL_TIMEOUT_MAX;
        delta = WHEEL_TIMEOUT_MAX;
    }
    let shift = lvl_shift(level(delta));
    ((expires >> shift) + 1) << shift
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_their_granularity_follow_the_kernels_table() {
        // HZ 250: 0-62 jiffies exact (+1), then 8, 64, 512 and 4,096 jiffies.
        assert_eq!(granularity(51), 1);
        assert_eq!(granularity(62), 1);
        assert_eq!(granularity(63), 8);
        assert_eq!(granularity(503), 8);
        assert_eq!(granularity(504), 64);
        assert_eq!(granularity(4_031), 64);
        assert_eq!(granularity(4_032), 512);
        assert_eq!(granularity(30_000), 512);
        assert_eq!(granularity(32_256), 4_096);
        // The keepalive's default 7,200 s: level 5, 32,768 jiffies (131 s).
        assert_eq!(granularity(7_200 * 250), 32_768);
    }

    #[test]
    fn a_timer_never_fires_early_and_at_most_one_granule_late() {
        for clk in [0u64, 7, 1_000, 123_457] {
            for d in [1u64, 51, 62, 63, 102, 500, 816, 4_100, 30_000, 1_800_000] {
                let at = fires_at(clk + d, clk);
                assert!(at > clk + d, "{clk} {d}");
                assert!(at <= clk + d + granularity(d), "{clk} {d}");
                assert_eq!(at % granularity(d), 0);
            }
        }
    }
}
