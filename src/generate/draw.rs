//! A case's scenario drawn straight from its random stream, without proptest's value tree.
//!
//! `explore` needs a case's value only: its value tree (kept for shrinking) cost most of the
//! instructions of a loopback case, above all because every union clones its runner, with a
//! freshly seeded generator, for each branch before the one it picks, so that shrinking can
//! draw those branches later. Here each function twins one strategy of [`super`] and takes
//! from the stream exactly what that strategy's `new_tree` takes, in the same order:
//!
//! - a union (`prop_oneof!`, `Union::new_weighted`) draws its pick as proptest's
//!   `pick_weighted` does, then each branch before the pick takes the 32 words that seed its
//!   clone's generator ([`skip_branch`]), then the picked branch draws from the same stream;
//! - a range draws one `Uniform` sample (`usize` ranges through `u64`, as proptest's range
//!   strategies do), a `vec` its length (a `usize` sample) then its elements in order, a tuple
//!   its members in order, `any::<bool>()` one `random::<bool>()`; `Just`, `prop_map` and a
//!   `prop_filter_map` that accepts take nothing.
//!
//! The scenarios are the same, case for case: `the_direct_draw_is_the_trees_value` compares
//! them on thousands of cases of each network, and a change to a strategy without its twin
//! fails it. Where a filter would reject (proptest would then draw again), the draw gives up
//! (`None`) and the caller builds the tree instead.

use std::time::Duration;

use proptest::num::sample_uniform_incl;
use proptest::prelude::{Rng, RngExt};
use proptest::test_runner::TestRunner;

use super::{
    LARGE_LINK_WRITE, Looks, MAX_GENERATED_STEPS, MAX_LOOPBACK_SLEEP, SMALL_IO, end_ops,
    link_free_form_steps, link_story_steps, observing_ops, story_of, within_model_predicting,
};
use crate::oracle::PredictedStep;
use crate::run::Net;
use crate::scenario::bounds::{MAX_DELAY, MAX_IO};
use crate::scenario::{Arg, End, How, LinkOp, Op, OpKind, Param, Performer, Scenario, Step, Who};

/// A scenario, and the steps of its prediction when drawing made them already
/// ([`super::within_model_predicting`]).
pub(super) type Drawn = (Scenario, Option<Vec<PredictedStep>>);

/// The scenario [`super::scenario_on`]`(net)` draws from `runner`'s stream, or `None` where
/// a filter would have made proptest draw again.
pub(super) fn scenario_on(r: &mut TestRunner, net: Net) -> Option<Drawn> {
    match net {
        Net::Loopback => scenario(r).map(|s| (s, None)),
        Net::Link => match pick(r, &[2, 1, 1]) {
            0 => link_story(r),
            1 => link_free_form(r),
            _ => scenario(r).map(|s| (s, None)),
        },
    }
}

/// What a branch before the pick takes: `LazyValueTree::new` keeps a `partial_clone` of the
/// runner, whose generator is seeded by `new_rng` with 32 bytes, each the low byte of one
/// 32-bit word of this stream (rand's `random::<[u8; 32]>()`). 128 bytes read at once take the
/// same 32 words.
fn skip_branch(r: &mut TestRunner) {
    let mut seed_words = [0u8; 128];
    r.rng().fill_bytes(&mut seed_words);
}

/// A union's pick among `weights` (proptest's `pick_weighted`: a uniform sample below their
/// sum, and the number of running sums at or below it), then its lazy branches.
fn pick(r: &mut TestRunner, weights: &[u32]) -> usize {
    let sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let sample = below(r, sum);
    let mut running = 0u64;
    let picked = weights
        .iter()
        .filter(|&&w| {
            running += u64::from(w);
            running <= sample
        })
        .count();
    for _ in 0..picked {
        skip_branch(r);
    }
    picked
}

/// `0..end` as proptest's `u64` and `usize` range strategies draw it (`Uniform::new` is
/// `new_inclusive` up to `end - 1`).
fn below(r: &mut TestRunner, end: u64) -> u64 {
    sample_uniform_incl(r, 0, end - 1)
}

