//! The book's "Kernels" chapter: where each rule holds, from the surveys `rstlab kernels`
//! stored (`docs/kernels/<major.minor>.json`), so that `rstlab rules` renders it without
//! booting anything, and a test can hold the committed chapter to the stored evidence.

use std::fmt::Write as _;
use std::path::Path;

use crate::kernels::survey::{self, Survey};
use crate::oracle::kernel::{CHANGES, Kernel, Version};
use crate::rules::Rule;

use crate::book::options::{BookError, BookOptions};

/// The chapter's title, as the contents link to it.
pub const TITLE: &str = "Kernels";

/// Reads every `*.json` survey in `dir`, oldest kernel first; a missing directory is no
/// evidence, not an error.
pub fn load(dir: &Path) -> std::io::Result<Vec<Survey>> {
    let mut surveys = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(surveys),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let s = survey::load(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            surveys.push(s);
        }
    }
    surveys.sort_by_key(version);
    Ok(surveys)
}

fn version(s: &Survey) -> Version {
    s.version.parse().unwrap_or(Kernel::NEWEST.version)
}

pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The chapter's body, from the surveys in `options.kernels_dir`: the book's list of sections
/// calls this before anything runs.
pub(super) fn stored(options: &BookOptions) -> Result<String, BookError> {
    rendered(options, TITLE, render)
}

/// The body of chapter `title`, which `render` writes from the surveys in
/// `options.kernels_dir`.
pub(super) fn rendered(
    options: &BookOptions,
    title: &'static str,
    render: fn(&mut String, &[Survey]),
) -> Result<String, BookError> {
    let surveys = load(&options.kernels_dir).map_err(|error| BookError::Stored {
        chapter: title,
        error,
    })?;
    let mut md = String::new();
    render(&mut md, &surveys);
    Ok(md)
}

