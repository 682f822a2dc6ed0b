//! Every loopback scenario of the catalogue (`scenarios/<id>.scenario`) and of the questions
//! (`rstlab::questions`) on `::1` as well as on 127.0.0.0/8, on both backends: the kernel must
//! agree with the oracle and with the `=>` lines, and each step must return the same on both
//! families. Each run goes through `rstlab::check::verify`, the pipeline every command uses (the
//! runner carries the family; the oracle's prediction does not depend on it). A machine without
//! IPv6 on loopback skips with one `SKIPPED` line (see `tests/common`), except under `CI=true`.

mod common;

use rstlab::check::verify::verify;
use rstlab::questions::QUESTIONS;
use rstlab::run::{Backend, Family, RunOptions, Runner, Trace};
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
            common::skip(None, &format!("no IPv6 on loopback here: {e}"));
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
        .filter(|(_, s)| !s.needs_link())
        .collect();
    let mut failures = Vec::new();
    for backend in Backend::ALL {
        let Some(mut v6) = runner(backend, Family::V6) else {
            return;
        };
        let mut v4 = runner(backend, Family::V4).unwrap();
        for (name, scenario) in &scenarios {
            // Verified on both families: each must agree with the oracle and the `=>` lines.
            let mut on = |runner: &mut Runner, family: &str| -> Option<Trace> {
                match verify(runner, scenario) {
                    Ok(v) => {
                        if let Some(d) = v.disagreement {
                            failures.push(format!("{backend}, {family}: {name}: {d}"));
                        }
                        Some(v.trace)
                    }
                    Err(e) => {
                        failures.push(format!("{backend}, {family}: {name}: {e}"));
                        None
                    }
                }
            };
            let (Some(on_v6), Some(on_v4)) = (on(&mut v6, "IPv6"), on(&mut v4, "IPv4")) else {
                continue;
            };
            assert!(on_v6.client.is_ipv6() && on_v6.server.is_ipv6());
            assert!(on_v4.client.is_ipv4() && on_v4.server.is_ipv4());
            let outcomes = |t: &Trace| -> Vec<String> {
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
