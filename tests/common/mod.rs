//! What several test files share: whether the emulated link can run here.

use rstlab::link::{Link, LinkError};

/// Whether the tests that need the emulated link can run: they need CAP_NET_ADMIN. Without it
/// they skip with one line, except under `CI=true`, where a missing link is a failure.
pub fn link_available() -> bool {
    match Link::check_available() {
        Ok(()) => true,
        Err(e @ LinkError::NotPermitted(_)) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: {e}");
            false
        }
        Err(e) => panic!("the emulated link cannot be set up: {e}"),
    }
}
