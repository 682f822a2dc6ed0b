//! The README shows what the crate does: its library example is the one `src/lib.rs` runs as a
//! doctest, and the documents it links to are in the repository.

use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The lines of the first ```` ```rust ```` block of the README.
fn readme_example(readme: &str) -> Vec<String> {
    let start = readme.find("```rust\n").expect("a rust block in README.md") + "```rust\n".len();
    let end = start + readme[start..].find("\n```").expect("the block's end");
    readme[start..end].lines().map(str::to_string).collect()
}

/// The lines of the first doctest of `src/lib.rs`, without its hidden (`# `) lines.
fn lib_example(lib: &str) -> Vec<String> {
    let doc: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let open = doc.iter().position(|l| *l == "```").expect("a doctest");
    let close = open
        + 1
        + doc[open + 1..]
            .iter()
            .position(|l| *l == "```")
            .expect("its end");
    doc[open + 1..close]
        .iter()
        .filter(|l| !l.starts_with("# "))
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn the_readme_library_example_is_the_one_lib_rs_runs() {
    let (readme, lib) = (read("README.md"), read("src/lib.rs"));
    let example = readme_example(&readme);
    assert!(example.len() > 10, "{example:?}");
    assert_eq!(example, lib_example(&lib));
}

#[test]
fn the_readme_links_to_documents_the_repository_has() {
    let readme = read("README.md");
    assert!(
        !readme.contains("../shared"),
        "a link outside the repository"
    );
    for doc in [
        "docs/SEED.md",
        "docs/json.md",
        "docs/schema/run.schema.json",
        "docs/schema/explore.schema.json",
    ] {
        read(doc);
    }
    assert!(readme.contains("[docs/SEED.md](docs/SEED.md)"));
    assert!(readme.contains("[docs/json.md](docs/json.md)"));
}

/// The quick start's commands, as a reader would paste them: each runs on real loopback
/// sockets, the kernel agrees with the oracle, and it shows the error the section names.
#[test]
fn the_broken_pipe_quick_start_commands_show_what_they_say() {
    let readme = read("README.md");
    let start = readme
        .find("## Got \"broken pipe\"")
        .expect("the quick start");
    let end = start + readme[start..].find("\n## ").expect("its end");
    let commands: Vec<&str> = readme[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rstlab run \""))
        .filter_map(|l| l.strip_suffix('"'))
        .collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    let shows = [["eof", "EPIPE"], ["ECONNRESET", "ok(30)"]];
    for (steps, shown) in commands.iter().zip(shows) {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
            .args(["run", steps])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{steps}:\n{out}");
        for word in shown {
            assert!(out.contains(word), "{steps} does not show {word}:\n{out}");
        }
    }
    for question in [
        "My write succeeded but the peer never got the data: how?",
        "Can I know the peer closed before I write?",
        "The server answered and closed without reading my whole request: why a reset?",
    ] {
        assert!(
            rstlab::questions::QUESTIONS
                .iter()
                .any(|q| q.question == question),
            "the quick start names a question the book does not ask: {question}"
        );
    }
}

/// A line of output with what varies from run to run masked: addresses (their ports), times
/// (`0.22 ms`, `201.4 ms`, `1.2 s`), and so the columns' widths, which follow them.
fn masked(line: &str) -> String {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let bare = token
            .trim_start_matches('(')
            .trim_end_matches([')', ',', ';']);
        let next = tokens
            .get(i + 1)
            .map(|t| t.trim_end_matches([')', ',', ';']));
        if bare.parse::<std::net::SocketAddr>().is_ok() {
            out.push(token.replace(bare, "ADDR"));
        } else if bare.parse::<f64>().is_ok() && matches!(next, Some("ms" | "s")) {
            out.push(token.replace(bare, "T"));
        } else {
            out.push(token.to_string());
        }
    }
    out.join(" ")
}

/// The README's indented block that starts with the line `first` (without its indent), as
/// lines without the indent; blank lines inside it included.
fn block<'a>(readme: &'a str, first: &str) -> Vec<&'a str> {
    let start = readme
        .find(&format!("    {first}\n"))
        .unwrap_or_else(|| panic!("no block starting `{first}` in README.md"));
    let lines: Vec<&str> = readme[start..].lines().collect();
    let mut end = 0;
    while end < lines.len()
        && (lines[end].starts_with("    ")
            || (lines[end].is_empty() && lines.get(end + 1).is_some_and(|l| l.starts_with("    "))))
    {
        end += 1;
    }
    lines[..end]
        .iter()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect()
}

