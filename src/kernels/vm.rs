//! Other kernels in a VM: Debian's kernel packages fetched with the machine's own apt sources
//! into a cache (never installed), booted with virtme-ng on the host's root filesystem so that
//! this very binary runs inside, and the [survey](crate::kernels::survey) it writes read back.
//!
//! What it needs on the host: `apt-get` and `dpkg` (Debian or a derivative, with a Debian
//! archive in its apt sources), `depmod` (kmod), and virtme-ng (`vng`, from PyPI) with
//! `qemu-system-x86` and `busybox-static`. [`missing_tools`] names what is absent.
//!
//! The archive's address is read from the apt sources, never written here; the kernels' suites
//! are Debian's names ([`SERIES`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::kernels::survey::{self, Survey};

/// A Debian kernel series rstlab checks: the suites that carry it, newest package first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Series {
    /// `5.10`, as users name it.
    pub name: &'static str,
    /// Who runs it.
    pub distribution: &'static str,
    /// The suites to look in, as `(archive, suite)`.
    pub suites: &'static [(Archive, &'static str)],
    /// How Debian packages its kernel.
    pub packaging: Packaging,
}

/// How Debian packages a series' kernel: the packages to fetch, and where the image and the
/// modules are inside them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packaging {
    /// One package, `linux-image-VERSION-amd64-unsigned`: the image at `boot/vmlinuz-VERSION`,
    /// the modules under `lib/modules/VERSION/` (Debian up to 6.12).
    Image,
    /// From 6.18 on the image package is a metapackage: `linux-binary-VERSION` holds the image
    /// at `usr/lib/modules/VERSION/vmlinuz`, `linux-modules-VERSION` the modules beside it and
    /// `linux-base-VERSION` the lists depmod and modprobe read (`modules.order`,
    /// `modules.builtin`). The three are unpacked into one folder, named after the first.
    Split,
}

impl Packaging {
    /// The first package's name before the version: the one `apt-cache search` finds and the
    /// cache's folder is named after.
    fn prefix(self) -> &'static str {
        match self {
            Packaging::Image => "linux-image-",
            Packaging::Split => "linux-binary-",
        }
    }

    /// The first package's name after the version (the flavour: only the generic one).
    fn suffix(self) -> &'static str {
        match self {
            Packaging::Image => "-amd64-unsigned",
            Packaging::Split => "-amd64",
        }
    }

    /// Whether `package` is this packaging's first package for `series`, of the generic
    /// flavour (not the cloud or realtime one, not the unsigned binary).
    fn names(self, package: &str, series: &str) -> bool {
        package
            .strip_prefix(self.prefix())
            .and_then(|rest| rest.strip_prefix(series))
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|rest| {
                rest.starts_with(|c: char| c.is_ascii_digit())
                    && rest.ends_with(self.suffix())
                    && !rest.contains("-cloud-")
                    && !rest.contains("-rt-")
            })
    }

    /// Every package to fetch for the first package `package`.
    fn packages(self, package: &str) -> Vec<String> {
        match self {
            Packaging::Image => vec![package.to_string()],
            Packaging::Split => {
                let version = package.strip_prefix(self.prefix()).unwrap_or(package);
                ["linux-binary-", "linux-modules-", "linux-base-"]
                    .iter()
                    .map(|p| format!("{p}{version}"))
                    .collect()
            }
        }
    }
}

/// Which of Debian's archives a suite is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Archive {
    /// The main archive.
    Main,
    /// The security archive.
    Security,
}

