//! The stories of a peer that falls silent, for the kernel's own time (the lane, `explore
//! --kernel SERIES --timers`): an exchange, the timer options, then the silence (a cut link, or
//! a peer that rebooted), and long sleeps with writes, reads and looks in between; kept within
//! the model in the kernel's time ([`crate::oracle::TcpSettings::KernelTime`]).

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::oracle::Model;
use crate::oracle::kernel::Kernel;
use crate::run::Net;
use crate::scenario::{End, LinkOp, Op, Scenario, Setting, Step};

/// The longest sleep drawn: past a vanished peer's 15.5 minutes at the default `tcp_retries2`.
const LONGEST: Duration = Duration::from_secs(20 * 60);

/// A sleep evenly spread over the orders of magnitude (as many between 10 ms and 100 ms as
/// between 1 s and 10 s), in whole milliseconds: three times in four from 10 ms to 30 s (the
/// loss probe, the first retransmissions, user timeouts and short keepalives), else from 30 s
/// to [`LONGEST`] (a vanished peer at the defaults). Every sleep costs real time in the lane,
/// about a quarter of a millisecond for each second of the kernel's (idle) time.
fn long_sleep() -> impl Strategy<Value = Duration> {
    let between = |lo: f64, hi: f64| {
        (0.0..1.0f64).prop_map(move |x| {
            let (lo, hi) = (lo.ln(), hi.ln());
            Duration::from_millis((lo + x * (hi - lo)).exp().round() as u64)
        })
    };
    prop_oneof![
        3 => between(10.0, 30_000.0),
        1 => between(30_000.0, LONGEST.as_millis() as f64),
    ]
}

fn actor() -> impl Strategy<Value = End> {
    prop_oneof![Just(End::Client), Just(End::Server)]
}

/// A timer option: a user timeout up to a minute, or keepalive with an IDLE up to 2 minutes.
fn setting() -> impl Strategy<Value = Setting> {
    prop_oneof![
        (0..=60_000u64).prop_map(|ms| Setting::UserTimeout(Duration::from_millis(ms))),
        (1..=120u64, 1..=30u64, 1..=9u32).prop_map(|(idle, interval, count)| {
            Setting::Keepalive {
                idle: Duration::from_secs(idle),
                interval: Duration::from_secs(interval),
                count,
            }
        }),
    ]
}

/// A step while the peer is silent: mostly a sleep, else a write, a read or a look.
fn silent_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (actor(), long_sleep()).prop_map(|(a, d)| Step::new(a, Op::Sleep(d))),
        2 => (actor(), 1..=100usize).prop_map(|(a, n)| Step::new(a, Op::Write(n))),
        1 => (actor(), 1..=100usize).prop_map(|(a, n)| Step::new(a, Op::Read(n))),
        1 => actor().prop_map(|a| Step::new(a, Op::Poll)),
        1 => actor().prop_map(|a| Step::new(a, Op::Error)),
    ]
}

/// What `explore --kernel SERIES --timers` runs, on the link: up to two exchanges, up to two
/// timer options, the silence (three times in four a `link cut`, else a `reboot` of either
/// end), then up to eight steps of the silence; the steps the model does not follow in the
/// kernel's time are left out.
pub fn silence_scenario() -> BoxedStrategy<Scenario> {
    let exchange = (actor(), 1..=100usize)
        .prop_map(|(a, n)| [Step::new(a, Op::Write(n)), Step::new(a.peer(), Op::Read(n))]);
    let silence = prop_oneof![
        3 => Just(Step::link(LinkOp::Cut)),
        1 => actor().prop_map(|a| Step::new(a, Op::Reboot)),
    ];
    (
        vec(exchange, 0..=2),
        vec((actor(), setting()), 0..=2),
        silence,
        vec(silent_step(), 1..=8),
    )
        .prop_map(|(exchanges, settings, silence, after)| {
            let mut steps: Vec<Step> = exchanges.into_iter().flatten().collect();
            steps.extend(settings.into_iter().map(|(a, s)| Step::new(a, Op::Set(s))));
            steps.push(silence);
            steps.extend(after);
            within_kernel_time(Scenario::normalize(steps))
        })
        .boxed()
}

/// `scenario` less the steps the model does not follow in the kernel's time on the link.
fn within_kernel_time(scenario: Scenario) -> Scenario {
    let mut m = Model::in_kernel_time(Net::Link, Kernel::running());
    let mut kept: Vec<Step> = Vec::with_capacity(scenario.steps().len());
    for step in scenario.steps() {
        let mut tried = m.clone();
        if tried.step(step).is_ok() {
            kept.push(step.clone());
            m = tried;
        }
    }
    Scenario::normalize(kept)
}
