//! "Questions people ask": [`crate::questions`] writes it; this shows each scenario with what
//! each backend answered in this run.

use crate::book::page::{Page, Part};

/// The section's title, as [`crate::questions::render`] heads it.
pub(super) const TITLE: &str = "Questions people ask";

pub(super) fn render(page: &mut Page) {
    let ev = page.ev;
    let mut section = String::new();
    crate::questions::render(&mut section, |scenario| {
        ev.questions
            .iter()
            .find(|(s, _)| s == scenario)
            .map(|(_, shown)| shown.clone())
            .unwrap_or_default()
    });
    // The book writes every section's heading from its list of sections.
    let heading = format!("## {TITLE}\n\n");
    let body = section
        .strip_prefix(&heading)
        .unwrap_or_else(|| panic!("crate::questions::render no longer opens with {heading:?}"));
    // Each question's part starts at its heading, which the renderer writes once per question.
    let start = page.md.len();
    page.md.push_str(body);
    let mut from = start;
    for (i, q) in crate::questions::QUESTIONS.iter().enumerate() {
        let heading = format!("### {}\n", q.question);
        let at = from
            + page.md[from..]
                .find(&heading)
                .unwrap_or_else(|| panic!("no heading {heading:?} in the questions"));
        page.parts.push((Part::Question(i), at));
        from = at + heading.len();
    }
}
