//! Where the kernels part ways: each change of [`crate::oracle::kernel::CHANGES`], predicted with a
//! profile on each side of it, through the public model only.

use super::*;
use crate::oracle::kernel::Kernel;

fn on(kernel: &str, scenario: &str) -> Prediction {
    let kernel: Kernel = kernel.parse().unwrap();
    predict(
        &scenario.parse().unwrap(),
        &Settings {
            kernel,
            net: Some(Net::Link),
            ..Settings::default()
        },
    )
}

fn kinds(step: &PredictedStep) -> Vec<SegmentKind> {
    step.segments.iter().map(|s| s.kind).collect()
}

/// Ten full segments fill the first window; the close's FIN comes next.
const FULL_WINDOW_THEN_CLOSE: &str = "link delay 10ms; server write 14480; server close; client sleep 10ms; \
     client read 65536; client read 1";

#[test]
fn before_6_10_a_fin_alone_passes_a_full_window() {
    let p = on("5.10.262", FULL_WINDOW_THEN_CLOSE);
    assert_eq!(kinds(&p.steps[2]), [SegmentKind::Fin]);
    assert!(p.steps[2].rules.contains(&Rule::FinPassesFullCwnd));
    assert_eq!(
        p.steps[5].outcome,
        Outcome::Eof,
        "the FIN came with the data"
    );
}

#[test]
fn from_6_10_a_fin_alone_waits_for_the_window() {
    for kernel in ["6.10", "6.12.117", "newest"] {
        let p = on(kernel, FULL_WINDOW_THEN_CLOSE);
        assert_eq!(kinds(&p.steps[2]), [], "{kernel}");
        assert!(p.steps[2].rules.contains(&Rule::CwndHoldsBackData));
        assert!(!p.steps[2].rules.contains(&Rule::FinPassesFullCwnd));
        assert_eq!(p.steps[5].outcome, Outcome::Err(Errno::EAGAIN), "{kernel}");
    }
}

#[test]
fn before_6_10_a_fin_on_the_last_unsent_segment_passes_with_it() {
    let p = on(
        "6.1.192",
        "link delay 10ms; server write 14481; server shutdown write",
    );
    assert_eq!(kinds(&p.steps[2]), [SegmentKind::Data(1), SegmentKind::Fin]);
    let p = on(
        "newest",
        "link delay 10ms; server write 14481; server shutdown write",
    );
    assert_eq!(kinds(&p.steps[2]), []);
}

#[test]
fn a_fin_behind_more_than_one_waiting_segment_waits_on_every_kernel() {
    // 1,520 bytes wait: a full segment first, which the window holds, and the FIN behind it.
    for kernel in ["5.10", "newest"] {
        let p = on(kernel, "link delay 10ms; server write 16000; server close");
        assert_eq!(kinds(&p.steps[2]), [], "{kernel}");
    }
}

/// The server shuts down both ways while the client's byte is still on its way; the byte then
/// arrives with the acknowledgement it was sent with, older than the one the server has since
/// received (found by `rstlab kernels` on 5.10, shrunk).
const OLD_ACK_AFTER_SHUTDOWN: &str = "link delay 45ms; client write 1; link delay 0us; \
     client sleep 36ms; server read 1; server shutdown both; client sleep 9ms; client read 1; \
     client write 1";

#[test]
fn before_6_9_a_segment_with_an_old_ack_is_dropped_by_a_closing_socket() {
    for kernel in ["5.10.262", "6.1.166", "6.8"] {
        let p = on(kernel, OLD_ACK_AFTER_SHUTDOWN);
        // The server drops the byte and answers with a challenge ACK, which reaches the client
        // as a duplicate ACK: loss recovery, where the model stops, honestly, at that step.
        let beyond = p.beyond.expect(kernel);
        assert_eq!(beyond.step, 7, "{kernel}");
        assert_eq!(beyond.reason, Limit::LossRecovery, "{kernel}");
    }
}

#[test]
fn from_6_9_the_same_segment_is_taken_and_data_after_shutdown_resets() {
    for kernel in ["6.1.167", "6.9", "newest"] {
        let p = on(kernel, OLD_ACK_AFTER_SHUTDOWN);
        assert_eq!(kinds(&p.steps[6]), [SegmentKind::Rst], "{kernel}");
        assert_eq!(p.steps[7].outcome, Outcome::Eof, "{kernel}: the FIN first");
        assert_eq!(p.steps[8].outcome, Outcome::Err(Errno::EPIPE), "{kernel}");
    }
}
