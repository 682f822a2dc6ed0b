//! The model against the lane: every run stored in `docs/timers/measured.json` (Debian's 5.10,
//! 6.1 and 6.12 under QEMU's instruction-count clock, `rstlab lane-probe`) must fall in the
//! window the model predicts, the error and every segment the timer sent; the windows'
//! widths are checked too, so that a window cannot pass by being wide.

use std::time::Duration;

use serde::Deserialize;

use super::*;
use crate::oracle::kernel::Kernel;

const MEASURED: &str = include_str!("../../../docs/timers/measured.json");

#[derive(Deserialize)]
struct Measured {
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct KeepaliveParams {
    idle_s: u64,
    interval_s: u64,
    count: u32,
}

#[derive(Deserialize)]
struct Run {
    kernel: String,
    experiment: String,
    user_timeout_ms: Option<u64>,
    keepalive: Option<KeepaliveParams>,
    rtt_us: Option<u32>,
    rttvar_us: Option<u32>,
    rto_us: Option<u32>,
    error_after_ns: u64,
    error: String,
    next_write: String,
    client_segments_ns: Vec<u64>,
}

impl Run {
    fn kernel(&self) -> Kernel {
        self.kernel.parse().expect("a kernel release")
    }

    fn settings(&self) -> TimerSettings {
        TimerSettings {
            user_timeout: self.user_timeout_ms.map(Duration::from_millis),
            keepalive: self.keepalive.as_ref().map(|k| KeepaliveOptions {
                idle: Some(Duration::from_secs(k.idle_s)),
                interval: Some(Duration::from_secs(k.interval_s)),
                count: Some(k.count),
            }),
            ..TimerSettings::default()
        }
    }

    fn estimator(&self) -> RttEstimator {
        // `vanished-peer` did not read TCP_INFO: its one exchange on loopback took well
        // under a jiffy, as every run that read it shows (65 µs); any RTT under 3.8 ms gives
        // the same 51-jiffy RTO.
        RttEstimator::from_info(
            self.rtt_us.unwrap_or(65),
            self.rttvar_us.unwrap_or(34),
            rto::RTO_MIN,
        )
    }

    fn prediction(&self) -> Prediction {
        let kernel = self.kernel();
        let settings = self.settings();
        match self.experiment.as_str() {
            "vanished-peer" => vanished_peer(kernel, &settings, self.estimator(), Lost::NoRoute),
            "cut-peer" | "user-timeout" => {
                vanished_peer(kernel, &settings, self.estimator(), Lost::OnTheWay)
            }
            "keepalive" => predict(&Keepalive::new(kernel, &settings), kernel),
            other => panic!("no model for {other}"),
        }
    }

    /// The segments the timer sent: the write's own segment (at 0) is not the timer's.
    fn timer_segments(&self) -> &[u64] {
        match self.experiment.as_str() {
            "cut-peer" | "user-timeout" => &self.client_segments_ns[1..],
            _ => &self.client_segments_ns,
        }
    }
}

fn runs() -> Vec<Run> {
    serde_json::from_str::<Measured>(MEASURED)
        .expect("docs/timers/measured.json parses")
        .runs
}

/// How far `t` is from the middle of `w`.
fn off_centre(w: &Window, t: Duration) -> Duration {
    let mid = (w.earliest + w.latest) / 2;
    t.abs_diff(mid)
}

#[test]
fn every_measured_error_falls_in_its_predicted_window() {
    let runs = runs();
    assert!(runs.len() >= 24, "three kernels, eight runs each");
    for run in &runs {
        let p = run.prediction();
        let measured = Duration::from_nanos(run.error_after_ns);
        let w = p
            .error
            .unwrap_or_else(|| panic!("{}: no error predicted", run.kernel));
        assert!(
            w.contains(measured),
            "{} {} ut={:?}: measured {measured:?}, predicted {w:?}",
            run.kernel,
            run.experiment,
            run.user_timeout_ms
        );
        assert_eq!(run.error, "ETIMEDOUT");
        assert_eq!(run.next_write, "EPIPE");
    }
}

#[test]
fn every_segment_the_timers_sent_falls_in_its_window() {
    for run in runs() {
        let p = run.prediction();
        let sent = run.timer_segments();
        assert!(
            run.experiment == "vanished-peer" || sent.len() == p.segments.len(),
            "{} {}: {} segments, predicted {}",
            run.kernel,
            run.experiment,
            sent.len(),
            p.segments.len()
        );
        for (i, (&t, w)) in sent.iter().zip(&p.segments).enumerate() {
            let t = Duration::from_nanos(t);
            assert!(
                w.contains(t),
                "{} {} segment {i}: at {t:?}, predicted {w:?}",
                run.kernel,
                run.experiment
            );
        }
    }
}

#[test]
fn the_windows_are_as_narrow_as_the_wheel_allows() {
    for run in runs() {
        let p = run.prediction();
        let w = p.error.expect("an error");
        // One granule of the coarsest level the story used, one jiffy for the start's phase,
        // and the slack on both sides.
        let coarsest = if w.latest > Duration::from_secs(60) {
            Duration::from_millis(2_048)
        } else if w.latest > Duration::from_secs(8) {
            Duration::from_millis(256)
        } else {
            Duration::from_millis(32)
        };
        let bound = coarsest + Duration::from_millis(4) + 2 * SLACK;
        assert!(
            w.width() <= bound,
            "{} {}: window {:?} wider than {bound:?}",
            run.kernel,
            run.experiment,
            w.width()
        );
    }
}

#[test]
fn the_rto_the_kernels_reported_is_the_models() {
    for run in runs() {
        if let Some(rto_us) = run.rto_us {
            let tick = Tick::of(run.kernel());
            assert_eq!(
                tick.duration(run.estimator().rto(tick)),
                Duration::from_micros(rto_us.into())
            );
        }
    }
}

/// The table of docs/guide/timers.md: `cargo test --lib oracle::timers::calibration::table --
/// --nocapture`.
#[test]
fn table() {
    let mut largest = Duration::ZERO;
    for run in runs() {
        let p = run.prediction();
        let w = p.error.expect("an error");
        let t = Duration::from_nanos(run.error_after_ns);
        largest = largest.max(off_centre(&w, t));
        let params = match (&run.keepalive, run.user_timeout_ms) {
            (Some(k), ut) => format!(
                "idle {} s, intvl {} s, cnt {}{}",
                k.idle_s,
                k.interval_s,
                k.count,
                ut.map_or(String::new(), |ut| format!(", user timeout {ut} ms"))
            ),
            (None, Some(ut)) => format!("user timeout {ut} ms"),
            (None, None) => "defaults".to_string(),
        };
        println!(
            "| {} | {} | {} | {:.6} s | {:.3} to {:.3} s | {:.3} s |",
            run.kernel,
            run.experiment,
            params,
            t.as_secs_f64(),
            w.earliest.as_secs_f64(),
            w.latest.as_secs_f64(),
            w.width().as_secs_f64(),
        );
    }
    println!("largest distance from a window's centre: {largest:?}");
}
