//! Network namespaces, TUN devices and the few interface and route settings the emulated link
//! needs, done from Rust (ioctls and one netlink message) so that no child process is ever
//! started: a fork in another thread would keep "closed" sockets alive until its exec.
//!
//! Wrappers: [`effective_root`], [`enter_user_namespace`], [`Namespace::create`],
//! [`Namespace::current`], [`Namespace::enter`] (and the [`Entered`] guard that goes
//! back), [`open_tun`], [`set_ipv4`], [`set_up`], [`ifindex`], [`add_route`], [`set_gso_max_segs`], [`read_fd`],
//! [`write_fd`], and [`run_in_namespace`], which starts a child process inside a namespace
//! (`rstlab exec`).

use std::ffi::CString;
use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A network namespace, held by an open `/proc/thread-self/ns/net` file. The kernel destroys it
/// when the last file and the last socket in it are closed, so a crash or Ctrl-C cannot leak it,
/// and it never appears in `ip netns list` (nothing is mounted).
#[derive(Debug)]
pub struct Namespace {
    fd: OwnedFd,
}

fn current_namespace() -> io::Result<OwnedFd> {
    let path = CString::new("/proc/thread-self/ns/net").expect("no NUL");
    // SAFETY: `path` is a valid NUL-terminated string; the result is checked before use.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `open` just returned this fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setns(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: a plain syscall on an fd we own; it changes only the calling thread's namespace.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Namespace {
    /// A new, empty network namespace (only `lo`, down). The calling thread stays where it was.
    /// Needs CAP_NET_ADMIN (or CAP_SYS_ADMIN in an owning user namespace).
    pub fn create() -> io::Result<Namespace> {
        let home = current_namespace()?;
        // SAFETY: unshare(CLONE_NEWNET) moves only the calling thread into a new namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let created = current_namespace();
        // Go home whatever happened; a thread left in the new namespace would be a bug.
        setns(&home).expect("going back to the thread's own network namespace");
        Ok(Namespace { fd: created? })
    }

    /// The calling thread's network namespace.
    pub fn current() -> io::Result<Namespace> {
        Ok(Namespace {
            fd: current_namespace()?,
        })
    }

    /// Moves the calling thread into this namespace until the guard is dropped, when it goes to
    /// `home` (which must be the thread's namespace now: see [`Namespace::current`]). Sockets
    /// and devices created meanwhile belong to this namespace for good.
    pub fn enter<'h>(&self, home: &'h Namespace) -> io::Result<Entered<'h>> {
        setns(&self.fd)?;
        Ok(Entered { home })
    }
}

/// The calling thread is inside a [`Namespace`]; dropping this goes back.
#[derive(Debug)]
#[must_use = "the thread goes back to its namespace when this is dropped"]
pub struct Entered<'h> {
    home: &'h Namespace,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // Failing to go back would leave every later socket of this thread in the wrong place.
        setns(&self.home.fd).expect("going back to the thread's own network namespace");
    }
}

