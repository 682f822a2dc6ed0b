//! Network namespaces, TUN devices and the few interface and route settings the emulated link
//! needs, done from Rust (ioctls and one netlink message) so that no child process is ever
//! started: a fork in another thread would keep "closed" sockets alive until its exec.
//!
//! Namespaces (setns, unshare), sockets, reads and writes go through `rustix`; what stays by
//! hand is what no maintained crate offers: the TUN device's `TUNSETIFF` and the address
//! ioctls (`SIOCSIFADDR`, `SIOCSIFNETMASK`) on a `struct ifreq`, and the NETLINK_ROUTE
//! messages (a route; a device's flags and `gso_max_segs`), built byte by byte in safe code.
//!
//! Wrappers: [`effective_root`], [`enter_user_namespace`], [`Namespace::create`],
//! [`Namespace::current`], [`Namespace::enter`] (and the [`Entered`] guard that goes
//! back), [`open_tun`], [`set_ipv4`], [`set_up`], [`ifindex`], [`add_route`], [`set_gso_max_segs`], [`read_fd`],
//! [`write_fd`], and [`run_in_namespace`], which starts a child process inside a namespace
//! (`rstlab exec`).

use std::fs::OpenOptions;
use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// A network namespace, held by an open `/proc/thread-self/ns/net` file. The kernel destroys it
/// when the last file and the last socket in it are closed, so a crash or Ctrl-C cannot leak it,
/// and it never appears in `ip netns list` (nothing is mounted).
#[derive(Debug)]
pub struct Namespace {
    fd: OwnedFd,
}

fn current_namespace() -> io::Result<OwnedFd> {
    // std opens with O_CLOEXEC, as every descriptor rstlab holds.
    Ok(std::fs::File::open("/proc/thread-self/ns/net")?.into())
}

/// `setns(fd, CLONE_NEWNET)`: moves the calling thread (only) into the namespace.
fn setns(fd: &OwnedFd) -> io::Result<()> {
    Ok(rustix::thread::move_into_link_name_space(
        fd.as_fd(),
        Some(LinkNameSpaceType::Network),
    )?)
}

/// `unshare(flags)` for namespace flags only.
fn unshare_namespace(flags: UnshareFlags) -> io::Result<()> {
    // rustix makes `unshare` unsafe because of CLONE_FILES, after which fds seen by other
    // threads could be invalid in this one; the namespace flags passed here leave the fd table
    // alone.
    debug_assert!(!flags.intersects(UnshareFlags::FILES));
    // SAFETY: `flags` holds namespace flags only (callers pass NEWNET or NEWUSER), never
    // FILES, so every descriptor stays valid in every thread.
    Ok(unsafe { rustix::thread::unshare_unsafe(flags) }?)
}

