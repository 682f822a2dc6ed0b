//! "The seed article's claim, checked": every read and write after an RST, by what came before
//! it ([`Call`]) and what the kernel returned, and each point of the claim ([`Claim`]) held to
//! those counts.

use std::fmt::Write as _;

use crate::book::page::{Page, UNSUPPORTED};
use crate::book::tally::{Call, Calls};

/// A point of the claim, as the section states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    /// Writes after the error was reported: EPIPE.
    WritesAfterReport,
    /// The seed's case: the first write after an RST that followed a FIN: EPIPE.
    SeedsCase,
    /// The first read after an RST before any FIN: ECONNRESET, or bytes queued before it.
    FirstReadAfterRst,
    /// The first write after an RST before any FIN: ECONNRESET.
    FirstWriteAfterRst,
    /// A read after the peer's FIN: EOF, or bytes queued before it.
    ReadAfterFin,
    /// A read after the error was reported: EOF, or bytes still queued.
    ReadAfterReport,
}

impl Claim {
    /// Where the article holds, in the order the text states them.
    const HOLDS: [Claim; 3] = [
        Claim::WritesAfterReport,
        Claim::SeedsCase,
        Claim::FirstReadAfterRst,
    ];
    /// Where it does not, in the order the text states them.
    const DOES_NOT: [Claim; 3] = [
        Claim::FirstWriteAfterRst,
        Claim::ReadAfterFin,
        Claim::ReadAfterReport,
    ];

    /// The calls it is about.
    fn call(self) -> Call {
        match self {
            Claim::WritesAfterReport => Call::WriteReported,
            Claim::SeedsCase => Call::WriteFinFirst,
            Claim::FirstReadAfterRst => Call::ReadRstFirst,
            Claim::FirstWriteAfterRst => Call::WriteRstFirst,
            Claim::ReadAfterFin => Call::ReadFinFirst,
            Claim::ReadAfterReport => Call::ReadReported,
        }
    }

    /// What those calls mostly return, and what else the claim allows.
    fn outcomes(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Claim::WritesAfterReport | Claim::SeedsCase => ("EPIPE", &[]),
            Claim::FirstReadAfterRst => ("ECONNRESET", &["ok(n)"]),
            Claim::FirstWriteAfterRst => ("ECONNRESET", &[]),
            Claim::ReadAfterFin | Claim::ReadAfterReport => ("eof", &["ok(n)"]),
        }
    }

    /// Whether the counts bear it out: at least one call ended as the main outcome, and none
    /// ended otherwise than the claim allows.
    fn holds(self, calls: &Calls) -> bool {
        let (main, others) = self.outcomes();
        calls.count(self.call(), main) > 0
            && calls.rows.get(&self.call()).is_some_and(|outcomes| {
                outcomes
                    .keys()
                    .all(|o| o == main || others.contains(&o.as_str()))
            })
    }

    /// `(x of y)`'s two numbers.
    fn counts(self, calls: &Calls) -> (u64, u64) {
        (
            calls.count(self.call(), self.outcomes().0),
            calls.total(self.call()),
        )
    }

    /// Its bullet, with `n` of `of` calls as it says.
    fn bullet(self, n: u64, of: u64) -> String {
        match self {
            Claim::WritesAfterReport => format!(
                "**Writes after the error was reported** fail with `EPIPE` ({n} of {of}): \
                 [`write-on-closed-connection-fails-epipe`](#write-on-closed-connection-fails-epipe)."
            ),
            Claim::SeedsCase => format!(
                "**The seed's case**: the RST answered a write sent after the peer's FIN. The \
                 kernel records `EPIPE` for such an RST, so even the first write after it fails \
                 with `EPIPE` ({n} of {of}): \
                 [`rst-after-fin-leaves-epipe`](#rst-after-fin-leaves-epipe)."
            ),
            Claim::FirstReadAfterRst => format!(
                "**The first read after an RST that came before any FIN** fails with \
                 `ECONNRESET` ({n} of {of}; the others returned bytes queued before the RST): \
                 [`rst-leaves-econnreset`](#rst-leaves-econnreset), \
                 [`queued-data-survives-rst`](#queued-data-survives-rst)."
            ),
            Claim::FirstWriteAfterRst => format!(
                "**The first write after an RST that came before any FIN** (the peer aborted, \
                 or closed with unread data) fails with `ECONNRESET`, not `EPIPE` ({n} of \
                 {of}). \"Broken pipe\" comes only from the next write: the error an RST leaves \
                 is reported once, by whichever call comes first \
                 ([`pending-error-reported-once`](#pending-error-reported-once))."
            ),
            Claim::ReadAfterFin => format!(
                "**A read after the peer's FIN never reports the RST**: it returns EOF ({n} of \
                 {of}; the others returned bytes queued before the FIN), and the error waits \
                 for the next write ([`eof-before-pending-error`](#eof-before-pending-error)). \
                 Had the seed's client read after the RST, it would have seen EOF, not \
                 \"connection reset by peer\"."
            ),
            Claim::ReadAfterReport => format!(
                "**A read after the error was reported** returns EOF, never `ECONNRESET` ({n} \
                 of {of}; the others returned bytes still queued): \
                 [`read-after-reset-returns-eof`](#read-after-reset-returns-eof)."
            ),
        }
    }
}

