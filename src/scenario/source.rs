//! Where a command finds its scenario: a file, `-` for standard input, or the steps themselves
//! on the command line. One reader, [`Source::read`], for every command (`run`, `predict`,
//! `sim`, `serve`, `exec`), so that they refuse the same inputs with the same words.

use std::fs::File;
use std::io::{self, Read};

use thiserror::Error;

use super::{ParseError, Scenario, Script, quote};

/// The most bytes of scenario text a command reads. A scenario has at most
/// [`MAX_STEPS`](super::bounds::MAX_STEPS) steps, a few dozen bytes each; this leaves room for
/// comments, and keeps a wrong file (or an endless pipe) from filling memory before the parser
/// can refuse it.
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;

/// What errors say a steps argument looks like.
const STEPS_HINT: &str = "steps look like `client write 1; server close`";

/// Why a scenario could not be read. Each names the input as the user gave it.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The argument is empty or blank.
    #[error(
        "the scenario argument is empty: give a scenario file, `-` for standard input, or the steps themselves ({STEPS_HINT})"
    )]
    EmptyArgument,
    /// The argument names a directory.
    #[error("{0} is a directory, not a scenario file")]
    Directory(String),
    /// The argument is neither a file that can be opened nor steps.
    #[error("{name}: {source} (and not a scenario: {STEPS_HINT})")]
    NotFound {
        /// The argument, as errors show it.
        name: String,
        /// Why it could not be looked at or opened.
        source: io::Error,
    },
    /// Reading failed part way.
    #[error("reading {origin}")]
    Io {
        /// Where the text came from.
        origin: String,
        /// The error.
        source: io::Error,
    },
    /// More than [`MAX_SCENARIO_BYTES`]; only that much plus one byte was read.
    #[error(
        "{origin}: longer than {} KiB, far more than a scenario (at most {} steps) needs",
        MAX_SCENARIO_BYTES / 1024,
        super::bounds::MAX_STEPS
    )]
    TooLong {
        /// Where the text came from.
        origin: String,
    },
    /// Bytes that are not UTF-8.
    #[error("{origin}: not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Where the text came from.
        origin: String,
        /// The offset of the first invalid byte.
        offset: usize,
    },
    /// The text does not parse. The parse error is in the text, not also the source, so that
    /// an error chain (`{:#}`) says it once.
    #[error("{origin}: not a valid scenario: {error}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// The parser's error, with its place.
        error: ParseError,
    },
    /// Only blank lines and comments.
    #[error(
        "{origin}: no steps, only blank lines and comments: a scenario needs at least one step ({STEPS_HINT})"
    )]
    NoSteps {
        /// Where the text came from.
        origin: String,
    },
}

/// A scenario as read: where it came from, and its steps as written (`client write request`
/// included, which only the peer plays; [`Source::into_scenario`] refuses it).
#[derive(Clone, Debug)]
pub struct Source {
    /// Where it came from, as errors name it: the file as given, `<stdin>` or
    /// `<command line>`.
    pub origin: String,
    /// The steps, at least one.
    pub script: Script,
}

impl Source {
    /// Reads the scenario `arg` names: `-` is standard input; a path that exists is read as a
    /// file (a pipe such as `<(echo …)` too), at most [`MAX_SCENARIO_BYTES`], and must be
    /// UTF-8; otherwise an argument with a blank in it (and not ending in `.scenario`) is the
    /// steps themselves. Refuses a directory and a scenario with no steps.
    pub fn read(arg: &str) -> Result<Source, SourceError> {
        let (origin, text) = Source::read_text(arg)?;
        Source::parse(origin, &text)
    }

