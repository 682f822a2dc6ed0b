//! The rules book: `RULES.md`, generated from evidence gathered on the running kernel.
//!
//! [`build`] reads the chapters made from stored files (the kernels' surveys), then runs, in a
//! lab that counts every run once by kind, every canonical scenario (`scenarios/<id>.scenario`)
//! on both backends, a table of situations (what the next write and the next read return after
//! each way a connection can end), the questions' scenarios, random scenarios on each backend
//! and network, the canonical scenarios again on the link at zero delay, the timing chart, and
//! the SIGPIPE experiment ([`crate::sigpipe`]); then it writes the book, section by section,
//! from one list of sections.
//!
//! How it is split, by job:
//!
//! - `options`: what goes into a book, and why one could not be built;
//! - `run`, `lab`, `tally`: one run and its kind; the lab that makes every run and counts it
//!   once; the counts, keyed by kind, rule and call;
//! - `situations`, `chart`: what the summary table and the timing chart run;
//! - `evidence`: everything the book reports, gathered through the lab;
//! - `stamp`, `page`: the kernel and the day; the page every section writes into;
//! - `sections`: the list of sections (the contents are built from it), and one renderer
//!   module per section under `sections/`;
//! - `catalogue`: reading a book back.
//!
//! Everything in the book is sorted and deterministic: regenerating it on the same kernel with
//! the same options changes only the kernel release and the date ([`mask_volatile`] hides
//! exactly those). [`catalogue_in`] reads the rules back out of a book, so that a test can hold
//! the committed book to the catalogue.
//!
//! ```
//! use rstlab::book::{catalogue, catalogue_in};
//! // A book lists every rule of the catalogue, with its statement, mechanism and scenario.
//! let book = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/RULES.md")).unwrap();
//! assert_eq!(catalogue_in(&book), catalogue());
//! ```

mod catalogue;
mod chart;
mod evidence;
mod lab;
mod options;
mod page;
mod run;
mod sections;
pub mod site;
mod situations;
mod tally;
#[cfg(test)]
mod tests;

pub use catalogue::{RuleEntry, catalogue, catalogue_in, mask_volatile};
pub use options::{BookError, BookOptions};
pub use page::Part;
pub use sections::{kernels, silence};

use crate::rules::Rule;

use crate::stamp::Stamp;
use evidence::Evidence;
use lab::{Lab, Runners};
use page::Page;
use sections::Stored;

/// A generated book: the Markdown text, its SVG files, and what it took.
#[derive(Clone, Debug)]
pub struct Book {
    /// The text of `RULES.md`.
    pub markdown: String,
    /// `(path relative to the book, SVG text)`, one per rule and the timing chart, sorted by
    /// path.
    pub svgs: Vec<(String, String)>,
    /// Rules in the book.
    pub rules: usize,
    /// Scenario runs on real sockets, every kind and backend counted once: the total the
    /// book's header states and every evidence line counts out of.
    pub scenarios_run: u64,
    /// Runs in which the kernel disagreed with the oracle or with a `=>` line.
    pub disagreements: u64,
    /// The book's claims and rules that this run's evidence does not support, each marked
    /// "unsupported" in the text: a rule no run exercised, a claim the counts contradict or
    /// have nothing for. Empty for a book that stands on its evidence.
    pub unsupported: Vec<String>,
    /// Where each part of [`Book::markdown`] starts, in order: the pages of the site
    /// ([`site::render`]).
    pub parts: Vec<(Part, usize)>,
}

/// Builds the book: runs everything on real sockets and writes the text and the diagrams.
///
/// ```no_run
/// use rstlab::book::{build, BookOptions};
/// let book = build(&BookOptions { cases: 100, ..Default::default() })?;
/// std::fs::write("RULES.md", &book.markdown).unwrap();
/// # Ok::<(), rstlab::book::BookError>(())
/// ```
pub fn build(options: &BookOptions) -> Result<Book, BookError> {
    let stored = Stored::read(options)?;
    let evidence = evidence::gather(
        options,
        Lab::new(Runners::new()?).stopping_on(std::sync::Arc::clone(&options.stop)),
    )?;
    let (markdown, unsupported, parts) = render(options, &evidence, &Stamp::now(), &stored);
    let mut svgs: Vec<(String, String)> = evidence
        .canonical
        .iter()
        .filter(|c| !c.runs.is_empty())
        .map(|c| sections::rule_svg(options, c))
        .collect();
    svgs.push((options.chart_path(), chart::svg(&evidence.chart)));
    svgs.sort();
    Ok(Book {
        markdown,
        svgs,
        rules: Rule::ALL.len(),
        scenarios_run: evidence.tallies.total_runs(),
        disagreements: evidence.tallies.disagreements.len() as u64,
        unsupported,
        parts,
    })
}

/// The book's text, the claims and rules its evidence does not support (marked so in the
/// text), and where each of its parts starts.
fn render(
    options: &BookOptions,
    ev: &Evidence,
    stamp: &Stamp,
    stored: &Stored,
) -> (String, Vec<String>, Vec<(Part, usize)>) {
    let mut page = Page::new(options, ev, stamp);
    sections::render(&mut page, stored);
    (page.md, page.unsupported, page.parts)
}

/// Where [`build`] puts each rule's diagram and the timing chart, relative to the book (the
/// paths of [`Book::svgs`]): for a caller that checks the places before the build.
pub fn svg_paths(options: &BookOptions) -> Vec<String> {
    let mut paths: Vec<String> = Rule::ALL.iter().map(|r| options.svg_path(*r)).collect();
    paths.push(options.chart_path());
    paths.sort();
    paths
}
