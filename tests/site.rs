//! The site, as a reader meets it: `rstlab rules --site DIR` writes a page per rule, per
//! question and per chapter beside the guide; mdBook builds it with no broken link or anchor;
//! and in a real headless browser (Chromium) the pages show their diagrams and the search finds
//! the pages for an error message pasted into it.
//!
//! mdBook and Chromium are programs of the machine, not of this crate: where one is missing
//! the test that needs it skips with a `SKIPPED` line, except with `RSTLAB_REQUIRE_BROWSER=1`
//! (as `.ci/run` sets it, after installing both), where it fails.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use rstlab::Rule;
use rstlab::questions::QUESTIONS;

/// Makes a missing mdBook or Chromium a failure rather than a skip, when set to `1`.
const REQUIRE_BROWSER: &str = "RSTLAB_REQUIRE_BROWSER";

/// Skips (or, with `RSTLAB_REQUIRE_BROWSER=1`, fails) for want of `what`.
fn missing(what: &str) {
    if std::env::var(REQUIRE_BROWSER).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_BROWSER}=1 and {what}");
    }
    common::skip(None, what);
}

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The site's sources, written by `rstlab rules --site` into a new temporary folder (built by
/// mdBook when `build`), or `None` after a skip line when the link (which the book runs on)
/// or mdBook is missing.
fn site(build: bool) -> Option<tempfile::TempDir> {
    if !common::link_available() {
        return None;
    }
    if build && !runs("mdbook") {
        missing("mdbook is not on the PATH (cargo install mdbook --locked --version 0.4.40)");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_rstlab"));
    command
        .args(["rules", "--cases", "5", "--no-sigpipe", "--out"])
        .arg(tmp.path().join("RULES.md"))
        .arg("--site")
        .arg(tmp.path().join("site"))
        .args(["--repo", env!("CARGO_MANIFEST_DIR")]);
    if !build {
        // No mdbook on the PATH: the sources alone.
        command.env("PATH", "/nonexistent");
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    if build {
        assert!(stderr.contains("running `mdbook build"), "{stderr}");
    } else {
        assert!(stderr.contains("mdbook is not on the PATH"), "{stderr}");
    }
    Some(tmp)
}

#[test]
fn rules_site_writes_a_page_per_rule_question_and_chapter() {
    let Some(tmp) = site(false) else { return };
    let src = tmp.path().join("site/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    let listed: Vec<&str> = summary
        .lines()
        .filter_map(|l| l.split("](").nth(1))
        .map(|l| l.trim_end_matches(')'))
        .collect();
    for page in &listed {
        assert!(
            src.join(page).is_file(),
            "SUMMARY.md lists {page}, not written"
        );
    }
    for rule in Rule::ALL {
        let page = format!("rules/{}.md", rule.id());
        assert!(listed.contains(&page.as_str()), "no page for {}", rule.id());
        let text = std::fs::read_to_string(src.join(&page)).unwrap();
        assert!(text.starts_with(&format!("# {}\n", rule.id())), "{text}");
        assert!(text.contains(rule.statement()), "{page}: no statement");
        assert!(text.contains("**Mechanism.**") && text.contains("**Evidence.**"));
        // A rule of the kernel's own timers runs in the lane only: its page shows the
        // oracle's prediction, and no diagram of a run here.
        if common::in_kernel_time(rule.scenario()) {
            assert!(
                text.contains("**Predicted** in the kernel's own time"),
                "{page}"
            );
            continue;
        }
        let svg = format!("../diagrams/{}.svg", rule.id());
        assert!(text.contains(&svg), "{page} does not show {svg}");
        assert!(
            src.join("diagrams")
                .join(format!("{}.svg", rule.id()))
                .is_file()
        );
    }
    for q in QUESTIONS {
        let page = format!("questions/{}.md", q.anchor());
        assert!(
            listed.contains(&page.as_str()),
            "no page for {}",
            q.question
        );
    }
    for page in [
        "index.md",
        "book.md",
        "what-the-next-write-and-read-return.md",
        "the-seed-articles-claim-checked.md",
        "sigpipe-how-rust-avoids-it.md",
        "timing-the-link.md",
        "kernels.md",
        "simulators.md",
        "guide/language.md",
        "guide/your-code.md",
        "guide/seed.md",
    ] {
        assert!(listed.contains(&page), "no page {page}");
    }
    // The guide's pages: every one of docs/guide/.
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guide")).unwrap()
    {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(listed.contains(&format!("guide/{name}").as_str()), "{name}");
    }
}

/// Every `id` of every built page, and every link (`href`, `src`) that stays in the site.
struct Html {
    ids: BTreeMap<PathBuf, BTreeSet<String>>,
    links: Vec<(PathBuf, String)>,
}

/// The values of `attribute="…"` in `html`.
fn attributes<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    let mark = format!(" {attribute}=\"");
    html.split(mark.as_str())
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

fn read_html(root: &Path) -> Html {
    let mut html = Html {
        ids: BTreeMap::new(),
        links: Vec::new(),
    };
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            // mdBook's 404 page is written for a web server's root (`<base href="/">`).
            if path.extension().is_none_or(|e| e != "html") || path.ends_with("404.html") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let ids = attributes(&text, "id")
                .into_iter()
                .map(str::to_string)
                .collect();
            for link in attributes(&text, "href")
                .into_iter()
                .chain(attributes(&text, "src"))
            {
                html.links.push((path.clone(), link.replace("&amp;", "&")));
            }
            html.ids.insert(path, ids);
        }
    }
    html
}

#[test]
fn the_built_site_has_no_broken_link_or_anchor() {
    let Some(tmp) = site(true) else { return };
    let root = tmp.path().join("site/book");
    let html = read_html(&root);
    assert!(
        html.ids.len() > Rule::ALL.len() + QUESTIONS.len(),
        "{} pages",
        html.ids.len()
    );
    let mut broken = Vec::new();
    let mut checked = 0;
    for (page, link) in &html.links {
        if link.contains("://") || link.starts_with("mailto:") || link.starts_with("javascript:") {
            continue;
        }
        let link = link.split('?').next().unwrap_or_default();
        let (path, fragment) = link.split_once('#').unwrap_or((link, ""));
        let target = if path.is_empty() {
            page.clone()
        } else {
            page.parent().unwrap().join(path)
        };
        let target = normalise(&target);
        checked += 1;
        if !target.exists() {
            broken.push(format!("{}: {link} (no such file)", page.display()));
        } else if !fragment.is_empty()
            && !html
                .ids
                .get(&target)
                .is_some_and(|ids| ids.contains(fragment))
        {
            broken.push(format!("{}: {link} (no such anchor)", page.display()));
        }
    }
    assert!(checked > 1000, "only {checked} links checked");
    assert!(
        broken.is_empty(),
        "{} broken links:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

/// `path` with `.` and `..` resolved, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            p => out.push(p),
        }
    }
    out
}

