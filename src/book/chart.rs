//! The timing chart: how many writes after the peer's close succeed, as a function of the
//! round-trip time and of the interval between writes, measured on the emulated link. Its
//! scenarios, what a point records, and the SVG; the section "Timing: the link" shows it.

use std::fmt::Write as _;

use crate::outcome::Outcome;
use crate::scenario::Scenario;

/// The round-trip times charted (the link's delay is half of each).
pub(super) const RTTS_MS: [u64; 8] = [2, 10, 20, 40, 60, 100, 150, 200];
/// The intervals between writes charted.
pub(super) const INTERVALS_MS: [u64; 3] = [10, 25, 50];

/// One point of the chart: a run of [`scenario`] on the link.
#[derive(Clone, Debug)]
pub(super) struct Point {
    pub(super) rtt_ms: u64,
    pub(super) interval_ms: u64,
    /// Writes after the close that the kernel accepted before the first failure.
    pub(super) measured: usize,
    /// The same, as the oracle predicted it.
    pub(super) predicted: usize,
    /// The first error the kernel returned, if any.
    pub(super) first_error: Option<String>,
    /// Whether the run agreed with the oracle on every step.
    pub(super) agree: bool,
}

/// The seed article on a link with round trip `rtt`: the server closes at once, and the client
/// writes one byte every `interval` until a write has failed (writes past one round trip plus
/// two intervals are never needed: by then the RST has come back).
pub(super) fn scenario(rtt_ms: u64, interval_ms: u64) -> Scenario {
    let writes = rtt_ms.div_ceil(interval_ms) + 2;
    let mut text = format!("link delay {}us\nserver close\n", rtt_ms * 1000 / 2);
    for i in 0..writes {
        if i > 0 {
            let _ = writeln!(text, "client sleep {interval_ms}ms");
        }
        text.push_str("client write 1\n");
    }
    Scenario::parse(&text).expect("the chart's scenarios are valid")
}

/// How many writes succeeded before the first that failed, and that failure.
pub(super) fn successes(outcomes: &[Outcome]) -> (usize, Option<String>) {
    let mut ok = 0;
    for o in outcomes {
        match o {
            Outcome::Bytes(_) => ok += 1,
            Outcome::Err(e) => return (ok, Some(e.to_string())),
            _ => {}
        }
    }
    (ok, None)
}

/// The chart as SVG: successful writes (y) against the round-trip time (x), one line per
/// interval.
pub(super) fn svg(points: &[Point]) -> String {
    const LEFT: f64 = 70.0;
    const TOP: f64 = 50.0;
    const W: f64 = 560.0;
    const H: f64 = 320.0;
    let max_rtt = *RTTS_MS.last().expect("not empty") as f64;
    let max_y = points.iter().map(|p| p.measured).max().unwrap_or(1).max(1) as f64;
    let x = |rtt: u64| LEFT + rtt as f64 / max_rtt * W;
    let y = |n: usize| TOP + H - n as f64 / max_y * H;
    let colours = ["#0550ae", "#1a7f37", "#cf222e"];
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="760" height="450" viewBox="0 0 760 450" font-family="sans-serif" font-size="13">
  <title>Writes after the peer's close that succeed, by round-trip time</title>
  <rect width="100%" height="100%" fill="#ffffff"/>
  <text x="{LEFT}" y="28" font-weight="bold">Writes after the peer's close that succeed (measured on the link)</text>
  <line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#24292f"/>
  <line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#24292f"/>
  <text x="{}" y="{}" text-anchor="middle">round-trip time (ms)</text>
  <text x="18" y="{}" transform="rotate(-90 18 {})" text-anchor="middle">successful writes</text>"##,
        TOP + H,
        LEFT + W,
        TOP + H,
        TOP + H,
        LEFT + W / 2.0,
        TOP + H + 40.0,
        TOP + H / 2.0,
        TOP + H / 2.0,
    );
    for rtt in RTTS_MS {
        let _ = writeln!(
            out,
            r##"  <text x="{:.1}" y="{}" text-anchor="middle" fill="#57606a">{rtt}</text>"##,
            x(rtt),
            TOP + H + 18.0
        );
    }
    let step = (max_y / 5.0).ceil().max(1.0) as usize;
    for n in (0..=max_y as usize).step_by(step) {
        let _ = writeln!(
            out,
            r##"  <text x="{}" y="{:.1}" text-anchor="end" fill="#57606a">{n}</text>
  <line x1="{LEFT}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="#eaeef2"/>"##,
            LEFT - 8.0,
            y(n) + 4.0,
            y(n),
            LEFT + W,
            y(n)
        );
    }
    for (k, interval) in INTERVALS_MS.iter().enumerate() {
        let colour = colours[k % colours.len()];
        let line: Vec<String> = points
            .iter()
            .filter(|p| p.interval_ms == *interval)
            .map(|p| format!("{:.1},{:.1}", x(p.rtt_ms), y(p.measured)))
            .collect();
        let _ = writeln!(
            out,
            r##"  <polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"##,
            line.join(" ")
        );
        for p in points.iter().filter(|p| p.interval_ms == *interval) {
            let _ = writeln!(
                out,
                r##"  <circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"/>"##,
                x(p.rtt_ms),
                y(p.measured)
            );
        }
        let _ = writeln!(
            out,
            r##"  <text x="{}" y="{}" fill="{colour}">one write every {interval} ms</text>"##,
            LEFT + 20.0,
            TOP + 20.0 + 18.0 * k as f64
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Errno;

    #[test]
    fn the_chart_scenario_writes_past_one_round_trip() {
        let s = scenario(20, 10);
        let writes = s.to_string().matches("client write 1").count();
        assert_eq!(writes, 4);
        assert!(s.to_string().starts_with("link delay 10ms\nserver close\n"));
    }

    #[test]
    fn successes_count_until_the_first_failure() {
        let o = [
            Outcome::Ok,
            Outcome::Bytes(1),
            Outcome::Ok,
            Outcome::Bytes(1),
            Outcome::Err(Errno::EPIPE),
            Outcome::Err(Errno::EPIPE),
        ];
        assert_eq!(successes(&o), (2, Some("EPIPE".to_string())));
        assert_eq!(successes(&o[..2]), (1, None));
    }
}
