//! `rstlab decode`: fuzz inputs printed as scenarios that `rstlab run` accepts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rstlab::Scenario;
use rstlab::fuzz::{self, Target};

fn rstlab(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rstlab");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("writing stdin");
    child.wait_with_output().expect("running rstlab")
}

fn seed(target: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
        .join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_corpus_file_decodes_to_the_scenario_it_encodes_and_runs() {
    let path = seed("oracle_vs_kernel", "seed-article");
    let out = rstlab(&["decode", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.starts_with("# `rstlab decode "), "{printed}");
    assert!(printed.contains("of oracle_vs_kernel input"), "{printed}");
    let scenario: Scenario = printed.parse().unwrap();
    assert_eq!(
        scenario.to_inline(),
        "client write 1; server read 1; server close; client write 1; client write 1"
    );

    // The printed scenario is ready for `rstlab run`, which agrees with it.
    let run = rstlab(&["run", "-"], printed.as_bytes());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert!(text(&run.stdout).contains("EPIPE"));
}

#[test]
fn standard_input_with_an_explicit_target_and_inline_output() {
    let s: Scenario = "server abort; client write 1; client read 1"
        .parse()
        .unwrap();
    let bytes = fuzz::encode(&s).unwrap();
    let out = rstlab(&["decode", "-", "--target", "oracle", "--inline"], &bytes);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}\n", s.to_inline()));
}

#[test]
fn the_target_comes_from_the_folder_of_the_input() {
    let path = seed("scenario_text", "seed-errors");
    let out = rstlab(&["decode", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let data = std::fs::read(&path).unwrap();
    let expected = fuzz::decode(Target::ScenarioText, &data).unwrap();
    assert_eq!(text(&out.stdout).parse::<Scenario>().unwrap(), expected);
}

#[test]
fn bad_input_exits_2_with_a_reason() {
    let out = rstlab(&["decode", "/no/such/artifact"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("reading /no/such/artifact"),
        "{}",
        text(&out.stderr)
    );

    let out = rstlab(
        &["decode", "-", "--target", "scenario_text"],
        b"client write 0",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("not a valid scenario"), "{err}");
    assert!(err.contains("\"client write 0\""), "{err}");

    let out = rstlab(&["decode", "-", "--target", "oracles"], b"");
    assert_eq!(out.status.code(), Some(2));
}
