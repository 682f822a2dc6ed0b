//! Random scenarios: proptest strategies for `cargo test` and `explore`, and an
//! [`arbitrary::Arbitrary`] implementation for `cargo fuzz`.
//!
//! Both produce only valid scenarios, through [`Scenario::normalize`], and share one set of
//! limits: the language's [`bounds`](crate::scenario::bounds) and the generation limits below.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::oracle::Model;
use crate::run::Net;
use crate::scenario::bounds::{MAX_DELAY, MAX_IO, MAX_STEPS};
use crate::scenario::{Actor, Arg, How, LinkOp, Op, OpKind, Param, Performer, Scenario, Step, Who};

/// The most steps a free-form generated scenario has. Short scenarios shrink fast and still
/// reach every state: no state of the model needs more than a dozen steps.
pub const MAX_GENERATED_STEPS: usize = 16;
/// A "small" write or read: most generated sizes are at most this.
pub const SMALL_IO: usize = 16;
/// The longest sleep the fuzz decoder produces (kept so that committed fuzz inputs decode to
/// the scenarios they were made for).
pub const MAX_GENERATED_SLEEP: Duration = Duration::from_micros(500);
/// The longest sleep the proptest strategies draw on loopback. A pause on a quiescent loopback
/// connection tests one rule (`sleep-changes-nothing`), and real time is the most expensive
/// thing a loopback case can spend: a few tens of microseconds show the rule as well as half a
/// millisecond. Time belongs to the link, where sleeps are virtual and cost nothing.
pub const MAX_LOOPBACK_SLEEP: Duration = Duration::from_micros(50);

const _: () = assert!(MAX_GENERATED_STEPS <= MAX_STEPS && SMALL_IO <= MAX_IO);

/// Any valid scenario: a seed-like story half of the time, free-form steps otherwise.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
/// let mut runner = TestRunner::deterministic();
/// let scenario = rstlab::generate::scenario().new_tree(&mut runner).unwrap().current();
/// assert!(scenario.steps().len() <= rstlab::scenario::bounds::MAX_STEPS);
/// ```
pub fn scenario() -> impl Strategy<Value = Scenario> {
    prop_oneof![story(), free_form()]
}

/// Any valid scenario for `net`: on loopback [`scenario`]; on the link, scenarios whose time
/// matters ([`link_story`], [`link_free_form`]) and, a quarter of the time, a loopback scenario
/// (which must give the same results on the link).
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
/// use rstlab::run::Net;
/// let mut runner = TestRunner::deterministic();
/// let s = rstlab::generate::scenario_on(Net::Link).new_tree(&mut runner).unwrap().current();
/// assert!(rstlab::oracle::predict_on(&s, Net::Link, rstlab::kernel::Kernel::running()).beyond.is_none());
/// ```
pub fn scenario_on(net: Net) -> BoxedStrategy<Scenario> {
    match net {
        Net::Loopback => scenario().boxed(),
        Net::Link => prop_oneof![
            2 => link_story(),
            1 => link_free_form(),
            1 => scenario(),
        ]
        .boxed(),
    }
}

/// The most bytes a generated link scenario writes in one step: more than the first flight
/// (10 × 1,448 bytes), so that the send queue behind the congestion window is exercised.
pub const LARGE_LINK_WRITE: usize = 20_000;

