//! The crate's only unsafe code, behind safe wrappers. `lib.rs` denies `unsafe_code` everywhere
//! else, so the compiler holds every other module to safe Rust.
//!
//! Every call that `rustix` offers safely goes through `rustix` (poll, ppoll, waitid, kill,
//! timer slack, `sysconf`, the process's CPU clock, plain writes, the netlink sockets, setns),
//! and the `NETLINK_SOCK_DIAG` messages through `netlink-packet-sock-diag`, so no unsafe block
//! here wraps them. What is left by hand is what no maintained crate has: `TCP_INFO`,
//! `IP_BIND_ADDRESS_NO_PORT` and `TCP_REPAIR` (in neither socket2 nor rustix; the two options
//! share one `setsockopt` block), `close(2)` with its result
//! (rustix's `try_close` is unsafe too), the SIGPIPE and SIGINT dispositions, `SCHED_FIFO` for a
//! thread, and in [`net`] the TUN and interface-address ioctls. Two more are unsafe by their
//! nature: std's `CommandExt::pre_exec` (code between fork and exec) and rustix's
//! `unshare_unsafe` (unsafe for CLONE_FILES, which rstlab never passes).
//!
//! The wrappers, each sound whatever its (safe) arguments:
//!
//! - Sockets: [`tcp_info`] (`getsockopt(TCP_INFO)`, as [`TcpInfo`]), [`tcp_timer_info`] (its
//!   timer fields, as [`TcpTimerInfo`]), [`set_bind_address_no_port`]
//!   (`IP_BIND_ADDRESS_NO_PORT`), [`set_tcp_repair`] (`TCP_REPAIR`, to end a connection
//!   without a segment), [`close`] (`close(2)` with its
//!   result), [`plain_write`] (`write(2)` without `MSG_NOSIGNAL`), [`poll`] (`poll(2)`, for the
//!   `poll` step, on rustix's [`PollFd`] and [`PollFlags`]), and [`SockDiag`]
//!   (`NETLINK_SOCK_DIAG` lookups by address pair, IPv4 or IPv6, as [`DiagSocket`]).
//! - Signals: [`ignore_sigpipe`], [`sigpipe_disposition`] (as [`SigpipeDisposition`]),
//!   [`restore_default_sigpipe`], [`default_sigint_in_child`] (for a child started from a
//!   shell that ignores SIGINT) and [`interrupt`] (`kill(pid, SIGINT)`).
//! - Time and the process: [`clock_ticks_per_second`] (`sysconf(_SC_CLK_TCK)`),
//!   [`own_cpu_time`] (`CLOCK_PROCESS_CPUTIME_ID`), [`timer_slack`] and [`set_timer_slack`]
//!   (`prctl(PR_{GET,SET}_TIMERSLACK)`), [`poll`] (`poll(2)`), [`poll_for`] (`ppoll(2)`).
//! - Scheduling: [`set_realtime_priority`] (`SCHED_FIFO`, priority 1).
//! - Tracing: [`mount_tracefs`] (`mount(2)` of tracefs, through rustix), for the kernel's RST
//!   reasons.
//! - Child processes: [`has_exited`] (`waitid` without reaping) and [`kill_process_group`]
//!   (`kill(-pid, SIGKILL)`), for `rstlab exec`, whose command may start processes of its own.
//! - The kernel's RST reasons, in the submodule [`perf`]: a tracepoint recorded by
//!   `perf_event_open(2)` into a ring the process maps (`mmap`) and reads without a syscall
//!   (types from `perf-event-open-sys`).
//! - The emulated link, in the submodule [`net`]: network namespaces, TUN devices, interface
//!   and route settings (ioctls and netlink), and plain reads and writes of a device's fd.
//!
//! Every unsafe block says why it is sound in a `SAFETY` comment.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use rustix::event::Timespec;
pub use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use crate::tcp::TcpState;

pub mod net;
pub mod perf;

/// The first fields of Linux's `struct tcp_info` (`include/uapi/linux/tcp.h`), up to
/// `tcpi_bytes_sent`. The kernel copies `min(optlen, sizeof(struct tcp_info))` bytes, so a
/// prefix is a valid request on every kernel that has these fields (4.19 and later).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TcpInfoPrefix {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    wscale: u8,
    flags: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
    unacked: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    fackets: u32,
    last_data_sent: u32,
    last_ack_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
    pmtu: u32,
    rcv_ssthresh: u32,
    rtt: u32,
    rttvar: u32,
    snd_ssthresh: u32,
    snd_cwnd: u32,
    advmss: u32,
    reordering: u32,
    rcv_rtt: u32,
    rcv_space: u32,
    total_retrans: u32,
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
    delivery_rate: u64,
    busy_time: u64,
    rwnd_limited: u64,
    sndbuf_limited: u64,
    delivered: u32,
    delivered_ce: u32,
    bytes_sent: u64,
}

