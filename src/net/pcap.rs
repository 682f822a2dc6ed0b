//! Captures that Wireshark and tcpdump read: the packets a run kept ([`crate::net::segment_log`]),
//! written as pcapng.
//!
//! One section, one interface carrying raw IPv4 (link type 101, no link-layer header), with
//! timestamps in nanoseconds of link time: the virtual clock of `rstlab run --net link` (so the
//! first packet is at 1970-01-01 00:00:00 and a 20 ms delay shows as 20 ms), or the real time
//! since the relay started for `rstlab exec`. Each packet carries a comment (pcapng's
//! `opt_comment`, shown by Wireshark as "Packet comments") with its step, its direction and its
//! fate on the link: `step 4: client write 1 | client → server | delivered at 20ms`. With the
//! runner's virtual clock the step is the one that sent the packet (or, for an answer, the step
//! during which it was sent); with `exec` it is the step the peer was playing or waiting for
//! when the packet reached the link, since your program's calls are not steps rstlab makes. A
//! packet is recorded as it enters the wire, at its sender; one the link dropped is in the
//! capture too, marked so. Only TCP segments are captured: other packets (UDP, say) cross the
//! link unrecorded.
//!
//! ```
//! use rstlab::net::pcap;
//! let mut file = Vec::new();
//! pcap::write(&mut file, "an empty capture", &[]).unwrap();
//! assert_eq!(&file[..4], &[0x0a, 0x0d, 0x0d, 0x0a]); // a pcapng section header
//! ```

use std::borrow::Cow;
use std::io::{self, Write};

use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};

use crate::net::segment_log::Packet;
use crate::net::wire::Fate;
use crate::text::millis as time;

/// pcapng's `if_tsresol` for nanoseconds (10^-9 s): pcap-file writes timestamps in nanoseconds.
const NANOSECONDS: u8 = 9;

/// Writes `packets` to `out` as one pcapng section, with `title` as the section's comment
/// (what was run).
pub fn write(out: impl Write, title: &str, packets: &[Packet]) -> io::Result<()> {
    let section = SectionHeaderBlock {
        options: vec![
            SectionHeaderOption::Comment(Cow::Owned(title.to_string())),
            SectionHeaderOption::UserApplication(Cow::Borrowed(concat!(
                "rstlab ",
                env!("CARGO_PKG_VERSION")
            ))),
        ],
        ..SectionHeaderBlock::default()
    };
    let mut writer = PcapNgWriter::with_section_header(out, section).map_err(to_io)?;
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed("rstlab link")),
                InterfaceDescriptionOption::IfTsResol(NANOSECONDS),
            ],
        })
        .map_err(to_io)?;
    for p in packets {
        let comment = comment(p);
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: p.sent,
                original_len: p.bytes.len() as u32,
                data: Cow::Borrowed(&p.bytes),
                options: vec![EnhancedPacketOption::Comment(Cow::Owned(comment))],
            })
            .map_err(to_io)?;
    }
    writer.into_inner().flush()
}

/// Writes `packets` to the file at `path` (see [`write`]), whole or not at all: into a
/// temporary file beside it, renamed into place once complete, so that a full disk or an
/// interruption never leaves a cut capture under the name asked for. A path that is not a
/// regular file (`/dev/stdout`, a named pipe for `tcpdump -r -`) is written as it is.
pub fn save(path: &std::path::Path, title: &str, packets: &[Packet]) -> io::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let file = std::fs::OpenOptions::new().write(true).open(path);
        return file
            .and_then(|f| write(io::BufWriter::new(f), title, packets))
            .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())));
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let partial = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let written = std::fs::File::create(&partial)
        .and_then(|file| {
            let mut out = io::BufWriter::new(file);
            write(&mut out, title, packets)?;
            out.into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .sync_all()
        })
        .and_then(|()| std::fs::rename(&partial, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        io::Error::new(e.kind(), format!("writing {}: {e}", path.display()))
    })
}

/// The comment of one packet: its step, its direction, its fate.
fn comment(p: &Packet) -> String {
    let fate = match p.fate {
        Fate::InFlight => "still in flight at the end".to_string(),
        Fate::Delivered(at) => format!("delivered at {}", time(at)),
        Fate::Dropped(at) => format!("dropped by link drop at {}", time(at)),
    };
    format!("{} | {} → {} | {fate}", p.note, p.from, p.from.peer())
}

fn to_io(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcapng::{Block, PcapNgReader};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::scenario::End;

    #[test]
    fn packets_come_back_with_their_times_bytes_and_comments() {
        assert_eq!(time(Duration::from_nanos(161_871_149)), "161.871ms");
        assert_eq!(time(Duration::from_micros(40_500)), "40.500ms");
        let packets = vec![
            Packet {
                sent: Duration::from_millis(20),
                from: End::Client,
                connection: 1,
                bytes: vec![0x45, 0, 0, 20],
                note: Arc::from("step 1: client write 1"),
                fate: Fate::Delivered(Duration::from_millis(40)),
            },
            Packet {
                sent: Duration::from_micros(40_500),
                from: End::Server,
                connection: 1,
                bytes: vec![0x45, 1, 2, 3, 4],
                note: Arc::from("step 2: server close"),
                fate: Fate::Dropped(Duration::from_millis(41)),
            },
        ];
        let mut file = Vec::new();
        write(&mut file, "rstlab run test", &packets).unwrap();
        let mut reader = PcapNgReader::new(&file[..]).unwrap();
        let mut seen = Vec::new();
        while let Some(block) = reader.next_block() {
            match block.unwrap() {
                Block::InterfaceDescription(i) => {
                    assert_eq!(i.linktype, DataLink::RAW);
                    assert!(
                        i.options
                            .contains(&InterfaceDescriptionOption::IfTsResol(NANOSECONDS))
                    );
                }
                Block::EnhancedPacket(p) => seen.push((
                    p.timestamp,
                    p.data.to_vec(),
                    p.options
                        .iter()
                        .find_map(|o| match o {
                            EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                            _ => None,
                        })
                        .unwrap(),
                )),
                _ => {}
            }
        }
        assert_eq!(
            seen,
            vec![
                (
                    Duration::from_millis(20),
                    vec![0x45, 0, 0, 20],
                    "step 1: client write 1 | client → server | delivered at 40ms".to_string()
                ),
                (
                    Duration::from_micros(40_500),
                    vec![0x45, 1, 2, 3, 4],
                    "step 2: server close | server → client | dropped by link drop at 41ms"
                        .to_string()
                ),
            ]
        );
    }
}
