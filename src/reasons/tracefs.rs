//! The kernel's `tcp/tcp_send_reset` events, read from a tracing instance of rstlab's own.
//!
//! tracefs is global to the host, so rstlab never touches its top-level buffer: each
//! [`ResetLog`] makes an instance (`instances/rstlab-PID-N`), enables the one event there, reads
//! its `trace_pipe` without blocking, and removes the instance when dropped (a panic unwinds
//! through the drop too; `Ctrl-C` ends runs through their stop flag, so the drops run). An
//! instance left by a process that was killed is removed by the next one that starts.
//!
//! ftrace cannot filter on the event's addresses (byte arrays), so the instance records every
//! RST the host sends and the reader keeps those of its own connection: an event counts only when
//! its source and destination are the run's client and server, both ports included. Parallel
//! jobs each read their own instance, so none takes another's events. Cheaper than BPF here: one
//! `read` that finds the pipe empty for a case without an RST, no compiler, no maps.
//!
//! The text the kernel prints names the reason (`reason=TCP_ABORT_ON_CLOSE`): the names come from
//! the running kernel's own `enum sk_rst_reason`, whose numbers moved between releases.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{Missing, Resets, StatedReset};
use crate::oracle::kernel::{Kernel, Version};
use crate::scenario::End;

/// Where tracefs is mounted on every kernel rstlab runs on.
const TRACEFS: &str = "/sys/kernel/tracing";

/// The first kernel whose resets all carry their reason: active resets said `NOT_SPECIFIED`
/// before ba0ca286c919 ("tcp: rstreason: let it work finally in tcp_send_active_reset()").
const ACTIVE_REASONS_SINCE: Version = Version::new(6, 12, 0);

/// Per-CPU buffer of an instance, in KiB: a case's events are read right after it, and the
/// buffer must hold every RST the host sends meanwhile (about 7,000 events; another rstlab
/// exploring on two cores sends some 50,000 a second).
const BUFFER_KB: u32 = 1024;

/// A tracing instance recording `tcp/tcp_send_reset`; see the [module](self).
#[derive(Debug)]
pub struct ResetLog {
    dir: PathBuf,
    pipe: Option<File>,
    /// Whether the kernel states every reason (6.12 on).
    complete: bool,
    /// Bytes read but not yet a whole line.
    partial: Vec<u8>,
    buffer: Vec<u8>,
    /// Events lost since the last [`ResetLog::take`] that may have been the connection's.
    lost: u64,
    /// Events lost that no event read since places before or after the connection's start.
    unplaced_loss: u64,
    /// The client's and the server's addresses as text, for comparing with the events'.
    addresses: [String; 2],
}

