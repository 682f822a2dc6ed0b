//! `rstlab serve` as a script uses it: the address on the first line, a report per connection,
//! refusals before listening, no hang without a client, Ctrl-C and SIGTERM with a summary, and
//! reachable when run by an unprivileged user.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rstlab(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rstlab runs");
    wait(&mut child, Duration::from_secs(20));
    child.wait_with_output().unwrap()
}

/// Waits for `child` to exit, killing it (and failing) after `limit`: a hang is a failure.
fn wait(child: &mut Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rstlab serve did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `rstlab serve ARGS`, returns it with its standard output after the first line, and
/// the address that line holds.
fn serve(args: &[&str]) -> (Child, BufReader<ChildStdout>, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("rstlab runs");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .trim_end()
        .parse()
        .unwrap_or_else(|_| panic!("the first line is the address, not {first:?}"));
    (child, out, addr)
}

fn rest(mut out: BufReader<ChildStdout>) -> String {
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    text
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_unplayable_step_is_refused_with_its_line_and_column_before_listening() {
    let o = rstlab(&["serve", "client write 1; server close\nclient read 1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty(), "nothing listened, no address printed");
    let err = stderr(&o);
    assert!(
        err.contains("<command line>: cannot serve it: line 2, column 1: `client read 1` cannot be played against your program: a read takes bytes out of your program's own receive queue"),
        "{err}"
    );
    let o = rstlab(&["serve", "client write"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 1, column 13"), "{}", stderr(&o));
}

#[test]
fn a_non_loopback_listen_address_is_refused_with_the_reason() {
    let o = rstlab(&["serve", "--listen", "0.0.0.0:0", "server close"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(err.contains("refusing to listen on 0.0.0.0:0"), "{err}");
    assert!(err.contains("loopback only"), "{err}");
}

#[test]
fn without_a_client_accept_timeout_ends_serve_with_status_3() {
    let o = rstlab(&["serve", "--accept-timeout", "200ms", "server close"]);
    // No client did what the scenario scripts: status 3 of the global table.
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    let addr = lines.next().unwrap();
    assert!(addr.parse::<SocketAddr>().is_ok(), "{out}");
    assert_eq!(
        lines.last(),
        Some(format!("summary: no client connected to {addr}").as_str())
    );
}

#[test]
fn once_plays_one_connection_prints_its_report_and_exits_0() {
    let (mut child, out, addr) = serve(&[
        "--once",
        "--timeout",
        "5s",
        "client write 1; server read 1; server close; client write 1",
    ]);
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"a").unwrap();
    // The peer's FIN, then the write that its closed socket answers with RST.
    let mut nothing = Vec::new();
    client.read_to_end(&mut nothing).unwrap();
    client.write_all(b"b").unwrap();
    wait(&mut child, Duration::from_secs(10));
    let text = rest(out);
    assert_eq!(child.wait().unwrap().code(), Some(0), "{text}");
    assert!(text.starts_with("connection 1 from "), "{text}");
    assert!(
        text.contains("your write returned ok(1), but its bytes are lost"),
        "{text}"
    );
    assert!(
        text.contains("Your next write fails with EPIPE (broken pipe)"),
        "{text}"
    );
    assert!(
        text.ends_with("summary: 1 connection played, 1 as scripted\n"),
        "{text}"
    );
}

#[test]
fn a_second_connection_to_once_is_refused_and_reported() {
    let (mut child, out, addr) = serve(&["--once", "--json", "client write 2; server abort"]);
    let mut first = TcpStream::connect(addr).unwrap();
    let second = TcpStream::connect(addr).unwrap();
    first.write_all(b"ab").unwrap();
    wait(&mut child, Duration::from_secs(10));
    drop(second);
    let text = rest(out);
    assert_eq!(child.wait().unwrap().code(), Some(3), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["number"], 1);
    assert_eq!(lines[0]["steps"][1]["peer"]["kind"], "called");
    assert_eq!(lines[0]["steps"][1]["peer"]["outcome"], "ok");
    assert_eq!(lines[1]["connections"], 1);
    assert_eq!(lines[1]["refused"].as_array().unwrap().len(), 1, "{text}");
    assert_eq!(lines[1]["as_scripted"], false);
}

#[test]
fn ctrl_c_ends_serve_with_a_summary_of_the_connections_played() {
    let (mut child, mut out, addr) = serve(&["client write 3; server read 3; server close"]);
    for _ in 0..2 {
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"abc").unwrap();
        let mut eof = Vec::new();
        client.read_to_end(&mut eof).unwrap();
    }
    // Both reports are out before the interrupt: read up to the second one's verdict line.
    let mut verdicts = 0;
    let mut line = String::new();
    while verdicts < 2 {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "serve ended early");
        verdicts += usize::from(line.starts_with("as scripted"));
    }
    kill(&child, "-INT");
    wait(&mut child, Duration::from_secs(10));
    let text = rest(out);
    // 130, as the exit status table says of an interruption.
    assert_eq!(child.wait().unwrap().code(), Some(130), "{text}");
    assert!(
        text.ends_with("summary: 2 connections played, 2 as scripted (interrupted)\n"),
        "{text}"
    );
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_ends_serve_with_its_summary_as_ctrl_c_does() {
    let (mut child, mut out, addr) =
        serve(&["--json", "client write 1; server read 1; server close"]);
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"a").unwrap();
    let mut eof = Vec::new();
    client.read_to_end(&mut eof).unwrap();
    // The connection's report is out before the signal.
    let mut report = String::new();
    out.read_line(&mut report).unwrap();
    kill(&child, "-TERM");
    wait(&mut child, Duration::from_secs(10));
    let text = rest(out);
    // SIGTERM's own status, as a shell reports a process that SIGTERM ended.
    assert_eq!(child.wait().unwrap().code(), Some(143), "{text}");
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["interrupted"], true, "{text}");
    assert_eq!(last["connections"], 1, "{text}");
}

#[test]
fn a_port_in_use_is_said_once_with_the_port() {
    let (mut child, _out, addr) = serve(&["server close"]);
    let o = rstlab(&["serve", "--listen", &addr.to_string(), "server close"]);
    kill(&child, "-INT");
    wait(&mut child, Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.matches("in use").count(), 1, "{err}");
    assert!(
        err.contains(&format!("port {} is in use", addr.port())),
        "{err}"
    );
}

#[test]
fn timeouts_take_the_one_duration_syntax_and_refuse_0_and_negatives() {
    for (value, says) in [
        ("0s", "longer than 0"),
        ("5", "with its unit"),
        ("-1s", "cannot be negative"),
    ] {
        for flag in ["--timeout", "--accept-timeout"] {
            let o = rstlab(&["serve", flag, value, "server close"]);
            assert_eq!(o.status.code(), Some(2), "{flag} {value}");
            assert!(o.stdout.is_empty(), "{flag} {value}: nothing listened");
            assert!(stderr(&o).contains(says), "{flag} {value}: {}", stderr(&o));
        }
    }
    // Fractions, as everywhere else.
    let o = rstlab(&[
        "serve",
        "--timeout",
        "1.5s",
        "--accept-timeout",
        "0.2s",
        "server close",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

/// `serve` run by a user without privileges listens where that user's programs can reach it:
/// in the namespace it was started in, not in one of its own.
#[test]
fn serve_run_by_an_unprivileged_user_is_reachable() {
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !rstlab::sys::net::effective_root() || !setpriv.exists() {
        common::skip(None, "needs root and setpriv to become another user");
        return;
    }
    let mut child = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_rstlab"))
        .args([
            "serve",
            "--once",
            "--accept-timeout",
            "10s",
            "client write 1; server read 1; server close",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr: SocketAddr = first
        .trim_end()
        .parse()
        .unwrap_or_else(|_| panic!("the first line is the address, not {first:?}"));
    let connected = TcpStream::connect(addr);
    if let Ok(mut client) = connected.as_ref() {
        client.write_all(b"a").unwrap();
        let mut eof = Vec::new();
        client.read_to_end(&mut eof).unwrap();
    }
    wait(&mut child, Duration::from_secs(20));
    let text = rest(out);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        connected.is_ok(),
        "{addr} cannot be reached: {connected:?}\n{text}{err}"
    );
    assert_eq!(child.wait().unwrap().code(), Some(0), "{text}{err}");
    assert!(
        text.ends_with("summary: 1 connection played, 1 as scripted\n"),
        "{text}"
    );
}

/// A request cut short (`GET / HTTP/1.1\r\n`, its headers never ended): the steps from it on
/// are not predicted, said as such (not as an outcome a kernel could return), and its bytes
/// are no deviation, since no count is known to hold them against.
#[test]
fn a_request_cut_short_is_not_predicted_and_its_bytes_are_no_deviation() {
    const CUT: &[u8] = b"GET / HTTP/1.1\r\n";
    const WHY: &str = "not predicted: the length of the client's request (step 1) is not known";
    for json in [false, true] {
        let mut args = vec!["--once", "--timeout", "300ms"];
        if json {
            args.push("--json");
        }
        args.push("client write request; server close");
        let (mut child, out, addr) = serve(&args);
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(CUT).unwrap();
        // The client holds its end open: the peer's wait for the request's end runs out.
        wait(&mut child, Duration::from_secs(10));
        drop(client);
        let text = rest(out);
        assert_eq!(child.wait().unwrap().code(), Some(3), "{text}");
        assert!(!text.contains("no-errno"), "{text}");
        if json {
            let report: serde_json::Value =
                serde_json::from_str(text.lines().next().unwrap()).unwrap();
            for step in report["steps"].as_array().unwrap() {
                assert_eq!(step["predicted"], serde_json::Value::Null, "{text}");
                assert_eq!(step["oracle"], WHY, "{text}");
            }
            assert_eq!(report["deviations"], serde_json::json!([]), "{text}");
            assert_eq!(report["steps"][0]["peer"]["kind"], "not_seen", "{text}");
        } else {
            let rows: Vec<&str> = text.lines().filter(|l| l.contains(WHY)).collect();
            assert_eq!(rows.len(), 2, "{text}");
            assert!(!text.contains("deviation:"), "{text}");
            assert!(rows[0].starts_with("1  client write request"), "{text}");
            assert!(
                text.contains("16 bytes of an HTTP request arrived"),
                "{text}"
            );
        }
    }
}

/// `client write request` takes no `=>`: refused with its place, said once (not the parse
/// error again as its own cause), by `serve` and by `exec` alike.
#[test]
fn an_expectation_on_the_request_is_refused_once_with_its_place() {
    const PLACE: &str = "line 1, column 25: `client write request` takes no expectation";
    for expect in ["ok(5)", "EPIPE", "ok"] {
        let scenario = format!("client write request => {expect}");
        for mut args in [
            vec!["serve", "--once", "--accept-timeout", "1s"],
            vec!["exec"],
        ] {
            args.push(&scenario);
            if args[0] == "exec" {
                args.extend(["--", "true"]);
            }
            let o = rstlab(&args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(o.stdout.is_empty(), "{args:?}: nothing listened: {err}");
            assert_eq!(err.matches(PLACE).count(), 1, "{args:?}: {err}");
            assert_eq!(
                err.matches("known only when it arrives").count(),
                1,
                "{err}"
            );
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
    }
}

/// `serve` and `exec` read a scenario file as `run` and `predict` do, with the same reader:
/// each refuses an empty scenario, a directory, bytes that are not UTF-8 (saying where) and a
/// file over the 1 MiB limit, before anything listens or runs, with status 2.
#[test]
fn every_command_refuses_the_same_scenario_files_alike() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    };
    let cases = [
        (
            file("empty.scenario", b"# nothing here\n\n"),
            "empty.scenario: no steps, only blank lines and comments",
        ),
        (
            dir.path().to_str().unwrap().to_string(),
            "is a directory, not a scenario file",
        ),
        (
            file("binary.scenario", b"server \xff\xfe close"),
            "binary.scenario: not UTF-8 text (invalid byte at offset 7)",
        ),
        (
            file("huge.scenario", &vec![b'#'; 2 << 20]),
            "huge.scenario: longer than 1024 KiB",
        ),
    ];
    for (path, says) in &cases {
        let commands: [&[&str]; 4] = [
            &["run", path],
            &["predict", path],
            &["serve", "--accept-timeout", "1s", path],
            &["exec", "--timeout", "1s", path, "--", "true"],
        ];
        for args in commands {
            let o = rstlab(args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                o.stdout.is_empty(),
                "{args:?}: nothing printed, nothing served"
            );
            assert!(err.contains(says), "{args:?}: {err}");
            assert!(err.len() < 500, "{args:?}: the input is not quoted: {err}");
        }
    }
}
