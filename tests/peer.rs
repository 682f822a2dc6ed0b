//! `rstlab::peer` against real clients on loopback: what it plays, what it sees, what it reports.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use rstlab::peer::{Peer, PeerError, PeerOptions, PeerSaw};
use rstlab::{Errno, Outcome, TcpState};

fn options(timeout_ms: u64) -> PeerOptions {
    PeerOptions {
        timeout: Duration::from_millis(timeout_ms),
        ..PeerOptions::default()
    }
}

/// A peer playing `scenarios` (connection N the Nth) as `options` say.
fn serve(scenarios: &[&str], options: PeerOptions) -> Result<Peer, PeerError> {
    scenarios
        .iter()
        .fold(Peer::builder(), |builder, text| builder.scenario(text))
        .options(options)
        .start()
}

/// The fixture of most tests here: a peer playing `scenario`, waiting at most `timeout_ms` for
/// each `client` step, and a client connected to it.
fn connected(scenario: &str, timeout_ms: u64) -> (Peer, TcpStream) {
    let peer = serve(&[scenario], options(timeout_ms)).unwrap();
    let client = TcpStream::connect(peer.addr()).unwrap();
    (peer, client)
}

/// Waits (at most 5 s) until the test's own socket is in `state`.
fn wait_state(stream: &TcpStream, state: TcpState) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while rstlab::sys::tcp_info(stream).unwrap().state != state {
        assert!(
            Instant::now() < deadline,
            "the client never reached {state}"
        );
        std::thread::yield_now();
    }
}

fn outcome_of_write(stream: &mut TcpStream, bytes: &[u8]) -> Outcome {
    Outcome::of_write(stream.write(bytes))
}

#[test]
fn the_seed_article_against_a_std_client_matches_the_oracle_call_by_call() {
    let (peer, mut client) = connected(
        "client write 1; server read 1; server close; client write 1; client write 1",
        2000,
    );
    let mut seen = vec![outcome_of_write(&mut client, b"a")];
    // The server closes when the step comes; the client writes again once the FIN is in.
    peer.wait_for_step(1, 3).unwrap();
    wait_state(&client, TcpState::CloseWait);
    seen.push(outcome_of_write(&mut client, b"b"));
    // The last write goes after the RST that answers the second one has come back.
    peer.wait_for_step(1, 4).unwrap();
    wait_state(&client, TcpState::Close);
    seen.push(outcome_of_write(&mut client, b"c"));
    let report = peer.finish().unwrap();
    let conn = &report.connections[0];
    let predicted: Vec<&Outcome> = [0, 3, 4]
        .iter()
        .map(|&i| {
            conn.steps[i]
                .predicted
                .outcome()
                .expect("every step is predicted")
        })
        .collect();
    assert_eq!(
        seen.iter().collect::<Vec<_>>(),
        predicted,
        "the client's real results against the oracle\n{report}"
    );
    assert_eq!(seen[2], Outcome::Err(Errno::EPIPE));
    assert!(
        matches!(conn.steps[0].peer, PeerSaw::Seen { .. }),
        "{report}"
    );
    assert_eq!(conn.steps[1].as_scripted, Some(true), "{report}");
    // Step 4: something reached the closed socket, which answered RST and is gone; a closed
    // socket counts no bytes, so the step is not checked, and the report says why.
    let PeerSaw::Uncounted { what, why, .. } = &conn.steps[3].peer else {
        panic!("{report}")
    };
    assert!(what.contains("gone"), "{report}");
    assert!(why.contains("counts no bytes"), "{report}");
    assert_eq!(conn.steps[3].as_scripted, None, "{report}");
    let row = report
        .to_string()
        .lines()
        .find(|l| l.trim_start().starts_with("4 "))
        .map(str::to_owned)
        .unwrap();
    assert!(row.contains("not checked"), "{row}");
    assert!(!row.contains("yes"), "{row}");
    assert!(
        report
            .to_string()
            .contains("step 4 not checked: the peer had closed its socket"),
        "{report}"
    );
    // Step 5: nothing is left on the peer's side to see it.
    assert!(
        matches!(conn.steps[4].peer, PeerSaw::Unobservable { .. }),
        "{report}"
    );
    assert!(conn.steps[3].oracle.contains("lost"), "{report}");
    assert!(report.as_scripted(), "{report}");
    assert!(
        conn.forecast
            .summary
            .starts_with("Your next write fails with EPIPE"),
        "{}",
        conn.forecast.summary
    );
}

