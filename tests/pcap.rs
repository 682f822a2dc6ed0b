//! Captures: `rstlab run --net link --pcap FILE` writes what the link carried as pcapng, read
//! back here as Wireshark and tcpdump would read it.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::{Block, PcapNgReader};

fn rstlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rstlab"))
        .args(args)
        .output()
        .expect("rstlab runs")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// One packet of a capture: time, TCP flags, comment.
#[derive(Debug)]
struct Seen {
    time: Duration,
    flags: u8,
    comment: String,
}

fn read(path: &std::path::Path) -> Vec<Seen> {
    let file = std::fs::read(path).unwrap();
    let mut reader = PcapNgReader::new(&file[..]).expect("a pcapng file");
    let mut seen = Vec::new();
    while let Some(block) = reader.next_block() {
        match block.expect("a well-formed block") {
            Block::InterfaceDescription(i) => assert_eq!(i.linktype, DataLink::RAW),
            Block::EnhancedPacket(p) => {
                let ihl = usize::from(p.data[0] & 0x0f) * 4;
                assert_eq!(p.data[0] >> 4, 4, "IPv4");
                assert_eq!(p.data[9], 6, "TCP");
                seen.push(Seen {
                    time: p.timestamp,
                    flags: p.data[ihl + 13],
                    comment: p
                        .options
                        .iter()
                        .find_map(|o| match o {
                            EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                            _ => None,
                        })
                        .expect("every packet has a comment"),
                });
            }
            _ => {}
        }
    }
    seen
}

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

#[test]
fn a_link_run_captures_the_handshake_the_fin_and_the_rst_with_link_time_and_steps() {
    if !common::link_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = dir.join("seed.pcapng");
    let o = rstlab(&[
        "run",
        "--net",
        "link",
        "--pcap",
        file.to_str().unwrap(),
        "link delay 10ms; client write 1; client sleep 10ms; server read 1; server close; \
         client sleep 10ms; client write 1; client sleep 20ms; client write 1 => EPIPE",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let seen = read(&file);
    let first = |flag: u8, from: &str| {
        seen.iter()
            .find(|s| s.flags & flag != 0 && s.comment.contains(from))
            .unwrap_or_else(|| panic!("no packet with flag {flag:#x} from {from}: {seen:#?}"))
    };
    let syn = first(SYN, "client → server");
    assert!(syn.comment.starts_with("handshake"), "{}", syn.comment);
    let fin = first(FIN, "server → client");
    assert!(
        fin.comment.starts_with("step 5: server close"),
        "{}",
        fin.comment
    );
    assert_eq!(
        fin.time,
        Duration::from_millis(10),
        "the virtual clock, not the real one"
    );
    assert!(
        fin.comment.ends_with("delivered at 20ms"),
        "{}",
        fin.comment
    );
    // The write of step 7 (at 20 ms) arrives at 30 ms, while step 8's sleep moves the clock.
    let rst = first(RST, "server → client");
    assert_eq!(rst.time, Duration::from_millis(30));
    assert!(
        rst.comment.starts_with("step 8: client sleep 20ms"),
        "{}",
        rst.comment
    );
    assert!(
        seen.windows(2).all(|w| w[0].time <= w[1].time),
        "packets in the order sent: {seen:#?}"
    );
    assert!(text(&o).contains(&format!("packets in {}", file.display())));
}

#[test]
fn exec_captures_in_real_time_with_the_peers_steps() {
    if !common::link_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = dir.join("exec.pcapng");
    let o = rstlab(&[
        "exec",
        "--delay",
        "5ms",
        "--pcap",
        file.to_str().unwrap(),
        "client write 2; server write 3; server close",
        "--",
        "bash",
        "-c",
        "exec 3<>/dev/tcp/$RSTLAB_PEER_HOST/$RSTLAB_PEER_PORT; printf ab >&3; cat <&3 >/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let seen = read(&file);
    assert!(seen[0].flags & SYN != 0, "{seen:#?}");
    assert!(
        seen[0].comment.starts_with("before the peer's first step"),
        "{seen:#?}"
    );
    let answer = seen
        .iter()
        .find(|s| {
            s.comment
                .starts_with("step 2: server write 3 | server → client")
        })
        .unwrap_or_else(|| panic!("no packet of the peer's write: {seen:#?}"));
    // Real time: a packet takes the link's 5 ms to cross.
    let delivered: f64 = answer
        .comment
        .rsplit("delivered at ")
        .next()
        .and_then(|t| t.strip_suffix("ms"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{}", answer.comment));
    let sent = answer.time.as_secs_f64() * 1000.0;
    assert!(delivered - sent >= 5.0, "{sent} ms -> {delivered} ms");
    // Two bytes unread: the peer's close sends RST.
    assert!(
        seen.iter()
            .any(|s| s.flags & RST != 0 && s.comment.starts_with("step 3: server close")),
        "{seen:#?}"
    );
}

#[test]
fn explore_captures_each_link_finding_and_says_a_loopback_one_has_none() {
    if !common::link_available() {
        return;
    }
    use rstlab::check::{Disagreement, Mismatch};
    use rstlab::explore::{Captured, Finding, capture_findings};
    use rstlab::run::{Backend, Net};
    let finding = |case, net, inline: &str| Finding {
        case,
        net,
        scenario: inline.replace("; ", "\n"),
        inline: inline.to_string(),
        disagreement: Disagreement {
            step: 2,
            text: "client write 1".into(),
            mismatch: Mismatch::Beyond {
                reason: "made up for the test".into(),
            },
        },
        original: inline.to_string(),
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let done = capture_findings(
        &[
            finding(7, Net::Link, "server close; client write 1"),
            finding(9, Net::Loopback, "server close; client write 1"),
        ],
        Backend::Std,
        dir,
    )
    .unwrap();
    match &done[..] {
        [
            (
                7,
                Captured::Written {
                    path,
                    packets,
                    // The made-up finding agrees with the kernel: the capture says so.
                    disagreed: false,
                },
            ),
            (9, Captured::Loopback),
        ] => {
            assert_eq!(path, &dir.join("case-7.pcapng"));
            let seen = read(path);
            assert_eq!(seen.len(), *packets);
            assert!(
                seen.iter()
                    .any(|s| s.flags & FIN != 0 && s.comment.starts_with("step 1"))
            );
            assert!(
                seen.iter()
                    .any(|s| s.flags & RST != 0 && s.comment.starts_with("step 2"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!dir.join("case-9.pcapng").exists());
}

#[test]
fn a_capture_that_cannot_be_written_leaves_the_report_in_place() {
    if !common::link_available() {
        return;
    }
    // /dev/full refuses every byte, as a full disk does.
    let o = rstlab(&[
        "run",
        "--net",
        "link",
        "--pcap",
        "/dev/full",
        "server close; client write 1",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("agreement: the kernel did what the oracle predicted"),
        "{out}"
    );
    assert!(text(&o).contains("No space left on device"), "{}", text(&o));
}

#[test]
fn a_capture_on_loopback_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = dir.join("none.pcapng");
    let o = rstlab(&["run", "--pcap", file.to_str().unwrap(), "client write 1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--pcap needs the emulated link (--net link)"),
        "{}",
        text(&o)
    );
    assert!(!file.exists(), "nothing written");
    let o = rstlab(&["seed", "--no-pause", "--pcap", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--pcap needs the emulated link (--delay)"),
        "{}",
        text(&o)
    );
    assert!(!file.exists(), "nothing written");
}
