//! Every canonical scenario (`scenarios/<id>.scenario`) on real sockets, on both backends: the
//! kernel must agree with the oracle and with the scenario's `=>` lines, and the oracle must name
//! the scenario's rule. Scenarios with `link` steps run on the emulated link; every other one
//! runs on loopback, and on the link at zero delay too, where it must give the same results.

mod common;

use rstlab::check::verify::verify;
use rstlab::oracle;
use rstlab::oracle::kernel::Kernel;
use rstlab::run::{Backend, Net, RunOptions, Runner};
use rstlab::{Rule, Scenario};

/// Rules the oracle never names: their evidence comes from elsewhere (see the rules book).
const NOT_IN_THE_ORACLE: &[Rule] = &[Rule::WriteEpipeRaisesSigpipe];

fn canonical(rule: Rule) -> Scenario {
    Scenario::parse(rule.canonical())
        .unwrap_or_else(|e| panic!("scenarios/{}.scenario: {e}", rule.id()))
}

fn runner(backend: Backend, net: Net) -> Runner {
    let options = RunOptions {
        net,
        ..RunOptions::default()
    };
    Runner::with_options(backend, options).unwrap()
}

/// Runs the canonical scenarios `which` picks on `net`; the disagreements, one line each.
fn disagreements(net: Net, which: impl Fn(&Scenario) -> bool) -> Vec<String> {
    let mut failures = Vec::new();
    for backend in Backend::ALL {
        let mut runner = runner(backend, net);
        for &rule in Rule::ALL {
            let scenario = canonical(rule);
            if !which(&scenario) {
                continue;
            }
            let verified = verify(&mut runner, &scenario).unwrap();
            if let Some(d) = verified.disagreement {
                failures.push(format!(
                    "{backend} on {net}: scenarios/{}.scenario: {d}",
                    rule.id()
                ));
            }
        }
    }
    failures
}

#[test]
fn every_canonical_scenario_not_needing_the_link_agrees_on_loopback() {
    let failures = disagreements(Net::Loopback, |s| !s.needs_link());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_canonical_scenario_agrees_on_the_link() {
    if !common::link_available() {
        return;
    }
    // Those without link steps run at zero delay: the same results as on loopback.
    let failures = disagreements(Net::Link, |s| !common::in_kernel_time(s));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_canonical_scenario_exercises_its_rule() {
    for rule in Rule::ALL {
        if NOT_IN_THE_ORACLE.contains(rule) {
            continue;
        }
        let scenario = canonical(*rule);
        let net = Net::for_scenario(&scenario);
        // A rule of older kernels is exercised by a profile that lacks the change.
        let kernels = [Kernel::running(), Kernel::NEWEST, "5.10".parse().unwrap()];
        let named = Backend::ALL.iter().any(|&backend| {
            kernels.iter().any(|&kernel| {
                oracle::predict(
                    &scenario,
                    &oracle::Settings {
                        kernel,
                        backend,
                        net: Some(net),
                        tcp: if common::in_kernel_time(&scenario) {
                            oracle::TcpSettings::KernelTime
                        } else {
                            oracle::TcpSettings::Lab
                        },
                    },
                )
                .steps
                .iter()
                .any(|step| step.rules.contains(rule))
            })
        });
        assert!(
            named,
            "scenarios/{}.scenario never applies its rule",
            rule.id()
        );
    }
}

#[test]
fn every_canonical_scenario_is_commented_and_expects_on_most_steps() {
    for rule in Rule::ALL {
        let text = rule.canonical();
        assert!(
            text.lines().next().is_some_and(|l| l.starts_with('#')),
            "scenarios/{}.scenario starts without a comment",
            rule.id()
        );
        let scenario = Scenario::parse(text).unwrap();
        let expecting = scenario
            .steps()
            .iter()
            .filter(|s| s.expect.is_some())
            .count();
        // Link steps and sleeps always answer `ok`: they need no `=>`.
        let calls = scenario
            .steps()
            .iter()
            .filter(|s| {
                !matches!(
                    s.op,
                    rstlab::scenario::Op::Link(_) | rstlab::scenario::Op::Sleep(_)
                )
            })
            .count();
        assert!(
            expecting * 2 >= calls,
            "scenarios/{}.scenario: only {expecting} of {calls} calls have `=>`",
            rule.id(),
        );
    }
}
