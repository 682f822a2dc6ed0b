//! The lane: a batch of rstlab command lines run inside one of Debian's kernels, booted in QEMU
//! on its instruction-count clock (`-icount shift=0,sleep=off`), where time is virtual: while
//! the guest is idle its clock jumps to the next timer, so a quarter of an hour of
//! retransmissions passes in a few seconds, and two runs of the same batch give the same
//! results to the nanosecond as a rule (to the microsecond at worst: once, on a heavily loaded
//! host, a time moved by 8 ns).
//!
//! What makes two runs the same (measured): entropy pinned (`-cpu qemu64` without RDRAND,
//! `random.trust_cpu=off`, `nokaslr`, the real-time clock on the virtual clock from a fixed
//! date) and no host I/O once the kernel starts:
//! everything the guest runs is in its [initramfs](initramfs) (virtme-ng's 9p root, read from
//! the host as the guest runs, made two runs of 938 s differ by 1.5 s). The results leave
//! through a second serial port written to a host file, output only, which does not time the
//! guest. QEMU emulates: KVM does not run the instruction-count clock.

pub mod guest;
pub mod initramfs;
pub mod probe;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

pub use guest::{Frame, JobResult};
use initramfs::Initramfs;

use super::vm::{Fetched, GroupGuard, which};

/// One job of a batch: an rstlab command line to run in the guest, and files it reads, put in
/// the initramfs before boot.
#[derive(Clone, Debug, Default)]
pub struct Job {
    /// The arguments after `rstlab`.
    pub args: Vec<String>,
    /// Files as `(path in the guest, contents)`; [`Job::path`] gives each job a folder.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Job {
    /// The guest path of file `name` of job `index`, in the batch's folder.
    pub fn path(index: usize, name: &str) -> String {
        format!("{}/{index}/{name}", initramfs::BATCH)
    }
}

/// How a batch runs.
#[derive(Clone, Debug)]
pub struct LaneOptions {
    /// The rstlab binary to run inside (with its libraries): this one, as a rule.
    pub exe: PathBuf,
    /// How long the boot and the batch may take, in real time.
    pub deadline: Duration,
    /// The VM's CPUs.
    pub cpus: usize,
}

/// What a batch produced.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The guest kernel's release.
    pub release: String,
    /// Each job's result, in order.
    pub results: Vec<JobResult>,
    /// Real time from starting QEMU until the guest started the batch.
    pub boot_real: Duration,
    /// Real time from starting QEMU until it ended.
    pub real: Duration,
    /// The guest's CLOCK_MONOTONIC when the batch started.
    pub guest_ready_ns: u64,
    /// And when it ended.
    pub guest_end_ns: u64,
}

/// What the lane reports as it goes.
#[derive(Clone, Copy, Debug)]
pub enum Progress<'a> {
    /// QEMU starts.
    Booting {
        /// The kernel package.
        package: &'a str,
    },
    /// The guest booted and starts the batch.
    Booted {
        /// Real time since QEMU started.
        real: Duration,
        /// The guest's time since boot.
        guest: Duration,
    },
    /// A job ended.
    Done {
        /// How many have.
        done: usize,
        /// Of how many.
        of: usize,
    },
}

/// Why a batch did not run.
#[derive(Debug, Error)]
pub enum LaneError {
    /// A tool is missing on the host.
    #[error("the lane needs: {0}")]
    Missing(String),
    /// The kernel package lacks something.
    #[error("{0}")]
    Kernel(String),
    /// A file operation or a tool failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The VM ended before the batch did.
    #[error("the VM ended without the batch's results ({0})")]
    NoResults(String),
    /// The deadline passed.
    #[error("the VM did not finish within {0:?}; it was stopped")]
    Timeout(Duration),
    /// Ctrl-C, SIGTERM or SIGHUP.
    #[error("interrupted")]
    Interrupted,
}

/// The host tools the lane needs and missing here, with what installs each.
pub fn missing_tools() -> Vec<(&'static str, &'static str)> {
    [
        ("qemu-system-x86_64", "apt-get install qemu-system-x86"),
        ("busybox", "apt-get install busybox-static"),
        ("ldd", "apt-get install libc-bin"),
    ]
    .into_iter()
    .filter(|(tool, _)| which(tool).is_none())
    .collect()
}

