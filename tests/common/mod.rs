//! What several test files share: whether the emulated link can run here, and the one way a test
//! that needs it says it skipped.
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

// Each test binary that includes this module uses some of its items, not all.
#![allow(dead_code)]

use std::io::Write;

use rstlab::net::link::{Link, LinkError};

/// The environment variable that makes a missing link a failure rather than a skip, when set to
/// `1`.
pub const REQUIRE_LINK: &str = "RSTLAB_REQUIRE_LINK";

/// Whether a test that needs the emulated link as a whole can run. `false` after writing
/// `SKIPPED <test>: <why>` (see the module documentation); the caller returns at once.
///
/// Panics, failing the test, when the link cannot be set up for another reason than a missing
/// permission (that is a bug, not a machine without CAP_NET_ADMIN), or with
/// `RSTLAB_REQUIRE_LINK=1`.
pub fn link_available() -> bool {
    link_or_skip(None)
}

/// As [`link_available`], for a test that runs `part` on the link and the rest elsewhere: the
/// line says `SKIPPED <test>, <part>: <why>`.
pub fn link_available_for(part: &str) -> bool {
    link_or_skip(Some(part))
}

fn link_or_skip(part: Option<&str>) -> bool {
    let error = match Link::check_available() {
        Ok(()) => return true,
        Err(e) => e,
    };
    let required = std::env::var(REQUIRE_LINK).is_ok_and(|v| v == "1");
    match error {
        LinkError::NotPermitted(_) if !required => {
            skip(part, &error.to_string());
            false
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

/// Runs test `name` of this test binary again as user nobody (no CAP_NET_ADMIN), with
/// `RSTLAB_REQUIRE_LINK=1` when `require`, and no `--nocapture` (a skip's line must show in a
/// plain run): whether it passed, and all it printed. `None` after a visible skip when this
/// process cannot do that (it needs root and `setpriv`).
pub fn rerun_as_nobody(name: &str, require: bool) -> Option<(bool, String)> {
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !rstlab::sys::net::effective_root() || !setpriv.exists() {
        skip(None, "needs root and setpriv to run a test as another user");
        return None;
    }
    let mut command = std::process::Command::new(setpriv);
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(std::env::current_exe().expect("this test binary"))
        .args([name, "--exact", "--test-threads=1"])
        .env_remove(REQUIRE_LINK);
    if require {
        command.env(REQUIRE_LINK, "1");
    }
    let out = command.output().expect("the test binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}