/// What the runner needs to know of a socket it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// The TCP state.
    pub state: TcpState,
    /// Segments sent and not yet acknowledged (`packets_out`, FIN included).
    pub unacked: u32,
    /// Bytes queued and not yet sent.
    pub notsent_bytes: u32,
    /// Payload bytes this socket has sent (`tcpi_bytes_sent`, retransmissions included).
    pub bytes_sent: u64,
    /// Payload bytes this socket has received in order (`tcpi_bytes_received`).
    pub bytes_received: u64,
}

impl TcpInfo {
    /// Nothing this socket sent is still unacknowledged or unsent.
    pub fn send_queue_empty(&self) -> bool {
        self.unacked == 0 && self.notsent_bytes == 0
    }
}

/// What `TCP_INFO` says of a socket's timers: the inputs and state of the retransmission
/// timer, for the lane's timer experiments (the oracle's `timers` model takes them as given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TcpTimerInfo {
    /// The retransmission timeout (`icsk_rto`), in microseconds.
    pub rto_us: u32,
    /// The smoothed round-trip time (`srtt_us >> 3`), in microseconds.
    pub rtt_us: u32,
    /// Its variance (`mdev_us >> 2`), in microseconds.
    pub rttvar_us: u32,
    /// Retransmissions of the current episode (`icsk_retransmits`).
    pub retransmits: u8,
    /// Keepalive or zero-window probes sent unanswered (`icsk_probes_out`).
    pub probes: u8,
    /// The exponential backoff (`icsk_backoff`).
    pub backoff: u8,
}

/// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)`, its timer fields.
pub fn tcp_timer_info(socket: &impl AsRawFd) -> io::Result<TcpTimerInfo> {
    let info = tcp_info_prefix(socket)?;
    Ok(TcpTimerInfo {
        rto_us: info.rto,
        rtt_us: info.rtt,
        rttvar_us: info.rttvar,
        retransmits: info.retransmits,
        probes: info.probes,
        backoff: info.backoff,
    })
}

/// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)`.
pub fn tcp_info(socket: &impl AsRawFd) -> io::Result<TcpInfo> {
    let info = tcp_info_prefix(socket)?;
    let state = TcpState::from_linux(info.state).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown TCP state {}", info.state),
        )
    })?;
    Ok(TcpInfo {
        state,
        unacked: info.unacked,
        notsent_bytes: info.notsent_bytes,
        bytes_sent: info.bytes_sent,
        bytes_received: info.bytes_received,
    })
}

