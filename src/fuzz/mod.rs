//! The fuzz targets' checks, in the library so that `cargo fuzz run` and plain `cargo test` run
//! the same code.
//!
//! The `fuzz/` crate (built by `cargo fuzz`, outside the main build) has one target per
//! [`Target`]; each hands libFuzzer's bytes to the matching function here and panics with the
//! [`Finding`] it returns:
//!
//! - [`Target::OracleVsKernel`]: the bytes [`decode`] to a [`Scenario`] (through
//!   [`Arbitrary::arbitrary_take_rest`], as libFuzzer's typed targets do), which runs on real
//!   loopback sockets and is [`check`](crate::check::check)ed against the oracle:
//!   [`check_oracle_vs_kernel`].
//! - [`Target::Oracle`]: the same scenario, the model alone: its
//!   [invariants](crate::oracle::invariants), determinism, and that the scenario prints and
//!   parses back: [`check_oracle`].
//! - [`Target::ScenarioText`]: the bytes are scenario text (invalid UTF-8 replaced by U+FFFD);
//!   parsing never panics, and whatever parses prints and parses back to the same scenario, on
//!   lines and inline: [`check_scenario_text`].
//!
//! `tests/fuzz_corpus.rs` replays the committed corpora (`fuzz/corpus/<target>/`) and every
//! input that ever crashed a target (`fuzz/regressions/<target>/`) through [`Harness::check`].
//! [`encode`] is [`decode`]'s inverse, to turn a scenario into a corpus input.
//!
//! ```
//! use rstlab::fuzz::{self, Harness, Target};
//! use rstlab::run::Backend;
//! use rstlab::Scenario;
//!
//! // The seed article, as the bytes a fuzz target would be given.
//! let seed: Scenario =
//!     "client write 1; server read 1; server close; client write 1; client write 1".parse()?;
//! let bytes = fuzz::encode(&seed)?;
//! assert_eq!(fuzz::decode(Target::Oracle, &bytes)?, seed);
//!
//! // Every target accepts it: the model keeps its invariants, the kernel agrees.
//! let mut harness = Harness::new(Backend::Std);
//! for target in Target::ALL {
//!     harness.check(target, &bytes)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod encoding;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use arbitrary::{Arbitrary, Unstructured};
use thiserror::Error;

use crate::check::Disagreement;
use crate::check::verify::VerifyError;
use crate::explore::run_and_check;
use crate::oracle::{self, invariants::Violation};
use crate::run::{Backend, RunError, Runner};
use crate::scenario::{ParseError, Scenario};

/// A fuzz target: what its input bytes mean and what it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `oracle_vs_kernel`: a decoded scenario on real sockets against the oracle.
    OracleVsKernel,
    /// `oracle`: a decoded scenario against the model's own invariants. Fast.
    Oracle,
    /// `scenario_text`: bytes into the parser.
    ScenarioText,
}

impl Target {
    /// Every target, in the order `cargo fuzz list` shows them.
    pub const ALL: [Target; 3] = [Target::Oracle, Target::OracleVsKernel, Target::ScenarioText];

    /// The target's name: its binary in `fuzz/` and its folder under `fuzz/corpus/`,
    /// `fuzz/artifacts/` and `fuzz/regressions/`.
    pub fn name(self) -> &'static str {
        match self {
            Target::OracleVsKernel => "oracle_vs_kernel",
            Target::Oracle => "oracle",
            Target::ScenarioText => "scenario_text",
        }
    }

    /// Whether the input bytes are scenario text rather than [`Arbitrary`] data.
    pub fn takes_text(self) -> bool {
        self == Target::ScenarioText
    }

    /// The target whose folder holds `path`: the nearest folder named after a target
    /// (`fuzz/artifacts/oracle_vs_kernel/crash-…` is an `oracle_vs_kernel` input).
    ///
    /// ```
    /// use rstlab::fuzz::Target;
    /// let path = std::path::Path::new("fuzz/artifacts/scenario_text/crash-0a1b");
    /// assert_eq!(Target::of_path(path), Some(Target::ScenarioText));
    /// assert_eq!(Target::of_path("crash-0a1b".as_ref()), None);
    /// ```
    pub fn of_path(path: &Path) -> Option<Target> {
        path.ancestors()
            .skip(1)
            .filter_map(|p| p.file_name()?.to_str()?.parse().ok())
            .next()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a fuzz target's.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("unknown fuzz target {0:?}: expected oracle, oracle_vs_kernel or scenario_text")]
pub struct UnknownTarget(pub String);

impl FromStr for Target {
    type Err = UnknownTarget;

    fn from_str(name: &str) -> Result<Target, UnknownTarget> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| UnknownTarget(name.to_string()))
    }
}

/// Fuzz input that is not a scenario.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes do not decode through [`Arbitrary`] (the decoder in
    /// [`generate`](crate::generate) accepts every input, so this is not expected).
    #[error("the bytes do not decode to a scenario: {0}")]
    Arbitrary(arbitrary::Error),
    /// A `scenario_text` input that does not parse (which that target accepts: parse errors
    /// are answers, not findings).
    #[error("the text is not a valid scenario: {0}")]
    Text(ParseError),
}

