//! The book as a site: an mdBook (`book.toml`, `src/SUMMARY.md`, a page per rule, per question
//! and per chapter, the diagrams, and the README and the guide beside them), searchable and
//! readable offline once `mdbook build` has run.
//!
//! The site is cut from the very text of `RULES.md` ([`Book::markdown`]) at the places its
//! renderer marked ([`Book::parts`]): nothing is written twice, so whatever a rule's section
//! gains shows on its page too. Each page's headings move up so that its own is the page's
//! title, and every link is rewritten for where the page now stands ([`links`]).

mod links;

use std::io;
use std::path::Path;

use crate::questions::QUESTIONS;
use crate::text::anchor;

use super::Book;
use super::page::Part;

use links::Linker;

/// A Markdown document of the repository that the site shows beside the book: the README (the
/// site's first page), the guide's pages, the seed story.
#[derive(Clone, Debug)]
pub struct Doc {
    /// Its path in the repository, with `/` separators (`docs/guide/language.md`).
    pub repo_path: String,
    /// Its path in the site's `src/`.
    pub site_path: String,
    /// Its title: its first heading.
    pub title: String,
    /// Its text.
    pub text: String,
}

/// The documents under `root` (the repository) that the site shows beside the book: the README,
/// the guide's pages in the order the README lists them (any it does not list after them, by
/// name), the seed story and the JSON formats.
pub fn docs_in(root: &Path) -> io::Result<Vec<Doc>> {
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path))
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
    };
    let readme = read("README.md")?;
    let mut guide: Vec<String> = std::fs::read_dir(root.join("docs/guide"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/guide/{n}"))
        .collect();
    // Where the README first links to each page; a page it does not link to goes last.
    guide.sort_by_key(|p| {
        (
            readme.find(&format!("]({p})")).unwrap_or(usize::MAX),
            p.clone(),
        )
    });
    let mut docs = vec![doc("README.md", "index.md", readme)];
    for path in guide {
        let site = path.trim_start_matches("docs/").to_string();
        let text = read(&path)?;
        docs.push(doc(&path, &site, text));
    }
    for (path, site) in [
        ("docs/SEED.md", "guide/seed.md"),
        ("docs/json.md", "guide/json.md"),
    ] {
        let text = read(path)?;
        docs.push(doc(path, site, text));
    }
    Ok(docs)
}

fn doc(repo_path: &str, site_path: &str, text: String) -> Doc {
    let title = text
        .lines()
        .find(|l| l.starts_with('#'))
        .map_or(repo_path, |l| l.trim_start_matches('#').trim())
        .to_string();
    Doc {
        repo_path: repo_path.to_string(),
        site_path: site_path.to_string(),
        title,
        text,
    }
}

/// One page of the book on the site.
struct Page {
    /// The part it shows.
    part: Part,
    /// Its path in `src/`.
    path: String,
    /// Its title, for the contents.
    title: String,
    /// Its text, as `RULES.md` has it.
    text: String,
}

/// The site's files, relative to its directory (`book.toml`, `src/SUMMARY.md`, `src/…`),
/// sorted by path: the book's pages cut from `book`, its diagrams, and `docs`.
pub fn render(book: &Book, docs: &[Doc]) -> Vec<(String, Vec<u8>)> {
    let pages = pages(book);
    let mut linker = Linker::new(docs);
    for page in &pages {
        linker.add_anchors("RULES.md", &page.path, &shifted(&page.text));
    }
    for svg in &book.svgs {
        linker.add_file(&svg.0, &format!("diagrams/{}", file_name(&svg.0)));
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for page in &pages {
        let text = linker.rewrite("RULES.md", &page.path, &shifted(&page.text));
        files.push((format!("src/{}", page.path), text.into_bytes()));
    }
    for doc in docs {
        let text = linker.rewrite(&doc.repo_path, &doc.site_path, &doc.text);
        files.push((format!("src/{}", doc.site_path), text.into_bytes()));
    }
    for (path, svg) in &book.svgs {
        files.push((
            format!("src/diagrams/{}", file_name(path)),
            svg.clone().into_bytes(),
        ));
    }
    files.push((
        "src/SUMMARY.md".to_string(),
        summary(&pages, docs).into_bytes(),
    ));
    files.push(("book.toml".to_string(), BOOK_TOML.as_bytes().to_vec()));
    files.sort();
    files
}

/// mdBook's settings: the HTML output with its search (elasticlunr, built in), which reads a
/// `?search=` parameter, so that a pasted error message finds its pages offline.
const BOOK_TOML: &str = "\
# Written by `rstlab rules --site DIR`: regenerate, do not edit. Build with `mdbook build DIR`.
[book]
title = \"rstlab: the rules book and guide\"
language = \"en\"
src = \"src\"

[output.html]
# Every page works from file:// too: no server needed, search included.
no-section-label = false

[output.html.search]
enable = true
limit-results = 40
use-boolean-and = true
";

/// The book's pages, in its order, each with its part of the text.
fn pages(book: &Book) -> Vec<Page> {
    let md = &book.markdown;
    let mut pages = Vec::new();
    for (i, &(part, start)) in book.parts.iter().enumerate() {
        let end = book.parts.get(i + 1).map_or(md.len(), |&(_, e)| e);
        let (path, title) = match part {
            Part::Opening => ("book.md".to_string(), "The rules book".to_string()),
            Part::Section(title) => (format!("{}.md", anchor(title)), title.to_string()),
            Part::Question(q) => (
                format!("questions/{}.md", QUESTIONS[q].anchor()),
                QUESTIONS[q].question.to_string(),
            ),
            Part::Rule(rule) => (
                format!("rules/{}.md", rule.id()),
                format!("`{}`", rule.id()),
            ),
        };
        pages.push(Page {
            part,
            path,
            title,
            text: md[start..end].to_string(),
        });
    }
    pages
}

/// The contents: the README first, the book's pages (questions and rules under their
/// sections), then the guide.
fn summary(pages: &[Page], docs: &[Doc]) -> String {
    let mut out = String::from("# Summary\n\n");
    let (first, guide) = docs
        .split_first()
        .expect("the README is the first document");
    out += &format!(
        "[{}]({})\n\n# The rules book\n\n",
        first.title, first.site_path
    );
    for page in pages {
        let indent = match page.part {
            Part::Question(_) | Part::Rule(_) => "    ",
            _ => "",
        };
        out += &format!("{indent}- [{}]({})\n", page.title, page.path);
    }
    out += "\n# The guide\n\n";
    for doc in guide {
        out += &format!("- [{}]({})\n", doc.title, doc.site_path);
    }
    out
}

/// `text` with its headings moved up so that its first is a `#` heading (fenced code left as
/// it is).
fn shifted(text: &str) -> String {
    let level = |l: &str| l.chars().take_while(|&c| c == '#').count();
    let top = text.lines().find(|l| l.starts_with('#')).map_or(1, level);
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with('#') && level(line) >= top {
            out.push_str(&line[top - 1..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests;
