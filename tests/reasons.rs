//! The kernel's own reason for each RST (`tcp/tcp_send_reset`), read on real sockets: the four
//! reasons measured when the work began, each where it comes from, and no recording left
//! behind after a run, a panic, Ctrl-C or a kill.
//!
//! Reading the reasons needs root and a kernel from 6.12 on. Where they cannot be read, each test
//! says `SKIPPED` and passes; with `RSTLAB_REQUIRE_LINK=1` (CI, as root) it fails instead.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rstlab::Scenario;
use rstlab::check::verify::verify;
use rstlab::peer::{Peer, PeerOptions};
use rstlab::reasons::ResetLog;
use rstlab::reasons::{Missing, Resets, StatedReset};
use rstlab::run::{Backend, Net, RunOptions, Runner};
use rstlab::scenario::End;

/// Whether the reasons can be read here ([`common::reset_log`]).
fn reasons_available() -> bool {
    common::reset_log().is_some()
}

/// The RSTs of `scenario` on `net`, as the kernel stated them, after checking that the oracle
/// agrees with the kernel on everything, the reasons included.
/// What `attempt` found, where it found it: `attempt` gives `None` when the kernel lost events
/// before they were read. Tests run in parallel, and every RST of the host goes into every
/// reader's rings: while one runs, others can fill its rings. A run that lost events is no evidence
/// either way; it is run again, five times at most.
fn unless_lost<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    (0..5)
        .find_map(|_| attempt())
        .unwrap_or_else(|| panic!("{what}: events lost in five runs"))
}

/// The reasons of `resets`; `None` when events were lost; a failure when reasons are missing
/// for any other reason.
fn unless_missing(what: &str, resets: Resets) -> Option<Vec<StatedReset>> {
    match resets {
        Resets::Stated(r) => Some(r),
        Resets::Missing(Missing::Lost(_)) => None,
        Resets::Missing(m) => panic!("{what}: no reasons: {m}"),
    }
}

fn stated(scenario: &str, net: Net) -> Vec<StatedReset> {
    let options = RunOptions {
        net,
        ..RunOptions::default()
    };
    let mut runner = Runner::with_options(Backend::Std, options).expect("a runner");
    let s: Scenario = scenario.parse().unwrap();
    unless_lost(scenario, || {
        let v = verify(&mut runner, &s).expect("it runs");
        assert_eq!(v.disagreement, None, "{scenario}");
        unless_missing(scenario, v.trace.resets)
    })
}

fn reasons(resets: &[StatedReset]) -> Vec<(End, &str)> {
    resets.iter().map(|r| (r.from, r.reason.as_str())).collect()
}

#[test]
fn close_with_unread_data_is_an_abort_on_close() {
    if !reasons_available() {
        return;
    }
    let r = stated(
        "client write 3; server read 1; server close; client read 1 => ECONNRESET",
        Net::Loopback,
    );
    assert_eq!(reasons(&r), [(End::Server, "TCP_ABORT_ON_CLOSE")]);
}

#[test]
fn a_zero_linger_close_resets_for_the_state() {
    if !reasons_available() {
        return;
    }
    let r = stated("server abort; client read 1 => ECONNRESET", Net::Loopback);
    assert_eq!(reasons(&r), [(End::Server, "TCP_STATE")]);
}

#[test]
fn data_for_a_closed_peer_meets_its_mini_socket_or_its_full_socket() {
    if !reasons_available() {
        return;
    }
    let scenario = "server close; client write 1 => ok(1); client write 1 => EPIPE";
    // On the link every FIN is acknowledged at once (quickack): the closed socket has become a
    // FIN_WAIT2 mini-socket when the data arrives.
    if common::link_available_for("the link's mini-socket") {
        let r = stated(scenario, Net::Link);
        assert_eq!(reasons(&r), [(End::Server, "TCP_TIMEWAIT_SOCKET")]);
    }
    // On loopback the ACK of the FIN waits (40 ms at least) and rides on the data: the full
    // socket, still in FIN_WAIT1, takes the segment and aborts on its data. A step is a few
    // microseconds, but a loaded machine can hold the runner's thread past the delayed ACK,
    // and then the mini-socket answers, as after the pause below: both are the kernel's (the
    // oracle admits either), so a run may show either, and the full socket must show in one
    // of a few runs.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = stated(scenario, Net::Loopback);
        let got = reasons(&r);
        assert!(
            got == [(End::Server, "TCP_ABORT_ON_DATA")]
                || got == [(End::Server, "TCP_TIMEWAIT_SOCKET")],
            "{got:?}"
        );
        seen.push(got[0].1.to_string());
        if got[0].1 == "TCP_ABORT_ON_DATA" {
            break;
        }
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("TCP_ABORT_ON_DATA"),
        "{seen:?}"
    );
    // After a pause longer than the delayed ACK, the mini-socket answers on loopback too.
    let r = stated(
        "server close; client sleep 100ms; client write 1 => ok(1); client write 1 => EPIPE",
        Net::Loopback,
    );
    assert_eq!(reasons(&r), [(End::Server, "TCP_TIMEWAIT_SOCKET")]);
}

