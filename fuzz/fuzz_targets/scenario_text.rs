//! `cargo fuzz run scenario_text -- -dict=fuzz/scenario_text.dict`: bytes into the parser.
//! Never a panic; whatever parses prints (one step per line, and inline) and parses back to the
//! same scenario. The check is `rstlab::fuzz::check_scenario_text`, which `cargo test` also runs
//! on the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = rstlab::fuzz::check_scenario_text(data) {
        panic!("{finding}");
    }
});
