//! The wire: segments in flight between the two ends, with a virtual clock.
//!
//! One [`Wire`] type serves both the oracle (whose segments are model segments) and the emulated
//! link (whose segments are real IP packets read from TUN devices), so the two cannot disagree on
//! *when* a segment arrives: a segment sent at time `t` under delay `d` is due at `t + d`; due
//! segments leave in order of due time, then order sent; `hold` keeps new segments until
//! `release`, which starts them across in the order sent; `drop` loses everything in flight or
//! held; `cut` loses that too and every segment that enters until `restore` (the caller learns
//! it from [`Wire::push`]). The clock moves only when told to ([`Wire::advance_to`]): steps take no time.
//!
//! The wire delivers nothing itself. Its owner pops due segments one at a time
//! ([`Wire::pop_due`]), hands each to the receiving end, pushes whatever the receiver answers,
//! and pops again: the time and the queue live here, the endpoints' reactions live with the
//! owner (the shape of turmoil's `Kernel::deliver`/`egress`).

use std::collections::VecDeque;
use std::time::Duration;

use crate::scenario::{End, LinkOp};

/// What happened to a segment that entered the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Still on its way (or held).
    InFlight,
    /// Handed to the receiver at this virtual time.
    Delivered(Duration),
    /// Lost by `link drop` or `link cut` at this virtual time.
    Dropped(Duration),
}

impl<S> Pending<S> {
    /// Where it stands in the order of leaving: by due time, then order sent; held (no due
    /// time yet) after every segment in flight.
    fn leaves(&self) -> (bool, Option<Duration>, u64) {
        (self.due.is_none(), self.due, self.order)
    }
}

#[derive(Clone, Debug)]
struct Pending<S> {
    /// `None` while held.
    due: Option<Duration>,
    /// Order of entry, for ties and for `release`.
    order: u64,
    from: End,
    segment: S,
    /// Where this segment's fate is recorded, when the owner keeps a log.
    ticket: usize,
}

/// The segments between the two ends and the virtual clock; see the [module](self).
///
/// ```
/// use std::time::Duration;
/// use rstlab::scenario::End;
/// use rstlab::net::wire::Wire;
/// let ms = Duration::from_millis;
/// let mut wire = Wire::new();
/// wire.set_delay(ms(20));
/// assert_eq!(wire.push(End::Client, "SYN", 0), None); // not lost: the link is not cut
/// assert_eq!(wire.pop_due(), None); // due at 20 ms
/// assert_eq!(wire.next_due(), Some(ms(20)));
/// wire.advance_to(ms(20));
/// assert_eq!(wire.pop_due(), Some((End::Client, "SYN", 0)));
/// ```
#[derive(Clone, Debug)]
pub struct Wire<S> {
    now: Duration,
    delay: Duration,
    holding: bool,
    /// Between `link cut` and `link restore`: every segment that enters is lost.
    cut: bool,
    /// In the order they leave ([`Pending::leaves`]): by due time, then order sent, the held
    /// ones last. So the next due is the first, and popping takes it from the front, where
    /// scanning them all for the earliest cost as much as a link case's stepping (the oracle
    /// pops on every delivery, and so does the link).
    pending: VecDeque<Pending<S>>,
    entered: u64,
}

impl<S> Default for Wire<S> {
    fn default() -> Self {
        Wire::new()
    }
}

