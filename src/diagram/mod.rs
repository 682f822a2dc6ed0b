//! Sequence diagrams of a scenario: two lanes, client and server, the segments between them
//! (data, FIN, RST) as arrows, and each syscall's result beside its who's lane.
//!
//! The segments are the oracle's ([`PredictedStep::segments`]); the results are the kernel's
//! when a [`Trace`] is given (with the oracle's beside them where they differ), else the
//! oracle's. A run that agrees with the oracle has cross-checked the segments too: the runner
//! waits for every segment to be processed, and the TCP states it observes after each step only
//! match the prediction when the same segments travelled.
//!
//! Beside each RST is its reason, as the run table's "why each RST" pairs them: the kernel's
//! (`RST: TCP_STATE`, from its `tcp/tcp_send_reset` event) where the trace has it, with the
//! oracle's after it where they differ (`RST: NO_SOCKET (oracle: TCP_STATE)`), else the oracle's
//! marked as such (`RST: TCP_STATE (predicted)`).
//!
//! ```
//! use rstlab::diagram::Diagram;
//! use rstlab::{oracle, Scenario};
//! let seed: Scenario = "server close; client write 1; client write 1".parse().unwrap();
//! let text = Diagram::new(&seed, &oracle::predict(&seed, &rstlab::oracle::Settings::default()), None).text();
//! assert!(text.contains("|<------ FIN ------|  close => ok"));
//! assert!(text.contains("write 1 => EPIPE"));
//! // Without a run, the oracle's reason for the RST, marked as its own.
//! assert!(text.contains("|<------ RST ------|  RST: TCP_ABORT_ON_DATA or TCP_TIMEWAIT_SOCKET (predicted)"));
//! ```

pub mod timeline;

use std::fmt::Write as _;

use crate::check::resets::ResetPair;
use crate::oracle::{PredictedStep, Prediction, Segment, SegmentKind};
use crate::outcome::Outcome;
use crate::run::Trace;
use crate::scenario::{End, Scenario, Who};

/// One line of a diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    /// A syscall: its step number, who, text and result.
    Step {
        number: usize,
        who: Who,
        call: String,
        result: String,
        error: bool,
    },
    /// A segment on the wire; for an RST, why it was sent ([`reason_text`]).
    Segment {
        from: End,
        kind: SegmentKind,
        reason: Option<String>,
    },
}

/// A sequence diagram, ready to render as text ([`Diagram::text`]) or SVG ([`Diagram::svg`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagram {
    lines: Vec<Line>,
}

fn segment_label(kind: SegmentKind) -> String {
    match kind {
        SegmentKind::Data(n) => format!("data {n}"),
        SegmentKind::Fin => "FIN".to_string(),
        SegmentKind::Rst => "RST".to_string(),
    }
}

/// Why an RST was sent, as the diagram says it: the kernel's reason where `pair` has it, with
/// the oracle's beside it where they differ, else the oracle's marked as predicted. The words
/// are the run table's: its "kernel" and "oracle" columns, its `predicted` outcomes.
fn reason_text(segment: &Segment, pair: Option<&ResetPair>) -> Option<String> {
    let stated = pair.and_then(|p| p.stated.as_ref());
    match (stated, segment.reason) {
        (Some(s), Some(p)) if p.admits(&s.reason) => Some(format!("RST: {}", s.reason)),
        (Some(s), Some(p)) => Some(format!("RST: {} (oracle: {p})", s.reason)),
        (Some(s), None) => Some(format!("RST: {}", s.reason)),
        (None, Some(p)) => Some(format!("RST: {p} (predicted)")),
        (None, None) => None,
    }
}

fn result_text(predicted: &PredictedStep, observed: Option<&Outcome>) -> (String, bool) {
    let shown = observed.unwrap_or(&predicted.outcome);
    let error = matches!(shown, Outcome::Err(_) | Outcome::NoErrno(_));
    let text = match observed {
        Some(o) if *o != predicted.outcome => format!("{o} (oracle: {})", predicted.outcome),
        _ => shown.to_string(),
    };
    (text, error)
}

