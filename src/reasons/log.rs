//! The kernel's `tcp/tcp_send_reset` events, recorded for one runner (or peer) and handed to
//! the connections they belong to.
//!
//! Each [`ResetLog`] records the event on every CPU into perf rings of its own
//! ([`super::ring`]): parallel jobs and other programs never take each other's events, and
//! nothing of the recording is left in the kernel when the log is dropped, nor when the process
//! is killed (the events end with their descriptors). tracefs is only read: the event's id and
//! its `format` file, which say where the fields lie and name the values of `reason`, whose
//! numbers moved between releases. Where nothing had mounted tracefs, rstlab mounts it (as
//! root) and leaves it mounted, as a system that mounts it at boot would have it.
//!
//! Why rings and not a tracing instance (`instances/`, read through `trace_pipe`), which rstlab
//! used first: the pipe costs a `read` a case that takes locks even when it finds nothing, and
//! the kernel formats each event as text for it; an instance outlives a process that is killed.
//! On 6.18 that was 5 % of a loopback case's CPU and 80 ms to set up and remove (the instance's
//! `rmdir` waits for RCU); `docs/guide/performance.md` has the figures.
//!
//! The rings record every RST the host sends, and the reader keeps those of its connection: an
//! event counts only when its source and destination are the run's client and server, both
//! ports included.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::ring::{Format, Record, Rings};
use super::{Missing, Resets, StatedReset};
use crate::oracle::kernel::{Kernel, Version};
use crate::scenario::End;

/// Where tracefs is mounted on every kernel rstlab runs on.
const TRACEFS: &str = "/sys/kernel/tracing";

/// The first kernel whose resets all carry their reason: active resets said `NOT_SPECIFIED`
/// before ba0ca286c919 ("tcp: rstreason: let it work finally in tcp_send_active_reset()").
const ACTIVE_REASONS_SINCE: Version = Version::new(6, 12, 0);

/// The RSTs the kernel sends, recorded for one reader; see the [module](self).
#[derive(Debug)]
pub struct ResetLog {
    rings: Rings,
    /// Whether the kernel states every reason (6.12 on).
    complete: bool,
    /// Events lost since the last [`ResetLog::take`] that may have been the connection's.
    lost: u64,
    /// Per ring, events lost that no event read since places before or after the
    /// connection's start.
    unplaced_loss: Vec<u64>,
    /// The events of one reading, from every ring, to be put in the order sent.
    events: Vec<Event>,
}

