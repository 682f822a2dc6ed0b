//! The rules book: the committed `RULES.md` states exactly the catalogue's rules, regenerating
//! it changes only counts, dates and the kernel version, and the SIGPIPE experiment it reports
//! holds.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rstlab::book::{self, BookOptions};
use rstlab::sigpipe::{self, Api, Disposition, End, Probe};

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

#[test]
fn regenerating_the_book_changes_only_counts_dates_and_the_kernel() {
    // The book runs the link's rules on the link.
    if !common::link_available() {
        return;
    }
    let _serial = serial();
    let options = BookOptions {
        cases: 40,
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
    // Masking hides every number, so "0 runs of 0" would compare equal: the book itself says
    // where its evidence is missing or against it, and none of that may be left.
    assert_eq!(
        fresh.unsupported,
        Vec::<String>::new(),
        "the fresh book marks these unsupported"
    );
    assert!(
        !committed("RULES.md").contains("Unsupported"),
        "the committed RULES.md marks a statement unsupported"
    );
    let old = committed("RULES.md");
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
        panic!("RULES.md differs beyond counts, dates and the kernel version: {line}");
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
        peer: End::Abort,
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
    let dir = std::env::temp_dir().join(format!("rstlab-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
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
        let svg = dir.join("docs/rules").join(format!("{}.svg", rule.id()));
        assert!(svg.is_file(), "{} missing", svg.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
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
