//! Experiments for the lane that the scenario language cannot state yet (the kernel's timers),
//! run by the hidden `rstlab lane-probe NAME`: raw std sockets, results as one JSON object.
//! They calibrate the oracle's timer model ([`crate::oracle::timers`]; the numbers are kept in
//! `docs/timers/measured.json`), which does not run them.
//!
//! - `vanished-peer`: after one exchange on loopback, `lo` goes down; the client writes once (it
//!   succeeds: the kernel only queued the byte) and polls. With `lo` down there is no route: the
//!   byte never leaves, so no retransmission timer runs but the zero-window probe timer
//!   (`tcp_check_probe_timer`), doubling from the RTO up to 120 s; after `tcp_retries2` (15)
//!   probes the kernel gives up: POLLERR, SO_ERROR ETIMEDOUT, and the next write EPIPE.
//! - `cut-peer`: the same across the real-time relay's link ([`Relay`]) with every packet held
//!   from the cut on: the segments leave and are lost, as when a cable is cut or the peer's
//!   host vanishes. The tail loss probe goes first, then the retransmission timer.
//! - `user-timeout`: `cut-peer` with `TCP_USER_TIMEOUT` (`--user-timeout`, 2 s unless told).
//! - `keepalive`: across the relay's link, after one exchange, `SO_KEEPALIVE` with
//!   `TCP_KEEPIDLE`/`INTVL`/`CNT` (`--keepalive IDLE,INTERVAL,COUNT`, `10s,2s,3` unless told),
//!   then the cut, and no data: POLLERR after about IDLE + COUNT x INTERVAL, and a read gets
//!   ETIMEDOUT.
//!
//! Minutes of kernel time: in the lane, seconds.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use serde::Serialize;

use super::guest::monotonic_ns;
use crate::net::link::Link;
use crate::net::relay::Relay;
use crate::outcome::{Outcome, PollEvents};
use crate::scenario::{End, LinkOp};
use crate::sys::TcpTimerInfo;

/// The experiments `rstlab lane-probe` knows.
pub const EXPERIMENTS: &[&str] = &["vanished-peer", "cut-peer", "user-timeout", "keepalive"];

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

/// The events of `revents` in the language's words (`IN|RDHUP|ERR|HUP`, `none`).
fn events(revents: PollFlags) -> String {
    PollEvents::from_revents(revents.bits() as i16).to_string()
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
    let write = Outcome::of_write(sock.send_with_flags(b"z", libc::MSG_NOSIGNAL)).to_string();
    let start = monotonic_ns();
    let (revents, pollerr_after_ns) = wait_for_error(&client, start, limit)?;
    let so_error = Outcome::of_so_error(client.take_error()).to_string();
    let next_write = Outcome::of_write(sock.send_with_flags(b"z", libc::MSG_NOSIGNAL)).to_string();
    let _ = server.shutdown(Shutdown::Both);
    Ok(VanishedPeer {
        experiment: "vanished-peer",
        write,
        revents: events(revents),
        pollerr_after_ns,
        pollerr_after_s: pollerr_after_ns.map(|n| n as f64 / 1e9),
        so_error,
        next_write,
        tcp_retries2,
    })
}

/// Keepalive's three settings, as `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and `TCP_KEEPCNT` take them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Keepalive {
    /// Idle time before the first probe, in seconds.
    pub idle_s: u32,
    /// Time between probes, in seconds.
    pub interval_s: u32,
    /// Probes unanswered before the kernel gives up.
    pub count: u32,
}

impl std::str::FromStr for Keepalive {
    type Err = String;

