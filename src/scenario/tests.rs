//! The language's own tests: parsing, printing, errors and their places.

use super::*;

fn error_of(text: &str) -> ParseError {
    Scenario::parse(text).expect_err("should not parse")
}

#[test]
fn the_seed_article_parses_with_its_expectations() {
    let text = "client write 1 => ok(1)\nserver read 1 => ok(1)\nserver close\n\
                client write 1 => ok(1)\nclient write 1 => EPIPE\n";
    let seed = Scenario::parse(text).unwrap();
    assert_eq!(seed.steps().len(), 5);
    assert_eq!(seed.steps()[4].expect, Some(Outcome::Err(Errno::EPIPE)));
    assert_eq!(seed.to_string(), text);
}

#[test]
fn comments_blank_lines_and_semicolons_are_separators() {
    let s = Scenario::parse("# a comment\n\n  client write 2 ; server read 5 # tail\n").unwrap();
    assert_eq!(s.to_inline(), "client write 2; server read 5");
}

#[test]
fn every_op_prints_and_parses_back() {
    let text = "client write 3 => ok(3)\nserver read 10 => eof\nserver shutdown read => ok\n\
                server shutdown write\nserver shutdown both => ENOTCONN\nclient sleep 250us\n\
                client sleep 5ms => ok\nclient sleep 1s\nclient poll => IN|OUT|RDHUP\n\
                client poll\nserver error => ECONNRESET\nserver error => ok\nclient poll => none\n\
                link delay 10ms\nlink hold\nlink release => ok\nlink drop\nlink cut\n\
                link restore => ok\n\
                client set user-timeout 2s\nserver set keepalive 10s 2s 3 => ok\n\
                client abort\nserver close => ok\n";
    let s = Scenario::parse(text).unwrap();
    assert_eq!(s.to_string(), text);
    // Each end can end its socket once: the third way of ending one needs a scenario of its own.
    let reboot = "client write 1\nserver reboot => ok\n";
    let r = Scenario::parse(reboot).unwrap();
    assert_eq!(r.to_string(), reboot);
    let kinds: std::collections::BTreeSet<OpKind> = s
        .steps()
        .iter()
        .chain(r.steps())
        .map(|s| s.op.kind())
        .collect();
    assert_eq!(
        kinds.len(),
        OpKind::ALL.len(),
        "every row of the table is here"
    );
}

#[test]
fn the_ops_table_names_each_op_once_and_builds_what_it_names() {
    let mut names: Vec<&str> = OpKind::ALL.iter().map(|k| k.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), OpKind::ALL.len());
    for &kind in OpKind::ALL {
        let arg = match kind.param() {
            Param::None => Arg::None,
            Param::Count => Arg::Count(1),
            Param::How => Arg::How(How::Both),
            Param::Duration(_) => Arg::Duration(Duration::from_millis(1)),
            Param::Setting => Arg::Setting(Setting::UserTimeout(Duration::from_secs(1))),
        };
        let op = kind.with(arg).expect("the op's own argument");
        assert_eq!((op.kind(), op.arg()), (kind, arg));
        assert_eq!(op.to_string().split(' ').next(), Some(kind.name()));
    }
}

#[test]
fn set_takes_the_timer_options_in_the_units_the_kernel_takes() {
    let s = Scenario::parse(
        "client set user-timeout 2s; client set keepalive 10s 2s 3 => ok; server set user-timeout 0s",
    )
    .unwrap();
    assert_eq!(
        s.steps()[1].op,
        Op::Set(Setting::Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(2),
            count: 3
        })
    );
    // It prints as it parses.
    assert_eq!(
        s.to_string(),
        // A duration of 0 prints as the language prints one (`0us`).
        "client set user-timeout 2s\nclient set keepalive 10s 2s 3 => ok\nserver set user-timeout 0us\n"
    );
    for (text, says) in [
        ("client set keepalive 1.5s 1s 3", "whole seconds"),
        ("client set keepalive 10s 0s 3", "whole seconds from 1s"),
        ("client set keepalive 10s 1s 128", "from 1 to 127"),
        ("client set keepalive 10s 1s", "keepalive's COUNT"),
        ("client set keepalive 10s 1s x", "keepalive's COUNT"),
        ("client set user-timeout 1500us", "whole milliseconds"),
        ("client set user-timeout", "a duration"),
        ("client set linger 1s", "`user-timeout` or `keepalive`"),
        ("link set user-timeout 1s", "a link op"),
    ] {
        let e = Scenario::parse(text).expect_err(text);
        assert!(e.to_string().contains(says), "{text}: {e}");
    }
}

