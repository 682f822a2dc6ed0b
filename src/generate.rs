//! Random scenarios: proptest strategies for `cargo test` and `explore`, and an
//! [`arbitrary::Arbitrary`] implementation for `cargo fuzz`.
//!
//! Both produce only valid scenarios, through [`Scenario::normalize`], and share one set of
//! limits: the language's [`bounds`](crate::scenario::bounds) and the generation limits below.

use std::cell::RefCell;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

mod draw;
mod silence;

pub use silence::silence_scenario;

use crate::oracle::{Model, PredictedStep, Prediction};
use crate::run::Net;
use crate::scenario::bounds::{MAX_DELAY, MAX_IO, MAX_STEPS};
use crate::scenario::{
    Arg, End, How, LinkOp, Op, OpKind, Param, Performer, Scenario, Setting, Step, Who,
};

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
/// assert!(rstlab::oracle::predict(&s, &rstlab::oracle::Settings { net: Some(Net::Link), ..Default::default() }).beyond.is_none());
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
        .prop_map(link_story_of)
}

/// What [`link_story`] draws, in its order.
type LinkStoryParts = (
    bool,
    Duration,
    Vec<usize>,
    Duration,
    Vec<usize>,
    Option<Op>,
    Vec<(Duration, bool, usize)>,
    Option<Op>,
    Option<(usize, LinkOp)>,
    Looks,
);

/// The scenario of a [`link_story`] from what it drew (shared with the direct draw,
/// [`draw`]).
fn link_story_of(parts: LinkStoryParts) -> Scenario {
    within_model(link_story_steps(parts), Net::Link)
}

/// A [`link_story`]'s steps, before [`within_model`].
fn link_story_steps(
    (reversed, delay, writes, pause, reads, reader_end, after, writer_end, meddle, looks): LinkStoryParts,
) -> Scenario {
    let (writer, reader) = if reversed {
        (End::Server, End::Client)
    } else {
        (End::Client, End::Server)
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
    Scenario::normalize(steps)
}

/// Free-form steps on a link: socket ops, sleeps in link time, and link ops.
pub fn link_free_form() -> impl Strategy<Value = Scenario> {
    let step = prop_oneof![
        6 => step(),
        2 => (actor(), link_sleep()).prop_map(|(a, d)| Step::new(a, Op::Sleep(d))),
        2 => link_op().prop_map(Step::link),
    ];
    (link_delay(), vec(step, 0..=MAX_GENERATED_STEPS)).prop_map(link_free_form_of)
}

/// The scenario of a [`link_free_form`] from its delay and steps.
fn link_free_form_of(parts: (Duration, Vec<Step>)) -> Scenario {
    within_model(link_free_form_steps(parts), Net::Link)
}

/// A [`link_free_form`]'s steps, before [`within_model`].
fn link_free_form_steps((delay, mut steps): (Duration, Vec<Step>)) -> Scenario {
    steps.insert(0, Step::link(LinkOp::Delay(delay)));
    Scenario::normalize(steps)
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
    within_model_predicting(scenario, net).0
}

/// [`within_model`], and what the model said of each step when it followed every one and the
/// scenario comes out as it went in: those are then the steps of its prediction for the std
/// backend on `net` ([`crate::oracle::predict`] runs the same model over the same steps), which
/// `explore` takes instead of running the model a second time. `None` otherwise.
fn within_model_predicting(scenario: Scenario, net: Net) -> (Scenario, Option<Vec<PredictedStep>>) {
    let mut model = Model::on(net, crate::oracle::kernel::Kernel::running());
    let mut kept: Vec<Step> = Vec::with_capacity(scenario.steps().len());
    let mut predicted = Some(Vec::with_capacity(scenario.steps().len()));
    for step in scenario.steps() {
        match model.step(step) {
            Ok(p) => {
                kept.push(step.clone());
                if let Some(predicted) = &mut predicted {
                    predicted.push(p);
                }
            }
            Err(_) => {
                predicted = None;
                // Rare: rebuild the model without the step rather than copy it before every step.
                model = Model::on(net, crate::oracle::kernel::Kernel::running());
                for k in &kept {
                    model
                        .step(k)
                        .expect("steps the model followed once it follows again");
                }
            }
        }
    }
    let kept = Scenario::normalize(kept);
    // The predictions are of the given steps: of the scenario returned if it is the same.
    let predicted = predicted.filter(|_| kept.steps() == scenario.steps());
    (kept, predicted)
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
        // `set` weighs 0: never drawn, until random generation draws timer steps.
        Param::Setting => Just(Arg::Setting(NEVER_DRAWN_SETTING)).boxed(),
    }
}

