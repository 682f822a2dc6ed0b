//! The rules book: the committed `RULES.md` states exactly the catalogue's rules, regenerating
//! it changes only the kernel release and the date, its counts add up, and the SIGPIPE
//! experiment it reports holds.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rstlab::book::{self, BookOptions};
use rstlab::sigpipe::{self, Api, Disposition, Ending, Probe};

fn committed(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Serialises the tests of this file that run sockets or child processes. A child forked while
/// a scenario runs holds copies of the scenario's sockets until it calls exec (they are
/// close-on-exec, not close-on-fork), so a `close` or `abort` in that window sends nothing yet,
/// and the runner sees a connection that has not changed.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rstlab"))
}

#[test]
fn the_committed_book_states_the_catalogue() {
    let book = committed("RULES.md");
    let stated = book::catalogue_in(&book);
    let catalogue = book::catalogue();
    let ids =
        |entries: &[book::RuleEntry]| entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&stated),
        ids(&catalogue),
        "RULES.md lists other rules than src/rules.rs: run `cargo run --release -- rules`"
    );
    for (s, c) in stated.iter().zip(&catalogue) {
        assert_eq!(
            s, c,
            "RULES.md is out of date for {}: run `cargo run --release -- rules`",
            c.id
        );
    }
    assert!(stated.len() >= 14);
}

/// The random scenarios and seed the book says it was made with: "N random scenarios on each
/// backend and network, seed S".
fn stated_cases_and_seed(book: &str) -> (u64, u64) {
    const MARK: &str = " random scenarios on each backend and network, seed ";
    let at = book
        .find(MARK)
        .expect("the book says how many random scenarios it ran");
    let cases = book[..at].rsplit(['(', ' ']).next().unwrap();
    let seed = book[at + MARK.len()..].split(')').next().unwrap();
    (cases.parse().unwrap(), seed.parse().unwrap())
}

#[test]
fn regenerating_the_book_changes_only_the_kernel_release_and_the_date() {
    // The book runs the link's rules on the link.
    if !common::link_available() {
        return;
    }
    let _serial = serial();
    let old = committed("RULES.md");
    // The same options as the committed book, so that every count must come out the same: the
    // random scenarios follow from the seed, and the kernel answers each as the oracle says.
    let (cases, seed) = stated_cases_and_seed(&old);
    let options = BookOptions {
        cases,
        seed,
        probe_exe: Some(exe()),
        ..BookOptions::default()
    };
    let fresh = book::build(&options).unwrap();
    let section = fresh
        .markdown
        .split("\n## Disagreements\n")
        .nth(1)
        .unwrap_or("");
    assert_eq!(fresh.disagreements, 0, "the kernel disagrees:\n{section}");
    assert_eq!(
        fresh.unsupported,
        Vec::<String>::new(),
        "the fresh book marks these unsupported"
    );
    assert!(
        !old.contains("Unsupported"),
        "the committed RULES.md marks a statement unsupported"
    );
    // Only the kernel release and the date are masked: a count, an outcome (`ok(1)` against
    // `ok(2)`) or a word that differs fails here.
    let (old, new) = (
        book::mask_volatile(&old),
        book::mask_volatile(&fresh.markdown),
    );
    if old != new {
        let line = old
            .lines()
            .zip(new.lines())
            .find(|(a, b)| a != b)
            .map_or_else(
                || "(lengths differ)".to_string(),
                |(a, b)| format!("\n{a}\n{b}"),
            );
        panic!(
            "RULES.md differs from a fresh book beyond the kernel release and the date (run \
             `cargo run --release -- rules`): {line}"
        );
    }
    for (path, svg) in &fresh.svgs {
        assert_eq!(&committed(path), svg, "{path} is out of date");
    }
}

#[test]
fn a_plain_write_with_the_default_disposition_dies_of_sigpipe() {
    let _serial = serial();
    let report = sigpipe::run_in_child(&exe(), &Probe::BOOK[0]).unwrap();
    assert_eq!(report.signal, Some(libc::SIGPIPE), "{report:?}");
    assert_eq!(report.writes(), ["ok(1)"], "{report:?}");
    assert!(
        report
            .lines
            .contains(&"SIGPIPE at start: SIG_IGN".to_string())
    );
}

