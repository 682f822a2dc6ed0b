//! The one rule for a test that needs the emulated link, for the library's unit tests and the
//! integration tests (`tests/common`) alike.
//!
//! Stable Rust's test harness has no "skipped" result: a test that returns early counts as
//! passed. So a skip is named on its own line,
//! `SKIPPED <test>: the emulated link needs CAP_NET_ADMIN and /dev/net/tun: … (<the error>)`,
//! written straight to the process's standard error. The harness captures only what the
//! `print!` and `eprint!` macros write (and shows it for failed tests alone), so a line written
//! with `io::stderr()` appears in a plain `cargo test` run, between the `test … ok` lines, as in a
//! CI log; `eprintln!` would show it only with `--nocapture`.
//!
//! With `RSTLAB_REQUIRE_LINK=1` (as `.ci/run` sets it: CI runs as root, where the link must work)
//! a missing link fails the test instead.

use std::io::Write;

use super::link::LinkError;

/// The environment variable that makes a missing link a failure rather than a skip, when set to
/// `1`.
pub const REQUIRE_LINK: &str = "RSTLAB_REQUIRE_LINK";

/// What a test does with the link (or relay) it tried to make: `Some` when it was made; `None`
/// after writing the skip line (see the module documentation) when it was not permitted, and
/// the caller returns at once; `part` names the part of the test that needed it
/// (`SKIPPED <test>, <part>: <why>`).
///
/// Panics, failing the test, when the link cannot be set up for another reason than a missing
/// permission (that is a bug, not a machine without CAP_NET_ADMIN), or with
/// `RSTLAB_REQUIRE_LINK=1`.
pub fn or_skip<T>(made: Result<T, LinkError>, part: Option<&str>) -> Option<T> {
    let error = match made {
        Ok(made) => return Some(made),
        Err(e) => e,
    };
    let required = std::env::var(REQUIRE_LINK).is_ok_and(|v| v == "1");
    match error {
        LinkError::NotPermitted(_) if !required => {
            skip(part, &error.to_string());
            None
        }
        LinkError::NotPermitted(_) => {
            panic!("{REQUIRE_LINK}=1 and the link cannot be set up: {error}")
        }
        _ => panic!("the emulated link cannot be set up: {error}"),
    }
}

/// Writes the skip line for the running test, past the harness's capture.
pub fn skip(part: Option<&str>, why: &str) {
    let line = skip_line(&test_name(), part, why);
    // Ignored on failure: a test must not fail because its stderr is closed.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The skip line itself (kept apart so that a test can check its wording).
pub fn skip_line(test: &str, part: Option<&str>, why: &str) -> String {
    match part {
        None => format!("SKIPPED {test}: {why}"),
        Some(part) => format!("SKIPPED {test}, {part}: {why}"),
    }
}

/// The running test's name: the harness runs each test on a thread named after it.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "a test".to_owned(),
    }
}
