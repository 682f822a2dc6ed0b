//! The lane's initramfs: everything the guest runs, packed before boot as a newc cpio archive
//! (uncompressed: an emulated CPU would spend seconds inflating it), so that no host I/O happens
//! once the kernel starts. Host I/O during the run is what makes two runs differ: a page read
//! from the host lands when the host delivers it, and the guest's timers move with it.
//!
//! What it holds: static busybox (`/bin/busybox`, the shell and tools of `/init`), this very
//! rstlab binary (`/bin/rstlab`) with the shared libraries `ldd` names and the loader, the
//! kernel modules the runner needs ([`MODULES`]: Debian builds TUN and sock_diag as modules; an
//! `.xz` one is decompressed here, by busybox), the batch (`/batch`), and `/init`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cpio::newc::{Builder, ModeFileType};

use super::LaneError;

/// Where the batch's manifest and files go in the guest.
pub const BATCH: &str = "/batch";
/// The manifest: the command line of each job, in order (JSON).
pub const MANIFEST: &str = "/batch/jobs.json";
/// The rstlab binary in the guest.
pub const EXE: &str = "/bin/rstlab";
/// The serial port the results leave through (the second one: the first is the console).
pub const RESULTS_PORT: &str = "/dev/ttyS1";

/// What goes into the archive, gathered before anything is written.
#[derive(Default)]
pub struct Initramfs {
    /// Paths in the guest, with their kind.
    entries: Vec<(String, Entry)>,
}

enum Entry {
    Dir,
    File { data: Vec<u8>, mode: u32 },
    Symlink(String),
}

impl Initramfs {
    /// A directory (and its parents).
    pub fn dir(&mut self, path: &str) {
        let mut at = String::new();
        for part in path.trim_matches('/').split('/').filter(|p| !p.is_empty()) {
            at = format!("{at}/{part}");
            if !self.entries.iter().any(|(p, _)| *p == at) {
                self.entries.push((at.clone(), Entry::Dir));
            }
        }
    }

    /// A file with `data`, executable when `mode` says so (its directories too).
    pub fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.entries
            .push((path.to_string(), Entry::File { data, mode }));
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.entries
            .push((path.to_string(), Entry::Symlink(target.to_string())));
    }

    /// A host file's contents at `path` (symbolic links followed).
    pub fn copy(&mut self, path: &str, from: &Path, mode: u32) -> Result<(), LaneError> {
        let data = std::fs::read(from).map_err(|e| io(format!("reading {}", from.display()), e))?;
        self.file(path, data, mode);
        Ok(())
    }

    /// The archive. Every entry is owned by root with time 0 and numbered in order, so that the
    /// same contents give the same bytes.
    pub fn write(&self, mut out: impl Write) -> std::io::Result<()> {
        for (index, (path, entry)) in self.entries.iter().enumerate() {
            let name = path.trim_start_matches('/');
            let header = Builder::new(name)
                .ino(index as u32 + 1)
                .uid(0)
                .gid(0)
                .mtime(0);
            let (header, data): (Builder, &[u8]) = match entry {
                Entry::Dir => (
                    header
                        .mode(0o755)
                        .set_mode_file_type(ModeFileType::Directory),
                    &[],
                ),
                Entry::File { data, mode } => (
                    header.mode(*mode).set_mode_file_type(ModeFileType::Regular),
                    data,
                ),
                Entry::Symlink(target) => (
                    header.mode(0o777).set_mode_file_type(ModeFileType::Symlink),
                    target.as_bytes(),
                ),
            };
            let size = u32::try_from(data.len()).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{path}: too big"))
            })?;
            let mut writer = header.write(&mut out, size);
            writer.write_all(data)?;
            writer.finish()?;
        }
        cpio::newc::trailer(&mut out)?;
        out.flush()
    }
}

fn io(what: String, e: std::io::Error) -> LaneError {
    LaneError::Io(what, e)
}

/// The shared libraries `exe` needs and the loader, as `ldd` names them: `(path in the
/// guest, file on the host)`, the guest path being the one the binary asks for.
pub fn libraries(exe: &Path) -> Result<Vec<(String, PathBuf)>, LaneError> {
    let out = Command::new("ldd")
        .arg(exe)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io("running ldd (it comes with libc)".to_string(), e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // A static binary: ldd says so and fails; it needs nothing.
        return Ok(Vec::new());
    }
    Ok(parse_ldd(&text))
}