    /// What [`Source::read`] reads, not yet parsed: where it came from and the text as written
    /// (for a command that hands the very text on, such as `run --kernel` to its VM).
    pub fn read_text(arg: &str) -> Result<(String, String), SourceError> {
        let shown = name(arg);
        let (origin, text) = if arg == "-" {
            let text = read_bounded(io::stdin().lock(), "standard input")?;
            ("<stdin>".to_string(), text)
        } else if arg.trim().is_empty() {
            return Err(SourceError::EmptyArgument);
        } else {
            let inline = !arg.ends_with(".scenario") && arg.contains(char::is_whitespace);
            match std::fs::metadata(arg) {
                Ok(m) if m.is_dir() => return Err(SourceError::Directory(shown)),
                Ok(_) => {
                    let file = File::open(arg).map_err(|source| SourceError::NotFound {
                        name: shown.clone(),
                        source,
                    })?;
                    let text = read_bounded(file, &shown)?;
                    (shown, text)
                }
                Err(_) if inline => ("<command line>".to_string(), arg.to_string()),
                Err(source) => {
                    return Err(SourceError::NotFound {
                        name: shown,
                        source,
                    });
                }
            }
        };
        Ok((origin, text))
    }

    /// The scenario in `text`, named `origin` in errors: parsed, and refused when it has no
    /// steps.
    pub fn parse(origin: String, text: &str) -> Result<Source, SourceError> {
        let script = match Script::parse(text) {
            Ok(script) => script,
            Err(error) => return Err(SourceError::Parse { origin, error }),
        };
        if script.shape().steps().is_empty() {
            return Err(SourceError::NoSteps { origin });
        }
        Ok(Source { origin, script })
    }

    /// The scenario for the oracle: refused, with its place, when a step is a
    /// `client write request` (which has no byte count).
    pub fn into_scenario(self) -> Result<(String, Scenario), SourceError> {
        let origin = self.origin;
        match self.script.into_scenario() {
            Ok(scenario) => Ok((origin, scenario)),
            Err(error) => Err(SourceError::Parse { origin, error }),
        }
    }
}

/// Reads at most [`MAX_SCENARIO_BYTES`] of UTF-8 text from `source`, named `origin` in errors.
fn read_bounded(source: impl Read, origin: &str) -> Result<String, SourceError> {
    let mut bytes = Vec::new();
    source
        .take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| SourceError::Io {
            origin: origin.to_string(),
            source,
        })?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(SourceError::TooLong {
            origin: origin.to_string(),
        });
    }
    String::from_utf8(bytes).map_err(|e| SourceError::NotUtf8 {
        origin: origin.to_string(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// `arg` as errors name it: as given when short and printable, else quoted and cut short.
fn name(arg: &str) -> String {
    if arg.chars().count() <= 100 && !arg.contains(char::is_control) {
        arg.to_string()
    } else {
        quote(arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_bound() {
        let long = vec![b'#'; MAX_SCENARIO_BYTES as usize + 10];
        let e = read_bounded(&long[..], "x").unwrap_err();
        assert!(matches!(e, SourceError::TooLong { .. }), "{e:?}");
        assert!(e.to_string().contains("longer than 1024 KiB"), "{e}");
        let just = vec![b'#'; MAX_SCENARIO_BYTES as usize];
        assert_eq!(read_bounded(&just[..], "x").unwrap().len(), just.len());
        let e = read_bounded(&b"client \xff"[..], "x").unwrap_err();
        assert!(matches!(e, SourceError::NotUtf8 { offset: 7, .. }), "{e:?}");
    }

    #[test]
    fn an_argument_is_named_short() {
        assert_eq!(name("a.scenario"), "a.scenario");
        let long = "x".repeat(10_000);
        assert!(name(&long).len() < 100, "{}", name(&long));
    }

    #[test]
    fn what_is_refused_and_what_is_read() {
        assert!(matches!(Source::read(" "), Err(SourceError::EmptyArgument)));
        assert!(matches!(
            Source::read(env!("CARGO_MANIFEST_DIR")),
            Err(SourceError::Directory(_))
        ));
        assert!(matches!(
            Source::read("missing.scenario"),
            Err(SourceError::NotFound { .. })
        ));
        assert!(matches!(
            Source::parse("x".into(), "# only a comment\n"),
            Err(SourceError::NoSteps { .. })
        ));
        let source = Source::read("client write request; server close").unwrap();
        assert_eq!(source.origin, "<command line>");
        assert_eq!(source.script.requests(), [0]);
        assert!(matches!(
            source.into_scenario(),
            Err(SourceError::Parse { .. })
        ));
    }
}
