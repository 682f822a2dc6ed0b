//! The text format: printing then parsing gives back the same scenario, and every kind of bad
//! input gets its own error, with the line and column of the offending word.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use rstlab::scenario::{Scenario, Script, Span, Step};
use rstlab::{generate, oracle};

/// A generated scenario with every step's predicted outcome written as its `=>` expectation,
/// so that expectations are printed and parsed too.
fn with_expectations(s: &Scenario) -> Scenario {
    let p = oracle::predict(s, &oracle::Settings::default());
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
    ("client sleep 4h", 1, 14, "past the bound"),
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
    // The client's request is for the peer, which counts what arrives; the oracle needs a
    // count.
    (
        "server close\n  client write request",
        2,
        16,
        "only the peer (`rstlab serve`, `rstlab exec`",
    ),
    (
        "server write request",
        1,
        14,
        "`request` is for `client write` only",
    ),
    ("client read request", 1, 13, "expected a byte count"),
    (
        "client write request => ok(68)",
        1,
        25,
        "known only when it arrives",
    ),
    // No expectation at all: its result depends on the length too.
    (
        "client write request => EPIPE",
        1,
        25,
        "`client write request` takes no expectation",
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

#[test]
fn the_client_s_request_parses_as_a_script_with_its_place() {
    let text =
        "# keep-alive\nclient write request; server read 65536 => ok(68)\n\tserver close # end";
    let script = Script::parse(text).unwrap();
    assert_eq!(script.requests(), [0]);
    assert_eq!(script.written(0), "client write request");
    assert_eq!(
        script.to_inline(),
        "client write request; server read 65536 => ok(68); server close"
    );
    // Printed, it parses back the same.
    assert_eq!(
        Script::parse(&script.to_string()).unwrap().to_inline(),
        script.to_inline()
    );
    // With the length that arrived, it is a scenario the oracle predicts.
    let scenario = script.with_lengths(&[68]).unwrap();
    assert_eq!(scenario.steps()[0].to_string(), "client write 68");
    assert_eq!(
        scenario.steps()[1].to_string(),
        "server read 65536 => ok(68)"
    );
    assert!(script.with_lengths(&[65537]).is_err());
}

#[test]
fn every_step_has_its_span_in_the_text() {
    let text = "# a comment\nclient write 1 ;  server close # tail\r\n\n   client sleep 5ms => ok";
    let script = Script::parse(text).unwrap();
    let places: Vec<(usize, usize, &str)> = script
        .spans()
        .iter()
        .map(
            |Span {
                 line,
                 column,
                 bytes,
             }| (*line, *column, &text[bytes.clone()]),
        )
        .collect();
    assert_eq!(
        places,
        [
            (2, 1, "client write 1"),
            (2, 19, "server close"),
            (4, 4, "client sleep 5ms => ok"),
        ]
    );
    // Columns count characters, bytes count bytes.
    let script = Script::parse("# é\nserver close; server sleep 1ms # ü").unwrap();
    assert_eq!(script.spans()[1].column, 15);
    let wide = "server sleep 1ms; \u{e9}server close";
    let e = Script::parse(wide).unwrap_err();
    assert_eq!((e.line, e.column), (1, 19), "{e}");
}
