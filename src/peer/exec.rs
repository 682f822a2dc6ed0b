//! A real program across the emulated link, carried in real time ([`crate::net::relay`]), with the
//! peer playing a scenario's server side on the program's first connection: `rstlab exec` as a
//! library call, [`run`].
//!
//! The order matters: the link and its relay, then the peer's listener in the server's
//! namespace, then the command, and only then the peer, so that no socket of the peer exists
//! when the command is forked (a fork holds a copy of every descriptor until its exec, which
//! would keep a socket the peer closes alive). Every descriptor rstlab opens is close-on-exec.
//!
//! The command runs in the client's namespace, in a process group of its own, with standard
//! input empty and SIGINT at its default; its standard output and error are the caller's (or
//! its standard output goes to standard error, [`ExecOptions::stdout_to_stderr`]). One deadline
//! ([`ExecOptions::timeout`], from the command's start) bounds the run: a command still running
//! then is killed, with every process of its group, and so is one still running when
//! [`ExecOptions::interrupt`] is set. The namespaces are anonymous: they go with rstlab's
//! descriptors and the command's processes.
//!
//! The link needs CAP_NET_ADMIN: as root, or in a user namespace of one's own, entered before
//! the process starts a thread ([`crate::sys::net::enter_user_namespace`]).

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use super::{ConnectionReport, Peer, PeerError, PeerOptions, Report};
use crate::net::link::{Flags, Link, LinkError};
use crate::net::relay::{Relay, Trace};
use crate::net::segment_log::{WireLine, wire_table};
use crate::net::wire::Fate;
use crate::scenario::{End, Op, Script};
use crate::sys;

/// The peer's port on the link. The namespace is rstlab's own, so the port is always free, and
/// a fixed one lets a script name the peer before it runs.
pub const PEER_PORT: u16 = 8080;

/// What to run, and how.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// The scenario the peer plays on the command's first connection; checked by [`run`]
    /// before anything runs ([`super::check_playable_on_link`]).
    pub script: Script,
    /// The link's one-way delay, each way, before the scenario's `link delay` steps.
    pub delay: Duration,
    /// The deadline of the whole run, from the command's start; also the peer's timeout.
    pub timeout: Duration,
    /// The bytes `server write` steps send ([`PeerOptions::respond`]).
    pub respond: Vec<u8>,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The command's standard output goes to standard error (so that the caller's standard
    /// output holds a report alone).
    pub stdout_to_stderr: bool,
    /// Set from elsewhere (a signal handler): the run ends as at its deadline, and the report
    /// says it was interrupted.
    pub interrupt: Arc<AtomicBool>,
    /// Keep every packet the link carries, each with the peer's step at the time, for a
    /// capture ([`ExecReport::wire`]'s `packets`, [`crate::net::pcap`]).
    pub capture: bool,
    /// Read the kernel's reason for each RST of the connection ([`PeerOptions::reasons`]).
    pub reasons: bool,
}

impl ExecOptions {
    /// Options with no delay, a 10 s deadline, no payload, for `script` and `command`.
    pub fn new(script: Script, command: Vec<String>) -> ExecOptions {
        ExecOptions {
            script,
            delay: Duration::ZERO,
            timeout: Duration::from_secs(10),
            respond: Vec::new(),
            command,
            stdout_to_stderr: false,
            interrupt: Arc::new(AtomicBool::new(false)),
            capture: false,
            reasons: true,
        }
    }

    /// Where the peer listens, in the server's namespace.
    pub fn peer_addr() -> SocketAddrV4 {
        SocketAddrV4::new(Link::address(End::Server), PEER_PORT)
    }

    /// One line on what is about to run: where, the peer's address, the delay, the deadline.
    pub fn banner(&self) -> String {
        format!(
            "{} runs in the client's namespace ({}); the peer is {} (RSTLAB_PEER), {}, timeout {}",
            self.program(),
            Link::address(End::Client),
            ExecOptions::peer_addr(),
            if self.delay.is_zero() {
                "no delay".to_string()
            } else {
                format!("one-way delay {}", show(self.delay))
            },
            show(self.timeout)
        )
    }

    fn program(&self) -> &str {
        self.command.first().map_or("", String::as_str)
    }
}