/// The seed article on a link: a delay, the writer writes, the reader reads some after a pause
/// and ends in one of the ways a socket can end, then the writer goes on, each call a chosen
/// interval after the last (around the round trip), and maybe ends too; sometimes the link
/// holds or drops what is in flight at some point, and either side may `poll` or ask for its
/// `error` along the way (a poll while the FIN is on its way shows nothing of it).
pub fn link_story() -> impl Strategy<Value = Scenario> {
    (
        any::<bool>(),
        link_delay(),
        vec(link_size(), 1..4),
        link_sleep(),
        vec(size(), 0..3),
        ending(),
        vec((link_sleep(), any::<bool>(), size()), 0..6),
        ending(),
        prop_oneof![4 => Just(None), 1 => (0..8usize, link_op()).prop_map(Some)],
        observations(),
    )
        .prop_map(
            |(
                reversed,
                delay,
                writes,
                pause,
                reads,
                reader_end,
                after,
                writer_end,
                meddle,
                looks,
            )| {
                let (writer, reader) = if reversed {
                    (Actor::Server, Actor::Client)
                } else {
                    (Actor::Client, Actor::Server)
                };
                let mut steps = vec![Step::link(LinkOp::Delay(delay))];
                steps.extend(writes.into_iter().map(|n| Step::new(writer, Op::Write(n))));
                steps.push(Step::new(writer, Op::Sleep(pause)));
                steps.extend(reads.into_iter().map(|n| Step::new(reader, Op::Read(n))));
                steps.extend(reader_end.map(|op| Step::new(reader, op)));
                for (pause, write, n) in after {
                    steps.push(Step::new(writer, Op::Sleep(pause)));
                    steps.push(Step::new(
                        writer,
                        if write { Op::Write(n) } else { Op::Read(n) },
                    ));
                }
                steps.extend(writer_end.map(|op| Step::new(writer, op)));
                if let Some((at, op)) = meddle {
                    let at = (1 + at).min(steps.len());
                    steps.insert(at, Step::link(op));
                }
                observe(&mut steps, looks);
                within_model(Scenario::normalize(steps), Net::Link)
            },
        )
}

/// Free-form steps on a link: socket ops, sleeps in link time, and link ops.
pub fn link_free_form() -> impl Strategy<Value = Scenario> {
    let step = prop_oneof![
        6 => step(),
        2 => (actor(), link_sleep()).prop_map(|(a, d)| Step::new(a, Op::Sleep(d))),
        2 => link_op().prop_map(Step::link),
    ];
    (link_delay(), vec(step, 0..=MAX_GENERATED_STEPS)).prop_map(|(delay, mut steps)| {
        steps.insert(0, Step::link(LinkOp::Delay(delay)));
        within_model(Scenario::normalize(steps), Net::Link)
    })
}

/// Drops every step at which the oracle would stop ([`crate::oracle::Beyond`]), so that a
/// generated scenario stays where the model is exact.
///
/// ```
/// use rstlab::generate::within_model;
/// use rstlab::run::Net;
/// let s: rstlab::Scenario = "link delay 10ms; client write 1; link drop; client sleep 300ms; server read 1"
///     .parse().unwrap();
/// assert_eq!(within_model(s, Net::Link).to_inline(), "link delay 10ms; client write 1; link drop; server read 1");
/// ```
pub fn within_model(scenario: Scenario, net: Net) -> Scenario {
    let mut model = Model::on(net, crate::kernel::Kernel::running());
    let mut kept: Vec<Step> = Vec::with_capacity(scenario.steps().len());
    for step in scenario.steps() {
        if model.step(step).is_ok() {
            kept.push(step.clone());
        } else {
            // Rare: rebuild the model without the step rather than copy it before every step.
            model = Model::on(net, crate::kernel::Kernel::running());
            for k in &kept {
                model
                    .step(k)
                    .expect("steps the model followed once it follows again");
            }
        }
    }
    Scenario::normalize(kept)
}

fn link_delay() -> impl Strategy<Value = Duration> {
    prop_oneof![
        1 => Just(Duration::ZERO),
        4 => (1..=50u64).prop_map(Duration::from_millis),
        1 => (1..=MAX_DELAY.as_millis() as u64).prop_map(Duration::from_millis),
    ]
}

/// A pause in link time: up to a few round trips of the longest delay, in whole milliseconds
/// mostly (shrinks toward no pause).
fn link_sleep() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (0..=120u64).prop_map(Duration::from_millis),
        1 => (0..=120_000u64).prop_map(Duration::from_micros),
    ]
}

fn link_size() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 1..=SMALL_IO, 1 => 1..=LARGE_LINK_WRITE]
}