/// The peer sets its own socket's timer options as scripted, and they send nothing; a client's
/// `set` is on your program's socket, which the peer cannot see.
#[test]
fn the_peer_sets_its_timer_options_and_they_send_nothing() {
    let (peer, mut client) = connected(
        "client write 2; server set keepalive 10s 2s 3 => ok; server set user-timeout 2s => ok; server read 2 => ok(2)",
        2000,
    );
    client.write_all(b"ab").unwrap();
    let report = peer
        .next_connection(Duration::from_secs(5))
        .expect("played");
    assert!(report.as_scripted(), "{report}");
    assert!(
        matches!(&report.steps[1].peer, PeerSaw::Called { outcome, .. } if *outcome == rstlab::Outcome::Ok),
        "{report}"
    );
    assert!(
        report.to_string().contains("timer-options-send-nothing"),
        "{report}"
    );
    let refused = serve(
        &["client set user-timeout 1s; client write 1"],
        options(500),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(
        refused.contains("the peer cannot see it happen"),
        "{refused}"
    );
}

#[test]
fn a_client_that_never_connects_is_reported_and_finish_returns_at_once() {
    let peer = Peer::serve("client write 1; server close").unwrap();
    let start = Instant::now();
    let report = peer.finish().unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(report.connections.is_empty());
    assert!(!report.as_scripted());
    assert_eq!(
        report.summary(),
        format!("no client connected to {}", report.addr)
    );
}

#[test]
fn bytes_that_do_not_arrive_are_not_seen_within_the_timeout_and_the_rest_is_not_played() {
    let (peer, mut client) = connected("client write 5; server close", 300);
    client.write_all(b"ab").unwrap();
    let start = Instant::now();
    let report = peer
        .next_connection(Duration::from_secs(5))
        .expect("played");
    assert!(start.elapsed() < Duration::from_secs(3));
    let PeerSaw::NotSeen { why, waited_ms } = &report.steps[0].peer else {
        panic!("{report}")
    };
    assert!(*waited_ms >= 300.0, "{report}");
    assert!(why.contains("2 bytes received"), "{report}");
    assert!(why.contains("2 of 5 bytes arrived"), "{report}");
    assert!(
        matches!(report.steps[1].peer, PeerSaw::NotRun { .. }),
        "{report}"
    );
    assert!(!report.as_scripted());
    assert!(report.after.contains("stopped playing"), "{report}");
    // The peer closed its socket: with 2 unread bytes, that is an RST.
    let mut buf = [0; 8];
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let read = client.read(&mut buf);
    assert_eq!(
        read.map_err(|e| e.kind()).err(),
        Some(ErrorKind::ConnectionReset)
    );
    drop(peer);
}

#[test]
fn more_bytes_than_the_scenario_writes_are_a_deviation() {
    let (peer, mut client) = connected("client write 2; server read 2; server write 1", 2000);
    client.write_all(b"abcde").unwrap();
    let mut one = [0; 1];
    client.read_exact(&mut one).unwrap();
    drop(client);
    let report = peer.finish().unwrap();
    let conn = &report.connections[0];
    assert!(!conn.as_scripted(), "{report}");
    assert!(
        conn.deviations
            .iter()
            .any(|d| d.contains("had sent 5 bytes, 3 more")),
        "{report}"
    );
}

#[test]
fn the_clients_fin_and_rst_are_seen_and_the_peers_calls_match_the_oracle() {
    let peer = serve(
        &[
            "client write 3; client shutdown write; server read 5; server read 5",
            "client write 3; client abort; server read 1",
        ],
        options(2000),
    )
    .unwrap();
    let mut half = TcpStream::connect(peer.addr()).unwrap();
    half.write_all(b"abc").unwrap();
    half.shutdown(Shutdown::Write).unwrap();
    let first = peer.next_connection(Duration::from_secs(5)).unwrap();
    assert!(first.as_scripted(), "{first}");
    assert_eq!(
        first.steps[2].peer,
        PeerSaw::Called {
            outcome: Outcome::Bytes(3),
            state: Some(TcpState::CloseWait)
        }
    );
    assert!(matches!(
        &first.steps[3].peer,
        PeerSaw::Called {
            outcome: Outcome::Eof,
            ..
        }
    ));

    let abort = TcpStream::connect(peer.addr()).unwrap();
    (&abort).write_all(b"abc").unwrap();
    socket2::SockRef::from(&abort)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(abort);
    let second = peer.next_connection(Duration::from_secs(5)).unwrap();
    assert!(second.as_scripted(), "{second}");
    // The queued bytes survive the RST.
    assert_eq!(second.steps[2].predicted, Outcome::Bytes(1));
    drop(half);
    assert!(peer.finish().unwrap().as_scripted());
}

#[test]
fn server_writes_send_the_payload_in_order_from_its_start_again() {
    let options = PeerOptions {
        respond: b"abc".to_vec(),
        ..options(2000)
    };
    let peer = serve(&["server write 5; server write 5; server close"], options).unwrap();
    let mut client = TcpStream::connect(peer.addr()).unwrap();
    let mut got = String::new();
    client.read_to_string(&mut got).unwrap();
    assert_eq!(got, "abcabcabca");
    assert!(peer.finish().unwrap().as_scripted());
}

#[test]
fn a_second_connection_past_max_connections_is_refused_and_reported() {
    let options = PeerOptions {
        max_connections: Some(1),
        ..options(2000)
    };
    let peer = serve(&["server close"], options).unwrap();
    let mut first = TcpStream::connect(peer.addr()).unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap();
    let mut second = TcpStream::connect(peer.addr()).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let read = second.read(&mut [0; 1]).map_err(|e| e.kind());
    assert_eq!(read.err(), Some(ErrorKind::ConnectionReset));
    let report = peer.finish().unwrap();
    assert_eq!(report.connections.len(), 1);
    assert_eq!(report.refused.len(), 1, "{report}");
    assert!(report.refused[0].why.contains("at most 1"), "{report}");
    assert!(!report.as_scripted());
}

#[test]
fn unplayable_steps_and_other_addresses_are_refused_before_listening() {
    let e = Peer::serve("client write 1\nserver write 1\nclient read 1")
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .starts_with("line 3, column 1: `client read 1` cannot be played"),
        "{e}"
    );
    let e = serve(&["server close", "client shutdown read"], options(100))
        .err()
        .unwrap();
    assert!(
        e.to_string().starts_with("scenario 2, line 1, column 1"),
        "{e}"
    );
    // Ops the peer has no call or observation for, on either end.
    for (text, step) in [
        ("client write 1; server poll", "server poll"),
        ("client error", "client error"),
    ] {
        let e = Peer::serve(text).err().unwrap();
        assert!(
            e.to_string().contains(&format!("`{step}` is neither")),
            "{e}"
        );
    }
    let e = Peer::builder()
        .scenario("server close")
        .listen("0.0.0.0:0".parse().unwrap())
        .start()
        .err()
        .unwrap();
    assert!(matches!(e, PeerError::NotLoopback(_)), "{e}");
    assert!(e.to_string().contains("loopback only"), "{e}");
}

