//! What several test files share: whether the emulated link can run here, and the one way a test
//! that needs it says it skipped: the library's rule ([`rstlab::net::skip`], which the unit
//! tests use too), re-exported here.

// Each test binary that includes this module uses some of its items, not all.
#![allow(dead_code, unused_imports)]

use rstlab::net::link::Link;
pub use rstlab::net::skip::{REQUIRE_LINK, skip, skip_line};

/// Whether a test that needs the emulated link as a whole can run. `false` after writing
/// `SKIPPED <test>: <why>` ([`rstlab::net::skip::or_skip`]); the caller returns at once.
pub fn link_available() -> bool {
    rstlab::net::skip::or_skip(Link::check_available(), None).is_some()
}

/// As [`link_available`], for a test that runs `part` on the link and the rest elsewhere: the
/// line says `SKIPPED <test>, <part>: <why>`.
pub fn link_available_for(part: &str) -> bool {
    rstlab::net::skip::or_skip(Link::check_available(), Some(part)).is_some()
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

/// Sends `signal` to `child` and waits for it to end, 60 s at most (then kills it and panics,
/// naming `what`): the status it ended with.
pub fn signal_and_wait(
    child: &mut std::process::Child,
    signal: rustix::process::Signal,
    what: &str,
) -> std::process::ExitStatus {
    use std::time::{Duration, Instant};
    rustix::process::kill_process(rustix::process::Pid::from_child(child), signal)
        .expect("the signal is sent");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running 60 s after {signal:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How many perf events process `pid` holds open (`anon_inode:[perf_event]` in /proc/PID/fd):
/// the rings that record the kernel's RSTs ([`rstlab::reasons::ResetLog`]).
pub fn perf_events_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|l| l.to_string_lossy() == "anon_inode:[perf_event]")
                })
                .count()
        })
        .unwrap_or(0)
}

/// A log of the kernel's RSTs ([`rstlab::reasons::ResetLog`]), or `None` after saying why it
/// cannot be had here (a visible skip; a failure under `RSTLAB_REQUIRE_LINK=1`, as in CI).
pub fn reset_log() -> Option<rstlab::reasons::ResetLog> {
    match rstlab::reasons::ResetLog::open() {
        Ok(log) => Some(log),
        Err(why) => {
            assert!(
                std::env::var(REQUIRE_LINK).ok().as_deref() != Some("1"),
                "the kernel's RST reasons are required here ({REQUIRE_LINK}=1) but: {why}"
            );
            skip(None, &format!("the kernel's RST reasons: {why}"));
            None
        }
    }
}

/// Whether `scenario` needs the kernel's own timers: it runs in the lane only
/// (`rstlab::check::verify::needs_kernel_time`).
#[allow(dead_code)]
pub fn in_kernel_time(scenario: &rstlab::Scenario) -> bool {
    use rstlab::run::{Backend, Net};
    rstlab::check::verify::needs_kernel_time(Backend::Std, Net::for_scenario(scenario), scenario)
        .is_some()
}
