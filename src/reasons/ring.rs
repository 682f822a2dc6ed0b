//! `tcp/tcp_send_reset` read as perf samples from a ring per CPU ([`crate::sys::perf`]): no
//! syscall for a case without an RST, and no text for one with.
//!
//! A sample holds the event's raw fields. Where each field lies, and the name of each value of
//! `state` and `reason`, come from the running kernel's `format` file ([`Format`]), which is
//! also what the kernel prints with: the numbers of `enum sk_rst_reason` moved between releases.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::sys::perf::TraceRing;
use crate::tcp::TcpState;

/// Each CPU's ring: 1 MiB, some 9,000 events. A case's events are read right after it, and the
/// ring must hold every RST the host sends meanwhile.
const RING_BYTES: usize = 1 << 20;

/// The longest record a ring holds (a sample of `tcp_send_reset` takes 112 bytes): a ring with
/// less room than this left may have lost the next one.
const LONGEST_RECORD: usize = 256;

/// Where the fields of `tcp_send_reset` lie in a sample, and the names of its values, as the
/// event's `format` file gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    state: usize,
    reason: usize,
    saddr: usize,
    daddr: usize,
    /// `(value, name)` of `state`, from the print format's `__print_symbolic`.
    states: Vec<(i64, String)>,
    /// `(value, name)` of `reason`.
    reasons: Vec<(i64, String)>,
}

impl Format {
    /// Reads the `format` file's text; `None` when a field rstlab needs (the reason among them)
    /// is not there.
    pub fn parse(text: &str) -> Option<Format> {
        let offset = |name: &str| -> Option<usize> {
            text.lines().find_map(|line| {
                let line = line.trim();
                let decl = line.strip_prefix("field:")?.split(';').next()?;
                // `__u8 saddr[28]`, or `__u8 saddr[sizeof(struct sockaddr_in6)]` as older
                // kernels print it: the name is the last word before the brackets.
                let decl = decl.split('[').next()?;
                let field = decl.trim_end().rsplit(' ').next()?;
                (field == name).then_some(())?;
                let at = line.split("offset:").nth(1)?.split(';').next()?;
                at.trim().parse().ok()
            })
        };
        let print = text.lines().find(|l| l.starts_with("print fmt:"))?;
        Some(Format {
            state: offset("state")?,
            reason: offset("reason")?,
            saddr: offset("saddr")?,
            daddr: offset("daddr")?,
            states: symbols(print, "REC->state")?,
            reasons: symbols(print, "REC->reason")?,
        })
    }

    /// The event's addresses, state and reason, from a sample's raw data.
    fn decode(&self, raw: &[u8]) -> Option<(SocketAddr, SocketAddr, i32, i32)> {
        let int = |at: usize| -> Option<i32> {
            Some(i32::from_ne_bytes(raw.get(at..at + 4)?.try_into().ok()?))
        };
        Some((
            sockaddr(raw.get(self.saddr..)?)?,
            sockaddr(raw.get(self.daddr..)?)?,
            int(self.state)?,
            int(self.reason)?,
        ))
    }

    /// The name the kernel prints for a socket state (`REC->state ? __print_symbolic(...) :
    /// "UNKNOWN"`).
    pub fn state_name(&self, state: i32) -> &str {
        if state == 0 {
            return "UNKNOWN";
        }
        name(&self.states, state)
    }

    /// The name the kernel prints for a reason.
    pub fn reason_name(&self, reason: i32) -> &str {
        name(&self.reasons, reason)
    }
}

/// A value's name in a `__print_symbolic` table.
fn name(table: &[(i64, String)], value: i32) -> &str {
    table
        .iter()
        .find(|(v, _)| *v == i64::from(value))
        .map_or("UNKNOWN", |(_, n)| n.as_str())
}

/// Whether the event's `format` file has the `reason` field (6.10 on).
pub fn has_reason_field(format: &str) -> bool {
    format
        .lines()
        .any(|l| l.trim_start().starts_with("field:") && l.contains(" reason;"))
}