/// The argument [`arg`] gives `set`, which is never drawn (weight 0).
pub(crate) const NEVER_DRAWN_SETTING: Setting = Setting::UserTimeout(Duration::from_secs(1));

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
        .prop_map(story_of)
}

/// What [`story`] draws, in its order.
type StoryParts = (
    bool,
    Vec<usize>,
    Vec<usize>,
    Option<Op>,
    Vec<(bool, usize)>,
    Option<Op>,
    Option<Duration>,
    Looks,
);

/// The scenario of a [`story`] from what it drew (shared with the direct draw, [`draw`]).
fn story_of(
    (reversed, writes, reads, reader_end, after, writer_end, pause, looks): StoryParts,
) -> Scenario {
    let (writer, reader) = if reversed {
        (End::Server, End::Client)
    } else {
        (End::Client, End::Server)
    };
    let mut steps: Vec<Step> = writes
        .into_iter()
        .map(|n| Step::new(writer, Op::Write(n)))
        .collect();
    steps.extend(reads.into_iter().map(|n| Step::new(reader, Op::Read(n))));
    steps.extend(reader_end.map(|op| Step::new(reader, op)));
    steps.extend(pause.map(|d| Step::new(writer, Op::Sleep(d))));
    steps.extend(
        after
            .into_iter()
            .map(|(write, n)| Step::new(writer, if write { Op::Write(n) } else { Op::Read(n) })),
    );
    steps.extend(writer_end.map(|op| Step::new(writer, op)));
    observe(&mut steps, looks);
    Scenario::normalize(steps)
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
        let actor = if server { End::Server } else { End::Client };
        steps.insert(at.min(steps.len()), Step::new(actor, op));
    }
}

/// Which cases a seed gives ([`case_on`]): the plain ones, or the same with the timer steps
/// drawn too (`explore --timers`). The timer steps weigh 0 in the ops table, so that the plain
/// cases of a seed stay what they were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Draws {
    /// [`scenario_on`].
    #[default]
    Plain,
    /// [`timer_scenario_on`].
    Timers,
    /// [`silence_scenario`]: the stories of a silent peer, for the kernel's own time (the
    /// lane), on the link whatever the case's network.
    Silence,
}

/// One step of the stories of a silent peer, for `net`: `set user-timeout`, `set keepalive`,
/// a `reboot`, and on the link `link cut` and `link restore`. Keepalive's IDLE is drawn from 2 s on loopback, whose sleeps are real time, and from 10 s on
/// the link, where the kernel's timer runs on the real clock while the scenario's time is
/// virtual, as far from a case's real duration as the link's locked `rto_min` (10 s).
pub fn timer_step(net: Net) -> BoxedStrategy<Step> {
    let least_idle = match net {
        Net::Loopback => 2,
        Net::Link => 10,
    };
    let setting = prop_oneof![
        (0..=5_000u64).prop_map(|ms| Setting::UserTimeout(Duration::from_millis(ms))),
        (least_idle..=10u64, 1..=5u64, 1..=9u32).prop_map(|(idle, interval, count)| {
            Setting::Keepalive {
                idle: Duration::from_secs(idle),
                interval: Duration::from_secs(interval),
                count,
            }
        }),
    ];
    let set = (actor(), setting).prop_map(|(a, s)| Step::new(a, Op::Set(s)));
    let reboot = actor().prop_map(|a| Step::new(a, Op::Reboot));
    match net {
        Net::Loopback => prop_oneof![3 => set, 1 => reboot].boxed(),
        Net::Link => prop_oneof![
            3 => set,
            1 => reboot,
            1 => Just(Step::link(LinkOp::Cut)),
            1 => Just(Step::link(LinkOp::Restore)),
        ]
        .boxed(),
    }
}

