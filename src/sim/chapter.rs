//! The book's "Simulators" chapter, rendered from stored reports, and the summary `rstlab sim`
//! prints.

use std::io;
use std::path::Path;

use super::{Divergence, Report};

/// Renders the chapter from every `*.json` report in `dir` (`docs/simulators`), in file name
/// order: its `## Simulators` heading, then [`body`].
pub fn chapter(dir: &Path) -> io::Result<String> {
    Ok(render(&load(dir)?))
}

/// Reads every `*.json` report in `dir`, in file name order.
pub fn load(dir: &Path) -> io::Result<Vec<Report>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut reports = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let report: Report = serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        reports.push(report);
    }
    Ok(reports)
}

/// A table cell: `|` escaped, newlines as spaces.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn status(d: &Divergence) -> String {
    match &d.known {
        Some(note) => format!("known: {note}"),
        None => "**new**: not in the known list (`rstlab::sim::known`)".to_string(),
    }
}

/// `1 scenario`, `2 scenarios`: a count and its noun, plural unless the count is 1.
fn count(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `agree` or `agrees`, `diverge` or `diverges`: the verb after a count.
fn verb(n: u64, verb: &str) -> String {
    format!("{verb}{}", if n == 1 { "s" } else { "" })
}

fn counts(r: &Report) -> String {
    let ways = r.divergences.len() as u64;
    format!(
        "{} compared ({} canonical, {} random of seed {}), {} compared, {} {}; \
         {} {}, in {} distinct {}; {} not modelled, {} not compared after \
         a divergence or a step not modelled; {} refused",
        count(r.scenarios, "scenario"),
        r.canonical,
        r.cases,
        r.seed,
        count(r.steps_compared, "step"),
        r.agreements,
        verb(r.agreements, "agree"),
        count(r.divergent_scenarios, "scenario"),
        verb(r.divergent_scenarios, "diverge"),
        ways,
        if ways == 1 { "way" } else { "ways" },
        count(r.unmodelled, "step"),
        r.not_compared,
        count(r.refused.len() as u64, "scenario")
    )
}

/// The simulator's answer for a table: its outcome, with its detail (the `io::ErrorKind` and
/// message) when the detail says more than the outcome itself.
fn simulator_answer(d: &Divergence) -> String {
    if d.simulator_detail.is_empty() || d.simulator_detail == d.simulator {
        cell(&d.simulator)
    } else {
        format!("{} ({})", cell(&d.simulator), cell(&d.simulator_detail))
    }
}

/// Renders the chapter from loaded reports: for each simulator, how it is driven, the counts,
/// a table of divergences by rule (the smallest scenario of each, Linux's answer, the
/// simulator's, known or new) and the ops it does not model.
pub fn render(reports: &[Report]) -> String {
    format!("## Simulators\n\n{}", body(reports))
}

/// The chapter without its heading (the rules book writes the headings of its sections). It
/// ends with a blank line, so that whatever heading follows it starts a block of its own.
pub fn body(reports: &[Report]) -> String {
    let mut out = String::from(
        "Deterministic simulators let people test network code without sockets, and people trust \
         them to behave like the kernel. `rstlab sim NAME` runs every rule's canonical scenario and \
         random loopback scenarios in the simulator, through the same scenario language, and \
         compares each step with the oracle, which stands for Linux (it agrees with the kernel on \
         every kernel checked). Every divergence is shrunk to a minimal scenario; its diverging \
         step carries Linux's answer as `=>`, so `rstlab run --backend tokio` checks it on the \
         real kernel. A step whose op has no counterpart in the simulator's API is counted as not \
         modelled, never guessed. Known differences are marked, not hidden; a new one is marked \
         new. Reports: `docs/simulators/*.json`, from `rstlab sim NAME --json --out FILE`.\n",
    );
    for r in reports {
        out += &format!("\n### {} {}\n\n", r.simulator, r.version);
        out += &format!(
            "Judged against Linux {} through the {} API. {}\n\n",
            r.kernel, r.backend, r.mapping
        );
        out += &format!("{}.\n\n", counts(r));
        if r.divergences.is_empty() {
            out += "No divergence: on every step compared, the simulator answers as Linux does.\n";
        } else {
            out += &format!(
                "| rules | scenario | Linux | {} | seen | status |\n|---|---|---|---|---|---|\n",
                r.simulator
            );
            for d in &r.divergences {
                let rules: Vec<String> = d.rules.iter().map(|r| format!("`{r}`")).collect();
                out += &format!(
                    "| {} | `{}` (step {}, `{}`) | {} | {} | {} | {} |\n",
                    rules.join(", "),
                    cell(&d.inline),
                    d.step,
                    cell(&d.op),
                    cell(&d.linux),
                    simulator_answer(d),
                    d.occurrences,
                    cell(&status(d))
                );
            }
        }
        if !r.unmodelled_ops.is_empty() {
            out += &format!(
                "\nNot modelled by {} (the steps after one are not compared, except after `poll`, \
                 which changes nothing on Linux):\n\n| op | steps | why |\n|---|---|---|\n",
                r.simulator
            );
            for (op, u) in &r.unmodelled_ops {
                out += &format!("| `{op}` | {} | {} |\n", u.steps, cell(&u.why));
            }
        }
    }
    out.push('\n');
    out
}

/// What `rstlab sim` prints without `--json`: the counts, the divergences and the ops not
/// modelled, as plain tables.
pub fn summary(r: &Report) -> String {
    let mut out = format!(
        "{} {} judged against Linux {} ({} API)\n{}\n",
        r.simulator,
        r.version,
        r.kernel,
        r.backend,
        counts(r)
    );
    if r.divergences.is_empty() {
        out += "\nno divergence\n";
    } else {
        out += "\ndivergences (one per rule, op and answers; the smallest scenario found):\n";
        let rows: Vec<Vec<String>> = r
            .divergences
            .iter()
            .map(|d| {
                vec![
                    d.rules.join(", "),
                    format!("{} (step {})", d.op, d.step),
                    d.linux.clone(),
                    d.simulator.clone(),
                    d.occurrences.to_string(),
                    if d.known.is_some() { "known" } else { "NEW" }.to_string(),
                    d.inline.clone(),
                ]
            })
            .collect();
        out += &crate::table::render(
            &[
                "rules",
                "op",
                "linux",
                r.simulator.as_str(),
                "seen",
                "",
                "scenario",
            ],
            &rows,
        );
    }
    if !r.unmodelled_ops.is_empty() {
        out += &format!("\nnot modelled by {}:\n", r.simulator);
        let rows: Vec<Vec<String>> = r
            .unmodelled_ops
            .iter()
            .map(|(op, u)| vec![op.clone(), u.steps.to_string(), u.why.clone()])
            .collect();
        out += &crate::table::render(&["op", "steps", "why"], &rows);
    }
    // One line per reason: the canonical scenarios on the link all share one.
    let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
    for refused in &r.refused {
        match by_reason.iter_mut().find(|(why, _)| *why == refused.reason) {
            Some((_, names)) => names.push(&refused.name),
            None => by_reason.push((&refused.reason, vec![&refused.name])),
        }
    }
    if !by_reason.is_empty() {
        out += "\nrefused:\n";
    }
    for (why, names) in by_reason {
        out += &format!("  {}: {why}\n", names.join(", "));
    }
    out
}
