//! Simulators judged against Linux (`rstlab sim`, `rstlab::sim`): the known divergences pinned,
//! so that a simulator release that fixes one fails here and says so; the stored reports
//! (`docs/simulators/*.json`) held to what the simulators and the kernel answer; the chapter
//! rendered from them; the command's JSON.
//!
//! The simulators run in-process (no network); the test that checks the divergences' scenarios on
//! the real kernel uses loopback sockets, as every scenario test does.

use std::path::Path;
use std::process::Command;

use rstlab::run::{Backend, Runner};
use rstlab::scenario::Scenario;
use rstlab::sim::known::{KNOWN, Known};
use rstlab::sim::{self, Report, Simulator, SurveyOptions, Verdict};

const REPORTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/simulators");

fn simulator(name: &str) -> Box<dyn Simulator> {
    sim::by_name(name).unwrap_or_else(|| panic!("no simulator {name}"))
}

fn stored(name: &str) -> Report {
    let path = Path::new(REPORTS).join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs a known divergence's scenario and checks that the simulator still diverges there, as
/// listed; when it no longer does, the failure says what changed. Returns what Linux (the
/// oracle) and the simulator answered at the last step, as run now.
fn still_diverges(known: &Known) -> (String, String) {
    let scenario: Scenario = known.scenario.parse().expect("a known scenario parses");
    let mut sim = simulator(known.simulator);
    let compared = sim::compare(&mut *sim, &scenario).expect("the scenario is compared");
    let last = scenario.steps().len() - 1;
    let linux = &compared.prediction.steps[last].outcome;
    match &compared.verdicts[last] {
        Verdict::Agree => panic!(
            "{} {} now agrees with Linux on `{}` (step {} of `{}`: {linux}): remove this from the \
             known divergences (src/sim/known.rs) and regenerate docs/simulators/{}.json",
            known.simulator,
            sim.version(),
            known.rules,
            last + 1,
            known.scenario,
            known.simulator
        ),
        Verdict::Diverge => {
            let found = sim::signature(&scenario, &compared).expect("a divergence has a signature");
            assert_eq!(
                found,
                known.signature(),
                "{} diverges on `{}` otherwise than listed: update src/sim/known.rs",
                known.simulator,
                known.scenario
            );
            let observed = compared.observed[last]
                .as_ref()
                .expect("a diverging step ran");
            (linux.to_string(), observed.outcome.to_string())
        }
        other => panic!(
            "{}: the last step of `{}` is no longer compared ({other:?}): an earlier step changed",
            known.simulator, known.scenario
        ),
    }
}

fn known(simulator: &str, rules: &str, sim_answer: &str) -> &'static Known {
    KNOWN
        .iter()
        .find(|k| k.simulator == simulator && k.rules == rules && k.sim == sim_answer)
        .unwrap_or_else(|| panic!("no known divergence {simulator} {rules} {sim_answer}"))
}

#[test]
fn sim_turmoil_first_write_after_reset_is_broken_pipe_where_linux_says_econnreset() {
    let k = known("turmoil", "pending-error-reported-once", "EPIPE");
    assert_eq!(still_diverges(k), ("ECONNRESET".into(), "EPIPE".into()));
}

#[test]
fn sim_turmoil_read_after_reset_fails_for_ever_where_linux_returns_eof() {
    let k = known("turmoil", "read-after-reset-returns-eof", "ECONNRESET");
    assert_eq!(still_diverges(k), ("eof".into(), "ECONNRESET".into()));
}

#[test]
fn sim_turmoil_read_returns_one_write_where_linux_returns_every_queued_byte() {
    let k = known("turmoil", "read-takes-queued", "ok(N)");
    assert_eq!(still_diverges(k), ("ok(2)".into(), "ok(1)".into()));
}

#[test]
fn sim_turmoil_net_reset_is_permanent_where_linux_gives_epipe_once_reported() {
    let k = known(
        "turmoil-net",
        "write-on-closed-connection-fails-epipe",
        "ECONNRESET",
    );
    assert_eq!(still_diverges(k), ("EPIPE".into(), "ECONNRESET".into()));
    still_diverges(known(
        "turmoil-net",
        "read-after-reset-returns-eof",
        "ECONNRESET",
    ));
}

