//! "Rules": one subsection per rule, with its statement, mechanism, canonical scenario, diagram
//! (and the SVG of it), what each backend answered, and its evidence out of every run of the
//! book.

use std::fmt::Write as _;

use crate::backend::Backend;
use crate::diagram::Diagram;
use crate::diagram::timeline::Timeline;
use crate::rules::Rule;

use crate::book::evidence::Canonical;
use crate::book::options::BookOptions;
use crate::book::page::{Page, Part, UNSUPPORTED, anchor, link};
use crate::book::run::{Kind, Run, on};

use super::sigpipe::TITLE as SIGPIPE;

pub(super) fn render(page: &mut Page) {
    let _ = writeln!(
        page.md,
        "Each rule: its statement, its mechanism (Linux 6.x functions in `net/ipv4/tcp*.c`, \
         `net/ipv4/af_inet.c`, `net/core/stream.c`; RFC sections), its canonical scenario \
         (`=>` marks what the kernel must answer), the scenario's sequence diagram as the kernel \
         ran it (segments as the oracle predicts them, which the kernel confirms when the run \
         agrees), every step's result and the evidence.\n"
    );
    for canonical in &page.ev.canonical {
        page.mark(Part::Rule(canonical.rule));
        rule(page, canonical);
    }
}

/// The run a rule's diagram shows: tokio's for the tokio rule, std's for every other.
pub(in crate::book) fn diagram_run(rule: Rule, runs: &[Run]) -> &Run {
    let backend = if rule == Rule::TokioShutdownHidesEnotconn {
        Backend::Tokio
    } else {
        Backend::Std
    };
    on(runs, backend)
        .unwrap_or_else(|| panic!("{}: no run on the {backend} backend to draw", rule.id()))
}

/// A rule's diagram as SVG, and where it goes: the timeline of the recorded wire for a
/// scenario on the link, else the sequence diagram.
pub(in crate::book) fn svg(options: &BookOptions, c: &Canonical) -> (String, String) {
    let shown = diagram_run(c.rule, &c.runs);
    let svg = if c.scenario.needs_link() {
        Timeline::new(&c.scenario, &shown.trace).svg(&format!("{}: timeline", c.rule.id()))
    } else {
        Diagram::stable(&c.scenario, &shown.prediction, &shown.trace)
            .svg(&format!("{}: sequence diagram", c.rule.id()))
    };
    (options.svg_path(c.rule), svg)
}

fn rule(page: &mut Page, c: &Canonical) {
    let (rule, scenario, runs) = (c.rule, &c.scenario, &c.runs);
    let id = rule.id();
    let md = &mut page.md;
    let _ = writeln!(md, "### {id}\n");
    let _ = writeln!(md, "> {}\n", rule.statement());
    let _ = writeln!(md, "**Mechanism.** {}\n", rule.mechanism());
    let _ = writeln!(
        md,
        "**Canonical scenario** ([`scenarios/{id}.scenario`](scenarios/{id}.scenario)):\n"
    );
    let _ = writeln!(md, "```text\n{}\n```\n", rule.canonical().trim());
    if runs.is_empty() {
        in_the_lane(page, c);
        return;
    }
    let shown = diagram_run(rule, runs);
    let on_link = scenario.needs_link();
    let diagram = if on_link {
        Timeline::new(scenario, &shown.trace).text()
    } else {
        Diagram::stable(scenario, &shown.prediction, &shown.trace).text()
    };
    let _ = writeln!(
        md,
        "![{} of {id}]({})\n",
        if on_link {
            "Timeline"
        } else {
            "Sequence diagram"
        },
        page.options.svg_path(rule)
    );
    let _ = writeln!(
        md,
        "<details><summary>As text ({})</summary>\n\n```text\n{}```\n\n</details>\n",
        if shown.backend == Backend::Tokio {
            format!("<code>rstlab run scenarios/{id}.scenario --backend tokio --diagram</code>")
        } else if on_link {
            format!("<code>rstlab run scenarios/{id}.scenario</code> prints the wire trace")
        } else {
            format!("<code>rstlab run scenarios/{id}.scenario --diagram</code>")
        },
        diagram
    );
    observed(md, c);
    evidence(page, c);
    runtime_words(page, rule);
}

