//! How a test that needs the emulated link skips (`tests/common`): where the link is not
//! permitted, a plain `cargo test` run (output captured) still shows a `SKIPPED <test>: <why>`
//! line, and with `RSTLAB_REQUIRE_LINK=1` the test fails instead. Checked by running this file's
//! `needs_the_link` again as user nobody, who may not create a network namespace.

mod common;

/// A test that needs the link, as every such test starts: the test below runs it without the
/// link and looks at how it skips.
#[test]
fn needs_the_link() {
    if !common::link_available() {
        return;
    }
    rstlab::net::link::Link::check_available().expect("a link, where one was found possible");
}

#[test]
fn without_the_link_a_test_names_its_skip_and_fails_where_the_link_is_required() {
    let Some((passed, text)) = common::rerun_as_nobody("needs_the_link", false) else {
        return;
    };
    assert!(passed, "{text}");
    assert!(text.contains("1 passed"), "{text}");
    let skips: Vec<&str> = text.lines().filter(|l| l.contains("SKIPPED")).collect();
    assert_eq!(skips.len(), 1, "{text}");
    assert!(
        skips[0].starts_with("SKIPPED needs_the_link: the emulated link needs CAP_NET_ADMIN"),
        "{text}"
    );

    let (passed, text) = common::rerun_as_nobody("needs_the_link", true).expect("as above");
    assert!(!passed, "{text}");
    assert!(text.contains("1 failed"), "{text}");
    assert!(
        text.contains("RSTLAB_REQUIRE_LINK=1 and the link cannot be set up"),
        "{text}"
    );
    assert!(!text.contains("SKIPPED"), "{text}");
}

#[test]
fn the_skip_line_names_the_test_and_the_part_skipped() {
    assert_eq!(
        common::skip_line("leaks", Some("the runs on the link"), "why"),
        "SKIPPED leaks, the runs on the link: why"
    );
    assert_eq!(common::skip_line("t", None, "why"), "SKIPPED t: why");
}
