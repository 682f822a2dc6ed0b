//! What an exploration found: one [`Summary`] type for a job's share, a whole run and a merge of
//! shards, with one way to add them up ([`Summary`]'s `+`, as ripgrep's `Stats` does), and one
//! JSON form: what `rstlab explore --json` prints and `rstlab merge` reads back
//! (docs/json.md, docs/schema/explore.schema.json).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::backend::Backend;
use crate::check::Disagreement;
use crate::explore::shard::Shard;
use crate::net::Net;
use crate::rules::Rule;

/// The version of the JSON form (docs/json.md): it changes when a field changes meaning or goes
/// away.
pub const SCHEMA: u32 = 1;

/// A disagreement between the kernel and the oracle, shrunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The case number that found it.
    pub case: u64,
    /// The network it ran on.
    pub net: Net,
    /// The smallest scenario found that still disagrees, in the language.
    pub scenario: String,
    /// The same on one line (steps separated by `; `), for `rstlab run "..."`.
    pub inline: String,
    /// Where and how it disagrees.
    pub disagreement: Disagreement,
    /// The scenario as first generated.
    pub original: String,
}

/// A digest of every case run, independent of the order they ran in: the wrapping sum of each
/// case's [`crate::explore::case_digest`]. In JSON, 16 hex digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

impl Add for Fingerprint {
    type Output = Fingerprint;

    fn add(self, other: Fingerprint) -> Fingerprint {
        Fingerprint(self.0.wrapping_add(other.0))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fingerprint, D::Error> {
        let text = String::deserialize(deserializer)?;
        u64::from_str_radix(&text, 16)
            .ok()
            .filter(|_| text.len() == 16)
            .map(Fingerprint)
            .ok_or_else(|| serde::de::Error::custom("a fingerprint is 16 hex digits"))
    }
}

/// The result of an exploration, or of part of one. Its JSON form is what
/// `rstlab explore --json` prints.
///
/// Summaries add up (`+`): the counts, the rules, the outcomes, the seconds and the jobs add;
/// the fingerprints add (wrapping); the findings kept are the lowest case numbers of both, at
/// most [`Summary::max_findings`]; the run's identity (seed, backend, networks, cases asked
/// for, findings kept, format) is the left side's. A job's share, the whole run of
/// [`crate::explore::explore`] and a merge of shards ([`crate::explore::merge::merge`]) are all
/// such sums.
///
/// ```
/// use rstlab::explore::summary::Summary;
/// use rstlab::Rule;
/// let mut a = Summary { cases: 3, agreements: 3, ..Summary::default() };
/// a.rules.insert(Rule::WriteQueuesData, 2);
/// let mut b = Summary { cases: 2, agreements: 1, disagreement_count: 1, ..Summary::default() };
/// b.rules.insert(Rule::WriteQueuesData, 1);
/// let sum = a + b;
/// assert_eq!((sum.cases, sum.agreements, sum.disagreement_count), (5, 4, 1));
/// assert_eq!(sum.rules[&Rule::WriteQueuesData], 3);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The format version ([`SCHEMA`]).
    pub schema: u32,
    /// Whether a signal (Ctrl-C, SIGTERM, SIGHUP) cut the run short: the counts are those of
    /// the cases run.
    pub interrupted: bool,
    /// Cases run.
    pub cases: u64,
    /// The cases asked for; `None` when only a time bounded the run.
    pub planned_cases: Option<u64>,
    /// The shard run, if only one was ([`crate::explore::ExploreOptions::shard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The most findings kept ([`crate::explore::ExploreOptions::max_findings`]).
    pub max_findings: usize,
    /// Wall time; for a sum, the sum (machine time, not elapsed time).
    pub seconds: f64,
    /// Cases per second: the cases over the seconds.
    pub cases_per_second: f64,
    /// Worker threads; for a sum, the sum.
    pub jobs: usize,
    /// The seed.
    pub seed: u64,
    /// Whether the cases drew the timer steps too (`--timers`): another set of cases for the
    /// same seed. Left out of the JSON when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timers: bool,
    /// The backend.
    pub backend: Backend,
    /// The networks, taken in turn.
    pub nets: Vec<Net>,
    /// Cases run on the emulated link.
    pub link_cases: u64,
    /// Cases where kernel and oracle agreed on every step.
    pub agreements: u64,
    /// Cases that disagreed.
    pub disagreement_count: u64,
    /// The disagreements kept (at most [`Summary::max_findings`], lowest case numbers first),
    /// each as its minimal scenario on one line, ready for `rstlab run "…"`.
    pub disagreements: Vec<String>,
    /// The same disagreements in full: case number, original scenario, what differs.
    pub findings: Vec<Finding>,
    /// Cases that could not run (setup failures).
    pub errors: u64,
    /// The first setup error, if any.
    pub first_error: Option<String>,
    /// How often each rule decided a step of an agreeing case; every rule of the catalogue is
    /// present, 0 included. In JSON, keyed by the rules' ids in alphabetical order.
    #[serde(serialize_with = "by_id")]
    pub rules: BTreeMap<Rule, u64>,
    /// How often each op ended each way (`write => EPIPE`), over agreeing cases.
    pub outcomes: BTreeMap<String, u64>,
    /// How often the kernel stated each reason for an RST (`tcp/tcp_send_reset`), over
    /// agreeing cases: every one was the oracle's too ([`crate::reasons`]).
    pub reasons: BTreeMap<String, u64>,
    /// Why some cases have no reasons, when they do (the first why met).
    pub reasons_missing: Option<String>,
    /// A digest of every case run (its number and scenario), independent of the order the cases
    /// ran in: two runs with the same fingerprint explored the same scenarios. Its definition is
    /// fixed (see [`crate::explore::case_digest`]), so a fingerprint means the same with any
    /// build of rstlab that generates the same scenarios.
    pub fingerprint: Fingerprint,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            schema: SCHEMA,
            interrupted: false,
            cases: 0,
            planned_cases: None,
            shard: None,
            max_findings: 0,
            seconds: 0.0,
            cases_per_second: 0.0,
            jobs: 0,
            seed: 0,
            timers: false,
            backend: Backend::Std,
            nets: Vec::new(),
            link_cases: 0,
            agreements: 0,
            disagreement_count: 0,
            disagreements: Vec::new(),
            findings: Vec::new(),
            errors: 0,
            first_error: None,
            rules: Rule::ALL.iter().map(|&r| (r, 0)).collect(),
            outcomes: BTreeMap::new(),
            reasons: BTreeMap::new(),
            reasons_missing: None,
            fingerprint: Fingerprint::default(),
        }
    }
}