/// Why a run could not take place, or could not end cleanly.
#[derive(Debug, Error)]
pub enum ExecError {
    /// The peer cannot play the scenario on the link, or could not start. Its text and
    /// source are the peer's error's.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The emulated link could not be set up (without CAP_NET_ADMIN, say).
    #[error("setting up the emulated link")]
    Link(#[source] LinkError),
    /// No command to run.
    #[error("no command to run")]
    NoCommand,
    /// A system call failed; the text says what rstlab was doing.
    #[error("{what}")]
    Io {
        /// What rstlab was doing.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExecError {
    let what = what.into();
    move |source| ExecError::Io { what, source }
}

/// How the command ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandEnd {
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// rstlab killed it: past the deadline, or interrupted.
    pub killed_by_rstlab: bool,
    /// In words.
    pub what: String,
    /// From its start to its end, in milliseconds.
    pub ran_ms: f64,
}

/// What a run did: the peer's report, the wire, how the command ended.
#[derive(Clone, Debug)]
pub struct ExecReport {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Where the peer listened.
    pub peer_addr: SocketAddr,
    /// The link's delay before the scenario's `link delay` steps.
    pub delay: Duration,
    /// The run's deadline.
    pub timeout: Duration,
    /// How the command ended.
    pub exit: CommandEnd,
    /// What the peer did and saw.
    pub peer: Report,
    /// Every segment that crossed the link, times counted from the command's start.
    pub wire: Trace,
    /// The command was still running at the deadline.
    pub timed_out: bool,
    /// [`ExecOptions::interrupt`] ended the run.
    pub interrupted: bool,
}

impl ExecReport {
    /// The peer saw what the scenario scripts and the command ended in time.
    pub fn as_scripted(&self) -> bool {
        self.peer.as_scripted() && !self.timed_out
    }

    /// One line: the peer's summary, the deadline, an interruption.
    pub fn summary(&self) -> String {
        let mut summary = self.peer.summary();
        if self.timed_out {
            summary += &format!("; the command did not exit within {}", show(self.timeout));
        }
        if self.interrupted {
            summary += " (interrupted)";
        }
        summary
    }
}

/// The JSON form of an [`ExecReport`].
#[derive(Serialize)]
struct Json<'a> {
    command: &'a [String],
    peer: SocketAddr,
    delay_ms: f64,
    timeout_ms: f64,
    exit: &'a CommandEnd,
    connections: &'a [ConnectionReport],
    refused: &'a [super::Refused],
    problems: &'a [String],
    wire: &'a Trace,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons_missing: Option<&'a str>,
    as_scripted: bool,
    summary: String,
    interrupted: bool,
}

impl Serialize for ExecReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Json {
            command: &self.command,
            peer: self.peer_addr,
            delay_ms: ms(self.delay),
            timeout_ms: ms(self.timeout),
            exit: &self.exit,
            connections: &self.peer.connections,
            refused: &self.peer.refused,
            problems: &self.peer.problems,
            wire: &self.wire,
            reasons_missing: self.peer.reasons_missing.as_deref(),
            as_scripted: self.as_scripted(),
            summary: self.summary(),
            interrupted: self.interrupted,
        }
        .serialize(serializer)
    }
}

impl fmt::Display for ExecReport {
    /// Each connection's table, the wire, how the command ended, the summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.peer.connections {
            write!(f, "{c}")?;
            if let Some(at) = accepted_at(&self.wire, c.number) {
                writeln!(
                    f,
                    "the peer's `at` counts from its accept, {:.2} ms after the command started (when the handshake's last ACK reached it)",
                    ms(at)
                )?;
            }
            if !self.delay.is_zero() {
                writeln!(
                    f,
                    "on the link (one-way delay {}), the oracle takes each of your program's calls in the table to come the moment the peer reached the step before it, and its forecast of your next calls to come once everything in flight has arrived; a call made in between meets the connection as it was before the peer's last segments reached your program: the wire below shows when each did",
                    show(self.delay)
                )?;
            }
            writeln!(f)?;
        }
        for r in &self.peer.refused {
            writeln!(f, "refused: connection from {}: {}", r.client, r.why)?;
        }
        for p in &self.peer.problems {
            writeln!(f, "problem: {p}")?;
        }
        if let Some(why) = &self.peer.reasons_missing {
            writeln!(f, "{}\n", super::report::reasons_missing_line(why))?;
        }
        f.write_str(&render_wire(&self.wire))?;
        let program = self.command.first().map_or("", String::as_str);
        writeln!(f, "\ncommand {program}: {}", self.exit.what)?;
        writeln!(f, "summary: {}", self.summary())
    }
}

/// The command while it may run: ended with every process of its group by [`Running::end`],
/// or on drop, so that no early return leaves it behind.
struct Running(Option<Child>);