#[test]
fn stop_ends_a_wait_at_once_and_reports_the_steps_not_played() {
    let (peer, _client) = connected("client write 1; server close", 30_000);
    // Let the peer accept and start waiting; then stop it long before its timeout.
    while peer.connections() == 0 {
        std::thread::yield_now();
    }
    let start = Instant::now();
    let report = peer.stop().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let conn = &report.connections[0];
    // The step it was waiting for was not seen: the stop ended the wait.
    assert!(
        matches!(conn.steps[0].peer, PeerSaw::NotSeen { .. }),
        "{report}"
    );
    assert!(
        matches!(conn.steps[1].peer, PeerSaw::NotRun { .. }),
        "{report}"
    );
}

#[test]
fn wait_for_step_gives_up_after_the_timeout() {
    let peer = serve(&["client write 1; server close"], options(100)).unwrap();
    let e = peer.wait_for_step(1, 1).unwrap_err();
    assert!(matches!(e, PeerError::NotReached { .. }), "{e}");
    let e = peer.wait_for_step(0, 1).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("connection 0 did not reach step 1"),
        "{e}"
    );
}

#[test]
fn several_peers_in_one_process_serve_tokio_clients() {
    let peers: Vec<Peer> = (0..3)
        .map(|_| {
            serve(
                &["client write 4; server read 4; server write 2; server abort"],
                options(2000),
            )
            .unwrap()
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut results = Vec::new();
        for peer in &peers {
            let mut stream = tokio::net::TcpStream::connect(peer.addr()).await.unwrap();
            stream.write_all(b"ping").await.unwrap();
            let mut got = Vec::new();
            // Two bytes, then the RST: the queued bytes survive it.
            let end = stream.read_to_end(&mut got).await.map_err(|e| e.kind());
            results.push((got.len(), end.err()));
        }
        results
    });
    for (peer, (len, end)) in peers.into_iter().zip(results) {
        assert_eq!((len, end), (2, Some(ErrorKind::ConnectionReset)));
        let report = peer.finish().unwrap();
        assert!(report.as_scripted(), "{report}");
        assert!(
            report.connections[0]
                .forecast
                .summary
                .contains("fails with ECONNRESET"),
            "{}",
            report.connections[0].forecast.summary
        );
    }
}

