//! The SIGPIPE experiment: what a write that fails with EPIPE does to a process, depending on
//! the API that writes (`write(2)` or std's `TcpStream::write`, which sends with `MSG_NOSIGNAL`)
//! and on the disposition of `SIGPIPE` (Rust's runtime ignores it before `main`; C programs
//! start with the default, which terminates the process).
//!
//! A probe that may be killed cannot run in the process that reports on it, so each [`Probe`]
//! runs in a child process: the `rstlab` binary's hidden `sigpipe-probe` subcommand calls
//! [`run_probe`], which prints one line per event; the parent ([`run_in_child`]) collects the
//! lines and how the child ended (an exit code, or the signal that killed it).
//!
//! ```no_run
//! use rstlab::sigpipe::{run_in_child, Api, Disposition, Ending, Probe};
//! let probe = Probe { api: Api::Plain, disposition: Disposition::Default, peer: Ending::Close };
//! let report = run_in_child(std::path::Path::new("target/release/rstlab"), &probe)?;
//! assert_eq!(report.signal, Some(libc::SIGPIPE));
//! # Ok::<(), rstlab::sigpipe::ProbeError>(())
//! ```

use std::fmt;
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use socket2::SockRef;
use thiserror::Error;

use crate::outcome::Outcome;
use crate::sys::{self, SigpipeDisposition};
use crate::tcp::TcpState;

/// Which call writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `write(2)` on the socket's fd: no `MSG_NOSIGNAL`.
    Plain,
    /// `std::net::TcpStream::write`: `send(2)` with `MSG_NOSIGNAL`.
    Std,
}

/// The disposition of `SIGPIPE` while the probe writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// As Rust's runtime left it before `main`: ignored.
    AsRustLeavesIt,
    /// Set back to `SIG_DFL`, as a C program starts: the signal terminates the process.
    Default,
}

/// How the peer ends the connection before the probe writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `close()` with nothing unread: FIN; the probe's first write is answered with RST and
    /// its second fails with EPIPE (the seed article).
    Close,
    /// SO_LINGER 0 then `close()`: RST; the probe's first write fails with ECONNRESET and its
    /// second with EPIPE.
    Abort,
}

/// One experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The call that writes.
    pub api: Api,
    /// The disposition of SIGPIPE.
    pub disposition: Disposition,
    /// What the peer does first.
    pub peer: Ending,
}

impl Probe {
    /// The experiments the rules book reports, in its order.
    pub const BOOK: [Probe; 4] = [
        Probe {
            api: Api::Plain,
            disposition: Disposition::Default,
            peer: Ending::Close,
        },
        Probe {
            api: Api::Plain,
            disposition: Disposition::Default,
            peer: Ending::Abort,
        },
        Probe {
            api: Api::Plain,
            disposition: Disposition::AsRustLeavesIt,
            peer: Ending::Close,
        },
        Probe {
            api: Api::Std,
            disposition: Disposition::Default,
            peer: Ending::Close,
        },
    ];

    /// The probe's command-line arguments after the subcommand's name.
    pub fn args(&self) -> [&'static str; 6] {
        [
            "--api",
            match self.api {
                Api::Plain => "plain",
                Api::Std => "std",
            },
            "--sigpipe",
            match self.disposition {
                Disposition::AsRustLeavesIt => "rust",
                Disposition::Default => "default",
            },
            "--peer",
            match self.peer {
                Ending::Close => "close",
                Ending::Abort => "abort",
            },
        ]
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api = match self.api {
            Api::Plain => "write(2)",
            Api::Std => "std TcpStream::write (send, MSG_NOSIGNAL)",
        };
        let disposition = match self.disposition {
            Disposition::AsRustLeavesIt => "SIGPIPE as Rust leaves it (SIG_IGN)",
            Disposition::Default => "SIGPIPE reset to SIG_DFL",
        };
        let peer = match self.peer {
            Ending::Close => "peer closed (FIN)",
            Ending::Abort => "peer aborted (RST)",
        };
        write!(f, "{api}, {disposition}, {peer}")
    }
}