fn tcp_info_prefix(socket: &impl AsRawFd) -> io::Result<TcpInfoPrefix> {
    let mut info = TcpInfoPrefix::default();
    let mut len = mem::size_of::<TcpInfoPrefix>() as libc::socklen_t;
    // SAFETY: `info` is a plain-old-data struct that lives across the call and `len` is its
    // exact size, so the kernel writes at most `len` bytes into memory we own. A bad fd is
    // reported as an error, not undefined behaviour.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

/// `setsockopt(IP_BIND_ADDRESS_NO_PORT, 1)`: a `bind` to port 0 leaves the port to `connect`,
/// which picks it knowing the whole address pair (so one source address serves many peers).
pub fn set_bind_address_no_port(socket: &impl AsRawFd) -> io::Result<()> {
    set_int_option(socket, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)
}

/// `setsockopt(TCP_REPAIR, 1)`: puts a connection in repair mode, where `close` ends it without
/// sending anything (tcp_disconnect() skips the RST it would send, and no FIN leaves). The
/// kernel allows it on any connection (not a listener) with CAP_NET_ADMIN over the socket's
/// network namespace (`tcp_can_repair_sock()`; `EPERM` otherwise). Used for `reboot` (a socket
/// forgotten as by a host that restarted) and by the runner to end its sockets after a
/// scenario without RSTs of its own.
pub fn set_tcp_repair(socket: &impl AsRawFd) -> io::Result<()> {
    set_int_option(socket, libc::IPPROTO_TCP, libc::TCP_REPAIR, 1)
}

/// `setsockopt(level, name, value)` for an option whose value is a C `int`.
fn set_int_option(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a live `c_int` and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `mount -t tracefs nodev DIR`: tracefs where a system has not mounted it (the kernel has it,
/// but nothing mounted it), for the kernel's RST reasons ([`crate::reasons::log`]).
pub fn mount_tracefs(dir: &std::path::Path) -> io::Result<()> {
    rustix::mount::mount(
        "nodev",
        dir,
        "tracefs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .map_err(io::Error::from)
}

/// `sysconf(_SC_CLK_TCK)`: the unit of the tick counts in `/proc/stat`.
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// This process's CPU time so far, user and system, all threads
/// (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`).
pub fn own_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    // The clock counts up from 0, so it is never negative.
    Duration::try_from(now).unwrap_or_default()
}

/// Sets SIGPIPE to `SIG_IGN`, as Rust's runtime does before `main`: for entry points that are
/// not Rust's `main`, such as a libFuzzer target.
pub fn ignore_sigpipe() -> io::Result<()> {
    // SAFETY: installing SIG_IGN runs no handler code and touches no memory of ours; it is
    // sound at any time, even with other threads running.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    if previous == libc::SIG_ERR {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `close(2)`, with its result: dropping an `OwnedFd` would throw the result away.
pub fn close(fd: OwnedFd) -> io::Result<()> {
    let raw = fd.into_raw_fd();
    // SAFETY: `into_raw_fd` gave us sole ownership of `raw`, so closing it cannot affect any
    // other owner, and it is never used again.
    if unsafe { libc::close(raw) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The calling thread's timer slack in nanoseconds (`prctl(PR_GET_TIMERSLACK)`): how much
/// later than asked the kernel may end its sleeps, so as to group wake-ups (50 µs by default).
pub fn timer_slack() -> io::Result<u64> {
    Ok(rustix::thread::current_timer_slack()?)
}

/// Sets the calling thread's timer slack (`prctl(PR_SET_TIMERSLACK)`); 0 restores the
/// thread's default.
pub fn set_timer_slack(nanoseconds: u64) -> io::Result<()> {
    Ok(rustix::thread::set_current_timer_slack(NonZeroU64::new(
        nanoseconds,
    ))?)
}

/// The disposition of `SIGPIPE` in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigpipeDisposition {
    /// `SIG_DFL`: the signal terminates the process.
    Default,
    /// `SIG_IGN`: the signal is discarded (what Rust's runtime sets before `main`).
    Ignored,
    /// A handler is installed.
    Handled,
}

/// The current disposition of `SIGPIPE`, read with `sigaction(2)` without changing it.
pub fn sigpipe_disposition() -> io::Result<SigpipeDisposition> {
    // SAFETY: `sigaction` is plain old data for which all-zero bytes are a valid value.
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: a null `act` only queries; `old` is a live, writable `sigaction`.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(match old.sa_sigaction {
        libc::SIG_DFL => SigpipeDisposition::Default,
        libc::SIG_IGN => SigpipeDisposition::Ignored,
        _ => SigpipeDisposition::Handled,
    })
}

/// Sets `SIGPIPE` back to `SIG_DFL`, the disposition a C program starts with: the next write
/// that fails with EPIPE without `MSG_NOSIGNAL` terminates the process. For experiments in a
/// child process only.
pub fn restore_default_sigpipe() -> io::Result<()> {
    // SAFETY: installs the default disposition; no handler code of ours is involved.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if previous == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A plain `write(2)`, without the `MSG_NOSIGNAL` that std's `TcpStream::write` passes to
/// `send(2)`: on a socket whose write fails with EPIPE it raises `SIGPIPE`.
pub fn plain_write(fd: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    // rustix's `write` is `write(2)` itself: no flags, so SIGPIPE is raised as for C's.
    Ok(rustix::io::write(fd, buf)?)
}

/// `poll(2)` on `fds` for at most `timeout_ms` milliseconds (a negative value waits without
/// limit); returns how many have events, which each [`PollFd::revents`] then shows.
pub fn poll(fds: &mut [PollFd<'_>], timeout_ms: i32) -> io::Result<usize> {
    let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
    poll_with(fds, timeout)
}

/// `ppoll(2)` on `fds` for at most `timeout` (to the nanosecond, where `poll(2)` counts whole
/// milliseconds); returns how many have events. For waits that must end on time, such as the
/// real-time relay's wait for the next segment due.
pub fn poll_for(fds: &mut [PollFd<'_>], timeout: Duration) -> io::Result<usize> {
    poll_with(fds, Some(timeout))
}

fn poll_with(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    // A timeout too long for a timespec (hundreds of billions of years) is no limit at all.
    let limit = timeout.and_then(|t| Timespec::try_from(t).ok());
    // On Linux rustix's `poll` is `ppoll(2)`, which takes the timeout to the nanosecond.
    Ok(rustix::event::poll(fds, limit.as_ref())?)
}

/// Moves the calling thread to the real-time scheduling class (`SCHED_FIFO`) at the lowest
/// priority, 1: it then runs as soon as it wakes, ahead of every ordinary thread, instead of
/// waiting for a busy core's time slice to end. For a thread that sleeps almost all the time
/// (the relay's); the kernel's real-time throttling keeps it from taking a whole core even if it
/// did not. Fails with EPERM without CAP_SYS_NICE (or an RLIMIT_RTPRIO allowance).
pub fn set_realtime_priority() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: `param` is a live sched_param; pthread_self() is always a valid thread handle.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Whether `child` has ended, without reaping it (`waitid(WEXITED | WNOHANG | WNOWAIT)`):
/// until [`Child::wait`] reaps it, its process id (and so the id of the process group it
/// leads) cannot be given to another process, so its group can still be signalled safely.
pub fn has_exited(child: &Child) -> io::Result<bool> {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    // `None`: the child has not changed state (WNOHANG returned at once).
    Ok(rustix::process::waitid(WaitId::Pid(Pid::from_child(child)), options)?.is_some())
}

/// Sends SIGKILL to the process group that `child` leads (`kill(-pid, SIGKILL)`): the child
/// and every process it started that stayed in its group. For a child spawned with
/// `CommandExt::process_group(0)`; call it before reaping the child (see [`has_exited`]). A
/// group with no process left is not an error.
pub fn kill_process_group(child: &Child) -> io::Result<()> {
    // The group's id is its leader's, the child's: it exists while the child (not yet reaped)
    // or a member does.
    match rustix::process::kill_process_group(Pid::from_child(child), Signal::KILL) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A kernel socket found by sock_diag, which sees sockets the application has closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiagSocket {
    /// Its TCP state.
    pub state: TcpState,
    /// `write_seq - snd_una`: bytes (and FIN) sent or queued but not acknowledged.
    pub write_queue: u32,
}

/// A `NETLINK_SOCK_DIAG` socket for exact lookups of TCP sockets (IPv4 or IPv6) by address pair.
/// The messages are built and parsed by `netlink-packet-sock-diag`; the socket is rustix's.
#[derive(Debug)]
pub struct SockDiag {
    fd: OwnedFd,
    sequence: u32,
}

impl SockDiag {
    /// Opens the netlink socket.
    pub fn open() -> io::Result<SockDiag> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, netlink};
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            Some(netlink::SOCK_DIAG),
        )?;
        Ok(SockDiag { fd, sequence: 0 })
    }

    /// The TCP socket whose local address is `local` and remote address is `remote`, or `None`
    /// when the kernel has no such connection (a listener on `local` does not count).
    pub fn lookup(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> io::Result<Option<DiagSocket>> {
        use netlink_packet_core::{
            ErrorBuffer, NLM_F_REQUEST, NLMSG_ERROR, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
            Parseable,
        };
        use netlink_packet_sock_diag::inet::{
            ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags,
        };
        use netlink_packet_sock_diag::{SOCK_DIAG_BY_FAMILY, SockDiagMessage};

        let family = match (local, remote) {
            (SocketAddr::V4(_), SocketAddr::V4(_)) => libc::AF_INET,
            (SocketAddr::V6(_), SocketAddr::V6(_)) => libc::AF_INET6,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a sock_diag lookup needs both addresses of one family",
                ));
            }
        };
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST;
        header.sequence_number = self.sequence;
        let request = InetRequest {
            family: family as u8,
            protocol: libc::IPPROTO_TCP as u8,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id: SocketId {
                source_port: local.port(),
                destination_port: remote.port(),
                source_address: local.ip(),
                destination_address: remote.ip(),
                interface_id: 0,
                // INET_DIAG_NOCOOKIE: match by addresses, whatever the socket's cookie.
                cookie: [0xff; 8],
            },
        };
        let mut message = NetlinkMessage::new(header, SockDiagMessage::InetRequest(request).into());
        message.finalize();
        // A request is 72 bytes (a netlink header and an `inet_diag_req_v2`).
        let mut bytes = [0u8; 128];
        let bytes = bytes
            .get_mut(..message.buffer_len())
            .ok_or_else(|| io::Error::other("a sock_diag request longer than 128 bytes"))?;
        message.serialize(bytes);
        rustix::net::send(&self.fd, bytes, rustix::net::SendFlags::empty())?;
        let invalid = |e: netlink_packet_core::DecodeError| {
            io::Error::new(io::ErrorKind::InvalidData, e.to_string())
        };
        loop {
            let mut buffer = [0u8; 1024];
            let (received, _) =
                rustix::net::recv(&self.fd, &mut buffer[..], rustix::net::RecvFlags::empty())?;
            // Read in place: the answer's header and its fixed part are all the runner needs,
            // and parsing the whole message (its attributes into a vector) cost more than the
            // round trip through the kernel.
            let answer = NetlinkBuffer::new_checked(&buffer[..received]).map_err(invalid)?;
            if answer.sequence_number() != self.sequence {
                continue; // an answer to an earlier, abandoned request
            }
            return match answer.message_type() {
                NLMSG_ERROR => {
                    let error = ErrorBuffer::new_checked(answer.payload()).map_err(invalid)?;
                    match error.code().map_or(0, |c| -c.get()) {
                        0 | libc::ENOENT => Ok(None),
                        code => Err(io::Error::from_raw_os_error(code)),
                    }
                }
                SOCK_DIAG_BY_FAMILY => {
                    let response = InetResponseHeader::parse(answer.payload()).map_err(invalid)?;
                    let state = TcpState::from_linux(response.state);
                    // An exact lookup falls back to the listener when the connection is gone.
                    Ok(state
                        .filter(|s| *s != TcpState::Listen)
                        .map(|state| DiagSocket {
                            state,
                            write_queue: response.send_queue,
                        }))
                }
                other => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected sock_diag answer of type {other}"),
                )),
            };
        }
    }
}

/// Makes `command`'s child start with SIGINT at its default action (terminate), whatever this
/// process inherited: a shell that starts a job in the background without job control sets
/// SIGINT to `SIG_IGN`, children inherit it, and a test that interrupts its child must not
/// depend on how the test itself was started.
pub fn default_sigint_in_child(command: &mut Command) -> &mut Command {
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called: `signal(2)` is one, and building an
    // `io::Error` from errno allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::signal(libc::SIGINT, libc::SIG_DFL) == libc::SIG_ERR {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        })
    }
}

/// Sends SIGINT to `child`, as Ctrl-C in a terminal would.
pub fn interrupt(child: &Child) -> io::Result<()> {
    // A child that already ended (and was not reaped yet) takes no signal: kill(2) still
    // succeeds; one reaped is reported as ESRCH.
    Ok(rustix::process::kill_process(
        Pid::from_child(child),
        Signal::INT,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn tcp_info_reads_the_state_of_a_real_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(tcp_info(&client).unwrap().state, TcpState::Established);
        assert_eq!(tcp_info(&server).unwrap().state, TcpState::Established);
    }

    #[test]
    fn sock_diag_sees_a_closed_socket_and_not_a_missing_one() {
        sock_diag_on("127.0.0.1:0");
    }

    #[test]
    fn sock_diag_finds_ipv6_sockets_too() {
        sock_diag_on("[::1]:0");
        let (v4, v6): (SocketAddr, SocketAddr) =
            ("127.0.0.1:1".parse().unwrap(), "[::1]:2".parse().unwrap());
        let mixed = SockDiag::open().unwrap().lookup(v4, v6);
        assert_eq!(mixed.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    /// An orphan in FIN_WAIT2 is found after its fd is closed; a reset socket is not found.
    fn sock_diag_on(address: &str) {
        let listener = TcpListener::bind(address).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (local, remote) = (server.local_addr().unwrap(), server.peer_addr().unwrap());
        let mut diag = SockDiag::open().unwrap();
        let found = diag.lookup(local, remote).unwrap().unwrap();
        assert_eq!(found.state, TcpState::Established);
        let (c_local, c_remote) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
        drop(client);
        // The client's FIN is acknowledged at once on loopback: its orphan waits in FIN_WAIT2.
        let orphan = diag.lookup(c_local, c_remote).unwrap().unwrap();
        assert!(
            matches!(orphan.state, TcpState::FinWait1 | TcpState::FinWait2),
            "{:?}",
            orphan.state
        );
        socket2::SockRef::from(&server)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(server);
        assert_eq!(diag.lookup(local, remote).unwrap(), None);
    }
}
