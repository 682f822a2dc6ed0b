//! The kernel's own time ([`TcpSettings::KernelTime`]): the timers of a connection whose peer
//! fell silent, and what the model refuses.

use std::time::Duration;

use super::*;
use crate::reasons::RstReason;
use crate::run::Net;

fn timed(kernel: &str) -> Settings {
    Settings {
        kernel: kernel.parse().unwrap(),
        net: Some(Net::Link),
        tcp: TcpSettings::KernelTime,
        ..Settings::default()
    }
}

fn outcomes(text: &str, settings: &Settings) -> (Vec<String>, Option<Beyond>) {
    let s: Scenario = text.parse().unwrap();
    let p = predict(&s, settings);
    (
        p.steps.iter().map(|p| p.outcome.to_string()).collect(),
        p.beyond,
    )
}

const VANISHED: &str = "client write 1; server read 1; link cut; client write 1; client sleep 10m; \
    client write 1; client sleep 6m; client write 1; client write 1";

#[test]
fn a_vanished_peer_times_out_after_retransmissions_then_writes_fail_with_epipe() {
    for kernel in ["5.10", "6.1", "6.12", "7.3"] {
        let (o, beyond) = outcomes(VANISHED, &timed(kernel));
        assert_eq!(beyond, None, "{kernel}");
        assert_eq!(
            o,
            [
                "ok(1)",
                "ok(1)",
                "ok",
                "ok(1)",
                "ok",
                "ok(1)",
                "ok",
                "ETIMEDOUT",
                "EPIPE"
            ],
            "{kernel}"
        );
    }
    let s: Scenario = VANISHED.parse().unwrap();
    let p = predict(&s, &timed("6.12"));
    // The loss probe and 14 retransmissions in the first 10 minutes, the last 2 after.
    let resent = |i: usize| {
        p.steps[i]
            .segments
            .iter()
            .filter(|s| s.rule == Rule::LostDataIsRetransmitted)
            .count()
    };
    assert_eq!((resent(4), resent(6)), (14, 2));
    assert!(p.steps[6].rules.contains(&Rule::SilentPeerTimesOut));
    assert_eq!(
        p.steps[6].states,
        [Some(TcpState::Close), Some(TcpState::Established)]
    );
}

#[test]
fn outside_the_kernels_time_the_model_stops_where_the_timers_start() {
    let (_, beyond) = outcomes(
        VANISHED,
        &Settings {
            net: Some(Net::Link),
            ..Settings::default()
        },
    );
    let beyond = beyond.unwrap();
    assert_eq!(beyond.step, 5);
    assert!(beyond.reason.needs_kernel_time(), "{}", beyond.reason);
}

#[test]
fn a_user_timeout_ends_the_retransmissions_sooner() {
    let text = "client set user-timeout 2s; client write 1; server read 1; link cut; \
        client write 1; client sleep 1s; client write 1; client sleep 3s; client write 1; client write 1";
    let (o, beyond) = outcomes(text, &timed("6.12"));
    assert_eq!(beyond, None);
    assert_eq!(&o[5..], ["ok", "ok(1)", "ok", "ETIMEDOUT", "EPIPE"]);
}

#[test]
fn keepalive_ends_a_silent_idle_connection_with_an_rst_and_etimedout() {
    let text = "client write 1; server read 1; client set keepalive 10s 2s 3; link cut; \
        client sleep 15s; client read 1; client sleep 15s; client read 1; client read 1";
    let s: Scenario = text.parse().unwrap();
    let p = predict(&s, &timed("6.12"));
    assert_eq!(p.beyond, None);
    let o: Vec<String> = p.steps.iter().map(|p| p.outcome.to_string()).collect();
    assert_eq!(&o[5..], ["EAGAIN", "ok", "ETIMEDOUT", "eof"]);
    let rst = &p.steps[6].segments[0];
    assert_eq!((rst.kind, rst.from), (SegmentKind::Rst, End::Client));
    assert_eq!(rst.reason.unwrap().reason, RstReason::TcpKeepaliveTimeout);
}