impl Diagram {
    /// The diagram of `scenario`: segments from `prediction`, results from `trace` when given.
    /// Steps the trace did not reach show the oracle's result. Each RST carries its reason:
    /// the kernel's where the trace recorded it, else the oracle's.
    pub fn new(scenario: &Scenario, prediction: &Prediction, trace: Option<&Trace>) -> Diagram {
        let mut lines = Vec::new();
        // The run's RSTs paired as the run table pairs them: the predicted ones first, in the
        // order of the steps and their segments, which is the order they are drawn in.
        let mut pairs = trace
            .map(|t| crate::check::resets::shown(prediction, t))
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.predicted.is_some());
        for (i, (step, predicted)) in scenario.steps().iter().zip(&prediction.steps).enumerate() {
            let observed = trace.and_then(|t| t.steps.get(i)).map(|o| &o.outcome);
            let (result, error) = result_text(predicted, observed);
            lines.push(Line::Step {
                number: i + 1,
                who: step.who,
                call: step.op.to_string(),
                result,
                error,
            });
            for segment in &predicted.segments {
                let reason = match segment.kind {
                    SegmentKind::Rst => reason_text(segment, pairs.next().as_ref()),
                    _ => None,
                };
                lines.push(Line::Segment {
                    from: segment.from,
                    kind: segment.kind,
                    reason,
                });
            }
        }
        Diagram { lines }
    }

    /// The diagram as monospaced text: the client's results right-aligned against its lane, the
    /// server's after its lane, one arrow per segment.
    pub fn text(&self) -> String {
        const ARROW: usize = 18;
        let label = |call: &str, result: &str| format!("{call} => {result}");
        let client_width = self
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Step {
                    who: Who::Client,
                    call,
                    result,
                    ..
                } => Some(label(call, result).chars().count()),
                _ => None,
            })
            .max()
            .unwrap_or(0)
            .max("client".len());
        let number_width = self.lines.len().to_string().len().max(1);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>nw$}  {:>cw$} {:>aw$}  server",
            "#",
            "client",
            "",
            nw = number_width,
            cw = client_width,
            aw = ARROW + 2,
        );
        let mut pending: Option<(usize, Who, String)> = None;
        // An RST's reason goes last on its line, after the server's result if the line has one,
        // so that the lanes and the results stay where they are.
        let flush = |out: &mut String,
                     step: Option<(usize, Who, String)>,
                     arrow: &str,
                     reason: Option<&str>| {
            let (number, left, right) = match step {
                Some((n, Who::Client, text)) => (n.to_string(), text, String::new()),
                Some((n, Who::Server, text)) => (n.to_string(), String::new(), text),
                // A link step sits between the lanes, where its effect is.
                Some((n, Who::Link, text)) => {
                    (n.to_string(), String::new(), format!("(link {text})"))
                }
                None => (String::new(), String::new(), String::new()),
            };
            let mut line =
                format!("{number:>number_width$}  {left:>client_width$} {arrow}  {right}");
            if let Some(reason) = reason {
                line = format!("{}  {reason}", line.trim_end());
            }
            let _ = writeln!(out, "{}", line.trim_end());
        };
        for line in &self.lines {
            match line {
                Line::Step {
                    number,
                    who,
                    call,
                    result,
                    ..
                } => {
                    if let Some(step) = pending.take() {
                        flush(
                            &mut out,
                            Some(step),
                            &format!("|{}|", " ".repeat(ARROW)),
                            None,
                        );
                    }
                    pending = Some((*number, *who, label(call, result)));
                }
                Line::Segment { from, kind, reason } => {
                    let name = format!(" {} ", segment_label(*kind));
                    let arrow = match from {
                        End::Client => format!("|{:-^w$}>|", name, w = ARROW - 1),
                        End::Server => format!("|<{:-^w$}|", name, w = ARROW - 1),
                    };
                    flush(&mut out, pending.take(), &arrow, reason.as_deref());
                }
            }
        }
        if let Some(step) = pending.take() {
            flush(
                &mut out,
                Some(step),
                &format!("|{}|", " ".repeat(ARROW)),
                None,
            );
        }
        out
    }

    /// The diagram as a standalone SVG document titled `title`: white background, the two lanes
    /// as vertical lines, data arrows grey, FIN green, RST red (its reason above it), error
    /// results red.
    pub fn svg(&self, title: &str) -> String {
        const CHAR: f64 = 7.8;
        const ROW: f64 = 30.0;
        const TOP: f64 = 64.0;
        // The lanes' distance: room for the widest arrow label (an RST's reason; 12 px
        // monospace is about 7.3 px a character).
        let widest_label = self
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Segment { kind, reason, .. } => {
                    Some(arrow_label(*kind, reason.as_deref()).chars().count())
                }
                Line::Step { .. } => None,
            })
            .max()
            .unwrap_or(0);
        let gap = (widest_label as f64 * 7.3 + 30.0).max(190.0).round();
        let width_of = |who: End| {
            self.lines
                .iter()
                .filter_map(|l| match l {
                    Line::Step {
                        who: a,
                        call,
                        result,
                        ..
                    } if *a == who => Some(call.len() + result.len() + 4),
                    _ => None,
                })
                .max()
                .unwrap_or(0)
                .max(8) as f64
                * CHAR
        };
        let client_x = (40.0 + width_of(End::Client) + 16.0).round();
        let server_x = client_x + gap;
        let width = (server_x + 16.0 + width_of(End::Server) + 24.0).round();
        let height = TOP + ROW * self.lines.len() as f64 + 24.0;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="13">"#
        );
        let _ = writeln!(svg, "  <title>{}</title>", escape(title));
        svg.push_str(concat!(
            "  <defs>\n",
            "    <marker id=\"head-data\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#57606a\"/></marker>\n",
            "    <marker id=\"head-fin\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1a7f37\"/></marker>\n",
            "    <marker id=\"head-rst\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#cf222e\"/></marker>\n",
            "  </defs>\n",
        ));
        let _ = writeln!(
            svg,
            r##"  <rect width="{width}" height="{height}" fill="#ffffff"/>"##
        );
        let bottom = height - 12.0;
        for (x, name) in [(client_x, "client"), (server_x, "server")] {
            let _ = writeln!(
                svg,
                r##"  <line x1="{x}" y1="40" x2="{x}" y2="{bottom}" stroke="#d0d7de" stroke-width="2"/>"##
            );
            let _ = writeln!(
                svg,
                r##"  <rect x="{}" y="12" width="80" height="28" rx="4" fill="#f6f8fa" stroke="#57606a"/>"##,
                x - 40.0
            );
            let _ = writeln!(
                svg,
                r##"  <text x="{x}" y="31" text-anchor="middle" font-weight="bold" fill="#24292f">{name}</text>"##
            );
        }
        for (i, line) in self.lines.iter().enumerate() {
            let y = TOP + ROW * i as f64;
            match line {
                Line::Step {
                    number,
                    who,
                    call,
                    result,
                    error,
                } => {
                    let _ = writeln!(
                        svg,
                        r##"  <text x="12" y="{}" fill="#8c959f">{number}</text>"##,
                        y + 5.0
                    );
                    let (x, anchor) = match who {
                        Who::Client => (client_x - 10.0, "end"),
                        Who::Server => (server_x + 10.0, "start"),
                        Who::Link => ((client_x + server_x) / 2.0, "middle"),
                    };
                    let colour = if *error { "#cf222e" } else { "#0550ae" };
                    let weight = if *error { r#" font-weight="bold""# } else { "" };
                    let _ = writeln!(
                        svg,
                        r##"  <text x="{x}" y="{}" text-anchor="{anchor}" fill="#24292f">{} =&gt; <tspan fill="{colour}"{weight}>{}</tspan></text>"##,
                        y + 5.0,
                        escape(call),
                        escape(result)
                    );
                }
                Line::Segment { from, kind, reason } => {
                    let (colour, marker, dash) = match kind {
                        SegmentKind::Data(_) => ("#57606a", "head-data", ""),
                        SegmentKind::Fin => ("#1a7f37", "head-fin", ""),
                        SegmentKind::Rst => ("#cf222e", "head-rst", r#" stroke-dasharray="6 3""#),
                    };
                    let (x1, x2) = match from {
                        End::Client => (client_x, server_x),
                        End::Server => (server_x, client_x),
                    };
                    let _ = writeln!(
                        svg,
                        r##"  <line x1="{x1}" y1="{}" x2="{x2}" y2="{}" stroke="{colour}" stroke-width="2"{dash} marker-end="url(#{marker})"/>"##,
                        y - 4.0,
                        y + 4.0
                    );
                    let _ = writeln!(
                        svg,
                        r##"  <text x="{}" y="{}" text-anchor="middle" font-size="12" fill="{colour}">{}</text>"##,
                        (client_x + server_x) / 2.0,
                        y - 6.0,
                        escape(&arrow_label(*kind, reason.as_deref()))
                    );
                }
            }
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// What an SVG arrow says: the segment, or an RST's reason (which names the RST).
fn arrow_label(kind: SegmentKind, reason: Option<&str>) -> String {
    reason.map_or_else(|| segment_label(kind), str::to_string)
}

/// Escapes text for SVG (shared with [`crate::diagram::timeline`]).
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle;

    fn diagram(text: &str) -> Diagram {
        let s: Scenario = text.parse().unwrap();
        Diagram::new(&s, &oracle::predict(&s, &oracle::Settings::default()), None)
    }

    #[test]
    fn the_seed_shows_fin_then_data_answered_by_rst() {
        let text = diagram("server close; client write 1; client write 1").text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[0].starts_with('#') && lines[0].ends_with("server"),
            "{text}"
        );
        assert!(
            lines[1].starts_with('1') && lines[1].ends_with("|<------ FIN ------|  close => ok"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("write 1 => ok(1) |---- data 1 ----->|"),
            "{text}"
        );
        assert!(
            lines[3].ends_with(
                "|<------ RST ------|  RST: TCP_ABORT_ON_DATA or TCP_TIMEWAIT_SOCKET (predicted)"
            ),
            "{text}"
        );
        assert!(
            lines[4].ends_with("write 1 => EPIPE |                  |"),
            "{text}"
        );
    }

    #[test]
    fn each_rst_says_the_kernels_reason_where_the_run_recorded_it() {
        use crate::reasons::{Missing, Resets};
        use crate::run::Backend;
        let s: Scenario = "client write 3; server read 1; server abort; client read 1"
            .parse()
            .unwrap();
        let p = oracle::predict(&s, &oracle::Settings::default());
        let mut trace = crate::check::predicted_trace(&p, Backend::Std);
        // After a line with the server's result: the lanes and the result stay in place.
        let rst = |trace: &Trace| {
            let text = Diagram::new(&s, &p, Some(trace)).text();
            let line = text
                .lines()
                .find(|l| l.contains("RST -"))
                .unwrap()
                .to_string();
            assert!(
                line.contains("|<------ RST ------|  abort => ok  RST: "),
                "{text}"
            );
            line
        };
        assert!(rst(&trace).ends_with("abort => ok  RST: TCP_ABORT_ON_CLOSE"));
        // The kernel's word first; the oracle's beside it where they differ.
        let Resets::Stated(stated) = &mut trace.resets else {
            unreachable!()
        };
        stated[0].reason = "TCP_STATE".to_string();
        assert!(rst(&trace).ends_with("RST: TCP_STATE (oracle: TCP_ABORT_ON_CLOSE)"));
        // Not recorded: the oracle's, marked.
        trace.resets = Resets::Missing(Missing::NoEvent);
        assert!(rst(&trace).ends_with("RST: TCP_ABORT_ON_CLOSE (predicted)"));
        // The SVG's arrow names the reason, and its lanes make room for it.
        let svg = Diagram::new(&s, &p, Some(&trace)).svg("t");
        assert!(
            svg.contains(">RST: TCP_ABORT_ON_CLOSE (predicted)</text>"),
            "{svg}"
        );
    }

    #[test]
    fn svg_is_one_document_with_escaped_text_and_coloured_errors() {
        let svg = diagram("server abort; client read 1").svg("a <title>");
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("<title>a &lt;title&gt;</title>"));
        assert!(
            svg.contains("read 1 =&gt; <tspan fill=\"#cf222e\" font-weight=\"bold\">ECONNRESET")
        );
        assert!(svg.contains("marker-end=\"url(#head-rst)\""));
    }
}