/// The kernels `rstlab kernels` knows how to fetch.
pub const SERIES: &[Series] = &[
    Series {
        name: "5.10",
        distribution: "Debian 11 (bullseye)",
        suites: &[
            (Archive::Main, "bullseye"),
            (Archive::Security, "bullseye-security"),
        ],
        packaging: Packaging::Image,
    },
    Series {
        name: "6.1",
        distribution: "Debian 12 (bookworm)",
        suites: &[
            (Archive::Main, "bookworm"),
            (Archive::Security, "bookworm-security"),
        ],
        packaging: Packaging::Image,
    },
    Series {
        name: "6.12",
        distribution: "Debian 12 security and backports, Debian 13 (trixie)",
        suites: &[
            (Archive::Security, "bookworm-security"),
            (Archive::Main, "bookworm-backports"),
        ],
        packaging: Packaging::Image,
    },
    Series {
        name: "7.3",
        distribution: "Debian 13 (trixie) backports",
        suites: &[(Archive::Main, "trixie-backports")],
        packaging: Packaging::Split,
    },
];

/// Finds a series by its name.
pub fn series(name: &str) -> Option<&'static Series> {
    SERIES.iter().find(|s| s.name == name)
}

/// Why a kernel could not be fetched or checked.
#[derive(Debug, Error)]
pub enum VmError {
    /// A tool is missing on the host.
    #[error("{0}")]
    Missing(String),
    /// The apt sources name no Debian archive.
    #[error(
        "no Debian archive in this machine's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/): rstlab fetches Debian's kernel packages from the archive the machine already uses"
    )]
    NoArchive,
    /// No package of the series was found: the names looked for, and the suites.
    #[error("no {0} package in {1}")]
    NoPackage(String, String),
    /// A command failed.
    #[error("{what}: {detail}")]
    Command {
        /// What was being done.
        what: String,
        /// Its error output, or how it ended.
        detail: String,
    },
    /// The VM ran but left no survey.
    #[error("the VM ended without results ({0})")]
    NoResults(String),
    /// The deadline passed.
    #[error("the VM did not finish within {0:?}; it was stopped")]
    Timeout(Duration),
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
    /// A file operation failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// The host tools missing for fetching and booting kernels, with the command that installs
/// each; empty when all are there.
pub fn missing_tools() -> Vec<(&'static str, &'static str)> {
    let tools: &[(&str, &str)] = &[
        ("apt-get", "a Debian-based host"),
        ("dpkg", "a Debian-based host"),
        ("depmod", "apt-get install kmod"),
        ("vng", "pip install virtme-ng"),
        ("qemu-system-x86_64", "apt-get install qemu-system-x86"),
        ("busybox", "apt-get install busybox-static"),
    ];
    tools
        .iter()
        .filter(|(tool, _)| which(tool).is_none())
        .copied()
        .collect()
}

/// The path of `tool` on `PATH` (and the sbin directories root has).
pub(crate) fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// One source of the machine's apt configuration: an archive's address and its keyring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The URI.
    pub uri: String,
    /// The suites listed with it.
    pub suites: Vec<String>,
    /// `Signed-By`, when given.
    pub signed_by: Option<String>,
}

/// Reads apt sources in both formats: one-line (`deb [opts] URI SUITE COMPONENTS`) and deb822
/// (`Types:`, `URIs:`, `Suites:`, `Signed-By:` paragraphs).
pub fn parse_sources(text: &str, deb822: bool) -> Vec<Source> {
    let mut sources = Vec::new();
    if deb822 {
        for paragraph in text.split("\n\n") {
            let field = |name: &str| {
                paragraph.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
            };
            let is_deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
            let enabled = field("Enabled").is_none_or(|e| e != "no");
            if !is_deb || !enabled {
                continue;
            }
            let suites: Vec<String> = field("Suites")
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
            for uri in field("URIs").unwrap_or_default().split_whitespace() {
                sources.push(Source {
                    uri: uri.to_string(),
                    suites: suites.clone(),
                    signed_by: field("Signed-By").filter(|s| !s.contains('\n')),
                });
            }
        }
    } else {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some(rest) = line.strip_prefix("deb ") else {
                continue;
            };
            let mut rest = rest.trim();
            let mut signed_by = None;
            if let Some(options) = rest.strip_prefix('[') {
                let Some((options, after)) = options.split_once(']') else {
                    continue;
                };
                signed_by = options
                    .split_whitespace()
                    .find_map(|o| o.strip_prefix("signed-by="))
                    .map(String::from);
                rest = after.trim();
            }
            let mut words = rest.split_whitespace();
            if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
                sources.push(Source {
                    uri: uri.to_string(),
                    suites: vec![suite.to_string()],
                    signed_by,
                });
            }
        }
    }
    sources
}