impl Running {
    /// Whether the command has exited, without reaping it: its group stays its own until it
    /// is killed.
    fn has_exited(&self) -> std::io::Result<bool> {
        match &self.0 {
            Some(child) => sys::has_exited(child),
            None => Ok(true),
        }
    }

    /// Kills what is left of the command's process group, then reaps the command (killing
    /// before reaping: the group's id stays the command's until then).
    fn end(&mut self) -> std::io::Result<ExitStatus> {
        let Some(mut child) = self.0.take() else {
            return Err(std::io::Error::other("the command was ended already"));
        };
        let killed = sys::kill_process_group(&child);
        let status = child.wait()?;
        killed.map(|()| status)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.is_some() {
            let _ = self.end();
        }
    }
}

/// How the command ended.
enum Ended {
    /// By itself.
    Exited,
    /// The deadline passed: rstlab killed it.
    TimedOut,
    /// Interrupted: rstlab killed it.
    Interrupted,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `options.command` across the link against the peer playing `options.script`, and
/// reports once the command has ended (see the [module](self)).
pub fn run(options: ExecOptions) -> Result<ExecReport, ExecError> {
    run_with(options, |_| {})
}

/// [`run`], calling `before_command` once the link and the peer's listener are set up, right
/// before the command starts (`rstlab exec` prints [`ExecOptions::banner`] there, so that it
/// comes after any error of the set-up and before the command's output).
pub fn run_with(
    options: ExecOptions,
    before_command: impl FnOnce(&ExecOptions),
) -> Result<ExecReport, ExecError> {
    if options.command.is_empty() {
        return Err(ExecError::NoCommand);
    }
    // The one check of the scenario, before anything runs.
    super::playable::check_all(std::slice::from_ref(&options.script), Some(options.delay))?;
    let relay = Relay::start(options.delay).map_err(ExecError::Link)?;
    if options.capture {
        let control = relay.control();
        control.capture();
        control.note(|| "before the peer's first step".to_string());
    }
    let addr = ExecOptions::peer_addr();
    let listener = {
        let _inside = relay
            .enter(End::Server)
            .map_err(io_err("entering the server's namespace"))?;
        super::listen(SocketAddr::V4(addr))?
    };

    let program = options.program().to_string();
    let mut command = Command::new(&program);
    command
        .args(&options.command[1..])
        .env("RSTLAB_PEER", addr.to_string())
        .env("RSTLAB_PEER_HOST", addr.ip().to_string())
        .env("RSTLAB_PEER_PORT", addr.port().to_string())
        .stdin(Stdio::null())
        // Its own group, so that the end of the run ends every process it started.
        .process_group(0);
    if options.stdout_to_stderr {
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_err(io_err("duplicating standard error"))?;
        command.stdout(Stdio::from(stderr));
    }
    relay
        .run_in(End::Client, &mut command)
        .map_err(io_err("preparing the command for the client's namespace"))?;
    sys::default_sigint_in_child(&mut command);
    before_command(&options);
    let started = Instant::now();
    // The trace's clock started with the relay; the report counts from the command's start.
    let offset = relay.control().now();
    let deadline = started + options.timeout;
    let mut child = Running(Some(command.spawn().map_err(io_err(format!(
        "starting {program} in the client's namespace"
    )))?));

    let peer_options = PeerOptions {
        timeout: options.timeout,
        respond: options.respond.clone(),
        max_connections: Some(1),
        reasons: options.reasons,
    };
    // Checked above (again here, at no cost); `child` kills the command's group if this fails.
    let peer = Peer::builder()
        .script(options.script.clone())
        .options(peer_options)
        .on_link(listener, relay.control())
        .start()?;

    let interrupted = || options.interrupt.load(Ordering::SeqCst);
    let mut played = 0;
    let end = loop {
        if interrupted() {
            break Ended::Interrupted;
        }
        if child
            .has_exited()
            .map_err(io_err("waiting for the command"))?
        {
            break Ended::Exited;
        }
        if Instant::now() >= deadline {
            break Ended::TimedOut;
        }
        if peer.next_connection(Duration::from_millis(5)).is_some() {
            played += 1;
        }
    };
    // Whatever the end, no process of the command's group outlives the run.
    let status = child
        .end()
        .map_err(io_err("ending the command's processes"))?;
    let ran = started.elapsed();

    // The peer sees the end of the connection one delay after the command's; give it until the
    // deadline to finish the connection it is playing.
    if matches!(end, Ended::Exited) {
        while peer.connections() > played
            && !interrupted()
            && let Some(left) = deadline.checked_duration_since(Instant::now())
        {
            if peer
                .next_connection(left.min(Duration::from_millis(50)))
                .is_some()
            {
                played += 1;
            }
        }
    }
    let interrupted = interrupted();
    let report = if interrupted || peer.connections() > played {
        peer.stop()
    } else {
        peer.finish()
    }?;
    let wire = since(relay.stop(), offset);
    Ok(ExecReport {
        command: options.command.clone(),
        peer_addr: SocketAddr::V4(addr),
        delay: options.delay,
        timeout: options.timeout,
        exit: command_end(&end, status, ran, options.timeout),
        peer: report,
        wire,
        timed_out: matches!(end, Ended::TimedOut),
        interrupted,
    })
}

/// A duration as the language writes it (the language prints it so in a `sleep` step).
pub fn show(d: Duration) -> String {
    let step = Op::Sleep(d).to_string();
    step.trim_start_matches("sleep ").to_string()
}

fn command_end(end: &Ended, status: ExitStatus, ran: Duration, timeout: Duration) -> CommandEnd {
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("ended by signal {signal}"),
        _ => format!("ended ({status})"),
    };
    let what = match end {
        Ended::Exited => format!("{how} after {:.1} ms", ms(ran)),
        Ended::TimedOut => format!(
            "did not exit within {}: rstlab killed it and its process group",
            show(timeout)
        ),
        Ended::Interrupted => "interrupted: rstlab killed it and its process group".to_string(),
    };
    CommandEnd {
        code: status.code(),
        signal: status.signal(),
        killed_by_rstlab: !matches!(end, Ended::Exited),
        what,
        ran_ms: ms(ran),
    }
}

