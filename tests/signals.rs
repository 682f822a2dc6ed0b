//! Every long command stops alike on SIGINT, SIGTERM and SIGHUP: it ends the work in progress,
//! says what it did, and exits as a shell reports the signal (130, 143, 129). `explore`,
//! `kernels`, `serve` and `exec` have their own tests beside their other ones; these are the
//! book, the simulators, `run` and `seed`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustix::process::Signal;

/// When the work has begun, as the test can see it.
enum Begun {
    /// A line of standard error contains this.
    Says(&'static str),
    /// The process catches the signal (`SigCgt` in /proc/PID/status): its handler is installed,
    /// which each command does before its work.
    Catches,
}

/// Whether process `pid` has a handler for `signal`.
fn catches(pid: u32, signal: Signal) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal.as_raw() - 1)) != 0)
}

/// Runs rstlab with `args`, waits (30 s at most) until the work has `begun`, sends `signal`,
/// and waits (60 s at most) for the end.
fn stop_when(args: &[&str], begun: Begun, signal: Signal) -> Output {
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
    let marker = match begun {
        Begun::Says(marker) => Some(marker),
        Begun::Catches => None,
    };
    let (began, began_rx) = mpsc::channel();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if marker.is_some_and(|m| line.contains(m)) {
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
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let ready = match begun {
        Begun::Says(_) => began_rx.recv_timeout(Duration::from_secs(30)).is_ok(),
        Begun::Catches => loop {
            if catches(child.id(), signal) {
                break true;
            }
            if std::time::Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(5));
        },
    };
    if !ready {
        let _ = child.kill();
        panic!("{args:?}: the work did not begin within 30 s");
    }
    let status = common::signal_and_wait(&mut child, signal, &format!("{args:?}"));
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
    let o = stop_when(
        &[
            "sim",
            "turmoil",
            "--cases",
            "10000000",
            "--out",
            out.to_str().unwrap(),
        ],
        Begun::Says("random loopback scenarios"),
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
    let o = stop_when(
        &["sim", "turmoil-net", "--cases", "10000000", "--json"],
        Begun::Says("random loopback scenarios"),
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
    let o = stop_when(
        &[
            "rules",
            "--cases",
            "1000000",
            "--no-sigpipe",
            "--out",
            book.to_str().unwrap(),
        ],
        Begun::Says("gathering the evidence"),
        Signal::INT,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by Ctrl-C after "), "{stderr}");
    assert!(!book.exists(), "half a book is no book");
    assert!(!dir.path().join("docs").exists(), "nor are its diagrams");
}

/// A run of three 5 s sleeps on loopback (real time): a signal ends it after the step in
/// progress, with the report of the steps run.
#[test]
fn run_stops_on_sigterm_between_steps() {
    let o = stop_when(
        &[
            "run",
            "client sleep 5s; client sleep 5s; client sleep 5s; client write 1",
        ],
        Begun::Catches,
        Signal::TERM,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("rstlab run: interrupted by SIGTERM after ")
            && stderr.contains(" of 4 steps: the steps not run have no verdict"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("(not run)"));
}

/// The seed's program with a pause of 5 s between writes: SIGHUP ends it.
#[test]
fn seed_stops_on_sighup() {
    let o = stop_when(&["seed", "--interval", "5s"], Begun::Catches, Signal::HUP);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(129), "{stderr}");
    assert!(
        stderr.contains("rstlab seed: interrupted by SIGHUP after "),
        "{stderr}"
    );
}