#[test]
fn econnreset_raises_no_sigpipe_and_the_epipe_after_it_does() {
    let _serial = serial();
    let probe = Probe {
        api: Api::Plain,
        disposition: Disposition::Default,
        peer: Ending::Abort,
    };
    let report = sigpipe::run_in_child(&exe(), &probe).unwrap();
    assert_eq!(report.writes(), ["ECONNRESET"], "{report:?}");
    assert_eq!(report.signal, Some(libc::SIGPIPE), "{report:?}");
}

#[test]
fn msg_nosignal_or_an_ignored_signal_leave_only_the_error() {
    let _serial = serial();
    for probe in [&Probe::BOOK[2], &Probe::BOOK[3]] {
        let report = sigpipe::run_in_child(&exe(), probe).unwrap();
        assert_eq!(report.code, Some(0), "{probe}: {report:?}");
        assert_eq!(report.writes(), ["ok(1)", "EPIPE"], "{probe}: {report:?}");
    }
}

#[test]
fn rstlab_rules_writes_the_book_and_its_diagrams_where_asked() {
    if !common::link_available() {
        return;
    }
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = dir.join("BOOK.md");
    let status = std::process::Command::new(exe())
        .args(["rules", "--cases", "5", "--no-sigpipe", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let book = std::fs::read_to_string(&out).unwrap();
    assert_eq!(book::catalogue_in(&book), book::catalogue());
    assert!(book.contains("(The experiment was left out of this run.)"));
    // Without the experiment the SIGPIPE rule has no evidence, and the command says so.
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(
        stderr.contains("unsupported: write-epipe-raises-sigpipe: no evidence in this run"),
        "{stderr}"
    );
    for rule in rstlab::Rule::ALL {
        // A rule of the kernel's own timers runs in the lane only: no run here to draw.
        let svg = dir.join("docs/rules").join(format!("{}.svg", rule.id()));
        assert_eq!(
            svg.is_file(),
            !common::in_kernel_time(rule.scenario()),
            "{}",
            svg.display()
        );
    }
}

/// As user nobody the book cannot run its scenarios on the link: the command says why, once.
#[test]
fn rstlab_rules_without_the_link_says_why_once() {
    let setpriv = Path::new("/usr/bin/setpriv");
    if !rstlab::sys::net::effective_root() || !setpriv.exists() {
        common::skip(None, "needs root and setpriv to run rstlab as another user");
        return;
    }
    let _serial = serial();
    // The book goes beside the temporary folder, which exists: nothing is written there.
    use std::os::unix::fs::PermissionsExt;
    let scratch = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir()
        .unwrap();
    let out = scratch.path().join("RULES.md");
    let output = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(exe())
        .args(["rules", "--cases", "5", "--no-sigpipe", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.contains("CAP_NET_ADMIN") {
        // rstlab enters a user namespace of its own when it is not root (the link without
        // root); where the kernel lets user nobody do that, the link works and there is no
        // refusal to see.
        common::skip(
            None,
            "user nobody can make a user namespace here, in which the link works",
        );
        return;
    }
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("rstlab: building the rules book: ")),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("the emulated link needs CAP_NET_ADMIN")
            .count(),
        1,
        "{stderr}"
    );
    assert!(!out.exists(), "no book written");
}

#[test]
fn rstlab_run_diagram_prints_the_lanes_and_the_segments() {
    let _serial = serial();
    let output = std::process::Command::new(exe())
        .args([
            "run",
            "server close; client write 1; client write 1 => EPIPE",
            "--diagram",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("|<------ FIN ------|  close => ok"), "{text}");
    assert!(
        text.contains("write 1 => ok(1) |---- data 1 ----->|"),
        "{text}"
    );
    assert!(text.contains("|<------ RST ------|"), "{text}");
    assert!(text.contains("write 1 => EPIPE |"), "{text}");
}

/// The numbers an evidence line states: `(n, of, random n, random runs)` from "Runs of this book
/// that exercised the rule (steps before any disagreement): N of OF, R of them among the T
/// random runs (S steps)".
fn evidence_numbers(line: &str) -> (u64, u64, u64, u64) {
    let after = line
        .split("(steps before any disagreement): ")
        .nth(1)
        .unwrap_or_else(|| panic!("an evidence line without its runs: {line}"));
    let words: Vec<&str> = after.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let number = |i: usize| -> u64 {
        words[i]
            .parse()
            .unwrap_or_else(|_| panic!("word {i} of {after:?} is not a number"))
    };
    // N of OF R of them among the T random runs
    assert_eq!(
        (words[1], words[4], words[7]),
        ("of", "of", "the"),
        "{after}"
    );
    (number(0), number(2), number(3), number(8))
}

/// The runs the header says the book made: `(total, [(count, kind)])`, from "from T runs on
/// real sockets, each counted once: C1 <kind 1>, C2 <kind 2>, … and Cn <kind n>."
fn header_runs(book: &str) -> (u64, Vec<(u64, String)>) {
    let header = book
        .lines()
        .find(|l| l.starts_with("Generated by `rstlab rules`"))
        .expect("the book says how it was generated");
    let after = header
        .split(", from ")
        .nth(1)
        .unwrap_or_else(|| panic!("the header does not say how many runs: {header}"));
    let (total, rest) = after.split_once(' ').unwrap();
    let total: u64 = total.parse().unwrap();
    let list = rest
        .split_once("each counted once: ")
        .unwrap_or_else(|| panic!("the header does not list the runs by kind: {header}"))
        .1;
    let list = list.split_once(". ").map_or(list, |(l, _)| l);
    let kinds = list
        .split(", ")
        .flat_map(|part| part.split(" and "))
        .filter_map(|part| {
            let (n, what) = part.split_once(' ')?;
            Some((n.parse().ok()?, what.to_string()))
        })
        .collect();
    (total, kinds)
}

#[test]
fn the_books_run_counts_add_up() {
    // Defect 6 of issue 16: the header counted random scenarios per backend while the evidence
    // lines counted them per backend and network, and each evidence line's "N of OF" left out
    // runs (the questions') that its N counts. Every run the book makes is counted once, by
    // kind; the header's kinds add up to its total, which is every evidence line's OF.
    if !common::link_available() {
        return;
    }
    let _serial = serial();
    let cases = 7;
    let options = BookOptions {
        cases,
        probe_exe: Some(exe()),
        ..BookOptions::default()
    };
    let fresh = book::build(&options).unwrap();
    let md = &fresh.markdown;
    let lines: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("**Evidence.**") && l.contains("Runs of this book"))
        .collect();
    // The rules of the kernel's own timers have their evidence in the lane's surveys.
    let here = rstlab::Rule::ALL
        .iter()
        .filter(|r| !common::in_kernel_time(r.scenario()))
        .count();
    assert_eq!(lines.len(), here, "one evidence line per rule run here");
    let mut random_runs = None;
    for line in &lines {
        let (n, of, random_n, random) = evidence_numbers(line);
        assert_eq!(
            of, fresh.scenarios_run,
            "an evidence line counts out of {of} runs, but the book made {}: {line}",
            fresh.scenarios_run
        );
        assert!(random_n <= n && n <= of, "{line}");
        assert!(random_n <= random, "{line}");
        assert_eq!(*random_runs.get_or_insert(random), random, "{line}");
    }
    // Random scenarios run on every backend and every network.
    assert_eq!(random_runs, Some(cases * 2 * 2));

    let (total, kinds) = header_runs(md);
    assert_eq!(total, fresh.scenarios_run, "the header's total");
    assert_eq!(
        kinds.iter().map(|(n, _)| n).sum::<u64>(),
        total,
        "the header's kinds do not add up to its total: {kinds:?}"
    );
    let random = kinds
        .iter()
        .find(|(_, what)| what.starts_with("random runs"))
        .unwrap_or_else(|| panic!("the header names no random runs: {kinds:?}"));
    assert_eq!(Some(random.0), random_runs, "{kinds:?}");
}
