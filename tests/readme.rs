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

/// The quick start's commands, as a reader would paste them: each runs on real loopback
/// sockets, the kernel agrees with the oracle, and it shows the error the section names.
#[test]
fn the_broken_pipe_quick_start_commands_show_what_they_say() {
    let readme = read("README.md");
    let start = readme
        .find("## Got \"broken pipe\"")
        .expect("the quick start");
    let end = start + readme[start..].find("\n## ").expect("its end");
    let commands: Vec<&str> = readme[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rstlab run \""))
        .filter_map(|l| l.strip_suffix('"'))
        .collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    let shows = [["eof", "EPIPE"], ["ECONNRESET", "ok(30)"]];
    for (steps, shown) in commands.iter().zip(shows) {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
            .args(["run", steps])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{steps}:\n{out}");
        for word in shown {
            assert!(out.contains(word), "{steps} does not show {word}:\n{out}");
        }
    }
    for question in [
        "My write succeeded but the peer never got the data: how?",
        "Can I know the peer closed before I write?",
        "The server answered and closed without reading my whole request: why a reset?",
    ] {
        assert!(
            rstlab::questions::QUESTIONS
                .iter()
                .any(|q| q.question == question),
            "the quick start names a question the book does not ask: {question}"
        );
    }
}
