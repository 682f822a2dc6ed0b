//! Where a scenario's two sockets talk: loopback (IPv4 or IPv6) or the emulated link, and which
//! of them a scenario needs.

pub mod link;
pub mod pcap;
pub mod relay;
pub mod segment_log;
pub mod skip;
pub mod wire;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// Where the two sockets talk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    /// 127.0.0.0/8 in this namespace: no delay, no loss, sleeps in real time.
    #[default]
    Loopback,
    /// The emulated link between two namespaces ([`crate::net::link`]): delay, hold and drop, and
    /// time that is virtual. Needs CAP_NET_ADMIN.
    Link,
}

impl Net {
    /// Both networks.
    pub const ALL: [Net; 2] = [Net::Loopback, Net::Link];

    /// The network a scenario runs on when nobody chose one: the link if any step needs it
    /// (`link …` steps, or a `reboot`: [`Scenario::needs_link`]), loopback otherwise. The one
    /// place this rule is written.
    ///
    /// ```
    /// use rstlab::net::Net;
    /// assert_eq!(Net::for_scenario(&"client write 1".parse().unwrap()), Net::Loopback);
    /// assert_eq!(Net::for_scenario(&"link delay 1ms; client write 1".parse().unwrap()), Net::Link);
    /// ```
    pub fn for_scenario(scenario: &Scenario) -> Net {
        if scenario.needs_link() {
            Net::Link
        } else {
            Net::Loopback
        }
    }

    /// Whether `scenario` can run on this network: everything runs on the link; loopback has
    /// no `link …` steps.
    pub fn can_run(self, scenario: &Scenario) -> bool {
        self == Net::Link || !scenario.uses_link()
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Net::Loopback => "loopback",
            Net::Link => "link",
        })
    }
}

/// An address family for loopback runs.
///
/// ```
/// use rstlab::run::{Backend, Family, RunOptions, Runner};
/// use rstlab::{check, oracle, Scenario};
/// let s: Scenario = "server close; client write 1; client write 1 => EPIPE".parse().unwrap();
/// let options = RunOptions { family: Family::V6, ..RunOptions::default() };
/// let mut runner = Runner::with_options(Backend::Std, options).unwrap();
/// let trace = runner.run(&s).unwrap();
/// assert!(trace.client.is_ipv6());
/// assert_eq!(check::check(&s, &oracle::predict(&s, &rstlab::oracle::Settings::default()), &trace), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4: 127.0.0.0/8.
    #[default]
    V4,
    /// IPv6: `::1`.
    V6,
}

impl Family {
    /// Both families.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}
