//! Every canonical scenario (`scenarios/<id>.scenario`) on real sockets, on both backends: the
//! kernel must agree with the oracle and with the scenario's `=>` lines, and the oracle must name
//! the scenario's rule.

use rstlab::check;
use rstlab::oracle::predict_for;
use rstlab::run::{Backend, Runner};
use rstlab::{Rule, Scenario};

/// Rules the oracle never names: their evidence comes from elsewhere (see the rules book).
const NOT_IN_THE_ORACLE: &[Rule] = &[Rule::WriteEpipeRaisesSigpipe];

#[test]
fn every_canonical_scenario_agrees_on_both_backends() {
    let mut failures = Vec::new();
    for backend in Backend::ALL {
        let mut runner = Runner::new(backend).unwrap();
        for rule in Rule::ALL {
            let scenario = Scenario::parse(rule.canonical())
                .unwrap_or_else(|e| panic!("scenarios/{}.scenario: {e}", rule.id()));
            let prediction = predict_for(&scenario, backend);
            let trace = runner.run(&scenario).unwrap();
            if let Some(d) = check::check(&scenario, &prediction, &trace) {
                failures.push(format!("{backend}: scenarios/{}.scenario: {d}", rule.id()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_canonical_scenario_exercises_its_rule() {
    for rule in Rule::ALL {
        if NOT_IN_THE_ORACLE.contains(rule) {
            continue;
        }
        let scenario = Scenario::parse(rule.canonical()).unwrap();
        let named = Backend::ALL.iter().any(|&backend| {
            predict_for(&scenario, backend)
                .steps
                .iter()
                .any(|step| step.rules.contains(rule))
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
        assert!(
            expecting * 2 >= scenario.steps().len(),
            "scenarios/{}.scenario: only {expecting} of {} steps have `=>`",
            rule.id(),
            scenario.steps().len()
        );
    }
}
