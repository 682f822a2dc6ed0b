//! The fuzz targets' committed inputs, replayed under plain `cargo test` (stable, no libFuzzer):
//! each target's seed corpus (`fuzz/corpus/<target>/seed-*`) and every input that ever crashed
//! it (`fuzz/regressions/<target>/*`), through the same check functions the fuzz targets call
//! ([`rstlab::fuzz`]).
//!
//! Files that libFuzzer adds to `fuzz/corpus/` while it runs are not committed and not replayed
//! here (they can be thousands); replay them with `cargo fuzz run <target> -- -runs=0`.

use std::path::{Path, PathBuf};

use rstlab::fuzz::{self, Harness, Target};
use rstlab::run::Backend;

/// The committed inputs of `target`: seeds, then regressions, sorted by name.
fn inputs(target: Target) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut found = Vec::new();
    for (folder, seeds_only) in [("corpus", true), ("regressions", false)] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(folder).join(target.name())) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
                !name.starts_with('.') && (!seeds_only || name.starts_with("seed-"))
            })
            .collect();
        files.sort();
        found.extend(files);
    }
    found
}

/// Checks every committed input of `target`; fails listing each input that fails, with its
/// finding.
fn replay(target: Target) {
    let inputs = inputs(target);
    assert!(
        inputs.len() >= 3,
        "fuzz/corpus/{target}/ should hold committed seeds, found {inputs:?}"
    );
    let mut harness = Harness::new(Backend::Std);
    let failures: Vec<String> = inputs
        .iter()
        .filter_map(|path| {
            let data = std::fs::read(path).expect("reading a fuzz input");
            let finding = harness.check(target, &data).err()?;
            Some(format!(
                "{}: {finding}\n(replay: rstlab decode {0})",
                path.display()
            ))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} inputs of {target} fail:\n\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_oracle_corpus_and_regressions_keep_the_models_invariants() {
    replay(Target::Oracle);
}

#[test]
fn the_oracle_vs_kernel_corpus_and_regressions_agree_on_real_sockets() {
    replay(Target::OracleVsKernel);
}

#[test]
fn the_scenario_text_corpus_and_regressions_parse_and_print_back() {
    replay(Target::ScenarioText);
}

#[test]
fn every_scenario_input_decodes_to_a_non_empty_scenario() {
    for target in [Target::Oracle, Target::OracleVsKernel] {
        for path in inputs(target) {
            let data = std::fs::read(&path).unwrap();
            let scenario = fuzz::decode(target, &data).unwrap();
            assert!(!scenario.steps().is_empty(), "{}", path.display());
            assert_eq!(Target::of_path(&path), Some(target));
        }
    }
}

#[test]
fn every_input_folder_is_named_after_a_target() {
    // A folder with another name would be silently skipped by the replay above.
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for folder in ["corpus", "regressions"] {
        for entry in std::fs::read_dir(fuzz.join(folder)).expect("fuzz/ folders") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let name = path.file_name().unwrap().to_string_lossy();
                assert!(
                    name.parse::<Target>().is_ok(),
                    "{}: not a fuzz target's folder (`cargo fuzz list`)",
                    path.display()
                );
            }
        }
    }
}

/// What each committed scenario input decodes to. The decoder picks an op as one byte modulo the
/// sum of the ops table's weights; when ops are added, the weights must keep every committed
/// input decoding to the scenario it was made for (see `OpKind::Poll` in `rstlab::scenario`).
const DECODED: &[(&str, &str)] = &[
    (
        "corpus/oracle_vs_kernel/seed-abort",
        "server write 3; server abort; client read 2; client read 2; client read 2; client write 1; client write 1",
    ),
    (
        "corpus/oracle_vs_kernel/seed-article",
        "client write 1; server read 1; server close; client write 1; client write 1",
    ),
    (
        "corpus/oracle_vs_kernel/seed-both-fins",
        "client shutdown write; server close; client read 1; client write 1; client shutdown write; client close",
    ),
    (
        "corpus/oracle_vs_kernel/seed-half-close",
        "client shutdown write; server read 1; server write 4; server write 300; client read 8; client close; server write 1; server write 1",
    ),
    (
        "corpus/oracle_vs_kernel/seed-rst-after-fin",
        "server close; client write 1; client write 1; client write 1",
    ),
    (
        "corpus/oracle_vs_kernel/seed-shutdown-both",
        "server shutdown both; client read 1; client write 1; server read 1; client write 1",
    ),
    (
        "corpus/oracle_vs_kernel/seed-shutdown-read",
        "server shutdown read; client write 5; server read 16; server read 16; server sleep 100us; client abort; server shutdown write",
    ),
    (
        "corpus/oracle_vs_kernel/seed-unread-data-close",
        "client write 2; server close; client read 1; client read 1; client write 1",
    ),
    (
        "corpus/oracle_vs_kernel/seed-poll-after-fin",
        "server close; client poll; client read 1; client write 1; client poll; client error; client poll; client write 1",
    ),
    (
        "corpus/oracle_vs_kernel/seed-poll-readiness-cache",
        "client write 3; server poll; server read 3; server poll; server read 1; server poll",
    ),
    (
        "corpus/oracle_vs_kernel/seed-so-error",
        "server abort; client poll; client error; client poll; client read 1; client write 1; client error",
    ),
    // Made by libFuzzer, not by `encode`: its last op is the byte 59.
    (
        "regressions/oracle_vs_kernel/queued-data-survives-rst-4949875b",
        "client write 11; client abort; server read 1",
    ),
];

#[test]
fn committed_inputs_decode_to_the_scenarios_they_were_made_for() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (path, expected) in DECODED {
        let data = std::fs::read(fuzz.join(path)).expect("a committed input");
        let scenario = fuzz::decode(Target::OracleVsKernel, &data).unwrap();
        assert_eq!(scenario.to_inline(), *expected, "fuzz/{path}");
        // The same bytes sit in the oracle target's corpus.
        if let Some(name) = path.strip_prefix("corpus/oracle_vs_kernel/") {
            let twin = std::fs::read(fuzz.join("corpus/oracle").join(name)).unwrap();
            assert_eq!(twin, data, "fuzz/corpus/oracle/{name}");
        }
    }
    let seeds = inputs(Target::OracleVsKernel).len();
    assert_eq!(seeds, DECODED.len(), "every committed input is listed here");
}
