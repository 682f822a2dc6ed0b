//! Kernel profiles: what changed in Linux's TCP between the versions people run, as data the
//! oracle is given, like time.
//!
//! A [`Kernel`] is a version; what it does differently is decided by the table [`CHANGES`]:
//! each entry is one upstream commit that changed an outcome or a segment the oracle predicts,
//! with the first mainline version that has it and the first release of each stable series
//! that got it as a backport. The oracle asks [`Kernel::has`] where the kernels part ways and
//! nowhere else; a new difference is one more row here and one `has` in the model.
//!
//! The running kernel's version comes from `/proc/sys/kernel/osrelease`, refined by
//! `/proc/sys/kernel/version` where a distribution keeps the real stable release there (Debian's
//! `6.1.0-57-amd64` is 6.1.192: `#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3`).
//!
//! ```
//! use rstlab::oracle::kernel::{Change, Kernel};
//! let bullseye: Kernel = "5.10.262".parse().unwrap();
//! assert!(!bullseye.has(Change::FinObeysCwnd));
//! assert!("6.12.117".parse::<Kernel>().unwrap().has(Change::FinObeysCwnd));
//! ```

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::rules::Rule;

/// A Linux version: major, minor, and the stable release (`patch`, 0 when unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// 6 in 6.1.192.
    pub major: u32,
    /// 1 in 6.1.192.
    pub minor: u32,
    /// 192 in 6.1.192.
    pub patch: u32,
}

impl Version {
    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// The stable series it belongs to: `(major, minor)`.
    pub fn series(self) -> (u32, u32) {
        (self.major, self.minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A version that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a kernel version: {0:?} (expected MAJOR.MINOR or MAJOR.MINOR.PATCH, such as 5.10 or 6.1.192)"
)]
pub struct BadVersion(String);

impl FromStr for Version {
    type Err = BadVersion;

    /// Reads `5.10`, `6.1.192`, or a release string that starts with one (`6.1.0-57-amd64`,
    /// `6.18.44-fc-v657`).
    fn from_str(s: &str) -> Result<Version, BadVersion> {
        let bad = || BadVersion(s.to_string());
        let head = s
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap_or("");
        let mut parts = head.split('.').filter(|p| !p.is_empty());
        let mut number = |required: bool| -> Result<u32, BadVersion> {
            match parts.next() {
                Some(p) => p.parse().map_err(|_| bad()),
                None if required => Err(bad()),
                None => Ok(0),
            }
        };
        let version = Version::new(number(true)?, number(true)?, number(false)?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(version)
    }
}

/// A change in Linux's TCP that changes what the oracle predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// A FIN waits for the congestion window like data. Before, `tcp_cwnd_test()` let a final
    /// one-segment skb carrying FIN out past a full window.
    FinObeysCwnd,
    /// A socket past ESTABLISHED accepts a segment whose ACK is older than `snd_una`. Before,
    /// `tcp_rcv_state_process()` dropped the segment (its data and FIN too) with a challenge
    /// ACK.
    AcceptsOldAckWhileClosing,
}

/// One row of [`CHANGES`].
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ChangeInfo {
    /// Which change.
    pub change: Change,
    /// The upstream commit, 12 hex digits.
    pub commit: &'static str,
    /// Its title.
    pub title: &'static str,
    /// The first mainline version that has it.
    pub since: Version,
    /// The first release of each older stable series that got it as a backport.
    pub backports: &'static [Version],
    /// What changes, in a sentence: before, then after.
    pub what: &'static str,
    /// The rules whose behaviour it changes; none where the model stops before the change
    /// shows (it says why in its refusal).
    pub rules: &'static [Rule],
    /// Among them, the rules only kernels without the change follow.
    pub only_before: &'static [Rule],
}

/// Every change the oracle knows, oldest first.
pub const CHANGES: &[ChangeInfo] = &[
    ChangeInfo {
        change: Change::AcceptsOldAckWhileClosing,
        commit: "795a7dfbc3d9",
        title: "net: tcp: accept old ack during closing",
        since: Version::new(6, 9, 0),
        backports: &[Version::new(6, 1, 167)],
        what: "Before, in FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK and CLOSE_WAIT a segment \
               whose ACK is older than snd_una (segments reordered on the way) is dropped, its \
               data and FIN with it, and answered with a challenge ACK; from 6.9 (and 6.1.167) \
               its data and FIN are taken.",
        rules: &[],
        only_before: &[],
    },
    ChangeInfo {
        change: Change::FinObeysCwnd,
        commit: "22555032c513",
        title: "tcp: remove dubious FIN exception from tcp_cwnd_test()",
        since: Version::new(6, 10, 0),
        backports: &[],
        what: "Before, a FIN alone (or riding on the last unsent segment) leaves even when the \
           congestion window is full, one segment past it; from 6.10 it waits for ACKs to open \
           the window like data.",
        rules: &[Rule::CwndHoldsBackData, Rule::FinPassesFullCwnd],
        only_before: &[Rule::FinPassesFullCwnd],
    },
];

impl Change {
    /// Its row in [`CHANGES`].
    pub fn info(self) -> &'static ChangeInfo {
        CHANGES
            .iter()
            .find(|c| c.change == self)
            .expect("every change has its row in CHANGES")
    }
}

/// A kernel profile: the version whose behaviour the oracle predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Kernel {
    /// The version.
    pub version: Version,
}

impl Kernel {
    /// The newest behaviour the oracle knows: every change in [`CHANGES`].
    pub const NEWEST: Kernel = Kernel {
        version: Version::new(u32::MAX, 0, 0),
    };

    /// The profile of `version`.
    pub const fn of(version: Version) -> Kernel {
        Kernel { version }
    }

