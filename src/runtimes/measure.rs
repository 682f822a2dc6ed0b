//! One cell, measured now: the peer plays the situation's scenarios on loopback, the client
//! runs against it, and what the client printed is read; and the runtimes' versions.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::peer::{Peer, PeerError, PeerOptions, Report};

use super::{Api, Cell, Said, Situation, decisive, mask_ports};

/// A cell, with the peer's report of the connections it played.
#[derive(Debug)]
pub struct Measured {
    /// What the client printed, read.
    pub cell: Cell,
    /// What the peer did and saw.
    pub report: Report,
}

/// Why a cell could not be measured.
#[derive(Debug, Error)]
pub enum MeasureError {
    /// The client's runtime is not installed (its command could not start).
    #[error("{0} cannot be run here: {1}")]
    Missing(String, std::io::Error),
    /// The peer could not start or finish.
    #[error("the peer: {0}")]
    Peer(#[from] PeerError),
    /// The client ran longer than it may (a minute: Go and Java compile first).
    #[error("{0} did not end within {1:?}")]
    Timeout(String, Duration),
    /// Reading the client's output or waiting for it failed.
    #[error("running {0}: {1}")]
    Io(String, std::io::Error),
}

/// How long a client may run, compiling included.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `api`'s client in `situation` against a fresh peer on loopback, from the repository
/// `repo` (the clients' paths are relative to it), with `respond` as the server's payload.
pub fn measure(
    api: &Api,
    situation: &Situation,
    repo: &Path,
    respond: &[u8],
) -> Result<Measured, MeasureError> {
    let plan = api.plan(situation);
    let mut builder = Peer::builder().options(PeerOptions {
        timeout: Duration::from_secs(2),
        respond: respond.to_vec(),
        max_connections: Some(4),
        reasons: false,
    });
    for scenario in plan.scenarios {
        builder = builder.scenario(scenario);
    }
    let peer = builder.start()?;
    let (program, args) = api.command.split_first().expect("a command");
    let mut child = match Command::new(program)
        .args(args)
        .arg(plan.steps)
        .arg(peer.addr().to_string())
        .current_dir(repo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            let _ = peer.finish();
            return Err(MeasureError::Missing(api.id.to_string(), e));
        }
    };
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > CLIENT_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = peer.finish();
                return Err(MeasureError::Timeout(api.id.to_string(), CLIENT_TIMEOUT));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(MeasureError::Io(api.id.to_string(), e)),
        }
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let read = |pipe: Option<&mut dyn Read>, into: &mut String| {
        if let Some(pipe) = pipe {
            let _ = pipe.read_to_string(into);
        }
    };
    read(
        child.stdout.as_mut().map(|p| p as &mut dyn Read),
        &mut stdout,
    );
    read(
        child.stderr.as_mut().map(|p| p as &mut dyn Read),
        &mut stderr,
    );
    let report = peer.finish()?;
    let mut printed: Vec<String> = stdout.lines().map(mask_ports).collect();
    if !status.success() {
        printed.push(format!(
            "(the client exited with {status}: {})",
            mask_ports(stderr.lines().last().unwrap_or_default())
        ));
    }
    let line = decisive(&printed);
    Ok(Measured {
        cell: Cell {
            api: api.id.to_string(),
            situation: situation.id.to_string(),
            said: Said::of(&line),
            decisive: line,
            printed,
            connections: report.connections.len() + report.refused.len(),
        },
        report,
    })
}

/// The first line `api`'s version command prints (stdout, else stderr), run from `repo`;
/// `None` when it cannot run.
pub fn version(api: &Api, repo: &Path) -> Option<String> {
    let (program, args) = api.version.split_first()?;
    let out = Command::new(program)
        .args(args)
        .current_dir(repo)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    let mut line = String::from_utf8_lossy(&text)
        .lines()
        .next()?
        .trim()
        .to_string();
    // curl's first line goes on with every library it was built with: its own version is enough.
    if let (true, Some(at)) = (api.id == "curl", line.find(" (")) {
        line.truncate(at);
    }
    // Rust's client is built from this repository: its libraries' versions are the lock file's.
    if api.runtime == "Rust" {
        let lock = std::fs::read_to_string(repo.join("Cargo.lock")).ok()?;
        let locked = |name: &str| {
            lock.split("[[package]]")
                .find(|p| p.contains(&format!("name = \"{name}\"\n")))
                .and_then(|p| p.split("version = \"").nth(1))
                .and_then(|v| v.split('"').next())
                .map(str::to_string)
        };
        let library = match api.id {
            "rust-tokio" => locked("tokio").map(|v| format!(", tokio {v}")),
            "rust-hyper" => Some(format!(
                ", hyper {}, hyper-util {}",
                locked("hyper")?,
                locked("hyper-util")?
            )),
            _ => Some(String::new()),
        }?;
        return Some(format!("{line}{library}"));
    }
    Some(line)
}
