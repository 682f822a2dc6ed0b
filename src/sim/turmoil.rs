//! `turmoil` 0.7 (the `turmoil` crate), driven through the scenario language.
//!
//! Each scenario gets a fresh `turmoil::Sim` with two hosts, `client` and `server`, whose
//! software is a loop that performs the step it is sent on its `turmoil::net::TcpStream` and
//! sends the answer back. rstlab steps the simulation until the answer comes, then lets the
//! simulated network settle: every message has a fixed latency of one tick (1 ms of simulated
//! time), and [`SETTLE_TICKS`] ticks deliver every segment a step caused and the answers to
//! them. Nothing sleeps in real time.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc as std_mpsc;
use std::task::Poll;
use std::time::Duration;

use ::turmoil::net::{TcpListener, TcpStream};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;

use super::{Observed, SimError, Simulator, catch};
use crate::outcome::Outcome;
use crate::scenario::{End, How, Op, Step};

/// The version of `turmoil` in Cargo.toml.
pub const VERSION: &str = "0.7.2";

/// One tick of simulated time, also every message's latency.
pub const TICK: Duration = Duration::from_millis(1);

/// Ticks run after each step so that the network settles: a segment crosses in one tick and
/// the answer to it (an RST) in another; the rest is margin.
pub const SETTLE_TICKS: u32 = 10;

/// The most ticks a step may take to answer: the longest `sleep` the language allows (5 s)
/// and a margin.
const MAX_STEP_TICKS: u32 = 6_000;

/// The port the server listens on.
const PORT: u16 = 4000;

/// `turmoil` 0.7.
#[derive(Debug, Default)]
pub struct Turmoil;

impl Turmoil {
    /// The simulator.
    pub fn new() -> Turmoil {
        Turmoil
    }
}

/// What a host's software answers: its stream is ready, or a step's answer.
enum Reply {
    Ready,
    Done(Observed),
}

/// The software of one host: set up the connection, then perform each op sent.
async fn software(
    actor: End,
    mut ops: mpsc::UnboundedReceiver<Op>,
    replies: std_mpsc::Sender<Reply>,
) -> ::turmoil::Result {
    let stream = match actor {
        End::Server => {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            let (stream, _) = listener.accept().await?;
            stream
        }
        _ => TcpStream::connect(("server", PORT)).await?,
    };
    let _ = replies.send(Reply::Ready);
    let mut stream = Some(stream);
    while let Some(op) = ops.recv().await {
        let answer = perform(&mut stream, &op).await;
        let _ = replies.send(Reply::Done(answer));
    }
    Ok(())
}

/// Performs one op on the stream (`None` once closed: only `sleep` comes then).
async fn perform(stream: &mut Option<TcpStream>, op: &Op) -> Observed {
    if let Op::Sleep(d) = op {
        tokio::time::sleep(*d).await;
        return Observed::plain(Outcome::Ok);
    }
    let Some(s) = stream.as_mut() else {
        return Observed::plain(Outcome::NoErrno("the stream is already closed".to_string()));
    };
    match op {
        Op::Write(n) => Observed::of_io(s.try_write(&vec![0u8; *n])),
        // turmoil's TcpStream has no try_read: its AsyncRead is polled once, and Pending (no
        // segment has arrived) is WouldBlock, as tokio's try_read answers.
        Op::Read(n) => {
            let mut buf = vec![0u8; *n];
            let result = poll_fn(|cx| {
                let mut rb = ReadBuf::new(&mut buf);
                match Pin::new(&mut *s).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Ready(Err(io::ErrorKind::WouldBlock.into())),
                    Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                }
            })
            .await;
            Observed::of_io(result)
        }
        Op::Shutdown(How::Write) => Observed::of_unit(s.shutdown().await),
        Op::Close => {
            drop(stream.take());
            Observed::plain(Outcome::Ok)
        }
        other => Observed::plain(Outcome::NoErrno(format!(
            "`{other}` is not modelled in turmoil"
        ))),
    }
}