#[test]
fn expectations_are_checked_on_the_peers_calls_and_held_against_the_oracle_on_the_clients() {
    let (peer, mut client) = connected(
        "client write 2 => EPIPE; server read 2 => ok(1); server close",
        2000,
    );
    client.write_all(b"ab").unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    let report = peer.finish().unwrap();
    let conn = &report.connections[0];
    assert_eq!(
        conn.deviations,
        [
            "step 1 expects EPIPE of your program's call; the oracle predicts ok(2)",
            "step 2 expects ok(1), the peer's kernel returned ok(2)"
        ],
        "{report}"
    );
    assert_eq!(conn.steps[1].as_scripted, Some(false));
}

/// Waits (at most 5 s) until everything the test's socket sent is acknowledged: the peer's
/// kernel has every byte.
fn wait_acked(stream: &TcpStream) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !rstlab::sys::tcp_info(stream).unwrap().send_queue_empty() {
        assert!(Instant::now() < deadline, "the peer never acknowledged");
        std::thread::yield_now();
    }
}

#[test]
fn a_write_cut_short_says_how_many_of_its_bytes_arrived_when_the_peer_stops() {
    // The client sends 67 of the 68 bytes the scenario says; the peer is stopped (as `exec`
    // stops it at its deadline) while it waits for the last one.
    let (peer, mut client) = connected("client write 68; server read 68; server close", 30_000);
    client.write_all(&[b'r'; 67]).unwrap();
    wait_acked(&client);
    while peer.connections() == 0 {
        std::thread::yield_now();
    }
    let report = peer.stop().unwrap();
    let conn = &report.connections[0];
    let PeerSaw::NotSeen { why, .. } = &conn.steps[0].peer else {
        panic!("{report}")
    };
    assert!(why.contains("67 of 68 bytes arrived"), "{report}");
    assert!(
        why.contains("the peer was stopped after waiting"),
        "{report}"
    );
    // The later steps say why they were not played: the step before them was not seen.
    for later in &conn.steps[1..] {
        let PeerSaw::NotRun { why } = &later.peer else {
            panic!("{report}")
        };
        assert_eq!(why, "step 1 was not seen", "{report}");
    }
}

#[test]
fn a_close_after_extra_unread_bytes_is_predicted_from_what_arrived() {
    // The scenario's client writes 2 bytes; this one writes 3 in one call. The peer reads 2
    // and closes with 1 unread: its kernel sends RST, and the oracle must say so.
    let (peer, mut client) = connected("client write 2; server read 2; server close", 5000);
    client.write_all(b"abc").unwrap();
    wait_acked(&client);
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0; 4];
    let read = client.read(&mut buf).map_err(|e| e.kind());
    assert_eq!(read.err(), Some(ErrorKind::ConnectionReset));
    let report = peer.finish().unwrap();
    let conn = &report.connections[0];
    let close = &conn.steps[2];
    let rules: Vec<&str> = close.rules.iter().map(|r| r.id()).collect();
    assert!(
        rules.contains(&"close-with-unread-data-sends-rst"),
        "{report}"
    );
    assert!(!rules.contains(&"close-sends-fin"), "{report}");
    // Still a deviation: the client sent more than the scenario says.
    assert!(
        conn.deviations
            .iter()
            .any(|d| d.contains("had sent 3 bytes, 1 more")),
        "{report}"
    );
    // And what the client's next calls get follows the RST too.
    assert_eq!(
        conn.forecast.reads[0].outcome,
        Outcome::Err(Errno::ECONNRESET),
        "{report}"
    );
}

