//! Inside the lane's VM: `rstlab lane-guest MANIFEST` runs each job of the batch (an rstlab
//! command line) as a child, and writes one frame per job to its standard output, which `/init`
//! points at the results port. The host reads the frames back ([`parse_frames`]).
//!
//! A frame is one line, `rstlab-lane: ` and a JSON object: JSON escapes every newline and
//! control character, so a frame survives a serial line whatever the job printed, and a line
//! that is not a frame (a kernel message, should one reach the port) is skipped.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// Set for every job in the guest: what may only run there (an experiment that takes `lo`
/// down) checks it.
pub const IN_LANE: &str = "RSTLAB_IN_LANE";

/// Whether this process runs in the lane's guest, where the clock is the kernel's own
/// (virtual) time ([`IN_LANE`] is set).
pub fn in_lane() -> bool {
    std::env::var_os(IN_LANE).is_some()
}

/// A serial port's writer whose `flush` also waits until the port has sent every byte
/// (`tcdrain`): a frame still draining when the next job starts would interrupt that job at
/// times the host decides (QEMU's serial backend writes to a host file), and its guest times
/// would no longer repeat to the microsecond. Not a terminal (a test's pipe): a plain flush.
pub struct Drained<W>(pub W);

impl<W: Write + std::os::fd::AsFd> Write for Drained<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        match rustix::termios::tcdrain(self.0.as_fd()) {
            Ok(()) | Err(rustix::io::Errno::NOTTY) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// What starts every frame's line.
pub const MARKER: &str = "rstlab-lane: ";

/// One line on the results port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum Frame {
    /// The guest has booted and starts the batch.
    Ready {
        /// The kernel's release (`/proc/sys/kernel/osrelease`).
        release: String,
        /// The guest's CLOCK_MONOTONIC, nanoseconds since boot.
        monotonic_ns: u64,
    },
    /// One job ended.
    Result(JobResult),
    /// The batch ended.
    End {
        /// The guest's CLOCK_MONOTONIC.
        monotonic_ns: u64,
    },
}

/// What one job did in the guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// Its exit status (`-1` when a signal ended it or it did not start).
    pub status: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error (or why it did not start).
    pub stderr: String,
    /// The guest's CLOCK_MONOTONIC when it started, nanoseconds.
    pub start_ns: u64,
    /// And when it ended.
    pub end_ns: u64,
}

impl JobResult {
    /// The guest's seconds it took.
    pub fn guest_seconds(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }
}

/// The line of `frame`.
pub fn frame_line(frame: &Frame) -> String {
    format!(
        "{MARKER}{}\n",
        serde_json::to_string(frame).expect("a frame is plain data")
    )
}

/// The frames among `text`'s complete lines (a carriage return the line may have picked up on
/// the way is dropped).
pub fn parse_frames(text: &str) -> Vec<Frame> {
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| {
            let l = l.trim_end_matches(['\n', '\r']);
            let json = &l[l.find(MARKER)? + MARKER.len()..];
            serde_json::from_str(json).ok()
        })
        .collect()
}

/// The guest's CLOCK_MONOTONIC in nanoseconds: the clock QEMU's virtual time drives.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Runs the batch of `manifest` (a JSON list of command lines, each run as `exe ARGS`), writing
/// a [`Frame`] to `out` as each part starts and ends.
pub fn run_batch(manifest: &Path, exe: &Path, mut out: impl Write) -> std::io::Result<()> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let jobs: Vec<Vec<String>> = serde_json::from_slice(&std::fs::read(manifest)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let ready = Frame::Ready {
        release,
        monotonic_ns: monotonic_ns(),
    };
    out.write_all(frame_line(&ready).as_bytes())?;
    out.flush()?;
    for args in jobs {
        let start_ns = monotonic_ns();
        let ran = Command::new(exe)
            .args(&args)
            .env(IN_LANE, "1")
            .stdin(Stdio::null())
            .output();
        let end_ns = monotonic_ns();
        let result = match ran {
            Ok(o) => JobResult {
                status: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                start_ns,
                end_ns,
            },
            Err(e) => JobResult {
                status: -1,
                stdout: String::new(),
                stderr: format!("rstlab-lane: starting {}: {e}\n", exe.display()),
                start_ns,
                end_ns,
            },
        };
        out.write_all(frame_line(&Frame::Result(result)).as_bytes())?;
        out.flush()?;
    }
    let end = Frame::End {
        monotonic_ns: monotonic_ns(),
    };
    out.write_all(frame_line(&end).as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_output_and_lines_that_are_not_frames_are_skipped() {
        let result = Frame::Result(JobResult {
            status: 3,
            stdout: "a table\n\twith a tab\r\nand \u{1b}[1m escapes\n".to_string(),
            stderr: String::new(),
            start_ns: 1,
            end_ns: 2_000_000_001,
        });
        let line = frame_line(&result);
        assert_eq!(line.matches('\n').count(), 1);
        let text = format!(
            "[ 1.0] a kernel message\r\n{}\r\n{}partial",
            line.trim_end(),
            line
        );
        assert_eq!(parse_frames(&text), [result.clone(), result]);
        let Frame::Result(r) = parse_frames(&line).remove(0) else {
            panic!()
        };
        assert_eq!(r.guest_seconds(), 2.0);
    }
}