/// What a target's input means, as a scenario: for [`Target::Oracle`] and
/// [`Target::OracleVsKernel`] the [`Arbitrary`] decoding of all the bytes
/// ([`Arbitrary::arbitrary_take_rest`], as libFuzzer's typed targets decode), for
/// [`Target::ScenarioText`] the parse of the bytes as text.
///
/// ```
/// use rstlab::fuzz::{decode, Target};
/// assert_eq!(decode(Target::Oracle, b"")?.steps().len(), 0);
/// let s = decode(Target::ScenarioText, b"server abort; client write 1")?;
/// assert_eq!(s.to_inline(), "server abort; client write 1");
/// # Ok::<(), rstlab::fuzz::DecodeError>(())
/// ```
pub fn decode(target: Target, data: &[u8]) -> Result<Scenario, DecodeError> {
    if target.takes_text() {
        Scenario::parse(&String::from_utf8_lossy(data)).map_err(DecodeError::Text)
    } else {
        Scenario::arbitrary_take_rest(Unstructured::new(data)).map_err(DecodeError::Arbitrary)
    }
}

pub use crate::fuzz::encoding::{NotEncodable, encode};

/// Something a target found: the reason its fuzz target panics. Each names the scenario, in
/// the language, ready for `rstlab run`.
#[derive(Debug, Error)]
pub enum Finding {
    /// The oracle's prediction breaks one of the model's invariants.
    #[error("the oracle breaks an invariant at {violation}\nscenario:\n{scenario}")]
    Invariant {
        /// The scenario.
        scenario: Scenario,
        /// What is broken.
        violation: Violation,
    },
    /// A scenario does not print and parse back to itself.
    #[error(
        "the scenario does not print and parse back to itself: printed as\n{printed}\nit parses to {reparsed:?}\nscenario: {scenario:?}"
    )]
    RoundTrip {
        /// The scenario.
        scenario: Scenario,
        /// How it printed.
        printed: String,
        /// What the printed text parsed to.
        reparsed: Result<Scenario, ParseError>,
    },
    /// The kernel did not do what the oracle predicted.
    #[error(
        "the kernel disagrees with the oracle ({backend} backend) at {disagreement}\nscenario (for `rstlab run`):\n{scenario}"
    )]
    Disagreement {
        /// The scenario.
        scenario: Scenario,
        /// The backend that ran it.
        backend: Backend,
        /// The first disagreement.
        disagreement: Disagreement,
    },
    /// The scenario could not run: the connection could not be set up, twice in a row.
    #[error("the scenario could not run: {error}\nscenario:\n{scenario}")]
    Setup {
        /// The scenario.
        scenario: Scenario,
        /// The runner's error.
        error: VerifyError,
    },
}

/// The `oracle` target: the model alone on the decoded scenario. It must keep every
/// [invariant](crate::oracle::invariants) (which include "the same scenario gives the same
/// prediction"), and the scenario must print and parse back to itself. Input that does not
/// decode is not a finding.
///
/// ```
/// assert!(rstlab::fuzz::check_oracle(b"any bytes at all").is_ok());
/// ```
pub fn check_oracle(data: &[u8]) -> Result<(), Finding> {
    let Ok(scenario) = decode(Target::Oracle, data) else {
        return Ok(());
    };
    round_trip(&scenario, &scenario.to_string())?;
    // In the lab's time and in the kernel's own (the lane's), where the model follows the
    // timers of a silent peer.
    for tcp in [oracle::TcpSettings::Lab, oracle::TcpSettings::KernelTime] {
        let settings = oracle::Settings {
            tcp,
            ..oracle::Settings::default()
        };
        let mut prediction = oracle::predict(&scenario, &settings);
        // Where the model refused a step (a cut that lasts into a retransmission, a duplicate
        // ACK after a lost segment), an honest refusal, the steps before it are held to the
        // invariants: a prefix of a valid scenario is one, and the model follows it whole.
        let mut checked = scenario.clone();
        if let Some(beyond) = &prediction.beyond {
            if beyond.step <= 1 {
                continue;
            }
            checked = Scenario::new(scenario.steps()[..beyond.step - 1].to_vec())
                .expect("a prefix of a valid scenario");
            prediction = oracle::predict(&checked, &settings);
        }
        if let Err(violation) = oracle::invariants::check_with(&checked, &prediction, &settings) {
            return Err(Finding::Invariant {
                scenario: checked,
                violation,
            });
        }
    }
    Ok(())
}

