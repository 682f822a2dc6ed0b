//! Experiments for the lane that the scenario language cannot state yet (the kernel's timers),
//! run by the hidden `rstlab lane-probe NAME`: raw std sockets, results as one JSON object.
//! They prove the lane does what it is for; the oracle does not know them.
//!
//! `vanished-peer`: after one exchange on loopback, `lo` goes down (every segment of the
//! connection is lost from then on, silently); the client writes once (it succeeds: the kernel
//! only queued the byte) and polls. The retransmission timer doubles from the 200 ms minimum up
//! to 120 s; after `tcp_retries2` (15) retransmissions the kernel gives up: POLLERR, SO_ERROR
//! ETIMEDOUT, and the next write EPIPE. Minutes of kernel time: in the lane, seconds.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use serde::Serialize;

use super::guest::monotonic_ns;
use crate::sim::errno_of;

/// The experiments `rstlab lane-probe` knows.
pub const EXPERIMENTS: &[&str] = &["vanished-peer"];

/// What `vanished-peer` saw.
#[derive(Clone, Debug, Serialize)]
pub struct VanishedPeer {
    /// The experiment's name.
    pub experiment: &'static str,
    /// The write after the peer went silent: `ok(1)` or an errno.
    pub write: String,
    /// The events poll returned when it ended the wait.
    pub revents: String,
    /// Guest nanoseconds from that write to POLLERR (`None`: the limit passed first).
    pub pollerr_after_ns: Option<u64>,
    /// The same in seconds, for reading.
    pub pollerr_after_s: Option<f64>,
    /// SO_ERROR then.
    pub so_error: String,
    /// The write after that.
    pub next_write: String,
    /// `net.ipv4.tcp_retries2` as the kernel had it.
    pub tcp_retries2: String,
}

fn outcome(r: std::io::Result<usize>) -> String {
    match r {
        Ok(n) => format!("ok({n})"),
        Err(e) => errno_of(&e).map_or_else(|| e.to_string(), |e| e.to_string()),
    }
}

fn flags(f: PollFlags) -> String {
    let names = [
        (PollFlags::IN, "IN"),
        (PollFlags::OUT, "OUT"),
        (PollFlags::RDHUP, "RDHUP"),
        (PollFlags::ERR, "ERR"),
        (PollFlags::HUP, "HUP"),
    ];
    let on: Vec<&str> = names
        .iter()
        .filter(|(flag, _)| f.contains(*flag))
        .map(|(_, n)| *n)
        .collect();
    if on.is_empty() {
        "none".to_string()
    } else {
        on.join("|")
    }
}

/// Runs `vanished-peer` in this process's network namespace (it takes `lo` down: run it where
/// nothing else needs loopback, the lane's VM), waiting at most `limit` of this kernel's time
/// for POLLERR.
pub fn vanished_peer(limit: Duration) -> std::io::Result<VanishedPeer> {
    let tcp_retries2 = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_retries2")
        .map_or_else(|e| e.to_string(), |t| t.trim().to_string());
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (mut server, _) = listener.accept()?;
    // One exchange, so that both sides have measured a round trip (the RTO starts from it).
    client.write_all(b"x")?;
    let mut byte = [0u8; 1];
    server.read_exact(&mut byte)?;
    server.write_all(b"y")?;
    client.read_exact(&mut byte)?;
    crate::sys::net::set_down("lo")?;
    // Not MSG_NOSIGNAL's std: socket2's send with it, so that EPIPE is a result, not a signal.
    let sock = socket2::SockRef::from(&client);
    let write = outcome(sock.send_with_flags(b"z", libc::MSG_NOSIGNAL));
    let start = monotonic_ns();
    let deadline = start + limit.as_nanos() as u64;
    let mut revents = PollFlags::empty();
    let mut pollerr_after_ns = None;
    loop {
        let now = monotonic_ns();
        if now >= deadline {
            break;
        }
        let mut fds = [PollFd::from_borrowed_fd(
            client.as_fd(),
            PollFlags::IN | PollFlags::RDHUP,
        )];
        crate::sys::poll_for(&mut fds, Duration::from_nanos(deadline - now))?;
        revents = fds[0].revents();
        if revents.contains(PollFlags::ERR) {
            pollerr_after_ns = Some(monotonic_ns() - start);
            break;
        }
        if !revents.is_empty() {
            // Something else (data, a FIN): nothing more to wait for.
            break;
        }
    }
    let so_error = match client.take_error()? {
        Some(e) => errno_of(&e).map_or_else(|| e.to_string(), |e| e.to_string()),
        None => "none".to_string(),
    };
    let next_write = outcome(sock.send_with_flags(b"z", libc::MSG_NOSIGNAL));
    let _ = server.shutdown(Shutdown::Both);
    Ok(VanishedPeer {
        experiment: "vanished-peer",
        write,
        revents: flags(revents),
        pollerr_after_ns,
        pollerr_after_s: pollerr_after_ns.map(|n| n as f64 / 1e9),
        so_error,
        next_write,
        tcp_retries2,
    })
}
