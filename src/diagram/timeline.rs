//! Time-axis diagrams of a run on the link, drawn from the recorded wire trace: the two lanes,
//! each segment as an arrow from its send time on the sender's lane to its arrival time on the
//! receiver's (a cross where it was dropped), and each step's result at the time it ran.
//!
//! Where [`crate::diagram`] shows the oracle's segments in step order, a timeline shows what
//! crossed the link and when, so a round trip is visibly a round trip.
//!
//! ```no_run
//! use rstlab::run::{Backend, Net, RunOptions, Runner};
//! use rstlab::diagram::timeline::Timeline;
//! let s: rstlab::Scenario = "link delay 20ms; server close; client write 1; client sleep 40ms".parse()?;
//! let options = RunOptions { net: Net::Link, ..RunOptions::default() };
//! let trace = Runner::with_options(Backend::Std, options)?.run(&s)?;
//! let timeline = Timeline::new(&s, &trace);
//! assert!(timeline.text().contains("RST"));
//! std::fs::write("seed.svg", timeline.svg("the seed on a 20 ms link"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use crate::diagram::escape;
use crate::net::link::{Flags, WireSegment};
use crate::net::wire::Fate;
use crate::outcome::Outcome;
use crate::run::Trace;
use crate::scenario::{End, Op, Scenario, Who};
use crate::text::millis as ms;

/// Something that happens at a point of link time.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    /// Step `number` by `who` ran: its text and result.
    Step {
        number: usize,
        who: Who,
        text: String,
        error: bool,
    },
    /// Segment `index` of the wire trace entered the wire.
    Sent(usize),
    /// Segment `index` reached its receiver.
    Arrived(usize),
    /// Segment `index` was lost.
    Dropped(usize),
}

/// A run on the link, laid out on a time axis; render with [`Timeline::text`] or
/// [`Timeline::svg`].
#[derive(Clone, Debug)]
pub struct Timeline {
    /// Each event with its place in time: (link time, wire index, class), so that at one time a
    /// step comes before the segments it sends, and a segment's arrival before what it causes.
    events: Vec<((Duration, usize, u8), Event)>,
    wire: Vec<WireSegment>,
}

fn label(s: &WireSegment) -> String {
    let mut parts = Vec::new();
    if s.len > 0 {
        parts.push(format!("data {}", s.len));
    }
    if s.flags.has(Flags::FIN) {
        parts.push("FIN".to_string());
    }
    if s.flags.has(Flags::RST) {
        parts.push("RST".to_string());
    }
    if parts.is_empty() {
        parts.push("ACK".to_string());
    }
    parts.join("+")
}

impl Timeline {
    /// The timeline of `trace`, a run of `scenario` (on the link; on loopback every time is 0).
    pub fn new(scenario: &Scenario, trace: &Trace) -> Timeline {
        let mut events = Vec::new();
        let mut start = Duration::ZERO;
        for (i, (step, observed)) in scenario.steps().iter().zip(&trace.steps).enumerate() {
            // A sleep is shown where it ends, every other step where it ran.
            let from = if i == 0 {
                0
            } else {
                trace.steps[i - 1].wire_end
            };
            let at = if matches!(step.op, Op::Sleep(_)) {
                (observed.time, observed.wire_end, 0)
            } else {
                (start, from, 0)
            };
            for k in from..observed.wire_end {
                events.push(((trace.wire[k].sent, k, 1), Event::Sent(k)));
            }
            events.push((
                at,
                Event::Step {
                    number: i + 1,
                    who: step.who,
                    text: format!("{} => {}", step.op, observed.outcome),
                    error: matches!(observed.outcome, Outcome::Err(_)),
                },
            ));
            start = observed.time;
        }
        for (i, s) in trace.wire.iter().enumerate() {
            match s.fate {
                Fate::Delivered(t) => events.push(((t, i, 2), Event::Arrived(i))),
                Fate::Dropped(t) => events.push(((t, i, 2), Event::Dropped(i))),
                Fate::InFlight => {}
            }
        }
        events.sort_by_key(|(key, _)| *key);
        Timeline {
            events,
            wire: trace.wire.clone(),
        }
    }

