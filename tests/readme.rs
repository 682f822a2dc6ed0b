//! The README and the guide (`docs/guide/*.md`, the pages the README links to) show what the
//! crate does: their library example is the one `src/lib.rs` runs as a doctest, the commands
//! they show print what they say, the documents they link to are in the repository, and no
//! section of the README of before the guide was lost on the way.

use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The guide's pages, `docs/guide/*.md`, sorted by path.
fn guide_pages() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guide");
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| format!("docs/guide/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    pages.sort();
    pages
}

/// The README, then every page of the guide: what a reader can see, where the examples below
/// are looked for (each is shown once, wherever it lives).
fn docs() -> String {
    let mut text = read("README.md");
    for page in guide_pages() {
        text.push('\n');
        text.push_str(&read(&page));
    }
    text
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
fn the_guide_library_example_is_the_one_lib_rs_runs() {
    let (readme, lib) = (read("docs/guide/library.md"), read("src/lib.rs"));
    let example = readme_example(&readme);
    assert!(example.len() > 10, "{example:?}");
    assert_eq!(example, lib_example(&lib));
}

/// Every relative link of the README and the guide names a file or folder of the repository,
/// and a link into `RULES.md` names one of its headings.
#[test]
fn the_readme_and_the_guide_link_to_documents_the_repository_has() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules_anchors: Vec<String> = read("RULES.md")
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| rstlab::text::anchor(l.trim_start_matches('#').trim()))
        .collect();
    let mut pages = vec!["README.md".to_string()];
    pages.extend(guide_pages());
    let mut checked = 0;
    for page in &pages {
        let text = read(page);
        assert!(
            !text.contains("../shared"),
            "{page}: a link outside the repository"
        );
        let dir = Path::new(page).parent().unwrap();
        for target in text.split("](").skip(1).filter_map(|t| t.split(')').next()) {
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
            let full = root.join(dir).join(path);
            assert!(
                full.exists(),
                "{page} links to {target}, which is not there"
            );
            if path.ends_with("RULES.md") && !fragment.is_empty() {
                assert!(
                    rules_anchors.iter().any(|a| a == fragment),
                    "{page} links to {target}: RULES.md has no such heading"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} links found");
    let readme = read("README.md");
    assert!(readme.contains("[docs/SEED.md](docs/SEED.md)"));
    assert!(readme.contains("[docs/json.md](docs/json.md)"));
    for page in guide_pages() {
        assert!(
            readme.contains(&format!("]({page})")),
            "the README does not link to {page}"
        );
    }
}

/// The README fits a screen or two; what it held before the guide is in the guide.
#[test]
fn the_readme_is_short_and_no_section_of_the_old_one_is_lost() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines: move a section to docs/guide/"
    );
    let docs = docs();
    // Every heading of the README of 2026-12-06 (1,144 lines), before the guide took its
    // sections over: each is still a heading of the README or of a guide page.
    const OLD_HEADINGS: &[&str] = &[
        "Got \"broken pipe\" or \"connection reset by peer\"? Start here",
        "On a fresh machine",
        "Captures",
        "The scenario language",
        "The link: when time matters",
        "The link's settings, kernel by kernel",
        "Other kernels",
        "Commands",
        "Exit statuses",
        "JSON",
        "Simulators judged against Linux",
        "Using rstlab as a library",
        "The rules book",
        "Layout",
        "Performance",
        "A long run does not leak",
        "Fuzzing",
        "ClusterFuzzLite",
        "What a finding looks like",
        "Keeping a finding as a test",
        "Testing your own code",
        "What the steps mean here",
        "`rstlab serve`",
        "In your tests: `rstlab::peer`",
        "Python's http.client and curl against three broken servers",
        "`rstlab exec`: a real program across a delayed link",
    ];
    let headings: Vec<&str> = docs
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    for old in OLD_HEADINGS {
        assert!(
            headings.contains(old),
            "the old README's section \"{old}\" is neither in README.md nor in docs/guide/"
        );
    }
}

