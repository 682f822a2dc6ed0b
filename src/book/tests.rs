//! What the book draws from its evidence, without sockets: the evidence is gathered as the book
//! gathers it, through the lab, on a bench where the kernel does exactly what the oracle says.

use crate::backend::Backend;
use crate::check;
use crate::check::verify::Verified;
use crate::net::Net;
use crate::oracle;
use crate::outcome::Outcome;
use crate::scenario::Scenario;
use crate::sigpipe::{Api, Disposition, Ending, Probe, ProbeReport};

use super::catalogue::{catalogue, catalogue_in, mask_volatile};
use super::evidence::{Evidence, gather};
use super::lab::{Bench, Lab};
use super::options::{BookError, BookOptions};
use super::run::Kind;
use super::sections::{SECTIONS, Stored, diagram_run};
use super::tally::{Call, RuleCounts};
use crate::rules::Rule;
use crate::stamp::Stamp;

/// A kernel that does exactly what the oracle predicts for the network asked.
struct AsPredicted;

impl Bench for AsPredicted {
    fn verify(
        &mut self,
        scenario: &Scenario,
        backend: Backend,
        net: Net,
    ) -> Result<Verified, BookError> {
        let prediction = oracle::predict(
            scenario,
            &oracle::Settings {
                backend,
                net: Some(net),
                ..oracle::Settings::default()
            },
        );
        // A loopback trace even for the link: it has no wire, so the check compares outcomes
        // and states, which are as predicted.
        let trace = crate::check::predicted_trace(&prediction, backend);
        let disagreement = check::check(scenario, &prediction, &trace);
        Ok(Verified {
            prediction,
            trace,
            disagreement,
        })
    }
}

/// What a SIGPIPE child prints and how it ends, as the book's conclusion has it: only
/// `write(2)` with the default disposition dies, of its EPIPE write.
fn probe_as_expected(probe: Probe) -> ProbeReport {
    let killed = probe.api == Api::Plain && probe.disposition == Disposition::Default;
    let writes: &[&str] = match (killed, probe.peer) {
        (true, Ending::Close) => &["ok(1)"],
        (true, Ending::Abort) => &["ECONNRESET"],
        (false, _) => &["ok(1)", "EPIPE"],
    };
    let mut lines = vec!["SIGPIPE at start: SIG_IGN".to_string()];
    lines.extend(
        writes
            .iter()
            .enumerate()
            .map(|(n, w)| format!("write {}: {w}", n + 1)),
    );
    ProbeReport {
        probe,
        lines,
        code: (!killed).then_some(0),
        signal: killed.then_some(libc::SIGPIPE),
    }
}

/// The options of the fixture's book: a few random scenarios.
fn options() -> BookOptions {
    BookOptions {
        cases: 15,
        ..BookOptions::default()
    }
}

/// The evidence of a book run on a kernel that does what the oracle says.
fn evidence() -> Evidence {
    let mut ev = gather(&options(), Lab::new(AsPredicted)).unwrap();
    ev.probes = Probe::BOOK.into_iter().map(probe_as_expected).collect();
    ev
}

fn stamp() -> Stamp {
    Stamp {
        kernel: "6.0-test".to_string(),
        date: "2026-01-01".to_string(),
    }
}

fn render_of(ev: &Evidence) -> (String, Vec<String>) {
    let stored = Stored::read(&BookOptions {
        kernels_dir: "/nonexistent".into(),
        simulators_dir: "/nonexistent".into(),
        runtimes_file: "/nonexistent".into(),
        ..options()
    })
    .unwrap();
    let (md, unsupported, _) = super::render(&options(), ev, &stamp(), &stored);
    (md, unsupported)
}

#[test]
fn catalogue_in_reads_back_what_render_writes() {
    let (md, unsupported) = render_of(&evidence());
    assert_eq!(catalogue_in(&md), catalogue());
    assert_eq!(unsupported, Vec::<String>::new());
    assert!(!md.contains("Unsupported"), "{md}");
    assert!(md.contains("In one line: **the first call after an RST reports it**"));
    assert!(md.contains("How to read it: a write succeeds"));
    assert!(md.contains("The child found `SIG_IGN` at start"));
    assert!(catalogue_in("no rules").is_empty());
}