#[test]
fn the_clients_request_is_taken_whole_whatever_its_length() {
    // An HTTP request sent in two writes, the second after the peer saw the first: the peer
    // waits for the end of the headers and the body, and predicts with the length that arrived.
    let (peer, mut client) = connected(
        "client write request; server read 65536; server write 5; server close",
        5000,
    );
    let head = b"POST /x HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\n";
    client.write_all(head).unwrap();
    wait_acked(&client);
    client.write_all(b"body").unwrap();
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, b"xxxxx");
    let report = peer.finish().unwrap();
    let conn = &report.connections[0];
    assert!(conn.as_scripted(), "{report}");
    let n = head.len() + 4;
    let request = &conn.steps[0];
    assert_eq!(request.text, "client write request");
    let PeerSaw::Seen { what, .. } = &request.peer else {
        panic!("{report}")
    };
    assert!(
        what.contains(&format!("an HTTP request of {n} bytes")),
        "{report}"
    );
    assert_eq!(request.predicted, Outcome::Bytes(n), "{report}");
    assert_eq!(conn.steps[1].predicted, Outcome::Bytes(n), "{report}");
    assert_eq!(
        conn.scenario,
        "client write request; server read 65536; server write 5; server close"
    );
    // The forecast follows from the request's length too.
    assert!(conn.forecast.writes[0].lost, "{report}");
}

#[test]
fn a_request_that_is_not_http_ends_when_the_client_pauses() {
    let (peer, mut client) = connected("client write request; server close", 5000);
    client.write_all(b"hello, peer").unwrap();
    // Unread, the 11 bytes make the peer's close an RST: the oracle knows it from their count.
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0; 4];
    let read = client.read(&mut buf).map_err(|e| e.kind());
    assert_eq!(read.err(), Some(ErrorKind::ConnectionReset));
    let report = peer.finish().unwrap();
    let conn = &report.connections[0];
    assert!(conn.as_scripted(), "{report}");
    let PeerSaw::Seen { what, waited_ms } = &conn.steps[0].peer else {
        panic!("{report}")
    };
    assert!(
        what.contains("a request of 11 bytes arrived, then nothing for 100ms"),
        "{report}"
    );
    assert!(*waited_ms >= 100.0, "{report}");
    let rules: Vec<&str> = conn.steps[1].rules.iter().map(|r| r.id()).collect();
    assert!(
        rules.contains(&"close-with-unread-data-sends-rst"),
        "{report}"
    );
}

#[test]
fn a_request_cut_short_is_not_seen_and_nothing_after_it_is_predicted() {
    let (peer, mut client) =
        connected("client write request; server read 65536; server close", 300);
    client.write_all(b"GET / HTTP/1.1\r\nHost: te").unwrap();
    let report = peer
        .next_connection(Duration::from_secs(5))
        .expect("played");
    let PeerSaw::NotSeen { why, .. } = &report.steps[0].peer else {
        panic!("{report}")
    };
    assert!(
        why.contains("24 bytes of an HTTP request arrived, its headers have not ended"),
        "{report}"
    );
    assert!(
        report.steps[1]
            .oracle
            .contains("the length of the client's request (step 1) is not known"),
        "{report}"
    );
    assert!(
        report.forecast.summary.contains("not predicted"),
        "{report}"
    );
    drop(client);
    drop(peer);
}

#[test]
fn a_request_after_the_peers_close_is_refused_with_its_place() {
    let e =
        rstlab::peer::parse("client write 1; server read 1; server close\nclient write request")
            .unwrap_err();
    let PeerError::Unplayable(refused) = &e else {
        panic!("{e}")
    };
    assert_eq!(refused.position, Some((2, 1)), "{e}");
    assert!(
        refused.reason.contains("after `server close` (step 3)"),
        "{e}"
    );
}

/// Where the peer listens is the builder's, one place: an address of its own (loopback only),
/// or a listener handed in, which it accepts on as it is.
#[test]
fn the_builder_listens_where_told_or_on_the_listener_given() {
    let peer = Peer::builder()
        .scenario("server close")
        .listen("127.0.0.2:0".parse().unwrap())
        .start()
        .unwrap();
    assert_eq!(peer.addr().ip().to_string(), "127.0.0.2");
    drop(peer);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The listener replaces the address asked for before it.
    let peer = Peer::builder()
        .scenario("server close")
        .listen("0.0.0.0:0".parse().unwrap())
        .listener(listener)
        .start()
        .unwrap();
    assert_eq!(peer.addr(), addr);
    let mut client = TcpStream::connect(addr).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    let report = peer.finish().unwrap();
    assert!(report.as_scripted(), "{report}");
}