/// The README's `serve` command, as a reader would paste it, against the README's Python
/// client: the connection goes as scripted, and the second request meets the closed
/// connection as the README says.
#[test]
fn the_readme_serve_command_plays_as_it_says() {
    use std::io::{BufRead, BufReader, Read};
    if !std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the_readme_serve_command_plays_as_it_says: needs python3"
        );
        return;
    }
    let readme = read("README.md");
    let lines: Vec<&str> = readme.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("rstlab serve "))
        .expect("a serve command in the README");
    let scenario = lines[at].split('"').nth(1).unwrap();
    assert_eq!(
        lines[at],
        format!("rstlab serve --once --respond examples/serve/response.http \"{scenario}\"")
    );
    let client = lines[at + 1].split_whitespace().collect::<Vec<_>>();
    assert_eq!(client[..2], ["python3", "examples/serve/two_requests.py"]);
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "serve",
            "--once",
            "--respond",
            "examples/serve/response.http",
            scenario,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(serve.stdout.take().unwrap());
    let mut addr = String::new();
    out.read_line(&mut addr).unwrap();
    let python = std::process::Command::new("python3")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([client[1], addr.trim()])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&python.stdout);
    let mut report = String::new();
    out.read_to_string(&mut report).unwrap();
    assert_eq!(serve.wait().unwrap().code(), Some(0), "{report}");
    assert!(
        report.contains("as scripted: the connection followed the scenario"),
        "{report}"
    );
    let said = "`RemoteDisconnected: Remote end closed connection without response`";
    assert!(readme.contains(said));
    assert!(
        printed.contains(&format!("request 2: {}", said.trim_matches('`'))),
        "{printed}"
    );
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
    assert_eq!(commands.len(), 3, "{commands:?}");
    let shows = [
        ["eof", "EPIPE"],
        ["ECONNRESET", "ok(30)"],
        ["ETIMEDOUT", "EPIPE"],
    ];
    for (i, (steps, shown)) in commands.iter().zip(shows).enumerate() {
        // The silent peer's runs in the lane (tests/lane.rs runs such scenarios there); here
        // the oracle's prediction for it, as the lane runs it.
        let command = if i == 2 { "predict" } else { "run" };
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
            .args([command, steps])
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
    let readme = docs();
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
    let readme = docs();
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
    let readme = docs();
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
    let readme = docs();
    let row = readme.lines().find(|l| l.starts_with("| 3 |")).unwrap();
    assert!(
        row.contains("in the article's setting only: without `--delay`, with 3 writes"),
        "{row}"
    );
}

/// Every `rstlab` command line the README and the guide show, in a code block or inline, uses
/// only flags its subcommand has: each `--flag` is in that subcommand's `--help`.
#[test]
fn every_command_shown_uses_flags_its_subcommand_has() {
    let mut helps: std::collections::BTreeMap<String, String> = Default::default();
    let mut checked = 0;
    for line in docs().lines() {
        let Some(at) = line
            .find("rstlab ")
            .or_else(|| line.find("cargo run --release -- ").map(|i| i + 17))
        else {
            continue;
        };
        // Inline code ends at its closing backtick; a block's line at its end.
        let rest = &line[at..];
        let rest = if line[..at].ends_with('`') {
            rest.split('`').next().unwrap_or_default()
        } else {
            rest
        };
        let rest = rest.trim_start_matches("rstlab ").trim_start_matches("-- ");
        let mut words = rest.split_whitespace();
        let Some(sub) = words
            .next()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-'))
        else {
            continue;
        };
        let help = helps.entry(sub.to_string()).or_insert_with(|| {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_rstlab"))
                .args([sub, "--help"])
                .output()
                .unwrap();
            if o.status.success() {
                String::from_utf8_lossy(&o.stdout).into_owned()
            } else {
                String::new()
            }
        });
        if help.is_empty() {
            // Not a subcommand: prose ("rstlab generalises", "rstlab's link").
            continue;
        }
        // The command's words up to the end of its code: a pipe, a comment, a closing quote.
        for word in words.take_while(|w| !w.starts_with('#') && *w != "|" && *w != "--") {
            let flag = word
                .trim_start_matches(['[', '(', '`'])
                .split(['=', ']', '`', ')', ',', '|'])
                .next()
                .unwrap_or_default();
            if flag.starts_with("--") && flag.len() > 2 {
                assert!(
                    help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                    "`rstlab {sub} {flag}` is shown, but `rstlab {sub} --help` has no {flag}:\n{line}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} flags checked");
}
