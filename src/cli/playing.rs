//! What `serve` and `exec` share: the `--respond` flag and the exit status of a peer's run.

use std::path::PathBuf;

use anyhow::{Context, bail};

use rstlab::peer::{self, PeerSaw};
use rstlab::scenario::End;

use super::Status;
use super::signals::Signal;

/// `--respond FILE`.
#[derive(Debug, clap::Args)]
pub struct Respond {
    /// The bytes `server write` steps send, in order, from the file's start again when it runs
    /// out (an HTTP response, say); without it, filler bytes `x`.
    #[arg(long = "respond", value_name = "FILE")]
    path: Option<PathBuf>,
}

impl Respond {
    /// The payload: the file's bytes, or none.
    pub fn read(&self) -> anyhow::Result<Vec<u8>> {
        match &self.path {
            Some(path) => std::fs::read(path)
                .with_context(|| format!("reading the response payload {}", path.display())),
            None => Ok(Vec::new()),
        }
    }
}

/// The status of a peer's run (`serve`'s and `exec`'s), in the global table: the signal's
/// (130, 143, 129) when one interrupted it; an error (2) when the peer itself had problems; 1 when one of its calls
/// returned other than the oracle predicts (the oracle is wrong, as in `run`); 3 when the run
/// did not go as the scenario scripts otherwise (a `client` step not seen, a `=>` line
/// contradicted, a connection refused, no client, or `failed`: exec's command past its
/// deadline); else 0.
pub fn status_of(
    report: &peer::Report,
    interrupted: Option<Signal>,
    failed: bool,
) -> anyhow::Result<Status> {
    if let Some(signal) = interrupted {
        return Ok(Status::Interrupted(signal));
    }
    if let Some(first) = report.problems.first() {
        bail!(
            "the peer had {} problem(s) of its own; the first: {first}",
            report.problems.len()
        );
    }
    let oracle_wrong = report.connections.iter().flat_map(|c| &c.steps).any(|s| {
        s.who == End::Server
            && s.as_scripted == Some(false)
            && matches!(&s.peer, PeerSaw::Called { outcome, .. } if s.predicted != *outcome)
    });
    Ok(if oracle_wrong {
        Status::OracleDisagrees
    } else if failed || !report.as_scripted() {
        Status::ExpectationContradicted
    } else {
        Status::Agreement
    })
}