/// The kernel command line: entropy pinned (with `-cpu qemu64`, which has no RDRAND), no
/// address randomisation, a panic ends the VM (`-no-reboot`), the console on the first port;
/// and the guest's own periodic work quieted, none of which touches TCP: an idle guest still
/// woke 8 times a second (the clocksource and soft-lockup watchdogs, vmstat, writeback,
/// proactive compaction every 500 ms), and each wake-up costs real time in emulation, about
/// 0.6 ms. Measured on 6.12: 100 s of idle guest time went from 800 timer interrupts to 162,
/// and a vanished peer's 900 s from 1.9 s real to 0.5 s.
pub const KERNEL_ARGS: &str = "console=ttyS0 nokaslr random.trust_cpu=off panic=-1 quiet \
    tsc=reliable nowatchdog nosoftlockup sysctl.vm.stat_interval=3600 \
    sysctl.vm.dirty_writeback_centisecs=0 sysctl.vm.compaction_proactiveness=0";

/// The QEMU command that boots `image` with `initrd`: emulated, on the instruction-count
/// clock, the console in `console` and the results port in `results`.
pub fn qemu_command(
    image: &Path,
    initrd: &Path,
    console: &Path,
    results: &Path,
    cpus: usize,
) -> Command {
    let mut c = Command::new("qemu-system-x86_64");
    c.args(["-machine", "pc", "-cpu", "qemu64", "-m", "1G"])
        .args(["-smp", &cpus.max(1).to_string()])
        // One guest instruction is one nanosecond; idle time jumps to the next timer. The
        // real-time clock starts at a fixed date and runs on that clock: the kernel mixes the
        // wall-clock time into its random pool at boot, so the host's date would change every
        // random number (ports, sequence numbers, hash seeds) and with them the timings.
        .args(["-icount", "shift=0,sleep=off"])
        .args(["-rtc", "base=2025-01-01T00:00:00,clock=vm"])
        // No default devices (network card, VGA, monitor): nothing that talks to the host.
        .args(["-nodefaults", "-display", "none", "-no-reboot"])
        .arg("-serial")
        .arg(chardev_file(console))
        .arg("-serial")
        .arg(chardev_file(results))
        .arg("-kernel")
        .arg(image)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", KERNEL_ARGS]);
    c
}

/// `file:PATH` as QEMU's option parser reads it: a comma in the path doubled.
fn chardev_file(path: &Path) -> String {
    format!("file:{}", path.display().to_string().replace(',', ",,"))
}

/// Builds the initramfs of `jobs` for `kernel` into `path`.
pub fn build_initramfs(
    kernel: &Fetched,
    jobs: &[Job],
    exe: &Path,
    path: &Path,
) -> Result<(), LaneError> {
    let busybox = which("busybox")
        .ok_or_else(|| LaneError::Missing("busybox (apt-get install busybox-static)".into()))?;
    let mut fs = Initramfs::default();
    for dir in ["/proc", "/sys", "/dev", "/tmp", "/lib"] {
        fs.dir(dir);
    }
    fs.copy("/bin/busybox", &busybox, 0o755)?;
    fs.copy(initramfs::EXE, exe, 0o755)?;
    // A static busybox needs nothing; a dynamic one gets its libraries too.
    let mut libraries = initramfs::libraries(exe)?;
    libraries.extend(initramfs::libraries(&busybox)?);
    libraries.sort();
    libraries.dedup();
    for (guest, host) in &libraries {
        fs.copy(guest, host, 0o755)?;
    }
    for name in initramfs::MODULES {
        fs.file(
            &initramfs::module_path(name),
            initramfs::module(&kernel.root, name, &busybox)?,
            0o644,
        );
    }
    let manifest: Vec<&Vec<String>> = jobs.iter().map(|j| &j.args).collect();
    fs.file(
        initramfs::MANIFEST,
        serde_json::to_vec(&manifest).expect("strings"),
        0o644,
    );
    for job in jobs {
        for (name, data) in &job.files {
            fs.file(name, data.clone(), 0o644);
        }
    }
    fs.file("/init", initramfs::init_script().into_bytes(), 0o755);
    let file = std::fs::File::create(path)
        .map_err(|e| LaneError::Io(format!("creating {}", path.display()), e))?;
    fs.write(std::io::BufWriter::new(file))
        .map_err(|e| LaneError::Io(format!("writing {}", path.display()), e))
}

