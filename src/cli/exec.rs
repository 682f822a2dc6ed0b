//! `rstlab exec [--delay D] SCENARIO -- COMMAND ARGS…`: a real program across the emulated link,
//! carried in real time (`rstlab::relay`), with the peer (`rstlab::peer`) playing the scenario's
//! server side on the program's first connection.
//!
//! The order matters: the link and its relay, then the peer's listener in the server's
//! namespace, then COMMAND, and only then the peer, so that no socket of the peer exists when
//! COMMAND is forked (a fork holds a copy of every descriptor until its exec, which would keep a
//! socket the peer closes alive). Every descriptor rstlab opens is close-on-exec.
//!
//! COMMAND runs in the client's namespace, in a process group of its own, with standard input
//! empty and SIGINT at its default. Its standard output and error pass through as it writes
//! them; with `--json` its standard output goes to standard error, so that standard output holds
//! the JSON alone. The report comes after COMMAND has ended. One deadline (`--timeout`, from
//! COMMAND's start) bounds the run: a command still running then is killed, with every process
//! of its group, and so is one still running after Ctrl-C. The namespaces are anonymous: they
//! go with rstlab's descriptors and the command's processes.

use std::io::Write;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use rstlab::link::Link;
use rstlab::peer::{self, ConnectionReport, Peer, PeerOptions, Refused};
use rstlab::relay::{Relay, Trace};
use rstlab::scenario::Actor;
use rstlab::sys;
use rstlab::wire::Fate;

use super::{Status, durations, exit_statuses, output};
use rstlab::table;

/// The peer's port on the link. The namespace is rstlab's own, so the port is always free, and
/// a fixed one lets a script name the peer before it runs.
pub const PEER_PORT: u16 = 8080;

#[derive(Debug, clap::Args)]
#[command(after_help = exit_statuses(&[0, 1, 2, 3, 130]))]
pub struct Args {
    /// The link's one-way delay, each way, from 0 to 100ms (`20ms`, `1.5ms`, `250us`).
    #[arg(long, value_parser = durations::delay, allow_hyphen_values = true, default_value = "0ms")]
    delay: Duration,
    /// The deadline of the whole run, from COMMAND's start: a command still running then is
    /// killed and reported (`10s`, `500ms`).
    #[arg(long, value_parser = durations::positive, allow_hyphen_values = true, default_value = "10s")]
    timeout: Duration,
    /// The bytes `server write` steps send, in order, from the file's start again when it runs
    /// out (an HTTP response, say); without it, filler bytes `x`.
    #[arg(long)]
    respond: Option<PathBuf>,
    /// Print the report as one JSON object (COMMAND's standard output goes to standard error).
    #[arg(long)]
    json: bool,
    /// A scenario file, `-` for standard input, or the steps themselves separated by `;`. The
    /// peer plays it on COMMAND's first connection: `server` steps are its calls, `client` steps
    /// what it waits to see arrive, `link` steps are applied to the link when their turn comes.
    #[arg(value_name = "SCENARIO")]
    scenario: String,
    /// The program to run in the client's namespace, and its arguments, after `--`. It finds
    /// the peer in RSTLAB_PEER (`192.0.2.2:8080`), RSTLAB_PEER_HOST and RSTLAB_PEER_PORT.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// The command while it may run: ended with every process of its group by [`Running::end`],
/// or on drop, so that no early return leaves it behind.
struct Running(Option<Child>);

impl Running {
    fn get(&self) -> &Child {
        self.0.as_ref().expect("the command has not been ended yet")
    }

    /// Kills what is left of the command's process group, then reaps the command (killing
    /// before reaping: the group's id stays the command's until then).
    fn end(&mut self) -> std::io::Result<ExitStatus> {
        let mut child = self.0.take().expect("the command is ended once");
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

/// How COMMAND ended.
enum End {
    /// By itself.
    Exited,
    /// The deadline passed: rstlab killed it.
    TimedOut,
    /// Ctrl-C (or SIGTERM, SIGHUP): rstlab killed it.
    Interrupted,
}

#[derive(Serialize)]
struct CommandEnd {
    /// The exit code, when it exited.
    code: Option<i32>,
    /// The signal that ended it, when one did.
    signal: Option<i32>,
    /// rstlab killed it: past the deadline, or interrupted.
    killed_by_rstlab: bool,
    /// In words.
    what: String,
    /// From its start to its end, in milliseconds.
    ran_ms: f64,
}

#[derive(Serialize)]
struct Json<'a> {
    command: &'a [String],
    peer: SocketAddr,
    delay_ms: f64,
    timeout_ms: f64,
    exit: CommandEnd,
    connections: &'a [ConnectionReport],
    refused: &'a [Refused],
    problems: &'a [String],
    wire: &'a Trace,
    as_scripted: bool,
    summary: String,
    interrupted: bool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The peer's listener, in the calling thread's namespace, with the runner's buffer sizes (as
/// `rstlab serve`'s), close-on-exec.
fn listen(addr: SocketAddrV4) -> anyhow::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM.cloexec(), Some(Protocol::TCP))
        .context("creating the peer's listener")?;
    socket
        .set_recv_buffer_size(rstlab::run::SOCKET_BUFFER)
        .and_then(|()| socket.set_send_buffer_size(rstlab::run::SOCKET_BUFFER))
        .and_then(|()| socket.bind(&SocketAddr::V4(addr).into()))
        .and_then(|()| socket.listen(16))
        .with_context(|| format!("listening on {addr} in the server's namespace"))?;
    Ok(socket.into())
}

pub fn main(args: Args) -> anyhow::Result<Status> {
    let (origin, text) = super::serve::load(&args.scenario)?;
    let scenario = peer::parse_on_link(&text, args.delay)
        .with_context(|| format!("{origin}: cannot play it on the link"))?;
    let respond = match &args.respond {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("reading the response payload {}", path.display()))?,
        None => Vec::new(),
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    // The handlers only set the flag; the loop below looks at it every few milliseconds.
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("installing the Ctrl-C handler")?;
    }