/// A rule of the kernel's own timers: what the oracle predicts in the kernel's time, and where
/// its evidence is (the lane's, stored: this machine's clock is real).
fn in_the_lane(page: &mut Page, c: &Canonical) {
    let id = c.rule.id();
    let kernel = crate::oracle::kernel::Kernel::NEWEST;
    let p = crate::oracle::predict(
        &c.scenario,
        &crate::oracle::Settings {
            kernel,
            net: Some(crate::run::Net::Link),
            tcp: crate::oracle::TcpSettings::KernelTime,
            ..crate::oracle::Settings::default()
        },
    );
    let md = &mut page.md;
    let _ = writeln!(
        md,
        "**Predicted** in the kernel's own time at its default settings (the lane: `rstlab run \
         scenarios/{id}.scenario` runs it in Debian's 6.12 under QEMU's virtual clock, where the \
         sleeps pass in a second):\n"
    );
    let _ = writeln!(md, "| # | step | oracle | rules |\n|---:|---|---|---|");
    for (i, (step, predicted)) in c.scenario.steps().iter().zip(&p.steps).enumerate() {
        let rules: Vec<String> = predicted.rules.iter().map(|&r| link(r)).collect();
        let _ = writeln!(
            md,
            "| {} | `{step}` | `{}` | {} |",
            i + 1,
            predicted.outcome,
            rules.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "\n**Evidence.** The kernel's timers run in its own time only: this scenario, the \
         random stories of a silent peer and the lane's measurements ran in each lane kernel \
         (`rstlab kernels --timers`); see [{}](#{}).\n",
        super::silence::TITLE,
        anchor(super::silence::TITLE)
    );
}

/// What the runtimes printed where the rule decided their error, from the stored
/// measurements: one line per distinct message, with the clients that printed it, so that a
/// pasted message finds the rule's section too.
fn runtime_words(page: &mut Page, rule: Rule) {
    use crate::runtimes::{Api, Said, Situation};
    let Some(results) = &page.runtimes else {
        return;
    };
    let mut said: Vec<(String, Vec<String>)> = Vec::new();
    for cell in &results.cells {
        let (Some(situation), Some(api)) =
            (Situation::by_id(&cell.situation), Api::by_id(&cell.api))
        else {
            continue;
        };
        if cell.said == Said::Answer || !situation.rules_for(cell.said).contains(&rule) {
            continue;
        }
        let message = cell
            .decisive
            .split_once("ERROR ")
            .map_or(cell.decisive.as_str(), |(_, m)| m)
            .replace('`', "'");
        let who = format!("{} {}", api.runtime, api.api);
        match said.iter_mut().find(|(m, _)| *m == message) {
            Some((_, whom)) if !whom.contains(&who) => whom.push(who),
            Some(_) => {}
            None => said.push((message, vec![who])),
        }
    }
    if said.is_empty() {
        return;
    }
    let _ = writeln!(
        page.md,
        "**In your runtime's words** (measured: [{}](#{})):\n",
        crate::runtimes::TITLE,
        anchor(crate::runtimes::TITLE)
    );
    for (message, whom) in said {
        let _ = writeln!(page.md, "- `{message}`: {}", whom.join(", "));
    }
    page.md.push('\n');
}

/// The table of every step: what the oracle predicted, what each backend answered, the rules.
fn observed(md: &mut String, c: &Canonical) {
    let id = c.rule.id();
    let std_run = on(&c.runs, Backend::Std)
        .unwrap_or_else(|| panic!("{id}: the canonical scenario has no std run"));
    let _ = writeln!(md, "**Observed.**\n");
    let mut header = "| # | step | oracle |".to_string();
    let mut line = "|---:|---|---|".to_string();
    for backend in Backend::ALL {
        let _ = write!(header, " {backend} |");
        line.push_str("---|");
    }
    let _ = writeln!(md, "{header} rules |\n{line}---|");
    for (i, step) in c.scenario.steps().iter().enumerate() {
        let predicted = &std_run.prediction.steps[i];
        let mut oracle_cell = format!("`{}`", predicted.outcome);
        // Where another backend's oracle says otherwise (tokio's readiness), both are shown.
        for run in c.runs.iter().filter(|r| r.backend != Backend::Std) {
            let theirs = &run.prediction.steps[i].outcome;
            if *theirs != predicted.outcome {
                let _ = write!(oracle_cell, ", `{theirs}` ({})", run.backend);
            }
        }
        let observed: Vec<String> = Backend::ALL
            .iter()
            .map(|&b| {
                on(&c.runs, b)
                    .and_then(|r| r.trace.steps.get(i))
                    .map_or("(not run)".to_string(), |o| format!("`{}`", o.outcome))
            })
            .collect();
        // Each rule once, in the order the backends' oracles applied them.
        let mut rules: Vec<Rule> = Vec::new();
        for rule in c
            .runs
            .iter()
            .flat_map(|r| r.prediction.steps[i].rules.iter().copied())
        {
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        let rules: Vec<String> = rules.into_iter().map(link).collect();
        let _ = writeln!(
            md,
            "| {} | `{}` | {oracle_cell} | {} | {} |",
            i + 1,
            step,
            observed.join(" | "),
            rules.join(", ")
        );
    }
    md.push('\n');
}

/// The rule's evidence: its canonical scenario's verdict, and the runs of the book that
/// exercised it, out of every run of the book.
fn evidence(page: &mut Page, c: &Canonical) {
    let (ev, stamp) = (page.ev, page.stamp);
    let (rule, runs) = (c.rule, &c.runs);
    let id = rule.id();
    let counts = ev.tallies.rule(rule);
    let canonical_verdict = if runs.iter().all(|r| r.disagreement.is_none()) {
        "the canonical scenario agrees with the oracle and with its `=>` lines on std and tokio"
            .to_string()
    } else {
        let failing: Vec<String> = runs
            .iter()
            .filter_map(|r| Some(format!("{}: {}", r.backend, r.disagreement.as_ref()?)))
            .collect();
        format!(
            "**the canonical scenario disagrees**: {}",
            failing.join("; ")
        )
    };
    let extra = match rule {
        Rule::WriteEpipeRaisesSigpipe => {
            let mut text = format!(
                " The oracle never names this rule (the runner sends with `MSG_NOSIGNAL`); its \
                 evidence is the [SIGPIPE experiment](#{}), one child process per line:",
                anchor(SIGPIPE)
            );
            text.push('\n');
            for report in &ev.probes {
                let writes: Vec<String> =
                    report.writes().iter().map(|w| format!("`{w}`")).collect();
                let when = if report.signal.is_some() {
                    " in the next write"
                } else {
                    ""
                };
                let _ = write!(
                    text,
                    "\n- {}: writes {}, then {}{when}",
                    report.probe,
                    writes.join(", "),
                    report.ending()
                );
            }
            if ev.probes.is_empty() {
                text += " (left out of this run).";
            }
            text
        }
        Rule::TokioShutdownHidesEnotconn => " Applied on the tokio backend only.".to_string(),
        _ => String::new(),
    };
    // A rule stands on runs that exercised it; the SIGPIPE rule, which the oracle never
    // names, on the experiment.
    let no_evidence = if rule == Rule::WriteEpipeRaisesSigpipe {
        ev.probes.is_empty()
    } else {
        counts.runs.total() == 0
    };
    // A rule of older kernels only: on a kernel that has the change, its evidence is the
    // "Kernels" chapter's (the stored surveys of kernels without it).
    let older_only = crate::oracle::kernel::CHANGES.iter().find(|c| {
        c.only_before.contains(&rule) && crate::oracle::kernel::Kernel::running().has(c.change)
    });
    let verdict = if let (true, Some(change)) = (no_evidence, older_only) {
        format!(
            "Not on this kernel, which has commit `{}` (Linux {}.{}); kernels before it follow \
             the rule: their runs are in [Kernels](#{}). ",
            change.commit,
            change.since.major,
            change.since.minor,
            anchor(super::kernels::TITLE)
        )
    } else if no_evidence {
        page.unsupported
            .push(format!("{id}: no evidence in this run"));
        format!("{UNSUPPORTED} no run of this book gave evidence for this rule. ")
    } else {
        String::new()
    };
    let why = why_the_rst(counts);
    let _ = writeln!(
        page.md,
        "{why}**Evidence.** {verdict}On Linux `{}`, {}: {canonical_verdict}. Runs of this book \
         that exercised the rule (steps before any disagreement): {} of {}, {} of them among \
         the {} random runs ({} steps). Disagreements in runs that exercised it: {}.{extra}\n",
        stamp.kernel,
        stamp.date,
        counts.runs.total(),
        ev.tallies.total_runs(),
        counts.runs.get(&Kind::Random),
        ev.tallies.runs.get(&Kind::Random),
        counts.random_steps,
        counts.disagreements
    );
}

/// For a rule that sends an RST: the reason the oracle gives it and how often the kernel stated
/// each reason in the book's agreeing runs (its `tcp/tcp_send_reset` event), as a paragraph;
/// empty for the others.
fn why_the_rst(counts: &crate::book::tally::RuleCounts) -> String {
    let predicted: Vec<&String> = counts.reasons_predicted.keys().collect();
    if predicted.is_empty() {
        return String::new();
    }
    let named: Vec<String> = predicted
        .iter()
        .map(|p| {
            let first = p.split(' ').next().unwrap_or(p);
            let function = crate::reasons::REASONS
                .iter()
                .find(|r| r.name == first)
                .map_or(String::new(), |r| format!(" (`{}`)", r.function));
            let stated = counts.reasons_stated.get(p);
            let kernel = if stated == 0 {
                String::new()
            } else if p.contains(" or ") {
                format!(", the kernel stating one of the two for {stated} of them")
            } else {
                format!(", the kernel stating it for {stated} of them")
            };
            format!(
                "`{p}`{function} for {} of its RSTs{kernel}",
                counts.reasons_predicted.get(p)
            )
        })
        .collect();
    let kernel = if counts.reasons_stated.total() == 0 {
        " This kernel's reasons were not recorded in this book's runs (they need root and Linux \
         6.12 or later)."
    } else {
        ""
    };
    format!(
        "**Why the RST.** In this book's agreeing runs the oracle gave {}.{kernel}\n\n",
        named.join("; ")
    )
}
