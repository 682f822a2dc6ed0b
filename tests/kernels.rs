//! `rstlab kernels` and the book's "Kernels" chapter: the chapter in RULES.md is the one the
//! stored surveys (`docs/kernels/*.json`) render, the surveys say what the chapter claims, and
//! the command runs the survey on this machine's kernel without a VM. Booting other kernels is
//! the command's job and CI's (`.ci/run`), not every test's: nothing here needs virtme-ng.
//! `kernels host` stops on a signal, and says why a survey had errors.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rstlab::book::kernels;
use rstlab::oracle::kernel::CHANGES;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_books_kernels_chapter_is_the_one_the_stored_surveys_render() {
    let chapter = kernels::chapter(&root().join("docs/kernels")).unwrap();
    let book = std::fs::read_to_string(root().join("RULES.md")).unwrap();
    assert!(
        book.contains(&chapter),
        "RULES.md's \"Kernels\" chapter is not what docs/kernels/*.json render: run `rstlab rules` \
         (or `rstlab kernels --out docs/kernels` first)\n--- rendered:\n{chapter}"
    );
}

#[test]
fn the_stored_surveys_cover_debians_kernels_and_agree_everywhere() {
    let surveys = kernels::load(&root().join("docs/kernels")).unwrap();
    let series: Vec<String> = surveys
        .iter()
        .map(|s| rstlab::kernels::survey::series_of(&s.version))
        .collect();
    for wanted in ["5.10", "6.1", "6.12", "7.3"] {
        assert!(
            series.iter().any(|s| s == wanted),
            "no survey of {wanted}: {series:?}"
        );
    }
    for s in &surveys {
        let t = s.totals();
        assert_eq!((t.disagreements, t.errors), (0, 0), "{}", s.version);
        assert!(
            s.link_error.is_none(),
            "{}: the link did not start",
            s.version
        );
        assert_eq!(
            s.explorations.len(),
            4,
            "{}: both backends on both networks",
            s.version
        );
        for e in &s.explorations {
            assert!(
                e.cases >= 20_000,
                "{} {} {}: {} cases",
                s.version,
                e.backend,
                e.net,
                e.cases
            );
            assert_eq!(e.agreements, e.cases);
        }
        // The profile the survey recorded is the one the version gives today.
        let kernel: rstlab::oracle::kernel::Kernel = s.version.parse().unwrap();
        let lacks: Vec<String> = kernel.lacks().map(|c| c.commit.to_string()).collect();
        assert_eq!(
            s.lacks, lacks,
            "{}: the profile changed since its survey",
            s.version
        );
    }
    // Every change is seen from both sides among the stored kernels.
    for c in CHANGES {
        assert!(
            surveys
                .iter()
                .any(|s| s.lacks.iter().any(|l| l == c.commit)),
            "{}",
            c.commit
        );
        assert!(
            surveys
                .iter()
                .any(|s| !s.lacks.iter().any(|l| l == c.commit)),
            "{}",
            c.commit
        );
    }
}

fn rstlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rstlab"))
}

#[test]
fn an_unknown_kernel_is_refused_naming_the_known_ones() {
    let out = rstlab().args(["kernels", "4.19"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown kernel \"4.19\": give 5.10, 6.1, 6.12, 7.3 or host"),
        "{err}"
    );
    let out = rstlab()
        .args(["kernels", "--timeout", "0s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn kernels_host_surveys_this_kernel_without_a_vm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = rstlab()
        .args(["kernels", "host", "--cases", "40", "--seed", "3", "--out"])
        .arg(dir)
        .arg("--cache")
        .arg(dir.join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("host: exploring 40 cases, std backend, loopback"),
        "{stderr}"
    );
    assert!(stdout.contains("kernel  version"), "{stdout}");
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 1, "one survey");
    let survey = rstlab::kernels::survey::load(&files[0].path()).unwrap();
    assert_eq!(survey.machine, "host");
    assert_eq!(survey.seed, 3);
    assert!(
        survey
            .explorations
            .iter()
            .all(|e| e.cases == 40 && e.agreements == 40)
    );
    assert!(survey.scenarios.len() > rstlab::Rule::ALL.len());
}

#[test]
fn predict_answers_for_another_kernel_without_running_anything() {
    let scenario = "link delay 10ms; server write 14480; server close; client sleep 10ms; \
                    client read 65536; client read 1";
    let last_outcome = |kernel: &str| {
        let out = rstlab()
            .args(["predict", "--kernel", kernel, scenario])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("nothing ran"), "{text}");
        text.lines().last().unwrap().to_string()
    };
    assert!(last_outcome("5.10").contains("eof"));
    assert!(last_outcome("6.12").contains("EAGAIN"));
    let out = rstlab()
        .args(["predict", "--kernel", "4", "client write 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A folder of its own for one test, removed when the test ends, also on panic; readable by
/// everyone, for the tests that run rstlab as another user.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(name: &str) -> Scratch {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix(&format!("rstlab-{name}-"))
            .permissions(std::fs::Permissions::from_mode(0o755))
            .tempdir()
            .unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

/// A survey of this kernel with a million cases would run for hours: SIGTERM (as CI's
/// `timeout` sends it) stops it, the summary shows what ran, and the status is SIGTERM's.
#[test]
fn kernels_host_stops_on_sigterm_with_its_summary() {
    let dir = Scratch::new("kernels-term");
    let mut child = rstlab()
        .args([
            "kernels", "host", "--cases", "1000000", "--seed", "3", "--out",
        ])
        .arg(dir.path())
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Readers on threads, so that every wait below is bounded.
    let (exploring, seen) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            if line.starts_with("host: exploring") {
                let _ = exploring.send(());
            }
            text += &line;
            text += "\n";
        }
        text
    });
    let mut stdout = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    if seen.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = child.kill();
        panic!(
            "no exploration within 120 s: {}",
            err_reader.join().unwrap()
        );
    }
    let status = common::signal_and_wait(&mut child, rustix::process::Signal::TERM, "kernels host");
    let (out, err) = (out_reader.join().unwrap(), err_reader.join().unwrap());
    assert_eq!(status.code(), Some(143), "{out}{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(out.contains("version  machine"), "{out}");
    assert!(out.contains("host (interrupted, not saved)"), "{out}");
    let saved = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count();
    assert_eq!(saved, 0, "a survey cut short is no evidence to keep");
}