/// A link op, weighted by the ops table.
fn link_op() -> impl Strategy<Value = LinkOp> {
    weighted(OpKind::for_actor(Who::Link)).prop_filter_map("a link op", |op| match op {
        Op::Link(op) => Some(op),
        _ => None,
    })
}

/// An op of one of `kinds`, drawn by the ops table's weights, its argument by [`arg`].
/// Shrinks toward the first kind.
fn weighted(kinds: impl Iterator<Item = OpKind>) -> BoxedStrategy<Op> {
    let arms: Vec<(u32, BoxedStrategy<Op>)> = kinds
        .filter(|kind| kind.weight() > 0)
        .map(|kind| {
            let op = arg(kind).prop_filter_map("the op's own argument", move |a| kind.with(a));
            (u32::from(kind.weight()), op.boxed())
        })
        .collect();
    proptest::strategy::Union::new_weighted(arms).boxed()
}

/// A generated argument for an op of `kind`: sizes by [`size`], durations by the link's delays
/// for the link, by [`sleep`] for a pause.
fn arg(kind: OpKind) -> BoxedStrategy<Arg> {
    match kind.param() {
        Param::None => Just(Arg::None).boxed(),
        Param::Count => size().prop_map(Arg::Count).boxed(),
        Param::How => how().prop_map(Arg::How).boxed(),
        Param::Duration(_) if kind.performer() == Performer::Link => {
            link_delay().prop_map(Arg::Duration).boxed()
        }
        Param::Duration(_) => sleep().prop_map(Arg::Duration).boxed(),
    }
}

/// Steps drawn independently, then normalized.
pub fn free_form() -> impl Strategy<Value = Scenario> {
    vec(step(), 0..=MAX_GENERATED_STEPS).prop_map(Scenario::normalize)
}

/// The seed article generalised: the writer writes, the reader reads some and ends in one of the
/// ways a socket can end (or never), the writer goes on writing and reading, maybe ends too;
/// either side may `poll` or ask for its `error` along the way. `reversed` swaps the roles so
/// that the client ends first.
pub fn story() -> impl Strategy<Value = Scenario> {
    (
        any::<bool>(),
        vec(size(), 0..4),
        vec(size(), 0..3),
        ending(),
        vec((any::<bool>(), size()), 0..5),
        ending(),
        sleep_or_not(),
        observations(),
    )
        .prop_map(
            |(reversed, writes, reads, reader_end, after, writer_end, pause, looks)| {
                let (writer, reader) = if reversed {
                    (Actor::Server, Actor::Client)
                } else {
                    (Actor::Client, Actor::Server)
                };
                let mut steps: Vec<Step> = writes
                    .into_iter()
                    .map(|n| Step::new(writer, Op::Write(n)))
                    .collect();
                steps.extend(reads.into_iter().map(|n| Step::new(reader, Op::Read(n))));
                steps.extend(reader_end.map(|op| Step::new(reader, op)));
                steps.extend(pause.map(|d| Step::new(writer, Op::Sleep(d))));
                steps.extend(after.into_iter().map(|(write, n)| {
                    Step::new(writer, if write { Op::Write(n) } else { Op::Read(n) })
                }));
                steps.extend(writer_end.map(|op| Step::new(writer, op)));
                observe(&mut steps, looks);
                Scenario::normalize(steps)
            },
        )
}

/// Where a story looks at its sockets: up to three `poll` or `error` steps, each at a place
/// (an index, clamped to the story's length) by one side.
type Looks = Vec<(usize, bool, Op)>;

fn observations() -> impl Strategy<Value = Looks> {
    vec((0..16usize, any::<bool>(), weighted(observing_ops())), 0..3)
}

/// The ops that look at a socket without acting on the connection: `poll` and `error`.
fn observing_ops() -> impl Iterator<Item = OpKind> {
    [OpKind::Poll, OpKind::Error].into_iter()
}

/// Inserts each look into `steps`, last place first.
fn observe(steps: &mut Vec<Step>, mut looks: Looks) {
    looks.sort_by_key(|&(at, _, _)| std::cmp::Reverse(at));
    for (at, server, op) in looks {
        let actor = if server { Actor::Server } else { Actor::Client };
        steps.insert(at.min(steps.len()), Step::new(actor, op));
    }
}

