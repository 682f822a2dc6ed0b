//! The page being written: what every section's renderer reads (the options, the evidence, the
//! stamp) and what it writes (the text, and the statements its evidence does not support).

use crate::rules::Rule;

use super::evidence::Evidence;
use super::options::BookOptions;
use crate::stamp::Stamp;

/// How the book marks a statement its evidence does not support.
pub(super) const UNSUPPORTED: &str = "**Unsupported by this run's evidence:**";

/// The book as it is being written.
pub(super) struct Page<'a> {
    pub(super) options: &'a BookOptions,
    pub(super) ev: &'a Evidence,
    pub(super) stamp: &'a Stamp,
    /// The text so far.
    pub(super) md: String,
    /// What the text marks unsupported so far (see [`UNSUPPORTED`]).
    pub(super) unsupported: Vec<String>,
    /// Where each part of the book starts in [`Page::md`], in order: what the site cuts into
    /// pages ([`crate::book::site`]), so that both read one text.
    pub(super) parts: Vec<(Part, usize)>,
    /// The runtimes' measured messages, where stored: each rule lists the ones it explains.
    pub(super) runtimes: Option<crate::runtimes::Results>,
}

/// A part of the book that the site gives a page of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The title and what the book was made from, up to the first section.
    Opening,
    /// A `##` section, by its title (without its subsections below that have parts).
    Section(&'static str),
    /// A question of [`crate::questions::QUESTIONS`], by its place there.
    Question(usize),
    /// A rule's `###` subsection of "Rules".
    Rule(Rule),
}

impl<'a> Page<'a> {
    /// An empty page.
    pub(super) fn new(options: &'a BookOptions, ev: &'a Evidence, stamp: &'a Stamp) -> Page<'a> {
        Page {
            options,
            ev,
            stamp,
            md: String::new(),
            unsupported: Vec::new(),
            parts: Vec::new(),
            runtimes: None,
        }
    }

    /// Marks the start of `part` where the text is now.
    pub(super) fn mark(&mut self, part: Part) {
        self.parts.push((part, self.md.len()));
    }
}

/// A link to a rule's section.
pub(super) fn link(rule: Rule) -> String {
    format!("[`{}`](#{})", rule.id(), rule.id())
}

pub(super) use crate::text::anchor;
