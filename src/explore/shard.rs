//! Exploration across machines: one seed's cases split into shards without coordination, and
//! the shards' summaries merged back without loss.
//!
//! Shard `K/N` runs the cases in pairs: cases `2p` and `2p + 1` go to shard `(p mod N) + 1`. An
//! exploration of both networks takes them in turn, even cases on loopback and odd ones on the
//! link, so each shard gets both networks whatever N (by single cases, every shard of an even N
//! would get one network only). Each case is the same scenario on the same network wherever it
//! runs (it depends on the seed and its number alone, see [`crate::generate::case_on`]). So
//! shards `1/N` to `N/N` together run exactly the cases of the unsharded exploration, and
//! [`crate::explore::merge::merge`] gives back its summary: the counts, the rules and outcomes add up, the fingerprints
//! add up (the fingerprint is a wrapping sum over cases), and the findings kept are the lowest
//! case numbers among the shards' (each shard keeps its own lowest, which include every one of
//! the overall lowest that falls to it).
//!
//! ```
//! use rstlab::explore::shard::Shard;
//! let shard: Shard = "2/3".parse().unwrap();
//! let mine: Vec<u64> = (0..14).filter(|&case| shard.takes(case)).collect();
//! assert_eq!(mine, [2, 3, 8, 9]);
//! assert_eq!(shard.case_at(2), 8);
//! assert_eq!(shard.share(14), 4);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One of `count` shards, numbered from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Shard `index` of `count`: `1 <= index <= count`.
    pub fn new(index: u64, count: u64) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if index == 0 || index > count {
            return Err(ShardError::NoSuchShard { index, count });
        }
        Ok(Shard { index, count })
    }

    /// The shard's number, from 1.
    pub fn index(self) -> u64 {
        self.index
    }

    /// How many shards.
    pub fn count(self) -> u64 {
        self.count
    }

    /// Whether case number `case` (from 0) is this shard's: its pair's number modulo the count.
    pub fn takes(self, case: u64) -> bool {
        (case / 2) % self.count == self.index - 1
    }

    /// The case number of this shard's `position`-th case (from 0).
    pub fn case_at(self, position: u64) -> u64 {
        let pair = (position / 2)
            .saturating_mul(self.count)
            .saturating_add(self.index - 1);
        pair.saturating_mul(2).saturating_add(position % 2)
    }

    /// How many of cases `0..cases` are this shard's.
    pub fn share(self, cases: u64) -> u64 {
        let cycle = 2 * self.count;
        let left = cases % cycle;
        let mine = left.saturating_sub(2 * (self.index - 1)).min(2);
        cases / cycle * 2 + mine
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ShardError {
    /// Not written `K/N` with two whole numbers.
    #[error("expected a shard as K/N (the K-th of N, such as 1/4), found {0}")]
    Syntax(String),
    /// N is 0.
    #[error("a run has at least one shard: N in K/N must be 1 or more")]
    NoShards,
    /// K is 0 or more than N.
    #[error(
        "shard {index}/{count} does not exist: K/N needs 1 <= K <= N (1/{count} to {count}/{count})"
    )]
    NoSuchShard {
        /// K.
        index: u64,
        /// N.
        count: u64,
    },
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError::Syntax(crate::text::quote(text));
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let k = k.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(k, n)
    }
}

impl Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Shard, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shards_take_every_case_once() {
        for count in 1..6 {
            let shards: Vec<Shard> = (1..=count).map(|k| Shard::new(k, count).unwrap()).collect();
            for case in 0..40 {
                assert_eq!(shards.iter().filter(|s| s.takes(case)).count(), 1);
            }
            for cases in 0..20 {
                let shares: u64 = shards.iter().map(|s| s.share(cases)).sum();
                assert_eq!(shares, cases, "{count} shards of {cases} cases");
                for s in &shards {
                    let counted = (0..cases).filter(|&c| s.takes(c)).count() as u64;
                    assert_eq!(s.share(cases), counted);
                    let by_position = (0..).map(|p| s.case_at(p)).take_while(|&c| c < cases);
                    assert_eq!(by_position.count() as u64, counted);
                }
            }
        }
    }

    #[test]
    fn a_shard_is_written_k_of_n_and_anything_else_is_refused() {
        assert_eq!("3/4".parse::<Shard>(), Ok(Shard::new(3, 4).unwrap()));
        let refused = |text: &str| text.parse::<Shard>().unwrap_err().to_string();
        assert!(refused("0/4").contains("1 <= K <= N (1/4 to 4/4)"));
        assert!(refused("5/4").contains("1 <= K <= N"));
        assert_eq!("1/0".parse::<Shard>(), Err(ShardError::NoShards));
        assert!(
            refused("1/0").contains("at least one shard"),
            "not (1/1 to 1/1)"
        );
        assert!(refused("two").contains("K/N"));
        assert_eq!(Shard::new(2, 5).unwrap().to_string(), "2/5");
    }
}
