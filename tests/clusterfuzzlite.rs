//! ClusterFuzzLite's files say what they build, and stay in step with the fuzz targets.
//! (`.ci/run` runs `.clusterfuzzlite/build.sh` itself, after the fuzz smoke test.)

use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The fuzz targets, as `cargo fuzz list` gives them: the `[[bin]]` names of fuzz/Cargo.toml.
fn targets() -> Vec<String> {
    read("fuzz/Cargo.toml")
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|name| *name != "rstlab-fuzz")
        .map(String::from)
        .collect()
}

#[test]
fn the_project_is_rust_built_in_clusterfuzzlites_rust_image() {
    assert!(read(".clusterfuzzlite/project.yaml").contains("language: rust"));
    let docker = read(".clusterfuzzlite/Dockerfile");
    assert!(
        docker.contains("FROM gcr.io/oss-fuzz-base/base-builder-rust"),
        "{docker}"
    );
    assert!(
        docker.contains("COPY .clusterfuzzlite/build.sh $SRC/"),
        "{docker}"
    );
}

#[test]
fn build_sh_says_for_every_target_why_it_runs_unprivileged() {
    let build = read(".clusterfuzzlite/build.sh");
    let targets = targets();
    assert_eq!(targets.len(), 3, "{targets:?}");
    for target in &targets {
        assert!(
            build.contains(&format!("`{target}`")),
            "build.sh's header does not say whether {target} runs in an unprivileged container"
        );
    }
    assert!(build.contains("$OUT/<target>_seed_corpus.zip"));
    let mode =
        std::fs::metadata(Path::new(env!("CARGO_MANIFEST_DIR")).join(".clusterfuzzlite/build.sh"))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .unwrap();
    assert_ne!(mode & 0o111, 0, "build.sh is executable");
}