#[test]
fn a_syn_to_a_closed_port_finds_no_socket() {
    if !reasons_available() {
        return;
    }
    let mut log = ResetLog::open().unwrap();
    // A port nobody listens on: bind one, note it, close it.
    let server = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    client
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let client_addr = client.local_addr().unwrap().as_socket().unwrap();
    let since = log.now();
    let refused = client.connect(&server.into()).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let Resets::Stated(r) = log.take(client_addr, server, since) else {
        panic!("reasons are recorded");
    };
    assert_eq!(reasons(&r), [(End::Server, "NO_SOCKET")]);
}

/// A ring the host's RSTs filled before it was read has lost what came next, and the kernel
/// says so only later: the log must say the events were lost, never hand out a short list.
#[test]
fn a_ring_filled_before_it_is_read_says_events_were_lost() {
    if !reasons_available() {
        return;
    }
    let mut log = ResetLog::open().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // From another address than the port's, so that no client is ever bound to that very port
    // and connects to itself.
    let refused = || {
        let client =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        client
            .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
            .unwrap();
        let addr = client.local_addr().unwrap().as_socket().unwrap();
        let e = client.connect(&closed.into()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        addr
    };
    // More RSTs than a ring holds (1 MiB, some 9,000 events), all on this thread's CPU or
    // spread over the others: every ring that took them is full.
    for _ in 0..40_000 {
        refused();
    }
    let since = log.now();
    let client = refused();
    match log.take(client, closed, since) {
        Resets::Missing(Missing::Lost(n)) => assert!(n >= 1),
        other => panic!("a full ring must say events were lost, not {other:?}"),
    }
    // Read, the rings have room again: the kernel writes its count of what it dropped with
    // the next record that fits (that reading says lost), and from then on the RSTs are stated.
    let r = unless_lost("the next refused SYN", || {
        let since = log.now();
        let client = refused();
        unless_missing("the next refused SYN", log.take(client, closed, since))
    });
    assert_eq!(reasons(&r), [(End::Server, "NO_SOCKET")]);
}

#[test]
fn a_segment_for_a_forgotten_connection_meets_the_listener() {
    if !reasons_available() {
        return;
    }
    // The server aborted; the client's next segment reaches the port the server still listens
    // on, and the listening socket answers its ACK.
    let r = stated("server abort; client write 1 => ECONNRESET", Net::Loopback);
    assert_eq!(reasons(&r), [(End::Server, "TCP_STATE")]);
    if common::link_available_for("the delayed RST") {
        let r = stated(
            "link delay 10ms; server write 1; server abort; client sleep 20ms; \
             client read 10 => ok(1); client read 10 => ECONNRESET",
            Net::Link,
        );
        assert_eq!(
            reasons(&r),
            [(End::Server, "TCP_STATE"), (End::Server, "TCP_FLAGS")]
        );
    }
}

/// Waits (30 s at most) until `child` records the RSTs: its work has begun.
fn wait_for_rings(child: &mut std::process::Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::perf_events_of(child.id()) == 0 {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} recorded no RSTs within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Ctrl-C ends explore with its summary; the rings, the only thing it holds in the kernel for
/// the reasons, end with its descriptors (`tests/reasons_rings.rs` checks that they end with
/// their runner).
#[test]
fn ctrl_c_ends_explore_while_it_records() {
    if !reasons_available() {
        return;
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_rstlab"));
    command
        .args([
            "explore", "--time", "60s", "--jobs", "1", "--net", "loopback",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    rstlab::sys::default_sigint_in_child(&mut command);
    let mut child = command.spawn().unwrap();
    // Its rings appear once its runner is made: the work has begun.
    wait_for_rings(&mut child, "explore");
    let status = common::signal_and_wait(&mut child, rustix::process::Signal::INT, "explore");
    assert_eq!(status.code(), Some(130));
}

#[test]
fn a_runner_without_reasons_says_why() {
    let runner = Runner::with_options(
        Backend::Std,
        RunOptions {
            reasons: false,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(runner.reasons_missing(), Some(&Missing::Off));
}

#[test]
fn a_capture_names_the_reason_of_each_rst() {
    if !reasons_available() || !common::link_available() {
        return;
    }
    let options = RunOptions {
        net: Net::Link,
        capture: true,
        ..RunOptions::default()
    };
    let mut runner = Runner::with_options(Backend::Std, options).unwrap();
    let s: Scenario = "client write 3; server read 1; server close"
        .parse()
        .unwrap();
    let trace = runner.run(&s).unwrap();
    let named: Vec<&str> = trace
        .packets
        .iter()
        .filter(|p| p.note.contains("| RST:"))
        .map(|p| &*p.note)
        .collect();
    assert_eq!(named.len(), 1, "{named:?}");
    assert!(named[0].ends_with("| RST: TCP_ABORT_ON_CLOSE"), "{named:?}");
}

#[test]
fn the_diagram_names_the_kernels_reason_beside_each_rst() {
    if !reasons_available() {
        return;
    }
    let o = Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args([
            "run",
            "--diagram",
            "client write 3; server read 1; server close; client read 1 => ECONNRESET",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let rst = out
        .lines()
        .find(|l| l.contains("|<------ RST ------|"))
        .unwrap_or_else(|| panic!("no RST drawn:\n{out}"));
    // The kernel's reason, not the oracle's marked as predicted.
    assert!(
        rst.ends_with("|<------ RST ------|  close => ok  RST: TCP_ABORT_ON_CLOSE"),
        "{out}"
    );
}

/// Each connection's `(step, from, kernel, agree)` of its "why each RST".
fn peer_rows(c: &rstlab::peer::ConnectionReport) -> Vec<(usize, End, Option<&str>, bool)> {
    c.reasons
        .resets
        .iter()
        .map(|r| (r.step, r.from, r.stated.as_deref(), r.agree))
        .collect()
}

#[test]
fn the_peer_names_the_reason_of_each_connections_rst_and_only_its_own() {
    if !reasons_available() {
        return;
    }
    let played = || {
        let options = PeerOptions {
            timeout: Duration::from_secs(5),
            ..PeerOptions::default()
        };
        // Two connections played at once, each reset its own way, read from one log.
        let peer = Peer::builder()
            .scenario("client write 3; server read 1; client write 1; server close")
            .scenario("client write 1; server read 1; server abort")
            .options(options)
            .start()
            .unwrap();
        let mut first = TcpStream::connect(peer.addr()).unwrap();
        first.write_all(b"abc").unwrap();
        peer.wait_for_step(1, 2).unwrap();
        let mut second = TcpStream::connect(peer.addr()).unwrap();
        second.write_all(b"x").unwrap();
        peer.wait_for_step(2, 3).unwrap();
        first.write_all(b"d").unwrap();
        peer.wait_for_step(1, 4).unwrap();
        // Both resets have reached their clients (bounded by the read timeout).
        for mut s in [first, second] {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buffer = [0; 16];
            let got = s.read(&mut buffer);
            assert_eq!(
                got.map_err(|e| e.kind()),
                Err(std::io::ErrorKind::ConnectionReset)
            );
        }
        let report = peer.finish().unwrap();
        assert_eq!(report.reasons_missing, None);
        report
    };
    let lost = |r: &rstlab::peer::Report| {
        r.connections.iter().any(|c| {
            c.reasons
                .reasons_missing
                .as_deref()
                .is_some_and(|why| why.contains("lost"))
        })
    };
    let report = unless_lost("the peer", || Some(played()).filter(|r| !lost(r)));
    let c = &report.connections;
    assert_eq!(
        peer_rows(&c[0]),
        [(4, End::Server, Some("TCP_ABORT_ON_CLOSE"), true)],
        "{report}"
    );
    assert_eq!(
        peer_rows(&c[1]),
        [(3, End::Server, Some("TCP_STATE"), true)],
        "{report}"
    );
    let text = c[0].to_string();
    assert!(
        text.contains("4     server  TCP_ABORT_ON_CLOSE  TCP_ABORT_ON_CLOSE  yes"),
        "{text}"
    );
}

#[test]
fn a_peer_without_reasons_says_why() {
    let options = PeerOptions {
        reasons: false,
        ..PeerOptions::default()
    };
    let peer = Peer::builder()
        .scenario("server abort")
        .options(options)
        .start()
        .unwrap();
    assert_eq!(peer.reasons_missing(), Some(Missing::Off));
    assert!(!peer.records_reasons());
    let report = peer.stop().unwrap();
    assert_eq!(report.reasons_missing.as_deref(), Some("not asked for"));
}

/// `rstlab serve ARGS`, its standard output piped: the child, and the address it printed first.
fn serve(args: &[&str]) -> (std::process::Child, SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rstlab"));
    command
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    rstlab::sys::default_sigint_in_child(&mut command);
    let mut child = command.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    // The first line, byte by byte: the rest stays in the pipe for the end.
    let mut line = Vec::new();
    let mut byte = [0];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    child.stdout = Some(out);
    let addr = String::from_utf8(line)
        .unwrap()
        .parse()
        .expect("the address");
    (child, addr)
}

#[test]
fn serve_names_the_peers_reason() {
    if !reasons_available() {
        return;
    }
    let (child, addr) = serve(&[
        "--once",
        "--json",
        "--timeout",
        "5s",
        "client write 3; server read 1; server close",
    ]);
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"abc").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let got = client.read(&mut [0; 8]).map_err(|e| e.kind());
    assert_eq!(got, Err(std::io::ErrorKind::ConnectionReset));
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let connection: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        connection["resets"],
        serde_json::json!([{"step": 3, "from": "server", "stated": "TCP_ABORT_ON_CLOSE",
            "predicted": {"reason": "TCP_ABORT_ON_CLOSE"}, "agree": true}]),
        "{out}"
    );
    assert!(connection.get("reasons_missing").is_none(), "{out}");
}

#[test]
fn serve_and_exec_end_on_ctrl_c_or_sigterm_while_they_record() {
    use rustix::process::Signal;
    if !reasons_available() {
        return;
    }
    for (signal, code) in [(Signal::INT, 130), (Signal::TERM, 143)] {
        // A client that never comes: serve waits until the signal.
        let (mut child, _) = serve(&["client write 1"]);
        wait_for_rings(&mut child, "serve");
        let status = common::signal_and_wait(&mut child, signal, "serve");
        assert_eq!(status.code(), Some(code));
    }
    if !common::link_available_for("exec's rings") {
        return;
    }
    for (signal, code) in [(Signal::INT, 130), (Signal::TERM, 143)] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rstlab"));
        command
            .args([
                "exec",
                "--timeout",
                "60s",
                "client write 1",
                "--",
                "sleep",
                "60",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        rstlab::sys::default_sigint_in_child(&mut command);
        let mut child = command.spawn().unwrap();
        wait_for_rings(&mut child, "exec");
        let status = common::signal_and_wait(&mut child, signal, "exec");
        assert_eq!(status.code(), Some(code));
    }
}

#[test]
fn exec_names_the_peers_reason_across_the_link() {
    if !reasons_available() || !common::link_available_for("exec's reasons") {
        return;
    }
    let python = "import os, socket, time\n\
                  h, p = os.environ['RSTLAB_PEER'].rsplit(':', 1)\n\
                  s = socket.create_connection((h, int(p)))\n\
                  s.send(b'abc')\n\
                  time.sleep(0.3)\n";
    let (o, v) = unless_lost("exec", || {
        let o = Command::new(env!("CARGO_BIN_EXE_rstlab"))
            .args([
                "exec",
                "--json",
                "client write 3; server read 1; server close",
                "--",
                "python3",
                "-c",
                python,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if o.status.code() == Some(2) && String::from_utf8_lossy(&o.stderr).contains("python3") {
            return Some((o, None));
        }
        let out = String::from_utf8_lossy(&o.stdout);
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{e}: {out}\n{}", String::from_utf8_lossy(&o.stderr)));
        let lost = v["connections"][0]["reasons_missing"]
            .as_str()
            .is_some_and(|why| why.contains("lost"));
        (!lost).then_some((o, Some(v)))
    });
    let Some(v) = v else {
        common::skip(None, "needs python3");
        return;
    };
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let resets = &v["connections"][0]["resets"];
    assert_eq!(resets[0]["stated"], "TCP_ABORT_ON_CLOSE", "{out}\n{err}");
    assert_eq!(resets[0]["agree"], true, "{out}\n{err}");
    assert!(v.get("reasons_missing").is_none(), "{out}\n{err}");
}

#[test]
fn serve_without_reasons_says_why_once_and_plays_on() {
    // Not root: no tracefs; the peer plays and its report shows the oracle's reasons.
    let Some((passed, text)) = common::rerun_as_nobody("serve_as_nobody", false) else {
        return;
    };
    assert!(passed, "{text}");
}

/// Run by [`serve_without_reasons_says_why_once_and_plays_on`] as user nobody (a plain run as
/// root checks nothing).
#[test]
fn serve_as_nobody() {
    if rstlab::sys::net::effective_root() {
        return;
    }
    let (child, addr) = serve(&[
        "--connections",
        "2",
        "--json",
        "client write 3; server read 1; server close",
    ]);
    for _ in 0..2 {
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"abc").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = client.read(&mut [0; 8]);
    }
    let o = child.wait_with_output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(
        err.matches("the kernel's reasons for RSTs are not shown")
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("tracefs is not available"), "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let connection = &lines[0];
    assert_eq!(
        connection["resets"][0]["stated"],
        serde_json::Value::Null,
        "{out}"
    );
    assert_eq!(
        connection["resets"][0]["predicted"]["reason"], "TCP_ABORT_ON_CLOSE",
        "{out}"
    );
    assert!(connection["reasons_missing"].is_string(), "{out}");
    assert!(
        lines[2]["reasons_missing"]
            .as_str()
            .is_some_and(|w| w.contains("tracefs")),
        "{out}"
    );
}

/// The runner ends the sockets a scenario leaves open: silently while it still holds both ends
/// (`TCP_REPAIR`: no RST of its own for the next case's reader to pass over), with an RST when
/// the scenario closed one end (that RST is what ends the closed end's orphan at once).
#[test]
fn the_runner_ends_both_ends_it_holds_without_an_rst() {
    if !reasons_available() {
        return;
    }
    let mut nets = vec![Net::Loopback];
    if common::link_available_for("the link") {
        nets.push(Net::Link);
    }
    for net in nets {
        for backend in [Backend::Std, Backend::Tokio] {
            let options = RunOptions {
                net,
                reasons: false,
                ..RunOptions::default()
            };
            let mut runner = Runner::with_options(backend, options).expect("a runner");
            let mut log = ResetLog::open().expect("a reset log");
            // Every RST between the two ends from the run's start on, the runner's included.
            let mut sent = |scenario: &str| -> Vec<(End, String)> {
                let s: Scenario = scenario.parse().unwrap();
                let r = unless_lost(scenario, || {
                    let since = log.now();
                    let trace = runner.run(&s).expect("it runs");
                    unless_missing(scenario, log.take(trace.client, trace.server, since))
                });
                r.into_iter().map(|r| (r.from, r.reason)).collect()
            };
            let what = format!("{net:?}, {backend:?}");
            assert_eq!(sent("client write 1; server read 1"), [], "{what}");
            if net == Net::Link {
                // The byte still in flight is dropped with the connection, not carried to a
                // server that has no socket for it any more (its listener would answer).
                assert_eq!(sent("link delay 10ms; client write 1"), [], "{what}");
            }
            // The client in CLOSE_WAIT, the server's end an orphan in FIN_WAIT2.
            assert_eq!(
                sent("server close"),
                [(End::Client, "TCP_STATE".to_string())],
                "{what}"
            );
        }
    }
}
