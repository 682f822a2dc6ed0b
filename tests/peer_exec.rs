//! `rstlab::peer::exec::run`, what `rstlab exec` does, called as a library: a real program
//! across the emulated link against the peer.

mod common;

use std::process::Command;
use std::time::Duration;

use rstlab::Outcome;
use rstlab::peer::PeerSaw;
use rstlab::peer::exec::{self, ExecError, ExecOptions};
use rstlab::scenario::{End, Script};

const RESPONSE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/serve/response.http");

fn curl() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn curls_request_is_counted_as_it_arrives_on_a_delayed_link() {
    // The link first: with RSTLAB_REQUIRE_LINK=1 a missing link fails, whatever else is missing.
    if !common::link_available() {
        return;
    }
    if !curl() {
        common::skip(None, "needs curl");
        return;
    }
    let script =
        Script::parse("client write request; server read 65536; server write 44; server close")
            .unwrap();
    let mut options = ExecOptions::new(
        script,
        ["curl", "-sS", "-o", "/dev/null", "http://192.0.2.2:8080/"]
            .map(String::from)
            .to_vec(),
    );
    options.delay = Duration::from_millis(5);
    options.respond = std::fs::read(RESPONSE).unwrap();
    let report = exec::run(options).unwrap();
    assert!(report.as_scripted(), "{report}");
    assert_eq!(report.exit.code, Some(0), "{report}");
    // The request's length is what crossed the wire from curl, whatever curl's version sends.
    let sent: usize = report
        .wire
        .segments
        .iter()
        .filter(|t| t.segment.from == End::Client)
        .map(|t| t.segment.len)
        .sum();
    let conn = &report.peer.connections[0];
    assert_eq!(conn.steps[0].predicted, Outcome::Bytes(sent), "{report}");
    assert!(
        matches!(&conn.steps[0].peer, PeerSaw::Seen { what, .. } if what.contains("an HTTP request of")),
        "{report}"
    );
    assert_eq!(conn.steps[1].predicted, Outcome::Bytes(sent), "{report}");
    // The report prints and serializes.
    assert!(
        report
            .to_string()
            .contains("command curl: exited with status 0")
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["as_scripted"], true);
}

#[test]
fn a_scenario_it_cannot_play_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("touched");
    let script = Script::parse("server write 1\nlink hold\n  client write 1").unwrap();
    let options = ExecOptions::new(
        script,
        vec!["touch".to_string(), marker.display().to_string()],
    );
    let e = exec::run(options).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("line 3, column 3: `client write 1` cannot be played"),
        "{e}"
    );
    assert!(!marker.exists(), "the command ran");
    let e = exec::run(ExecOptions::new(
        Script::parse("server close").unwrap(),
        Vec::new(),
    ))
    .unwrap_err();
    assert!(matches!(e, ExecError::NoCommand), "{e}");
}

/// The test above on a machine without the link (run again as user nobody, who may not create a
/// network namespace): a visible `SKIPPED` line in a plain run, a failure with
/// `RSTLAB_REQUIRE_LINK=1`; never a silent pass.
#[test]
fn without_the_link_the_curl_test_skips_visibly_or_fails_where_the_link_is_required() {
    const CURL_TEST: &str = "curls_request_is_counted_as_it_arrives_on_a_delayed_link";
    let Some((passed, text)) = common::rerun_as_nobody(CURL_TEST, false) else {
        return;
    };
    assert!(passed, "{text}");
    assert!(
        text.contains(
            "SKIPPED curls_request_is_counted_as_it_arrives_on_a_delayed_link: the emulated link needs CAP_NET_ADMIN"
        ),
        "{text}"
    );
    let (passed, text) = common::rerun_as_nobody(CURL_TEST, true).expect("as above");
    assert!(!passed, "{text}");
    assert!(text.contains("1 failed"), "{text}");
    assert!(
        text.contains("RSTLAB_REQUIRE_LINK=1 and the link cannot be set up"),
        "{text}"
    );
}