#[test]
fn sim_turmoil_net_closed_peer_never_resets_so_the_seed_article_never_fails() {
    let k = known("turmoil-net", "pending-error-reported-once", "ok(N)");
    let (linux, simulator) = still_diverges(k);
    assert_eq!(linux, "EPIPE");
    assert!(simulator.starts_with("ok("), "{simulator}");
}

#[test]
fn every_known_divergence_still_diverges_as_listed() {
    for k in KNOWN {
        still_diverges(k);
    }
}

/// SO_LINGER: no call in either simulator's API makes a close reset, so `abort` is reported as
/// not modelled, with the reason, and the steps after it are not compared.
#[test]
fn abort_is_not_modelled_and_stops_the_comparison() {
    let scenario: Scenario = "client write 1; server abort; client write 1"
        .parse()
        .unwrap();
    for name in sim::NAMES {
        let mut sim = simulator(name);
        let compared = sim::compare(&mut *sim, &scenario).unwrap();
        assert_eq!(compared.verdicts[0], Verdict::Agree, "{name}");
        match &compared.verdicts[1] {
            Verdict::Unmodelled(why) => assert!(why.contains("SO_LINGER"), "{name}: {why}"),
            other => panic!("{name}: abort is {other:?}"),
        }
        assert_eq!(compared.verdicts[2], Verdict::NotCompared, "{name}");
    }
}

/// `poll` changes nothing on Linux: it is not modelled, and the steps after it still compare.
#[test]
fn poll_is_not_modelled_and_the_comparison_goes_on() {
    let scenario: Scenario = "client write 1; server poll; server read 1"
        .parse()
        .unwrap();
    for name in sim::NAMES {
        let mut sim = simulator(name);
        let compared = sim::compare(&mut *sim, &scenario).unwrap();
        assert!(
            matches!(compared.verdicts[1], Verdict::Unmodelled(_)),
            "{name}"
        );
        assert_eq!(compared.verdicts[2], Verdict::Agree, "{name}");
    }
}

#[test]
fn link_steps_are_refused() {
    let scenario: Scenario = "link delay 10ms; client write 1".parse().unwrap();
    for name in sim::NAMES {
        let err = sim::compare(&mut *simulator(name), &scenario).unwrap_err();
        assert!(err.to_string().contains("out of scope"), "{name}: {err}");
    }
}

/// The stored reports list every known divergence, and nothing unknown: a new one must be
/// looked at and listed (or the simulator fixed) before the report is stored.
#[test]
fn stored_reports_list_the_known_divergences_and_only_those() {
    for name in sim::NAMES {
        let report = stored(name);
        assert_eq!(report.schema, sim::SCHEMA);
        assert_eq!(report.simulator, name);
        assert_eq!(
            report.version,
            simulator(name).version(),
            "{name}: regenerate the report"
        );
        for k in KNOWN.iter().filter(|k| k.simulator == name) {
            assert!(
                report
                    .divergences
                    .iter()
                    .any(|d| d.known.as_deref() == Some(k.note)),
                "docs/simulators/{name}.json lacks the known divergence `{}` ({} where Linux says {})",
                k.scenario,
                k.sim,
                k.linux
            );
        }
        for d in &report.divergences {
            assert!(
                d.known.is_some(),
                "docs/simulators/{name}.json: a divergence not in src/sim/known.rs: {}",
                d.inline
            );
        }
        assert!(
            report.steps_compared > 1000,
            "{name}: {}",
            report.steps_compared
        );
        assert_eq!(
            report.steps_compared,
            report.agreements + report.divergent_scenarios,
            "{name}"
        );
    }
}