/// The machine's apt sources.
fn machine_sources() -> Vec<Source> {
    let mut sources = Vec::new();
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| Some(e.ok()?.path())).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let deb822 = file.extension().is_some_and(|e| e == "sources");
        if let Ok(text) = std::fs::read_to_string(&file) {
            sources.extend(parse_sources(&text, deb822));
        }
    }
    sources
}

/// Debian's main and security archives among `sources`: the security archive serves
/// `*-security` suites, the main archive Debian's other suites.
pub fn debian_archives(sources: &[Source]) -> Option<(Source, Source)> {
    const CODENAMES: &[&str] = &[
        "buster", "bullseye", "bookworm", "trixie", "forky", "sid", "stable", "testing",
    ];
    let codename = |s: &str| CODENAMES.contains(&s.split('-').next().unwrap_or(s));
    let security = sources.iter().find(|s| {
        s.suites
            .iter()
            .any(|x| codename(x) && x.ends_with("-security"))
    })?;
    let main = sources.iter().find(|s| {
        s.uri != security.uri && s.suites.iter().any(|x| codename(x) && !x.contains('-'))
    })?;
    Some((main.clone(), security.clone()))
}

/// The keyring every Debian release's archive key is in.
const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// A private apt configuration in the cache: its own sources, lists and downloads, so that
/// nothing of the machine's apt state changes.
struct Apt {
    dir: PathBuf,
}

impl Apt {
    /// The configuration for fetching `series`: the sources list names their suites alone, so
    /// that a suite another series needs (an archive that moved, a key this machine lacks)
    /// cannot stop this one.
    fn new(cache: &Path, series: &[&Series]) -> Result<Apt, VmError> {
        let (main, security) = debian_archives(&machine_sources()).ok_or(VmError::NoArchive)?;
        let dir = cache.join("apt");
        for sub in ["lists/partial", "cache/archives/partial", "parts"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path)
                .map_err(|e| VmError::Io(format!("creating {}", path.display()), e))?;
        }
        let mut list = String::new();
        for series in series {
            for &(archive, suite) in series.suites {
                let source = match archive {
                    Archive::Main => &main,
                    Archive::Security => &security,
                };
                let keyring = source.signed_by.as_deref().unwrap_or(DEBIAN_KEYRING);
                let line = format!("deb [signed-by={keyring}] {} {suite} main\n", source.uri);
                if !list.contains(&line) {
                    list.push_str(&line);
                }
            }
        }
        let path = dir.join("sources.list");
        std::fs::write(&path, list)
            .map_err(|e| VmError::Io(format!("writing {}", path.display()), e))?;
        Ok(Apt { dir })
    }

    fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        for (key, value) in [
            ("Dir::Etc::SourceList", d("sources.list")),
            ("Dir::Etc::SourceParts", d("parts")),
            ("Dir::State::Lists", d("lists")),
            ("Dir::Cache", d("cache")),
            ("Dir::State::status", "/dev/null".to_string()),
            ("APT::Architecture", "amd64".to_string()),
        ] {
            c.arg("-o").arg(format!("{key}={value}"));
        }
        c
    }

    fn update(&self) -> Result<(), VmError> {
        let mut c = self.command("apt-get");
        c.args(["-q", "update"]);
        run(c, "reading the archive's package lists (apt-get update)").map(drop)
    }

    /// The newest first package of `series` (see [`Packaging`]):
    /// `linux-image-<series>.*-amd64-unsigned`, or `linux-binary-<series>.*-amd64`.
    fn newest(&self, series: &Series) -> Result<String, VmError> {
        let packaging = series.packaging;
        let mut c = self.command("apt-cache");
        let pattern = format!(
            "^{}{}\\.[0-9.+a-z-]*{}$",
            packaging.prefix(),
            series.name.replace('.', "\\."),
            packaging.suffix()
        );
        c.args(["search", "--names-only", &pattern]);
        let out = run(c, "looking for the kernel package (apt-cache search)")?;
        out.lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| packaging.names(name, series.name))
            .max_by_key(|name| numbers(name))
            .map(String::from)
            .ok_or_else(|| {
                let suites: Vec<&str> = series.suites.iter().map(|(_, s)| *s).collect();
                VmError::NoPackage(
                    format!(
                        "{}{}.*{}",
                        packaging.prefix(),
                        series.name,
                        packaging.suffix()
                    ),
                    suites.join(", "),
                )
            })
    }

    fn download(&self, package: &str, into: &Path) -> Result<PathBuf, VmError> {
        let mut c = self.command("apt-get");
        c.args(["-q", "download", package]).current_dir(into);
        run(c, &format!("downloading {package}"))?;
        let prefix = format!("{package}_");
        std::fs::read_dir(into)
            .map_err(|e| VmError::Io(format!("reading {}", into.display()), e))?
            .filter_map(|e| Some(e.ok()?.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
            })
            .ok_or_else(|| VmError::Command {
                what: format!("downloading {package}"),
                detail: "apt-get left no .deb".to_string(),
            })
    }
}