/// A page that loads `url` (of the site) in a frame and, once it has loaded (and, for a search,
/// once its results are listed), writes what `script` returns (JSON) into `#result`, which
/// `--dump-dom` prints.
const PROBE: &str = r#"<!doctype html><html><body><pre id="result">pending</pre>
<iframe id="f" style="width:1200px;height:900px" src="URL"></iframe>
<script>
let tries = 0;
function probe(d) { SCRIPT }
function check() {
  const d = document.getElementById('f').contentDocument;
  const ready = d && d.readyState === 'complete' && (!WAIT || d.querySelectorAll(WAIT).length);
  if (ready || tries++ > 100) {
    document.getElementById('result').textContent = JSON.stringify(d ? probe(d) : null);
  } else setTimeout(check, 100);
}
window.onload = () => setTimeout(check, 100);
</script></body></html>"#;

/// Opens `url` (relative to the built site) in headless Chromium, through [`PROBE`], and
/// returns what `script` made of the page.
fn in_browser(
    chromium: &str,
    book: &Path,
    url: &str,
    wait: Option<&str>,
    script: &str,
) -> serde_json::Value {
    let probe = book.join("probe.html");
    std::fs::write(
        &probe,
        PROBE.replace("URL", url).replace("SCRIPT", script).replace(
            "WAIT",
            &wait.map_or("null".to_string(), |w| format!("{w:?}")),
        ),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            // The probe reads the framed page: both are files.
            "--allow-file-access-from-files",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let result = dom
        .split("<pre id=\"result\">")
        .nth(1)
        .and_then(|r| r.split("</pre>").next())
        .unwrap_or_else(|| panic!("no result from Chromium: {out:?}"));
    let result = result
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&result).unwrap_or_else(|e| panic!("{e}: {result}"))
}