/// Each stored divergence's scenario is runnable by `rstlab run`, and the oracle, for the
/// simulator's API, gives the `linux` answer listed at the diverging step.
#[test]
fn each_stored_divergence_scenario_gives_the_linux_answer_under_the_oracle() {
    for name in sim::NAMES {
        let sim = simulator(name);
        for d in stored(name).divergences {
            let scenario: Scenario = d
                .scenario
                .parse()
                .unwrap_or_else(|e| panic!("{name}: `{}`: {e}", d.scenario));
            assert_eq!(scenario.without_expectations().to_inline(), d.inline);
            let step = &scenario.steps()[d.step - 1];
            assert_eq!(
                step.expect.as_ref().map(ToString::to_string).as_deref(),
                Some(d.linux.as_str()),
                "{name}: `{}`",
                d.scenario
            );
            let prediction = sim::linux(&*sim, &scenario);
            assert!(prediction.beyond.is_none());
            assert_eq!(
                prediction.steps[d.step - 1].outcome.to_string(),
                d.linux,
                "{name}: `{}`",
                d.inline
            );
            let rules: Vec<&str> = prediction.steps[d.step - 1]
                .rules
                .iter()
                .map(|r| r.id())
                .collect();
            assert_eq!(rules, d.rules, "{name}: `{}`", d.inline);
        }
    }
}

/// The "done when": each divergence's scenario, run on the real kernel (loopback,
/// through tokio, the API both simulators mirror), answers as the oracle says, `=> linux`
/// included.
#[test]
fn each_stored_divergence_scenario_is_answered_by_the_real_kernel_as_listed() {
    let mut runner = Runner::new(Backend::Tokio).expect("a loopback runner");
    for name in sim::NAMES {
        for d in stored(name).divergences {
            let scenario: Scenario = d.scenario.parse().unwrap();
            let verified = rstlab::check::verify::verify(&mut runner, &scenario)
                .unwrap_or_else(|e| panic!("{name}: `{}`: {e}", d.inline));
            assert!(
                verified.disagreement.is_none(),
                "{name}: `{}`: {:?}",
                d.inline,
                verified.disagreement
            );
            assert_eq!(
                verified.trace.steps[d.step - 1].outcome.to_string(),
                d.linux,
                "{name}: `{}`",
                d.inline
            );
        }
    }
}

/// The stored turmoil-net report is what the survey gives now (it takes about a second):
/// the same divergences, scenarios and counts. When a simulator, the generator or the oracle
/// changes, regenerate with the command in the message.
#[test]
fn the_stored_turmoil_net_report_is_current() {
    let report = stored("turmoil-net");
    let options = SurveyOptions {
        cases: report.cases,
        seed: report.seed,
        canonical: true,
        ..SurveyOptions::default()
    };
    let now = sim::survey(&mut *simulator("turmoil-net"), &options, |_| {});
    let fresh = Report {
        kernel: report.kernel.clone(),
        ..now
    };
    assert!(
        fresh == report,
        "docs/simulators/turmoil-net.json is out of date: rstlab sim turmoil-net --cases {} --seed {} \
         --out docs/simulators/turmoil-net.json",
        report.cases,
        report.seed
    );
}

#[test]
fn the_chapter_renders_from_the_stored_reports() {
    let chapter = sim::chapter(Path::new(REPORTS)).expect("the reports load");
    assert!(chapter.starts_with("## Simulators\n"), "{chapter}");
    for name in sim::NAMES {
        let report = stored(name);
        assert!(
            chapter.contains(&format!("\n### {} {}\n", name, report.version)),
            "{chapter}"
        );
        for d in &report.divergences {
            let row = chapter
                .lines()
                .find(|l| {
                    l.contains(&format!(
                        "`{}` (step {}",
                        d.inline.replace('|', "\\|"),
                        d.step
                    ))
                })
                .unwrap_or_else(|| panic!("{name}: no row for `{}`:\n{chapter}", d.inline));
            assert!(row.contains("known: "), "{row}");
            assert!(row.contains(&d.linux), "{row}");
        }
        for op in report.unmodelled_ops.keys() {
            assert!(chapter.contains(&format!("| `{op}` |")), "{op}:\n{chapter}");
        }
    }
    // Known differences are marked, new ones too: never hidden.
    let mut report = stored("turmoil");
    report.divergences[0].known = None;
    assert!(sim::render(&[report]).contains("**new**"));
}

