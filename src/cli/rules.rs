//! `rstlab rules [--cases N] [--seed S] [--out FILE] [--site DIR]`: the rules book, generated
//! from evidence, and with `--site` the same book as an mdBook site beside the guide.
//!
//! Exit status 0 when every run agreed with the oracle, 1 when the book records a disagreement
//! (it is written all the same), 2 when it could not be built or written.
//!
//! The book and its diagrams are written all or nothing: every file goes to a temporary file
//! beside its place first, and only when all are written are they renamed into place. Where
//! they would go is checked before the (long) build starts: `--out` must be a regular file or
//! not exist yet, in a directory that exists.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use rstlab::book::{self, BookOptions};

use super::signals::{Signal, Stop};

use super::{Status, exit_statuses};

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 1, 2, 130]))]
pub struct Args {
    /// Random scenarios on each backend and network (four times as many random runs), on top
    /// of the canonical ones.
    #[arg(long, default_value_t = 2000)]
    cases: u64,
    /// The seed of the random scenarios (the same seed gives the same scenarios).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the book: a regular file (replaced) or a new one, in a directory that
    /// exists. The SVG diagrams go to `docs/rules/` beside it (created if missing).
    #[arg(long, default_value = "RULES.md")]
    out: PathBuf,
    /// Where the kernels' surveys are (`rstlab kernels --out DIR`), for the "Kernels" chapter.
    #[arg(long, default_value = "docs/kernels")]
    kernels: PathBuf,
    /// Where the simulators' reports are (`rstlab sim NAME --out FILE`), for the "Simulators"
    /// chapter.
    #[arg(long, default_value = "docs/simulators")]
    simulators: PathBuf,
    /// The runtimes' measured messages (`rstlab runtimes --out FILE`), for the "Your runtime's
    /// words" chapter.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "docs/runtimes/results.json"
    )]
    runtimes: PathBuf,
    /// Leave out the SIGPIPE experiment (which runs this binary in child processes).
    #[arg(long)]
    no_sigpipe: bool,
    /// Also write the book as an mdBook site into DIR (created if missing): `book.toml` and
    /// `src/`, a page per rule, per question and per chapter, with the README and the guide
    /// (read from `--repo`); then `mdbook build DIR` when mdbook is on the PATH.
    #[arg(long, value_name = "DIR")]
    site: Option<PathBuf>,
    /// The repository whose README.md, docs/guide/*.md, docs/SEED.md and docs/json.md the site
    /// shows beside the book.
    #[arg(long, value_name = "DIR", default_value = ".")]
    repo: PathBuf,
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    // The book runs scenarios on the link; before the runners start any thread.
    super::enter_link_namespace();
    let start = Instant::now();
    let probe_exe = if args.no_sigpipe {
        None
    } else {
        Some(std::env::current_exe().context("finding this binary for the SIGPIPE experiment")?)
    };
    let options = BookOptions {
        cases: args.cases,
        seed: args.seed,
        probe_exe,
        kernels_dir: args.kernels.clone(),
        simulators_dir: args.simulators.clone(),
        runtimes_file: args.runtimes.clone(),
        ..BookOptions::default()
    };
    let stop = Stop::install(std::sync::Arc::clone(&options.stop))?;
    let base = check_out(&args.out)?;
    let svg_paths: Vec<PathBuf> = book::svg_paths(&options)
        .iter()
        .map(|p| base.join(p))
        .collect();
    for path in &svg_paths {
        check_replaceable(path)?;
    }
    // The site's documents are read, and its directory checked, before the long build.
    let site = match &args.site {
        Some(dir) => {
            check_site_dir(dir)?;
            let docs = book::site::docs_in(&args.repo).with_context(|| {
                format!(
                    "reading the guide for the site in {} (--repo)",
                    args.repo.display()
                )
            })?;
            Some((dir.clone(), docs))
        }
        None => None,
    };
    // The error's text already ends with its cause's: as a chain (`context`), `rstlab: {e:#}`
    // would say the cause twice in one line.
    eprintln!(
        "rstlab rules: gathering the evidence ({} random scenarios on each backend and network)",
        options.cases
    );
    let book = match book::build(&options) {
        Ok(book) => book,
        Err(book::BookError::Interrupted) => {
            let signal = stop.signal().unwrap_or(Signal::Int);
            eprintln!(
                "rstlab rules: interrupted by {} after {:.1} s: nothing written ({} is as it was)",
                signal.name(),
                start.elapsed().as_secs_f64(),
                args.out.display()
            );
            return Ok(Status::Interrupted(signal));
        }
        Err(e) => anyhow::bail!("building the rules book: {e}"),
    };
    let mut files: Vec<(PathBuf, &[u8])> = book
        .svgs
        .iter()
        .map(|(path, svg)| (base.join(path), svg.as_bytes()))
        .collect();
    let site_files = site
        .as_ref()
        .map(|(dir, docs)| (dir, book::site::render(&book, docs)));
    if let Some((dir, pages)) = &site_files {
        files.extend(pages.iter().map(|(p, c)| (dir.join(p), c.as_slice())));
    }
    // The book last, so that an interrupted rename leaves the old book beside new diagrams
    // rather than a new book without them.
    files.push((args.out.clone(), book.markdown.as_bytes()));
    write_all_or_nothing(&files)?;
    eprintln!(
        "wrote {} ({} rules) and {} diagrams under {}: {} scenario runs, {} disagreements, {:.1} s",
        args.out.display(),
        book.rules,
        book.svgs.len(),
        base.join(&options.svg_dir).display(),
        book.scenarios_run,
        book.disagreements,
        start.elapsed().as_secs_f64()
    );
    for what in &book.unsupported {
        eprintln!("unsupported: {what}");
    }
    if let Some((dir, pages)) = &site_files {
        let count = pages.iter().filter(|(p, _)| p.ends_with(".md")).count() - 1;
        eprintln!(
            "wrote the site's sources in {}: {count} pages (SUMMARY.md aside)",
            dir.display()
        );
        build_site(dir)?;
    }
    Ok(Status::of_agreement(book.disagreements == 0))
}

