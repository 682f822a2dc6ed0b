//! The book's chapter "Your runtime's words", rendered from stored results
//! (`docs/runtimes/results.json`): per situation, what happened and a table of what each
//! runtime printed, each message linked to the rules behind it, each cell with the one command
//! that measures it again.

use std::fmt::Write as _;
use std::path::Path;

use super::{APIS, Results, SITUATIONS, command};

/// The chapter's title.
pub const TITLE: &str = "Your runtime's words";

/// A client's runtime and API, once where they are the same (curl).
fn name(api: &super::Api) -> String {
    if api.runtime == api.api {
        api.runtime.to_string()
    } else {
        format!("{} {}", api.runtime, api.api)
    }
}

/// The stored results in `path`.
pub fn load(path: &Path) -> std::io::Result<Results> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The chapter's body (without its heading), from `results`. Rule links are `#rule-id`, as
/// every link of the book.
pub fn chapter_body(results: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "People arrive with an error message, not an errno. Here is what each runtime prints in \
         the situations of this book, measured, never copied from documentation: a small client \
         per runtime ([`examples/runtimes/`](examples/runtimes/)) ran against the peer that \
         `rstlab serve` runs, playing each situation's scenario on loopback, on Linux `{}`, {}. \
         Each cell is the client's decisive line (its first error, else its first end of \
         stream, else its answer), ports masked; the rules behind it are linked; `rstlab \
         runtimes --only API/SITUATION` measures it again and shows the peer's report beside \
         it (the Rust clients first need `cargo build --release --example runtimes`), and \
         `rstlab runtimes --out docs/runtimes/results.json` measures them all.\n",
        results.kernel, results.date
    );
    let _ = writeln!(
        md,
        "The versions are those the measuring machine ran (the first on its `PATH`); CI \
         installs Debian's packages.\n"
    );
    let _ = writeln!(
        md,
        "| client | runtime and API | version | Debian package |\n|---|---|---|---|"
    );
    for api in APIS {
        let version = results
            .versions
            .iter()
            .find(|v| v.api == api.id)
            .and_then(|v| v.version.clone())
            .map_or_else(
                || "**not installed: not measured**".to_string(),
                |v| format!("`{v}`"),
            );
        let _ = writeln!(
            md,
            "| `{}` | {} | {version} | {} |",
            api.id,
            name(api),
            api.from
        );
    }
    md.push('\n');
    for situation in SITUATIONS {
        let _ = writeln!(md, "### {}\n", situation.title);
        let _ = writeln!(
            md,
            "On a socket, {}:\n\n```text\n{}\n```\n",
            situation.socket.words,
            situation.socket.scenarios.join("\n")
        );
        let _ = writeln!(
            md,
            "Over HTTP, {}{}:\n\n```text\n{}\n```\n",
            situation.http.words,
            if situation.http.scenarios.len() > 1 {
                "; a client that connects again meets the second scenario"
            } else {
                ""
            },
            situation.http.scenarios.join("\n")
        );
        let _ = writeln!(
            md,
            "| runtime and API | what it printed | rules | again |\n|---|---|---|---|"
        );
        for api in APIS {
            let cell = results
                .cells
                .iter()
                .find(|c| c.api == api.id && c.situation == situation.id);
            let (printed, rules) = match cell {
                Some(cell) => {
                    let retried = if cell.connections > 1 {
                        format!(" (on {} connections: it connected again)", cell.connections)
                    } else {
                        String::new()
                    };
                    let rules: Vec<String> = situation
                        .rules_for(cell.said)
                        .iter()
                        .map(|r| format!("[`{0}`](#{0})", r.id()))
                        .collect();
                    (
                        format!(
                            "`{}`{retried}",
                            cell.decisive.replace('|', "\\|").replace('`', "'")
                        ),
                        rules.join(", "),
                    )
                }
                None => ("not measured (not installed)".to_string(), String::new()),
            };
            let _ = writeln!(
                md,
                "| {} | {printed} | {rules} | `{}` |",
                name(api),
                command(api, situation)
            );
        }
        md.push('\n');
    }
    md
}
