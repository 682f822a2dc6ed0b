//! The command line, as a user runs it: exit statuses, tables, JSON, errors with line and column.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn rstlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(args)
        .output()
        .expect("rstlab runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SEED: &str = "client write 1 => ok(1); server read 1 => ok(1); server close; client write 1 => ok(1); client write 1 => EPIPE";

#[test]
fn run_inline_agrees_and_exits_0() {
    let o = rstlab(&["run", SEED]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("agreement"), "{out}");
    assert!(out.contains("write-after-peer-close-succeeds"), "{out}");
}

#[test]
fn run_reads_a_file_and_standard_input() {
    let dir = std::env::temp_dir().join(format!("rstlab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("seed.scenario");
    std::fs::write(&file, SEED.replace("; ", "\n")).unwrap();
    let o = rstlab(&["run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(["run", "-", "--backend", "tokio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(SEED.replace("; ", "\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("tokio backend"), "{}", stdout(&o));
}

#[test]
fn a_wrong_expectation_exits_1_and_says_what_the_kernel_did() {
    let o = rstlab(&["run", "server close; client write 1 => EPIPE"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("the scenario expects EPIPE, the kernel returned ok(1)"),
        "{out}"
    );
}

#[test]
fn bad_input_exits_2_with_line_column_and_what_was_expected() {
    let o = rstlab(&["run", "client write 1\nclient write"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("line 2, column 13"), "{err}");
    assert!(err.contains("expected a byte count"), "{err}");

    let o = rstlab(&["run", "no-such-file.scenario"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no such file"), "{}", stderr(&o));
}

#[test]
fn run_json_is_one_object_with_every_step() {
    let o = rstlab(&["run", "--json", SEED]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert_eq!(v["agree"], true);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[4]["text"], "client write 1 => EPIPE");
    assert_eq!(steps[4]["predicted"], "EPIPE");
    assert_eq!(steps[4]["observed"], "EPIPE");
    assert_eq!(steps[4]["expected"], "EPIPE");
    assert_eq!(steps[4]["agree"], true);
}

#[test]
fn seed_shows_ok_ok_epipe_beside_the_oracle() {
    let o = rstlab(&["seed", "--no-pause"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("write: broken pipe"), "{out}");
    assert!(out.contains("This is broken pipe error"), "{out}");
    assert!(out.contains("as in the article: ok, ok, EPIPE"), "{out}");
    assert!(out.contains("the oracle agrees"), "{out}");
}

#[test]
fn explore_summarises_and_exits_0_when_everything_agrees() {
    let o = rstlab(&["explore", "--cases", "200", "--seed", "1", "--jobs", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("explored 200 cases"), "{out}");
    assert!(out.contains("disagreements: 0"), "{out}");
}
