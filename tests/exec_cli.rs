//! `rstlab exec`: a real program (Python) across the real-time link, its real results beside the
//! report; refusals before anything runs; a command that never connects, or never exits; Ctrl-C.
//!
//! Timing margins: on a 30 ms link the relay delivers within 1.5 ms of the due time, even with
//! both cores busy (`cargo bench --bench speed -- --only jitter`); the scenarios below leave at
//! least 20 ms between any two events whose order decides a result.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .arg("exec")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rstlab runs")
}

/// Waits for `child` to exit, killing it (and failing) after `limit`: a hang is a failure.
fn finish(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rstlab exec did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn exec(args: &[&str]) -> Output {
    finish(start(args), Duration::from_secs(30))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        common::skip(None, "needs python3");
    }
    ok
}

/// A path not there yet, `name` in a fresh temporary directory, which goes when the
/// [`TempDir`](tempfile::TempDir) is dropped (the test's end, a panic included).
fn marker(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

/// A duration in the JSON (`{"secs": …, "nanos": …}`), in milliseconds.
fn ms(v: &Value) -> f64 {
    v["secs"].as_f64().unwrap() * 1000.0 + v["nanos"].as_f64().unwrap() / 1e6
}

#[test]
fn a_scenario_the_peer_cannot_play_is_refused_with_its_place_before_anything_runs() {
    let (_dir, touched) = marker("refused");
    let touch = touched.to_str().unwrap();
    for (scenario, place, words) in [
        (
            "client write 1; server close\nclient read 1",
            "line 2, column 1",
            "sends nothing",
        ),
        (
            "link hold; client write 1; link release",
            "line 1, column 12",
            "could not arrive",
        ),
        (
            "server write 1; link drop",
            "line 1, column 17",
            "a matter of chance",
        ),
        (
            "link cut; client write 1; link restore",
            "line 1, column 11",
            "could not arrive",
        ),
        ("client write", "line 1, column 13", "byte count"),
    ] {
        let o = exec(&[scenario, "--", "touch", touch]);
        assert_eq!(o.status.code(), Some(2), "{scenario}");
        let err = text(&o.stderr);
        assert!(
            err.contains(place) && err.contains(words),
            "{scenario}: {err}"
        );
        assert!(o.stdout.is_empty());
    }
    let o = exec(&["--delay", "101ms", "server close", "--", "touch", touch]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("at most 100 ms"));
    let o = exec(&["server close"]);
    assert_eq!(o.status.code(), Some(2), "no command");
    assert!(!touched.exists(), "no command ran");
}

/// A negative duration is refused by the duration parser, which says why, not by clap with a tip
/// (`-- -30ms`) that would make it the command to run.
#[test]
fn a_negative_duration_is_refused_as_negative() {
    let (_dir, touched) = marker("negative");
    let touch = touched.to_str().unwrap();
    for flag in ["--delay", "--timeout"] {
        let o = exec(&[flag, "-30ms", "server close", "--", "touch", touch]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        let err = text(&o.stderr);
        assert!(
            err.contains("a duration cannot be negative"),
            "{flag}: {err}"
        );
        assert!(!err.contains("-- -30ms"), "{flag}: {err}");
    }
    let o = exec(&["--timeout", "0s", "server close", "--", "touch", touch]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("longer than 0"));
    assert!(!touched.exists(), "no command ran");
}

#[test]
fn without_the_capabilities_it_says_the_link_needs_cap_net_admin() {
    let available = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        common::skip(None, "needs setpriv to drop capabilities");
        return;
    }
    let (_dir, touched) = marker("no-cap");
    let o = Command::new("setpriv")
        .args(["--bounding-set", "-all", "--inh-caps", "-all", "--"])
        .arg(env!("CARGO_BIN_EXE_rstlab"))
        .args(["exec", "server close", "--", "touch"])
        .arg(&touched)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs CAP_NET_ADMIN"), "{err}");
    assert!(!touched.exists());
}

/// The README's program: writes one byte every 40 ms with Nagle off, prints each result.
const WRITER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/exec/writer.py");

#[test]
fn a_program_writing_every_40ms_on_a_30ms_link_gets_what_the_wire_shows() {
    if !(common::link_available() && python()) {
        return;
    }
    // The peer reads the first byte when it arrives (30 ms) and closes: its FIN reaches the
    // program at 60 ms. The second write (40 ms) reaches the closed socket at 70 ms, which
    // answers with RST; the RST reaches the program at 100 ms. So the writes at 0, 40 and 80 ms
    // succeed, and the one at 120 ms fails with EPIPE (FIN, then RST). Each margin is 20 ms.
    let o = exec(&[
        "--delay",
        "30ms",
        "--json",
        "client write 1; server read 1; server close; client write 1",
        "--",
        "python3",
        WRITER,
        "40",
        "6",
    ]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    // With --json, the program's standard output comes on standard error:
    // `write 1 at   0.1 ms: ok`.
    let results: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("write "))
        .filter_map(|l| l.rsplit(": ").next())
        .collect();
    assert_eq!(results, ["ok", "ok", "ok", "EPIPE"], "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["as_scripted"], true);
    assert_eq!(report["exit"]["code"], 0);
    // The closed socket counts no bytes: the step is not checked (the wire below shows it).
    assert_eq!(
        report["connections"][0]["steps"][3]["peer"]["kind"],
        "uncounted"
    );
    assert_eq!(
        report["connections"][0]["steps"][3]["as_scripted"],
        Value::Null
    );
    // The wire says the same: the writes that left before the RST reached the program are the
    // ones that succeeded.
    let wire = report["wire"]["segments"].as_array().unwrap();
    let rst = wire
        .iter()
        .find(|s| s["from"] == "server" && s["flags"].as_str().unwrap().contains('R'))
        .expect("the peer's kernel sent RST");
    let rst_arrived = ms(&rst["fate"]["delivered"]);
    let data: Vec<f64> = wire
        .iter()
        .filter(|s| s["from"] == "client" && s["len"] == 1)
        .map(|s| ms(&s["sent"]))
        .collect();
    let before_rst = data.iter().filter(|&&t| t < rst_arrived).count();
    assert_eq!(
        before_rst, 3,
        "data sent at {data:?}, RST arrived at {rst_arrived}"
    );
    // About 100 ms, give or take the relay's stamps (it stamps a segment when it reads it,
    // up to a few ms late on a loaded machine) and the program's own lateness.
    let since_first = rst_arrived - data[0];
    assert!(
        (90.0..150.0).contains(&since_first),
        "the RST reached the program {since_first} ms after its first write"
    );
    for s in wire {
        if let Some(at) = s["fate"].get("delivered") {
            let took = ms(at) - ms(&s["sent"]);
            assert!(took >= 30.0, "a segment crossed in {took} ms: {s}");
        }
    }
}

/// Sends one byte, then reads to the end and says what it read.
const READER: &str = r#"
import os, socket
s = socket.create_connection((os.environ["RSTLAB_PEER_HOST"], int(os.environ["RSTLAB_PEER_PORT"])), timeout=5)
s.sendall(b"a")
got = b""
while True:
    chunk = s.recv(100)
    if not chunk:
        break
    got += chunk
print(f"{len(got)} bytes then EOF", flush=True)
"#;

#[test]
fn the_peers_link_drop_loses_its_write_and_the_kernel_sends_it_again() {
    if !(common::link_available() && python()) {
        return;
    }
    let report = lost_then_delivered(&[
        "--delay",
        "20ms",
        "client write 1; server read 1; server write 3; link drop; server close",
    ]);
    let step = &report["connections"][0]["steps"][3];
    assert_eq!(step["text"], "link drop");
    assert_eq!(step["as_scripted"], true);
}

/// `exec --json ARGS -- python3 -c READER`: the reader got the server's 3 bytes and its EOF,
/// exec agreed, and the server's 3-byte segment was lost first and its last copy (the kernel's
/// retransmission) delivered. The report.
fn lost_then_delivered(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--", "python3", "-c", READER]);
    let o = exec(&all);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(err.contains("3 bytes then EOF"), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let fates: Vec<&Value> = report["wire"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["from"] == "server" && s["len"] == 3)
        .map(|s| &s["fate"])
        .collect();
    assert!(fates[0].get("dropped").is_some(), "{fates:?}");
    assert!(
        fates.last().unwrap().get("delivered").is_some(),
        "{fates:?}"
    );
    report
}

#[test]
fn the_peers_write_across_a_cut_is_lost_and_sent_again_after_the_restore() {
    if !(common::link_available() && python()) {
        return;
    }
    let report = lost_then_delivered(&[
        "client write 1; server read 1; link cut; server write 3; server close; link restore",
    ]);
    let steps = &report["connections"][0]["steps"];
    assert_eq!(steps[2]["text"], "link cut");
    assert_eq!(steps[5]["text"], "link restore");
}

#[test]
fn a_command_that_never_connects_or_never_exits_is_reported_within_the_timeout() {
    if !common::link_available() {
        return;
    }
    let started = Instant::now();
    let o = exec(&[
        "--timeout",
        "1s",
        "client write 1; server close",
        "--",
        "sleep",
        "30",
    ]);
    let took = started.elapsed();
    let out = text(&o.stdout);
    // Not as the scenario scripts (no client, past the deadline): status 3 of the global table.
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(
        out.contains("command sleep: did not exit within 1s: rstlab killed it"),
        "{out}"
    );
    assert!(
        out.ends_with(
            "summary: no client connected to 192.0.2.2:8080; the command did not exit within 1s\n"
        ),
        "{out}"
    );
    let o = exec(&["client write 1; server close", "--", "true"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("command true: exited with status 0"), "{out}");
    assert!(out.contains("no client connected"), "{out}");
}

#[test]
fn ctrl_c_kills_the_command_and_what_it_started_and_reports() {
    if !common::link_available() {
        return;
    }
    let (_dir, pid_file) = marker("ctrl-c");
    let script = format!("sleep 30 & echo $! > {}; exec sleep 40", pid_file.display());
    let child = start(&["client write 1; server close", "--", "sh", "-c", &script]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let background = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the command did not start");
        std::thread::sleep(Duration::from_millis(10));
    };
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = finish(child, Duration::from_secs(10));
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(130), "{out}");
    assert!(
        out.contains("command sh: interrupted: rstlab killed it"),
        "{out}"
    );
    assert!(out.ends_with("(interrupted)\n"), "{out}");
    // The background `sleep 30` went with the command's process group (at most a zombie until
    // init reaps it).
    let gone = || {
        std::fs::read_to_string(format!("/proc/{background}/stat"))
            .map_or(true, |stat| stat.contains(") Z "))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gone() {
        assert!(Instant::now() < deadline, "process {background} survived");
        std::thread::sleep(Duration::from_millis(10));
    }
}