    // Before the relay starts its threads.
    super::enter_link_namespace();
    let relay = Relay::start(args.delay).context("setting up the emulated link")?;
    let addr = SocketAddrV4::new(Link::address(Actor::Server), PEER_PORT);
    let listener = {
        let _inside = relay
            .enter(Actor::Server)
            .context("entering the server's namespace")?;
        listen(addr)?
    };

    let program = &args.command[0];
    let mut command = Command::new(program);
    command
        .args(&args.command[1..])
        .env("RSTLAB_PEER", addr.to_string())
        .env("RSTLAB_PEER_HOST", addr.ip().to_string())
        .env("RSTLAB_PEER_PORT", addr.port().to_string())
        .stdin(Stdio::null())
        // Its own group, so that the end of the run ends every process it started.
        .process_group(0);
    if args.json {
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating standard error")?;
        command.stdout(Stdio::from(stderr));
    }
    relay
        .run_in(Actor::Client, &mut command)
        .context("preparing the command for the client's namespace")?;
    sys::default_sigint_in_child(&mut command);
    eprintln!(
        "rstlab exec: {program} runs in the client's namespace ({}); the peer is {addr} (RSTLAB_PEER), {}, timeout {}",
        Link::address(Actor::Client),
        if args.delay.is_zero() {
            "no delay".to_string()
        } else {
            format!("one-way delay {}", show(args.delay))
        },
        show(args.timeout)
    );
    let started = Instant::now();
    // The trace's clock started with the relay; the report counts from the command's start.
    let offset = relay.control().now();
    let deadline = started + args.timeout;
    let mut child =
        Running(Some(command.spawn().with_context(|| {
            format!("starting {program} in the client's namespace")
        })?));

    let options = PeerOptions {
        listen: SocketAddr::V4(addr),
        timeout: args.timeout,
        respond,
        max_connections: Some(1),
        link: Some(relay.control()),
    };
    let peer = match Peer::serve_scripts_on(listener, vec![scenario], options) {
        Ok(peer) => peer,
        // `child` kills the command's group as it goes.
        Err(e) => return Err(e).context("starting the peer"),
    };

    let mut played: Vec<ConnectionReport> = Vec::new();
    let end = loop {
        if interrupted.load(Ordering::SeqCst) {
            break End::Interrupted;
        }
        // Without reaping: the group stays the command's until it is killed below.
        if sys::has_exited(child.get()).context("waiting for the command")? {
            break End::Exited;
        }
        if Instant::now() >= deadline {
            break End::TimedOut;
        }
        if let Some(c) = peer.next_connection(Duration::from_millis(5)) {
            played.push(c);
        }
    };
    // Whatever the end, no process of the command's group outlives the run.
    let status = child.end().context("ending the command's processes")?;
    let ran = started.elapsed();

    // The peer sees the end of the connection one delay after the command's; give it until the
    // deadline to finish the connection it is playing.
    if matches!(end, End::Exited) {
        while peer.connections() > played.len()
            && !interrupted.load(Ordering::SeqCst)
            && let Some(left) = deadline.checked_duration_since(Instant::now())
        {
            if let Some(c) = peer.next_connection(left.min(Duration::from_millis(50))) {
                played.push(c);
            }
        }
    }
    let interrupted = interrupted.load(Ordering::SeqCst);
    let report = if interrupted || peer.connections() > played.len() {
        peer.stop()
    } else {
        peer.finish()
    }
    .context("ending the peer")?;
    let wire = since(relay.stop(), offset);