    /// `IDLE,INTERVAL,COUNT`, the times in whole seconds with or without `s`: `10s,2s,3`.
    fn from_str(text: &str) -> Result<Keepalive, String> {
        let bad = || format!("expected IDLE,INTERVAL,COUNT such as 10s,2s,3, not {text:?}");
        let parts: Vec<u32> = text
            .split(',')
            .map(|p| p.trim().trim_end_matches('s').parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        match parts[..] {
            [idle_s, interval_s, count] if idle_s > 0 && interval_s > 0 && count > 0 => {
                Ok(Keepalive {
                    idle_s,
                    interval_s,
                    count,
                })
            }
            _ => Err(bad()),
        }
    }
}

/// What the experiments across the relay's link saw (`cut-peer`, `user-timeout`,
/// `keepalive`).
#[derive(Clone, Debug, Serialize)]
pub struct SilentPeer {
    /// The experiment's name.
    pub experiment: &'static str,
    /// The guest kernel's release (`uname -r`).
    pub kernel: String,
    /// `TCP_USER_TIMEOUT`, in milliseconds, when set.
    pub user_timeout_ms: Option<u64>,
    /// Keepalive's settings, when set.
    pub keepalive: Option<Keepalive>,
    /// The client's timers just before the cut: the RTO the model starts from.
    pub before: TcpTimerInfo,
    /// The write after the cut (`None` for `keepalive`, which writes nothing).
    pub write: Option<String>,
    /// The events poll returned when it ended the wait.
    pub revents: String,
    /// Guest nanoseconds from the start (the write; for `keepalive`, the read that took the
    /// peer's last byte) to POLLERR (`None`: the limit passed first).
    pub error_after_ns: Option<u64>,
    /// The same in seconds, for reading.
    pub error_after_s: Option<f64>,
    /// What took the error: SO_ERROR after a write, a read for `keepalive`.
    pub error: String,
    /// The write after that.
    pub next_write: String,
    /// Guest nanoseconds from the start at which each segment the client sent after the cut
    /// reached the link (held there): the tail loss probe, the retransmissions, the keepalive
    /// probes, the final RST.
    pub client_segments_ns: Vec<u64>,
}

/// The parameters of one run of an experiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Params {
    /// `TCP_USER_TIMEOUT` for `cut-peer` and `user-timeout` (`user-timeout` takes 2 s without
    /// it).
    pub user_timeout: Option<Duration>,
    /// Keepalive's settings for `keepalive` (10 s, 2 s, 3 without them).
    pub keepalive: Option<Keepalive>,
}

/// Runs `experiment` in this process's network namespace (`vanished-peer` takes `lo` down:
/// run it where nothing else needs loopback, the lane's VM), waiting at most `limit` of this
/// kernel's time for POLLERR; the result as JSON.
pub fn run(experiment: &str, limit: Duration, params: Params) -> std::io::Result<String> {
    let json = match experiment {
        "vanished-peer" => serde_json::to_string_pretty(&vanished_peer(limit)?),
        "cut-peer" => serde_json::to_string_pretty(&silent_peer(
            "cut-peer",
            limit,
            params.user_timeout,
            None,
        )?),
        "user-timeout" => serde_json::to_string_pretty(&silent_peer(
            "user-timeout",
            limit,
            Some(params.user_timeout.unwrap_or(Duration::from_secs(2))),
            None,
        )?),
        "keepalive" => serde_json::to_string_pretty(&silent_peer(
            "keepalive",
            limit,
            params.user_timeout,
            Some(params.keepalive.unwrap_or(Keepalive {
                idle_s: 10,
                interval_s: 2,
                count: 3,
            })),
        )?),
        other => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "no experiment {other:?} (known: {})",
                    EXPERIMENTS.join(", ")
                ),
            ));
        }
    };
    json.map_err(std::io::Error::other)
}