impl ResetLog {
    /// Starts recording; why not, when the kernel or the permissions do not allow it.
    pub fn open() -> Result<ResetLog, Missing> {
        let root = Path::new(TRACEFS);
        let event = root.join("events/tcp/tcp_send_reset");
        if !root.join("events").is_dir() {
            crate::sys::mount_tracefs(root)
                .map_err(|e| Missing::NoTracefs(format!("mounting {TRACEFS}: {e}")))?;
        }
        let read = |file: &str| match std::fs::read_to_string(event.join(file)) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Missing::NoEvent),
            Err(e) => Err(Missing::NoTracefs(format!(
                "reading the event's {file}: {e}"
            ))),
        };
        let format = read("format")?;
        if !super::ring::has_reason_field(&format) {
            return Err(Missing::NoReasonField);
        }
        let format = Format::parse(&format).ok_or_else(|| {
            Missing::NoTracefs("the event's format file has fields rstlab cannot read".into())
        })?;
        let id: u64 = read("id")?
            .trim()
            .parse()
            .map_err(|_| Missing::NoTracefs("the event's id file holds no number".into()))?;
        let rings = Rings::open(id, format).map_err(|e| Missing::NoPerf(e.to_string()))?;
        Ok(ResetLog {
            unplaced_loss: vec![0; rings.count()],
            rings,
            complete: Kernel::running().version >= ACTIVE_REASONS_SINCE,
            lost: 0,
            events: Vec::new(),
        })
    }

    /// How many rings record (one per online CPU), for tests.
    pub fn rings(&self) -> usize {
        self.rings.count()
    }

    /// Now, by the events' clock (CLOCK_MONOTONIC): what to pass to [`ResetLog::take`] as the
    /// start of a connection.
    pub fn now(&self) -> Duration {
        Duration::try_from(rustix::time::clock_gettime(
            rustix::time::ClockId::Monotonic,
        ))
        .unwrap_or_default()
    }

    /// [`ResetLog::now`] for a reader of one connection at a time (a runner): what the rings
    /// hold from before is read and dropped, so that a ring that other connections' RSTs
    /// filled while the reader was idle has room again, and a loss it met lies before the
    /// connection. (A peer, which watches several connections, calls [`ResetLog::now`].)
    pub fn skip_to_now(&mut self) -> Duration {
        let now = self.now();
        self.read(now.as_nanos());
        self.lost = 0;
        self.unplaced_loss.iter_mut().for_each(|n| *n = 0);
        now
    }

    /// Reads what the kernel recorded since the last call and keeps the RSTs between `client`
    /// and `server` sent at `since` ([`ResetLog::now`]) or later, in the order sent. (What came
    /// before belongs to earlier connections: the runner's aborts after them, a listener
    /// answering their last segments.)
    pub fn take(&mut self, client: SocketAddr, server: SocketAddr, since: Duration) -> Resets {
        self.read(since.as_nanos());
        let mut resets = Vec::new();
        for event in &self.events {
            // Only this runner's connection reaches its listener while a scenario runs.
            if let Some(from) = sender(event, client, server) {
                resets.push(event.stated(from, self.rings.format()));
            }
        }
        let lost = std::mem::take(&mut self.lost);
        self.verdict(lost, resets)
    }

    /// [`ResetLog::take`] for several connections at once, each `(client, server, since)`: one
    /// reading, each event handed to the connection it belongs to (the peer plays several
    /// connections at a time, and one reading takes every connection's events). An RST from a
    /// listening socket names no client: it goes to the one connection on its address, and to
    /// none while several are. Events lost count against every connection.
    pub fn take_each(&mut self, connections: &[(SocketAddr, SocketAddr, Duration)]) -> Vec<Resets> {
        let since = connections
            .iter()
            .map(|c| c.2.as_nanos())
            .min()
            .unwrap_or(0);
        let mut resets: Vec<Vec<StatedReset>> = vec![Vec::new(); connections.len()];
        self.read(since);
        for event in &self.events {
            let mine: Vec<(usize, End)> = connections
                .iter()
                .enumerate()
                .filter(|(_, (_, _, since))| event.at_ns >= since.as_nanos())
                .filter_map(|(i, (c, s, _))| Some((i, sender(event, *c, *s)?)))
                .collect();
            if event.sent_by_listener() && mine.len() > 1 {
                continue;
            }
            for (i, from) in mine {
                resets[i].push(event.stated(from, self.rings.format()));
            }
        }
        let lost = std::mem::take(&mut self.lost);
        resets.into_iter().map(|r| self.verdict(lost, r)).collect()
    }

    /// What a connection's RSTs read as: lost when `lost` events may have been its own, shown
    /// but not checked before 6.12, else stated.
    fn verdict(&self, lost: u64, stated: Vec<StatedReset>) -> Resets {
        if lost > 0 {
            Resets::Missing(Missing::Lost(lost))
        } else if !self.complete {
            Resets::Missing(Missing::Incomplete(stated))
        } else {
            Resets::Stated(stated)
        }
    }

    /// Puts in `events` the events recorded since the last reading that were sent at
    /// `since_ns` or later, in the order sent. Events the kernel lost count only when they may have been such: a ring
    /// that is full drops the newest, and a later event of that ring older than `since_ns`
    /// says the ones lost before it were older still (an idle runner's rings fill with other
    /// connections' RSTs).
    fn read(&mut self, since_ns: u128) {
        self.events.clear();
        let (events, unplaced, lost) = (&mut self.events, &mut self.unplaced_loss, &mut self.lost);
        self.rings.read(|ring, record| match record {
            Record::Reset { at_ns, .. } if at_ns < since_ns => unplaced[ring] = 0,
            Record::Reset {
                at_ns,
                src,
                dst,
                state,
                reason,
            } => {
                *lost += std::mem::take(&mut unplaced[ring]);
                events.push(Event {
                    at_ns,
                    src,
                    dst,
                    state,
                    reason,
                });
            }
            Record::Lost(n) => unplaced[ring] += n,
        });
        // Every ring's own events are in order; across rings, by the time they were sent.
        self.events.sort_by_key(|e| e.at_ns);
        self.lost += self.unplaced_loss.iter().sum::<u64>();
        self.unplaced_loss.iter_mut().for_each(|n| *n = 0);
    }
}

/// One `tcp_send_reset` event: when, by CLOCK_MONOTONIC, in nanoseconds (the order of events sent within a microsecond on two CPUs); the segment's addresses (a
/// listening socket's has no peer: `0.0.0.0:0`); the names the kernel gives its socket's state
/// and its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Event {
    at_ns: u128,
    src: SocketAddr,
    dst: SocketAddr,
    state: i32,
    reason: i32,
}

impl Event {
    /// Whether a listening socket sent it: its event names no peer.
    fn sent_by_listener(&self) -> bool {
        self.dst.ip().is_unspecified() && self.dst.port() == 0
    }

    fn stated(&self, from: End, format: &Format) -> StatedReset {
        StatedReset {
            from,
            reason: format.reason_name(self.reason).to_string(),
            state: format.state_name(self.state).to_string(),
        }
    }
}

/// Whose kernel sent `event`, when it is an RST of the connection between `client` and `server`.
/// The server's listening socket answers a segment for a connection the server no longer has:
/// the event shows the listener's addresses (no peer), and counts as the server's.
fn sender(event: &Event, client: SocketAddr, server: SocketAddr) -> Option<End> {
    if event.src == client && event.dst == server {
        Some(End::Client)
    } else if event.src == server && (event.dst == client || event.sent_by_listener()) {
        Some(End::Server)
    } else {
        None
    }
}
