//! `turmoil-net` 0.1 (the `turmoil-net` crate), driven through the scenario language.
//!
//! turmoil-net is a simulated socket stack behind a shim that mirrors `tokio::net`. Its fabric
//! is clock-free and driven by hand: each scenario gets a fresh `turmoil_net::Net` with two
//! hosts, `client` and `server`; each step calls the shim's `TcpStream` on its host, then rstlab
//! pumps the fabric (every host's outgoing packets delivered, until no host has any left), so
//! that every segment a step caused, and the answers to them, have arrived before the next step.
//! Everything runs on this thread, synchronously; nothing sleeps.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::AsyncWriteExt;
use turmoil_net::shim::tokio::net::{TcpListener, TcpStream};
use turmoil_net::{EnterGuard, HostId, Net};

use super::{Observed, SimError, Simulator, catch};
use crate::outcome::Outcome;
use crate::scenario::{End, How, Op, Step};

/// The version of `turmoil-net` in Cargo.toml.
pub const VERSION: &str = "0.1.0";

/// The port the server listens on.
const PORT: u16 = 4000;

/// The most fabric passes before the network counts as never settling.
const MAX_PASSES: usize = 1_000;

/// `turmoil-net` 0.1.
#[derive(Debug, Default)]
pub struct TurmoilNet;

impl TurmoilNet {
    /// The simulator.
    pub fn new() -> TurmoilNet {
        TurmoilNet
    }
}

impl Simulator for TurmoilNet {
    fn name(&self) -> &'static str {
        "turmoil-net"
    }

    fn version(&self) -> &'static str {
        VERSION
    }

    fn mapping(&self) -> &'static str {
        "A fresh turmoil_net::Net per scenario, hosts `client` and `server`, its fabric pumped by \
         hand after each step until no host has a packet to send (every segment and its answer \
         delivered, no latency). write N: shim TcpStream::try_write of N bytes; read N: \
         TcpStream::try_read; shutdown write: AsyncWriteExt::shutdown; close: the stream dropped; \
         sleep D: nothing to advance (the stack is clock-free and the connection quiescent). An \
         io::Error is read as the errno std gives that io::ErrorKind on Linux."
    }

    fn unmodelled(&self, step: &Step) -> Option<&'static str> {
        match step.op {
            Op::Write(_) | Op::Read(_) | Op::Close | Op::Sleep(_) | Op::Shutdown(How::Write) => {
                None
            }
            Op::Abort => Some(
                "turmoil-net's kernel has SO_LINGER, but its tokio shim's TcpStream has no set_linger \
                 (tokio's has) and no other public call reaches it: an abort has no meaning through \
                 the simulator's API",
            ),
            Op::Shutdown(_) => Some(
                "the shim's TcpStream shuts only its write side (AsyncWriteExt::shutdown), as tokio's \
                 does: shutdown(SHUT_RD) has no call in the simulator",
            ),
            Op::Poll => Some(
                "the shim's TcpStream has no readiness calls (no ready, readable or writable): \
                 poll(2) has no counterpart in the simulator",
            ),
            Op::Error => Some(
                "the shim's TcpStream has no take_error (SO_ERROR): a pending error cannot be asked \
                 for in the simulator",
            ),
            Op::Set(_) => Some(
                "the shim's TcpStream has no TCP_USER_TIMEOUT and no keepalive (no setsockopt): a timer option \
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
        catch(|| {
            let mut net = Net::new();
            let server = net.add_host("server");
            let client = net.add_host("client");
            let server_ip = net.lookup("server");
            let guard = net.enter();
            // Every socket is dropped inside `drive`, on its own host, before the guard goes.
            let result = drive(&guard, [client, server], server_ip, steps);
            drop(guard);
            result
        })
    }
}

/// A value that belongs to one host: dropped with that host current, since the shim's sockets
/// close themselves on whichever host is current.
struct Hosted<T> {
    host: HostId,
    inner: Option<T>,
}

impl<T> Hosted<T> {
    fn new(host: HostId, inner: T) -> Hosted<T> {
        Hosted {
            host,
            inner: Some(inner),
        }
    }

    /// The value, with its host made current.
    fn get(&mut self) -> Option<&mut T> {
        turmoil_net::set_current(self.host);
        self.inner.as_mut()
    }

