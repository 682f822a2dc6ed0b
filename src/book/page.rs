//! The page being written: what every section's renderer reads (the options, the evidence, the
//! stamp) and what it writes (the text, and the statements its evidence does not support).

use crate::rules::Rule;

use super::evidence::Evidence;
use super::options::BookOptions;
use super::stamp::Stamp;

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
        }
    }
}

/// A link to a rule's section.
pub(super) fn link(rule: Rule) -> String {
    format!("[`{}`](#{})", rule.id(), rule.id())
}

/// The anchor of a heading, as GitHub makes it: lower case, punctuation dropped, spaces as
/// hyphens.
pub(super) fn anchor(title: &str) -> String {
    title
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}