/// Checks that `dir` can take the site: a directory, or nothing yet in a directory that
/// exists.
fn check_site_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!(
            "--site {}: not a directory: rstlab rules wrote nothing",
            dir.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            super::paths::check_output("--site", dir, super::paths::Kind::Folder)
        }
        Err(e) => Err(e).with_context(|| format!("checking --site {}", dir.display())),
    }
}

/// Runs `mdbook build DIR` where mdbook is on the PATH, saying so; else says how to.
fn build_site(dir: &Path) -> anyhow::Result<()> {
    let found = std::process::Command::new("mdbook")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "mdbook is not on the PATH: `cargo install mdbook --locked --version 0.4.40`, then \
             `mdbook build {}` makes the site in {}",
            dir.display(),
            dir.join("book").display()
        );
        return Ok(());
    }
    eprintln!("running `mdbook build {}`", dir.display());
    let status = std::process::Command::new("mdbook")
        .arg("build")
        .arg(dir)
        .status()
        .context("running mdbook")?;
    if !status.success() {
        bail!("`mdbook build {}` failed ({status})", dir.display());
    }
    eprintln!(
        "the site is in {}: open index.html (offline too); search with `s`",
        dir.join("book").display()
    );
    Ok(())
}

/// Checks that `out` can take the book, and returns the directory it is in.
fn check_out(out: &Path) -> anyhow::Result<PathBuf> {
    if out.as_os_str().is_empty() {
        bail!("--out is empty: give the path of the book, such as RULES.md");
    }
    if out.to_string_lossy().ends_with('/') {
        bail!(
            "--out {}: names a directory; give the path of a file",
            out.display()
        );
    }
    check_replaceable(out)?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    super::paths::check_output("--out", out, super::paths::Kind::File)?;
    Ok(dir)
}