/// Runs `jobs` in `kernel`, in one boot: builds the initramfs, starts QEMU in its own process
/// group and reads the results port as it fills. `stop` (Ctrl-C, SIGTERM), the deadline and
/// dropping stop the VM; the temporary files go with it.
pub fn run(
    kernel: &Fetched,
    jobs: &[Job],
    options: &LaneOptions,
    stop: &Arc<AtomicBool>,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Batch, LaneError> {
    let missing = missing_tools();
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|(t, how)| format!("{t} ({how})"))
            .collect();
        return Err(LaneError::Missing(list.join(", ")));
    }
    let work = tempfile::Builder::new()
        .prefix("rstlab-lane-")
        .tempdir()
        .map_err(|e| LaneError::Io("creating a temporary folder".into(), e))?;
    let initrd = work.path().join("initramfs.cpio");
    build_initramfs(kernel, jobs, &options.exe, &initrd)?;
    let console = work.path().join("console.log");
    let results = work.path().join("results");
    let qemu_log = work.path().join("qemu.log");
    let log = std::fs::File::create(&qemu_log)
        .map_err(|e| LaneError::Io(format!("creating {}", qemu_log.display()), e))?;
    let mut c = qemu_command(&kernel.image, &initrd, &console, &results, options.cpus);
    c.stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| LaneError::Io("the QEMU log".into(), e))?,
        )
        .stderr(log);
    // Its own process group: a terminal's Ctrl-C reaches rstlab, which stops it, and stopping
    // the group leaves nothing behind.
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    progress(Progress::Booting {
        package: &kernel.package,
    });
    let start = Instant::now();
    let child = c
        .spawn()
        .map_err(|e| LaneError::Io("starting qemu-system-x86_64".into(), e))?;
    let mut guard = GroupGuard(Some(child));
    let mut frames: Vec<Frame> = Vec::new();
    let mut boot_real = None;
    let mut done = 0;
    loop {
        let exited = match guard.0.as_mut().expect("held until the end").try_wait() {
            Ok(status) => status.is_some(),
            Err(e) => return Err(LaneError::Io("waiting for QEMU".into(), e)),
        };
        // Read after the exit check: what QEMU wrote before it ended is all there.
        let text =
            String::from_utf8_lossy(&std::fs::read(&results).unwrap_or_default()).into_owned();
        let now = guest::parse_frames(&text);
        // The file only grows: the frames not seen yet are the last ones.
        for frame in now.get(frames.len()..).unwrap_or_default() {
            match frame {
                Frame::Ready { monotonic_ns, .. } => {
                    let real = start.elapsed();
                    boot_real = Some(real);
                    progress(Progress::Booted {
                        real,
                        guest: Duration::from_nanos(*monotonic_ns),
                    });
                }
                Frame::Result(_) => {
                    done += 1;
                    progress(Progress::Done {
                        done,
                        of: jobs.len(),
                    });
                }
                Frame::End { .. } => {}
            }
        }
        frames = now;
        if exited {
            break;
        }
        if stop.load(Ordering::Relaxed) {
            return Err(LaneError::Interrupted);
        }
        if start.elapsed() > options.deadline {
            return Err(LaneError::Timeout(options.deadline));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    guard.0 = None;
    let real = start.elapsed();
    let mut release = String::new();
    let mut guest_ready_ns = 0;
    let mut guest_end_ns = None;
    let mut results = Vec::new();
    for frame in frames {
        match frame {
            Frame::Ready {
                release: r,
                monotonic_ns,
            } => {
                release = r;
                guest_ready_ns = monotonic_ns;
            }
            Frame::Result(r) => results.push(r),
            Frame::End { monotonic_ns } => guest_end_ns = Some(monotonic_ns),
        }
    }
    match guest_end_ns {
        Some(guest_end_ns) if results.len() == jobs.len() => Ok(Batch {
            release,
            results,
            boot_real: boot_real.unwrap_or(real),
            real,
            guest_ready_ns,
            guest_end_ns,
        }),
        _ => Err(LaneError::NoResults(format!(
            "{} of {} jobs; the console's last lines: {}; QEMU: {}",
            results.len(),
            jobs.len(),
            tail(&console, 5),
            tail(&qemu_log, 3)
        ))),
    }
}

/// The last `n` non-empty lines of `path`, joined with ` / `.
fn tail(path: &Path, n: usize) -> String {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    let mut lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rev()
        .take(n)
        .collect();
    lines.reverse();
    if lines.is_empty() {
        "(nothing)".to_string()
    } else {
        lines.join(" / ")
    }
}
