//! The book's "When the peer goes silent" chapter: what an application sees, and when, once
//! its peer falls silent, on every lane kernel, from the silent peer's part of the stored
//! surveys (`rstlab kernels --timers`, `docs/kernels/<major.minor>.json`): the four production
//! cases with the time to the first error measured against the oracle's window, a chart of
//! those times, the random stories' tally, and what the model still refuses.

use std::fmt::Write as _;
use std::time::Duration;

use crate::kernels::silence::Measured;
use crate::kernels::survey::Survey;
use crate::oracle::kernel::Kernel;
use crate::oracle::timers::{self, Keepalive, KeepaliveOptions, Lost, TimerSettings, Window};

use super::kernels::{load, thousands};
use crate::book::options::{BookError, BookOptions};

/// The chapter's title, as the contents link to it.
pub const TITLE: &str = "When the peer goes silent";

/// The chapter's body, from the surveys in `options.kernels_dir`.
pub(super) fn stored(options: &BookOptions) -> Result<String, BookError> {
    super::kernels::rendered(options, TITLE, render)
}

/// The chapter rendered from the surveys in `dir`, its heading included: as the book has it.
pub fn chapter(dir: &std::path::Path) -> std::io::Result<String> {
    let mut md = format!("## {TITLE}\n\n");
    render(&mut md, &load(dir)?);
    Ok(md)
}

/// The oracle's window for what `m` measured, on `kernel`.
pub fn window(m: &Measured, kernel: Kernel) -> Option<Window> {
    let settings = TimerSettings {
        user_timeout: m.user_timeout_ms.map(Duration::from_millis),
        keepalive: m.keepalive.map(|[idle, interval, count]| KeepaliveOptions {
            idle: Some(Duration::from_secs(idle.into())),
            interval: Some(Duration::from_secs(interval.into())),
            count: Some(count),
        }),
        ..TimerSettings::default()
    };
    let p = match m.experiment.as_str() {
        "keepalive" => timers::predict(&Keepalive::new(kernel, &settings), kernel),
        _ => timers::vanished_peer(kernel, &settings, timers::link_estimator(), Lost::OnTheWay),
    };
    p.error
}

/// What the application sees in each production case, in order.
const SEEN: &[(&str, &str, &str)] = &[
    (
        "vanished peer",
        "the peer's host is gone (a crash, a cut cable): nothing arrives, defaults",
        "every write `ok`; the first call after about 15.5 minutes `ETIMEDOUT`, once; then `EPIPE`",
    ),
    (
        "user timeout",
        "the same with `TCP_USER_TIMEOUT` 2 s",
        "every write `ok`; about 2.4 s after the first lost write `ETIMEDOUT`, once; then `EPIPE`",
    ),
    (
        "keepalive",
        "an idle connection, keepalive 10 s / 2 s / 3, the peer gone",
        "reads `EAGAIN`; IDLE + 3 × INTERVAL (16 s) after the last segment received, a read `ETIMEDOUT`; then `EPIPE`",
    ),
];

