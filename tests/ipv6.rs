//! Every loopback scenario of the catalogue (`scenarios/<id>.scenario`) and of the questions
//! (`rstlab::questions`) on `::1` as well as on 127.0.0.0/8, on both backends: the kernel must
//! agree with the oracle and with the `=>` lines, and each step must return the same on both
//! families. A machine without IPv6 on loopback skips with one line (not under `CI=true`).

use rstlab::check;
use rstlab::oracle::predict_with;
use rstlab::questions::QUESTIONS;
use rstlab::run::{Backend, Family, Net, RunOptions, Runner};
use rstlab::{Rule, Scenario};

/// A runner on `family`'s loopback, or `None` (with the line that says why) when `::1` cannot
/// be used here.
fn runner(backend: Backend, family: Family) -> Option<Runner> {
    let options = RunOptions {
        family,
        ..RunOptions::default()
    };
    match Runner::with_options(backend, options) {
        Ok(runner) => Some(runner),
        Err(e) if family == Family::V6 && std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipping the IPv6 runs: {e}");
            None
        }
        Err(e) => panic!("a {family} runner: {e}"),
    }
}

#[test]
fn every_loopback_scenario_gives_the_same_results_on_ipv6() {
    let scenarios: Vec<(String, Scenario)> = Rule::ALL
        .iter()
        .map(|r| (format!("scenarios/{}.scenario", r.id()), r.canonical()))
        .chain(QUESTIONS.iter().flat_map(|q| {
            q.scenarios
                .iter()
                .map(|text| (format!("\"{}\"", q.question), *text))
        }))
        .map(|(name, text)| (name, text.parse::<Scenario>().unwrap()))
        .filter(|(_, s)| !s.uses_link())
        .collect();
    let mut failures = Vec::new();
    for backend in Backend::ALL {
        let Some(mut v6) = runner(backend, Family::V6) else {
            return;
        };
        let mut v4 = runner(backend, Family::V4).unwrap();
        for (name, scenario) in &scenarios {
            let prediction = predict_with(
                scenario,
                backend,
                Net::Loopback,
                rstlab::kernel::Kernel::running(),
            );
            let on_v6 = v6.run(scenario).unwrap();
            assert!(on_v6.client.is_ipv6() && on_v6.server.is_ipv6());
            if let Some(d) = check::check(scenario, &prediction, &on_v6) {
                failures.push(format!("{backend}, IPv6: {name}: {d}"));
            }
            let on_v4 = v4.run(scenario).unwrap();
            let outcomes = |t: &rstlab::run::Trace| -> Vec<String> {
                t.steps.iter().map(|s| s.outcome.to_string()).collect()
            };
            if outcomes(&on_v4) != outcomes(&on_v6) {
                failures.push(format!(
                    "{backend}: {name}: IPv4 {:?}, IPv6 {:?}",
                    outcomes(&on_v4),
                    outcomes(&on_v6)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
