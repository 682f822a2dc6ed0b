//! Every scenario of "Questions people ask" (`rstlab::questions`) on real sockets, on both
//! backends: the kernel must agree with the oracle and with the scenario's `=>` lines. Scenarios
//! with `link` steps run on the emulated link, which needs CAP_NET_ADMIN: without it they are
//! skipped, with one `SKIPPED` line, except with `RSTLAB_REQUIRE_LINK=1`, where that is a
//! failure (see `tests/common`).

mod common;

use rstlab::questions::{QUESTIONS, Shown};
use rstlab::run::{Backend, Net, RunOptions, Runner};

#[test]
fn every_question_scenario_agrees_on_both_backends() {
    let link = common::link_available_for("the scenarios with link steps");
    let mut failures = Vec::new();
    let mut ran = 0;
    for backend in Backend::ALL {
        let mut loopback = Runner::new(backend).unwrap();
        let mut on_link = link.then(|| {
            let options = RunOptions {
                net: Net::Link,
                ..RunOptions::default()
            };
            Runner::with_options(backend, options).unwrap()
        });
        for q in QUESTIONS {
            for scenario in q.scenarios().unwrap() {
                // The kernel's own timers run in the lane: `rstlab kernels --timers` checks
                // those there (tests/kernels.rs holds the stored results to them).
                if common::in_kernel_time(&scenario) {
                    continue;
                }
                let runner = match (scenario.needs_link(), &mut on_link) {
                    (false, _) => &mut loopback,
                    (true, Some(runner)) => runner,
                    (true, None) => continue,
                };
                let shown = Shown::run(runner, &scenario).unwrap();
                ran += 1;
                if !shown.agrees {
                    let outcomes: Vec<String> =
                        shown.outcomes.iter().map(ToString::to_string).collect();
                    failures.push(format!(
                        "{backend}: \"{}\":\n{scenario}the kernel returned {}",
                        q.question,
                        outcomes.join(", ")
                    ));
                }
            }
        }
    }
    assert!(ran > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