impl Simulator for Turmoil {
    fn name(&self) -> &'static str {
        "turmoil"
    }

    fn version(&self) -> &'static str {
        VERSION
    }

    fn mapping(&self) -> &'static str {
        "A fresh turmoil::Sim per scenario, hosts `client` and `server`, each message's latency one \
         tick (1 ms); after each step the simulation runs 10 ticks so every segment and its answer \
         arrive. write N: TcpStream::try_write of N bytes; read N: its AsyncRead polled once (no \
         try_read in turmoil), Pending read as EAGAIN; shutdown write: AsyncWriteExt::shutdown; \
         close: the stream dropped; sleep D: tokio::time::sleep(D) in simulated time. An \
         io::Error is read as the errno std gives that io::ErrorKind on Linux."
    }

    fn unmodelled(&self, step: &Step) -> Option<&'static str> {
        match step.op {
            Op::Write(_) | Op::Read(_) | Op::Close | Op::Sleep(_) | Op::Shutdown(How::Write) => {
                None
            }
            Op::Abort => Some(
                "turmoil's TcpStream has no SO_LINGER (no set_linger; tokio-rs/turmoil issue 159, \
                 open), so no close that resets: an abort has no meaning in the simulator",
            ),
            Op::Shutdown(_) => Some(
                "turmoil's TcpStream shuts only its write side (AsyncWriteExt::shutdown), as tokio's \
                 does: shutdown(SHUT_RD) has no call in the simulator",
            ),
            Op::Poll => Some(
                "turmoil's TcpStream has no readiness for reading (no poll_read_ready, readable or \
                 ready; writable only): poll(2) has no counterpart in the simulator",
            ),
            Op::Error => Some(
                "turmoil's TcpStream has no take_error (SO_ERROR): a pending error cannot be asked \
                 for in the simulator",
            ),
            Op::Set(_) => Some(
                "turmoil's TcpStream has no TCP_USER_TIMEOUT and no keepalive (no setsockopt): a timer option \
                 has no call in the simulator",
            ),
            Op::Reboot => Some(
                "a reboot forgets one host's socket without a word on the wire; the simulator has \
                 no call that drops one socket silently",
            ),
            Op::Link(_) => Some("link steps are out of scope"),
        }
    }

    fn run(&mut self, steps: &[Step]) -> Result<Vec<Observed>, SimError> {
        catch(|| run(steps))
    }
}

fn run(steps: &[Step]) -> Result<Vec<Observed>, SimError> {
    let mut sim = ::turmoil::Builder::new()
        // The scenario's own sleeps (at most 64 × 5 s) and the settling fit in an hour.
        .simulation_duration(Duration::from_secs(3600))
        .tick_duration(TICK)
        .min_message_latency(TICK)
        .max_message_latency(TICK)
        .build();
    let (replies_tx, replies) = std_mpsc::channel();
    let (client_ops, client_rx) = mpsc::unbounded_channel();
    let (server_ops, server_rx) = mpsc::unbounded_channel();
    // A host's software is a factory (turmoil calls it again when a host restarts, which
    // never happens here): the receiver is handed over once.
    let server_rx = Rc::new(RefCell::new(Some(server_rx)));
    let server_replies = replies_tx.clone();
    sim.host("server", move || {
        let ops = server_rx.borrow_mut().take();
        let replies = server_replies.clone();
        async move {
            match ops {
                Some(ops) => software(End::Server, ops, replies).await,
                None => Ok(()),
            }
        }
    });
    sim.client("client", software(End::Client, client_rx, replies_tx));

    let mut ready = 0;
    let mut ticks = 0;
    while ready < 2 {
        step(&mut sim)?;
        ticks += 1;
        while let Ok(reply) = replies.try_recv() {
            if matches!(reply, Reply::Ready) {
                ready += 1;
            }
        }
        if ticks > MAX_STEP_TICKS {
            return Err(SimError::Failed(
                "the connection was not established".to_string(),
            ));
        }
    }
    settle(&mut sim)?;

    let mut answers = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        let ops = match s.end() {
            Some(End::Client) => &client_ops,
            Some(End::Server) => &server_ops,
            None => return Err(SimError::Failed("link steps are out of scope".into())),
        };
        ops.send(s.op.clone())
            .map_err(|_| SimError::Failed(format!("the {} host has stopped", s.who)))?;
        let mut ticks = 0;
        let answer = loop {
            step(&mut sim)?;
            ticks += 1;
            if let Ok(Reply::Done(answer)) = replies.try_recv() {
                break answer;
            }
            if ticks > MAX_STEP_TICKS {
                return Err(SimError::Failed(format!(
                    "step {} `{s}` never answered",
                    i + 1
                )));
            }
        };
        answers.push(answer);
        settle(&mut sim)?;
    }
    // The hosts' loops end when their op channels close; the Sim goes with them.
    drop(client_ops);
    drop(server_ops);
    Ok(answers)
}

fn step(sim: &mut ::turmoil::Sim<'_>) -> Result<(), SimError> {
    sim.step()
        .map(|_| ())
        .map_err(|e| SimError::Failed(format!("turmoil: {e}")))
}

fn settle(sim: &mut ::turmoil::Sim<'_>) -> Result<(), SimError> {
    for _ in 0..SETTLE_TICKS {
        step(sim)?;
    }
    Ok(())
}