    let exit = command_end(&end, status, ran, args.timeout);
    let timed_out = matches!(end, End::TimedOut);
    let mut summary = report.summary();
    if timed_out {
        summary += &format!("; the command did not exit within {}", show(args.timeout));
    }
    if interrupted {
        summary += " (interrupted)";
    }
    let as_scripted = report.as_scripted() && !timed_out;
    let status = super::serve::status_of(&report, interrupted, timed_out);
    let mut out = output::stdout();
    if args.json {
        let json = Json {
            command: &args.command,
            peer: SocketAddr::V4(addr),
            delay_ms: ms(args.delay),
            timeout_ms: ms(args.timeout),
            exit,
            connections: &report.connections,
            refused: &report.refused,
            problems: &report.problems,
            wire: &wire,
            as_scripted,
            summary,
            interrupted,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)
    } else {
        // A blank line first: the command's output may not end with a newline.
        let mut text = "\n".to_string();
        for c in &report.connections {
            text += &format!("{c}");
            if let Some(at) = accepted_at(&wire, c.number) {
                text += &format!(
                    "the peer's `at` counts from its accept, {:.2} ms after the command started (when the handshake's last ACK reached it)\n",
                    ms(at)
                );
            }
            if !args.delay.is_zero() {
                text += &format!(
                    "on the link (one-way delay {}), the oracle takes each of your program's calls in the table to come the moment the peer reached the step before it, and its forecast of your next calls to come once everything in flight has arrived; a call made in between meets the connection as it was before the peer's last segments reached your program: the wire below shows when each did\n",
                    show(args.delay)
                );
            }
            text += "\n";
        }
        for r in &report.refused {
            text += &format!("refused: connection from {}: {}\n", r.client, r.why);
        }
        for p in &report.problems {
            text += &format!("problem: {p}\n");
        }
        text += &render_wire(&wire);
        text += &format!("\ncommand {program}: {}\n", exit.what);
        text += &format!("summary: {summary}\n");
        out.write_all(text.as_bytes())
    }
    .and_then(|()| out.flush())
    .context("writing to standard output")?;
    status
}

/// A duration as the language writes it (the language prints it so in a `sleep` step).
fn show(d: Duration) -> String {
    let step = rstlab::scenario::Op::Sleep(d).to_string();
    step.trim_start_matches("sleep ").to_string()
}

fn command_end(end: &End, status: ExitStatus, ran: Duration, timeout: Duration) -> CommandEnd {
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("ended by signal {signal}"),
        _ => format!("ended ({status})"),
    };
    let what = match end {
        End::Exited => format!("{how} after {:.1} ms", ms(ran)),
        End::TimedOut => format!(
            "did not exit within {}: rstlab killed it and its process group",
            show(timeout)
        ),
        End::Interrupted => "interrupted: rstlab killed it and its process group".to_string(),
    };
    CommandEnd {
        code: status.code(),
        signal: status.signal(),
        killed_by_rstlab: !matches!(end, End::Exited),
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
    trace
}

/// When the peer could accept connection `number`: when the client's first segment after its
/// SYN (the handshake's last ACK) was delivered.
fn accepted_at(trace: &Trace, number: usize) -> Option<Duration> {
    trace
        .segments
        .iter()
        .filter(|t| t.connection == number && t.segment.from == Actor::Client)
        .find(|t| !t.segment.flags.has(rstlab::link::Flags::SYN))
        .and_then(|t| match t.segment.fate {
            Fate::Delivered(at) => Some(at),
            _ => None,
        })
}

/// The wire trace as a table, with the `link` steps where they happened.
fn render_wire(trace: &Trace) -> String {
    let time = |d: Duration| format!("{:.2} ms", ms(d));
    let mut rows: Vec<(Duration, Vec<String>)> = trace
        .segments
        .iter()
        .map(|t| {
            let s = &t.segment;
            let fate = match s.fate {
                Fate::Delivered(at) => format!("arrived {}", time(at)),
                Fate::Dropped(at) => format!("dropped {}", time(at)),
                Fate::InFlight => "in flight (or held) when the run ended".to_string(),
            };
            let direction = match s.from {
                Actor::Client => "client -> peer",
                _ => "peer -> client",
            };
            (
                s.sent,
                vec![
                    t.connection.to_string(),
                    time(s.sent),
                    direction.to_string(),
                    s.flags.to_string(),
                    s.seq.to_string(),
                    s.ack.to_string(),
                    s.len.to_string(),
                    fate,
                ],
            )
        })
        .collect();
    for op in &trace.ops {
        let mut row = vec![String::new(); 8];
        row[1] = time(op.at);
        row[2] = op.op.clone();
        rows.push((op.at, row));
    }
    // Stable: at one time, segments before the step that came after them.
    rows.sort_by_key(|(at, _)| *at);
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, row)| row).collect();
    let mut out =
        "the wire (times since the command started; seq and ack relative to each side's SYN):\n"
            .to_string();
    if rows.is_empty() {
        out += "  no TCP segment crossed\n";
    } else {
        out += &table::render(
            &[
                "conn",
                "sent",
                "direction",
                "flags",
                "seq",
                "ack",
                "len",
                "fate",
            ],
            &rows,
        );
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
