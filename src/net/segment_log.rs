//! What crossed the link: one log of TCP segments, kept the same way by the runner's link
//! (virtual time, [`crate::net::link`]) and by the real-time relay ([`crate::net::relay`]), and, when
//! asked, the packets themselves with the step that sent each, for a capture
//! ([`crate::net::pcap`]).
//!
//! A packet read from a TUN device is parsed ([`parse`]); if it belongs to a connection the log
//! follows, it gets a ticket, which travels with it on the [`crate::net::wire::Wire`] so that its
//! fate (delivered or dropped, and when) is written back when the wire lets it go. Sequence and
//! acknowledgement numbers are kept relative to each side's SYN, as tcpdump shows them.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::net::wire::Fate;
use crate::scenario::End;

/// TCP flags of a segment on the wire, printed as tcpdump prints them (`S`, `F`, `R`, `P`, `.`
/// for ACK).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;

    /// Whether every flag in `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

impl std::fmt::Display for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (bit, c) in [
            (Flags::SYN, 'S'),
            (Flags::FIN, 'F'),
            (Flags::RST, 'R'),
            (Flags::PSH, 'P'),
            (Flags::ACK, '.'),
        ] {
            if self.has(bit) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One segment that crossed (or tried to cross) the link: the wire trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireSegment {
    /// Link time it entered the wire (virtual for the runner, real for the relay).
    pub sent: Duration,
    /// Its sender.
    pub from: End,
    /// Its flags.
    pub flags: Flags,
    /// Sequence number, relative to the sender's initial sequence number.
    pub seq: u32,
    /// Acknowledgement number, relative to the receiver's initial sequence number (0 without
    /// ACK).
    pub ack: u32,
    /// Payload bytes.
    pub len: usize,
    /// What became of it.
    pub fate: Fate,
}

impl WireSegment {
    /// A pure ACK: no payload, no SYN, FIN or RST.
    pub fn is_pure_ack(&self) -> bool {
        self.len == 0
            && !self.flags.has(Flags::SYN)
            && !self.flags.has(Flags::FIN)
            && !self.flags.has(Flags::RST)
    }
}

/// One recorded TCP segment, with the connection it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TracedSegment {
    /// 1-based, in the order the connections' first segments were seen.
    pub connection: usize,
    /// The segment.
    #[serde(flatten)]
    pub segment: WireSegment,
}

/// A packet kept for a capture: the whole IPv4 packet as it left its sender's device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Link time it entered the wire.
    pub sent: Duration,
    /// Its sender.
    pub from: End,
    /// 1-based connection number, as in [`TracedSegment`].
    pub connection: usize,
    /// The IPv4 packet.
    pub bytes: Vec<u8>,
    /// What was happening when it was sent: the step that sent it, or the handshake.
    pub note: Arc<str>,
    /// What became of it.
    pub fate: Fate,
}

/// The fields of an IPv4/TCP packet the log looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) src: SocketAddrV4,
    pub(crate) dst: SocketAddrV4,
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    pub(crate) flags: Flags,
    pub(crate) len: usize,
}

/// The TCP header of an IPv4 packet; `None` for anything else or anything cut short.
pub(crate) fn parse(packet: &[u8]) -> Option<Header> {
    let be16 = |at: usize| Some(u16::from_be_bytes(packet.get(at..at + 2)?.try_into().ok()?));
    let be32 = |at: usize| Some(u32::from_be_bytes(packet.get(at..at + 4)?.try_into().ok()?));
    let first = *packet.first()?;
    if first >> 4 != 4 || *packet.get(9)? != libc::IPPROTO_TCP as u8 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    let total = usize::from(be16(2)?);
    let ip = |at: usize| Some(Ipv4Addr::from(be32(at)?));
    let offset = usize::from(*packet.get(ihl + 12)? >> 4) * 4;
    Some(Header {
        src: SocketAddrV4::new(ip(12)?, be16(ihl)?),
        dst: SocketAddrV4::new(ip(16)?, be16(ihl + 2)?),
        seq: be32(ihl + 4)?,
        ack: be32(ihl + 8)?,
        flags: Flags(*packet.get(ihl + 13)?),
        len: total.checked_sub(ihl + offset)?,
    })
}

/// Whether an IPv4 packet is a TCP segment with RST set.
pub(crate) fn is_rst(packet: &[u8]) -> bool {
    parse(packet).is_some_and(|h| h.flags.has(Flags::RST))
}

/// A connection the log follows: its two addresses and the initial sequence numbers seen in
/// its SYNs.
#[derive(Clone, Copy, Debug)]
struct Connection {
    client: SocketAddrV4,
    server: SocketAddrV4,
    isn: [Option<u32>; 2],
}

