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
