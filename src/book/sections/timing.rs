//! "Timing: the link": zero delay is loopback, the chart of how many writes after the peer's
//! close succeed by round-trip time, and the timing rules.

use std::fmt::Write as _;

use crate::rules::Rule;

use crate::book::page::{Page, UNSUPPORTED, link};

pub(super) fn render(page: &mut Page) {
    let (ev, options) = (page.ev, page.options);
    let md = &mut page.md;
    let _ = writeln!(
        md,
        "On loopback every step settles before the next, so time cannot matter. On the emulated \
         link (`--net link`, or any scenario with a `link` step) rstlab carries every packet \
         between two network namespaces itself, on a wire with a virtual clock: `link delay D` \
         makes each segment take D to cross, `sleep` moves the clock, `link hold`, `link \
         release` and `link drop` hold, release and lose what is in flight. What the \
         namespaces are set to, and why it stays faithful to a real link with the same delay, \
         is in [`src/net/link.rs`](src/net/link.rs); the oracle refuses a scenario whose link time \
         would reach a point where a real kernel retransmits.\n"
    );
    let agreeing = ev.zero_delay.iter().filter(|(_, d)| d.is_none()).count();
    let total = ev.zero_delay.len();
    if total > 0 && agreeing == total {
        let _ = writeln!(
            md,
            "**Zero delay is loopback.** All {total} canonical scenarios without `link` steps \
             were run on the link at zero delay too: the kernel agreed with the oracle and with \
             every `=>` line on all {total}.\n"
        );
    } else {
        let failing: Vec<String> = ev
            .zero_delay
            .iter()
            .filter_map(|(r, d)| d.as_ref().map(|d| format!("{}: {d}", r.id())))
            .collect();
        let text = format!(
            "{UNSUPPORTED} zero delay is loopback: {agreeing} of {total} canonical scenarios \
             agreed on the link at zero delay ({}).",
            failing.join("; ")
        );
        let _ = writeln!(md, "{text}\n");
        page.unsupported.push(text);
    }
    let _ = writeln!(
        md,
        "**How many writes after the peer's close succeed?** The seed article on a link: the \
         server closes at once and the client writes one byte every interval. The server's FIN \
         arrives after one delay; the client's first write reaches the closed socket after one \
         delay too and draws an RST, which is back one round trip after the close. Every write \
         before it succeeds, and its byte is lost. Measured on the link (std backend), each \
         point one run:\n"
    );
    let _ = writeln!(
        md,
        "![Successful writes after the close by round-trip time]({})\n",
        options.chart_path()
    );
    let _ = writeln!(
        md,
        "| round trip | one write every | writes that succeeded | then | oracle | agrees |\n|---:|---:|---:|---|---:|---|"
    );
    let mut disagreeing = 0;
    let mut off_the_rule = 0;
    for p in &ev.chart {
        let _ = writeln!(
            md,
            "| {} ms | {} ms | {} | {} | {} | {} |",
            p.rtt_ms,
            p.interval_ms,
            p.measured,
            p.first_error.as_deref().unwrap_or("(no failure)"),
            p.predicted,
            if p.agree { "yes" } else { "**no**" }
        );
        disagreeing += usize::from(!p.agree);
        // Writes at 0, I, 2I, ... before the round trip: ceil(RTT / I).
        off_the_rule += usize::from(p.measured as u64 != p.rtt_ms.div_ceil(p.interval_ms));
    }
    md.push('\n');
    if disagreeing == 0 && off_the_rule == 0 && !ev.chart.is_empty() {
        let _ = writeln!(
            md,
            "Every point agrees with the oracle, and with the rule of thumb it implies: the \
             writes issued within one round trip of the peer's close succeed, \
             ⌈RTT / interval⌉ of them; the next write fails with EPIPE (the RST came after the \
             FIN, [rst-after-fin-leaves-epipe](#rst-after-fin-leaves-epipe)). On loopback the \
             round trip is microseconds, so the seed article saw exactly one.\n"
        );
    } else {
        let text = format!(
            "{UNSUPPORTED} the round-trip rule: {disagreeing} of {} points disagree with the \
             oracle, {off_the_rule} differ from ⌈RTT / interval⌉.",
            ev.chart.len()
        );
        let _ = writeln!(md, "{text}\n");
        page.unsupported.push(text);
    }
    let _ = writeln!(
        md,
        "The timing rules, each below with its timeline (drawn from the recorded wire trace: \
         time flows down, each arrow from its send to its arrival): {}. On the link, `rstlab \
         run` prints the wire trace after the table.\n",
        [
            Rule::SegmentsArriveAfterTheDelay,
            Rule::WritesWithinARoundTripSucceed,
            Rule::WriteWhileFinInFlightFindsEstablished,
            Rule::CloseBeforeDataArrivesSendsFin,
            Rule::LostRstIsAnsweredByANewRst,
            Rule::RstDiscardsUnsentData,
            Rule::CwndHoldsBackData,
            Rule::RstOutOfPlaceDrawsChallengeAck,
            Rule::NoSocketAnswersEvenAnAckWithRst,
            Rule::OutOfOrderDataWaits,
            Rule::DropLosesSegments,
            Rule::CutLosesSegments,
        ]
        .iter()
        .map(|r| link(*r))
        .collect::<Vec<_>>()
        .join(", ")
    );
}
