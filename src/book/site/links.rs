//! The site's links: each Markdown link of a page, written for where its text comes from in
//! the repository (`RULES.md`, `docs/guide/link.md`), is rewritten for where the page stands in
//! the site. A link to a heading of `RULES.md` goes to the page that now holds the heading; a
//! link to a document the site shows goes to its page; a diagram to its copy; a link to any
//! other file of the repository (a source file, a scenario) is left as plain text, since the
//! site, read offline, does not hold it.

use std::collections::BTreeMap;

use super::Doc;

/// Rewrites links, knowing every page of the site and the headings of the book's pages.
pub(super) struct Linker {
    /// Repository path → site path, for whole files (documents, diagrams).
    files: BTreeMap<String, String>,
    /// `(repository path, anchor)` → (site path, whether the anchor is the page's title).
    anchors: BTreeMap<(String, String), (String, bool)>,
}

impl Linker {
    /// A linker that knows `docs` (and the book's own opening, `RULES.md` itself).
    pub(super) fn new(docs: &[Doc]) -> Linker {
        let mut files: BTreeMap<String, String> = docs
            .iter()
            .map(|d| (d.repo_path.clone(), d.site_path.clone()))
            .collect();
        files.insert("RULES.md".to_string(), "book.md".to_string());
        Linker {
            files,
            anchors: BTreeMap::new(),
        }
    }

    /// Records that `site_path`, cut from the repository's `repo_path`, holds the headings of
    /// `text` (its first is its title).
    pub(super) fn add_anchors(&mut self, repo_path: &str, site_path: &str, text: &str) {
        let mut fenced = false;
        let mut first = true;
        for line in text.lines() {
            if line.starts_with("```") {
                fenced = !fenced;
            }
            if fenced || !line.starts_with('#') {
                continue;
            }
            let id = heading_id(line);
            self.anchors
                .entry((repo_path.to_string(), id))
                .or_insert_with(|| (site_path.to_string(), first));
            first = false;
        }
    }

    /// Records that the repository's file `repo_path` is at `site_path` in the site.
    pub(super) fn add_file(&mut self, repo_path: &str, site_path: &str) {
        self.files
            .insert(repo_path.to_string(), site_path.to_string());
    }

    /// `text`, from the repository's `repo_path`, with every link rewritten for the site's
    /// page `site_path`.
    pub(super) fn rewrite(&self, repo_path: &str, site_path: &str, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        // The text between fences, whole: a link's label may run over a line break.
        let mut prose = String::new();
        let mut fenced = false;
        for line in text.split_inclusive('\n') {
            let fence = line.starts_with("```");
            if fence && !fenced {
                out.push_str(&self.rewrite_prose(repo_path, site_path, &prose));
                prose.clear();
            }
            if fence {
                fenced = !fenced;
            }
            if fenced || fence {
                out.push_str(line);
            } else {
                prose.push_str(line);
            }
        }
        out.push_str(&self.rewrite_prose(repo_path, site_path, &prose));
        out
    }

