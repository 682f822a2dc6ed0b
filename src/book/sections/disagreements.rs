//! "Disagreements": every run of the book, of any kind, in which the kernel did not do what the
//! oracle predicted or what the scenario expects.

use std::fmt::Write as _;

use crate::book::page::Page;

pub(super) fn render(page: &mut Page) {
    let mut lines: Vec<String> = page
        .ev
        .tallies
        .disagreements
        .iter()
        .map(|d| {
            format!(
                "- {} run on {}, {}: `{}`: {}",
                d.kind, d.backend, d.net, d.scenario, d.disagreement
            )
        })
        .collect();
    let md = &mut page.md;
    if lines.is_empty() {
        let _ = writeln!(
            md,
            "None: in every run of this book the kernel did what the oracle predicted and what \
             the scenarios expect.\n"
        );
    } else {
        lines.sort();
        let _ = writeln!(
            md,
            "The kernel is the judge: each of these is the oracle's error (or the scenario's), \
             to be fixed.\n"
        );
        for l in lines {
            let _ = writeln!(md, "{l}");
        }
        md.push('\n');
    }
}
