//! The text format: printing then parsing gives back the same scenario, and every kind of bad
//! input gets its own error, with the line and column of the offending word.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use rstlab::scenario::{Scenario, Step};
use rstlab::{generate, oracle};

/// A generated scenario with every step's predicted outcome written as its `=>` expectation,
/// so that expectations are printed and parsed too.
fn with_expectations(s: &Scenario) -> Scenario {
    let p = oracle::predict(s);
    let steps: Vec<Step> = s
        .steps()
        .iter()
        .zip(p.steps)
        .map(|(step, predicted)| step.clone().expecting(predicted.outcome))
        .collect();
    Scenario::new(steps).expect("predicted outcomes are always possible outcomes")
}

proptest! {
    #![proptest_config(Config {
        cases: 1000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/language.txt",
        ))),
        ..Config::default()
    })]

    #[test]
    fn print_then_parse_gives_back_the_same_scenario(s in generate::scenario()) {
        let s = with_expectations(&s);
        prop_assert_eq!(s.to_string().parse::<Scenario>().unwrap(), s.clone());
        prop_assert_eq!(s.to_inline().parse::<Scenario>().unwrap(), s);
    }
}

/// (input, line, column, a phrase the message must contain)
const BAD: &[(&str, usize, usize, &str)] = &[
    ("alice write 1", 1, 1, "expected an actor"),
    ("client send 1", 1, 8, "expected an op"),
    ("client write", 1, 13, "expected a byte count"),
    ("client write two", 1, 14, "expected a byte count"),
    ("client write 0", 1, 14, "at least 1"),
    (
        "client write 65537",
        1,
        14,
        "past the bound of 65536 bytes per step",
    ),
    (
        "client shutdown sideways",
        1,
        17,
        "`read`, `write` or `both`",
    ),
    ("client sleep 10", 1, 14, "a duration"),
    ("client sleep 6s", 1, 14, "past the bound"),
    ("client write 1 => EPIPED", 1, 19, "unknown errno name"),
    ("client write 1 => maybe", 1, 19, "expected an outcome"),
    ("client write 1 => ok(x)", 1, 22, "inside `ok(...)`"),
    ("client write 1 =>", 1, 18, "found the end of the step"),
    ("client write 1 EPIPE", 1, 16, "expected `=>`"),
    ("client read 1 => eof eof", 1, 22, "the end of the step"),
    ("client close => ok(1)", 1, 17, "can never end as"),
    (
        "# seed\nserver close\n\nserver write 1",
        4,
        1,
        "already ended its socket with `close` (step 1)",
    ),
    ("client abort; client read 1", 1, 15, "`abort` (step 1)"),
    (
        "client write 40000\nclient write 40000",
        2,
        1,
        "per direction",
    ),
];

#[test]
fn every_kind_of_bad_input_gets_its_error() {
    for &(input, line, column, phrase) in BAD {
        let e = input.parse::<Scenario>().expect_err(input);
        assert_eq!((e.line, e.column), (line, column), "{input:?}: {e}");
        assert!(e.message.contains(phrase), "{input:?}: {e}");
    }
}