/// `start..=end` as proptest's `u64` and `usize` range strategies draw it.
fn within(r: &mut TestRunner, start: u64, end: u64) -> u64 {
    sample_uniform_incl(r, start, end)
}

/// A `usize` bound as a `u64` (lossless on every target rstlab runs on).
fn wide(n: usize) -> u64 {
    n as u64
}

/// `vec(element, start..=end)`: its length (a `usize` sample, unlike a `usize` range's), then
/// each element.
fn vec_of<T>(
    r: &mut TestRunner,
    start: usize,
    end: usize,
    mut element: impl FnMut(&mut TestRunner) -> Option<T>,
) -> Option<Vec<T>> {
    let len = sample_uniform_incl(r, start, end);
    let mut v = Vec::with_capacity(len);
    for _ in 0..len {
        v.push(element(r)?);
    }
    Some(v)
}

fn boolean(r: &mut TestRunner) -> bool {
    r.rng().random()
}

/// [`super::link_story`].
fn link_story(r: &mut TestRunner) -> Option<Drawn> {
    let reversed = boolean(r);
    let delay = link_delay(r);
    let writes = vec_of(r, 1, 3, |r| Some(link_size(r)))?;
    let pause = link_sleep(r);
    let reads = vec_of(r, 0, 2, |r| Some(size(r)))?;
    let reader_end = ending(r);
    let after = vec_of(r, 0, 5, |r| Some((link_sleep(r), boolean(r), size(r))))?;
    let writer_end = ending(r);
    let meddle = match pick(r, &[4, 1]) {
        0 => None,
        _ => Some((below(r, 8) as usize, link_op(r)?)),
    };
    let looks = observations(r)?;
    let steps = link_story_steps((
        reversed, delay, writes, pause, reads, reader_end, after, writer_end, meddle, looks,
    ));
    Some(within_model_predicting(steps, Net::Link))
}

/// [`super::link_free_form`].
fn link_free_form(r: &mut TestRunner) -> Option<Drawn> {
    let delay = link_delay(r);
    let steps = vec_of(r, 0, MAX_GENERATED_STEPS, |r| match pick(r, &[6, 2, 2]) {
        0 => step(r),
        1 => {
            let actor = actor(r);
            Some(Step::new(actor, Op::Sleep(link_sleep(r))))
        }
        _ => link_op(r).map(Step::link),
    })?;
    Some(within_model_predicting(
        link_free_form_steps((delay, steps)),
        Net::Link,
    ))
}

/// [`super::link_delay`].
fn link_delay(r: &mut TestRunner) -> Duration {
    match pick(r, &[1, 4, 1]) {
        0 => Duration::ZERO,
        1 => Duration::from_millis(within(r, 1, 50)),
        _ => Duration::from_millis(within(r, 1, MAX_DELAY.as_millis() as u64)),
    }
}

/// [`super::link_sleep`].
fn link_sleep(r: &mut TestRunner) -> Duration {
    match pick(r, &[4, 1]) {
        0 => Duration::from_millis(within(r, 0, 120)),
        _ => Duration::from_micros(within(r, 0, 120_000)),
    }
}

/// [`super::link_size`].
fn link_size(r: &mut TestRunner) -> usize {
    let end = match pick(r, &[8, 1]) {
        0 => SMALL_IO,
        _ => LARGE_LINK_WRITE,
    };
    within(r, 1, wide(end)) as usize
}

/// [`super::link_op`].
fn link_op(r: &mut TestRunner) -> Option<LinkOp> {
    match weighted(r, || OpKind::for_actor(Who::Link))? {
        Op::Link(op) => Some(op),
        _ => None,
    }
}

