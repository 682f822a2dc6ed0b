//! `rstlab serve` as a script uses it: the address on the first line, a report per connection,
//! refusals before listening, no hang without a client, Ctrl-C with a summary.

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
fn without_a_client_accept_timeout_ends_serve_with_status_1() {
    let o = rstlab(&["serve", "--accept-timeout", "200ms", "server close"]);
    assert_eq!(o.status.code(), Some(1));
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
    assert_eq!(child.wait().unwrap().code(), Some(1), "{text}");
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
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait(&mut child, Duration::from_secs(10));
    let text = rest(out);
    assert_eq!(child.wait().unwrap().code(), Some(0), "{text}");
    assert!(
        text.ends_with("summary: 2 connections played, 2 as scripted (interrupted)\n"),
        "{text}"
    );
}