/// Which connections the log follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Only the one named by [`SegmentLog::watch`] (the runner's link: one scenario's
    /// connection at a time).
    Watched,
    /// Every connection, in the order first seen, up to this many (the relay: whatever the
    /// program opens).
    Any(usize),
}

/// The log; see the [module](self).
#[derive(Debug)]
pub struct SegmentLog {
    follow: Follow,
    connections: Vec<Connection>,
    /// Tickets are positions since the log was made: `segments[t - taken]`.
    segments: Vec<WireSegment>,
    /// The connection number of each of `segments` (the runner's link takes the segments
    /// alone, once per scenario, without copying them).
    connections_of: Vec<usize>,
    taken: usize,
    max_segments: usize,
    /// Kept only while capturing: `packets[t - captured]`.
    packets: Option<Vec<Packet>>,
    captured: usize,
    note: Arc<str>,
    /// Segments of followed connections not recorded, past the limits.
    unrecorded: usize,
}

impl SegmentLog {
    /// An empty log that follows `follow` and records at most `max_segments` segments.
    pub fn new(follow: Follow, max_segments: usize) -> SegmentLog {
        SegmentLog {
            follow,
            connections: Vec::new(),
            segments: Vec::new(),
            connections_of: Vec::new(),
            taken: 0,
            max_segments,
            packets: None,
            captured: 0,
            note: Arc::from(""),
            unrecorded: 0,
        }
    }

    /// Follows the connection between `client` and `server` from now on, and no other
    /// ([`Follow::Watched`]).
    pub fn watch(&mut self, client: SocketAddrV4, server: SocketAddrV4) {
        self.connections.clear();
        self.connections.push(Connection {
            client,
            server,
            isn: [None, None],
        });
    }

    /// Stops following any connection.
    pub fn unwatch(&mut self) {
        self.connections.clear();
    }

    /// Keeps every recorded packet from now on, for a capture.
    pub fn capture(&mut self) {
        if self.packets.is_none() {
            self.packets = Some(Vec::new());
            self.captured = self.taken + self.segments.len();
        }
    }

    /// Whether packets are kept.
    pub fn capturing(&self) -> bool {
        self.packets.is_some()
    }

    /// Names what is happening now (a step): packets recorded from now on carry it. Built only
    /// while capturing.
    pub fn note(&mut self, note: impl FnOnce() -> String) {
        if self.capturing() {
            self.note = Arc::from(note());
        }
    }

    /// Records `packet`, sent by `from` at `now`, if it is a TCP segment of a followed
    /// connection; returns its ticket.
    pub(crate) fn record(
        &mut self,
        from: End,
        h: &Header,
        packet: &[u8],
        now: Duration,
    ) -> Option<usize> {
        let (client, server) = match from {
            End::Client => (h.src, h.dst),
            _ => (h.dst, h.src),
        };
        let index = match self
            .connections
            .iter()
            .position(|c| c.client == client && c.server == server)
        {
            Some(i) => i,
            None => match self.follow {
                Follow::Any(max) if self.connections.len() < max => {
                    self.connections.push(Connection {
                        client,
                        server,
                        isn: [None, None],
                    });
                    self.connections.len() - 1
                }
                Follow::Any(_) => {
                    self.unrecorded += 1;
                    return None;
                }
                Follow::Watched => return None,
            },
        };
        if self.segments.len() >= self.max_segments {
            self.unrecorded += 1;
            return None;
        }
        let c = &mut self.connections[index];
        if h.flags.has(Flags::SYN) {
            c.isn[from.index()] = Some(h.seq);
        }
        let relative = |n: u32, isn: Option<u32>| n.wrapping_sub(isn.unwrap_or(0));
        let segment = WireSegment {
            sent: now,
            from,
            flags: h.flags,
            seq: relative(h.seq, c.isn[from.index()]),
            ack: if h.flags.has(Flags::ACK) {
                relative(h.ack, c.isn[from.peer().index()])
            } else {
                0
            },
            len: h.len,
            fate: Fate::InFlight,
        };
        if let Some(packets) = &mut self.packets {
            packets.push(Packet {
                sent: now,
                from,
                connection: index + 1,
                bytes: packet.to_vec(),
                note: Arc::clone(&self.note),
                fate: Fate::InFlight,
            });
        }
        self.segments.push(segment);
        self.connections_of.push(index + 1);
        Some(self.taken + self.segments.len() - 1)
    }

    /// Writes down what became of the segment with `ticket` (if it is still in the log).
    pub fn set_fate(&mut self, ticket: usize, fate: Fate) {
        if let Some(s) = ticket
            .checked_sub(self.taken)
            .and_then(|i| self.segments.get_mut(i))
        {
            s.fate = fate;
        }
        if let Some(p) = self.packets.as_mut().and_then(|packets| {
            ticket
                .checked_sub(self.captured)
                .and_then(|i| packets.get_mut(i))
        }) {
            p.fate = fate;
        }
    }