/// The `{ value, "NAME" }` pairs of `__print_symbolic(field, ...)` in the print format. A value
/// is a number, or (for `state`, on kernels that print the enum's names) a TCP state's name,
/// whose number is the kernel's ABI (`include/net/tcp_states.h`, the `ss` numbers).
fn symbols(print: &str, field: &str) -> Option<Vec<(i64, String)>> {
    let start = print.find(&format!("__print_symbolic({field},"))?;
    let mut rest = &print[start..];
    let mut pairs = Vec::new();
    // Each pair is `{ KEY, "NAME" }`; the list ends at the first `)` outside a pair.
    loop {
        let open = rest.find('{')?;
        if rest[..open].contains(')') {
            break;
        }
        let close = open + rest[open..].find('}')?;
        let pair = &rest[open + 1..close];
        rest = &rest[close + 1..];
        let (key, name) = pair.split_once(',')?;
        let (key, name) = (key.trim(), name.trim().trim_matches('"'));
        let value = key.parse::<i64>().ok().or_else(|| {
            (1..=12u8)
                .find(|&n| {
                    TcpState::from_linux(n).map_or(n == 12 && key == "TCP_NEW_SYN_RECV", |s| {
                        key.strip_prefix("TCP_") == Some(s.name())
                    })
                })
                .map(i64::from)
        });
        if let Some(value) = value {
            pairs.push((value, name.to_string()));
        }
        if !rest.trim_start().starts_with(',') {
            break;
        }
    }
    (!pairs.is_empty()).then_some(pairs)
}

/// A `struct sockaddr_in` or `sockaddr_in6` as the tracepoint stores it (family in the host's
/// order, port and address in the network's).
fn sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    let ip = match i32::from(family) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(4..8)?).ok()?)),
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(8..24)?).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// One record of a ring: an event, or a count of events the kernel dropped because the ring
/// was full.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// An RST: when (CLOCK_MONOTONIC, ns), from, to, the socket's state and the reason.
    Reset {
        /// When it was sent.
        at_ns: u128,
        /// The segment's source.
        src: SocketAddr,
        /// Its destination (`0.0.0.0:0` from a listening socket).
        dst: SocketAddr,
        /// The socket's state ([`Format::state_name`]).
        state: i32,
        /// The kernel's reason ([`Format::reason_name`]).
        reason: i32,
    },
    /// Events lost.
    Lost(u64),
}

/// The rings of every online CPU, and the format to read their samples with.
#[derive(Debug)]
pub struct Rings {
    rings: Vec<TraceRing>,
    format: Format,
    /// Each ring's records since the last reading, kept from call to call for their room.
    bytes: Vec<u8>,
}

impl Rings {
    /// Records tracepoint `id` on every online CPU.
    pub fn open(id: u64, format: Format) -> std::io::Result<Rings> {
        let rings = online_cpus()?
            .into_iter()
            .map(|cpu| TraceRing::open(id, cpu, pages()))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Rings {
            rings,
            format,
            bytes: Vec::new(),
        })
    }

    /// How many rings record (one per online CPU).
    pub fn count(&self) -> usize {
        self.rings.len()
    }

    /// The format the samples are read with, which names their values.
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// Hands `each` the records written since the last call, ring by ring, each ring's in the
    /// order written.
    ///
    /// A ring found too full for another record counts as having lost one after its last:
    /// the kernel drops what does not fit and writes its `PERF_RECORD_LOST` only when a record
    /// fits again, after this reading, and what it dropped may be the connection's.
    pub fn read(&mut self, mut each: impl FnMut(usize, Record)) {
        for (cpu, ring) in self.rings.iter_mut().enumerate() {
            self.bytes.clear();
            let used = ring.drain(&mut self.bytes);
            records(&self.bytes, &self.format, |r| each(cpu, r));
            if used + LONGEST_RECORD > ring.size() {
                each(cpu, Record::Lost(1));
            }
        }
    }
}