impl<S> Wire<S> {
    /// An empty wire at time 0 with no delay.
    pub fn new() -> Wire<S> {
        Wire {
            now: Duration::ZERO,
            delay: Duration::ZERO,
            holding: false,
            cut: false,
            // Room for a burst and its answers from the start (the oracle makes a wire for
            // every prediction): growing from nothing took an allocation for each doubling.
            pending: VecDeque::with_capacity(16),
            entered: 0,
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The one-way delay for segments that enter from now on.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Whether new segments are being held.
    pub fn holding(&self) -> bool {
        self.holding
    }

    /// Whether the link is cut: every segment that enters is lost.
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// Applies a `link` step: the one place the six are given their meaning, for the oracle,
    /// the runner's link and the real-time relay alike. Returns what `link drop` or `link cut`
    /// lost (nothing for the others).
    pub fn apply(&mut self, op: LinkOp) -> Vec<(End, S, usize)> {
        match op {
            LinkOp::Delay(d) => self.set_delay(d),
            LinkOp::Hold => self.hold(),
            LinkOp::Release => self.release(),
            LinkOp::Drop => return self.drop_all(),
            LinkOp::Cut => return self.cut(),
            LinkOp::Restore => self.restore(),
        }
        Vec::new()
    }

    /// `link cut`: every segment in flight or held is lost, and so is every segment that enters
    /// until [`Wire::restore`]. Returns those lost now, in the order sent. A second cut loses
    /// nothing more than a drop would. The delay and a hold stay in force for after the restore.
    pub fn cut(&mut self) -> Vec<(End, S, usize)> {
        self.cut = true;
        self.drop_all()
    }

    /// `link restore`: segments that enter from now on cross again (under the current delay,
    /// or held if a hold is in force). Without a cut, nothing changes.
    pub fn restore(&mut self) {
        self.cut = false;
    }

    /// `link delay D`: segments that enter from now on take `delay` to cross; those already in
    /// flight keep their due time.
    pub fn set_delay(&mut self, delay: Duration) {
        self.delay = delay;
    }

    /// `link hold`: segments that enter from now on wait until [`Wire::release`].
    pub fn hold(&mut self) {
        self.holding = true;
    }

    /// `link release`: every held segment starts across now, in the order sent, under the
    /// current delay; holding stops.
    pub fn release(&mut self) {
        self.holding = false;
        let due = self.now + self.delay;
        for p in &mut self.pending {
            if p.due.is_none() {
                p.due = Some(due);
            }
        }
        // The released segments take their places among those in flight.
        self.pending.make_contiguous().sort_by_key(Pending::leaves);
    }

    /// `link drop`: every segment in flight or held is lost. Returns them, in the order sent.
    pub fn drop_all(&mut self) -> Vec<(End, S, usize)> {
        let mut lost: Vec<_> = self.pending.drain(..).collect();
        lost.sort_by_key(|p| p.order);
        lost.into_iter()
            .map(|p| (p.from, p.segment, p.ticket))
            .collect()
    }

    /// A segment enters the wire now, from `from`; `ticket` comes back with it. While the link
    /// is cut ([`Wire::cut`]) it is lost at once and given back, for the owner to record so.
    #[must_use = "a segment sent while the link is cut comes back lost"]
    pub fn push(&mut self, from: End, segment: S, ticket: usize) -> Option<(End, S, usize)> {
        if self.cut {
            return Some((from, segment, ticket));
        }
        let due = (!self.holding).then_some(self.now + self.delay);
        let p = Pending {
            due,
            order: self.entered,
            from,
            segment,
            ticket,
        };
        // Mostly at the back: with one delay in force, segments leave in the order sent.
        if self.pending.back().is_none_or(|q| q.leaves() <= p.leaves()) {
            self.pending.push_back(p);
        } else {
            let at = self.pending.partition_point(|q| q.leaves() <= p.leaves());
            self.pending.insert(at, p);
        }
        self.entered += 1;
        None
    }

    /// The earliest due time of a segment in flight (not held).
    pub fn next_due(&self) -> Option<Duration> {
        self.pending.front().and_then(|p| p.due)
    }

    /// Takes the segment that is due first (by due time, then order sent), if one is due now.
    pub fn pop_due(&mut self) -> Option<(End, S, usize)> {
        if self.pending.front()?.due.is_none_or(|d| d > self.now) {
            return None;
        }
        let p = self.pending.pop_front()?;
        Some((p.from, p.segment, p.ticket))
    }

    /// Moves the clock to `time` (never backwards). Deliver what [`Wire::pop_due`] gives at
    /// every due time on the way: step the clock with [`Wire::next_due`] to keep the order.
    pub fn advance_to(&mut self, time: Duration) {
        self.now = self.now.max(time);
    }

    /// Whether nothing is in flight or held.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Segments held or in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Forgets everything: time 0, no delay, no hold, no cut, nothing in flight.
    pub fn reset(&mut self) {
        // Keeping the queue's room: the link resets its wire after every scenario.
        self.pending.clear();
        let pending = std::mem::take(&mut self.pending);
        *self = Wire {
            pending,
            ..Wire::new()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl<S: std::fmt::Debug> Wire<S> {
        /// `push`, for a wire the test knows is not cut.
        fn push_ok(&mut self, from: End, segment: S, ticket: usize) {
            assert!(
                self.push(from, segment, ticket).is_none(),
                "the link is cut"
            );
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_segment_is_due_after_the_delay_in_force_when_it_was_sent() {
        let mut w = Wire::new();
        w.set_delay(ms(30));
        w.push_ok(End::Client, 'a', 0);
        w.set_delay(ms(5));
        w.push_ok(End::Client, 'b', 1);
        w.advance_to(ms(5));
        assert_eq!(w.pop_due(), Some((End::Client, 'b', 1)), "b overtakes a");
        assert_eq!(w.pop_due(), None);
        w.advance_to(ms(30));
        assert_eq!(w.pop_due(), Some((End::Client, 'a', 0)));
    }

    #[test]
    fn ties_leave_in_the_order_sent() {
        let mut w = Wire::new();
        w.push_ok(End::Server, 1, 0);
        w.push_ok(End::Client, 2, 1);
        w.push_ok(End::Server, 3, 2);
        let order: Vec<_> = std::iter::from_fn(|| w.pop_due().map(|x| x.1)).collect();
        assert_eq!(order, [1, 2, 3]);
    }

    #[test]
    fn held_segments_start_across_at_release_under_the_current_delay() {
        let mut w = Wire::new();
        w.hold();
        w.push_ok(End::Client, 'a', 0);
        w.advance_to(ms(100));
        assert_eq!(w.pop_due(), None);
        assert_eq!(w.next_due(), None);
        w.set_delay(ms(10));
        w.release();
        assert_eq!(w.next_due(), Some(ms(110)));
        w.push_ok(End::Client, 'b', 1);
        w.advance_to(ms(110));
        assert_eq!(w.pop_due().map(|x| x.1), Some('a'));
        assert_eq!(w.pop_due().map(|x| x.1), Some('b'));
    }

    #[test]
    fn drop_loses_what_is_in_flight_and_held_but_not_what_comes_after() {
        let mut w = Wire::new();
        w.set_delay(ms(10));
        w.push_ok(End::Client, 'a', 7);
        w.hold();
        w.push_ok(End::Client, 'b', 8);
        assert_eq!(w.drop_all(), [(End::Client, 'a', 7), (End::Client, 'b', 8)]);
        assert!(w.is_empty());
        w.push_ok(End::Client, 'c', 9);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn cut_loses_what_is_in_flight_held_and_sent_until_restore() {
        let mut w = Wire::new();
        w.set_delay(ms(10));
        w.push_ok(End::Client, 'a', 0);
        w.hold();
        w.push_ok(End::Server, 'b', 1);
        assert_eq!(w.cut(), [(End::Client, 'a', 0), (End::Server, 'b', 1)]);
        assert!(w.is_cut());
        assert_eq!(w.push(End::Client, 'c', 2), Some((End::Client, 'c', 2)));
        assert!(w.is_empty(), "nothing enters a cut link");
        // A second cut and a release change nothing: the link stays cut.
        assert_eq!(w.apply(LinkOp::Cut), []);
        w.release();
        assert_eq!(w.push(End::Server, 'd', 3), Some((End::Server, 'd', 3)));
        w.apply(LinkOp::Restore);
        assert!(!w.is_cut());
        w.push_ok(End::Client, 'e', 4);
        assert_eq!(w.next_due(), Some(ms(10)), "under the delay in force");
        w.advance_to(ms(10));
        assert_eq!(w.pop_due(), Some((End::Client, 'e', 4)));
        // A restore without a cut changes nothing.
        w.restore();
        w.push_ok(End::Client, 'f', 5);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn a_hold_in_force_at_the_cut_holds_again_after_the_restore() {
        let mut w = Wire::new();
        w.hold();
        w.cut();
        w.restore();
        w.push_ok(End::Client, 'a', 0);
        assert_eq!(w.next_due(), None, "held");
        w.release();
        assert_eq!(w.pop_due(), Some((End::Client, 'a', 0)));
    }

    #[test]
    fn the_clock_never_goes_back() {
        let mut w: Wire<()> = Wire::new();
        w.advance_to(ms(5));
        w.advance_to(ms(1));
        assert_eq!(w.now(), ms(5));
    }
}