impl Namespace {
    /// A new, empty network namespace (only `lo`, down). The calling thread stays where it was.
    /// Needs CAP_NET_ADMIN (or CAP_SYS_ADMIN in an owning user namespace).
    pub fn create() -> io::Result<Namespace> {
        let home = current_namespace()?;
        // unshare(CLONE_NEWNET) moves only the calling thread into a new namespace.
        unshare_namespace(UnshareFlags::NEWNET)?;
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
    rustix::process::geteuid().is_root()
}

/// Moves the whole process into a new user namespace in which it is root (its user and group
/// mapped to 0), and into a new network namespace owned by it with `lo` up, so that it holds
/// CAP_NET_ADMIN over every network namespace it uses from then on: the emulated link without
/// real root. (A thread could not go back to the host's namespace after entering one of the
/// link's: that takes CAP_SYS_ADMIN over the host's.) Loopback scenarios then run on this
/// namespace's own `lo`, with the kernel's default settings. Only a single-threaded process may
/// do this (the kernel refuses otherwise), so call it first thing in `main`.
pub fn enter_user_namespace() -> io::Result<()> {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    // The kernel checks the preconditions (a single-threaded process among them).
    unshare_namespace(UnshareFlags::NEWUSER)?;
    // setgroups must be denied before an unprivileged process may write gid_map.
    match std::fs::write("/proc/self/setgroups", "deny") {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    // The process is single-threaded, so this moves all of it.
    unshare_namespace(UnshareFlags::NEWNET)?;
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
    // async-signal-safe functions may be called: rustix's setns is the bare syscall (no
    // allocation, no lock), and an `io::Error` made from an errno code allocates nothing. The
    // fd it uses is owned by the closure, so it is open in the child.
    Ok(unsafe { command.pre_exec(move || setns(&fd)) })
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

/// A UDP socket, the handle interface ioctls are made on.
fn control_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Opens `/dev/net/tun` and attaches a new TUN device `name` (IFF_TUN | IFF_NO_PI: every read
/// and write is one bare IP packet), non-blocking. Call it inside the namespace the device
/// belongs to: the kernel creates it in the caller's.
pub fn open_tun(name: &str) -> io::Result<OwnedFd> {
    // std adds O_CLOEXEC.
    let fd: OwnedFd = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")?
        .into();
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    ioctl(&fd, libc::TUNSETIFF, &mut req)?;
    Ok(fd)
}

/// `ip` as a `struct sockaddr_in` (port 0) in the generic `struct sockaddr` the interface
/// ioctls take: after the family, `sa_data` holds the port (2 bytes) and then the address, both
/// in network byte order, as `sockaddr_in` lays them out.
fn sockaddr_in(ip: Ipv4Addr) -> libc::sockaddr {
    let mut data = [0 as libc::c_char; 14];
    for (dst, src) in data[2..6].iter_mut().zip(ip.octets()) {
        *dst = src as libc::c_char;
    }
    libc::sockaddr {
        sa_family: libc::AF_INET as libc::sa_family_t,
        sa_data: data,
    }
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

/// Brings interface `name` up (IFF_UP), in the calling thread's namespace: an RTM_NEWLINK
/// that changes that one flag, as `ip link set DEV up` sends.
pub fn set_up(name: &str) -> io::Result<()> {
    let up = libc::IFF_UP as u32;
    new_link(ifindex(name)?, up, up, &[])
}

/// Takes interface `name` down (clears IFF_UP), as `ip link set DEV down` does: the lane's
/// experiments silence a peer so (its routes go, its segments with them).
pub fn set_down(name: &str) -> io::Result<()> {
    new_link(ifindex(name)?, 0, libc::IFF_UP as u32, &[])
}

/// The index of interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    // SIOCGIFINDEX, by rustix.
    Ok(rustix::net::netdevice::name_to_index(
        control_socket()?,
        name,
    )?)
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

impl RtMsg {
    /// The struct as the kernel reads it: eight bytes, then `flags` in the machine's byte order
    /// (no padding: this is its `repr(C)` layout byte for byte).
    fn to_bytes(&self) -> [u8; mem::size_of::<RtMsg>()] {
        let mut out = [0; mem::size_of::<RtMsg>()];
        out[..8].copy_from_slice(&[
            self.family,
            self.dst_len,
            self.src_len,
            self.tos,
            self.table,
            self.protocol,
            self.scope,
            self.kind,
        ]);
        out[8..].copy_from_slice(&self.flags.to_ne_bytes());
        out
    }
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
    message.extend_from_slice(&rt.to_bytes());
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
    let mut attributes = Vec::new();
    push_attr(&mut attributes, IFLA_GSO_MAX_SEGS, &segments.to_ne_bytes());
    new_link(ifindex, 0, 0, &attributes)
}

/// An RTM_NEWLINK for an existing interface: the device flags in `change` take their values
/// from `flags`, and `attributes` (already encoded) are set.
fn new_link(ifindex: u32, flags: u32, change: u32, attributes: &[u8]) -> io::Result<()> {
    let header_len = mem::size_of::<libc::nlmsghdr>();
    let mut message = vec![0u8; header_len];
    // struct ifinfomsg: family, pad, type, index, flags, change.
    message.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    message.extend_from_slice(&0u16.to_ne_bytes());
    message.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    message.extend_from_slice(&flags.to_ne_bytes());
    message.extend_from_slice(&change.to_ne_bytes());
    message.extend_from_slice(attributes);
    route_request(message, libc::RTM_NEWLINK, 0)
}

/// Sends one NETLINK_ROUTE request (`message` starts with room for its header) and waits for the
/// kernel's acknowledgement.
fn route_request(mut message: Vec<u8>, kind: u16, flags: libc::c_int) -> io::Result<()> {
    let header_len = mem::size_of::<libc::nlmsghdr>();
    // struct nlmsghdr: length, type, flags, sequence number, port id (0: the kernel).
    let length = u32::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "netlink message too long"))?;
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK | flags) as u16;
    message[0..4].copy_from_slice(&length.to_ne_bytes());
    message[4..6].copy_from_slice(&kind.to_ne_bytes());
    message[6..8].copy_from_slice(&flags.to_ne_bytes());
    message[8..12].copy_from_slice(&1u32.to_ne_bytes());
    message[12..16].copy_from_slice(&0u32.to_ne_bytes());

    // `None` is NETLINK_ROUTE, protocol 0.
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )?;
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

/// `read(2)` into `buf`: one packet from a TUN device, one message from a netlink socket.
/// (rustix's `read` rather than `std::fs::File`, so that callers keep their `OwnedFd`.)
pub fn read_fd(fd: &impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    Ok(rustix::io::read(fd, buf)?)
}

/// `write(2)` of all of `buf` in one call (a TUN write is one packet).
pub fn write_fd(fd: &impl AsFd, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::io::write(fd, buf)?)
}
