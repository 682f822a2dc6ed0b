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
//! let prediction = oracle::predict(&seed, &oracle::Settings::default());
//! let trace = Runner::new(Backend::Std)?.run(&seed)?;
//! assert_eq!(trace.steps[4].outcome, Outcome::Err(Errno::EPIPE));
//! assert_eq!(check::check(&seed, &prediction, &trace), None); // kernel and oracle agree
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Modules
//! - [`scenario`]: the language: steps, bounds, parsing and printing.
//! - [`reasons`]: why the kernel sent each RST (its `tcp_send_reset` reason) and the set the
//!   oracle predicts.
//! - [`oracle`]: the Linux model, with its kernel profiles ([`oracle::kernel`]); [`rules`]: the
//!   catalogue of rules it applies.
//! - [`net`]: where a scenario runs (loopback or the emulated link) and everything the link does
//!   with packets: the [`net::wire`] shared with the oracle, the virtual-time [`net::link`], the
//!   real-time [`net::relay`] for `rstlab exec`, their [`net::segment_log`] and [`net::pcap`]
//!   captures. [`backend`]: which socket API drives a scenario.
//! - [`run`]: real sockets, std and tokio, with quiescence between steps; [`check`]: kernel
//!   against oracle and against `=>` expectations, and [`check::verify`], the pipeline predict →
//!   run → check.
//! - [`generate`]: proptest strategies and `arbitrary` decoding of scenarios.
//! - [`explore`]: many random cases, in parallel, with shrinking, and shards across machines.
//! - [`fuzz`]: the checks behind the `cargo fuzz` targets, replayed by `cargo test`, and their
//!   frozen byte format ([`fuzz::encoding`]).
//! - [`kernels`]: Debian's kernels booted in a VM, and the survey run on each.
//! - [`outcome`], [`tcp`]: errno names and TCP states; [`text`] and [`table`]: user text;
//!   [`stamp`]: the kernel and day stored evidence was gathered on;
//!   [`sys`]: the only unsafe code.
//! - [`diagram`]: sequence diagrams and time-axis timelines; [`sigpipe`]: the SIGPIPE experiment.
//! - [`book`]: the rules book, `RULES.md`, generated from evidence on the running kernel;
//!   [`questions`]: the questions people ask, answered by rules and runnable scenarios.
//! - [`peer`]: a server that breaks connections on cue, for testing your own code (`rstlab serve`
//!   and `rstlab exec`).
//! - [`sim`]: deterministic simulators (turmoil, turmoil-net) judged against Linux (`rstlab sim`).

#![deny(missing_docs)]
// All unsafe code lives in `sys`, behind safe wrappers: the compiler enforces it.
#![deny(unsafe_code)]

pub mod backend;
pub mod book;
pub mod check;
pub mod diagram;
pub mod explore;
pub mod fuzz;
pub mod generate;
pub mod kernels;
pub mod net;
pub mod oracle;
pub mod outcome;
pub mod peer;
pub mod questions;
pub mod reasons;
pub mod rules;
pub mod run;
pub mod runtimes;
pub mod scenario;
pub mod sigpipe;
pub mod sim;
pub mod stamp;
#[allow(unsafe_code)]
pub mod sys;
pub mod table;
pub mod tcp;
pub mod text;

pub use outcome::{Errno, Outcome};
pub use rules::Rule;
pub use scenario::Scenario;
pub use tcp::TcpState;