pub(super) fn render(page: &mut Page) {
    let calls = &page.ev.tallies.calls;
    let md = &mut page.md;
    let _ = writeln!(
        md,
        "The article ends: *you usually get `broken pipe` when you write after the RST, and \
         `connection reset by peer` when you read after the RST.* Every read and write that came \
         after an RST arrived, in every run of this book on std whose scenario has no `link` \
         step (of every kind counted above; steps before any disagreement), by what the kernel \
         returned:\n"
    );
    let mut outcomes: Vec<&String> = calls.rows.values().flat_map(|m| m.keys()).collect();
    outcomes.sort();
    outcomes.dedup();
    let _ = write!(md, "| call |");
    for o in &outcomes {
        let _ = write!(md, " `{o}` |");
    }
    let _ = write!(md, "\n|---|");
    for _ in &outcomes {
        let _ = write!(md, "---:|");
    }
    md.push('\n');
    for call in Call::ALL {
        let _ = write!(md, "| {call} |");
        for o in &outcomes {
            let _ = write!(md, " {} |", calls.count(call, o));
        }
        md.push('\n');
    }
    let mut all_hold = true;
    for (heading, claims) in [
        ("Where it holds", Claim::HOLDS),
        ("Where it does not", Claim::DOES_NOT),
    ] {
        let _ = writeln!(md, "\n{heading}:\n");
        for claim in claims {
            let (n, of) = claim.counts(calls);
            // Each bullet is marked when its counts do not bear it out.
            let mark = if claim.holds(calls) {
                ""
            } else {
                all_hold = false;
                page.unsupported.push(format!(
                    "the seed article's claim, row \"{}\": {n} of {of} {}",
                    claim.call(),
                    claim.outcomes().0
                ));
                "**Unsupported by this run's evidence:** "
            };
            let _ = writeln!(md, "- {mark}{}", claim.bullet(n, of));
        }
    }
    md.push('\n');
    if all_hold {
        let _ = writeln!(
            md,
            "In one line: **the first call after an RST reports it** (`ECONNRESET`, or `EPIPE` \
             when the peer's FIN came first, and reads skip it after a FIN); **afterwards writes \
             fail with `EPIPE` and reads return EOF**.\n"
        );
    } else {
        let _ = writeln!(
            md,
            "In one line: {UNSUPPORTED} the counts above do not bear out every point (see the \
             points marked), so no summary is drawn from them.\n"
        );
    }
}
