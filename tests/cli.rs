//! The command line, as a user runs it: exit statuses, tables, JSON, errors with line and column.

mod common;

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
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed.scenario");
    std::fs::write(&file, SEED.replace("; ", "\n")).unwrap();
    let o = rstlab(&["run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

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
fn a_wrong_expectation_exits_3_not_1_and_says_the_scenario_is_wrong() {
    let o = rstlab(&["run", "server close; client write 1 => EPIPE"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("the scenario expects EPIPE, the kernel returned ok(1)"),
        "{out}"
    );
    assert!(out.contains("EXPECTATION CONTRADICTED"), "{out}");
    assert!(
        out.contains("the scenario is wrong (exit status 3)"),
        "{out}"
    );
    assert!(!out.contains("DISAGREEMENT"), "{out}");
}

#[test]
fn help_documents_the_exit_statuses() {
    for (args, lines) in [
        (
            &["--help"][..],
            &[
                "  1    the kernel",
                "  3    the kernel",
                "  130  interrupted",
            ][..],
        ),
        (
            &["run", "--help"],
            &["  1    the kernel", "  3    the kernel"],
        ),
        (
            &["explore", "--help"],
            &["  1    the kernel", "  130  interrupted"],
        ),
    ] {
        let out = stdout(&rstlab(args));
        for line in lines {
            assert!(out.contains(line), "{args:?}: {out}");
        }
    }
}

/// The status lines of a help text: those under its "Exit status:" heading.
fn status_lines(help: &str) -> Vec<String> {
    let Some((_, table)) = help.split_once("\nExit status:\n") else {
        return Vec::new();
    };
    table
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(str::to_string)
        .collect()
}

/// Every command's help ends with its exit statuses, each row word for word one of the global
/// table's (`rstlab --help`).
#[test]
fn every_commands_help_ends_with_its_exit_statuses_from_the_one_table() {
    let global = stdout(&rstlab(&["--help"]));
    let table = status_lines(&global);
    assert!(table.len() >= 5, "{global}");
    let codes = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        codes(&table),
        ["0", "1", "2", "3", "4", "130", "143", "129"],
        "{global}"
    );
    for (command, expected) in [
        ("run", &["0", "1", "2", "3", "130", "143", "129"][..]),
        ("seed", &["0", "1", "2", "3", "130", "143", "129"]),
        ("explore", &["0", "1", "2", "130", "143", "129"]),
        ("kernels", &["0", "1", "2", "130", "143", "129"]),
        ("rules", &["0", "1", "2", "130", "143", "129"]),
        ("decode", &["0", "2"]),
        ("completions", &["0", "2"]),
        ("serve", &["0", "1", "2", "3", "130", "143", "129"]),
        ("exec", &["0", "1", "2", "3", "130", "143", "129"]),
        ("sim", &["0", "2", "4", "130", "143", "129"]),
    ] {
        let help = stdout(&rstlab(&[command, "--help"]));
        let lines = status_lines(&help);
        assert_eq!(codes(&lines), expected, "{command} --help:\n{help}");
        for line in &lines {
            assert!(
                table.contains(line),
                "{command}: {line:?} is not in the global table"
            );
        }
        assert!(
            help.trim_end().ends_with(
                "A closed standard output (`| head`) ends a command quietly, with status 0."
            ),
            "{command} --help does not end with its statuses:\n{help}"
        );
    }
}

/// `rstlab … | head`: once the reader of standard output has gone, a command ends quietly (no
/// panic, nothing on standard error) with status 0.
#[test]
fn a_closed_standard_output_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let fuzz_input = dir.path().join("input");
    std::fs::write(&fuzz_input, "client write 1; server close\n").unwrap();
    let fuzz_input = fuzz_input.to_str().unwrap().to_string();
    let commands: [&[&str]; 6] = [
        &["completions", "bash"],
        &[
            "run",
            "--diagram",
            "client write 1; server close; client write 1",
        ],
        &["run", "--json", "client write 1"],
        &[
            "explore", "--cases", "3", "--net", "loopback", "--jobs", "1",
        ],
        &["seed", "--no-pause"],
        &["decode", "--target", "scenario_text", &fuzz_input],
    ];
    for args in commands {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes before anything is written: every write meets a closed pipe.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

#[test]
fn the_state_column_is_explained_under_the_table() {
    let out = stdout(&rstlab(&["run", "client shutdown write; server close"]));
    assert!(
        out.contains("`-`: that side has closed its socket"),
        "{out}"
    );
    assert!(
        out.contains("CLOSE: the connection is over, TIME_WAIT included"),
        "{out}"
    );
    assert!(
        out.contains("FIN_WAIT1: our FIN arrived but the peer delays its ACK"),
        "{out}"
    );
}

/// Runs `rstlab args...`, expects exit status 2 and returns standard error.
fn refused(args: &[&str]) -> String {
    let o = rstlab(args);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
    stderr(&o)
}

#[test]
fn run_names_what_its_argument_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let err = refused(&["run", ""]);
    assert!(err.contains("the scenario argument is empty"), "{err}");
    let err = refused(&["run", dir.to_str().unwrap()]);
    assert!(err.contains("is a directory, not a scenario file"), "{err}");
    let err = refused(&["run", "missing.scenario"]);
    assert!(
        err.contains("missing.scenario: No such file or directory"),
        "{err}"
    );
}

#[test]
fn an_empty_or_comment_only_scenario_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (name, text) in [
        ("empty.scenario", ""),
        ("comments.scenario", "# nothing\n\n  # here\n"),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let err = refused(&["run", file.to_str().unwrap()]);
        assert!(
            err.contains("no steps, only blank lines and comments"),
            "{err}"
        );
    }
}

#[test]
fn a_huge_input_is_refused_without_reading_it_all_and_a_huge_token_is_cut_short() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = dir.join("huge.scenario");
    std::fs::write(&file, vec![b'#'; 3 << 20]).unwrap();
    let err = refused(&["run", file.to_str().unwrap()]);
    assert!(err.contains("longer than 1024 KiB"), "{err}");
    // 500 KB of NUL bytes: one token, whose error shows 32 characters and the length.
    std::fs::write(&file, vec![0u8; 500_000]).unwrap();
    let err = refused(&["run", file.to_str().unwrap()]);
    assert!(err.len() < 400, "{} bytes of error", err.len());
    assert!(err.contains("(500000 bytes)"), "{err}");
}

