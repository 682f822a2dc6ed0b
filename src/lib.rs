//! # rstlab
//!
//! When does a TCP write succeed, fail with `EPIPE` ("broken pipe") or with `ECONNRESET`
//! ("connection reset by peer"), and what do reads see around them? rstlab answers on the real
//! kernel. It describes a connection's life as a [`Scenario`] in a small language, predicts every
//! syscall's result with an [`oracle`] (a state model of the Linux TCP stack that names the
//! [`Rule`] behind each result), runs the scenario on real loopback sockets ([`run`]), and
//! [`check`]s the kernel against the prediction. The kernel is the judge.
//!
//! ```
//! use rstlab::run::{Backend, Runner};
//! use rstlab::{check, oracle, Errno, Outcome, Scenario};
//!
//! // The seed article: the server reads one byte and closes; the client writes three times.
//! let seed: Scenario = "
//!     client write 1 => ok(1)
//!     server read 1 => ok(1)
//!     server close
//!     client write 1 => ok(1)   # the server's kernel answers this one with RST
//!     client write 1 => EPIPE
//! ".parse()?;
//!
//! let prediction = oracle::predict(&seed);
//! let trace = Runner::new(Backend::Std)?.run(&seed)?;
//! assert_eq!(trace.steps[4].outcome, Outcome::Err(Errno::EPIPE));
//! assert_eq!(check::check(&seed, &prediction, &trace), None); // kernel and oracle agree
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Modules
//! - [`scenario`]: the language: steps, bounds, parsing and printing.
//! - [`oracle`]: the Linux model; [`rules`]: the catalogue of rules it applies.
//! - [`net`] and [`backend`]: where a scenario runs (loopback or the link) and which socket API
//!   drives it; [`run`]: real sockets, std and tokio, with quiescence between steps.
//! - [`check`]: kernel against oracle and against `=>` expectations.
//! - [`generate`]: proptest strategies and `arbitrary` decoding of scenarios.
//! - [`explore`]: many random cases, in parallel, with shrinking.
//! - [`fuzz`]: the checks behind the `cargo fuzz` targets, replayed by `cargo test`;
//!   [`encoding`]: their byte format, frozen so committed inputs keep their meaning.
//! - [`outcome`], [`tcp`]: errno names and TCP states; [`text`]: user text quoted in errors; [`sys`]: the only unsafe code.
//! - [`diagram`]: sequence diagrams (text and SVG); [`sigpipe`]: the SIGPIPE experiment.
//! - [`book`]: the rules book, `RULES.md`, generated from evidence on the running kernel;
//!   [`questions`]: the questions people ask, answered by rules and runnable scenarios.
//! - [`peer`]: a server that breaks connections on cue, for testing your own code (`rstlab serve`).
//! - [`relay`]: the emulated link carried in real time, for real programs (`rstlab exec`).

#![deny(missing_docs)]
// All unsafe code lives in `sys`, behind safe wrappers: the compiler enforces it.
#![deny(unsafe_code)]

pub mod backend;
pub mod book;
pub mod check;
pub mod diagram;
pub mod encoding;
pub mod explore;
pub mod fuzz;
pub mod generate;
pub mod kernel;
pub mod link;
pub mod net;
pub mod oracle;
pub mod outcome;
pub mod pcap;
pub mod peer;
pub mod questions;
pub mod relay;
pub mod rules;
pub mod run;
pub mod scenario;
pub mod segment_log;
pub mod shard;
pub mod sigpipe;
pub mod survey;
#[allow(unsafe_code)]
pub mod sys;
pub mod table;
pub mod tcp;
pub mod text;
pub mod timeline;
pub mod verify;
pub mod vm;
pub mod wire;

pub use outcome::{Errno, Outcome};
pub use rules::Rule;
pub use scenario::Scenario;
pub use tcp::TcpState;
