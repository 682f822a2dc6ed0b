//! `rstlab explore` as a tool reads it: the `--json` summary's schema, the same scenarios for
//! the same seed whatever `--jobs`, and no progress output when standard error is not a terminal.

use std::process::{Command, Output};

use serde_json::Value;

fn explore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .arg("explore")
        .args(args)
        .output()
        .expect("rstlab runs")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}):\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

#[test]
fn json_summary_has_the_documented_fields_and_no_progress_is_shown_in_a_pipe() {
    let o = explore(&["--cases", "300", "--seed", "9", "--jobs", "2", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    // Standard error is a pipe here: no progress bar, nothing at all.
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(v["cases"], 300);
    assert_eq!(v["jobs"], 2);
    assert_eq!(v["agreements"], 300);
    assert_eq!(v["disagreement_count"], 0);
    assert_eq!(v["disagreements"], Value::Array(vec![]));
    assert!(v["seconds"].as_f64().unwrap() > 0.0);
    assert!(v["cases_per_second"].as_f64().unwrap() > 0.0);
    let rules = v["rules"].as_object().unwrap();
    assert!(rules["write-after-peer-close-succeeds"].as_u64().unwrap() > 0);
    let outcomes = v["outcomes"].as_object().unwrap();
    assert!(
        outcomes.keys().any(|k| k == "write => EPIPE"),
        "{outcomes:?}"
    );
    let steps: u64 = outcomes.values().map(|n| n.as_u64().unwrap()).sum();
    assert!(steps >= 300, "{steps}");
}

#[test]
fn the_same_seed_gives_the_same_cases_whatever_the_jobs() {
    let run = |jobs: &str| {
        json(&explore(&[
            "--cases", "200", "--seed", "77", "--jobs", jobs, "--json",
        ]))
    };
    let (one, three) = (run("1"), run("3"));
    assert_eq!(one["fingerprint"], three["fingerprint"]);
    assert_eq!(one["outcomes"], three["outcomes"]);
    assert_eq!(one["rules"], three["rules"]);
}

#[test]
fn time_limits_a_run_without_a_case_count() {
    let o = explore(&["--time", "300ms", "--seed", "1", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    let seconds = v["seconds"].as_f64().unwrap();
    assert!((0.3..5.0).contains(&seconds), "{seconds}");
    assert!(v["cases"].as_u64().unwrap() > 0);
}