/// [`super::weighted`]: the kinds of weight above zero, in order, each an arm.
fn weighted<I: Iterator<Item = OpKind>>(r: &mut TestRunner, kinds: impl Fn() -> I) -> Option<Op> {
    let arms = || kinds().filter(|kind| kind.weight() > 0);
    let sum: u64 = arms().map(|kind| u64::from(kind.weight())).sum();
    let sample = below(r, sum);
    let mut running = 0u64;
    let mut picked = None;
    let mut before = 0;
    for kind in arms() {
        running += u64::from(kind.weight());
        if running <= sample {
            before += 1;
        } else {
            picked = Some(kind);
            break;
        }
    }
    for _ in 0..before {
        skip_branch(r);
    }
    let kind = picked?;
    kind.with(arg(r, kind))
}

/// [`super::arg`].
fn arg(r: &mut TestRunner, kind: OpKind) -> Arg {
    match kind.param() {
        Param::None => Arg::None,
        Param::Count => Arg::Count(size(r)),
        Param::How => Arg::How(how(r)),
        Param::Duration(_) if kind.performer() == Performer::Link => Arg::Duration(link_delay(r)),
        Param::Duration(_) => Arg::Duration(sleep(r)),
        // Never drawn (weight 0), and taking no word, as `super::arg`'s `Just`.
        Param::Setting => Arg::Setting(super::NEVER_DRAWN_SETTING),
    }
}

/// [`super::scenario`].
fn scenario(r: &mut TestRunner) -> Option<Scenario> {
    match pick(r, &[1, 1]) {
        0 => story(r),
        _ => free_form(r),
    }
}

/// [`super::free_form`].
fn free_form(r: &mut TestRunner) -> Option<Scenario> {
    vec_of(r, 0, MAX_GENERATED_STEPS, step).map(Scenario::normalize)
}

/// [`super::story`].
fn story(r: &mut TestRunner) -> Option<Scenario> {
    let reversed = boolean(r);
    let writes = vec_of(r, 0, 3, |r| Some(size(r)))?;
    let reads = vec_of(r, 0, 2, |r| Some(size(r)))?;
    let reader_end = ending(r);
    let after = vec_of(r, 0, 4, |r| Some((boolean(r), size(r))))?;
    let writer_end = ending(r);
    let pause = sleep_or_not(r);
    let looks = observations(r)?;
    Some(story_of((
        reversed, writes, reads, reader_end, after, writer_end, pause, looks,
    )))
}

/// [`super::observations`].
fn observations(r: &mut TestRunner) -> Option<Looks> {
    vec_of(r, 0, 2, |r| {
        let at = below(r, 16) as usize;
        let server = boolean(r);
        Some((at, server, weighted(r, observing_ops)?))
    })
}

/// [`super::step`].
fn step(r: &mut TestRunner) -> Option<Step> {
    let actor = actor(r);
    Some(Step::new(actor, weighted(r, end_ops)?))
}

/// [`super::actor`].
fn actor(r: &mut TestRunner) -> End {
    match pick(r, &[1, 1]) {
        0 => End::Client,
        _ => End::Server,
    }
}

/// [`super::ending`].
fn ending(r: &mut TestRunner) -> Option<Op> {
    match pick(r, &[1, 1, 1, 1]) {
        0 => None,
        1 => Some(Op::Close),
        2 => Some(Op::Abort),
        _ => Some(Op::Shutdown(how(r))),
    }
}

/// [`super::how`].
fn how(r: &mut TestRunner) -> How {
    match pick(r, &[1, 1, 1]) {
        0 => How::Write,
        1 => How::Read,
        _ => How::Both,
    }
}

/// [`super::size`].
fn size(r: &mut TestRunner) -> usize {
    let end = match pick(r, &[6, 1]) {
        0 => SMALL_IO,
        _ => MAX_IO,
    };
    within(r, 1, wide(end)) as usize
}

/// [`super::sleep`].
fn sleep(r: &mut TestRunner) -> Duration {
    Duration::from_micros(within(r, 0, MAX_LOOPBACK_SLEEP.as_micros() as u64))
}

/// [`super::sleep_or_not`].
fn sleep_or_not(r: &mut TestRunner) -> Option<Duration> {
    match pick(r, &[7, 1]) {
        0 => None,
        _ => Some(sleep(r)),
    }
}