#[test]
fn the_contents_list_every_section_once_in_order_and_each_link_has_its_heading() {
    let (md, _) = render_of(&evidence());
    let contents: Vec<&str> = md
        .split("Contents:\n\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("- ["))
        .collect();
    let headings: Vec<&str> = md.lines().filter_map(|l| l.strip_prefix("## ")).collect();
    let titles: Vec<&str> = SECTIONS.iter().map(|s| s.title).collect();
    assert_eq!(headings, titles);
    assert_eq!(contents.len(), titles.len());
    // Every `(#anchor)` in the book names a heading: a section renamed in the list cannot
    // leave a link to its old name.
    let mut anchors: Vec<String> = md
        .lines()
        .filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### ")))
        .map(super::page::anchor)
        .collect();
    anchors.sort();
    for link in md.split("](#").skip(1) {
        let target = &link[..link.find(')').unwrap()];
        assert!(
            anchors.binary_search(&target.to_string()).is_ok(),
            "a link to #{target}, which no heading has"
        );
    }
}

#[test]
fn the_header_and_every_evidence_line_count_the_same_runs() {
    let ev = evidence();
    let (md, _) = render_of(&ev);
    let total = ev.tallies.total_runs();
    // Every kind ran, and the kinds add up to the total.
    for kind in Kind::ALL {
        assert!(ev.tallies.runs.get(&kind) > 0, "no {kind} runs");
    }
    let random = ev.tallies.runs.get(&Kind::Random);
    assert_eq!(random, options().cases * 4, "every backend and network");
    // Each question's scenario on both backends, but those that need the kernel's own
    // timers: they run in the lane only.
    let here = ev
        .questions
        .iter()
        .filter(|(_, shown)| !shown.is_empty())
        .count();
    assert!(here < ev.questions.len());
    assert_eq!(ev.tallies.runs.get(&Kind::Question), 2 * here as u64);
    let header = md.lines().find(|l| l.starts_with("Generated by")).unwrap();
    assert!(
        header.contains(&format!(
            ", from {total} runs on real sockets, each counted once: "
        )),
        "{header}"
    );
    assert!(
        header.contains(&format!(
            "{random} random runs (15 random scenarios on each backend and network, seed 0)"
        )),
        "{header}"
    );
    let mut listed = 0;
    for kind in Kind::ALL {
        let n = ev.tallies.runs.get(&kind);
        assert!(
            header.contains(&format!("{n} {kind} runs (")),
            "{kind}: {header}"
        );
        listed += n;
    }
    assert_eq!(listed, total);
    for (rule, counts) in &ev.tallies.rules {
        // A rule of the kernel's own timers has its evidence in the lane's surveys.
        let in_lane = ev
            .canonical
            .iter()
            .any(|c| c.rule == *rule && c.runs.is_empty());
        if in_lane {
            assert_eq!(counts.runs.total(), 0, "{}", rule.id());
            continue;
        }
        let line = md
            .split(&format!("\n### {}\n", rule.id()))
            .nth(1)
            .and_then(|s| s.lines().find(|l| l.starts_with("**Evidence.**")))
            .unwrap();
        let stated = format!(
            "{} of {total}, {} of them among the {random} random runs",
            counts.runs.total(),
            counts.runs.get(&Kind::Random)
        );
        assert!(line.contains(&stated), "{line}\nshould say {stated}");
        assert!(counts.runs.total() <= total);
    }
}

#[test]
fn a_claim_the_counts_contradict_is_printed_unsupported() {
    let mut ev = evidence();
    // One write after an RST that came before any FIN returned EPIPE: the claim that such a
    // write fails with ECONNRESET no longer holds, nor does the one-line summary.
    ev.tallies
        .calls
        .rows
        .entry(Call::WriteRstFirst)
        .or_default()
        .add("EPIPE".into(), 1);
    let (md, unsupported) = render_of(&ev);
    assert!(
        md.contains("- **Unsupported by this run's evidence:** **The first write after an RST"),
        "{md}"
    );
    assert!(
        md.contains("In one line: **Unsupported by this run's evidence:**"),
        "{md}"
    );
    assert_eq!(unsupported.len(), 1, "{unsupported:?}");

    // No evidence at all for a claim: unsupported too, not "0 of 0".
    let mut ev = evidence();
    ev.tallies.calls.rows.remove(&Call::WriteFinFirst);
    let (md, unsupported) = render_of(&ev);
    assert!(
        md.contains("- **Unsupported by this run's evidence:** **The seed's case**"),
        "{md}"
    );
    assert!(unsupported[0].contains("0 of 0"), "{unsupported:?}");
}

#[test]
fn a_rule_without_evidence_is_printed_unsupported() {
    let mut ev = evidence();
    ev.tallies
        .rules
        .insert(Rule::AbortSendsRst, RuleCounts::default());
    let (md, unsupported) = render_of(&ev);
    assert_eq!(unsupported, ["abort-sends-rst: no evidence in this run"]);
    let section = md.split("### abort-sends-rst\n").nth(1).unwrap();
    assert!(
        section.contains("**Evidence.** **Unsupported by this run's evidence:** no run"),
        "{section}"
    );
    // The SIGPIPE rule stands on the experiment: without it, it has no evidence either.
    let mut ev = evidence();
    ev.probes.clear();
    let (_, unsupported) = render_of(&ev);
    assert_eq!(
        unsupported,
        ["write-epipe-raises-sigpipe: no evidence in this run"]
    );
}

#[test]
fn the_summary_and_sigpipe_conclusions_follow_their_evidence() {
    let mut ev = evidence();
    let aborted = ev
        .situations
        .iter_mut()
        .find(|s| s.situation.steps == "server abort")
        .unwrap();
    aborted.read[0].trace.steps.last_mut().unwrap().outcome = Outcome::Eof;
    let (md, unsupported) = render_of(&ev);
    assert!(
        md.contains("How to read it: **Unsupported by this run's evidence:**"),
        "{md}"
    );
    assert!(
        md.contains("`server abort; client read 10` on std: eof, not ECONNRESET"),
        "{md}"
    );
    assert_eq!(unsupported.len(), 1, "{unsupported:?}");

    let mut ev = evidence();
    ev.probes[0].signal = None;
    ev.probes[0].code = Some(0);
    let (md, unsupported) = render_of(&ev);
    assert!(!md.contains("The child found `SIG_IGN` at start"), "{md}");
    assert!(unsupported[0].starts_with("SIGPIPE: "), "{unsupported:?}");
}

#[test]
fn every_disagreement_is_listed_whatever_its_kind() {
    // A bench on which every question's last step goes otherwise than predicted.
    struct QuestionsDisagree;
    impl Bench for QuestionsDisagree {
        fn verify(
            &mut self,
            scenario: &Scenario,
            backend: Backend,
            net: Net,
        ) -> Result<Verified, BookError> {
            let mut v = AsPredicted.verify(scenario, backend, net)?;
            let is_question = crate::questions::QUESTIONS
                .iter()
                .flat_map(|q| q.scenarios().unwrap())
                .any(|s| s == *scenario);
            if is_question {
                v.trace.steps.last_mut().unwrap().outcome = Outcome::Ok;
                v.disagreement = check::check(scenario, &v.prediction, &v.trace);
            }
            Ok(v)
        }
    }
    let ev = gather(&options(), Lab::new(QuestionsDisagree)).unwrap();
    let questions = ev.tallies.runs.get(&Kind::Question);
    let (md, _) = render_of(&ev);
    let section = md.split("\n## Disagreements\n").nth(1).unwrap();
    assert_eq!(
        section.matches("\n- question run on ").count() as u64,
        questions,
        "{section}"
    );
    // A question's scenario run as another kind (a canonical scenario asked again) disagrees
    // too, and is listed under its own kind.
    assert_eq!(
        section.matches("\n- ").count(),
        ev.tallies.disagreements.len(),
        "{section}"
    );
    assert!(!section.contains("None:"), "{section}");
}

#[test]
#[should_panic(expected = "no run on the tokio backend to draw")]
fn a_diagram_without_its_backends_run_is_a_panic_not_another_run() {
    let scenario = Rule::TokioShutdownHidesEnotconn.scenario().clone();
    let run = Lab::new(AsPredicted)
        .run(Kind::Canonical, &scenario, Backend::Std)
        .unwrap();
    diagram_run(Rule::TokioShutdownHidesEnotconn, &[run]);
}

#[test]
fn the_mask_keeps_every_count() {
    let (md, _) = render_of(&evidence());
    let other = Stamp {
        kernel: "6.18.44-other".to_string(),
        date: "2027-12-31".to_string(),
    };
    let (again, _, _) = super::render(
        &options(),
        &evidence(),
        &other,
        &Stored::read(&BookOptions {
            kernels_dir: "/nonexistent".into(),
            simulators_dir: "/nonexistent".into(),
            runtimes_file: "/nonexistent".into(),
            ..options()
        })
        .unwrap(),
    );
    assert_ne!(md, again);
    assert_eq!(mask_volatile(&md), mask_volatile(&again));
    // One count changed is a different book under the mask.
    let changed = md.replacen("| `ok(1)` |", "| `ok(2)` |", 1);
    assert_ne!(changed, md);
    assert_ne!(mask_volatile(&changed), mask_volatile(&md));
}