/// `trace` with its times counted from `offset` on the relay's clock (earlier ones as 0).
fn since(mut trace: Trace, offset: Duration) -> Trace {
    let shift = |d: &mut Duration| *d = d.saturating_sub(offset);
    for t in &mut trace.segments {
        shift(&mut t.segment.sent);
        match &mut t.segment.fate {
            Fate::Delivered(at) | Fate::Dropped(at) => shift(at),
            Fate::InFlight => {}
        }
    }
    for op in &mut trace.ops {
        shift(&mut op.at);
    }
    for p in &mut trace.packets {
        shift(&mut p.sent);
        match &mut p.fate {
            Fate::Delivered(at) | Fate::Dropped(at) => shift(at),
            Fate::InFlight => {}
        }
    }
    trace
}

/// When the peer could accept connection `number`: when the client's first segment after its
/// SYN (the handshake's last ACK) was delivered.
fn accepted_at(trace: &Trace, number: usize) -> Option<Duration> {
    trace
        .segments
        .iter()
        .filter(|t| t.connection == number && t.segment.from == End::Client)
        .find(|t| !t.segment.flags.has(Flags::SYN))
        .and_then(|t| match t.segment.fate {
            Fate::Delivered(at) => Some(at),
            _ => None,
        })
}

/// The wire trace as a table, with the `link` steps where they happened.
fn render_wire(trace: &Trace) -> String {
    let time = |d: Duration| format!("{:.2} ms", ms(d));
    let labels: Vec<String> = trace
        .segments
        .iter()
        .map(|t| t.connection.to_string())
        .collect();
    let mut lines: Vec<(Duration, WireLine<'_>)> = trace
        .segments
        .iter()
        .zip(&labels)
        .map(|(t, label)| (t.segment.sent, WireLine::Segment(label, &t.segment)))
        .collect();
    for op in &trace.ops {
        lines.push((op.at, WireLine::Op(op.at, &op.op)));
    }
    // Stable: at one time, segments before the step that came after them.
    lines.sort_by_key(|(at, _)| *at);
    let lines: Vec<WireLine<'_>> = lines.into_iter().map(|(_, line)| line).collect();
    let mut out =
        "the wire (times since the command started; seq and ack relative to each side's SYN):\n"
            .to_string();
    if lines.is_empty() {
        out += "  no TCP segment crossed\n";
    } else {
        out += &wire_table("conn", ["client", "peer"], &lines, &time);
    }
    if trace.unrecorded > 0 {
        out += &format!(
            "and {} more segments, carried but not recorded\n",
            trace.unrecorded
        );
    }
    for p in &trace.problems {
        out += &format!("link problem: {p}\n");
    }
    out
}
