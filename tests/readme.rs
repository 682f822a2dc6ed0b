//! The README shows what the crate does: its library example is the one `src/lib.rs` runs as a
//! doctest, and the documents it links to are in the repository.

use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The lines of the first ```` ```rust ```` block of the README.
fn readme_example(readme: &str) -> Vec<String> {
    let start = readme.find("```rust\n").expect("a rust block in README.md") + "```rust\n".len();
    let end = start + readme[start..].find("\n```").expect("the block's end");
    readme[start..end].lines().map(str::to_string).collect()
}

/// The lines of the first doctest of `src/lib.rs`, without its hidden (`# `) lines.
fn lib_example(lib: &str) -> Vec<String> {
    let doc: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let open = doc.iter().position(|l| *l == "```").expect("a doctest");
    let close = open
        + 1
        + doc[open + 1..]
            .iter()
            .position(|l| *l == "```")
            .expect("its end");
    doc[open + 1..close]
        .iter()
        .filter(|l| !l.starts_with("# "))
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn the_readme_library_example_is_the_one_lib_rs_runs() {
    let (readme, lib) = (read("README.md"), read("src/lib.rs"));
    let example = readme_example(&readme);
    assert!(example.len() > 10, "{example:?}");
    assert_eq!(example, lib_example(&lib));
}

#[test]
fn the_readme_links_to_documents_the_repository_has() {
    let readme = read("README.md");
    assert!(
        !readme.contains("../shared"),
        "a link outside the repository"
    );
    for doc in [
        "docs/SEED.md",
        "docs/json.md",
        "docs/schema/run.schema.json",
        "docs/schema/explore.schema.json",
    ] {
        read(doc);
    }
    assert!(readme.contains("[docs/SEED.md](docs/SEED.md)"));
    assert!(readme.contains("[docs/json.md](docs/json.md)"));
}
