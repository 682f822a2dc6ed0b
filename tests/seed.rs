//! The seed article's story, on real sockets: a server reads one byte and closes; a client
//! writes three one-byte messages. The first two writes succeed (the second one is answered by
//! the server's kernel with RST) and the third fails with EPIPE.

use rstlab::oracle::{SegmentKind, predict_for};
use rstlab::run::{Backend, Runner};
use rstlab::scenario::Actor;
use rstlab::{Errno, Outcome, Rule, Scenario, check};

const SEED: &str = "
    client write 1 => ok(1)   # \"a\"
    server read 1 => ok(1)
    server close              # FIN
    client write 1 => ok(1)   # \"b\": the server's kernel answers with RST
    client write 1 => EPIPE   # \"c\": broken pipe
";

fn seed_on(backend: Backend) {
    let seed: Scenario = SEED.parse().unwrap();
    let trace = Runner::new(backend).unwrap().run(&seed).unwrap();
    let writes: Vec<&Outcome> = [0, 3, 4].iter().map(|&i| &trace.steps[i].outcome).collect();
    assert_eq!(
        writes,
        [
            &Outcome::Bytes(1),
            &Outcome::Bytes(1),
            &Outcome::Err(Errno::EPIPE)
        ]
    );
    let prediction = predict_for(&seed, backend);
    assert_eq!(check::check(&seed, &prediction, &trace), None);
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
    let p = predict_for(&seed, Backend::Std);
    let close: Vec<_> = p.steps[2]
        .segments
        .iter()
        .map(|s| (s.from, s.kind))
        .collect();
    assert_eq!(close, [(Actor::Server, SegmentKind::Fin)]);
    let second: Vec<_> = p.steps[3]
        .segments
        .iter()
        .map(|s| (s.from, s.kind))
        .collect();
    assert_eq!(
        second,
        [
            (Actor::Client, SegmentKind::Data(1)),
            (Actor::Server, SegmentKind::Rst)
        ]
    );
    assert!(p.steps[3].rules.contains(&Rule::RstAfterFinLeavesEpipe));
}