/// The numbers in a package name, for ordering `5.10.0-9` before `5.10.0-46`.
fn numbers(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Runs `c` to the end; its standard output, or its error output in the error.
fn run(mut c: Command, what: &str) -> Result<String, VmError> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| VmError::Io(what.to_string(), e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last: Vec<&str> = err.lines().rev().take(3).collect();
        return Err(VmError::Command {
            what: what.to_string(),
            detail: format!("{} ({})", last.join(" / "), out.status),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A kernel unpacked in the cache.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The series.
    pub series: &'static Series,
    /// The package it came from (the first, for a [split](Packaging::Split) kernel).
    pub package: String,
    /// The folder its packages are unpacked in: the modules are under its `lib/modules/` or
    /// `usr/lib/modules/`.
    pub root: PathBuf,
    /// The kernel image.
    pub image: PathBuf,
}

/// Fetches the newest kernel of each of `series` into `cache` (skipping what is unpacked
/// already), with one `apt-get update` for all.
pub fn fetch(series: &[&'static Series], cache: &Path) -> Result<Vec<Fetched>, VmError> {
    let apt = Apt::new(cache, series)?;
    apt.update()?;
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs)
        .map_err(|e| VmError::Io(format!("creating {}", debs.display()), e))?;
    let mut fetched = Vec::new();
    for &s in series {
        let package = apt.newest(s)?;
        let root = cache.join("kernels").join(&package);
        if image_in(&root).is_none() {
            let partial = cache.join("kernels").join(format!("{package}.partial"));
            let _ = std::fs::remove_dir_all(&partial);
            std::fs::create_dir_all(&partial)
                .map_err(|e| VmError::Io(format!("creating {}", partial.display()), e))?;
            // Every package into the same folder, as installing them would lay them out; the
            // folder takes its name only when all are there.
            for name in s.packaging.packages(&package) {
                let deb = apt.download(&name, &debs)?;
                let mut c = Command::new("dpkg");
                c.arg("-x").arg(&deb).arg(&partial);
                let unpacked = run(c, &format!("unpacking {name} (dpkg -x)"));
                let _ = std::fs::remove_file(&deb);
                unpacked?;
            }
            let _ = std::fs::remove_dir_all(&root);
            std::fs::rename(&partial, &root)
                .map_err(|e| VmError::Io(format!("moving {}", root.display()), e))?;
        }
        let image = image_in(&root).ok_or_else(|| VmError::Command {
            what: format!("unpacking {package}"),
            detail: "no boot/vmlinuz-* or usr/lib/modules/*/vmlinuz inside".to_string(),
        })?;
        fetched.push(Fetched {
            series: s,
            package,
            root,
            image,
        });
    }
    Ok(fetched)
}

/// Where kernel packages are kept unless told otherwise: `$XDG_CACHE_HOME/rstlab`, or
/// `~/.cache/rstlab`; `None` when neither variable is set.
pub fn default_cache() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("rstlab"));
    }
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".cache").join("rstlab"))
}