#[test]
fn poll_and_error_have_their_own_outcomes() {
    let s = Scenario::parse("client poll => OUT|IN; server error => EPIPE; client error => ok")
        .unwrap();
    assert_eq!(
        s.steps()[0].expect,
        Some(Outcome::Ready(PollEvents::IN | PollEvents::OUT))
    );
    assert_eq!(
        s.to_inline(),
        "client poll => IN|OUT; server error => EPIPE; client error => ok"
    );
    for (text, column, phrase) in [
        ("client poll => ok", 16, "can never end"),
        ("client error => IN", 17, "can never end"),
        ("client write 1 => OUT", 19, "can never end"),
        ("client poll => IN|IN", 16, "named twice"),
        ("client poll => IN|", 16, "unknown poll event \"\""),
        (
            "client poll => IN|POLLOUT",
            16,
            "unknown poll event \"POLLOUT\"",
        ),
        ("client poll 3", 13, "`=>` or the end of the step"),
        ("link poll", 6, "a link op"),
        (
            "client hold",
            8,
            "an op (`write`, `read`, `close`, `abort`, `shutdown`, `sleep`, `poll`, `error`, `reboot` or `set`)",
        ),
        ("client abort; client poll", 15, "already ended its socket"),
        ("client close; client error", 15, "already ended its socket"),
    ] {
        let e = error_of(text);
        assert_eq!(e.column, column, "{text}: {e}");
        assert!(e.message.contains(phrase), "{text}: {e}");
    }
}

#[test]
fn an_unknown_actor_is_reported_at_its_column() {
    let e = error_of("client write 1\n  bob write 1");
    assert_eq!((e.line, e.column), (2, 3));
    assert!(e.message.contains("expected an actor"), "{e}");
}

#[test]
fn an_unknown_op_is_reported_with_the_ops_expected() {
    let e = error_of("client send 1");
    assert_eq!((e.line, e.column), (1, 8));
    assert!(e.message.contains("expected an op"), "{e}");
}

#[test]
fn a_missing_count_is_reported_at_the_end_of_the_step() {
    let e = error_of("client write");
    assert_eq!((e.line, e.column), (1, 13));
    assert!(e.message.contains("found the end of the step"), "{e}");
    let e = error_of("client write; server read 1");
    assert_eq!((e.line, e.column), (1, 13));
}

#[test]
fn a_bad_count_is_reported_at_the_count() {
    let e = error_of("server read x1");
    assert_eq!((e.line, e.column), (1, 13));
    assert!(e.message.contains("byte count"), "{e}");
    let e = error_of("server read 0");
    assert!(e.message.contains("at least 1"), "{e}");
    let e = error_of("server read 65537");
    assert!(e.message.contains("past the bound"), "{e}");
}

#[test]
fn a_step_after_close_is_an_error_that_names_the_close() {
    let e = error_of("server close\nclient write 1\nserver read 1");
    assert_eq!((e.line, e.column), (3, 1));
    assert!(e.message.contains("`close` (step 1)"), "{e}");
    let e = error_of("client abort; client shutdown write");
    assert_eq!((e.line, e.column), (1, 15));
    assert!(e.message.contains("`abort`"), "{e}");
}

#[test]
fn sleeping_after_close_is_allowed() {
    assert!(Scenario::parse("server close; server sleep 1ms").is_ok());
}

#[test]
fn writes_past_the_direction_bound_are_an_error() {
    let e = error_of("client write 65536\nserver write 65536\nclient write 1");
    assert_eq!((e.line, e.column), (3, 1));
    assert!(e.message.contains("per direction"), "{e}");
}

