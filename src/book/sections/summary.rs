//! "What the next write and read return": the summary table, one row per situation, and how to
//! read it, stated only when the kernel answered every situation as it says.

use std::fmt::Write as _;

use crate::backend::Backend;
use crate::rules::Rule;

use crate::book::page::{Page, UNSUPPORTED, link};
use crate::book::run::{Run, on};
use crate::book::situations::Next;

pub(super) fn render(page: &mut Page) {
    let ev = page.ev;
    let md = &mut page.md;
    let _ = writeln!(
        md,
        "The client's next `write 1` and next `read 10` after each situation, each on a fresh \
         connection (`<steps>; client write 1` and `<steps>; client read 10`), as the kernel \
         answered them on std; a backend that answered otherwise is named. Everything settles \
         between steps: every segment has arrived. The roles are symmetric: swap `client` and \
         `server` and the table holds for the server.\n"
    );
    let _ = writeln!(
        md,
        "| situation | steps before | next write | next read | rules |\n|---|---|---|---|---|"
    );
    for runs in &ev.situations {
        let situation = runs.situation;
        let steps = if situation.steps.is_empty() {
            "(none)".to_string()
        } else {
            format!("`{}`", situation.steps)
        };
        let last = runs
            .write
            .first()
            .expect("every situation has a write run")
            .scenario
            .steps()
            .len()
            - 1;
        let all: Vec<&Run> = runs.write.iter().chain(&runs.read).collect();
        let rules: Vec<String> = rules_of_last_step(&all).into_iter().map(link).collect();
        let _ = writeln!(
            md,
            "| {} | {steps} | {} | {} | {} |",
            situation.what,
            outcome_cell(&runs.write, last),
            outcome_cell(&runs.read, last),
            rules.join(", ")
        );
    }
    // The summary below states the rules the situations' `write` and `read` fields encode:
    // it is printed as a conclusion only when the kernel answered every one of them so.
    let mut off: Vec<String> = Vec::new();
    for runs in &ev.situations {
        for next in Next::ALL {
            let expected = runs.situation.expected(next);
            for run in runs.runs(next) {
                let last = run.scenario.steps().len() - 1;
                let observed = run
                    .trace
                    .steps
                    .get(last)
                    .map_or("(not run)".to_string(), |o| o.outcome.to_string());
                if observed != expected {
                    off.push(format!(
                        "`{}` on {}: {observed}, not {expected}",
                        run.scenario.to_inline(),
                        run.backend
                    ));
                }
            }
        }
    }
    if ev.situations.len() != crate::book::situations::SITUATIONS.len() {
        off.push("not every situation was run".to_string());
    }
    let how = "a write succeeds while the connection is open or only the peer has sent FIN; it \
               fails with the error an RST left (once), then with `EPIPE` for ever. A read \
               returns queued bytes first, then EOF if the peer's FIN arrived, then the error an \
               RST left (once), then EOF.";
    if off.is_empty() {
        let _ = writeln!(md, "\nHow to read it: {how}\n");
    } else {
        let _ = writeln!(
            md,
            "\nHow to read it: {UNSUPPORTED} the usual summary (\"{how}\") does not hold for: {}.\n",
            off.join("; ")
        );
        page.unsupported
            .push(format!("How to read it: {}", off.join("; ")));
    }
}

/// A cell of the table: what std answered at `step`, what another backend answered where it
/// differs, and whether any run disagreed.
fn outcome_cell(runs: &[Run], step: usize) -> String {
    let std = on(runs, Backend::Std)
        .and_then(|r| r.trace.steps.get(step))
        .map_or("(not run)".to_string(), |o| o.outcome.to_string());
    let differ: Vec<String> = runs
        .iter()
        .filter(|r| r.backend != Backend::Std)
        .filter_map(|r| {
            let o = r.trace.steps.get(step)?.outcome.to_string();
            (o != std).then(|| format!("{o} ({})", r.backend))
        })
        .collect();
    let agree = runs.iter().all(|r| r.disagreement.is_none());
    let mut cell = format!("`{std}`");
    for d in differ {
        cell += &format!(", `{d}`");
    }
    if !agree {
        cell += " **(disagrees)**";
    }
    cell
}

/// The rules the oracle applied in the last step of the std runs, sorted.
fn rules_of_last_step(runs: &[&Run]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = runs
        .iter()
        .filter(|r| r.backend == Backend::Std)
        .filter_map(|r| r.prediction.steps.last())
        .flat_map(|s| s.rules.iter().copied())
        .collect();
    rules.sort();
    rules.dedup();
    rules
}
