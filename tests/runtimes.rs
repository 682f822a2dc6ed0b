//! "Your runtime's words": the stored measurements cover every client in every situation with
//! the runtime's version, the book's chapter is rendered from them, and where a runtime is
//! installed here a sample of cells measured again prints what is stored.

use std::path::Path;

use rstlab::runtimes::{self, APIS, Api, SITUATIONS, Said, Situation};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stored() -> runtimes::Results {
    runtimes::load(&repo().join("docs/runtimes/results.json")).unwrap()
}

#[test]
fn every_client_is_measured_in_every_situation_with_its_version() {
    let results = stored();
    assert_eq!(results.schema, 1);
    assert!(SITUATIONS.len() >= 5);
    for api in APIS {
        let version = results.versions.iter().find(|v| v.api == api.id);
        assert!(
            version.is_some_and(|v| v.version.is_some()),
            "{}: no version stored (not measured)",
            api.id
        );
        for situation in SITUATIONS {
            let cell = results
                .cells
                .iter()
                .find(|c| c.api == api.id && c.situation == situation.id)
                .unwrap_or_else(|| panic!("no cell {}/{}", api.id, situation.id));
            assert!(!cell.printed.is_empty(), "{cell:?}");
            assert_eq!(cell.decisive, runtimes::decisive(&cell.printed));
            assert_eq!(cell.said, Said::of(&cell.decisive));
            assert!(
                !cell.decisive.contains("exited with"),
                "the client failed: {cell:?}"
            );
        }
    }
    // What people paste, each measured somewhere in the table.
    let all: Vec<&str> = results.cells.iter().map(|c| c.decisive.as_str()).collect();
    for message in [
        "BrokenPipeError: [Errno 32] Broken pipe",
        "write: broken pipe",
        "java.net.SocketException: Connection reset",
        "Error: read ECONNRESET",
        "curl: (56) Recv failure: Connection reset by peer",
        "Connection reset by peer (os error 104)",
    ] {
        assert!(
            all.iter().any(|d| d.contains(message)),
            "no cell says {message}"
        );
    }
}

#[test]
fn the_book_renders_the_chapter_from_the_stored_results() {
    let book = std::fs::read_to_string(repo().join("RULES.md")).unwrap();
    let body = runtimes::chapter_body(&stored());
    assert!(
        book.contains(&format!("## {}\n\n{body}", runtimes::TITLE)),
        "RULES.md's chapter is not the stored results': run `cargo run --release -- rules`"
    );
    for api in APIS {
        for situation in SITUATIONS {
            assert!(body.contains(&format!("`{}`", runtimes::command(api, situation))));
        }
    }
}

/// Whether `program` runs here.
fn installed(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Cells whose client is quick to start and whose answer does not race a timer: measured again,
/// they print what is stored (ports masked).
#[test]
fn a_sample_of_cells_measured_again_prints_what_is_stored() {
    use std::io::Write;
    let results = stored();
    let respond = std::fs::read(repo().join("examples/serve/response.http")).unwrap();
    let sample = [
        ("python-socket", "write-after-close", "python3"),
        ("python-socket", "reset-with-unread-data", "python3"),
        ("python-http-client", "write-after-close", "python3"),
        ("curl", "read-after-reset", "curl"),
        ("curl", "read-after-close", "curl"),
        ("node-net", "read-after-reset", "node"),
    ];
    let mut measured = 0;
    for (api, situation, program) in sample {
        if !installed(program) {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED a_sample_of_cells_measured_again_prints_what_is_stored, {api}/{situation}: {program} is not installed"
            );
            continue;
        }
        let (api, situation) = (
            Api::by_id(api).unwrap(),
            Situation::by_id(situation).unwrap(),
        );
        let now = runtimes::measure(api, situation, repo(), &respond).unwrap();
        let stored = results
            .cells
            .iter()
            .find(|c| c.api == api.id && c.situation == situation.id)
            .unwrap();
        assert_eq!(
            now.cell.decisive,
            stored.decisive,
            "{}: measured again, {:?}\n{}",
            runtimes::command(api, situation),
            now.cell.printed,
            now.report
        );
        measured += 1;
    }
    let _ = writeln!(std::io::stderr(), "measured again: {measured} cells");
}