#[test]
fn the_site_reads_in_a_headless_browser() {
    let chromium = std::env::var("RSTLAB_CHROMIUM").unwrap_or_else(|_| "chromium".to_string());
    if !runs(&chromium) {
        missing(&format!(
            "{chromium} is not installed (apt-get install chromium; RSTLAB_CHROMIUM names another)"
        ));
        return;
    }
    let Some(tmp) = site(true) else { return };
    let book = tmp.path().join("site/book");

    // The first page: the README, with the contents of every page in its sidebar.
    let index = in_browser(
        &chromium,
        &book,
        "index.html",
        None,
        "return {title: d.title, h1: d.querySelector('main h1').textContent, \
         chapters: d.querySelectorAll('.sidebar a').length};",
    );
    assert!(
        index["title"].as_str().unwrap().contains("rstlab"),
        "{index}"
    );
    assert_eq!(index["h1"], "rstlab", "{index}");
    let pages = Rule::ALL.len() + QUESTIONS.len();
    assert!(
        index["chapters"].as_u64().unwrap() as usize > pages,
        "{index}"
    );

    // A rule page: its statement, and its diagram drawn (an SVG image of some size).
    let rule = in_browser(
        &chromium,
        &book,
        "rules/rst-after-fin-leaves-epipe.html",
        None,
        "const img = d.querySelector('main img'); const r = img.getBoundingClientRect(); \
         return {h1: d.querySelector('main h1').textContent, src: img.getAttribute('src'), \
         complete: img.complete, natural: img.naturalWidth, width: r.width, height: r.height};",
    );
    assert_eq!(rule["h1"], "rst-after-fin-leaves-epipe", "{rule}");
    assert_eq!(
        rule["src"], "../diagrams/rst-after-fin-leaves-epipe.svg",
        "{rule}"
    );
    assert_eq!(rule["complete"], true, "{rule}");
    for size in ["natural", "width", "height"] {
        assert!(rule[size].as_f64().unwrap() > 10.0, "{size}: {rule}");
    }

    // The runtimes' chapter: a table per situation, each message linked to its rules' pages.
    let words = in_browser(
        &chromium,
        &book,
        "your-runtimes-words.html",
        None,
        "const rows = [...d.querySelectorAll('main table tr')]; \
         return {h1: d.querySelector('main h1').textContent, \
         tables: d.querySelectorAll('main table').length, \
         linked: rows.filter(r => r.querySelector('a[href^=\"rules/\"]')).length, \
         text: d.querySelector('main').textContent};",
    );
    assert_eq!(words["h1"], "Your runtime's words", "{words}");
    let situations = rstlab::runtimes::SITUATIONS.len() as u64;
    assert_eq!(words["tables"].as_u64().unwrap(), situations + 1, "{words}");
    assert!(
        words["linked"].as_u64().unwrap() >= situations * rstlab::runtimes::APIS.len() as u64,
        "{words}"
    );
    let text = words["text"].as_str().unwrap();
    for message in [
        "BrokenPipeError: [Errno 32] Broken pipe",
        "curl: (56) Recv failure: Connection reset by peer",
    ] {
        assert!(
            text.contains(message),
            "the chapter does not show {message}"
        );
    }

    // The search, as a reader pastes an error message: mdBook's searcher reads `?search=`.
    let found = in_browser(
        &chromium,
        &book,
        "index.html?search=Connection+reset+by+peer",
        Some("#searchresults li a"),
        "return [...d.querySelectorAll('#searchresults li a')].map(a => \
         a.getAttribute('href').split('?')[0]);",
    );
    let found: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for page in [
        "your-runtimes-words.html",
        "rules/rst-leaves-econnreset.html",
        "questions/the-server-answered-and-closed-without-reading-my-whole-request-why-a-reset.html",
        "guide/your-code.html",
    ] {
        assert!(
            found.contains(&page),
            "the search does not list {page}: {found:?}"
        );
    }
}