    /// The segments recorded since the last [`SegmentLog::take`].
    pub fn segments(&self) -> &[WireSegment] {
        &self.segments
    }

    /// The same, each with its connection.
    pub fn traced(&self) -> Vec<TracedSegment> {
        self.segments
            .iter()
            .zip(&self.connections_of)
            .map(|(segment, &connection)| TracedSegment {
                connection,
                segment: segment.clone(),
            })
            .collect()
    }

    /// Takes the segments recorded so far; later fates of those still in flight are lost to
    /// them (not to the capture).
    pub fn take(&mut self) -> Vec<WireSegment> {
        self.taken += self.segments.len();
        self.connections_of.clear();
        // The next scenario's log starts as large as this one's grew: one allocation, where
        // growing from nothing took one for each doubling.
        let capacity = self.segments.capacity();
        std::mem::replace(&mut self.segments, Vec::with_capacity(capacity))
    }

    /// The packets captured since the last [`SegmentLog::take_packets`].
    pub fn packets(&self) -> &[Packet] {
        self.packets.as_deref().unwrap_or_default()
    }

    /// Takes the packets captured so far (capturing goes on).
    pub fn take_packets(&mut self) -> Vec<Packet> {
        match &mut self.packets {
            Some(packets) => {
                self.captured += packets.len();
                std::mem::take(packets)
            }
            None => Vec::new(),
        }
    }

    /// Segments of followed connections not recorded, past the limits.
    pub fn unrecorded(&self) -> usize {
        self.unrecorded
    }

    /// Forgets the segments recorded and every connection; the packets captured stay until
    /// taken ([`SegmentLog::take_packets`]), and capturing, if on, goes on.
    pub fn clear(&mut self) {
        self.taken += self.segments.len();
        self.segments.clear();
        self.connections_of.clear();
        self.connections.clear();
    }
}

/// One line of a wire table: a segment, or a `link` step where it happened.
#[derive(Clone, Copy, Debug)]
pub enum WireLine<'a> {
    /// A segment, with what the first column says of it (its step, or its connection).
    Segment(&'a str, &'a WireSegment),
    /// A `link` step applied at this time (`link drop`).
    Op(Duration, &'a str),
}