/// The chapter's wording: a count of 1 in the singular, the simulator's detail only where it
/// says more than its answer, and a blank line at the end, so that the book's next heading is
/// not glued to the last table.
#[test]
fn the_chapter_says_one_in_the_singular_each_answer_once_and_ends_with_a_blank_line() {
    let reports: Vec<Report> = sim::NAMES.iter().map(|n| stored(n)).collect();
    let body = sim::chapter_body(&reports);
    assert!(body.ends_with("|\n\n"), "{body}");
    for report in &reports {
        for d in &report.divergences {
            let answer = d.simulator.replace('|', "\\|");
            assert!(
                !body.contains(&format!("| {answer} ({answer}) |")),
                "the answer {answer} repeated as its own detail:\n{body}"
            );
        }
    }
    // A detail that adds something is kept.
    let mut report = stored("turmoil");
    report.divergences.truncate(1);
    let d = &mut report.divergences[0];
    d.simulator = "EPIPE".to_string();
    d.simulator_detail = "BrokenPipe: connection closed".to_string();
    let one = sim::chapter_body(&[report.clone()]);
    assert!(
        one.contains("| EPIPE (BrokenPipe: connection closed) |"),
        "{one}"
    );
    assert!(one.contains(", in 1 distinct way;"), "{one}");
    // Counts of 1 throughout.
    report.scenarios = 1;
    report.steps_compared = 1;
    report.agreements = 1;
    report.divergent_scenarios = 1;
    report.unmodelled = 1;
    let one = sim::chapter_body(&[report]);
    assert!(
        one.contains("1 scenario compared (")
            && one.contains("1 step compared, 1 agrees; 1 scenario diverges, in 1 distinct way; 1 step not modelled"),
        "{one}"
    );
}

/// `--cases 0` is meaningful for `sim` (the canonical scenarios still run), so it is kept, and
/// said so in `--help` and the README (the exit table's `--cases 0` is `explore`'s).
#[test]
fn sim_cases_0_runs_the_canonical_scenarios_alone_and_says_so() {
    let out = rstlab(&["sim", "turmoil", "--cases", "0", "--json"]);
    assert!(matches!(out.status.code(), Some(0 | 4)), "{out:?}");
    let report: Report = serde_json::from_slice(&out.stdout).expect("a report");
    assert_eq!(report.cases, 0);
    assert!(report.canonical > 0, "{report:?}");
    assert_eq!(report.scenarios, report.canonical);
    let help = String::from_utf8(rstlab(&["sim", "--help"]).stdout).unwrap();
    assert!(
        help.contains(
            "`--cases 0` is allowed here (unlike `explore`): the canonical scenarios alone"
        ),
        "{help}"
    );
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/guide/simulators.md"
    ))
    .unwrap();
    assert!(
        readme.contains("`--cases 0`, which\n  `explore` refuses, is allowed here: the canonical scenarios alone"),
        "the guide's sim page says what --cases 0 does"
    );
}

fn rstlab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(args)
        .output()
        .expect("rstlab runs")
}

/// `--json` prints exactly one JSON object, the report; a divergence exits with status 4.
#[test]
fn sim_json_is_one_object_with_the_divergences_and_the_counts() {
    let out = rstlab(&["sim", "turmoil", "--cases", "20", "--seed", "3", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut objects = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
    let value = objects.next().expect("one object").expect("valid JSON");
    assert!(
        objects.next().is_none(),
        "more than one JSON value:\n{text}"
    );
    for key in [
        "cases",
        "steps_compared",
        "agreements",
        "unmodelled",
        "divergences",
    ] {
        assert!(value.get(key).is_some(), "no `{key}` in {value}");
    }
    assert_eq!(value["cases"], 20);
    let divergences = value["divergences"].as_array().unwrap();
    assert!(!divergences.is_empty());
    for d in divergences {
        for key in ["scenario", "rule", "linux", "simulator"] {
            assert!(d[key].is_string(), "no `{key}` in {d}");
        }
    }
    let report: Report = serde_json::from_str(&text).expect("a report");
    assert_eq!(report.divergences.len(), divergences.len());
}

#[test]
fn sim_one_scenario_shows_each_step_and_bad_input_is_refused() {
    let out = rstlab(&[
        "sim",
        "turmoil",
        "--scenario",
        "client write 1; server close; client write 1",
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("ECONNRESET") && text.contains("EPIPE"),
        "{text}"
    );

    let out = rstlab(&["sim", "turmoil", "--scenario", "link hold; client write 1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("out of scope"), "{err}");

    let out = rstlab(&["sim", "ns-3"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
