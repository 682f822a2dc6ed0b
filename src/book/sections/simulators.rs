//! The book's "Simulators" chapter: how deterministic simulators answer the rules' scenarios,
//! against Linux, from the reports `rstlab sim NAME --out` stored (`docs/simulators/*.json`),
//! so that `rstlab rules` renders it without running a simulator.

use crate::book::options::{BookError, BookOptions};

/// The chapter's title, as the contents link to it.
pub const TITLE: &str = "Simulators";

/// The chapter's body, from the reports in `options.simulators_dir`; no directory is no
/// evidence, said so, not an error.
pub(super) fn stored(options: &BookOptions) -> Result<String, BookError> {
    let reports = match crate::sim::load_reports(&options.simulators_dir) {
        Ok(reports) => reports,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            return Err(BookError::Stored {
                chapter: TITLE,
                error,
            });
        }
    };
    if reports.is_empty() {
        return Ok(format!(
            "No simulator report in `{}`: `rstlab sim NAME --out FILE` makes one.\n",
            options.simulators_dir.display()
        ));
    }
    Ok(crate::sim::chapter_body(&reports))
}
