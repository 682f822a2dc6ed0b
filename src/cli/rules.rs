//! `rstlab rules [--cases N] [--seed S] [--out FILE]`: the rules book, generated from evidence.
//!
//! Exit status 0 when every run agreed with the oracle, 1 when the book records a disagreement
//! (it is written all the same), 2 when it could not be built.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use rstlab::book::{self, BookOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Random scenarios per backend, on top of the canonical ones.
    #[arg(long, default_value_t = 2000)]
    cases: u64,
    /// The seed of the random scenarios (the same seed gives the same scenarios).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the book; the SVG diagrams go to `docs/rules/` beside it.
    #[arg(long, default_value = "RULES.md")]
    out: PathBuf,
    /// Leave out the SIGPIPE experiment (which runs this binary in child processes).
    #[arg(long)]
    no_sigpipe: bool,
}

pub fn main(args: Args) -> anyhow::Result<bool> {
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
        ..BookOptions::default()
    };
    let book = book::build(&options).context("building the rules book")?;
    let base = args.out.parent().unwrap_or(Path::new(""));
    for (path, svg) in &book.svgs {
        let path = base.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::write(&args.out, &book.markdown)
        .with_context(|| format!("writing {}", args.out.display()))?;
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
    Ok(book.disagreements == 0)
}