/// Polls `socket` for at most `limit` until POLLERR; the events then and the guest time it
/// took from `start`.
fn wait_for_error(
    socket: &TcpStream,
    start: u64,
    limit: Duration,
) -> std::io::Result<(PollFlags, Option<u64>)> {
    let deadline = start + limit.as_nanos() as u64;
    let mut revents = PollFlags::empty();
    loop {
        let now = monotonic_ns();
        if now >= deadline {
            return Ok((revents, None));
        }
        let mut fds = [PollFd::from_borrowed_fd(
            socket.as_fd(),
            PollFlags::IN | PollFlags::RDHUP,
        )];
        crate::sys::poll_for(&mut fds, Duration::from_nanos(deadline - now))?;
        revents = fds[0].revents();
        if revents.contains(PollFlags::ERR) {
            return Ok((revents, Some(monotonic_ns() - start)));
        }
        if !revents.is_empty() {
            // Something else (data, a FIN): nothing more to wait for.
            return Ok((revents, None));
        }
    }
}

/// One exchange across the relay's link, then the cut (`link hold`, never released: every
/// segment from then on is lost), then a write or, with `keepalive`, silence.
fn silent_peer(
    experiment: &'static str,
    limit: Duration,
    user_timeout: Option<Duration>,
    keepalive: Option<Keepalive>,
) -> std::io::Result<SilentPeer> {
    let relay = Relay::start(Duration::ZERO).map_err(std::io::Error::other)?;
    let control = relay.control();
    let listener = {
        let _inside = relay.enter(End::Server)?;
        TcpListener::bind((Link::address(End::Server), 0))?
    };
    let client = {
        let _inside = relay.enter(End::Client)?;
        TcpStream::connect(listener.local_addr()?)?
    };
    let (mut server, _) = listener.accept()?;
    let sock = socket2::SockRef::from(&client);
    if let Some(d) = user_timeout {
        sock.set_tcp_user_timeout(Some(d))?;
    }
    // One exchange, so that both sides have measured a round trip (the RTO starts from it).
    (&client).write_all(b"x")?;
    let mut byte = [0u8; 1];
    server.read_exact(&mut byte)?;
    server.write_all(b"y")?;
    (&client).read_exact(&mut byte)?;
    let received = monotonic_ns();
    if let Some(k) = keepalive {
        sock.set_tcp_keepalive(
            &socket2::TcpKeepalive::new()
                .with_time(Duration::from_secs(k.idle_s.into()))
                .with_interval(Duration::from_secs(k.interval_s.into()))
                .with_retries(k.count),
        )?;
    }
    let before = crate::sys::tcp_timer_info(&client)?;
    // The relay's clock and the guest's: the same clock (CLOCK_MONOTONIC), another origin.
    let relay_origin = monotonic_ns() - control.now().as_nanos() as u64;
    control.apply(LinkOp::Hold);
    let (write, start) = if keepalive.is_some() {
        (None, received)
    } else {
        let w = Outcome::of_write(sock.send_with_flags(b"z", libc::MSG_NOSIGNAL)).to_string();
        (Some(w), monotonic_ns())
    };
    let (revents, error_after_ns) = wait_for_error(&client, start, limit)?;
    let error = if keepalive.is_some() {
        Outcome::of_read((&client).read(&mut byte)).to_string()
    } else {
        Outcome::of_so_error(client.take_error()).to_string()
    };
    let next_write = Outcome::of_write(sock.send_with_flags(b"z", libc::MSG_NOSIGNAL)).to_string();
    let cut = control
        .trace()
        .ops
        .last()
        .map_or(Duration::ZERO, |op| op.at);
    let trace = relay.stop();
    let client_segments_ns = trace
        .segments
        .iter()
        .map(|s| &s.segment)
        .filter(|s| s.from == End::Client && s.sent >= cut)
        .map(|s| (relay_origin + s.sent.as_nanos() as u64).saturating_sub(start))
        .collect();
    drop(server);
    Ok(SilentPeer {
        experiment,
        kernel: crate::oracle::kernel::uname().0,
        user_timeout_ms: user_timeout.map(|d| d.as_millis() as u64),
        keepalive,
        before,
        write,
        revents: events(revents),
        error_after_ns,
        error_after_s: error_after_ns.map(|n| n as f64 / 1e9),
        error,
        next_write,
        client_segments_ns,
    })
}
