//! The seed article's story, on real sockets: a server reads one byte and closes; a client
//! writes three one-byte messages. The first two writes succeed (the second one is answered by
//! the server's kernel with RST) and the third fails with EPIPE.

use rstlab::check::verify::verify;
use rstlab::oracle::{self, SegmentKind};
use rstlab::run::{Backend, Runner};
use rstlab::scenario::End;
use rstlab::{Errno, Outcome, Rule, Scenario};

const SEED: &str = "
    client write 1 => ok(1)   # \"a\"
    server read 1 => ok(1)
    server close              # FIN
    client write 1 => ok(1)   # \"b\": the server's kernel answers with RST
    client write 1 => EPIPE   # \"c\": broken pipe
";

fn seed_on(backend: Backend) {
    let seed: Scenario = SEED.parse().unwrap();
    let verified = verify(&mut Runner::new(backend).unwrap(), &seed).unwrap();
    let trace = &verified.trace;
    let writes: Vec<&Outcome> = [0, 3, 4].iter().map(|&i| &trace.steps[i].outcome).collect();
    assert_eq!(
        writes,
        [
            &Outcome::Bytes(1),
            &Outcome::Bytes(1),
            &Outcome::Err(Errno::EPIPE)
        ]
    );
    assert_eq!(verified.disagreement, None);
}

#[test]
fn the_seed_article_writes_ok_ok_then_epipe_on_std_sockets() {
    seed_on(Backend::Std);
}

#[test]
fn the_seed_article_writes_ok_ok_then_epipe_on_tokio_sockets() {
    seed_on(Backend::Tokio);
}

#[test]
fn the_second_write_is_answered_with_rst_after_the_fin() {
    let seed: Scenario = SEED.parse().unwrap();
    let p = oracle::predict(&seed, &oracle::Settings::default());
    let close: Vec<_> = p.steps[2]
        .segments
        .iter()
        .map(|s| (s.from, s.kind))
        .collect();
    assert_eq!(close, [(End::Server, SegmentKind::Fin)]);
    let second: Vec<_> = p.steps[3]
        .segments
        .iter()
        .map(|s| (s.from, s.kind))
        .collect();
    assert_eq!(
        second,
        [
            (End::Client, SegmentKind::Data(1)),
            (End::Server, SegmentKind::Rst)
        ]
    );
    assert!(p.steps[3].rules.contains(&Rule::RstAfterFinLeavesEpipe));
}

mod common;

/// `rstlab seed --delay`: the article on a link. With a 20 ms round trip and writes 5 ms apart
/// after the close, the RST answering the first of them comes back only after four of them
/// (each on the link's clock, so the count is exact).
#[test]
fn on_a_link_every_write_within_a_round_trip_of_the_close_succeeds() {
    if !common::link_available() {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args([
            "seed",
            "--delay",
            "10ms",
            "--interval",
            "5ms",
            "--writes",
            "8",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let kernel: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("write \""))
        .map(|l| l.split_whitespace().nth(3).unwrap())
        .collect();
    // "a", then writes at 15, 20, 25, 30 ms after it succeed (the RST for the one at 15 ms
    // arrives at 35 ms), then EPIPE.
    assert_eq!(
        kernel,
        [
            "ok(1)", "ok(1)", "ok(1)", "ok(1)", "ok(1)", "EPIPE", "EPIPE", "EPIPE"
        ],
        "{text}"
    );
    assert!(
        text.contains("the oracle agrees with the kernel on every step"),
        "{text}"
    );
    assert!(
        text.contains("client receives RST"),
        "the wire is shown:\n{text}"
    );
}