/// Why an experiment could not be carried out (as opposed to a result it found).
#[derive(Debug, Error)]
pub enum ProbeError {
    /// A socket or signal call failed.
    #[error("{what}: {source}")]
    Io {
        /// What the probe was doing.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The connection never reached the state the probe waits for.
    #[error("the client socket never reached {0} within 2 s")]
    NotReached(TcpState),
    /// The child neither exited nor was killed by a signal.
    #[error("the child process ended without an exit code or a signal")]
    NoStatus,
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> ProbeError {
    move |source| ProbeError::Io { what, source }
}

fn disposition_name(d: SigpipeDisposition) -> &'static str {
    match d {
        SigpipeDisposition::Default => "SIG_DFL",
        SigpipeDisposition::Ignored => "SIG_IGN",
        SigpipeDisposition::Handled => "a handler",
    }
}

/// Waits until `socket` is in `state`.
fn wait_for(socket: &TcpStream, state: TcpState) -> Result<(), ProbeError> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let info = sys::tcp_info(socket).map_err(io_err("reading TCP_INFO"))?;
        if info.state == state {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ProbeError::NotReached(state));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `probe` in this process, printing one line per event to `out`: the disposition of
/// SIGPIPE found at start and used, then `write N: <outcome>` for each write, each line flushed
/// before the next write. Meant for a child process: with [`Disposition::Default`] and
/// [`Api::Plain`] the second write terminates the process.
pub fn run_probe(probe: &Probe, out: &mut impl Write) -> Result<(), ProbeError> {
    let mut say = |line: String| -> Result<(), ProbeError> {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(io_err("writing the report"))
    };
    let at_start = sys::sigpipe_disposition().map_err(io_err("reading SIGPIPE's disposition"))?;
    say(format!("SIGPIPE at start: {}", disposition_name(at_start)))?;
    if probe.disposition == Disposition::Default {
        sys::restore_default_sigpipe().map_err(io_err("resetting SIGPIPE"))?;
    }
    let now = sys::sigpipe_disposition().map_err(io_err("reading SIGPIPE's disposition"))?;
    say(format!("SIGPIPE while writing: {}", disposition_name(now)))?;

    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_err("listening"))?;
    let address = listener.local_addr().map_err(io_err("listener address"))?;
    let client = TcpStream::connect(address).map_err(io_err("connecting"))?;
    let (server, _) = listener.accept().map_err(io_err("accepting"))?;
    match probe.peer {
        Ending::Close => {
            drop(server);
            wait_for(&client, TcpState::CloseWait)?;
            say("peer: close (FIN)".to_string())?;
        }
        Ending::Abort => {
            SockRef::from(&server)
                .set_linger(Some(Duration::ZERO))
                .map_err(io_err("setting SO_LINGER"))?;
            drop(server);
            wait_for(&client, TcpState::Close)?;
            say("peer: abort (RST)".to_string())?;
        }
    }
    // Two writes: the first meets the peer's end, the second whatever that left.
    for i in 1..=2 {
        let result = match probe.api {
            Api::Plain => sys::plain_write(&client, b"x"),
            Api::Std => (&client).write(b"x"),
        };
        say(format!("write {i}: {}", Outcome::of_write(result)))?;
        if probe.peer == Ending::Close && i == 1 {
            // The closed peer answers this write with RST; let it arrive.
            wait_for(&client, TcpState::Close)?;
        }
    }
    say("exit: normally".to_string())
}

/// What a child process running one [`Probe`] reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    /// The experiment.
    pub probe: Probe,
    /// The lines it printed before it ended.
    pub lines: Vec<String>,
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

impl ProbeReport {
    /// The write outcomes the child printed, in order (`write 1: ok(1)` gives `ok(1)`).
    pub fn writes(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix("write ")?.split_once(": ").map(|(_, o)| o))
            .collect()
    }

    /// How the child ended, in words: `exit 0`, `killed by signal 13 (SIGPIPE)`.
    pub fn ending(&self) -> String {
        match (self.code, self.signal) {
            (_, Some(libc::SIGPIPE)) => format!("killed by signal {} (SIGPIPE)", libc::SIGPIPE),
            (_, Some(s)) => format!("killed by signal {s}"),
            (Some(c), None) => format!("exit {c}"),
            (None, None) => "unknown".to_string(),
        }
    }
}

/// Runs `probe` in a child process: `exe sigpipe-probe <probe.args()>`, where `exe` is the
/// `rstlab` binary.
pub fn run_in_child(exe: &Path, probe: &Probe) -> Result<ProbeReport, ProbeError> {
    let output = Command::new(exe)
        .arg("sigpipe-probe")
        .args(probe.args())
        .output()
        .map_err(io_err("starting the child process"))?;
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let (code, signal) = (output.status.code(), output.status.signal());
    if code.is_none() && signal.is_none() {
        return Err(ProbeError::NoStatus);
    }
    Ok(ProbeReport {
        probe: *probe,
        lines,
        code,
        signal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_ignores_sigpipe_and_std_writes_survive_epipe_in_process() {
        // The test harness runs under Rust's runtime: SIGPIPE is ignored, so even the plain
        // write(2) only returns EPIPE here.
        for api in [Api::Std, Api::Plain] {
            let probe = Probe {
                api,
                disposition: Disposition::AsRustLeavesIt,
                peer: Ending::Close,
            };
            let mut out = Vec::new();
            run_probe(&probe, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("SIGPIPE at start: SIG_IGN"), "{text}");
            assert!(text.contains("write 1: ok(1)\nwrite 2: EPIPE"), "{text}");
        }
    }

    #[test]
    fn a_report_lists_its_writes_and_names_sigpipe() {
        let report = ProbeReport {
            probe: Probe::BOOK[0],
            lines: vec!["SIGPIPE at start: SIG_IGN".into(), "write 1: ok(1)".into()],
            code: None,
            signal: Some(libc::SIGPIPE),
        };
        assert_eq!(report.writes(), ["ok(1)"]);
        assert_eq!(report.ending(), "killed by signal 13 (SIGPIPE)");
    }
}