/// The chapter's body (all but its heading), from `surveys` (see [`load`]).
pub fn render(md: &mut String, surveys: &[Survey]) {
    if surveys.is_empty() {
        let _ = writeln!(
            md,
            "No kernel has been surveyed: `rstlab kernels --out docs/kernels` runs the survey \
             on Debian's 5.10, 6.1, 6.12 and 7.3 in VMs and on this machine's kernel, and stores \
             the evidence this chapter is made from.\n"
        );
        return;
    }
    let _ = writeln!(
        md,
        "Every rule was checked on each kernel below by `rstlab kernels --out docs/kernels` \
         (Debian's kernel packages booted with virtme-ng, this machine's kernel directly): each \
         rule's canonical scenario and each question's scenarios on both backends, on loopback \
         and on the link (a scenario with `link` steps on the link only), and random scenarios \
         on each backend and network, all predicted with the kernel's own profile \
         (`rstlab::oracle::kernel`). The evidence is stored in `docs/kernels/<version>.json`; this \
         chapter is rendered from it.\n"
    );
    let rows: Vec<String> = surveys
        .iter()
        .map(|s| {
            let t = s.totals();
            let per = s.explorations.first().map_or(0, |e| e.cases);
            let combos = s.explorations.len();
            format!(
                "| {} | `{}` | {} | {} | {} × {} | {} | {} | {} | {:.0} s |",
                s.version,
                s.release,
                s.machine,
                thousands(s.scenarios.len() as u64),
                combos,
                thousands(per),
                thousands(t.agreements),
                t.disagreements,
                t.errors,
                s.seconds
            )
        })
        .collect();
    let _ = writeln!(
        md,
        "| version | release | ran in | scenario runs | random cases (backend × network) | agreements | disagreements | errors | survey time |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for row in rows {
        let _ = writeln!(md, "{row}");
    }
    let seeds: Vec<String> = surveys
        .iter()
        .map(|s| format!("{} seed {}", s.version, s.seed))
        .collect();
    let _ = writeln!(
        md,
        "\nAgreements count scenario runs and random cases together; `rstlab explore --seed S` \
         on a kernel of the same series repeats its random cases ({}).\n",
        seeds.join(", ")
    );

    let _ = writeln!(md, "### What changed between them\n");
    let _ = writeln!(
        md,
        "Each change below is a row of `rstlab::oracle::kernel::CHANGES`: the oracle takes the kernel's \
         profile as data and asks whether it has the change, nowhere else.\n"
    );
    let _ = writeln!(
        md,
        "| commit | first in (and stable backports) | what changed | rules | kernels above without it | with it |\n|---|---|---|---|---|---|"
    );
    for c in CHANGES {
        let (without, with): (Vec<&Survey>, Vec<&Survey>) = surveys
            .iter()
            .partition(|s| s.lacks.iter().any(|l| l == c.commit));
        let names = |list: Vec<&Survey>| {
            if list.is_empty() {
                "none".to_string()
            } else {
                list.iter()
                    .map(|s| s.version.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let mut rules: Vec<String> = c
            .rules
            .iter()
            .map(|r| format!("[{0}](#{0})", r.id()))
            .collect();
        if rules.is_empty() {
            rules.push(
                "none: where it shows, the model stops (a duplicate ACK: loss recovery)"
                    .to_string(),
            );
        }
        let _ = writeln!(
            md,
            "| `{}` \"{}\" | {}.{}{} | {} | {} | {} | {} |",
            c.commit,
            c.title,
            c.since.major,
            c.since.minor,
            c.backports
                .iter()
                .map(|b| format!(", {b}"))
                .collect::<String>(),
            c.what,
            rules.join(", "),
            names(without),
            names(with)
        );
    }
    md.push('\n');

    let _ = writeln!(md, "### Every rule on every kernel\n");
    let _ = writeln!(
        md,
        "A cell gives the runs in which the oracle named the rule and the kernel agreed \
         (canonical, question and random scenarios, both backends); \"disagrees\" counts the \
         scenario runs naming it where the kernel did not agree; \"before `commit`\" marks a \
         kernel that follows the rule as it was before that change; \"not exercised\" a rule \
         no run on that kernel needed (on loopback-only evidence, or a rule of another kernel \
         series).\n"
    );
    let mut header = "| rule |".to_string();
    let mut line = "|---|".to_string();
    for s in surveys {
        let _ = write!(header, " {} |", s.version);
        line.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{line}");
    for &rule in Rule::ALL {
        let _ = write!(md, "| [{0}](#{0}) |", rule.id());
        for s in surveys {
            let (runs, disagreements) = s.rule_tally(rule);
            let mut cell = if disagreements > 0 {
                format!(
                    "**disagrees ({disagreements})**, agrees {}",
                    thousands(runs)
                )
            } else if runs == 0 {
                "not exercised".to_string()
            } else {
                format!("agrees ({})", thousands(runs))
            };
            for c in CHANGES {
                if c.rules.contains(&rule) && s.lacks.iter().any(|l| l == c.commit) {
                    let _ = write!(cell, ", before `{}`", c.commit);
                }
            }
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
    md.push('\n');
    let findings: Vec<String> = surveys
        .iter()
        .flat_map(|s| {
            s.explorations.iter().flat_map(move |e| {
                e.findings
                    .iter()
                    .map(move |f| format!("- {} ({}, {}): {f}", s.version, e.backend, e.net))
            })
        })
        .collect();
    if !findings.is_empty() {
        let _ = writeln!(md, "Random disagreements, shrunk:\n");
        for f in findings {
            let _ = writeln!(md, "{f}");
        }
        md.push('\n');
    }
}

/// The chapter rendered from the surveys in `dir`, its heading included: as the book has it.
pub fn chapter(dir: &Path) -> std::io::Result<String> {
    let mut md = format!("## {TITLE}\n\n");
    render(&mut md, &load(dir)?);
    Ok(md)
}
