//! A test run leaves nothing behind: tests, benches and unit tests make their scratch files and folders
//! with the `tempfile` crate, which removes them when dropped (a failing test's too), never at
//! a fixed place of their own under the temporary directory, which a test removes only when it
//! gets to its last line (and some never did: `rstlab-cli-closed-stdout-<pid>/`, a
//! `docs/rules` folder).

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn tests_make_scratch_files_with_tempfile_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    // `src` for its unit tests; the program itself has no business there either.
    for dir in ["tests", "benches", "src"] {
        sources(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "{files:?}");
    // Built so that this file does not name what it looks for.
    let forbidden = [["temp", "_dir()"].concat(), ["\"/", "tmp/"].concat()];
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if forbidden.iter().any(|f| line.contains(f.as_str())) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "scratch files at fixed places (use tempfile::tempdir()):\n{}",
        found.join("\n")
    );
}

/// One concept per module: a source file that outgrows 900 lines holds more than one, and is
/// split where its concepts part (issue 23).
const MAX_LINES: usize = 900;

#[test]
fn no_source_file_is_over_900_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, std::fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}
