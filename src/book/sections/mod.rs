//! The book's sections, defined once in [`SECTIONS`]: the contents are built from that list,
//! and [`render`] writes the book's opening, then each section's heading and body, in its
//! order. A new section is one entry there and one renderer module here.

mod claim;
mod disagreements;
pub mod kernels;
mod questions;
mod rules;
mod runtimes;
mod sigpipe;
pub mod silence;
mod simulators;
mod subjects;
mod summary;
mod timing;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::rules::Rule;

use super::options::{BookError, BookOptions};
use super::page::{Page, Part, anchor};
use super::run::Kind;

#[cfg(test)]
pub(super) use rules::diagram_run;
pub(super) use rules::svg as rule_svg;

/// What a section's body is made from.
pub(super) enum Body {
    /// This run's evidence: the renderer writes the body into the page.
    Evidence(fn(&mut Page)),
    /// Files stored in the repository (as the kernels' surveys), not this run: the body is
    /// read before anything runs, so that a broken file stops the build at once.
    Stored(fn(&BookOptions) -> Result<String, BookError>),
}

/// One `##` section of the book.
pub(super) struct Section {
    /// Its heading; the contents link to it.
    pub(super) title: &'static str,
    /// What writes it.
    pub(super) body: Body,
}

/// Every section, in the book's order.
pub(super) const SECTIONS: &[Section] = &[
    Section {
        title: "What the next write and read return",
        body: Body::Evidence(summary::render),
    },
    Section {
        title: "The seed article's claim, checked",
        body: Body::Evidence(claim::render),
    },
    Section {
        title: sigpipe::TITLE,
        body: Body::Evidence(sigpipe::render),
    },
    Section {
        title: questions::TITLE,
        body: Body::Evidence(questions::render),
    },
    Section {
        title: crate::runtimes::TITLE,
        body: Body::Stored(runtimes::stored),
    },
    Section {
        title: "Timing: the link",
        body: Body::Evidence(timing::render),
    },
    Section {
        title: kernels::TITLE,
        body: Body::Stored(kernels::stored),
    },
    Section {
        title: silence::TITLE,
        body: Body::Stored(silence::stored),
    },
    Section {
        title: simulators::TITLE,
        body: Body::Stored(simulators::stored),
    },
    Section {
        title: "Subjects",
        body: Body::Evidence(subjects::render),
    },
    Section {
        title: "Rules",
        body: Body::Evidence(rules::render),
    },
    Section {
        title: "Disagreements",
        body: Body::Evidence(disagreements::render),
    },
];

/// The bodies of the sections made from stored files, by title, and the runtimes' measured
/// messages, which the rules cite too.
pub(super) struct Stored(
    BTreeMap<&'static str, String>,
    Option<crate::runtimes::Results>,
);

impl Stored {
    /// Reads every stored section's files and renders its body.
    pub(super) fn read(options: &BookOptions) -> Result<Stored, BookError> {
        let mut bodies = BTreeMap::new();
        for section in SECTIONS {
            if let Body::Stored(read) = section.body {
                bodies.insert(section.title, read(options)?);
            }
        }
        // Read again, as data: its chapter has already said whether it is there and sound.
        let runtimes = crate::runtimes::load(&options.runtimes_file).ok();
        Ok(Stored(bodies, runtimes))
    }
}

/// Writes the whole book into `page`: the opening, the contents, every section.
pub(super) fn render(page: &mut Page, stored: &Stored) {
    page.mark(Part::Opening);
    page.runtimes = stored.1.clone();
    opening(page);
    let _ = writeln!(page.md, "Contents:\n");
    for section in SECTIONS {
        let _ = writeln!(page.md, "- [{}](#{})", section.title, anchor(section.title));
    }
    page.md.push('\n');
    for section in SECTIONS {
        page.mark(Part::Section(section.title));
        let _ = writeln!(page.md, "## {}\n", section.title);
        match section.body {
            Body::Evidence(render) => render(page),
            Body::Stored(_) => page.md.push_str(
                stored
                    .0
                    .get(section.title)
                    .expect("Stored::read reads every stored section"),
            ),
        }
    }
}

/// The title, what the book is, and what it was made from: every run, counted once by kind.
fn opening(page: &mut Page) {
    let (ev, options, stamp) = (page.ev, page.options, page.stamp);
    let runs = &ev.tallies.runs;
    let total = runs.total();
    let _ = writeln!(page.md, "# The rules book\n");
    let _ = writeln!(
        page.md,
        "When does a TCP write succeed, fail with `EPIPE` (\"broken pipe\") or with `ECONNRESET` \
         (\"connection reset by peer\"), and what do reads return around them? This book states \
         {} rules of the Linux TCP stack, each with its mechanism in the kernel, a minimal \
         scenario, a sequence diagram and the evidence that the running kernel follows it.\n",
        Rule::ALL.len()
    );
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .map(|&kind| {
            let what = match kind {
                Kind::Canonical => format!(
                    "the {} canonical scenarios on both backends, std and tokio",
                    ev.canonical.len()
                ),
                Kind::Situation => format!(
                    "{} situations, each followed by the next write and by the next read, on \
                     both backends",
                    ev.situations.len()
                ),
                Kind::Question => format!(
                    "the {} scenarios of the questions people ask, on both backends",
                    ev.questions.len()
                ),
                Kind::Random => format!(
                    "{} random scenarios on each backend and network, seed {}",
                    options.cases, options.seed
                ),
                Kind::ZeroDelay => "the canonical scenarios without `link` steps again, on the \
                                    link at zero delay, std"
                    .to_string(),
                Kind::Chart => "the points of the timing chart, std".to_string(),
            };
            format!("{} {kind} runs ({what})", runs.get(&kind))
        })
        .collect();
    let (last, rest) = kinds.split_last().expect("there are kinds of runs");
    let _ = writeln!(
        page.md,
        "Generated by `rstlab rules` (do not edit by hand) on Linux `{}`, {}, from {total} runs \
         on real sockets, each counted once: {} and {last}. Every count of runs below is out of \
         these {total}. The scenario language is described in [the guide](docs/guide/language.md); every \
         scenario below runs with `rstlab run FILE` (add `--diagram` for the picture, \
         `--backend tokio` for tokio).\n",
        stamp.kernel,
        stamp.date,
        rest.join(", "),
    );
}