    fn rewrite_prose(&self, repo_path: &str, site_path: &str, line: &str) -> String {
        let mut out = String::new();
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let Some(close) = rest[at + 2..].find(')') else {
                break;
            };
            if rest[at + 2..at + 2 + close].contains(char::is_whitespace) {
                out.push_str(&rest[..at + 2]);
                rest = &rest[at + 2..];
                continue;
            }
            let Some(open) = opening_bracket(&rest[..at]) else {
                out.push_str(&rest[..at + 2]);
                rest = &rest[at + 2..];
                continue;
            };
            let image = open > 0 && rest[..open].ends_with('!');
            let label = &rest[open + 1..at];
            let target = &rest[at + 2..at + 2 + close];
            let start = if image { open - 1 } else { open };
            out.push_str(&rest[..start]);
            match self.resolve(repo_path, target) {
                Some(to) => {
                    let to = if is_external(&to) {
                        to
                    } else {
                        relative(site_path, &to)
                    };
                    out.push_str(&format!("{}[{label}]({to})", if image { "!" } else { "" }));
                }
                // Kept as text: the label, as code when it names the path.
                None if label == target => out.push_str(&format!("`{label}`")),
                None => out.push_str(label),
            }
            rest = &rest[at + 2 + close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Where `target`, a link in the repository's `repo_path`, goes in the site (a path from
    /// the site's `src/`, with its fragment), or `None` when the site does not hold it.
    fn resolve(&self, repo_path: &str, target: &str) -> Option<String> {
        if is_external(target) {
            return Some(target.to_string());
        }
        let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
        let path = if path.is_empty() {
            repo_path.to_string()
        } else {
            join(repo_path, path)
        };
        if !fragment.is_empty() {
            if let Some((page, title)) = self.anchors.get(&(path.clone(), fragment.to_string())) {
                return Some(if *title {
                    page.clone()
                } else {
                    format!("{page}#{fragment}")
                });
            }
        }
        let page = self.files.get(&path)?;
        Some(if fragment.is_empty() {
            page.clone()
        } else {
            format!("{page}#{fragment}")
        })
    }
}

fn is_external(target: &str) -> bool {
    target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:")
}

/// The `[` that opens the link text ending at the end of `before`, brackets nested.
fn opening_bracket(before: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in before.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' if depth == 0 => return Some(i),
            '[' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `target` relative to the directory of `from`, normalised (`.` and `..` resolved).
fn join(from: &str, target: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for piece in target.split('/') {
        match piece {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The link from the page `from` to `to` (both paths from the site's `src/`).
fn relative(from: &str, to: &str) -> String {
    let from_dirs: Vec<&str> = from.split('/').collect();
    let from_dirs = &from_dirs[..from_dirs.len() - 1];
    let to_parts: Vec<&str> = to.split('/').collect();
    let common = from_dirs
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count()
        .min(to_parts.len() - 1);
    let mut out: Vec<&str> = vec![".."; from_dirs.len() - common];
    out.extend(&to_parts[common..]);
    out.join("/")
}

/// The id mdBook gives a heading line: its text without markup, lower case, spaces as
/// hyphens, only letters, digits, `-` and `_` kept (as [`crate::text::anchor`], and GitHub).
pub(super) fn heading_id(line: &str) -> String {
    crate::text::anchor(line.trim_start_matches('#').trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_and_relate() {
        assert_eq!(join("docs/guide/link.md", "../json.md"), "docs/json.md");
        assert_eq!(join("docs/guide/a.md", "../../RULES.md"), "RULES.md");
        assert_eq!(join("README.md", "docs/guide/a.md"), "docs/guide/a.md");
        assert_eq!(relative("rules/a.md", "rules/b.md"), "b.md");
        assert_eq!(
            relative("rules/a.md", "questions/q.md#x"),
            "../questions/q.md#x"
        );
        assert_eq!(relative("book.md", "rules/b.md"), "rules/b.md");
        assert_eq!(
            relative("guide/x.md", "diagrams/c.svg"),
            "../diagrams/c.svg"
        );
    }

    #[test]
    fn links_go_to_the_page_that_holds_their_target() {
        let docs = [Doc {
            repo_path: "docs/guide/link.md".to_string(),
            site_path: "guide/link.md".to_string(),
            title: "The link".to_string(),
            text: String::new(),
        }];
        let mut linker = Linker::new(&docs);
        linker.add_anchors(
            "RULES.md",
            "rules/close-sends-fin.md",
            "# close-sends-fin\n\n## More\n",
        );
        linker.add_file(
            "docs/rules/close-sends-fin.svg",
            "diagrams/close-sends-fin.svg",
        );
        let md = "See [`close-sends-fin`](#close-sends-fin) and [more](#more), \
                  ![Diagram](docs/rules/close-sends-fin.svg), [the link](docs/guide/link.md#x), \
                  [`src/net/link.rs`](src/net/link.rs), [a page](https://example.org/a).\n\
                  ```text\n[not](#a link)\n```\n";
        assert_eq!(
            linker.rewrite("RULES.md", "rules/abort-sends-rst.md", md),
            "See [`close-sends-fin`](close-sends-fin.md) and [more](close-sends-fin.md#more), \
             ![Diagram](../diagrams/close-sends-fin.svg), [the link](../guide/link.md#x), \
             `src/net/link.rs`, [a page](https://example.org/a).\n\
             ```text\n[not](#a link)\n```\n"
        );
    }
}
