//! The kernel's own reason for each RST (`tcp/tcp_send_reset`), read on real sockets: the four
//! reasons measured when the work began, each where it comes from, and no tracing instance left
//! behind after a run, a panic, Ctrl-C or a kill.
//!
//! Reading the reasons needs root and a kernel from 6.12 on. Where they cannot be read, each test
//! says `SKIPPED` and passes; with `RSTLAB_REQUIRE_LINK=1` (CI, as root) it fails instead.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rstlab::Scenario;
use rstlab::check::verify::verify;
use rstlab::reasons::tracefs::ResetLog;
use rstlab::reasons::{Missing, Resets, StatedReset};
use rstlab::run::{Backend, Net, RunOptions, Runner};
use rstlab::scenario::End;

const INSTANCES: &str = "/sys/kernel/tracing/instances";

/// Whether the reasons can be read here; otherwise says why (and fails when required).
fn reasons_available() -> bool {
    match ResetLog::open() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var(common::REQUIRE_LINK).ok().as_deref() != Some("1"),
                "the kernel's RST reasons are required here ({}=1) but: {why}",
                common::REQUIRE_LINK
            );
            common::skip(None, &format!("the kernel's RST reasons: {why}"));
            false
        }
    }
}

/// The RSTs of `scenario` on `net`, as the kernel stated them, after checking that the oracle
/// agrees with the kernel on everything, the reasons included.
fn stated(scenario: &str, net: Net) -> Vec<StatedReset> {
    let options = RunOptions {
        net,
        ..RunOptions::default()
    };
    let mut runner = Runner::with_options(Backend::Std, options).expect("a runner");
    let s: Scenario = scenario.parse().unwrap();
    // Tests run in parallel, and every RST of the host goes into every instance: while a long
    // scenario runs, others can fill its buffer. A run that lost events is no evidence either
    // way; it is run again, a few times at most.
    for _ in 0..5 {
        let v = verify(&mut runner, &s).expect("it runs");
        assert_eq!(v.disagreement, None, "{scenario}");
        match v.trace.resets {
            Resets::Stated(r) => return r,
            Resets::Missing(Missing::Lost(_)) => continue,
            Resets::Missing(m) => panic!("{scenario}: no reasons: {m}"),
        }
    }
    panic!("{scenario}: events lost in five runs")
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
    // On loopback the ACK of the FIN waits (40 ms) and rides on the data: the full socket,
    // still in FIN_WAIT1, takes the segment and aborts on its data.
    let r = stated(scenario, Net::Loopback);
    assert_eq!(reasons(&r), [(End::Server, "TCP_ABORT_ON_DATA")]);
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

/// The instances this process (or `pid`) has in tracefs.
fn instances_of(pid: u32) -> Vec<String> {
    std::fs::read_dir(INSTANCES)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("rstlab-{pid}-")))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn no_instance_outlives_its_runner_even_through_a_panic() {
    if !reasons_available() {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let panicked = std::thread::spawn(move || {
        let runner = Runner::new(Backend::Std).unwrap();
        let dir = runner
            .tracing_instance()
            .expect("an instance")
            .to_path_buf();
        assert!(dir.is_dir());
        tx.send(dir).unwrap();
        panic!("on purpose, with a runner alive");
    })
    .join();
    assert!(panicked.is_err());
    let dir = rx.recv().unwrap();
    assert!(!dir.exists(), "{} outlived the panic", dir.display());
    let runner = Runner::new(Backend::Std).unwrap();
    let dir = runner.tracing_instance().unwrap().to_path_buf();
    drop(runner);
    assert!(!dir.exists(), "{} outlived its runner", dir.display());
}

#[test]
fn an_abandoned_instance_is_removed_by_the_next_runner() {
    if !reasons_available() {
        return;
    }
    // A process that has ended: its pid names an abandoned instance, as after a SIGKILL.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let abandoned = Path::new(INSTANCES).join(format!("rstlab-{pid}-0"));
    std::fs::create_dir(&abandoned).unwrap();
    let log = ResetLog::open().unwrap();
    assert!(
        !abandoned.exists(),
        "{} is still there",
        abandoned.display()
    );
    drop(log);
}

#[test]
fn ctrl_c_leaves_no_instance_behind() {
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
    let pid = child.id();
    // Its instance appears once its runner is made: the work has begun.
    let deadline = Instant::now() + Duration::from_secs(30);
    while instances_of(pid).is_empty() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("explore made no tracing instance within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = common::signal_and_wait(&mut child, rustix::process::Signal::INT, "explore");
    assert_eq!(status.code(), Some(130));
    assert_eq!(instances_of(pid), Vec::<String>::new());
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
            let mut log = ResetLog::open().expect("a tracing instance");
            // Every RST between the two ends from the run's start on, the runner's included.
            let mut sent = |scenario: &str| -> Vec<(End, String)> {
                let s: Scenario = scenario.parse().unwrap();
                for _ in 0..5 {
                    let since = log.now();
                    let trace = runner.run(&s).expect("it runs");
                    match log.take(trace.client, trace.server, since) {
                        Resets::Stated(r) => {
                            return r.into_iter().map(|r| (r.from, r.reason)).collect();
                        }
                        // Other tests' RSTs filled the buffer: no evidence either way.
                        Resets::Missing(Missing::Lost(_)) => continue,
                        Resets::Missing(m) => panic!("{scenario}: no reasons: {m}"),
                    }
                }
                panic!("{scenario}: events lost in five runs")
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
