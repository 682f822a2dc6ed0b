//! What goes into a book ([`BookOptions`]), why one could not be built ([`BookError`]), and
//! where its diagrams go.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use thiserror::Error;

use crate::rules::Rule;
use crate::run::RunError;
use crate::sigpipe::ProbeError;

/// What goes into a book.
#[derive(Clone, Debug)]
pub struct BookOptions {
    /// Random scenarios on each backend and each network (so four times as many random runs),
    /// on top of the canonical ones.
    pub cases: u64,
    /// The seed of the random scenarios ([`crate::generate::case`]).
    pub seed: u64,
    /// The `rstlab` binary that runs the SIGPIPE probes in child processes; `None` leaves the
    /// experiment out of the book.
    pub probe_exe: Option<PathBuf>,
    /// Where the SVG diagrams go, relative to the book, with `/` separators.
    pub svg_dir: String,
    /// The surveys of the "Kernels" chapter (`rstlab kernels --out DIR`): read, not run.
    pub kernels_dir: PathBuf,
    /// The simulators' reports of the "Simulators" chapter (`rstlab sim NAME --out FILE`):
    /// read, not run.
    pub simulators_dir: PathBuf,
    /// The runtimes' measured messages of the "Your runtime's words" chapter (`rstlab runtimes
    /// --out FILE`): read, not run.
    pub runtimes_file: PathBuf,
    /// Set (by a signal handler) to stop: the run in progress ends, no other starts, and
    /// [`crate::book::build`] returns [`BookError::Interrupted`]: half a book is no book.
    pub stop: Arc<AtomicBool>,
}

impl Default for BookOptions {
    fn default() -> Self {
        BookOptions {
            cases: 2000,
            seed: 0,
            probe_exe: None,
            svg_dir: "docs/rules".to_string(),
            kernels_dir: PathBuf::from("docs/kernels"),
            simulators_dir: PathBuf::from("docs/simulators"),
            runtimes_file: PathBuf::from("docs/runtimes/results.json"),
            stop: Arc::default(),
        }
    }
}

impl BookOptions {
    /// Where a rule's diagram goes, relative to the book.
    pub(super) fn svg_path(&self, rule: Rule) -> String {
        format!("{}/{}.svg", self.svg_dir.trim_end_matches('/'), rule.id())
    }

    /// Where the timing section's chart goes, relative to the book.
    pub(super) fn chart_path(&self) -> String {
        format!(
            "{}/timing-writes-after-close.svg",
            self.svg_dir.trim_end_matches('/')
        )
    }
}

/// Why a book could not be built.
#[derive(Debug, Error)]
pub enum BookError {
    /// [`BookOptions::stop`] was set: the book was not finished.
    #[error("interrupted before the book was finished")]
    Interrupted,
    /// A scenario could not be run.
    #[error("running a scenario: {0}")]
    Run(#[from] RunError),
    /// The SIGPIPE experiment could not be carried out.
    #[error("the SIGPIPE experiment: {0}")]
    Probe(#[from] ProbeError),
    /// The files a chapter is rendered from (the kernels' surveys) could not be read.
    #[error("reading the files of the chapter \"{chapter}\": {error}")]
    Stored {
        /// The chapter's title.
        chapter: &'static str,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A scenario of the book (a situation's or a question's) does not parse, or the
    /// oracle refuses one: the catalogue is broken.
    #[error("scenarios/{id}.scenario: {message}")]
    Canonical {
        /// The rule.
        id: &'static str,
        /// The parse error.
        message: String,
    },
}
