//! "sys holds the only unsafe code" is a lint, not a promise: `lib.rs` denies `unsafe_code` and
//! allows it on `sys` alone, and `sys`'s module documentation names every wrapper it holds.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_library_denies_unsafe_code_and_allows_it_on_sys_only() {
    let lib = read(&src().join("lib.rs"));
    assert!(
        lib.lines().any(|l| l.trim() == "#![deny(unsafe_code)]"),
        "lib.rs must deny unsafe_code"
    );
    let lines: Vec<&str> = lib.lines().map(str::trim).collect();
    let allows: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("allow(unsafe_code)"))
        .collect();
    assert_eq!(allows.len(), 1, "one `allow(unsafe_code)` in lib.rs");
    assert_eq!(
        lines.get(allows[0] + 1).copied(),
        Some("pub mod sys;"),
        "the allow must be on `pub mod sys`"
    );
    let main = read(&src().join("main.rs"));
    assert!(main.contains("#![deny(unsafe_code)]"), "main.rs too");
}

/// The `pub fn`, `pub struct`, `pub enum` and `pub trait` names declared at the top level of a
/// source file (indented items, such as methods, are left out).
fn public_items(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        for prefix in [
            "pub fn ",
            "pub struct ",
            "pub enum ",
            "pub unsafe trait ",
            "pub trait ",
        ] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn the_sys_module_documentation_names_every_wrapper() {
    let file = src().join("sys/mod.rs");
    let text = read(&file);
    let doc: String = text
        .lines()
        .take_while(|l| l.starts_with("//!") || l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let items = public_items(&text);
    assert!(items.len() >= 15, "{items:?}");
    let missing: Vec<&String> = items
        .iter()
        .filter(|name| !doc.contains(&format!("[`{name}`]")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} does not name these in its module documentation: {missing:?}",
        file.display()
    );
}

/// The unsafe blocks of `src/sys/*.rs`, outside comments, and for each the
/// lines before it (up to the previous block's end or six lines): every one must say why it is
/// sound in a `SAFETY:` comment.
fn unsafe_blocks() -> Vec<(String, usize, bool)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(src().join("sys"))
        .expect("src/sys")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    let mut blocks = Vec::new();
    for file in files {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for _ in code.matches("unsafe {") {
                let explained = lines[i.saturating_sub(6)..=i]
                    .iter()
                    .any(|l| l.contains("SAFETY:"));
                blocks.push((file.display().to_string(), i + 1, explained));
            }
        }
    }
    blocks
}

/// A tripwire: the unsafe blocks left in `sys` after moving every call that rustix offers to it,
/// and sock_diag to netlink-packet-sock-diag (51 before; the module documentation says what
/// stays by hand and why), and the four of the perf ring that records the kernel's RSTs (open,
/// map, read, unmap). A new block must change this number on purpose, with its reason in
/// `sys`'s documentation.
#[test]
fn sys_keeps_its_unsafe_blocks_counted_and_each_explained() {
    let blocks = unsafe_blocks();
    let unexplained: Vec<_> = blocks.iter().filter(|b| !b.2).collect();
    assert!(
        unexplained.is_empty(),
        "unsafe blocks without a SAFETY comment: {unexplained:?}"
    );
    assert_eq!(blocks.len(), 17, "{blocks:#?}");
}