#[test]
fn a_sleep_that_ends_at_a_timers_event_is_refused_with_its_window() {
    // The first retransmission leaves about 416 ms after the write.
    let (_, beyond) = outcomes(
        "link cut; client write 1; client sleep 420ms",
        &timed("6.12"),
    );
    match beyond.unwrap().reason {
        Limit::TimerWindow {
            who: End::Client,
            window,
            at,
            ..
        } => {
            assert!(
                window.contains(at) || at + TIMER_MARGIN >= window.earliest,
                "{window:?} {at:?}"
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn what_the_model_does_not_follow_yet_is_refused_with_its_reason() {
    for text in [
        // The link comes back while the timer runs.
        "link cut; client write 1; client sleep 1s; link restore",
        // Two segments out.
        "link cut; client write 1; client write 1; client sleep 1s",
        // An orphan's retries.
        "link cut; client write 1; client close; client sleep 1s",
        // A write before the timer resent the segment.
        "link cut; client write 1; client sleep 100ms; client write 1",
    ] {
        let (_, beyond) = outcomes(text, &timed("6.12"));
        let beyond = beyond.unwrap_or_else(|| panic!("{text}"));
        assert!(
            matches!(beyond.reason, Limit::Timer { .. }),
            "{text}: {}",
            beyond.reason
        );
    }
}

#[test]
fn long_sleeps_need_the_kernels_time_and_change_nothing_on_an_idle_connection() {
    let text = "client write 1; server read 1; client sleep 2h; client write 1; server read 1";
    let (_, beyond) = outcomes(text, &Settings::default());
    assert_eq!(
        beyond.unwrap().reason,
        Limit::LongSleep(Duration::from_secs(7200))
    );
    let (o, beyond) = outcomes(text, &timed("6.12"));
    assert_eq!(beyond, None);
    assert_eq!(o, ["ok(1)", "ok(1)", "ok", "ok(1)", "ok(1)"]);
}

#[test]
fn the_rebooted_peer_answers_with_an_rst_the_client_sees_as_econnreset_then_epipe() {
    let text = "client write 1; server read 1; server reboot; client write 1; client write 1; client write 1";
    let (o, beyond) = outcomes(text, &timed("6.12"));
    assert_eq!(beyond, None);
    assert_eq!(&o[3..], ["ok(1)", "ECONNRESET", "EPIPE"]);
}

#[test]
fn a_retransmission_some_start_jiffies_send_and_others_do_not_is_refused() {
    // Case 1884 of `explore --kernel 6.12 --timers --seed 1`: with a user timeout of 54,064 ms
    // the last retransmission comes or not, by the jiffy at which the story started.
    let text = "server set user-timeout 54064ms; link cut; server write 66; server sleep 749346ms";
    let (_, beyond) = outcomes(text, &timed("6.12"));
    match beyond.map(|b| b.reason) {
        Some(Limit::TimerWindow { what, .. }) => assert!(what.contains("only some"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_closed_sockets_timers_and_a_link_delay_are_refused_in_the_kernels_time() {
    let (_, beyond) = outcomes(
        "server close; client sleep 2m; client write 1",
        &timed("6.12"),
    );
    assert_eq!(
        beyond.unwrap().reason,
        Limit::ClosedSocketTimers(End::Server)
    );
    let (o, beyond) = outcomes(
        "server close; client sleep 10s; client write 1",
        &timed("6.12"),
    );
    assert_eq!((o.len(), beyond), (3, None));
    // The kept socket's timers run from the close, not from the start.
    let (o, beyond) = outcomes(
        "client sleep 40s; server close; client sleep 10s",
        &timed("6.12"),
    );
    assert_eq!((o.len(), beyond), (3, None));
    let (_, beyond) = outcomes("link delay 20ms; client write 1", &timed("6.12"));
    assert_eq!(beyond.unwrap().reason, Limit::DelayInKernelTime);
}

#[test]
fn the_silent_peers_stories_keep_the_invariants() {
    // Every story the lane's generator draws, held to the invariants the fuzz targets check.
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = crate::generate::silence_scenario();
    let mut timed_out = 0;
    for _ in 0..1000 {
        let s = strategy.new_tree(&mut runner).unwrap().current();
        let p = predict(&s, &timed("6.12"));
        assert_eq!(p.beyond, None, "{s}");
        crate::oracle::invariants::check_with(&s, &p, &timed("6.12"))
            .unwrap_or_else(|v| panic!("{s}: {v:?}"));
        timed_out += p
            .steps
            .iter()
            .any(|p| p.outcome == Outcome::Err(Errno::ETIMEDOUT)) as usize;
    }
    assert!(timed_out > 10, "{timed_out}");
}

#[test]
fn keepalive_that_will_not_fire_within_a_sleep_changes_nothing_in_the_kernels_time() {
    // The link is up: the model follows no keepalive story, and refuses only a sleep long
    // enough for the first probe, as on the lab's clock.
    let text = "client set keepalive 60s 5s 4; client write 1; server read 1; client sleep 10s; \
        client write 1";
    let (o, beyond) = outcomes(text, &timed("6.12"));
    assert_eq!((o.len(), beyond), (5, None));
    let (_, beyond) = outcomes(
        "client set keepalive 60s 5s 4; client sleep 70s",
        &timed("6.12"),
    );
    assert!(matches!(beyond.unwrap().reason, Limit::Keepalive { .. }));
}