/// The rule counts keyed by id, in the ids' alphabetical order (the order of the JSON form
/// since its first version).
fn by_id<S: Serializer>(rules: &BTreeMap<Rule, u64>, serializer: S) -> Result<S::Ok, S::Error> {
    let sorted: BTreeMap<&str, u64> = rules.iter().map(|(r, &n)| (r.id(), n)).collect();
    sorted.serialize(serializer)
}

impl Summary {
    /// The same run with nothing counted yet: its identity (format, seed, backend, networks,
    /// cases asked for, findings kept), the left side of a sum of its parts.
    pub fn identity(&self) -> Summary {
        Summary {
            schema: self.schema,
            planned_cases: self.planned_cases,
            max_findings: self.max_findings,
            seed: self.seed,
            timers: self.timers,
            backend: self.backend,
            nets: self.nets.clone(),
            ..Summary::default()
        }
    }

    /// Keeps the findings of the lowest case numbers, at most [`Summary::max_findings`], and
    /// their one-line scenarios in [`Summary::disagreements`]; recomputes
    /// [`Summary::cases_per_second`].
    fn settle(&mut self) {
        self.findings.sort_by_key(|f| f.case);
        self.findings.truncate(self.max_findings);
        self.disagreements = self.findings.iter().map(|f| f.inline.clone()).collect();
        self.cases_per_second = self.cases as f64 / self.seconds.max(1e-9);
    }
}

impl AddAssign for Summary {
    fn add_assign(&mut self, other: Summary) {
        self.interrupted |= other.interrupted;
        self.cases += other.cases;
        self.seconds += other.seconds;
        self.jobs += other.jobs;
        self.link_cases += other.link_cases;
        self.agreements += other.agreements;
        self.disagreement_count += other.disagreement_count;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        for (rule, n) in other.rules {
            *self.rules.entry(rule).or_default() += n;
        }
        for (outcome, n) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += n;
        }
        for (reason, n) in other.reasons {
            *self.reasons.entry(reason).or_default() += n;
        }
        if self.reasons_missing.is_none() {
            self.reasons_missing = other.reasons_missing;
        }
        self.fingerprint = self.fingerprint + other.fingerprint;
        self.findings.extend(other.findings);
        self.settle();
    }
}

impl Add for Summary {
    type Output = Summary;

    fn add(mut self, other: Summary) -> Summary {
        self += other;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Mismatch;
    use crate::outcome::Outcome;

    fn finding(case: u64) -> Finding {
        Finding {
            case,
            net: Net::Link,
            scenario: "client write 1".into(),
            inline: format!("case {case}"),
            disagreement: Disagreement {
                step: 1,
                text: "client write 1".into(),
                mismatch: Mismatch::Outcome {
                    predicted: Outcome::Bytes(1),
                    observed: Outcome::Err(crate::outcome::Errno::EPIPE),
                },
            },
            original: "client write 1".into(),
        }
    }

    #[test]
    fn sums_keep_the_lowest_findings_and_wrap_the_fingerprint() {
        let a = Summary {
            max_findings: 2,
            findings: vec![finding(9), finding(4)],
            fingerprint: Fingerprint(u64::MAX),
            ..Summary::default()
        };
        let b = Summary {
            findings: vec![finding(1)],
            fingerprint: Fingerprint(2),
            ..Summary::default()
        };
        let sum = a + b;
        assert_eq!(sum.disagreements, ["case 1", "case 4"]);
        assert_eq!(sum.fingerprint, Fingerprint(1));
    }

    #[test]
    fn the_json_form_reads_back_as_the_same_summary() {
        let mut s = Summary {
            cases: 7,
            seed: 3,
            nets: vec![Net::Loopback, Net::Link],
            max_findings: 1,
            findings: vec![finding(5)],
            fingerprint: Fingerprint(0xabc),
            ..Summary::default()
        };
        s.settle();
        s.outcomes.insert("write => EPIPE".into(), 2);
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains(r#""fingerprint":"0000000000000abc""#),
            "{json}"
        );
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
