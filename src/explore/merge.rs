//! Shards merged back: the summaries of `explore --shard 1/N` to `N/N` of one exploration
//! added up into the summary of the whole (see [`crate::explore::shard`] for why that is
//! exact), after checking that they are one whole exploration, each shard once and complete.

use thiserror::Error;

use crate::explore::shard::Shard;
use crate::explore::summary::Summary;

/// Why shards could not be merged.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no summaries to merge")]
    Empty,
    /// A summary is not a shard's.
    #[error("summary {0} is not a shard's: run each part with `explore --shard K/N`")]
    NotAShard(usize),
    /// The parts come from different explorations.
    #[error(
        "summary {part} is of another exploration than the first: {what} is {this} there, {first} in the first"
    )]
    Mismatch {
        /// 1-based position of the part.
        part: usize,
        /// Which field.
        what: &'static str,
        /// The first part's value.
        first: String,
        /// This part's value.
        this: String,
    },
    /// A shard is missing or given twice.
    #[error("the shards are not 1/{count} to {count}/{count} once each: {problem}")]
    Shards {
        /// N.
        count: u64,
        /// Which is missing or repeated.
        problem: String,
    },
    /// A shard did not run all its cases.
    #[error(
        "shard {shard} ran {ran} of its {share} cases ({why}): the merge would not be the whole exploration"
    )]
    Incomplete {
        /// The shard.
        shard: Shard,
        /// Cases it ran.
        ran: u64,
        /// Cases it should have run.
        share: u64,
        /// Why, as far as the summary tells.
        why: &'static str,
    },
}

/// `--cases` as a person writes it: the number, or none when only `--time` bounded the run.
fn cases(planned: Option<u64>) -> String {
    planned.map_or_else(|| "none (--time alone)".to_string(), |n| n.to_string())
}

/// Merges the summaries of shards `1/N` to `N/N` of one exploration into the summary the
/// unsharded exploration gives (its `shard` absent, `seconds` and `jobs` summed).
pub fn merge(parts: &[Summary]) -> Result<Summary, MergeError> {
    let first = parts.first().ok_or(MergeError::Empty)?;
    let count = first.shard.ok_or(MergeError::NotAShard(1))?.count();
    let mut seen = vec![false; count as usize];
    for (i, part) in parts.iter().enumerate() {
        let shard = part.shard.ok_or(MergeError::NotAShard(i + 1))?;
        let differs = |what: &'static str, a: String, b: String| {
            (a != b).then(|| MergeError::Mismatch {
                part: i + 1,
                what,
                first: a,
                this: b,
            })
        };
        let checks = [
            differs("seed", first.seed.to_string(), part.seed.to_string()),
            differs(
                "--timers",
                first.timers.to_string(),
                part.timers.to_string(),
            ),
            differs(
                "backend",
                first.backend.to_string(),
                part.backend.to_string(),
            ),
            differs("networks", nets(&first.nets), nets(&part.nets)),
            differs(
                "--cases",
                cases(first.planned_cases),
                cases(part.planned_cases),
            ),
            differs("shard count", count.to_string(), shard.count().to_string()),
            differs(
                "number of findings kept",
                first.max_findings.to_string(),
                part.max_findings.to_string(),
            ),
        ];
        if let Some(e) = checks.into_iter().flatten().next() {
            return Err(e);
        }
        let slot = &mut seen[shard.index() as usize - 1];
        if *slot {
            return Err(MergeError::Shards {
                count,
                problem: format!("{shard} is given twice"),
            });
        }
        *slot = true;
        let Some(planned) = part.planned_cases else {
            return Err(MergeError::Incomplete {
                shard,
                ran: part.cases,
                share: 0,
                why: "bounded by --time alone, so no shard knows its share",
            });
        };
        let share = shard.share(planned);
        if part.cases != share || part.interrupted {
            return Err(MergeError::Incomplete {
                shard,
                ran: part.cases,
                share,
                why: if part.interrupted {
                    "interrupted"
                } else if part.errors > 0 {
                    "a setup error stopped it"
                } else {
                    "stopped by --time"
                },
            });
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(MergeError::Shards {
            count,
            problem: format!("{}/{count} is missing", missing + 1),
        });
    }
    Ok(parts
        .iter()
        .cloned()
        .fold(first.identity(), |sum, part| sum + part))
}

/// The networks as the command line names them, for a message.
fn nets(nets: &[crate::net::Net]) -> String {
    nets.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(case: u64, inline: &str) -> crate::explore::Finding {
        use crate::check::{Disagreement, Mismatch};
        crate::explore::Finding {
            case,
            net: crate::net::Net::Loopback,
            scenario: inline.into(),
            inline: inline.into(),
            disagreement: Disagreement {
                step: 1,
                text: inline.into(),
                mismatch: Mismatch::Beyond {
                    reason: "made up for the test".into(),
                },
            },
            original: inline.into(),
        }
    }

    fn part(shard: &str, cases: u64, fingerprint: u64) -> Summary {
        Summary {
            cases,
            planned_cases: Some(5),
            shard: Some(shard.parse().unwrap()),
            seed: 9,
            nets: vec![crate::net::Net::Loopback],
            max_findings: 1,
            agreements: cases,
            fingerprint: crate::explore::Fingerprint(fingerprint),
            ..Summary::default()
        }
    }

    #[test]
    fn merging_adds_up_and_refuses_what_is_not_one_whole_exploration() {
        let mut a = part("1/2", 3, u64::MAX);
        let r = crate::Rule::WriteQueuesData;
        a.rules.insert(r, 2);
        a.findings = vec![finding(4, "x")];
        let mut b = part("2/2", 2, 2);
        b.rules.insert(r, 1);
        b.findings = vec![finding(1, "y")];
        let m = merge(&[a.clone(), b.clone()]).unwrap();
        assert_eq!((m.cases, m.agreements, m.rules[&r]), (5, 5, 3));
        assert_eq!(
            m.fingerprint,
            crate::explore::Fingerprint(1),
            "a wrapping sum"
        );
        assert_eq!(
            m.disagreements,
            ["y"],
            "the lowest case number, within max_findings"
        );
        assert_eq!(m.shard, None);
        assert!(matches!(
            merge(&[a.clone()]),
            Err(MergeError::Shards { .. })
        ));
        assert!(matches!(
            merge(&[a.clone(), a.clone()]),
            Err(MergeError::Shards { .. })
        ));
        let mut other_seed = b.clone();
        other_seed.seed = 10;
        assert!(matches!(
            merge(&[a.clone(), other_seed]),
            Err(MergeError::Mismatch { what: "seed", .. })
        ));
        // The same seed with and without the timer steps: two sets of cases.
        let mut timers = b.clone();
        timers.timers = true;
        assert!(matches!(
            merge(&[a.clone(), timers]),
            Err(MergeError::Mismatch {
                what: "--timers",
                ..
            })
        ));
        let mut short = b.clone();
        short.cases = 1;
        assert!(matches!(
            merge(&[a.clone(), short]),
            Err(MergeError::Incomplete { .. })
        ));
        assert_eq!(merge(&[]).unwrap_err(), MergeError::Empty);
    }
}
