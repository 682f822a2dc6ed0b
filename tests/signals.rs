//! Every long command stops alike on SIGINT, SIGTERM and SIGHUP: it ends the work in progress,
//! says what it did, and exits as a shell reports the signal (130, 143, 129). `explore`,
//! `kernels`, `serve` and `exec` have their own tests beside their other ones; these are the
//! book and the simulators.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustix::process::Signal;

/// Runs rstlab with `args`, waits (30 s at most) for a line of standard error that contains
/// `marker`, which says the long work has begun, sends `signal`, and waits (60 s at most) for
/// the end.
fn stop_at(args: &[&str], marker: &'static str, signal: Signal) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rstlab"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    rstlab::sys::default_sigint_in_child(&mut command);
    let mut child = command.spawn().expect("rstlab starts");
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // Readers on threads, so that every wait below is bounded.
    let (began, began_rx) = mpsc::channel();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(marker) {
                let _ = began.send(());
            }
            text += &line;
            text.push('\n');
        }
        text
    });
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut text);
        text
    });
    if began_rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        panic!("{args:?}: no {marker:?} on standard error within 30 s");
    }
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, signal).expect("the signal is sent");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?}: still running 60 s after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap().into_bytes(),
        stderr: err_reader.join().unwrap().into_bytes(),
    }
}

#[test]
fn sim_stops_on_sigterm_with_what_it_compared_and_keeps_out_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let o = stop_at(
        &[
            "sim",
            "turmoil",
            "--cases",
            "10000000",
            "--out",
            out.to_str().unwrap(),
        ],
        "random loopback scenarios",
        Signal::TERM,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(143),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("interrupted by SIGTERM after "), "{stdout}");
    assert!(!out.exists(), "a survey cut short is no report to keep");
}

#[test]
fn sim_json_says_it_was_interrupted() {
    let o = stop_at(
        &["sim", "turmoil-net", "--cases", "10000000", "--json"],
        "random loopback scenarios",
        Signal::HUP,
    );
    assert_eq!(o.status.code(), Some(129));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(report["interrupted"], true);
    assert!(report["cases"].as_u64().unwrap() < 10_000_000);
}

#[test]
fn rules_stops_on_ctrl_c_and_writes_nothing() {
    if !common::link_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("RULES.md");
    let o = stop_at(
        &[
            "rules",
            "--cases",
            "1000000",
            "--no-sigpipe",
            "--out",
            book.to_str().unwrap(),
        ],
        "gathering the evidence",
        Signal::INT,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by Ctrl-C after "), "{stderr}");
    assert!(!book.exists(), "half a book is no book");
    assert!(!dir.path().join("docs").exists(), "nor are its diagrams");
}
