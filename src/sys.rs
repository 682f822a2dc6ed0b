//! The crate's only unsafe code, behind safe wrappers. `lib.rs` denies `unsafe_code` everywhere
//! else, so the compiler holds every other module to safe Rust.
//!
//! socket2 has no `TCP_INFO`, and nothing in std or socket2 can look at a socket the application
//! has already closed; the runner needs both to know when a connection is quiescent. The rest
//! are single syscalls that std does not offer.
//!
//! The wrappers, each sound whatever its (safe) arguments:
//!
//! - Sockets: [`tcp_info`] (`getsockopt(TCP_INFO)`, as [`TcpInfo`]),
//!   [`set_bind_address_no_port`] (`IP_BIND_ADDRESS_NO_PORT`), [`close`] (`close(2)` with its
//!   result), [`plain_write`] (`write(2)` without `MSG_NOSIGNAL`), [`poll`] (`poll(2)`, for the
//!   `poll` step), and [`SockDiag`] (`NETLINK_SOCK_DIAG` lookups by address pair, IPv4 or IPv6,
//!   as [`DiagSocket`]).
//! - Bytes: [`read_struct`], which copies a [`Pod`] value out of a byte buffer; [`Pod`] is the
//!   one unsafe trait, implemented only for types any bit pattern is a valid value of.
//! - Signals: [`ignore_sigpipe`], [`sigpipe_disposition`] (as [`SigpipeDisposition`]),
//!   [`restore_default_sigpipe`], [`default_sigint_in_child`] (for a child started from a
//!   shell that ignores SIGINT) and [`interrupt`] (`kill(pid, SIGINT)`).
//! - Time and the process: [`clock_ticks_per_second`] (`sysconf(_SC_CLK_TCK)`),
//!   [`own_cpu_time`] (`getrusage`), [`timer_slack`] and [`set_timer_slack`]
//!   (`prctl(PR_{GET,SET}_TIMERSLACK)`), [`poll`] (`poll(2)`), [`poll_for`] (`ppoll(2)`).
//! - Scheduling: [`set_realtime_priority`] (`SCHED_FIFO`, priority 1).
//! - Child processes: [`has_exited`] (`waitid` without reaping) and [`kill_process_group`]
//!   (`kill(-pid, SIGKILL)`), for `rstlab exec`, whose command may start processes of its own.
//! - The emulated link, in the submodule [`net`]: network namespaces, TUN devices, interface
//!   and route settings (ioctls and netlink), and plain reads and writes of a device's fd.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use crate::tcp::TcpState;

pub mod net;

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

/// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)`.
pub fn tcp_info(socket: &impl AsRawFd) -> io::Result<TcpInfo> {
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

/// `setsockopt(IP_BIND_ADDRESS_NO_PORT, 1)`: a `bind` to port 0 leaves the port to `connect`,
/// which picks it knowing the whole address pair (so one source address serves many peers).
pub fn set_bind_address_no_port(socket: &impl AsRawFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: the option value is a live `c_int` and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const one).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `sysconf(_SC_CLK_TCK)`: the unit of the tick counts in `/proc/stat`.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes no pointer and has no precondition.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks.max(1) as u64
}

/// This process's CPU time so far, user and system (`getrusage(RUSAGE_SELF)`).
pub fn own_cpu_time() -> std::time::Duration {
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { mem::zeroed() };
    // SAFETY: RUSAGE_SELF is valid and `usage` is a live, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |tv: libc::timeval| {
        std::time::Duration::new(tv.tv_sec.max(0) as u64, (tv.tv_usec.max(0) as u32) * 1000)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
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
    // SAFETY: PR_GET_TIMERSLACK takes no pointer; the result is the value or -1.
    let rc = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as u64)
    }
}

