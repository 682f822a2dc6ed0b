//! `cargo fuzz run oracle`: the model alone. The bytes decode to a scenario
//! (`Arbitrary::arbitrary_take_rest`); its prediction must keep every invariant of
//! `rstlab::oracle::invariants`, twice the same, and the scenario must print and parse back.
//! The check is `rstlab::fuzz::check_oracle`, which `cargo test` also runs on the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = rstlab::fuzz::check_oracle(data) {
        panic!("{finding}");
    }
});
