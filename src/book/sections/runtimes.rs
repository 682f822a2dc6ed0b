//! The book's "Your runtime's words" chapter: what Python, Go, Node.js, Java, curl and Rust
//! print in the book's situations, from the results `rstlab runtimes --out` stored
//! (`docs/runtimes/results.json`), so that `rstlab rules` renders it without running a
//! runtime.

use crate::book::options::{BookError, BookOptions};

/// The chapter's body, from `options.runtimes_file`; no file is no evidence, said so, not an
/// error.
pub(super) fn stored(options: &BookOptions) -> Result<String, BookError> {
    match crate::runtimes::load(&options.runtimes_file) {
        Ok(results) => Ok(crate::runtimes::chapter_body(&results)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(format!(
            "No measurements in `{}`: `rstlab runtimes --out FILE` makes them.\n",
            options.runtimes_file.display()
        )),
        Err(error) => Err(BookError::Stored {
            chapter: crate::runtimes::TITLE,
            error,
        }),
    }
}