/// The newest kernel of `series` already unpacked in `cache`, found without the network (no
/// `apt-get update`): what [`fetch`] left there before.
pub fn cached(series: &'static Series, cache: &Path) -> Option<Fetched> {
    std::fs::read_dir(cache.join("kernels"))
        .ok()?
        .filter_map(|e| {
            let package = e.ok()?.file_name().into_string().ok()?;
            // A `.partial` folder ends in neither suffix.
            series
                .packaging
                .names(&package, series.name)
                .then_some(package)
        })
        .max_by_key(|package| numbers(package))
        .and_then(|package| {
            let root = cache.join("kernels").join(&package);
            let image = image_in(&root)?;
            Some(Fetched {
                series,
                package,
                root,
                image,
            })
        })
}

/// The kernel image among the packages unpacked in `root`: `boot/vmlinuz-VERSION` (the
/// [`Packaging::Image`] layout) or `usr/lib/modules/VERSION/vmlinuz` ([`Packaging::Split`]).
fn image_in(root: &Path) -> Option<PathBuf> {
    let files = |dir: PathBuf| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path()))
    };
    files(root.join("boot"))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .or_else(|| {
            files(root.join("usr/lib/modules"))
                .map(|release| release.join("vmlinuz"))
                .find(|p| p.is_file())
        })
}

/// How the VM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acceleration {
    /// Hardware virtualisation.
    Kvm,
    /// QEMU's software emulation: several times slower, works everywhere.
    Emulated,
}

impl Acceleration {
    /// As the survey records it.
    pub fn machine(self) -> &'static str {
        match self {
            Acceleration::Kvm => "vm (kvm)",
            Acceleration::Emulated => "vm (emulated)",
        }
    }

    /// KVM where `/dev/kvm` opens, else emulation.
    pub fn available() -> Acceleration {
        let kvm = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        if kvm {
            Acceleration::Kvm
        } else {
            Acceleration::Emulated
        }
    }
}

/// What to run inside a VM.
#[derive(Clone, Debug)]
pub struct BootOptions {
    /// This binary, as the guest sees it (the host's root filesystem is the guest's).
    pub exe: PathBuf,
    /// The survey's options.
    pub cases: u64,
    /// The survey's seed.
    pub seed: u64,
    /// CPUs of the VM (and the survey's jobs).
    pub cpus: usize,
    /// How long the boot and survey may take.
    pub deadline: Duration,
}

/// What a VM run produced.
#[derive(Debug)]
pub struct Booted {
    /// The survey.
    pub survey: Survey,
    /// The boot's wall-clock time, survey included.
    pub seconds: f64,
}

