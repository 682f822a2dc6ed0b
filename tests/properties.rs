//! The central property: on every generated scenario, the real kernel does what the oracle
//! predicts, on both backends and both networks. Real sockets, one fresh connection per case:
//! on loopback, and on the emulated link, where generated scenarios have delays, holds, drops
//! and sleeps in link time (`generate::scenario_on`).
//!
//! Cases per run: `PROPTEST_CASES` if set (per backend and network), else 2,000 on std and
//! 1,000 on tokio on loopback, and the same on the link.
//! Failures persist under the top-level `proptest-regressions/` and replay first on the next run.

mod common;

use std::cell::RefCell;

use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use rstlab::explore::run_and_check;
use rstlab::generate;
use rstlab::run::{Backend, Net, RunOptions, Runner};

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn oracle_agrees_with_the_kernel(
    backend: Backend,
    net: Net,
    default_cases: u32,
    regressions: &'static str,
) {
    let options = RunOptions {
        net,
        ..RunOptions::default()
    };
    let runner = RefCell::new(Runner::with_options(backend, options).expect("a runner"));
    let config = Config {
        cases: cases(default_cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    };
    let mut proptest = TestRunner::new(config);
    let result = proptest.run(&generate::scenario_on(net), |scenario| match run_and_check(
        &mut runner.borrow_mut(),
        &scenario,
    ) {
        Ok(None) => Ok(()),
        Ok(Some(disagreement)) => Err(TestCaseError::fail(disagreement.to_string())),
        Err(e) => Err(TestCaseError::fail(format!(
            "the run could not take place: {e}"
        ))),
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, scenario)) => panic!(
            "{backend} on {net}: the kernel disagrees with the oracle: {why}\nminimal scenario:\n{scenario}"
        ),
        Err(TestError::Abort(why)) => panic!("{backend} on {net}: aborted: {why}"),
    }
}

#[test]
fn the_oracle_agrees_with_the_kernel_on_std_sockets() {
    oracle_agrees_with_the_kernel(
        Backend::Std,
        Net::Loopback,
        2000,
        "proptest-regressions/oracle_vs_kernel_std.txt",
    );
}

#[test]
fn the_oracle_agrees_with_the_kernel_on_tokio_sockets() {
    oracle_agrees_with_the_kernel(
        Backend::Tokio,
        Net::Loopback,
        1000,
        "proptest-regressions/oracle_vs_kernel_tokio.txt",
    );
}

#[test]
fn the_oracle_agrees_with_the_kernel_on_the_link_with_std_sockets() {
    if !common::link_available() {
        return;
    }
    oracle_agrees_with_the_kernel(
        Backend::Std,
        Net::Link,
        2000,
        "proptest-regressions/oracle_vs_kernel_link_std.txt",
    );
}

#[test]
fn the_oracle_agrees_with_the_kernel_on_the_link_with_tokio_sockets() {
    if !common::link_available() {
        return;
    }
    oracle_agrees_with_the_kernel(
        Backend::Tokio,
        Net::Link,
        1000,
        "proptest-regressions/oracle_vs_kernel_link_tokio.txt",
    );
}