/// Sets the calling thread's timer slack (`prctl(PR_SET_TIMERSLACK)`); 0 restores the
/// thread's default.
pub fn set_timer_slack(nanoseconds: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and no pointer.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            nanoseconds as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
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
pub fn plain_write(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live slice and its exact length is passed; a bad fd is an error.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `poll(2)` on `fds` for at most `timeout_ms` milliseconds; returns how many have events.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a live, writable slice of pollfd and its exact length is passed.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `ppoll(2)` on `fds` for at most `timeout` (to the nanosecond, where `poll(2)` counts whole
/// milliseconds); returns how many have events. For waits that must end on time, such as the
/// real-time relay's wait for the next segment due.
pub fn poll_for(fds: &mut [libc::pollfd], timeout: std::time::Duration) -> io::Result<usize> {
    let limit = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is a live, writable slice of pollfd and its exact length is passed;
    // `limit` is a live timespec; a null signal mask leaves the mask alone.
    let n = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &raw const limit,
            std::ptr::null(),
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
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
    let pid = libc::id_t::from(child.id());
    // SAFETY: `siginfo_t` is plain old data for which all-zero bytes are a valid value.
    let mut info: libc::siginfo_t = unsafe { mem::zeroed() };
    // SAFETY: `info` is a live, writable siginfo_t; P_PID with the child's id waits for that
    // child only, and WNOHANG makes the call return at once.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid filled `info` (or left it zeroed when nothing changed); si_pid reads a
    // field that is valid for the SIGCHLD information waitid reports.
    Ok(unsafe { info.si_pid() } != 0)
}

/// Sends SIGKILL to the process group that `child` leads (`kill(-pid, SIGKILL)`): the child
/// and every process it started that stayed in its group. For a child spawned with
/// `CommandExt::process_group(0)`; call it before reaping the child (see [`has_exited`]). A
/// group with no process left is not an error.
pub fn kill_process_group(child: &Child) -> io::Result<()> {
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "process id out of range"))?;
    // SAFETY: kill(2) takes no pointer. A negative pid names the process group with that id,
    // which exists only while the child (its leader, not yet reaped) or a member does.
    if unsafe { libc::kill(-pid, libc::SIGKILL) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(e)
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
#[derive(Debug)]
pub struct SockDiag {
    fd: OwnedFd,
    sequence: u32,
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_NOCOOKIE: u32 = !0;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct NlMsgHdr {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct InetDiagSockId {
    sport: [u8; 2],
    dport: [u8; 2],
    src: [[u8; 4]; 4],
    dst: [[u8; 4]; 4],
    interface: u32,
    cookie: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct InetDiagReqV2 {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: InetDiagSockId,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Request {
    header: NlMsgHdr,
    body: InetDiagReqV2,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct InetDiagMsg {
    family: u8,
    state: u8,
    timer: u8,
    retrans: u8,
    id: InetDiagSockId,
    expires: u32,
    rqueue: u32,
    wqueue: u32,
    uid: u32,
    inode: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct NlMsgErr {
    error: i32,
    original: NlMsgHdr,
}

/// A receive buffer aligned for the headers read out of it.
#[repr(C, align(8))]
struct Buffer([u8; 1024]);

impl SockDiag {
    /// Opens the netlink socket.
    pub fn open() -> io::Result<SockDiag> {
        // SAFETY: socket(2) takes no pointers; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(SockDiag { fd, sequence: 0 })
    }

    /// The TCP socket whose local address is `local` and remote address is `remote`, or `None`
    /// when the kernel has no such connection (a listener on `local` does not count).
    pub fn lookup(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> io::Result<Option<DiagSocket>> {
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
        let request = Request {
            header: NlMsgHdr {
                len: mem::size_of::<Request>() as u32,
                kind: SOCK_DIAG_BY_FAMILY,
                flags: libc::NLM_F_REQUEST as u16,
                seq: self.sequence,
                pid: 0,
            },
            body: InetDiagReqV2 {
                family: family as u8,
                protocol: libc::IPPROTO_TCP as u8,
                states: !0,
                id: socket_id(local, remote),
                ..Default::default()
            },
        };
        // SAFETY: `request` is a live, fully initialised repr(C) value and the length passed is
        // its size; the kernel only reads it.
        let sent = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                (&raw const request).cast(),
                mem::size_of::<Request>(),
                0,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            let mut buffer = Buffer([0; 1024]);
            // SAFETY: the kernel writes at most `buffer.0.len()` bytes into memory we own.
            let received = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buffer.0.as_mut_ptr().cast(),
                    buffer.0.len(),
                    0,
                )
            };
            if received < 0 {
                return Err(io::Error::last_os_error());
            }
            let bytes = &buffer.0[..received as usize];
            let header: NlMsgHdr = read_struct(bytes, 0)?;
            if header.seq != self.sequence {
                continue; // an answer to an earlier, abandoned request
            }
            let body = mem::size_of::<NlMsgHdr>();
            return match header.kind as i32 {
                libc::NLMSG_ERROR => {
                    let error: NlMsgErr = read_struct(bytes, body)?;
                    match -error.error {
                        0 | libc::ENOENT => Ok(None),
                        code => Err(io::Error::from_raw_os_error(code)),
                    }
                }
                _ => {
                    let message: InetDiagMsg = read_struct(bytes, body)?;
                    let state = TcpState::from_linux(message.state);
                    // An exact lookup falls back to the listener when the connection is gone.
                    Ok(state
                        .filter(|s| *s != TcpState::Listen)
                        .map(|state| DiagSocket {
                            state,
                            write_queue: message.wqueue,
                        }))
                }
            };
        }
    }
}

fn socket_id(local: SocketAddr, remote: SocketAddr) -> InetDiagSockId {
    let mut id = InetDiagSockId {
        sport: local.port().to_be_bytes(),
        dport: remote.port().to_be_bytes(),
        cookie: [INET_DIAG_NOCOOKIE; 2],
        ..Default::default()
    };
    id.src = address_words(local);
    id.dst = address_words(remote);
    id
}

/// An address as `inet_diag_sockid` holds it: IPv4 in the first word, IPv6 in all four.
fn address_words(address: SocketAddr) -> [[u8; 4]; 4] {
    let mut words = [[0; 4]; 4];
    match address {
        SocketAddr::V4(a) => words[0] = a.ip().octets(),
        SocketAddr::V6(a) => {
            for (word, chunk) in words.iter_mut().zip(a.ip().octets().chunks_exact(4)) {
                word.copy_from_slice(chunk);
            }
        }
    }
    words
}

/// Plain old data: a type for which every bit pattern of `size_of::<Self>()` bytes is a valid
/// value (integers, and arrays and `repr(C)` structs made only of them), so that
/// [`read_struct`] may fill one from any bytes.
///
/// # Safety
///
/// Implement it only for such types: `bool`, `char`, enums, references and pointers with
/// validity requirements are not plain old data, and reading one from arbitrary bytes would be
/// undefined behaviour.
pub unsafe trait Pod: Copy {}

// SAFETY: every bit pattern is a valid integer.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: as above.
unsafe impl Pod for i32 {}
// SAFETY: an array of plain old data is plain old data (no padding between elements).
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}
// SAFETY: the netlink structs below are `repr(C)` and made only of the integers and arrays of
// integers above; their padding bytes, if any, may hold anything.
unsafe impl Pod for NlMsgHdr {}
// SAFETY: as above.
unsafe impl Pod for InetDiagSockId {}
// SAFETY: as above.
unsafe impl Pod for InetDiagMsg {}
// SAFETY: as above.
unsafe impl Pod for NlMsgErr {}

/// Copies a `T` out of `bytes` at `offset` (any alignment), or fails when `bytes` is too short.
///
/// ```
/// use rstlab::sys::read_struct;
/// let word: u32 = read_struct(&[9, 1, 0, 0, 0], 1).unwrap();
/// assert_eq!(word, u32::from_ne_bytes([1, 0, 0, 0]));
/// assert!(read_struct::<u32>(&[0, 1], 0).is_err());
/// ```
///
/// Only plain old data can be read: a `bool` (valid only as 0 or 1) is refused at compile time.
///
/// ```compile_fail
/// let flag: bool = rstlab::sys::read_struct(&[2], 0).unwrap();
/// ```
pub fn read_struct<T: Pod>(bytes: &[u8], offset: usize) -> io::Result<T> {
    let in_bounds = offset
        .checked_add(mem::size_of::<T>())
        .is_some_and(|end| end <= bytes.len());
    if !in_bounds {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "short netlink message",
        ));
    }
    // SAFETY: `offset + size_of::<T>()` bytes lie inside `bytes` (checked above, without
    // overflow); `read_unaligned` needs no alignment; `T: Pod` makes any bit pattern a valid `T`.
    Ok(unsafe { bytes.as_ptr().add(offset).cast::<T>().read_unaligned() })
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
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "process id out of range"))?;
    // SAFETY: kill(2) takes no pointer; a process that already ended is reported as ESRCH.
    if unsafe { libc::kill(pid, libc::SIGINT) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn read_struct_refuses_short_buffers_and_offsets_past_the_end() {
        assert_eq!(read_struct::<[u8; 2]>(&[1, 2, 3], 1).unwrap(), [2, 3]);
        assert!(read_struct::<[u8; 2]>(&[1, 2, 3], 2).is_err());
        // An offset so large that `offset + size` overflows is an error, not a panic.
        assert!(read_struct::<u32>(&[0; 8], usize::MAX - 1).is_err());
    }

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
