//! `link cut` and `link restore` in the model: what a cut loses, and where the model stops
//! because a real kernel would retransmit what it lost.

use super::*;

fn predicted(text: &str) -> Prediction {
    let s: Scenario = text.parse().unwrap();
    predict(
        &s,
        &Settings {
            net: Some(Net::Link),
            ..Settings::default()
        },
    )
}

#[test]
fn a_cut_loses_what_is_sent_both_ways_until_the_restore() {
    let p = predicted(
        "link cut; client write 1; server write 2; link restore; server read 1; client read 2",
    );
    assert_eq!(p.beyond, None);
    let outcomes: Vec<String> = p.steps.iter().map(|s| s.outcome.to_string()).collect();
    assert_eq!(outcomes, ["ok", "ok(1)", "ok(2)", "ok", "EAGAIN", "EAGAIN"]);
    assert!(p.steps[0].rules.contains(&Rule::CutLosesSegments));
    for step in &p.steps[1..3] {
        assert!(step.rules.contains(&Rule::CutLosesSegments), "{step:?}");
        assert_eq!(step.in_flight, 0, "nothing crosses a cut link");
        assert_eq!(step.segments.len(), 1, "the kernel still sends it");
    }
}

#[test]
fn a_cut_loses_what_is_in_flight_and_held() {
    let p = predicted("link delay 10ms; client write 1; link hold; server write 1; link cut");
    assert_eq!(p.steps[3].in_flight, 2);
    assert_eq!(p.steps[4].in_flight, 0);
    assert!(p.steps[4].rules.contains(&Rule::CutLosesSegments));
}

#[test]
fn segments_sent_after_the_restore_cross_under_the_current_delay() {
    let p = predicted(
        "link delay 10ms; link cut; link restore; client write 1; client sleep 10ms; server read 1",
    );
    assert_eq!(p.beyond, None);
    assert_eq!(p.steps[5].outcome, Outcome::Bytes(1));
}

#[test]
fn a_second_cut_and_a_restore_without_a_cut_change_nothing() {
    let p = predicted("link restore; client write 1; server read 1; link cut; link cut");
    assert_eq!(p.beyond, None);
    assert_eq!(p.steps[2].outcome, Outcome::Bytes(1));
}

#[test]
fn a_lost_rst_is_answered_anew_as_after_a_drop() {
    // The RST of the abort is lost: the client still believes the connection open, and its
    // next segment draws a new RST from a socket that is gone.
    let p = predicted("link cut; server abort; link restore; client write 1; client write 1");
    assert_eq!(p.beyond, None);
    assert_eq!(p.steps[3].outcome, Outcome::Bytes(1));
    assert!(
        p.steps[3].rules.contains(&Rule::LostRstIsAnsweredByANewRst),
        "{:?}",
        p.steps[3]
    );
    assert_eq!(p.steps[4].outcome, Outcome::Err(Errno::ECONNRESET));
}

#[test]
fn a_cut_long_enough_for_a_retransmission_is_refused() {
    let p = predicted("link cut; client write 1; client sleep 1s");
    let beyond = p.beyond.expect("refused");
    assert_eq!(beyond.step, 3);
    assert_eq!(
        beyond.reason,
        Limit::Retransmission {
            who: End::Client,
            after: RETRANSMIT_AFTER
        }
    );
    // Short of the timer, the model follows: the byte is still lost.
    let p = predicted("link cut; client write 1; client sleep 150ms; link restore; server read 1");
    assert_eq!(p.beyond, None);
    assert_eq!(p.steps[4].outcome, Outcome::Err(Errno::EAGAIN));
    // So is a lost FIN's wait.
    let p = predicted("link cut; server close; client sleep 1s");
    assert!(
        matches!(
            p.beyond.map(|b| b.reason),
            Some(Limit::Retransmission {
                who: End::Server,
                ..
            })
        ),
        "a lost FIN waits for its retransmission too"
    );
}
