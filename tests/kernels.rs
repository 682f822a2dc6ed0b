//! `rstlab kernels` and the book's "Kernels" chapter: the chapter in RULES.md is the one the
//! stored surveys (`docs/kernels/*.json`) render, the surveys say what the chapter claims, and
//! the command runs the survey on this machine's kernel without a VM. Booting other kernels is
//! the command's job and CI's (`.ci/run`), not every test's: nothing here needs virtme-ng.

use std::path::Path;
use std::process::Command;

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
    for wanted in ["5.10", "6.1", "6.12"] {
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
        err.contains("unknown kernel \"4.19\": give 5.10, 6.1, 6.12 or host"),
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