    fn close(&mut self) {
        turmoil_net::set_current(self.host);
        self.inner = None;
    }
}

impl<T> Drop for Hosted<T> {
    fn drop(&mut self) {
        self.close();
    }
}

fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Delivers every host's outgoing packets until none is left.
fn pump(guard: &EnterGuard) -> Result<(), SimError> {
    let mut out = Vec::new();
    for _ in 0..MAX_PASSES {
        guard.egress_all(&mut out);
        if out.is_empty() {
            return Ok(());
        }
        for packet in out.drain(..) {
            guard.deliver(packet);
        }
    }
    Err(SimError::Failed(format!(
        "the fabric still had packets to send after {MAX_PASSES} passes"
    )))
}

fn drive(
    guard: &EnterGuard,
    [client, server]: [HostId; 2],
    server_ip: IpAddr,
    steps: &[Step],
) -> Result<Vec<Observed>, SimError> {
    let failed = |what: &str, e: std::io::Error| SimError::Failed(format!("{what}: {e}"));
    guard.set_current(server);
    let mut bind = Box::pin(TcpListener::bind((server_ip, PORT)));
    let listener = match poll_once(bind.as_mut()) {
        Poll::Ready(r) => r.map_err(|e| failed("bind", e))?,
        Poll::Pending => return Err(SimError::Failed("bind did not complete".into())),
    };
    let mut listener = Hosted::new(server, listener);
    let mut connect: Hosted<Pin<Box<dyn Future<Output = std::io::Result<TcpStream>>>>> =
        Hosted::new(client, Box::pin(TcpStream::connect((server_ip, PORT))));
    let mut ends: [Option<Hosted<TcpStream>>; 2] = [None, None];
    for _ in 0..MAX_PASSES {
        if ends[0].is_none() {
            let future = connect
                .get()
                .expect("the connect future is there until it completes");
            if let Poll::Ready(r) = poll_once(future.as_mut()) {
                ends[0] = Some(Hosted::new(client, r.map_err(|e| failed("connect", e))?));
            }
        }
        if ends[1].is_none() {
            let l = listener.get().expect("the listener is open");
            if let Poll::Ready(r) = l.poll_accept(&mut Context::from_waker(Waker::noop())) {
                let (stream, _) = r.map_err(|e| failed("accept", e))?;
                ends[1] = Some(Hosted::new(server, stream));
            }
        }
        if ends.iter().all(Option::is_some) {
            break;
        }
        pump(guard)?;
    }
    connect.close();
    if ends.iter().any(Option::is_none) {
        return Err(SimError::Failed(
            "the connection was not established".into(),
        ));
    }
    pump(guard)?;

    let mut answers = Vec::with_capacity(steps.len());
    for s in steps {
        let end = match s.end() {
            Some(End::Client) => &mut ends[0],
            Some(End::Server) => &mut ends[1],
            None => return Err(SimError::Failed("link steps are out of scope".into())),
        };
        let answer = match (&s.op, end.as_mut().and_then(|e| e.get())) {
            (Op::Sleep(_), _) => Observed::plain(Outcome::Ok),
            (_, None) => {
                Observed::plain(Outcome::NoErrno("the stream is already closed".to_string()))
            }
            (Op::Write(n), Some(stream)) => Observed::of_io(stream.try_write(&vec![0u8; *n])),
            (Op::Read(n), Some(stream)) => Observed::of_io(stream.try_read(&mut vec![0u8; *n])),
            (Op::Shutdown(How::Write), Some(stream)) => {
                let mut shutdown = std::pin::pin!(stream.shutdown());
                match poll_once(shutdown.as_mut()) {
                    Poll::Ready(r) => Observed::of_unit(r),
                    Poll::Pending => Observed::plain(Outcome::NoErrno(
                        "shutdown did not complete at once".to_string(),
                    )),
                }
            }
            (Op::Close, Some(_)) => {
                if let Some(e) = end.as_mut() {
                    e.close();
                }
                *end = None;
                Observed::plain(Outcome::Ok)
            }
            (other, Some(_)) => Observed::plain(Outcome::NoErrno(format!(
                "`{other}` is not modelled in turmoil-net"
            ))),
        };
        answers.push(answer);
        pump(guard)?;
    }
    drop(ends);
    drop(listener);
    Ok(answers)
}