    /// The timeline as text: one line per event, time first.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for ((t, _, _), e) in &self.events {
            let line = match e {
                Event::Step {
                    number, who, text, ..
                } => format!("{number:>2}. {who} {text}"),
                Event::Sent(i) => {
                    let s = &self.wire[*i];
                    format!(
                        "    {} sends {} (seq {}, ack {})",
                        s.from,
                        label(s),
                        s.seq,
                        s.ack
                    )
                }
                Event::Arrived(i) => {
                    let s = &self.wire[*i];
                    format!("    {} receives {}", s.from.peer(), label(s))
                }
                Event::Dropped(i) => format!("    the link loses {}", label(&self.wire[*i])),
            };
            let _ = writeln!(out, "{:>10}  {line}", ms(*t));
        }
        out
    }

    /// The timeline as a standalone SVG document: time flows down (proportionally, stretched
    /// where events crowd), data arrows grey, FIN green, RST red, bare ACKs thin.
    pub fn svg(&self, title: &str) -> String {
        const TOP: f64 = 70.0;
        const SPACING: f64 = 22.0;
        const CLIENT_X: f64 = 300.0;
        const SERVER_X: f64 = 560.0;
        const WIDTH: f64 = 860.0;
        let span = self
            .events
            .last()
            .map_or(0.0, |((t, _, _), _)| t.as_secs_f64() * 1000.0);
        // Pixels per millisecond: about 500 px for the whole run.
        let scale = if span > 0.0 {
            (500.0 / span).min(12.0)
        } else {
            0.0
        };
        // Each event gets its own row, no closer than SPACING to the last, and no higher than
        // its time says (after the stretch so far).
        let mut ys = Vec::with_capacity(self.events.len());
        let mut stretch = 0.0;
        let mut last_y = TOP - SPACING;
        for ((t, _, _), _) in &self.events {
            let natural = TOP + t.as_secs_f64() * 1000.0 * scale + stretch;
            let y = natural.max(last_y + SPACING);
            stretch += y - natural;
            ys.push(y);
            last_y = y;
        }
        let height = last_y + 70.0;
        let lane = |a: End| {
            if a == End::Client { CLIENT_X } else { SERVER_X }
        };
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="monospace" font-size="13">"##
        );
        let _ = writeln!(svg, "  <title>{}</title>", escape(title));
        let _ = writeln!(
            svg,
            r##"  <rect width="100%" height="100%" fill="#ffffff"/>
  <text x="{CLIENT_X}" y="28" text-anchor="middle" font-weight="bold">client</text>
  <text x="{SERVER_X}" y="28" text-anchor="middle" font-weight="bold">server</text>
  <text x="16" y="28" fill="#57606a">link time</text>
  <line x1="{CLIENT_X}" y1="40" x2="{CLIENT_X}" y2="{:.0}" stroke="#8c959f" stroke-width="2"/>
  <line x1="{SERVER_X}" y1="40" x2="{SERVER_X}" y2="{:.0}" stroke="#8c959f" stroke-width="2"/>"##,
            height - 40.0,
            height - 40.0
        );
        let mut last_tick = None;
        for (((t, _, _), _), y) in self.events.iter().zip(&ys) {
            if last_tick != Some(*t) {
                let _ = writeln!(
                    svg,
                    r##"  <text x="16" y="{:.1}" fill="#57606a">{}</text>"##,
                    y + 4.0,
                    ms(*t)
                );
                last_tick = Some(*t);
            }
        }
        // Arrows: from the send row to the arrival (or loss) row.
        let row_of = |wanted: &dyn Fn(&Event) -> bool| {
            self.events
                .iter()
                .zip(&ys)
                .find(|((_, e), _)| wanted(e))
                .map(|(_, y)| *y)
        };
        for (i, s) in self.wire.iter().enumerate() {
            let Some(y1) = row_of(&|e| *e == Event::Sent(i)) else {
                continue;
            };
            let (x1, x2) = (lane(s.from), lane(s.from.peer()));
            let (colour, width) = if s.flags.has(Flags::RST) {
                ("#cf222e", 2.0)
            } else if s.flags.has(Flags::FIN) {
                ("#1a7f37", 2.0)
            } else if s.len > 0 {
                ("#57606a", 2.0)
            } else {
                ("#afb8c1", 1.0)
            };
            let (x2, y2, end) = match s.fate {
                Fate::Delivered(_) => (
                    x2,
                    row_of(&|e| *e == Event::Arrived(i)).unwrap_or(y1),
                    "arrow",
                ),
                Fate::Dropped(_) => (
                    (x1 + x2) / 2.0,
                    row_of(&|e| *e == Event::Dropped(i)).unwrap_or(y1),
                    "cross",
                ),
                Fate::InFlight => ((x1 + x2) / 2.0, height - 44.0, "open"),
            };
            let dash = if end == "open" {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            };
            let _ = writeln!(
                svg,
                r##"  <line x1="{x1}" y1="{y1:.1}" x2="{x2}" y2="{y2:.1}" stroke="{colour}" stroke-width="{width}"{dash}/>"##
            );
            match end {
                "arrow" => {
                    let dir = if x2 > x1 { -1.0 } else { 1.0 };
                    let _ = writeln!(
                        svg,
                        r##"  <path d="M {x2} {y2:.1} l {:.1} -4 l 0 8 z" fill="{colour}"/>"##,
                        dir * 8.0
                    );
                }
                "cross" => {
                    let _ = writeln!(
                        svg,
                        r##"  <path d="M {:.1} {:.1} l 10 10 m 0 -10 l -10 10" stroke="{colour}" stroke-width="2"/>"##,
                        x2 - 5.0,
                        y2 - 5.0
                    );
                }
                _ => {}
            }
            if width > 1.0 {
                let (lx, ly) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0 - 4.0);
                let _ = writeln!(
                    svg,
                    r##"  <text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" font-size="11" fill="{colour}">{}</text>"##,
                    escape(&label(s))
                );
            }
        }
        for ((_, e), y) in self.events.iter().zip(&ys) {
            if let Event::Step {
                number,
                who,
                text,
                error,
            } = e
            {
                let (x, anchor) = match who {
                    Who::Client => (CLIENT_X - 10.0, "end"),
                    Who::Server => (SERVER_X + 10.0, "start"),
                    Who::Link => ((CLIENT_X + SERVER_X) / 2.0, "middle"),
                };
                let colour = if *error { "#cf222e" } else { "#0550ae" };
                let who = if *who == Who::Link { "link " } else { "" };
                let _ = writeln!(
                    svg,
                    r##"  <text x="{x}" y="{:.1}" text-anchor="{anchor}" fill="{colour}">{number}. {who}{}</text>"##,
                    y + 4.0,
                    escape(text)
                );
            }
        }
        let _ = writeln!(
            svg,
            r##"  <text x="16" y="{:.0}" font-size="11" fill="#57606a">grey: data; green: FIN; red: RST; thin: a bare ACK; ×: lost on the link; dashed: still on its way at the end</text>"##,
            height - 6.0
        );
        svg.push_str("</svg>\n");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Backend, Net, ObservedStep};

    /// A hand-made trace: the client writes at 0 on a 10 ms link, the server's ACK comes back.
    fn trace() -> (Scenario, Trace) {
        let s: Scenario = "link delay 10ms; client write 1; client sleep 20ms"
            .parse()
            .unwrap();
        let ms = Duration::from_millis;
        let segment = |sent, from, flags, len, fate| WireSegment {
            sent,
            from,
            flags: Flags(flags),
            seq: 1,
            ack: 1,
            len,
            fate,
        };
        let step = |wire_end, time| ObservedStep {
            outcome: Outcome::Ok,
            states: [None, None],
            note: None,
            wire_end,
            time,
        };
        let trace = Trace {
            backend: Backend::Std,
            net: Net::Link,
            steps: vec![step(0, ms(0)), step(1, ms(0)), step(2, ms(20))],
            timeout: None,
            interrupted: false,
            resets: crate::reasons::Resets::Missing(crate::reasons::Missing::Off),
            client: "192.0.2.1:1".parse().unwrap(),
            server: "192.0.2.2:2".parse().unwrap(),
            wire: vec![
                segment(
                    ms(0),
                    End::Client,
                    Flags::ACK | Flags::PSH,
                    1,
                    Fate::Delivered(ms(10)),
                ),
                segment(ms(10), End::Server, Flags::ACK, 0, Fate::Delivered(ms(20))),
            ],
            packets: Vec::new(),
        };
        (s, trace)
    }

    #[test]
    fn events_come_in_order_of_link_time() {
        let (s, t) = trace();
        let text = Timeline::new(&s, &t).text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("1. link delay 10ms"), "{text}");
        assert!(lines[2].contains("client sends data 1"), "{text}");
        assert!(lines[3].trim_start().starts_with("10ms"), "{text}");
        assert!(lines[3].contains("server receives data 1"), "{text}");
        assert!(
            text.lines()
                .last()
                .unwrap()
                .contains("3. client sleep 20ms"),
            "{text}"
        );
    }

    #[test]
    fn later_events_are_drawn_lower() {
        let (s, t) = trace();
        let svg = Timeline::new(&s, &t).svg("t");
        let y_of = |needle: &str| -> f64 {
            let line = svg.lines().find(|l| l.contains(needle)).unwrap();
            let at = line.find(" y=\"").unwrap() + 4;
            line[at..].split('"').next().unwrap().parse().unwrap()
        };
        assert!(y_of("2. write 1") < y_of("3. sleep 20ms"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
