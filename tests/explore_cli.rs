//! `rstlab explore` as a tool reads it: the `--json` summary's schema, the same scenarios for
//! the same seed whatever `--jobs`, no progress output when standard error is not a terminal,
//! and Ctrl-C.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use rustix::process::Signal;
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
    // Standard error is a pipe here: no progress bar, only the seed line.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        stderr,
        "exploring 300 cases with seed 9 (2 jobs, std backend; `--seed 9` repeats it)\n"
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

/// `--timers` draws the steps that weigh 0 in the ops table (reboots, cuts and restores,
/// `set`): every one is exercised, the kernel agrees, a seed repeats, and the cases without
/// the flag stay what they were.
#[test]
fn timers_draw_the_timer_steps_and_leave_the_plain_cases_alone() {
    let net = if common::link_available_for("the timer steps of the link") {
        "both"
    } else {
        "loopback"
    };
    let args = ["--cases", "600", "--seed", "5", "--net", net, "--json"];
    let timers = explore(&[&args[..], &["--timers"]].concat());
    assert_eq!(
        timers.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&timers.stdout)
    );
    assert!(
        String::from_utf8_lossy(&timers.stderr).contains("`--seed 5 --timers` repeats it"),
        "{}",
        String::from_utf8_lossy(&timers.stderr)
    );
    let t = json(&timers);
    assert_eq!(t["timers"], true);
    assert_eq!(t["agreements"], 600);
    let rules = t["rules"].as_object().unwrap();
    let mut drawn = vec!["timer-options-send-nothing"];
    if net == "both" {
        drawn.extend(["reboot-forgets-the-connection", "cut-loses-segments"]);
    }
    for rule in drawn {
        assert!(rules[rule].as_u64().unwrap() > 0, "{rule}: {rules:?}");
    }
    let again = json(&explore(
        &[&args[..], &["--timers", "--jobs", "1"]].concat(),
    ));
    assert_eq!(again["fingerprint"], t["fingerprint"]);
    let plain = json(&explore(&args));
    assert_ne!(plain["fingerprint"], t["fingerprint"]);
    assert!(plain.get("timers").is_none(), "{plain}");
    assert_eq!(plain["rules"]["timer-options-send-nothing"], 0);
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

/// Starts `rstlab explore --cases 1000000 …`, waits for its first line (on standard output, or
/// on standard error with `--json`), sends SIGINT, and returns that line and how it ended.
fn interrupt_explore(json: bool) -> (String, Output) {
    stop_explore(json, Signal::INT)
}

/// As [`interrupt_explore`], with `signal`.
fn stop_explore(json: bool, signal: Signal) -> (String, Output) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rstlab"));
    command
        .args([
            "explore", "--cases", "1000000", "--seed", "3", "--jobs", "2",
        ])
        .args(json.then_some("--json"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // `cargo test` may itself run with SIGINT ignored (started in the background by a shell),
    // and children inherit that: give the child the default, as a terminal would.
    rstlab::sys::default_sigint_in_child(&mut command);
    let mut child = command.spawn().expect("rstlab starts");
    let (first_pipe, other_pipe): (Box<dyn Read + Send>, Box<dyn Read + Send>) = if json {
        (
            Box::new(child.stderr.take().unwrap()),
            Box::new(child.stdout.take().unwrap()),
        )
    } else {
        (
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        )
    };
    // Readers on threads, so that every wait below is bounded.
    let (first_line, got_line) = mpsc::channel();
    let first_reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(first_pipe);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = first_line.send(line.clone());
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        (line, rest)
    });
    let other_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(other_pipe).read_to_string(&mut text);
        text
    });
    let line = got_line.recv_timeout(Duration::from_secs(30));
    if line.is_err() {
        let _ = child.kill();
        panic!("no first line within 30 s");
    }
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, signal).expect("signal sent");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("explore still running 30 s after {signal:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (line, rest) = first_reader.join().unwrap();
    let other = other_reader.join().unwrap();
    let (stdout, stderr) = if json {
        (other, line.clone() + &rest)
    } else {
        (line.clone() + &rest, other)
    };
    (
        line,
        Output {
            status,
            stdout: stdout.into_bytes(),
            stderr: stderr.into_bytes(),
        },
    )
}