/// The libraries in `ldd`'s output: `name => /path (0x…)` lines and the loader's `/path (0x…)`;
/// the vDSO (no path) is the kernel's.
pub fn parse_ldd(text: &str) -> Vec<(String, PathBuf)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, right)) => right.trim(),
                None => line,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/')
                .then(|| (path.to_string(), PathBuf::from(path)))
        })
        .collect()
}

/// The modules the runner needs that Debian builds as modules, in the order they load (a
/// module after those it depends on): sock_diag for TCP (the runner finds sockets the
/// application closed through it) and TUN (the emulated link). No modprobe runs in the guest:
/// `/init` loads each with insmod.
pub const MODULES: &[&str] = &[
    "kernel/net/ipv4/inet_diag",
    "kernel/net/ipv4/tcp_diag",
    "kernel/drivers/net/tun",
];

/// Module `name` (one of [`MODULES`]) of the kernel unpacked in `package_root` (under
/// `lib/modules/<release>/`, or `usr/lib/modules/<release>/` where Debian's packages moved them
/// from 6.18 on), decompressed when it is an `.ko.xz` (by busybox's `xzcat`, a tool the lane
/// needs anyway).
pub fn module(package_root: &Path, name: &str, busybox: &Path) -> Result<Vec<u8>, LaneError> {
    let release = ["lib/modules", "usr/lib/modules"]
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(package_root.join(dir))
                .into_iter()
                .flatten()
        })
        .filter_map(|e| Some(e.ok()?.path()))
        .find(|p| p.join("kernel").is_dir())
        .ok_or_else(|| {
            LaneError::Kernel(format!(
                "no modules in {} (lib/modules/ or usr/lib/modules/)",
                package_root.display()
            ))
        })?;
    let plain = release.join(format!("{name}.ko"));
    if plain.is_file() {
        return std::fs::read(&plain).map_err(|e| io(format!("reading {}", plain.display()), e));
    }
    let xz = release.join(format!("{name}.ko.xz"));
    if !xz.is_file() {
        return Err(LaneError::Kernel(format!(
            "no {name}.ko or {name}.ko.xz in {}",
            release.display()
        )));
    }
    let out = Command::new(busybox)
        .arg("xzcat")
        .arg(&xz)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io(format!("decompressing {}", xz.display()), e))?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(LaneError::Kernel(format!(
            "busybox xzcat {}: {}",
            xz.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// Where module `name` goes in the guest.
pub fn module_path(name: &str) -> String {
    format!(
        "/lib/modules/{}.ko",
        name.rsplit('/').next().unwrap_or(name)
    )
}

/// `/init`: mounts what the runner reads (proc, sys, tracefs for the kernel's RST reasons,
/// devtmpfs for `/dev/net/tun` and the serial ports), loads [`MODULES`], brings `lo` up, runs the batch
/// with its frames on the results port, and powers off. Its own messages go to the console.
pub fn init_script() -> String {
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tracefs nodev /sys/kernel/tracing
mount -t tmpfs tmp /tmp
for m in {modules}; do insmod $m || echo "rstlab-lane: insmod $m failed"; done
ip link set lo up
# Raw: no newline translation or echo on the port the frames leave through.
stty -F {port} raw -echo
cd /tmp
{exe} lane-guest {manifest} > {port}
echo "rstlab-lane: the batch ended with status $?"
poweroff -f
"#,
        port = RESULTS_PORT,
        exe = EXE,
        manifest = MANIFEST,
        modules = MODULES
            .iter()
            .map(|m| module_path(m))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lines_give_the_libraries_and_the_loader_not_the_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        let libs: Vec<String> = parse_ldd(text).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            libs,
            [
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }

    #[test]
    fn the_archive_is_the_same_for_the_same_contents_and_ends_with_the_trailer() {
        let make = || {
            let mut fs = Initramfs::default();
            fs.file("/bin/x", b"hello".to_vec(), 0o755);
            fs.symlink("/bin/sh", "busybox");
            let mut out = Vec::new();
            fs.write(&mut out).unwrap();
            out
        };
        let a = make();
        assert_eq!(a, make());
        assert!(a.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("TRAILER!!!"));
        // `bin` first, then its entries: the kernel creates them in order.
        assert!(text.find("bin\0").unwrap() < text.find("bin/x\0").unwrap());
    }
}