impl ResetLog {
    /// A new instance with the event enabled; why not, when the kernel or the permissions do not
    /// allow it.
    pub fn open() -> Result<ResetLog, Missing> {
        let root = Path::new(TRACEFS);
        if !root.join("instances").is_dir() {
            crate::sys::mount_tracefs(root)
                .map_err(|e| Missing::NoTracefs(format!("mounting {TRACEFS}: {e}")))?;
        }
        remove_abandoned(&root.join("instances"));
        let event = root.join("events/tcp/tcp_send_reset");
        let format = match fs::read_to_string(event.join("format")) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Missing::NoEvent),
            Err(e) => {
                return Err(Missing::NoTracefs(format!(
                    "reading the event's format: {e}"
                )));
            }
        };
        if !has_reason_field(&format) {
            return Err(Missing::NoReasonField);
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = root.join("instances").join(format!(
            "rstlab-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&dir)
            .map_err(|e| Missing::NoTracefs(format!("creating an instance: {e}")))?;
        // From here on the drop removes the instance, whatever fails next.
        let mut log = ResetLog {
            dir,
            pipe: None,
            complete: Kernel::running().version >= ACTIVE_REASONS_SINCE,
            partial: Vec::new(),
            buffer: vec![0; 64 * 1024],
            lost: 0,
            unplaced_loss: 0,
            addresses: Default::default(),
        };
        let setup = |what: &str, e: io::Error| Missing::NoTracefs(format!("{what}: {e}"));
        fs::write(log.dir.join("buffer_size_kb"), BUFFER_KB.to_string())
            .map_err(|e| setup("sizing the instance's buffer", e))?;
        // One clock for every CPU: the default ("local") is per CPU, and the pipe, which merges
        // the CPUs' buffers by time, could put an RST sent on one CPU before an earlier one sent
        // on another.
        fs::write(log.dir.join("trace_clock"), "mono")
            .map_err(|e| setup("choosing the instance's clock", e))?;
        // Without the irq-info column (`..s1.`, the context's flags), which the reader never
        // looks at: the kernel formats every event it hands out, and that column took a tenth
        // of it. Best effort: the parser skips the column where it stays.
        let _ = fs::write(log.dir.join("options/irq-info"), "0");
        fs::write(log.dir.join("events/tcp/tcp_send_reset/enable"), "1")
            .map_err(|e| setup("enabling tcp_send_reset", e))?;
        log.pipe = Some(
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(log.dir.join("trace_pipe"))
                .map_err(|e| setup("opening trace_pipe", e))?,
        );
        Ok(log)
    }

    /// The instance's folder, for tests.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Now, by the instance's clock (`mono`: CLOCK_MONOTONIC): what to pass to
    /// [`ResetLog::take`] as the start of a connection.
    pub fn now(&self) -> Duration {
        Duration::try_from(rustix::time::clock_gettime(
            rustix::time::ClockId::Monotonic,
        ))
        .unwrap_or_default()
    }

    /// Reads what the kernel recorded since the last call and keeps the RSTs between `client`
    /// and `server` sent at `since` ([`ResetLog::now`]) or later, in the order sent. (What came
    /// before belongs to earlier connections: the runner's aborts after them, a listener
    /// answering their last segments.)
    pub fn take(&mut self, client: SocketAddr, server: SocketAddr, since: Duration) -> Resets {
        use std::fmt::Write as _;
        let since_us = since.as_micros();
        // The addresses as the kernel prints them, in buffers kept from case to case.
        let [mut client_text, mut server_text] = std::mem::take(&mut self.addresses);
        client_text.clear();
        server_text.clear();
        let _ = write!(client_text, "{client}");
        let _ = write!(server_text, "{server}");
        let (client, server) = (client_text.as_str(), server_text.as_str());
        let mut resets = Vec::new();
        let read = self.read(since_us, |event| {
            // Only this runner's connection reaches its listener while a scenario runs.
            let Some(from) = sender(&event, client, server) else {
                return;
            };
            resets.push(StatedReset {
                from,
                reason: String::from_utf8_lossy(event.reason).into_owned(),
                state: String::from_utf8_lossy(event.state).into_owned(),
            });
        });
        self.addresses = [client_text, server_text];
        if let Err(e) = read {
            return Resets::Missing(Missing::Read(e.to_string()));
        }
        let lost = std::mem::take(&mut self.lost) + std::mem::take(&mut self.unplaced_loss);
        if lost > 0 {
            return Resets::Missing(Missing::Lost(lost));
        }
        if !self.complete {
            return Resets::Missing(Missing::Incomplete(resets));
        }
        Resets::Stated(resets)
    }

    /// [`ResetLog::take`] for several connections at once, each `(client, server, since)`: one
    /// reading, each event handed to the connection it belongs to (the peer plays several
    /// connections at a time, and one reading of the pipe takes every connection's events).
    /// An RST from a listening socket names no client: it goes to the one connection on its
    /// address, and to none while several are. Events lost count against every connection.
    pub fn take_each(&mut self, connections: &[(SocketAddr, SocketAddr, Duration)]) -> Vec<Resets> {
        let texts: Vec<(String, String, u128)> = connections
            .iter()
            .map(|(c, s, since)| (c.to_string(), s.to_string(), since.as_micros()))
            .collect();
        let mut resets: Vec<Vec<StatedReset>> = vec![Vec::new(); connections.len()];
        let since = texts.iter().map(|t| t.2).min().unwrap_or(0);
        let read = self.read(since, |event| {
            let mine: Vec<(usize, End)> = texts
                .iter()
                .enumerate()
                .filter(|(_, (_, _, since))| event.at_us >= *since)
                .filter_map(|(i, (c, s, _))| Some((i, sender(&event, c, s)?)))
                .collect();
            if is_listeners(&event) && mine.len() > 1 {
                return;
            }
            for (i, from) in mine {
                resets[i].push(StatedReset {
                    from,
                    reason: String::from_utf8_lossy(event.reason).into_owned(),
                    state: String::from_utf8_lossy(event.state).into_owned(),
                });
            }
        });
        let lost = std::mem::take(&mut self.lost) + std::mem::take(&mut self.unplaced_loss);
        resets
            .into_iter()
            .map(|r| match &read {
                Err(e) => Resets::Missing(Missing::Read(e.to_string())),
                Ok(()) if lost > 0 => Resets::Missing(Missing::Lost(lost)),
                Ok(()) if !self.complete => Resets::Missing(Missing::Incomplete(r)),
                Ok(()) => Resets::Stated(r),
            })
            .collect()
    }

    /// Reads the pipe until it is empty and hands `each` the events sent at `since_us` or later.
    /// Events the kernel lost count only when they may have been such: the buffer drops the
    /// oldest first, and marks the place, so a loss followed by an older event lost only older
    /// ones (an idle runner's buffer fills with other connections' RSTs).
    fn read(&mut self, since_us: u128, mut each: impl FnMut(Event<'_>)) -> io::Result<()> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Ok(());
        };
        loop {
            let n = match pipe.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.partial.extend_from_slice(&self.buffer[..n]);
            // The pipe hands out at most a page per read and stops early only when it is
            // empty: a short read needs no second one to find it so.
            let drained = n < 2048;
            let whole = self
                .partial
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let mut lost = 0;
            for line in self.partial[..whole].split(|&b| b == b'\n') {
                match parse(line) {
                    Some(Line::Event(e)) if e.at_us < since_us => self.unplaced_loss = 0,
                    Some(Line::Event(e)) => {
                        lost += std::mem::take(&mut self.unplaced_loss);
                        each(e);
                    }
                    Some(Line::Lost(n)) => self.unplaced_loss += n,
                    None => {}
                }
            }
            self.lost += lost;
            self.partial.drain(..whole);
            if drained {
                break;
            }
        }
        Ok(())
    }
}

impl Drop for ResetLog {
    fn drop(&mut self) {
        // The open pipe keeps the instance busy: close it before removing the folder.
        self.pipe = None;
        let _ = fs::write(self.dir.join("events/tcp/tcp_send_reset/enable"), "0");
        // A child that another thread forks holds a copy of every descriptor until its exec
        // closes them (O_CLOEXEC), so for that instant the pipe is still open and the kernel
        // refuses to remove a busy instance (EBUSY): try again, for a bounded while.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while let Err(e) = fs::remove_dir(&self.dir) {
            if e.raw_os_error() != Some(libc::EBUSY) || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Whose kernel sent `event`, when it is an RST of the connection between `client` and `server`.
/// The server's listening socket answers a segment for a connection the server no longer has:
/// the event shows the listener's addresses (no peer), and counts as the server's.
fn sender(event: &Event<'_>, client: &str, server: &str) -> Option<End> {
    let (client, server) = (client.as_bytes(), server.as_bytes());
    if event.src == client && event.dst == server {
        Some(End::Client)
    } else if event.src == server && (event.dst == client || is_listeners(event)) {
        Some(End::Server)
    } else {
        None
    }
}

/// Whether a listening socket sent it: its event names no peer.
fn is_listeners(event: &Event<'_>) -> bool {
    event.dst == b"0.0.0.0:0" || event.dst == b"[::]:0"
}

/// Whether the event's `format` file has the `reason` field (6.10 on).
fn has_reason_field(format: &str) -> bool {
    format
        .lines()
        .any(|l| l.trim_start().starts_with("field:") && l.contains(" reason;"))
}

/// Removes the instances of rstlab processes that no longer run (killed before their drops).
fn remove_abandoned(instances: &Path) {
    let Ok(entries) = fs::read_dir(instances) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("rstlab-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::write(entry.path().join("events/tcp/tcp_send_reset/enable"), "0");
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// One `tcp_send_reset` event, as printed: the fields are the line's own bytes (ASCII), so
/// that telling another connection's event from the run's costs no conversion.
#[derive(Debug, PartialEq, Eq)]
struct Event<'a> {
    /// When it was sent, by the instance's clock (CLOCK_MONOTONIC), in microseconds.
    at_us: u128,
    /// As the kernel prints it (`%pISpc`: `127.0.0.1:80`, `[::1]:80`), which is how Rust
    /// prints a `SocketAddr` too.
    src: &'a [u8],
    dst: &'a [u8],
    state: &'a [u8],
    reason: &'a [u8],
}

#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Event(Event<'a>),
    /// `CPU:1 [LOST 12 EVENTS]`, or `CPU:1 [LOST EVENTS]` (counted as one) when the kernel
    /// does not know how many.
    Lost(u64),
}

/// Where an event's fields start: the event's name, as the pipe prints it.
const EVENT_NAME: &[u8] = b" tcp_send_reset: ";

/// Reads one line of `trace_pipe`:
/// `rstlab-17329 [000] ..... 4893.594122: tcp_send_reset: skbaddr=… skaddr=… src=127.0.0.1:52321
/// dest=127.1.1.1:53384 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE`.
///
/// In one pass over the bytes, without `str` searchers or whitespace splitting: a runner reads
/// every RST the host sends, most of them other connections' (on the link, before the runner
/// ended its sockets silently, two of three), and this ran for each.
fn parse(line: &[u8]) -> Option<Line<'_>> {
    static NAME: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(EVENT_NAME));
    let Some(at) = NAME.find(line) else {
        let rest = &line[memchr::memmem::find(line, b"[LOST ")? + b"[LOST ".len()..];
        // `[LOST EVENTS]` when the kernel does not know how many: one at least.
        if rest.starts_with(b"EVENTS]") {
            return Some(Line::Lost(1));
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        return number(&rest[..digits]).map(|n| Line::Lost(n as u64));
    };
    // The head ends with the timestamp, `SECS.MICROS:`.
    let head = line[..at].strip_suffix(b":")?;
    let stamp = &head[head.iter().rposition(|&b| b == b' ').map_or(0, |i| i + 1)..];
    let dot = stamp.iter().position(|&b| b == b'.')?;
    let at_us = number(&stamp[..dot])? * 1_000_000 + number(&stamp[dot + 1..])?;
    let (mut src, mut dst, mut state, mut reason) = (None, None, None, None);
    for field in line[at + EVENT_NAME.len()..].split(|&b| b == b' ') {
        let Some(eq) = field.iter().position(|&b| b == b'=') else {
            continue;
        };
        let value = &field[eq + 1..];
        match &field[..eq] {
            b"src" => src = Some(value),
            b"dest" => dst = Some(value),
            b"state" => state = Some(value),
            b"reason" => reason = Some(value),
            _ => {}
        }
    }
    Some(Line::Event(Event {
        at_us,
        src: src?,
        dst: dst?,
        state: state?,
        reason: reason?,
    }))
}

/// A decimal number of at most 38 digits (none: not a number).
fn number(digits: &[u8]) -> Option<u128> {
    if digits.is_empty() || digits.len() > 38 {
        return None;
    }
    digits.iter().try_fold(0u128, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u128::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_the_addresses_the_state_and_the_reason() {
        let line = "          rstlab-17329   [000] .....  4893.594122: tcp_send_reset: \
                    skbaddr=0000000000000000 skaddr=000000002d415285 src=127.0.0.1:52321 \
                    dest=127.1.1.1:53384 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE";
        assert_eq!(
            parse(line.as_bytes()),
            Some(Line::Event(Event {
                at_us: 4_893_594_122,
                src: b"127.0.0.1:52321",
                dst: b"127.1.1.1:53384",
                state: b"TCP_CLOSE",
                reason: b"TCP_ABORT_ON_CLOSE",
            }))
        );
        let v6 = "x-1 [001] ..s2. 1.0: tcp_send_reset: skbaddr=1 skaddr=0 src=[::1]:80 \
                  dest=[::1]:4000 state=UNKNOWN reason=NO_SOCKET";
        assert!(
            matches!(parse(v6.as_bytes()), Some(Line::Event(e)) if e.src == b"[::1]:80" && e.reason == b"NO_SOCKET")
        );
        // Rust prints addresses as the kernel does, so they compare as text.
        assert_eq!(
            "[::1]:80".parse::<SocketAddr>().unwrap().to_string(),
            "[::1]:80"
        );
        // Without the irq-info column, as the instance is set.
        let bare = "          rstlab-17329   [000]  4893.594122: tcp_send_reset: skbaddr=0 \
                    skaddr=1 src=127.0.0.1:52321 dest=127.1.1.1:53384 state=TCP_CLOSE \
                    reason=TCP_STATE";
        assert!(
            matches!(parse(bare.as_bytes()), Some(Line::Event(e)) if e.at_us == 4_893_594_122 && e.reason == b"TCP_STATE")
        );
        assert_eq!(parse(b"CPU:1 [LOST 12 EVENTS]"), Some(Line::Lost(12)));
        // Read as no loss at all before.
        assert_eq!(parse(b"CPU:0 [LOST EVENTS]"), Some(Line::Lost(1)));
        assert_eq!(parse(b"# tracer: nop"), None);
    }

    #[test]
    fn the_reason_field_is_found_in_the_format_file() {
        let with = "\tfield:int state;\toffset:24;\tsize:4;\tsigned:1;\n\
                    \tfield:enum sk_rst_reason reason;\toffset:28;\tsize:4;\tsigned:0;\n\
                    print fmt: \"... reason=%s\", REC->reason";
        assert!(has_reason_field(with));
        let without = "\tfield:int state;\toffset:24;\tsize:4;\tsigned:1;\n\
                       print fmt: \"state=%s\", __print_symbolic(REC->state, { 1, \"reason\" })";
        assert!(!has_reason_field(without));
    }
}