/// The `scenario_text` target: the bytes, as text, into the parser. Parsing must not panic
/// (a panic propagates to the caller), and a scenario that parses prints, one step per line
/// and inline, to text that parses back to it.
///
/// ```
/// use rstlab::fuzz::check_scenario_text;
/// assert!(check_scenario_text(b"client write 1 => ok(1); server close # done").is_ok());
/// assert!(check_scenario_text(b"client write; \xff\xfe").is_ok()); // an error, not a finding
/// ```
pub fn check_scenario_text(data: &[u8]) -> Result<(), Finding> {
    let Ok(scenario) = decode(Target::ScenarioText, data) else {
        return Ok(());
    };
    round_trip(&scenario, &scenario.to_string())?;
    round_trip(&scenario, &scenario.to_inline())
}

/// The `oracle_vs_kernel` target: the decoded scenario on real sockets, checked against the
/// oracle's prediction for `runner`'s backend (after the [`check_oracle`] checks, which cost
/// nothing beside a run). A run that cannot be set up is retried once.
pub fn check_oracle_vs_kernel(runner: &mut Runner, data: &[u8]) -> Result<(), Finding> {
    check_oracle(data)?;
    let Ok(scenario) = decode(Target::OracleVsKernel, data) else {
        return Ok(());
    };
    // The runner is a loopback one: a scenario with link steps (a timer step's `link cut`)
    // needs the link, and is the oracle target's alone here.
    if !runner.net().can_run(&scenario) {
        return Ok(());
    }
    let result = match run_and_check(runner, &scenario) {
        Err(VerifyError::Run(RunError::Setup(_))) => run_and_check(runner, &scenario),
        other => other,
    };
    match result {
        Ok(None) => Ok(()),
        // The model refused a step (a `reboot` where Linux delays ACKs): an honest refusal,
        // not a disagreement.
        Err(VerifyError::Beyond(_)) => Ok(()),
        Ok(Some(disagreement)) => Err(Finding::Disagreement {
            scenario,
            backend: runner.backend(),
            disagreement,
        }),
        Err(error) => Err(Finding::Setup { scenario, error }),
    }
}

fn round_trip(scenario: &Scenario, printed: &str) -> Result<(), Finding> {
    let reparsed = Scenario::parse(printed);
    if reparsed.as_ref() == Ok(scenario) {
        return Ok(());
    }
    Err(Finding::RoundTrip {
        scenario: scenario.clone(),
        printed: printed.to_string(),
        reparsed,
    })
}

/// What a fuzz process keeps between inputs: the backend, and the [`Runner`] of
/// `oracle_vs_kernel`, made on first use and reused (a runner holds a listener, a netlink
/// socket and buffers).
pub struct Harness {
    backend: Backend,
    runner: Option<Runner>,
}

impl Harness {
    /// A harness whose real-socket runs use `backend`.
    pub fn new(backend: Backend) -> Harness {
        Harness {
            backend,
            runner: None,
        }
    }

    /// Checks one input of `target`, as its fuzz target does.
    pub fn check(&mut self, target: Target, data: &[u8]) -> Result<(), Finding> {
        match target {
            Target::Oracle => check_oracle(data),
            Target::ScenarioText => check_scenario_text(data),
            Target::OracleVsKernel => {
                let runner = match &mut self.runner {
                    Some(runner) => runner,
                    empty => match Runner::new(self.backend) {
                        Ok(runner) => empty.insert(runner),
                        Err(error) => {
                            return Err(Finding::Setup {
                                scenario: decode(target, data).unwrap_or_default(),
                                error: error.into(),
                            });
                        }
                    },
                };
                check_oracle_vs_kernel(runner, data)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encode_is_the_inverse_of_decode(s in crate::generate::scenario()) {
            let bytes = encode(&s).unwrap();
            prop_assert_eq!(decode(Target::Oracle, &bytes).unwrap(), s);
        }

        #[test]
        fn the_oracle_check_accepts_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert!(check_oracle(&data).is_ok());
        }

        #[test]
        fn the_text_check_accepts_any_printed_scenario(s in crate::generate::scenario()) {
            prop_assert!(check_scenario_text(s.to_string().as_bytes()).is_ok());
        }
    }

    #[test]
    fn encode_drops_expectations_and_refuses_long_sleeps() {
        let s: Scenario = "server abort => ok; client write 17 => ECONNRESET"
            .parse()
            .unwrap();
        let back = decode(Target::Oracle, &encode(&s).unwrap()).unwrap();
        assert_eq!(back, s.without_expectations());
        let e = encode(&"client write 1; client sleep 1ms".parse().unwrap()).unwrap_err();
        assert_eq!(e.step, 2);
    }

    #[test]
    fn targets_parse_from_their_names_and_paths() {
        for t in Target::ALL {
            assert_eq!(t.name().parse::<Target>(), Ok(t));
            let path = format!("fuzz/regressions/{t}/crash-1");
            assert_eq!(Target::of_path(Path::new(&path)), Some(t));
        }
        assert!("oracles".parse::<Target>().is_err());
    }

    #[test]
    fn a_text_that_does_not_round_trip_is_a_finding() {
        let s: Scenario = "client write 2".parse().unwrap();
        assert!(matches!(
            round_trip(&s, "client write 3"),
            Err(Finding::RoundTrip { .. })
        ));
    }
}