/// One free-form step.
pub fn step() -> impl Strategy<Value = Step> {
    (actor(), op()).prop_map(|(actor, op)| Step::new(actor, op))
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![Just(Actor::Client), Just(Actor::Server)]
}

/// An op of `client` or `server`, weighted by the ops table (toward writes, reads and polls);
/// shrinks toward `write 1`.
pub fn op() -> impl Strategy<Value = Op> {
    weighted(end_ops())
}

/// The ops of `client` and `server`, in table order: what [`op`] draws and what a fuzz input
/// decodes to.
fn end_ops() -> impl Iterator<Item = OpKind> {
    OpKind::for_actor(Actor::Client)
}

/// The sum of [`end_ops`]' weights: the fuzz decoder reads an op as one byte modulo this.
fn end_weight() -> u8 {
    end_ops().map(OpKind::weight).sum()
}

/// The byte that makes the fuzz decoder pick an op of `kind`: the first of its share of
/// [`end_ops`]' weights. `None` for the link's ops, which the decoder never produces.
///
/// ```
/// use rstlab::generate::op_code;
/// use rstlab::scenario::OpKind;
/// assert_eq!(op_code(OpKind::Write), Some(0));
/// assert_eq!(op_code(OpKind::Read), Some(4));
/// assert_eq!(op_code(OpKind::Delay), None);
/// ```
pub fn op_code(kind: OpKind) -> Option<u8> {
    let mut code = 0;
    for k in end_ops() {
        if k == kind {
            return (k.weight() > 0).then_some(code);
        }
        code += k.weight();
    }
    None
}

/// How a socket ends: not at all (`None`, where shrinking goes), close, abort, or a shutdown.
fn ending() -> impl Strategy<Value = Option<Op>> {
    prop_oneof![
        Just(None),
        Just(Some(Op::Close)),
        Just(Some(Op::Abort)),
        how().prop_map(|h| Some(Op::Shutdown(h))),
    ]
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![Just(How::Write), Just(How::Read), Just(How::Both)]
}

/// A byte count: mostly small, sometimes up to [`MAX_IO`].
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 1..=SMALL_IO, 1 => 1..=MAX_IO]
}

fn sleep() -> impl Strategy<Value = Duration> {
    (0..=MAX_LOOPBACK_SLEEP.as_micros() as u64).prop_map(Duration::from_micros)
}

fn sleep_or_not() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![7 => Just(None), 1 => sleep().prop_map(Some)]
}

impl<'a> Arbitrary<'a> for Scenario {
    /// Decodes steps until the input runs out (or [`MAX_STEPS`]), with the same weights and
    /// limits as the proptest strategies, then normalizes them.
    ///
    /// ```
    /// use arbitrary::{Arbitrary, Unstructured};
    /// let bytes = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    /// let s = rstlab::Scenario::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
    /// assert_eq!(s, s.to_string().parse().unwrap());
    /// ```
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Scenario> {
        let mut steps = Vec::new();
        while steps.len() < MAX_STEPS && !u.is_empty() {
            steps.push(arbitrary_step(u)?);
        }
        Ok(Scenario::normalize(steps))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (0, None)
    }
}

fn arbitrary_step(u: &mut Unstructured<'_>) -> arbitrary::Result<Step> {
    let actor = if bool::arbitrary(u)? {
        Actor::Server
    } else {
        Actor::Client
    };
    // The same weights as `op()`: one byte modulo their sum, each kind its share in table order.
    let mut code = u.int_in_range(0..=end_weight() - 1)?;
    let kind = end_ops()
        .find(|k| {
            let here = code < k.weight();
            code = code.saturating_sub(k.weight());
            here
        })
        .unwrap_or(OpKind::Write);
    let arg = match kind.param() {
        Param::None => Arg::None,
        Param::Count => Arg::Count(arbitrary_size(u)?),
        Param::How => Arg::How(How::ALL[usize::from(u.int_in_range(0..=2u8)?)]),
        Param::Duration(_) => Arg::Duration(Duration::from_micros(
            u.int_in_range(0..=MAX_GENERATED_SLEEP.as_micros() as u64)?,
        )),
    };
    let op = kind.with(arg).unwrap_or(Op::Write(1));
    Ok(Step::new(actor, op))
}