#[test]
fn a_sleep_past_the_bound_or_without_a_unit_is_an_error() {
    // Sleeps up to three hours parse (past 5 s, the oracle follows them in the kernel's own
    // time only).
    assert!(Scenario::parse("client sleep 6s; client sleep 3h").is_ok());
    assert!(
        error_of("client sleep 181m")
            .message
            .contains("past the bound")
    );
    assert!(error_of("client sleep 5").message.contains("with its unit"));
    assert!(
        error_of("client sleep 5h")
            .message
            .contains("past the bound")
    );
    assert!(error_of("client sleep 5x").message.contains("unknown unit"));
    assert!(error_of("client sleep s").message.contains("a duration"));
}

#[test]
fn durations_have_one_syntax_with_fractions_and_units() {
    let ok = |t: &str| parse_duration(t).unwrap_or_else(|e| panic!("{t}: {e}"));
    assert_eq!(ok("250us"), Duration::from_micros(250));
    assert_eq!(ok("250µs"), Duration::from_micros(250));
    assert_eq!(ok("5ms"), Duration::from_millis(5));
    assert_eq!(ok("1.5s"), Duration::from_millis(1500));
    assert_eq!(ok("0.1s"), Duration::from_millis(100));
    assert_eq!(ok("1.000s"), Duration::from_secs(1));
    assert_eq!(ok("2m"), Duration::from_secs(120));
    assert_eq!(ok("1.5h"), Duration::from_secs(5400));
    assert_eq!(ok("0s"), Duration::ZERO);
    for bad in [
        "", "3", "1.", ".5s", "1.5.5s", "1 s", "-1s", "1sec", "0.5us", "1e3s",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
    }
    let huge = format!("{}s", "9".repeat(30));
    assert!(parse_duration(&huge).unwrap_err().contains("too large"));
    // A sleep of a fraction prints in whole units and parses back to itself.
    let s = Scenario::parse("client sleep 1.5s").unwrap();
    assert_eq!(s.to_string(), "client sleep 1500ms\n");
    assert_eq!(Scenario::parse(&s.to_string()).unwrap(), s);
}

#[test]
fn a_huge_bad_token_gives_a_short_error() {
    for token in ["7".repeat(1_000_000), "\0".repeat(100_000)] {
        for text in [
            format!("client write {token}"),
            format!("{token} write 1"),
            format!("client write 1 => {token}"),
            format!("client write 1 => ok({token})"),
            format!("client sleep {token}"),
        ] {
            let e = error_of(&text);
            let head: String = e.message.chars().take(200).collect();
            assert!(e.message.len() < 300, "{} bytes: {head}", e.message.len());
            assert!(e.message.contains("bytes)"), "{e}");
        }
    }
}

#[test]
fn bad_outcomes_are_errors() {
    let e = error_of("client write 1 => EPIPES");
    assert!(e.message.contains("unknown errno name"), "{e}");
    assert_eq!(e.column, 19);
    assert!(
        error_of("client write 1 => ok(0)")
            .message
            .contains("at least 1")
    );
    assert!(
        error_of("client write 1 =>")
            .message
            .contains("expected an outcome")
    );
    assert!(
        error_of("client write 1 => ok(1) ok")
            .message
            .contains("end of the step")
    );
    assert!(error_of("client write 1 ok(1)").message.contains("`=>`"));
    assert!(
        error_of("client close => ok(3)")
            .message
            .contains("can never end")
    );
    assert!(
        error_of("client write 2 => eof")
            .message
            .contains("can never end")
    );
    assert!(
        error_of("client write 2 => ok(3)")
            .message
            .contains("can never end")
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let e = error_of("client sleep 1µs; bob close");
    assert_eq!((e.line, e.column), (1, 19));
}

#[test]
fn too_many_steps_is_an_error() {
    let text = "client read 1\n".repeat(MAX_STEPS + 1);
    let e = error_of(&text);
    assert_eq!(e.line, MAX_STEPS + 1);
    assert!(e.message.contains("more than"), "{e}");
}