/// The chapter's body (all but its heading), from `surveys`.
pub fn render(md: &mut String, surveys: &[Survey]) {
    let with: Vec<&Survey> = surveys.iter().filter(|s| s.silence.is_some()).collect();
    let _ = writeln!(
        md,
        "The broken pipes that cost most come from silence: a server whose host crashed, a \
         partition, a NAT or load balancer that forgot the flow. Nothing arrives, so nothing \
         fails at once: the kernel's timers decide when the application hears of it. rstlab \
         runs these cases in each of Debian's kernels booted under QEMU's instruction-count \
         clock (the lane), at the kernel's default TCP settings, where a quarter of an hour of \
         retransmissions passes in a second and two runs give the same times; the oracle \
         predicts each step before it runs, and the kernel judges.\n"
    );
    if with.is_empty() {
        let _ = writeln!(
            md,
            "No stored survey has the silent peer's part yet: `rstlab kernels --timers --out \
             docs/kernels` runs it.\n"
        );
        return;
    }
    let _ = writeln!(md, "### What the application sees\n");
    let _ = writeln!(
        md,
        "| case | what happens | what the application sees |\n|---|---|---|"
    );
    for (case, what, seen) in SEEN {
        let _ = writeln!(md, "| {case} | {what} | {seen} |");
    }
    let _ = writeln!(
        md,
        "| rebooted peer | the peer's host restarts without its sockets | the next write `ok`; the one after `ECONNRESET`; then `EPIPE` |\n"
    );
    let _ = writeln!(
        md,
        "Scenarios: `scenarios/silent-peer-times-out.scenario`, \
         `scenarios/keepalive-times-out-a-silent-peer.scenario`, \
         `scenarios/reboot-forgets-the-connection.scenario`, and the questions \"My writes \
         succeeded for 15 minutes after the server died: why?\" and \"How do I find out sooner \
         that the peer is gone?\". `rstlab run FILE` sends a scenario that needs the kernel's \
         timers to the lane by itself.\n"
    );
    let _ = writeln!(md, "### When the first error shows, measured\n");
    let _ = writeln!(
        md,
        "Each time is the kernel's, from the write (keepalive: from the last segment received) \
         to POLLERR, measured by the lane's experiments (`rstlab lane-probe`); the window is the \
         oracle's timer model for that kernel (`rstlab::oracle::timers`), whose width is its \
         stated tolerance: the timer wheel rounds each timer to its level's granule, from the \
         jiffy the story started at, which no scenario knows. A scenario's sleep must end at \
         least {} ms away from every window it decides, or the oracle refuses it.\n",
        crate::oracle::TIMER_MARGIN.as_millis()
    );
    let _ = writeln!(
        md,
        "| kernel | case | first error | after | oracle's window | inside, by | next write |\n|---|---|---|---:|---|---:|---|"
    );
    let mut bars: Vec<(String, f64)> = Vec::new();
    let mut outside = 0;
    let mut closest: Option<(f64, String)> = None;
    for s in &with {
        let silence = s.silence.as_ref().expect("filtered");
        let kernel: Kernel = s.version.parse().unwrap_or(Kernel::NEWEST);
        for m in &silence.measured {
            let w = window(m, kernel);
            let (after, inside) = match (m.error_after_s, w) {
                (Some(t), Some(w)) => {
                    let d = Duration::from_secs_f64(t);
                    let margin = if w.contains(d) {
                        let by = (d - w.earliest).min(w.latest - d).as_secs_f64();
                        if closest.as_ref().is_none_or(|(c, _)| by < *c) {
                            closest = Some((by, format!("{} on {}", m.case, s.version)));
                        }
                        format!("{:.3} s", by)
                    } else {
                        outside += 1;
                        "**outside**".to_string()
                    };
                    bars.push((format!("{:<13} {}", m.case, series(s)), t));
                    (format!("{t:.3} s"), margin)
                }
                (Some(t), None) => (format!("{t:.3} s"), "no window".to_string()),
                (None, _) => ("never".to_string(), "-".to_string()),
            };
            let window = w.map_or("-".to_string(), |w| {
                format!(
                    "{:.3} to {:.3} s",
                    w.earliest.as_secs_f64(),
                    w.latest.as_secs_f64()
                )
            });
            let _ = writeln!(
                md,
                "| {} | {} | `{}` | {after} | {window} | {inside} | `{}` |",
                s.version, m.case, m.error, m.next_write
            );
        }
    }
    let _ = writeln!(
        md,
        "\n{} of {} measured times fall inside the oracle's window{}.\n",
        bars.len() - outside,
        bars.len(),
        closest.map_or(String::new(), |(by, what)| format!(
            "; the nearest to an edge is {what}, {:.1} ms inside",
            by * 1000.0
        ))
    );
    let _ = writeln!(
        md,
        "Time to the first error (the kernel's seconds, log scale):\n"
    );
    md.push_str("```text\n");
    for (label, t) in &bars {
        // 10 ms to 10,000 s over 50 columns.
        let width = (((t / 0.01).log10() / 6.0) * 50.0).clamp(1.0, 50.0) as usize;
        let _ = writeln!(md, "{label:<20} {} {t:.1} s", "#".repeat(width));
    }
    md.push_str("```\n\n");
    let _ = writeln!(md, "### The scenarios and the random stories\n");
    let _ = writeln!(
        md,
        "In each lane kernel, at its default TCP settings: every rule's and question's \
         scenario the model follows there on the link (those that need the kernel's timers, and \
         every other one without a link delay), on std and tokio; and random stories of a \
         silent peer (an exchange, timer options, a cut link or a reboot, then long sleeps, \
         writes, reads and looks; `explore --kernel SERIES --timers`), checked step by step \
         against the oracle.\n"
    );
    let _ = writeln!(
        md,
        "| kernel | scenarios agreeing | stories | agreements | disagreements | errors | the stories' time (kernel's) | real time | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for s in &with {
        let silence = s.silence.as_ref().expect("filtered");
        let agreeing = silence
            .scenarios
            .iter()
            .filter(|r| r.disagreement.is_none())
            .count();
        let sum = |f: fn(&crate::kernels::survey::Exploration) -> u64| -> u64 {
            silence.explorations.iter().map(f).sum()
        };
        let guest: f64 = silence.explorations.iter().map(|e| e.seconds).sum();
        let _ = writeln!(
            md,
            "| {} | {agreeing} of {} | {} | {} | {} | {} | {} s | {:.0} s | {} |",
            s.version,
            silence.scenarios.len(),
            thousands(sum(|e| e.cases)),
            thousands(sum(|e| e.agreements)),
            sum(|e| e.disagreements),
            sum(|e| e.errors),
            thousands(guest.round() as u64),
            silence.real_seconds,
            thousands((guest / silence.real_seconds.max(1e-9)).round() as u64)
        );
    }
    let _ = writeln!(
        md,
        "\nThe kernel's time is the random stories' (both backends); the real time is the \
         lane's VM's, its boot (8 to 12 s), the scenarios and the measurements included.\n"
    );
    for s in &with {
        let silence = s.silence.as_ref().expect("filtered");
        let mut rules: std::collections::BTreeSet<&str> = silence
            .scenarios
            .iter()
            .filter(|r| r.disagreement.is_none())
            .flat_map(|r| r.rules.iter().map(String::as_str))
            .collect();
        for e in &silence.explorations {
            rules.extend(
                e.rules
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(r, _)| r.as_str()),
            );
        }
        let _ = writeln!(
            md,
            "On {}, {} of the {} rules decided a step of an agreeing run at the kernel's defaults.",
            s.version,
            rules.len(),
            crate::rules::Rule::ALL.len()
        );
    }
    md.push('\n');
    let _ = writeln!(
        md,
        "The rebooted peer needs no timer: its scenarios (the rule's and the question's) run in \
         every kernel's survey on the link, on the host's kernel too:\n"
    );
    let _ = writeln!(md, "| kernel | runs | agreeing |\n|---|---:|---:|");
    for s in surveys {
        let runs: Vec<_> = s
            .scenarios
            .iter()
            .filter(|r| {
                r.name == "rule:reboot-forgets-the-connection"
                    || r.name.starts_with("question:the-server-restarted")
            })
            .collect();
        let agreeing = runs.iter().filter(|r| r.disagreement.is_none()).count();
        let _ = writeln!(md, "| {} | {} | {agreeing} |", s.version, runs.len());
    }
    md.push('\n');
    let _ = writeln!(md, "### What the oracle still refuses, and why\n");
    let _ = writeln!(
        md,
        "- A sleep that ends within {} ms of a timer's window, or past a retransmission that only \
         some start jiffies send (a user timeout near a retransmission).\n\
         - The link restored while a timer runs, a write before the timer has resent a lost \
         segment, several segments or a FIN unacknowledged, an orphan's retries, a call that \
         closes or sets options while a timer runs.\n\
         - Keepalive probes that would be answered (the peer alive), a link delay in the \
         kernel's time (the loss probe would fire within it), and a closed socket's own timers \
         (FIN_WAIT2 and TIME_WAIT end after 60 s).\n\
         - Outside the lane, every sleep past 5 s: there the kernel's timers run on the real \
         clock.\n",
        crate::oracle::TIMER_MARGIN.as_millis()
    );
}

/// The survey's series, for a chart's label.
fn series(s: &Survey) -> String {
    crate::kernels::survey::series_of(&s.version)
}