fn arbitrary_size(u: &mut Unstructured<'_>) -> arbitrary::Result<usize> {
    if u.ratio(6u8, 7u8)? {
        u.int_in_range(1..=SMALL_IO)
    } else {
        u.int_in_range(1..=MAX_IO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn generated_scenarios_are_valid_and_print_back() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..500 {
            let s = scenario().new_tree(&mut runner).unwrap().current();
            assert_eq!(Scenario::new(s.steps().to_vec()).as_ref(), Ok(&s));
            assert_eq!(s.to_string().parse::<Scenario>().unwrap(), s);
        }
    }

    #[test]
    fn a_failing_case_shrinks_to_a_few_small_steps() {
        use crate::oracle::predict;
        use crate::{Errno, Outcome};
        use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng};
        let config = Config {
            cases: 5000,
            failure_persistence: None,
            ..Config::default()
        };
        let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
        let mut runner = TestRunner::new_with_rng(config, rng);
        // A stand-in for a broken rule: "no write ever fails with EPIPE".
        let result = runner.run(&scenario(), |s| {
            let epipe = predict(&s)
                .steps
                .iter()
                .any(|p| p.outcome == Outcome::Err(Errno::EPIPE));
            proptest::prop_assert!(!epipe);
            Ok(())
        });
        let Err(TestError::Fail(_, minimal)) = result else {
            panic!("5000 cases never reached EPIPE")
        };
        assert!(minimal.steps().len() <= 3, "not minimal:\n{minimal}");
        for step in minimal.steps() {
            if let Op::Write(n) | Op::Read(n) = step.op {
                assert_eq!(n, 1, "sizes shrink to 1:\n{minimal}");
            }
        }
    }

    #[test]
    fn the_decoder_reads_an_op_as_a_byte_modulo_18_keeping_the_old_codes() {
        // The six ops before `poll` and `error` weighed 11, and committed fuzz inputs hold the
        // codes 0, 4, 7, 8, 9 and 10 (from `encode`) and 59 (from libFuzzer, a `read`).
        assert_eq!(end_weight(), 18);
        let decode = |code: u8| {
            let s = Scenario::arbitrary_take_rest(Unstructured::new(&[0, code, 0, 0])).unwrap();
            s.steps()[0].op.kind()
        };
        for (code, kind) in [
            (0, OpKind::Write),
            (4, OpKind::Read),
            (7, OpKind::Close),
            (8, OpKind::Abort),
            (9, OpKind::Shutdown),
            (10, OpKind::Sleep),
            (59, OpKind::Read),
            (11, OpKind::Poll),
            (16, OpKind::Error),
            (17, OpKind::Error),
            (18, OpKind::Write),
        ] {
            assert_eq!(decode(code), kind, "code {code}");
        }
        for &kind in OpKind::ALL {
            if let Some(code) = op_code(kind) {
                assert_eq!(decode(code), kind);
            }
        }
    }

    #[test]
    fn generated_scenarios_poll_and_ask_for_errors() {
        let mut runner = TestRunner::deterministic();
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..300 {
            let s = scenario().new_tree(&mut runner).unwrap().current();
            kinds.extend(s.steps().iter().map(|step| step.op.kind()));
        }
        for kind in [OpKind::Poll, OpKind::Error] {
            assert!(kinds.contains(&kind), "{kind:?} never generated");
        }
    }

    #[test]
    fn arbitrary_scenarios_are_valid_even_from_long_inputs() {
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let s = Scenario::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        assert!(s.steps().len() <= MAX_STEPS);
        assert_eq!(Scenario::new(s.steps().to_vec()).as_ref(), Ok(&s));
    }
}