/// The wire as a table, as `rstlab run` and `rstlab exec` print it: `first` names the first
/// column, `ends` the two ends as the direction shows them, `time` writes a time. Lines are
/// shown in the order given.
///
/// ```
/// use std::time::Duration;
/// use rstlab::scenario::End;
/// use rstlab::net::segment_log::{wire_table, Flags, WireLine, WireSegment};
/// use rstlab::net::wire::Fate;
/// let syn = WireSegment { sent: Duration::ZERO, from: End::Client, flags: Flags(Flags::SYN),
///     seq: 0, ack: 0, len: 0, fate: Fate::Delivered(Duration::from_millis(20)) };
/// let table = wire_table("step", ["client", "server"], &[WireLine::Segment("1", &syn)],
///     &|d| format!("{d:?}"));
/// assert!(table.contains("1     0ns   client -> server  S      0    0    0    arrived 20ms"));
/// ```
pub fn wire_table(
    first: &str,
    ends: [&str; 2],
    lines: &[WireLine<'_>],
    time: &dyn Fn(Duration) -> String,
) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|line| match *line {
            WireLine::Segment(label, s) => {
                let (from, to) = match s.from {
                    End::Client => (ends[0], ends[1]),
                    End::Server => (ends[1], ends[0]),
                };
                let fate = match s.fate {
                    Fate::Delivered(at) => format!("arrived {}", time(at)),
                    Fate::Dropped(at) => format!("dropped {}", time(at)),
                    Fate::InFlight => "in flight (or held) at the end".to_string(),
                };
                vec![
                    label.to_string(),
                    time(s.sent),
                    format!("{from} -> {to}"),
                    s.flags.to_string(),
                    s.seq.to_string(),
                    s.ack.to_string(),
                    s.len.to_string(),
                    fate,
                ]
            }
            WireLine::Op(at, op) => {
                let mut row = vec![String::new(); 8];
                row[1] = time(at);
                row[2] = op.to_string();
                row
            }
        })
        .collect();
    crate::table::render(
        &[
            first,
            "sent",
            "direction",
            "flags",
            "seq",
            "ack",
            "len",
            "fate",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/TCP packet from `src` to `dst` with `flags`, `seq`, `ack` and `len` bytes.
    pub(crate) fn packet(
        src: SocketAddrV4,
        dst: SocketAddrV4,
        flags: u8,
        seq: u32,
        ack: u32,
        len: usize,
    ) -> Vec<u8> {
        let mut p = vec![0u8; 40 + len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
        p[9] = libc::IPPROTO_TCP as u8;
        p[12..16].copy_from_slice(&src.ip().octets());
        p[16..20].copy_from_slice(&dst.ip().octets());
        p[20..22].copy_from_slice(&src.port().to_be_bytes());
        p[22..24].copy_from_slice(&dst.port().to_be_bytes());
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[28..32].copy_from_slice(&ack.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p
    }

    fn addr(last: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, last), port)
    }

    #[test]
    fn a_tcp_header_is_parsed_and_anything_else_is_not() {
        let p = packet(addr(1, 40000), addr(2, 80), Flags::SYN, 7, 0, 5);
        let h = parse(&p).unwrap();
        assert_eq!(
            (h.src, h.dst, h.seq, h.len),
            (addr(1, 40000), addr(2, 80), 7, 5)
        );
        assert!(h.flags.has(Flags::SYN));
        let mut udp = p.clone();
        udp[9] = libc::IPPROTO_UDP as u8;
        assert_eq!(parse(&udp), None);
        assert_eq!(parse(&p[..30]), None, "cut short");
        assert_eq!(parse(&[0x60; 60]), None, "IPv6");
        assert_eq!(parse(&[]), None);
        let push = packet(
            addr(1, 40000),
            addr(2, 80),
            Flags::ACK | Flags::PSH,
            7,
            0,
            5,
        );
        assert_eq!(parse(&push).unwrap().flags.to_string(), "P.");
    }

    #[test]
    fn numbers_are_relative_to_each_sides_syn() {
        let (c, s) = (addr(1, 40000), addr(2, 80));
        let mut log = SegmentLog::new(Follow::Watched, 100);
        log.watch(c, s);
        for (from, p) in [
            (End::Client, packet(c, s, Flags::SYN, 1000, 0, 0)),
            (
                End::Server,
                packet(s, c, Flags::SYN | Flags::ACK, 5000, 1001, 0),
            ),
            (End::Client, packet(c, s, Flags::ACK, 1001, 5001, 3)),
        ] {
            log.record(from, &parse(&p).unwrap(), &p, Duration::ZERO);
        }
        let last = &log.segments()[2];
        assert_eq!((last.seq, last.ack, last.len), (1, 1, 3));
    }

    #[test]
    fn watched_follows_one_connection_and_any_follows_up_to_its_limit() {
        let (c, s, other) = (addr(1, 40000), addr(2, 80), addr(1, 40001));
        let p = packet(c, s, Flags::SYN, 1, 0, 0);
        let q = packet(other, s, Flags::SYN, 1, 0, 0);
        let mut watched = SegmentLog::new(Follow::Watched, 100);
        assert_eq!(
            watched.record(End::Client, &parse(&p).unwrap(), &p, Duration::ZERO),
            None
        );
        watched.watch(c, s);
        assert_eq!(
            watched.record(End::Client, &parse(&p).unwrap(), &p, Duration::ZERO),
            Some(0)
        );
        assert_eq!(
            watched.record(End::Client, &parse(&q).unwrap(), &q, Duration::ZERO),
            None
        );
        let mut any = SegmentLog::new(Follow::Any(1), 100);
        assert_eq!(
            any.record(End::Client, &parse(&p).unwrap(), &p, Duration::ZERO),
            Some(0)
        );
        assert_eq!(
            any.record(End::Client, &parse(&q).unwrap(), &q, Duration::ZERO),
            None
        );
        assert_eq!(any.unrecorded(), 1);
    }

    #[test]
    fn a_fate_reaches_the_capture_after_the_segments_are_taken() {
        let (c, s) = (addr(1, 40000), addr(2, 80));
        let mut log = SegmentLog::new(Follow::Watched, 100);
        log.capture();
        log.watch(c, s);
        log.note(|| "handshake".to_string());
        let syn = packet(c, s, Flags::SYN, 1, 0, 0);
        let t0 = log.record(End::Client, &parse(&syn).unwrap(), &syn, Duration::ZERO);
        assert_eq!(log.take().len(), 1);
        log.note(|| "step 1: client write 1".to_string());
        let data = packet(c, s, Flags::ACK, 2, 1, 1);
        let t1 = log.record(End::Client, &parse(&data).unwrap(), &data, Duration::ZERO);
        log.set_fate(t0.unwrap(), Fate::Delivered(Duration::from_millis(1)));
        log.set_fate(t1.unwrap(), Fate::Dropped(Duration::from_millis(2)));
        assert_eq!(
            log.segments()[0].fate,
            Fate::Dropped(Duration::from_millis(2))
        );
        let packets = log.take_packets();
        assert_eq!(packets.len(), 2);
        assert_eq!(&*packets[0].note, "handshake");
        assert_eq!(packets[0].fate, Fate::Delivered(Duration::from_millis(1)));
        assert_eq!(&*packets[1].note, "step 1: client write 1");
        assert_eq!(packets[1].bytes, data);
    }
}
