//! `cargo fuzz run oracle_vs_kernel`: the bytes decode to a scenario
//! (`Arbitrary::arbitrary_take_rest`), which runs on real loopback sockets; a disagreement with
//! the oracle panics with the scenario in the language (`rstlab decode <artifact>` prints it
//! again from the saved input). The check is `rstlab::fuzz::check_oracle_vs_kernel`, which
//! `cargo test` also runs on the corpus.
//!
//! The backend is std unless `RSTLAB_FUZZ_BACKEND=tokio`.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use rstlab::fuzz::{Harness, Target};
use rstlab::run::Backend;

thread_local! {
    /// One runner per process, made on first use and kept: libFuzzer calls the target from
    /// one thread.
    static HARNESS: RefCell<Harness> = RefCell::new(Harness::new(
        match std::env::var("RSTLAB_FUZZ_BACKEND").as_deref() {
            Ok("tokio") => Backend::Tokio,
            _ => Backend::Std,
        },
    ));
}

fuzz_target!(
    init: {
        // libFuzzer's main is not Rust's, so SIGPIPE keeps its default action (kill the
        // process). The runner's writes use MSG_NOSIGNAL, but a write after an RST must never
        // be able to end the fuzzer: ignore the signal, as a Rust main does.
        rstlab::sys::ignore_sigpipe().expect("SIGPIPE can be ignored");
    },
    |data: &[u8]| {
        HARNESS.with_borrow_mut(|harness| {
            if let Err(finding) = harness.check(Target::OracleVsKernel, data) {
                panic!("{finding}");
            }
        });
    }
);