/// The records in `bytes`: `perf_event_header` (type u32, misc u16, size u16) and a body;
/// a sample's body is its time (u64, ns) and its raw data (u32 size, then the fields); a lost
/// record's, an id (u64) and the count (u64). Other records are skipped.
fn records(bytes: &[u8], format: &Format, mut each: impl FnMut(Record)) {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let u64_at = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let mut rest = bytes;
    while rest.len() >= 8 {
        let kind = u32_at(rest, 0).unwrap_or(0);
        let size = usize::from(u16::from_ne_bytes([rest[6], rest[7]]));
        if size < 8 || size > rest.len() {
            break;
        }
        let record = &rest[..size];
        rest = &rest[size..];
        match kind {
            perf_event_open_sys::bindings::PERF_RECORD_SAMPLE => {
                let (Some(ns), Some(raw_len)) = (u64_at(record, 8), u32_at(record, 16)) else {
                    continue;
                };
                let Some(raw) = record.get(20..20 + raw_len as usize) else {
                    continue;
                };
                match format.decode(raw) {
                    Some((src, dst, state, reason)) => each(Record::Reset {
                        at_ns: u128::from(ns),
                        src,
                        dst,
                        state,
                        reason,
                    }),
                    // An RST rstlab cannot read (an address family it does not know) may be
                    // the connection's: counted as lost, never dropped unseen.
                    None => each(Record::Lost(1)),
                }
            }
            perf_event_open_sys::bindings::PERF_RECORD_LOST => {
                each(Record::Lost(u64_at(record, 16).unwrap_or(1).max(1)));
            }
            _ => {}
        }
    }
}

/// The pages of [`RING_BYTES`], a power of two whatever the page size.
fn pages() -> usize {
    (RING_BYTES / rustix::param::page_size()).next_power_of_two()
}