/// As user nobody (no CAP_NET_ADMIN) the link cannot be set up: the survey counts that as an
/// error, and the command says what it was, not only how many.
#[test]
fn kernels_host_without_the_link_says_why_it_has_an_error() {
    let setpriv = Path::new("/usr/bin/setpriv");
    if !rstlab::sys::net::effective_root() || !setpriv.exists() {
        common::skip(None, "needs root and setpriv to run rstlab as another user");
        return;
    }
    let dir = Scratch::new("kernels-nobody");
    // Open to nobody: the survey is written there.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let out = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_rstlab"))
        .args(["kernels", "host", "--cases", "2", "--seed", "1", "--out"])
        .arg(dir.path())
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(0) {
        // rstlab enters a user namespace of its own when it is not root (the link without
        // root); where the kernel lets user nobody do that, there is no error to see.
        common::skip(
            None,
            "user nobody can make a user namespace here, in which the link works",
        );
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("rstlab: 1 kernel(s) could not be checked completely; the first, host: the emulated link could not be set up: the emulated link needs CAP_NET_ADMIN"),
        "{err}"
    );
}

#[test]
fn the_books_silent_peer_chapter_is_the_one_the_stored_surveys_render() {
    let chapter = rstlab::book::silence::chapter(&root().join("docs/kernels")).unwrap();
    let book = std::fs::read_to_string(root().join("RULES.md")).unwrap();
    assert!(
        book.contains(&chapter),
        "RULES.md's \"When the peer goes silent\" chapter is not what docs/kernels/*.json \
         render: run `rstlab rules` (or `rstlab kernels --timers --out docs/kernels` first)\n\
         --- rendered:\n{chapter}"
    );
}

/// The silent peer's part of every lane kernel's survey: its scenarios and 20,000 random
/// stories per backend agree, and each measured first error falls in the oracle's window.
#[test]
fn the_stored_silent_peer_parts_agree_and_fall_in_the_oracles_windows() {
    let surveys = kernels::load(&root().join("docs/kernels")).unwrap();
    let lane: Vec<_> = surveys.iter().filter(|s| s.silence.is_some()).collect();
    for wanted in ["5.10", "6.1", "6.12", "7.3"] {
        assert!(
            lane.iter()
                .any(|s| rstlab::kernels::survey::series_of(&s.version) == wanted),
            "no silent peer's part for {wanted}"
        );
    }
    for s in lane {
        let silence = s.silence.as_ref().unwrap();
        let kernel: rstlab::oracle::kernel::Kernel = s.version.parse().unwrap();
        assert!(silence.scenarios.len() >= 6, "{}", s.version);
        for r in &silence.scenarios {
            assert_eq!(r.disagreement, None, "{} {}", s.version, r.name);
        }
        assert_eq!(
            silence.explorations.len(),
            2,
            "{}: both backends",
            s.version
        );
        for e in &silence.explorations {
            assert!(
                e.cases >= 20_000,
                "{} {}: {}",
                s.version,
                e.backend,
                e.cases
            );
            assert_eq!((e.agreements, e.errors), (e.cases, 0), "{}", s.version);
        }
        for m in &silence.measured {
            let w = rstlab::book::silence::window(m, kernel).unwrap();
            let t = Duration::from_secs_f64(m.error_after_s.unwrap());
            assert!(
                w.contains(t),
                "{} {}: {t:?} outside {w:?}",
                s.version,
                m.case
            );
            assert_eq!(
                (m.error.as_str(), m.next_write.as_str()),
                ("ETIMEDOUT", "EPIPE")
            );
        }
    }
}
