//! "SIGPIPE: how Rust avoids it": the SIGPIPE experiment, one child process per way to write,
//! and whether the children ended as the section's conclusion says.

use std::fmt::Write as _;

use crate::sigpipe::{Api, Disposition, Ending, Probe, ProbeReport};

use crate::book::page::{Page, UNSUPPORTED};

/// The section's title (the rules' evidence links to it).
pub(super) const TITLE: &str = "SIGPIPE: how Rust avoids it";

/// What a child of `probe` writes before it ends, and whether SIGPIPE kills it (in the next
/// write): only `write(2)` with the default disposition dies, of the write that fails with
/// EPIPE, after an `ok(1)` answered with RST (peer closed) or an ECONNRESET (peer aborted).
pub(super) fn expected_of(probe: &Probe) -> (&'static [&'static str], bool) {
    match (probe.api, probe.disposition, probe.peer) {
        (Api::Plain, Disposition::Default, Ending::Close) => (&["ok(1)"], true),
        (Api::Plain, Disposition::Default, Ending::Abort) => (&["ECONNRESET"], true),
        _ => (&["ok(1)", "EPIPE"], false),
    }
}

/// Whether the SIGPIPE experiment came out as the book's conclusion says: every child found
/// `SIG_IGN` at start; with `write(2)` and `SIG_DFL` the EPIPE write kills the child and the
/// ECONNRESET write before it does not; with `MSG_NOSIGNAL` or `SIG_IGN` the child writes and
/// gets EPIPE, and exits 0. `None` when it does; else what differs.
fn sigpipe_off(probes: &[ProbeReport]) -> Option<String> {
    let mut off = Vec::new();
    for expected in &Probe::BOOK {
        let Some(report) = probes.iter().find(|r| r.probe == *expected) else {
            off.push(format!("{expected}: not run"));
            continue;
        };
        let (writes, killed) = expected_of(expected);
        let started_ignored = report
            .lines
            .iter()
            .any(|l| l == "SIGPIPE at start: SIG_IGN");
        let ended_as_said = if killed {
            report.signal == Some(libc::SIGPIPE)
        } else {
            report.code == Some(0) && report.signal.is_none()
        };
        if report.writes() != writes || !ended_as_said || !started_ignored {
            off.push(format!(
                "{expected}: writes {:?}, {}",
                report.writes(),
                report.ending()
            ));
        }
    }
    (!off.is_empty()).then(|| off.join("; "))
}

pub(super) fn render(page: &mut Page) {
    let ev = page.ev;
    let md = &mut page.md;
    let _ = writeln!(
        md,
        "A write that fails with `EPIPE` also raises `SIGPIPE`, whose default action terminates \
         the process; a write that fails with `ECONNRESET` raises nothing \
         ([`write-epipe-raises-sigpipe`](#write-epipe-raises-sigpipe)). A Rust program never \
         dies of it, twice over: the runtime sets `SIGPIPE` to `SIG_IGN` before `main`, and \
         `std::net::TcpStream::write` sends with `send(2)` and `MSG_NOSIGNAL` (so do tokio and \
         mio, which call it). A C program calling `write(2)` with the default disposition dies \
         on the seed's third write.\n"
    );
    if ev.probes.is_empty() {
        let _ = writeln!(md, "(The experiment was left out of this run.)\n");
        return;
    }
    let _ = writeln!(
        md,
        "The experiment: `rstlab sigpipe-probe` runs in a child process, reports the \
         disposition it found at start, sets it as asked, connects over loopback, lets the peer \
         end the connection and writes one byte twice. The parent records what the child \
         printed and how it ended:\n"
    );
    let _ = writeln!(
        md,
        "| write call | SIGPIPE while writing | peer | SIGPIPE at start | writes | the child |\n|---|---|---|---|---|---|"
    );
    for report in &ev.probes {
        let p = report.probe;
        let field = |prefix: &str| {
            report
                .lines
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or("?")
                .to_string()
        };
        let writes: Vec<String> = report.writes().iter().map(|w| format!("`{w}`")).collect();
        let mut writes = writes.join(", ");
        if report.signal.is_some() {
            writes += ", then killed by the next write";
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | **{}** |",
            match p.api {
                Api::Plain => "`write(2)`",
                Api::Std => "`TcpStream::write` (`send`, `MSG_NOSIGNAL`)",
            },
            field("SIGPIPE while writing: "),
            match p.peer {
                Ending::Close => "close (FIN)",
                Ending::Abort => "abort (RST)",
            },
            field("SIGPIPE at start: "),
            writes,
            report.ending()
        );
    }
    match sigpipe_off(&ev.probes) {
        None => {
            let _ = writeln!(
                md,
                "\nThe child found `SIG_IGN` at start: Rust's runtime set it before `main` (std's \
                 `Command` gives children the default disposition, and a C program keeps the one \
                 it inherits). With `write(2)` and `SIG_DFL` the `EPIPE` write kills the process \
                 while the `ECONNRESET` write before it does not; with `MSG_NOSIGNAL` the default \
                 disposition is harmless.\n"
            );
        }
        Some(off) => {
            let _ = writeln!(
                md,
                "\n{UNSUPPORTED} the children did not all end as Rust's runtime and \
                 `MSG_NOSIGNAL` would have them end: {off}.\n"
            );
            page.unsupported.push(format!("SIGPIPE: {off}"));
        }
    }
}