/// The CPUs online now (`/sys/devices/system/cpu/online`: `0-3,5`).
fn online_cpus() -> std::io::Result<Vec<u32>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    let bad = || std::io::Error::other(format!("reading the online CPUs from {text:?}"));
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        cpus.extend(a..=b);
    }
    if cpus.is_empty() {
        return Err(bad());
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's format file of 6.18, as it reads (the list of reasons shortened).
    const FORMAT: &str = "name: tcp_send_reset\nID: 2280\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:const void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n\
        \tfield:const void * skaddr;\toffset:16;\tsize:8;\tsigned:0;\n\
        \tfield:int state;\toffset:24;\tsize:4;\tsigned:1;\n\
        \tfield:enum sk_rst_reason reason;\toffset:28;\tsize:4;\tsigned:0;\n\
        \tfield:__u8 saddr[28];\toffset:32;\tsize:28;\tsigned:0;\n\
        \tfield:__u8 daddr[28];\toffset:60;\tsize:28;\tsigned:0;\n\n\
        print fmt: \"skbaddr=%p skaddr=%p src=%pISpc dest=%pISpc state=%s reason=%s\", \
        REC->skbaddr, REC->skaddr, REC->saddr, REC->daddr, REC->state ? \
        __print_symbolic(REC->state, { TCP_ESTABLISHED, \"TCP_ESTABLISHED\" }, \
        { TCP_CLOSE, \"TCP_CLOSE\" }, { TCP_NEW_SYN_RECV, \"TCP_NEW_SYN_RECV\" }) : \"UNKNOWN\", \
        __print_symbolic(REC->reason, { 0, \"NOT_SPECIFIED\" }, { 1, \"NO_SOCKET\" }, \
        { 11, \"TCP_ABORT_ON_CLOSE\" }, { 25, \"MAX\" })\n";

    fn sample(state: i32, reason: i32, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
        let mut raw = vec![0u8; 88];
        raw[24..28].copy_from_slice(&state.to_ne_bytes());
        raw[28..32].copy_from_slice(&reason.to_ne_bytes());
        for (at, addr) in [(32, src), (60, dst)] {
            match addr {
                SocketAddr::V4(a) => {
                    raw[at..at + 2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
                    raw[at + 2..at + 4].copy_from_slice(&a.port().to_be_bytes());
                    raw[at + 4..at + 8].copy_from_slice(&a.ip().octets());
                }
                SocketAddr::V6(a) => {
                    raw[at..at + 2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
                    raw[at + 2..at + 4].copy_from_slice(&a.port().to_be_bytes());
                    raw[at + 8..at + 24].copy_from_slice(&a.ip().octets());
                }
            }
        }
        let mut record = Vec::new();
        let size = 8 + 8 + 4 + raw.len() + 4;
        record.extend_from_slice(&perf_event_open_sys::bindings::PERF_RECORD_SAMPLE.to_ne_bytes());
        record.extend_from_slice(&0u16.to_ne_bytes());
        record.extend_from_slice(&(size as u16).to_ne_bytes());
        record.extend_from_slice(&4_893_594_122_000u64.to_ne_bytes());
        record.extend_from_slice(&(raw.len() as u32 + 4).to_ne_bytes());
        record.extend_from_slice(&raw);
        record.extend_from_slice(&[0; 4]);
        record
    }

    #[test]
    fn the_format_file_gives_the_fields_and_the_names_of_their_values() {
        let f = Format::parse(FORMAT).unwrap();
        assert_eq!((f.state, f.reason, f.saddr, f.daddr), (24, 28, 32, 60));
        assert_eq!(
            f.states,
            [
                (1, "TCP_ESTABLISHED".into()),
                (7, "TCP_CLOSE".into()),
                (12, "TCP_NEW_SYN_RECV".into())
            ]
        );
        assert_eq!(f.reasons[2], (11, "TCP_ABORT_ON_CLOSE".to_string()));
        // Before 6.10 there is no reason: nothing to read.
        assert_eq!(Format::parse(&FORMAT.replace(" reason;", " other;")), None);
        // Array lengths as older kernels print them.
        let sized = FORMAT.replace("saddr[28]", "saddr[sizeof(struct sockaddr_in6)]");
        assert_eq!(Format::parse(&sized), Some(f));
    }

    #[test]
    fn the_reason_field_is_found_in_the_format_file() {
        assert!(has_reason_field(FORMAT));
        let without = "\tfield:int state;\toffset:24;\tsize:4;\tsigned:1;\n\
                       print fmt: \"state=%s\", __print_symbolic(REC->state, { 1, \"reason\" })";
        assert!(!has_reason_field(without));
    }

    #[test]
    fn a_sample_gives_the_addresses_the_state_and_the_reason() {
        let f = Format::parse(FORMAT).unwrap();
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.1:52321".parse().unwrap(),
            "127.1.1.1:53384".parse().unwrap(),
        );
        let mut bytes = sample(7, 11, a, b);
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        bytes.extend(sample(0, 1, v6, "[::]:0".parse().unwrap()));
        let lost = [
            &perf_event_open_sys::bindings::PERF_RECORD_LOST.to_ne_bytes()[..],
            &0u16.to_ne_bytes(),
            &24u16.to_ne_bytes(),
            &7u64.to_ne_bytes(),
            &12u64.to_ne_bytes(),
        ]
        .concat();
        bytes.extend(lost);
        let mut seen = Vec::new();
        records(&bytes, &f, |r| seen.push(r));
        assert_eq!(
            seen,
            [
                Record::Reset {
                    at_ns: 4_893_594_122_000,
                    src: a,
                    dst: b,
                    state: 7,
                    reason: 11
                },
                Record::Reset {
                    at_ns: 4_893_594_122_000,
                    src: v6,
                    dst: "[::]:0".parse().unwrap(),
                    state: 0,
                    reason: 1
                },
                Record::Lost(12),
            ]
        );
        assert_eq!(
            (f.state_name(7), f.reason_name(11)),
            ("TCP_CLOSE", "TCP_ABORT_ON_CLOSE")
        );
        assert_eq!(
            (f.state_name(0), f.reason_name(1)),
            ("UNKNOWN", "NO_SOCKET")
        );
    }
}