/// Boots `kernel` with `acceleration` and runs the survey inside; `progress` gets each line
/// the survey reports, as it comes. The VM's folder `work` (created, emptied) holds the results
/// and the console log. Ctrl-C (`stop`) and the deadline stop the VM and its process group.
pub fn boot(
    kernel: &Fetched,
    acceleration: Acceleration,
    options: &BootOptions,
    work: &Path,
    stop: &Arc<AtomicBool>,
    mut progress: impl FnMut(&str),
) -> Result<Booted, VmError> {
    let start = Instant::now();
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work)
        .map_err(|e| VmError::Io(format!("creating {}", work.display()), e))?;
    let out = work.join("survey.json");
    let progress_file = work.join("progress");
    let console = work.join("console.log");
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    // Debian's kernels build TUN as a module. The survey writes its results through the
    // shared folder: the console mangles long output.
    let script = format!(
        "modprobe tun 2>/dev/null; {exe} survey --cases {cases} --seed {seed} --jobs {jobs} \
         --machine '{machine}' --out {out} --progress {progress}",
        exe = quote(&options.exe),
        cases = options.cases,
        seed = options.seed,
        jobs = options.cpus,
        machine = acceleration.machine(),
        out = quote(&out),
        progress = quote(&progress_file),
    );
    let log = std::fs::File::create(&console)
        .map_err(|e| VmError::Io(format!("creating {}", console.display()), e))?;
    let mut c = Command::new("vng");
    c.arg("--run").arg(&kernel.image);
    if acceleration == Acceleration::Emulated {
        c.arg("--disable-kvm");
    }
    c.args(["--cpus", &options.cpus.to_string(), "--memory", "2G"])
        .arg("--rwdir")
        .arg(work)
        .arg("--exec")
        .arg(&script)
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| VmError::Io("the log".into(), e))?,
        )
        .stderr(log);
    // Its own process group, so that stopping it stops QEMU and virtiofsd too.
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let child = c
        .spawn()
        .map_err(|e| VmError::Io("starting vng".to_string(), e))?;
    let mut guard = GroupGuard(Some(child));
    let mut shown = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&progress_file) {
            for line in text.lines().skip(shown) {
                progress(line);
                shown += 1;
            }
        }
        let child = guard.0.as_mut().expect("held until the end");
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {}
            Err(e) => return Err(VmError::Io("waiting for the VM".to_string(), e)),
        }
        if stop.load(Ordering::Relaxed) {
            return Err(VmError::Interrupted);
        }
        if start.elapsed() > options.deadline {
            return Err(VmError::Timeout(options.deadline));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    guard.0 = None;
    match survey::load(&out) {
        Ok(survey) => Ok(Booted {
            survey,
            seconds: start.elapsed().as_secs_f64(),
        }),
        Err(_) => {
            let text = std::fs::read_to_string(&console).unwrap_or_default();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output")
                .trim()
                .to_string();
            Err(VmError::NoResults(format!(
                "last console line: {last}; the log is {}",
                console.display()
            )))
        }
    }
}

/// [`boot`], and where it fails for KVM's sake ([`kvm_failed`]) again with emulation, which
/// `acceleration` then keeps for the kernels after this one. `fell_back` is told when it
/// happens, with the console log that shows why.
pub fn boot_or_emulate(
    kernel: &Fetched,
    acceleration: &mut Acceleration,
    options: &BootOptions,
    work: &Path,
    stop: &Arc<AtomicBool>,
    mut progress: impl FnMut(&str),
    mut fell_back: impl FnMut(&Path),
) -> Result<Booted, VmError> {
    loop {
        let result = boot(kernel, *acceleration, options, work, stop, &mut progress);
        if result.is_err() && *acceleration == Acceleration::Kvm && kvm_failed(work) {
            fell_back(&work.join("console.log"));
            *acceleration = Acceleration::Emulated;
            continue;
        }
        return result;
    }
}

/// Whether a failed boot failed for KVM's sake (so that emulation may work).
pub fn kvm_failed(work: &Path) -> bool {
    std::fs::read_to_string(work.join("console.log"))
        .map(|t| {
            let t = t.to_lowercase();
            t.contains("kvm") && (t.contains("failed") || t.contains("assertion"))
        })
        .unwrap_or(false)
}