/// Checks that `path` is a regular file or nothing: never a directory, a device such as
/// `/dev/null`, a pipe, a socket or a symbolic link (which a rename would replace).
fn check_replaceable(path: &Path) -> anyhow::Result<()> {
    let kind = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => return Ok(()),
        Ok(m) if m.is_dir() => "a directory",
        Ok(m) if m.file_type().is_symlink() => "a symbolic link",
        Ok(_) => "not a regular file (a device, a pipe or a socket)",
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        // A path through a regular file (`file/book.md`) is refused here too.
        Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
    };
    bail!(
        "{} is {kind}: rstlab rules writes only regular files, and wrote nothing",
        path.display()
    )
}

/// The temporary file that stands for `path` until it is renamed into place.
fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.rstlab-{}.tmp", std::process::id()))
}

/// Writes every file, or none of them: each to its temporary file first (creating missing
/// directories), then, once all are written, renames each into place. On failure it removes
/// the temporary files and the directories it created.
fn write_all_or_nothing(files: &[(PathBuf, &[u8])]) -> anyhow::Result<()> {
    let mut staged: Vec<PathBuf> = Vec::new();
    let mut created: Vec<PathBuf> = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for (path, contents) in files {
            if let Some(dir) = path.parent() {
                create_dirs(dir, &mut created)?;
            }
            let temp = temporary(path);
            staged.push(temp.clone());
            std::fs::write(&temp, contents)
                .with_context(|| format!("writing {}", temp.display()))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        for temp in &staged {
            let _ = std::fs::remove_file(temp);
        }
        for dir in created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        return Err(e.context("nothing was written"));
    }
    for ((path, _), temp) in files.iter().zip(&staged) {
        std::fs::rename(temp, path)
            .with_context(|| format!("renaming {} to {}", temp.display(), path.display()))?;
    }
    Ok(())
}

/// `create_dir_all`, recording each directory it creates (outermost first).
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, created)?;
    }
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    created.push(dir.to_path_buf());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(out: &Path) -> String {
        format!("{:#}", check_out(out).expect_err("refused"))
    }

    #[test]
    fn only_a_regular_file_in_an_existing_directory_is_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(refusal(Path::new("/dev/null")).contains("not a regular file"));
        assert!(refusal(dir).contains("a directory"));
        assert!(refusal(Path::new("")).contains("empty"));
        assert!(refusal(&dir.join("missing/BOOK.md")).contains("does not exist"));
        let file = dir.join("BOOK.md");
        assert_eq!(check_out(&file).unwrap(), dir);
        std::fs::write(&file, "old").unwrap();
        assert_eq!(check_out(&file).unwrap(), dir);
        // A path through a regular file is refused, and so is a link.
        assert!(check_out(&file.join("x.md")).is_err());
        std::os::unix::fs::symlink(&file, dir.join("link.md")).unwrap();
        assert!(refusal(&dir.join("link.md")).contains("symbolic link"));
        assert_eq!(check_out(Path::new("RULES.md")).unwrap(), Path::new("."));
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("old.md"), "old").unwrap();
        std::fs::write(dir.join("plain"), "a file, not a directory").unwrap();
        let files: Vec<(PathBuf, &[u8])> = vec![
            (dir.join("docs/rules/a.svg"), b"<svg/>"),
            (dir.join("old.md"), b"new"),
            (dir.join("plain/b.svg"), b"<svg/>"),
        ];
        assert!(write_all_or_nothing(&files).is_err());
        let mut left: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["old.md", "plain"],
            "temporary files or directories left behind"
        );
        assert_eq!(std::fs::read_to_string(dir.join("old.md")).unwrap(), "old");

        let files = &files[..2];
        write_all_or_nothing(files).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("old.md")).unwrap(), "new");
        assert_eq!(
            std::fs::read_to_string(dir.join("docs/rules/a.svg")).unwrap(),
            "<svg/>"
        );
    }
}
