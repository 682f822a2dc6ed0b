//! `--pcap FILE`, shared by the commands that carry packets on the link: where the capture goes
//! and how saving it is said.

use std::path::{Path, PathBuf};

use anyhow::Context;

use rstlab::net::segment_log::Packet;

/// The `--pcap` flag.
#[derive(Debug, Default, clap::Args)]
pub struct Pcap {
    /// Write every TCP segment the link carried to FILE as pcapng (Wireshark, `tcpdump -r`):
    /// link time as timestamps, each packet commented with its step and its fate.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

impl Pcap {
    /// Whether a capture was asked for.
    pub fn wanted(&self) -> bool {
        self.pcap.is_some()
    }

    /// Refuses `--pcap` where nothing passes through rstlab; `how` says how to get the link.
    pub fn needs_link(&self, on_link: bool, how: &str) -> anyhow::Result<()> {
        if self.wanted() && !on_link {
            anyhow::bail!(
                "--pcap needs the emulated link ({how}): on loopback the packets never pass \
                 through rstlab (`tcpdump -i lo` sees them there)"
            );
        }
        // Refused before the run rather than after it: a run's report is not lost to a file
        // that cannot be written.
        match &self.pcap {
            Some(path) => super::paths::check_output("--pcap", path, super::paths::Kind::File),
            None => Ok(()),
        }
    }

    /// Writes `packets` to the file asked for, if any, and says so on stderr.
    pub fn save(&self, title: &str, packets: &[Packet]) -> anyhow::Result<()> {
        if let Some(path) = &self.pcap {
            save(path, title, packets)?;
        }
        Ok(())
    }
}

/// Writes `packets` to `path` and says so on stderr.
pub fn save(path: &Path, title: &str, packets: &[Packet]) -> anyhow::Result<()> {
    rstlab::net::pcap::save(path, title, packets).context("the capture (--pcap)")?;
    eprintln!("capture: {} packets in {}", packets.len(), path.display());
    Ok(())
}