/// Kills the VM's process group when dropped, unless the VM ended by itself.
pub(crate) struct GroupGuard(pub(crate) Option<Child>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = crate::sys::kill_process_group(&child);
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_apt_source_formats_give_the_archives() {
        let deb822 = "Types: deb\nURIs: http://archive.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://archive.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let sources = parse_sources(deb822, true);
        assert_eq!(sources.len(), 2);
        let (main, security) = debian_archives(&sources).unwrap();
        assert_eq!(main.uri, "http://archive.example/debian");
        assert_eq!(
            main.signed_by.as_deref(),
            Some("/usr/share/keyrings/debian-archive-keyring.gpg")
        );
        assert_eq!(security.uri, "http://archive.example/debian-security");
        let one_line = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://a.example/debian bullseye main\ndeb-src http://a.example/debian bullseye main\ndeb http://s.example/debian-security bullseye-security main\n";
        let sources = parse_sources(one_line, false);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].signed_by.as_deref(), Some("/k.gpg"));
        assert!(debian_archives(&sources).is_some());
        assert_eq!(
            debian_archives(&parse_sources(
                "deb http://x.example/ubuntu jammy main",
                false
            )),
            None
        );
    }

    #[test]
    fn each_packaging_names_its_generic_first_package_and_the_rest() {
        let image = Packaging::Image;
        assert!(image.names("linux-image-6.1.0-57-amd64-unsigned", "6.1"));
        assert!(!image.names("linux-image-6.12.118+deb12-amd64-unsigned", "6.1"));
        assert!(!image.names("linux-image-6.1.0-57-cloud-amd64-unsigned", "6.1"));
        assert!(!image.names("linux-image-6.1.0-57-amd64-unsigned.partial", "6.1"));
        assert_eq!(
            image.packages("linux-image-6.1.0-57-amd64-unsigned"),
            ["linux-image-6.1.0-57-amd64-unsigned"]
        );
        let split = Packaging::Split;
        assert!(split.names("linux-binary-7.3.4+deb13-amd64", "7.3"));
        for other in [
            "linux-binary-7.3.4+deb13-rt-amd64",
            "linux-binary-7.3.4+deb13-cloud-amd64",
            "linux-binary-unsigned-7.3.4+deb13-amd64",
            "linux-binary-7.30.1+deb13-amd64",
            "linux-binary-7.3.4+deb13-amd64.partial",
        ] {
            assert!(!split.names(other, "7.3"), "{other}");
        }
        assert_eq!(
            split.packages("linux-binary-7.3.4+deb13-amd64"),
            [
                "linux-binary-7.3.4+deb13-amd64",
                "linux-modules-7.3.4+deb13-amd64",
                "linux-base-7.3.4+deb13-amd64"
            ]
        );
    }

    #[test]
    fn the_image_is_found_in_either_layout() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(image_in(dir.path()), None);
        let split = dir.path().join("usr/lib/modules/7.3.4+deb13-amd64");
        std::fs::create_dir_all(split.join("kernel")).unwrap();
        assert_eq!(image_in(dir.path()), None, "modules alone");
        std::fs::write(split.join("vmlinuz"), b"").unwrap();
        assert_eq!(image_in(dir.path()), Some(split.join("vmlinuz")));
        let boot = dir.path().join("boot");
        std::fs::create_dir_all(&boot).unwrap();
        std::fs::write(boot.join("vmlinuz-6.1.0-57-amd64"), b"").unwrap();
        assert_eq!(
            image_in(dir.path()),
            Some(boot.join("vmlinuz-6.1.0-57-amd64"))
        );
    }

    #[test]
    fn the_newest_package_is_the_one_with_the_highest_numbers() {
        let names = [
            "linux-image-5.10.0-9-amd64-unsigned",
            "linux-image-5.10.0-46-amd64-unsigned",
            "linux-image-5.10.0-30-amd64-unsigned",
        ];
        assert_eq!(
            names.iter().max_by_key(|n| numbers(n)),
            Some(&"linux-image-5.10.0-46-amd64-unsigned")
        );
        assert!(
            numbers("linux-image-6.12.117+deb12-amd64-unsigned")
                > numbers("linux-image-6.12.95+deb12-amd64-unsigned")
        );
    }
}