#[test]
fn ctrl_c_stops_the_workers_prints_what_ran_and_exits_130() {
    let (first, o) = interrupt_explore(false);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        first.starts_with("exploring 1000000 cases with seed 3 "),
        "{first}"
    );
    let cases: u64 = out
        .split("interrupted by Ctrl-C after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no interruption line in:\n{out}"));
    assert!(cases < 1_000_000, "{cases}");
    assert!(out.contains(&format!("explored {cases} cases")), "{out}");
    assert!(out.contains("disagreements: 0"), "{out}");
}

#[test]
fn ctrl_c_with_json_prints_the_json_summary_marked_interrupted() {
    let (first, o) = interrupt_explore(true);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        first.starts_with("exploring 1000000 cases with seed 3 "),
        "{first}"
    );
    let v = json(&o);
    assert_eq!(v["interrupted"], true);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["seed"], 3);
    let cases = v["cases"].as_u64().unwrap();
    assert!(cases < 1_000_000, "{cases}");
    assert_eq!(v["agreements"].as_u64().unwrap(), cases);
}

/// A CI job's `timeout` sends SIGTERM: the run ends as on Ctrl-C, its JSON printed, with the
/// status a shell gives SIGTERM.
#[test]
fn sigterm_with_json_prints_the_json_summary_and_exits_143() {
    let (_, o) = stop_explore(true, Signal::TERM);
    assert_eq!(
        o.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(v["interrupted"], true);
    let cases = v["cases"].as_u64().unwrap();
    assert!(cases < 1_000_000, "{cases}");
    assert_eq!(v["agreements"].as_u64().unwrap(), cases);
}

#[test]
fn sigterm_and_sighup_print_the_summary_naming_the_signal() {
    for (signal, name, code) in [(Signal::TERM, "SIGTERM", 143), (Signal::HUP, "SIGHUP", 129)] {
        let (_, o) = stop_explore(false, signal);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains(&format!("interrupted by {name} after ")),
            "{out}"
        );
        assert!(out.contains("explored "), "{out}");
    }
}

/// `--pcap DIR` creates DIR when a capture goes in, not before: a run that found nothing on
/// the link leaves no empty folder.
#[test]
fn pcap_leaves_no_empty_folder_when_nothing_was_captured() {
    if !rstlab::sys::net::effective_root() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("captures");
    let o = explore(
        &[
            "--cases", "4", "--seed", "1", "--jobs", "1", "--net", "link", "--pcap",
        ]
        .iter()
        .copied()
        .chain([dir.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    let made = dir.exists();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!made, "an empty capture folder was left");
}

/// `rstlab merge`'s output, or its failure.
fn merge(parts: &[&std::path::Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .arg("merge")
        .args(parts)
        .output()
        .expect("rstlab runs")
}

#[test]
fn two_shards_merged_are_the_whole_exploration_and_a_missing_shard_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let common = ["--cases", "401", "--seed", "17", "--net", "both", "--json"];
    let whole = json(&explore(&common));
    let mut files = Vec::new();
    for k in ["1/2", "2/2"] {
        let o = explore(&[&common[..], &["--shard", k]].concat());
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(json(&o)["shard"], k);
        let file = dir.join(format!("shard-{}.json", &k[..1]));
        std::fs::write(&file, &o.stdout).unwrap();
        files.push(file);
    }
    let o = merge(&[&files[1], &files[0]]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let merged = json(&o);
    // Cases go to shards in pairs, so each shard runs both networks.
    for file in &files {
        let shard: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        assert!(
            shard["link_cases"].as_u64().unwrap() > 90,
            "{file:?}: {}",
            shard["link_cases"]
        );
    }
    for field in [
        "cases",
        "link_cases",
        "agreements",
        "disagreement_count",
        "errors",
        "rules",
        "outcomes",
        "fingerprint",
        "disagreements",
    ] {
        assert_eq!(merged[field], whole[field], "{field}");
    }
    let o = merge(&[&files[0]]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("2/2 is missing"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = explore(&["--seed", "1", "--shard", "1/2"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the following required arguments were not provided:\n  --cases <CASES>"),
        "{err}"
    );
}