fn same_masked(shown: &[&str], printed: &str, what: &str) {
    let shown: Vec<String> = shown.iter().map(|l| masked(l)).collect();
    let printed: Vec<String> = printed.lines().map(masked).collect();
    assert_eq!(
        shown, printed,
        "README.md's {what} is not what the command prints now (times and ports masked)"
    );
}

/// The `run` example under "JSON" is what `run` prints for its command, rules included.
#[test]
fn the_readme_run_example_is_what_run_prints() {
    let readme = read("README.md");
    let command = "$ cargo run --release -- run \"client write 1; server read 1; server close; \
                   client write 1; client write 1 => EPIPE\"";
    let shown = block(&readme, command);
    let steps = command
        .split_once(" run \"")
        .and_then(|(_, s)| s.strip_suffix('"'))
        .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(["run", steps])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    same_masked(
        &shown[1..],
        &String::from_utf8_lossy(&o.stdout),
        "run example",
    );
}

/// The serve session's first part (Python's http.client against a server that closes the
/// keep-alive connection) is what `examples/serve/http_session.sh` prints now. (curl's part
/// races curl's own FIN, so its lines differ from run to run.)
#[test]
fn the_readme_serve_session_is_what_the_session_prints() {
    let available = |program: &str| {
        std::process::Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(available("python3") && available("curl")) {
        // The harness shows an early return as a pass: say it on stderr, past its capture.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the_readme_serve_session_is_what_the_session_prints: needs python3 and curl"
        );
        return;
    }
    let readme = read("README.md");
    let heading = "## 1. The server closes the keep-alive connection after the first response";
    let shown = block(&readme, heading);
    let python: Vec<&str> = shown
        .iter()
        .copied()
        .take_while(|l| !l.starts_with("$ rstlab serve --connections 2"))
        .collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/serve/http_session.sh"
    );
    let o = std::process::Command::new("bash")
        .args([script, env!("CARGO_BIN_EXE_rstlab")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let printed: String = text
        .lines()
        .take(python.len())
        .map(|l| format!("{l}\n"))
        .collect();
    same_masked(&python, &printed, "serve session (part 1, Python)");
}

/// The simulators' table lists what the stored reports (`--cases 2000 --seed 1`) found, one
/// row per divergence, and each row's answers are what the simulator and Linux (the oracle)
/// give for its scenario when it runs now.
#[test]
fn the_readme_simulator_table_is_what_the_simulators_find() {
    let readme = read("README.md");
    let rows: Vec<Vec<&str>> = readme
        .lines()
        .filter(|l| l.starts_with("| turmoil"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    // The first `code` of a cell.
    let code = |cell: &str| cell.split('`').nth(1).unwrap_or_default().to_string();
    for name in rstlab::sim::NAMES {
        let path = format!("docs/simulators/{name}.json");
        let report: rstlab::sim::Report = serde_json::from_str(&read(&path)).unwrap();
        let mut stored: Vec<String> = report
            .divergences
            .iter()
            .map(|d| d.inline.clone())
            .collect();
        let mut listed: Vec<String> = rows
            .iter()
            .filter(|r| r[0].split(' ').next() == Some(name))
            .map(|r| code(r[1]))
            .collect();
        stored.sort();
        listed.sort();
        assert_eq!(
            listed, stored,
            "README.md's table, {name} rows against {path}"
        );
    }
    for row in &rows {
        let (name, version) = row[0].split_once(' ').unwrap();
        let mut sim = rstlab::sim::by_name(name).unwrap();
        assert_eq!(sim.version(), version, "{row:?}");
        let scenario: rstlab::Scenario = code(row[1]).parse().unwrap();
        let compared = rstlab::sim::compare(&mut *sim, &scenario).unwrap();
        let i = compared
            .first_divergence()
            .expect("the row's scenario diverges");
        let linux = compared.prediction.steps[i].outcome.to_string();
        let simulator = compared.observed[i].as_ref().unwrap().outcome.to_string();
        assert_eq!((code(row[2]), code(row[3])), (linux, simulator), "{row:?}");
    }
}

/// Status 3 of `seed` is the article's setting only (without `--delay`, with 3 writes: other
/// settings tell another story, and that is no failure): its `--help` and the README say so.
#[test]
fn seeds_status_3_is_said_to_hold_in_the_articles_setting_only() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(["seed", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains("(seed: the article's ok, ok, EPIPE, in the article's setting only: without --delay, with 3 writes)"),
        "{help}"
    );
    let readme = read("README.md");
    let row = readme.lines().find(|l| l.starts_with("| 3 |")).unwrap();
    assert!(
        row.contains("in the article's setting only: without `--delay`, with 3 writes"),
        "{row}"
    );
}