/// Whether the process runs with an effective user id of 0.
pub fn effective_root() -> bool {
    // SAFETY: geteuid takes no argument and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Moves the whole process into a new user namespace in which it is root (its user and group
/// mapped to 0), and into a new network namespace owned by it with `lo` up, so that it holds
/// CAP_NET_ADMIN over every network namespace it uses from then on: the emulated link without
/// real root. (A thread could not go back to the host's namespace after entering one of the
/// link's: that takes CAP_SYS_ADMIN over the host's.) Loopback scenarios then run on this
/// namespace's own `lo`, with the kernel's default settings. Only a single-threaded process may
/// do this (the kernel refuses otherwise), so call it first thing in `main`.
pub fn enter_user_namespace() -> io::Result<()> {
    // SAFETY: plain getters with no arguments.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // SAFETY: unshare(CLONE_NEWUSER) takes no pointer; the kernel checks the preconditions.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // setgroups must be denied before an unprivileged process may write gid_map.
    match std::fs::write("/proc/self/setgroups", "deny") {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    // SAFETY: as above; the process is single-threaded, so this moves all of it.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    set_up("lo")
}

/// Makes `command`'s process start inside `namespace`: between fork and exec the child calls
/// `setns(2)` on a duplicate of the namespace's descriptor, which the closure owns, so the
/// namespace stays valid however long `command` waits to be spawned. The duplicate is
/// close-on-exec, like every descriptor rstlab opens: the program inherits none of them.
///
/// Spawn the command before any socket the program must not hold is closed in another thread:
/// a fork holds a copy of every descriptor of the parent until its exec.
pub fn run_in_namespace<'a>(
    command: &'a mut Command,
    namespace: &Namespace,
) -> io::Result<&'a mut Command> {
    let fd = namespace.fd.try_clone()?;
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called: setns(2) is a plain syscall, and building an
    // `io::Error` from errno allocates nothing. The fd it uses is owned by the closure, so it
    // is open in the child.
    Ok(unsafe {
        command.pre_exec(move || {
            if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
    })
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: `ifreq` is plain old data for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    if name.len() >= req.ifr_name.len() || name.bytes().any(|b| b == 0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

fn ioctl(fd: &impl AsRawFd, request: libc::Ioctl, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request passed here reads or writes one `ifreq`, which `req` is.
    if unsafe { libc::ioctl(fd.as_raw_fd(), request, req as *mut libc::ifreq) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: a plain socket(2); the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `socket` just returned this fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens `/dev/net/tun` and attaches a new TUN device `name` (IFF_TUN | IFF_NO_PI: every read
/// and write is one bare IP packet), non-blocking. Call it inside the namespace the device
/// belongs to: the kernel creates it in the caller's.
pub fn open_tun(name: &str) -> io::Result<OwnedFd> {
    let path = CString::new("/dev/net/tun").expect("no NUL");
    let flags = libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: `path` is a valid NUL-terminated string; the result is checked.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `open` just returned this fd, and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    ioctl(&fd, libc::TUNSETIFF, &mut req)?;
    Ok(fd)
}

fn sockaddr_in(ip: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sockaddr_in` and `sockaddr` have the same size (16 bytes) and every bit
    // pattern of either is valid; this is the conversion the socket API itself expects.
    unsafe { mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Gives interface `name` the address `ip/prefix` (SIOCSIFADDR, SIOCSIFNETMASK), in the
/// calling thread's namespace.
pub fn set_ipv4(name: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
    let control = control_socket()?;
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_addr = sockaddr_in(ip);
    ioctl(&control, libc::SIOCSIFADDR as libc::Ioctl, &mut req)?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_netmask = sockaddr_in(Ipv4Addr::from(mask));
    ioctl(&control, libc::SIOCSIFNETMASK as libc::Ioctl, &mut req)
}

/// Brings interface `name` up (IFF_UP), in the calling thread's namespace.
pub fn set_up(name: &str) -> io::Result<()> {
    let control = control_socket()?;
    let mut req = ifreq(name)?;
    ioctl(&control, libc::SIOCGIFFLAGS as libc::Ioctl, &mut req)?;
    // SAFETY: SIOCGIFFLAGS just filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    ioctl(&control, libc::SIOCSIFFLAGS as libc::Ioctl, &mut req)
}

/// The index of interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let control = control_socket()?;
    let mut req = ifreq(name)?;
    ioctl(&control, libc::SIOCGIFINDEX as libc::Ioctl, &mut req)?;
    // SAFETY: SIOCGIFINDEX just filled the index member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_ifindex } as u32)
}

/// `struct rtmsg` (`include/uapi/linux/rtnetlink.h`).
#[repr(C)]
struct RtMsg {
    family: u8,
    dst_len: u8,
    src_len: u8,
    tos: u8,
    table: u8,
    protocol: u8,
    scope: u8,
    kind: u8,
    flags: u32,
}

const RTAX_LOCK: u16 = 1;
const RTAX_RTO_MIN: u16 = 13;
const RTAX_QUICKACK: u16 = 15;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;

/// Appends one netlink attribute (`struct rtattr` and its payload, padded to 4 bytes).
fn push_attr(message: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    message.extend_from_slice(&(len as u16).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(payload);
    message.resize(message.len().next_multiple_of(4), 0);
}

/// What kind of route [`add_route`] adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// `ip route add DEST/LEN dev DEV [quickack 1] [rto_min lock T]`: out of the device.
    Via(RouteMetrics),
    /// `ip route add local DEST/LEN dev DEV`: every address in the prefix is this host's
    /// ("AnyIP"), so a socket may bind to any of them.
    Local,
}

/// The metrics a [`RouteKind::Via`] route carries; they work on every kernel since 3.11, unlike
/// the sysctls that later kernels added for some of them (`tcp_rto_min_us`, 6.11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteMetrics {
    /// `quickack 1`: the receiver acknowledges every segment at once.
    pub quickack: bool,
    /// `rto_min lock T` (in whole milliseconds, as the kernel keeps it): the least
    /// retransmission timeout of every connection on the route. Locked, because
    /// `tcp_rto_min()` reads the route's value only when it is.
    pub rto_min: Option<std::time::Duration>,
}

/// Adds a route to `destination/prefix` on interface `ifindex`, in the calling thread's
/// namespace, and waits for the kernel's answer.
pub fn add_route(
    destination: Ipv4Addr,
    prefix: u8,
    ifindex: u32,
    kind: RouteKind,
) -> io::Result<()> {
    const RT_TABLE_LOCAL: u8 = 255;
    const RT_SCOPE_HOST: u8 = 254;
    const RTN_LOCAL: u8 = 2;
    let header_len = mem::size_of::<libc::nlmsghdr>();
    let mut message = vec![0u8; header_len];
    let (table, scope, route_type) = match kind {
        RouteKind::Via(_) => (RT_TABLE_MAIN, RT_SCOPE_LINK, RTN_UNICAST),
        RouteKind::Local => (RT_TABLE_LOCAL, RT_SCOPE_HOST, RTN_LOCAL),
    };
    let rt = RtMsg {
        family: libc::AF_INET as u8,
        dst_len: prefix,
        src_len: 0,
        tos: 0,
        table,
        protocol: RTPROT_STATIC,
        scope,
        kind: route_type,
        flags: 0,
    };
    // SAFETY: `RtMsg` is a repr(C) struct of integers with no padding; viewing it as bytes
    // for the length of the struct reads only initialised memory.
    let rt_bytes = unsafe {
        std::slice::from_raw_parts((&raw const rt).cast::<u8>(), mem::size_of::<RtMsg>())
    };
    message.extend_from_slice(rt_bytes);
    push_attr(&mut message, libc::RTA_DST, &destination.octets());
    push_attr(&mut message, libc::RTA_OIF, &ifindex.to_ne_bytes());
    if let RouteKind::Via(m) = kind {
        let mut metrics = Vec::new();
        if m.quickack {
            push_attr(&mut metrics, RTAX_QUICKACK, &1u32.to_ne_bytes());
        }
        if let Some(rto_min) = m.rto_min {
            let ms = u32::try_from(rto_min.as_millis()).unwrap_or(u32::MAX);
            push_attr(
                &mut metrics,
                RTAX_LOCK,
                &(1u32 << RTAX_RTO_MIN).to_ne_bytes(),
            );
            push_attr(&mut metrics, RTAX_RTO_MIN, &ms.to_ne_bytes());
        }
        if !metrics.is_empty() {
            push_attr(&mut message, libc::RTA_METRICS, &metrics);
        }
    }
    route_request(
        message,
        libc::RTM_NEWROUTE,
        libc::NLM_F_CREATE | libc::NLM_F_EXCL,
    )
}

/// Sets interface `ifindex`'s `gso_max_segs` (what `ip link set DEV gso_max_segs N` does): with
/// 1, TCP builds one segment per packet and never defers sending by its real-time TSO heuristic
/// (`tcp_tso_should_defer()`).
pub fn set_gso_max_segs(ifindex: u32, segments: u32) -> io::Result<()> {
    const IFLA_GSO_MAX_SEGS: u16 = 40;
    let header_len = mem::size_of::<libc::nlmsghdr>();
    let mut message = vec![0u8; header_len];
    // struct ifinfomsg: family, pad, type, index, flags, change.
    message.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    message.extend_from_slice(&0u16.to_ne_bytes());
    message.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    push_attr(&mut message, IFLA_GSO_MAX_SEGS, &segments.to_ne_bytes());
    route_request(message, libc::RTM_NEWLINK, 0)
}

/// Sends one NETLINK_ROUTE request (`message` starts with room for its header) and waits for the
/// kernel's acknowledgement.
fn route_request(mut message: Vec<u8>, kind: u16, flags: libc::c_int) -> io::Result<()> {
    let header_len = mem::size_of::<libc::nlmsghdr>();
    let header = libc::nlmsghdr {
        nlmsg_len: message.len() as u32,
        nlmsg_type: kind,
        nlmsg_flags: (libc::NLM_F_REQUEST | libc::NLM_F_ACK | flags) as u16,
        nlmsg_seq: 1,
        nlmsg_pid: 0,
    };
    // SAFETY: `nlmsghdr` is plain integers with no padding; viewing it as bytes for its size
    // reads only initialised memory.
    let header_bytes =
        unsafe { std::slice::from_raw_parts((&raw const header).cast::<u8>(), header_len) };
    message[..header_len].copy_from_slice(header_bytes);

    // SAFETY: a plain socket(2); the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `socket` just returned this fd, and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    write_fd(&fd, &message)?;
    let mut answer = [0u8; 512];
    let n = read_fd(&fd, &mut answer)?;
    // The answer is an NLMSG_ERROR whose error field (0 = success) follows the header.
    if n < header_len + 4 {
        return Err(io::Error::other("short netlink answer"));
    }
    let error = i32::from_ne_bytes(answer[header_len..header_len + 4].try_into().expect("4"));
    if error == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(-error))
    }
}

/// `read(2)` into `buf`.
pub fn read_fd(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live, writable slice and its exact length is passed.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `write(2)` of all of `buf` in one call (a TUN write is one packet).
pub fn write_fd(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live slice and its exact length is passed.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