#[test]
fn run_json_with_diagram_carries_the_diagram() {
    let o = rstlab(&["run", "--json", "--diagram", "server close; client write 1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    let diagram = v["diagram"].as_str().expect("a diagram field");
    assert!(diagram.contains("|<------ RST ------|"), "{diagram}");
    let o = rstlab(&["run", "--json", "server close"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v.get("diagram").is_none(), "{v}");
}

#[test]
fn explore_refuses_nothing_to_do_and_too_many_jobs() {
    let err = refused(&["explore", "--cases", "0"]);
    assert!(err.contains("0 cases is nothing to explore"), "{err}");
    let err = refused(&["explore", "--time", "0s"]);
    assert!(err.contains("a time of 0 explores nothing"), "{err}");
    let err = refused(&["explore", "--time", "3"]);
    assert!(err.contains("with its unit"), "{err}");
    let err = refused(&["explore", "--jobs", "1000"]);
    assert!(err.contains("1000 is not in 1..=254"), "{err}");
    let help = stdout(&rstlab(&["explore", "--help"]));
    assert!(help.contains("Worker threads, 1 to 254"), "{help}");
    // Both bounds at once: the cases end it, long before the time (a short time would race
    // with a loaded machine's setup of the link).
    let o = rstlab(&[
        "explore", "--time", "60s", "--cases", "3", "--seed", "1", "--jobs", "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("explored 3 cases"), "{}", stdout(&o));
}

/// Each refusal says what is wrong with the value given, in words.
#[test]
fn bad_values_are_refused_saying_what_is_wrong() {
    for (args, expected) in [
        (
            &["explore", "--time", "-5s"][..],
            "a time cannot be negative, found \"-5s\": give more than 0",
        ),
        (
            &["explore", "--cases", "-1"],
            "a number of cases cannot be negative, found \"-1\": give at least 1",
        ),
        (
            &["kernels", "--cases", "-1"],
            "a number of cases cannot be negative",
        ),
        (
            &["serve", "--connections", "0", "server close"],
            "0 connections is nothing to play: give at least 1",
        ),
        (
            &["explore", "--shard", "1/0", "--seed", "1", "--cases", "4"],
            "a run has at least one shard: N in K/N must be 1 or more",
        ),
        (
            &["predict", "--kernel", "4.4", "client write 1"],
            "4.4 is older than any kernel the oracle is checked on (5.10, 6.1, 6.12, 7.3, and this \
             machine's)",
        ),
        (
            &["predict", "client write 99999999999999999999999"],
            "\"99999999999999999999999\" is too large: 65536 bytes is the bound per step",
        ),
        // Without --seed every shard would draw its own cases: refused before anything runs.
        (
            &["explore", "--shard", "1/2", "--cases", "4"],
            "the following required arguments were not provided:\n  --seed <SEED>",
        ),
    ] {
        let err = refused(args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(
        rstlab(&["predict", "--kernel", "5.10", "client write 1"])
            .status
            .success()
    );
}

#[test]
fn a_full_standard_output_is_named_as_such() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let o = Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(["predict", "client write 1"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "rstlab: writing to standard output: No space left on device (os error 28)\n"
    );
}

/// Every path a command writes follows one rule, checked before any work: its folder exists,
/// and a folder is not a file (nor a file a folder).
#[test]
fn every_output_path_is_refused_alike_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("missing");
    let missing = gone.join("dir");
    let missing = missing.to_str().unwrap();
    for args in [
        &["explore", "--cases", "2", "--pcap", missing][..],
        &["run", "--net", "link", "--pcap", missing, "client write 1"],
        &["sim", "turmoil", "--out", missing],
        &["rules", "--no-sigpipe", "--out", missing],
    ] {
        let err = refused(args);
        let made = gone.exists();
        let _ = std::fs::remove_dir_all(&gone);
        assert_eq!(
            err,
            format!(
                "rstlab: --{} {missing}: the folder {} does not exist (rstlab creates none)\n",
                if args.contains(&"--pcap") {
                    "pcap"
                } else {
                    "out"
                },
                gone.display()
            ),
            "{args:?}"
        );
        assert!(!made, "{args:?} created {}", gone.display());
    }
    let err = refused(&["explore", "--cases", "2", "--pcap", "/dev/full"]);
    assert_eq!(err, "rstlab: --pcap /dev/full: not a folder\n");
}

#[test]
fn rules_refuses_an_output_that_is_not_a_regular_file_before_writing_anything() {
    let err = refused(&["rules", "--no-sigpipe", "--out", "/dev/null"]);
    assert!(err.contains("/dev/null is not a regular file"), "{err}");
    assert!(!std::path::Path::new("/dev/docs").exists());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let err = refused(&["rules", "--no-sigpipe", "--out", dir.to_str().unwrap()]);
    assert!(err.contains("is a directory"), "{err}");
    let missing = dir.join("missing/BOOK.md");
    let err = refused(&["rules", "--no-sigpipe", "--out", missing.to_str().unwrap()]);
    assert!(err.contains("does not exist"), "{err}");
    // A diagram's place taken by a directory: refused before the build, nothing written.
    std::fs::create_dir_all(dir.join("docs/rules/abort-sends-rst.svg")).unwrap();
    let book = dir.join("BOOK.md");
    let err = refused(&["rules", "--no-sigpipe", "--out", book.to_str().unwrap()]);
    assert!(err.contains("abort-sends-rst.svg is a directory"), "{err}");
    assert!(!book.exists());
    assert_eq!(
        std::fs::read_dir(dir.join("docs/rules")).unwrap().count(),
        1
    );
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    for (shell, mark) in [
        ("bash", "_rstlab()"),
        ("zsh", "#compdef rstlab"),
        ("fish", "complete -c rstlab"),
    ] {
        let o = rstlab(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let out = stdout(&o);
        assert!(out.contains(mark), "{shell}: {out}");
        assert!(out.contains("explore"), "{shell}");
    }
    refused(&["completions", "cmd.exe"]);
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
    assert!(stderr(&o).contains("No such file"), "{}", stderr(&o));
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

/// Without root, rstlab tries a user namespace of its own for the link; where the kernel or
/// `/dev/net/tun`'s permissions refuse, it says in one line what the link needs (exit 2).
#[test]
fn the_link_without_root_runs_or_says_in_one_line_what_it_needs() {
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !rstlab::sys::net::effective_root() || !setpriv.exists() {
        common::skip(None, "needs root and setpriv to become another user");
        return;
    }
    let out = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_rstlab"))
        .args([
            "run",
            "link delay 5ms; server close; client write 1 => ok(1)",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => assert!(stdout.contains("agreement"), "{stdout}"),
        Some(2) => {
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.contains("the emulated link needs CAP_NET_ADMIN"),
                "{stderr}"
            );
        }
        other => panic!("exit {other:?}\n{stdout}\n{stderr}"),
    }
}

#[test]
fn a_scenario_that_needs_the_kernels_timers_is_refused_on_the_host_by_name() {
    let err = refused(&[
        "run",
        "--kernel",
        "host",
        "client write 1; server read 1; client sleep 2h; client write 1",
    ]);
    assert!(err.contains("a sleep of 7200s"), "{err}");
    assert!(
        err.contains("with --kernel host it cannot run: the host's clock is real"),
        "{err}"
    );
    assert!(err.contains("`--kernel 6.12`"), "{err}");
}