/// [`scenario_on`] with one to three [`timer_step`]s put in at random places, then kept within
/// the model ([`within_model`]): what `explore --timers` runs.
pub fn timer_scenario_on(net: Net) -> BoxedStrategy<Scenario> {
    (
        scenario_on(net),
        vec((0..=MAX_GENERATED_STEPS, timer_step(net)), 1..=3),
    )
        .prop_map(move |(scenario, inserts)| {
            let mut steps = scenario.steps().to_vec();
            for (at, step) in inserts {
                steps.insert(at.min(steps.len()), step);
            }
            within_model(Scenario::normalize(steps), net)
        })
        .boxed()
}

/// One free-form step.
pub fn step() -> impl Strategy<Value = Step> {
    (actor(), op()).prop_map(|(actor, op)| Step::new(actor, op))
}

fn actor() -> impl Strategy<Value = End> {
    prop_oneof![Just(End::Client), Just(End::Server)]
}

/// An op of `client` or `server`, weighted by the ops table (toward writes, reads and polls);
/// shrinks toward `write 1`.
pub fn op() -> impl Strategy<Value = Op> {
    weighted(end_ops())
}

/// The ops of `client` and `server`, in table order: what [`op`] draws.
fn end_ops() -> impl Iterator<Item = OpKind> {
    OpKind::for_actor(End::Client)
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

// Seeded cases: the scenarios of `rstlab explore`, the rules book and the shards, each a
// function of the seed and the case number alone.

/// The random stream of case `index` under `seed`.
fn case_rng(seed: u64, index: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    let mut state = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The value tree of case `index` under `seed` on loopback: `current()` is the scenario,
/// `simplify()` shrinks it.
pub fn case(seed: u64, index: u64) -> impl ValueTree<Value = Scenario> {
    case_on(seed, index, Net::Loopback)
}

/// What every case of a thread shares: built once per thread, since the strategies are the same
/// for every case, and building them (and proptest's `Config::default()`, which reads the
/// environment) took as long as drawing the case.
struct Cases {
    /// No failure persistence: nothing here fails a test, and proptest clones the configuration
    /// (and so its boxed persistence) for every lazy branch it draws.
    config: Config,
    /// [`scenario_on`] for loopback and for the link.
    strategies: [BoxedStrategy<Scenario>; 2],
    /// [`timer_scenario_on`] for loopback and for the link.
    timer_strategies: [BoxedStrategy<Scenario>; 2],
    /// [`silence_scenario`], on the link.
    silence_strategies: [BoxedStrategy<Scenario>; 2],
    /// The runner of [`case_scenario`], its generator replaced for each case.
    runner: RefCell<TestRunner>,
}

thread_local! {
    static CASES: Cases = {
        let config = Config {
            failure_persistence: None,
            ..Config::default()
        };
        Cases {
            runner: RefCell::new(TestRunner::new_with_rng(config.clone(), case_rng(0, 0))),
            config,
            strategies: [scenario_on(Net::Loopback), scenario_on(Net::Link)],
            timer_strategies: [timer_scenario_on(Net::Loopback), timer_scenario_on(Net::Link)],
            silence_strategies: [silence_scenario(), silence_scenario()],
        }
    };
}

/// The value tree of case `index` under `seed` for `net` ([`crate::generate::scenario_on`]).
pub fn case_on(seed: u64, index: u64, net: Net) -> impl ValueTree<Value = Scenario> {
    case_drawing(seed, index, net, Draws::Plain)
}

/// The value tree of case `index` under `seed` for `net`, of the cases `draws` gives.
pub fn case_drawing(
    seed: u64,
    index: u64,
    net: Net,
    draws: Draws,
) -> impl ValueTree<Value = Scenario> {
    CASES.with(|cases| {
        let mut runner = TestRunner::new_with_rng(cases.config.clone(), case_rng(seed, index));
        let strategies = match draws {
            Draws::Plain => &cases.strategies,
            Draws::Timers => &cases.timer_strategies,
            Draws::Silence => &cases.silence_strategies,
        };
        let strategy = match net {
            Net::Loopback => &strategies[0],
            Net::Link => &strategies[1],
        };
        strategy
            .new_tree(&mut runner)
            .expect("the scenario strategy never rejects")
    })
}

/// The scenario of case `index` under `seed` for `net`: the value of [`case_on`]'s tree,
/// drawn from the same random stream without building the tree (a fraction of the cost; see
/// `draw`). What `explore` runs; it builds the tree only to shrink a disagreement.
///
/// ```
/// use proptest::strategy::ValueTree;
/// use rstlab::generate::{case_on, case_scenario};
/// use rstlab::run::Net;
/// for net in [Net::Loopback, Net::Link] {
///     assert_eq!(case_scenario(9, 4, net), case_on(9, 4, net).current());
/// }
/// ```
pub fn case_scenario(seed: u64, index: u64, net: Net) -> Scenario {
    case_drawn(seed, index, net).0
}

/// [`case_scenario`], and its prediction for the std backend on `net` when drawing made it
/// already (a link story or free-form link scenario whose every step the model followed in
/// [`within_model`]): what `explore` runs, sparing the model a second pass.
pub fn case_drawn(seed: u64, index: u64, net: Net) -> (Scenario, Option<Prediction>) {
    case_drawn_of(seed, index, net, Draws::Plain)
}

/// [`case_drawn`] among the cases `draws` gives. The timer cases have no direct draw: their
/// tree's value, without a prediction.
pub fn case_drawn_of(
    seed: u64,
    index: u64,
    net: Net,
    draws: Draws,
) -> (Scenario, Option<Prediction>) {
    if draws != Draws::Plain {
        return (case_drawing(seed, index, net, draws).current(), None);
    }
    let drawn = CASES.with(|cases| {
        let mut runner = cases.runner.borrow_mut();
        *runner.rng() = case_rng(seed, index);
        draw::scenario_on(&mut runner, net)
    });
    match drawn {
        Some((scenario, steps)) => (
            scenario,
            steps.map(|steps| Prediction {
                steps,
                beyond: None,
            }),
        ),
        // A filter that would have rejected: proptest draws again there, and so does the tree.
        None => (case_on(seed, index, net).current(), None),
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
            let epipe = predict(&s, &crate::oracle::Settings::default())
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
    fn the_direct_draw_is_the_trees_value() {
        // Each function of `draw` twins a strategy: a change to one without the other shows
        // here. Seeds and case numbers far apart, every network.
        for net in [Net::Loopback, Net::Link] {
            for (seed, first) in [(0, 0), (3, 1_000_000), (u64::MAX, 77)] {
                for index in first..first + 1500 {
                    assert_eq!(
                        case_scenario(seed, index, net),
                        case_on(seed, index, net).current(),
                        "seed {seed}, case {index} on {net}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_prediction_made_while_drawing_is_the_oracles() {
        let settings = crate::oracle::Settings {
            net: Some(Net::Link),
            ..Default::default()
        };
        let mut made = 0;
        for index in 0..2000 {
            let (scenario, prediction) = case_drawn(5, index, Net::Link);
            if let Some(prediction) = prediction {
                assert_eq!(
                    prediction,
                    crate::oracle::predict(&scenario, &settings),
                    "{scenario}"
                );
                made += 1;
            }
        }
        assert!(made > 1000, "{made} of 2000");
        assert!((0..200).all(|i| case_drawn(5, i, Net::Loopback).1.is_none()));
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
}