    /// Whether this kernel has `change`: its version is at least the change's mainline
    /// version, or a stable release that got it as a backport.
    pub fn has(self, change: Change) -> bool {
        let info = change.info();
        self.version >= info.since
            || info
                .backports
                .iter()
                .any(|b| b.series() == self.version.series() && self.version >= *b)
    }

    /// The changes this kernel lacks, oldest first: where it differs from [`Kernel::NEWEST`].
    pub fn lacks(self) -> impl Iterator<Item = &'static ChangeInfo> {
        CHANGES.iter().filter(move |c| !self.has(c.change))
    }

    /// The kernel this process runs on (read once).
    pub fn running() -> Kernel {
        static RUNNING: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *RUNNING.get_or_init(|| {
            let (release, build) = uname();
            Kernel::of(version_of(&release, &build).unwrap_or(Kernel::NEWEST.version))
        })
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Kernel::NEWEST {
            f.write_str("newest")
        } else {
            self.version.fmt(f)
        }
    }
}

impl FromStr for Kernel {
    type Err = BadVersion;

    /// A version (`5.10`, `6.1.192`), or `newest`.
    fn from_str(s: &str) -> Result<Kernel, BadVersion> {
        if s == "newest" {
            return Ok(Kernel::NEWEST);
        }
        s.parse().map(Kernel::of)
    }
}

/// `CONFIG_HZ` of Debian's amd64 kernels (5.10, 6.1 and 6.12 alike, read from their
/// `/boot/config-*`): a jiffy is 4 ms, the grain of every TCP timer.
pub const DEBIAN_HZ: u32 = 250;

/// The first version that honours `net.ipv4.tcp_rto_min_us` (commit f086edef71be "tcp: add
/// sysctl_tcp_rto_min_us"); before, the RTO's floor is `TCP_RTO_MIN` unless a route's
/// `rto_min` says otherwise. Not a row of [`CHANGES`]: it changes no outcome at the defaults,
/// only what a non-default sysctl does.
pub const RTO_MIN_SYSCTL_SINCE: Version = Version::new(6, 11, 0);

/// What a kernel's TCP timers depend on that is not the same everywhere: data the timer model
/// ([`crate::oracle::timers`]) is given, like the kernel profile it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TimerProfile {
    /// `CONFIG_HZ`: jiffies per second.
    pub hz: u32,
    /// Whether `net.ipv4.tcp_rto_min_us` sets the RTO's floor ([`RTO_MIN_SYSCTL_SINCE`]).
    pub rto_min_sysctl: bool,
}

impl Kernel {
    /// Its timer profile: Debian's HZ, and what its version does with the RTO's floor.
    pub fn timers(self) -> TimerProfile {
        TimerProfile {
            hz: DEBIAN_HZ,
            rto_min_sysctl: self.version >= RTO_MIN_SYSCTL_SINCE,
        }
    }
}

/// `uname -r` and `uname -v` of the running kernel, trimmed (empty where unreadable).
pub fn uname() -> (String, String) {
    let read = |key: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{key}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    (read("osrelease"), read("version"))
}

/// The version of a kernel whose `uname -r` is `release` and `uname -v` is `build`: the
/// release's, unless the build string names a later stable release of the same series (as
/// Debian's do: `Debian 6.1.192-3`).
pub fn version_of(release: &str, build: &str) -> Option<Version> {
    let version: Version = release.trim().parse().ok()?;
    let refined = build
        .split_whitespace()
        .filter_map(|word| word.parse::<Version>().ok())
        .find(|v| v.series() == version.series() && v.patch > version.patch);
    Some(refined.unwrap_or(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_releases_and_debian_build_strings() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert_eq!(v("5.10"), Version::new(5, 10, 0));
        assert_eq!(v("6.18.44-fc-v657"), Version::new(6, 18, 44));
        assert!("6".parse::<Version>().is_err());
        assert!("six".parse::<Version>().is_err());
        assert!("6.1.2.3".parse::<Version>().is_err());
        assert_eq!(
            version_of(
                "6.1.0-57-amd64\n",
                "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-10-01)\n"
            ),
            Some(v("6.1.192"))
        );
        assert_eq!(
            version_of("6.18.44-fc-v657", "#1 SMP Thu Jan 1 00:00:00 UTC 2026"),
            Some(v("6.18.44"))
        );
        assert_eq!(version_of("garbage", ""), None);
    }

    #[test]
    fn a_change_holds_from_its_mainline_version_and_from_its_backports() {
        let kernel = |s: &str| s.parse::<Kernel>().unwrap();
        assert!(!kernel("6.9.12").has(Change::FinObeysCwnd));
        assert!(kernel("6.10").has(Change::FinObeysCwnd));
        assert!(Kernel::NEWEST.has(Change::FinObeysCwnd));
        assert_eq!(Kernel::NEWEST.lacks().count(), 0);
        assert_eq!(kernel("5.10.262").lacks().count(), 2);
        assert!(!kernel("6.1.166").has(Change::AcceptsOldAckWhileClosing));
        assert!(kernel("6.1.192").has(Change::AcceptsOldAckWhileClosing));
        assert!(!kernel("6.8").has(Change::AcceptsOldAckWhileClosing));
        assert!(!kernel("6.1.192").has(Change::FinObeysCwnd));
    }

    #[test]
    fn every_change_has_one_row_naming_a_commit_and_its_rules() {
        for row in CHANGES {
            assert_eq!(row.change.info().commit, row.commit, "one row per change");
            assert!(row.commit.len() == 12 && row.commit.chars().all(|c| c.is_ascii_hexdigit()));
            for b in row.backports {
                assert!(*b < row.since, "a backport goes to an older series");
            }
        }
    }
}
