//! What each runtime prints in the book's situations, measured: a small client per runtime
//! (`examples/runtimes/`) runs against the peer ([`crate::peer`], the same one `rstlab serve`
//! runs) playing the situation's scenario, and the first error it printed, in its own words, is
//! the cell. The results are stored with each runtime's version (`docs/runtimes/results.json`,
//! by `rstlab runtimes --out`), and the book's chapter "Your runtime's words" is rendered from
//! them ([`chapter_body`]), so that a reader who pastes `BrokenPipeError: [Errno 32] Broken
//! pipe` into the site's search lands on the situation and its rules.
//!
//! How it is split, by job:
//!
//! - here: the situations ([`SITUATIONS`]) and the clients ([`APIS`]), what a measurement is
//!   ([`Cell`], [`Results`]);
//! - `measure`: one cell, run now; the runtimes' versions;
//! - `chapter`: the chapter, from stored results.

mod chapter;
mod measure;

pub use chapter::{TITLE, chapter_body, load};
pub use measure::{MeasureError, Measured, measure, version};

use serde::{Deserialize, Serialize};

use crate::rules::Rule;

/// What the client's decisive line says, as far as the rules go: which rule's error it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Said {
    /// Broken pipe: `EPIPE`.
    Epipe,
    /// Connection reset: `ECONNRESET`.
    Reset,
    /// The end of the stream, or a message cut short by it.
    Eof,
    /// No error: the answer, or every step went through.
    Answer,
}

impl Said {
    /// Reads a client's line: the error's words decide.
    pub fn of(line: &str) -> Said {
        let l = line.to_lowercase();
        if l.contains("broken pipe") || l.contains("epipe") {
            Said::Epipe
        } else if l.contains("reset") {
            Said::Reset
        } else if !l.contains("error") && !l.contains("eof") {
            Said::Answer
        } else {
            Said::Eof
        }
    }
}

/// A situation of the book, as a client meets it, on a plain socket and over HTTP.
#[derive(Debug)]
pub struct Situation {
    /// Its name on the command line and in the results (`write-after-close`).
    pub id: &'static str,
    /// Its heading in the chapter.
    pub title: &'static str,
    /// What happens on a socket: the client's steps and the scenario the peer plays.
    pub socket: Plan,
    /// What happens over HTTP (one keep-alive connection, as a pool keeps it).
    pub http: Plan,
    /// The rule behind each kind of answer a client got here.
    pub rules: &'static [(Said, &'static [Rule])],
}

/// What a client does and what the peer plays against it.
#[derive(Debug)]
pub struct Plan {
    /// The client's steps, as every client of `examples/runtimes/` reads them:
    /// `write:5 sleep:100 read`, `get sleep:200 get`, `post:20000`.
    pub steps: &'static str,
    /// The peer's scenarios: connection N plays the Nth, later ones the last (a client that
    /// retries on a new connection meets the last).
    pub scenarios: &'static [&'static str],
    /// The plan in words, for the chapter.
    pub words: &'static str,
}

/// The situations of the chapter, in its order.
pub const SITUATIONS: &[Situation] = &[
    Situation {
        id: "write-after-close",
        title: "A write after the peer closed",
        socket: Plan {
            steps: "write:5 sleep:100 write:5 sleep:100 write:5",
            scenarios: &["client write 5; server read 5; server close; client write 5"],
            words: "the client writes 5 bytes; the server reads them and closes; the client \
                    writes again 100 ms later (accepted, and answered with RST), and once more",
        },
        http: Plan {
            steps: "get sleep:200 get",
            scenarios: &[
                "client write request; server read 65536; server write 44; server close",
                "client write request; server read 65536; server write 44; server close",
            ],
            words: "two GET requests on one keep-alive connection, 200 ms apart; the server \
                    answered the first and closed the connection (an idle pooled connection)",
        },
        rules: &[
            (
                Said::Epipe,
                &[
                    Rule::WriteAfterPeerCloseSucceeds,
                    Rule::RstAfterFinLeavesEpipe,
                ],
            ),
            (
                Said::Reset,
                &[
                    Rule::ClosedSocketAnswersDataWithRst,
                    Rule::RstLeavesEconnreset,
                ],
            ),
            (
                Said::Eof,
                &[Rule::FinReadsAsEof, Rule::WriteAfterPeerCloseSucceeds],
            ),
            (Said::Answer, &[Rule::WriteAfterPeerCloseSucceeds]),
        ],
    },
    Situation {
        id: "write-after-reset",
        title: "The first write after the peer's RST",
        socket: Plan {
            steps: "write:5 sleep:100 write:5 sleep:100 write:5",
            scenarios: &["client write 5; server read 5; server abort"],
            words: "the client writes 5 bytes; the server reads them and aborts (RST, \
                    SO_LINGER 0); the client writes again 100 ms later, and once more",
        },
        http: Plan {
            steps: "get sleep:200 get",
            scenarios: &[
                "client write request; server read 65536; server write 44; server sleep 100ms; server abort",
                "client write request; server read 65536; server write 44; server close",
            ],
            words: "two GET requests on one keep-alive connection, 200 ms apart; the server \
                    answered the first and reset the idle connection 100 ms later",
        },
        rules: &[
            (
                Said::Reset,
                &[Rule::AbortSendsRst, Rule::RstLeavesEconnreset],
            ),
            (
                Said::Epipe,
                &[
                    Rule::PendingErrorReportedOnce,
                    Rule::WriteOnClosedConnectionFails,
                ],
            ),
            (Said::Eof, &[Rule::ReadAfterResetReturnsEof]),
            (Said::Answer, &[Rule::RstLeavesEconnreset]),
        ],
    },
    Situation {
        id: "read-after-reset",
        title: "A read after the peer's RST",
        socket: Plan {
            steps: "write:5 sleep:100 read read",
            scenarios: &["client write 5; server read 5; server abort"],
            words: "the client writes 5 bytes; the server reads them and aborts (RST); the \
                    client reads 100 ms later, and again",
        },
        http: Plan {
            steps: "get",
            scenarios: &["client write request; server read 65536; server write 40; server abort"],
            words: "one GET request; the server resets the connection in the middle of the \
                    response (40 of its 44 bytes sent)",
        },
        rules: &[
            (
                Said::Reset,
                &[Rule::AbortSendsRst, Rule::RstLeavesEconnreset],
            ),
            (Said::Eof, &[Rule::ReadAfterResetReturnsEof]),
            (Said::Epipe, &[Rule::WriteOnClosedConnectionFails]),
            (Said::Answer, &[Rule::QueuedDataSurvivesRst]),
        ],
    },
    Situation {
        id: "reset-with-unread-data",
        title: "The peer answered and closed with our data unread",
        socket: Plan {
            steps: "write:100 sleep:100 read read read",
            scenarios: &["client write 100; server read 20; server write 30; server close"],
            words: "the client writes 100 bytes; the server reads 20, writes 30 and closes with \
                    80 unread, which sends RST; the client reads 100 ms later, three times",
        },
        http: Plan {
            steps: "post:20000",
            scenarios: &["client write request; server read 100; server write 44; server close"],
            words: "a POST with a 20,000-byte body; the server reads 100 bytes of it, answers \
                    and closes with the rest unread, which sends RST",
        },
        rules: &[
            (
                Said::Reset,
                &[Rule::CloseWithUnreadDataSendsRst, Rule::RstLeavesEconnreset],
            ),
            (Said::Epipe, &[Rule::WriteOnClosedConnectionFails]),
            (Said::Eof, &[Rule::ReadAfterResetReturnsEof]),
            (
                Said::Answer,
                &[
                    Rule::CloseWithUnreadDataSendsRst,
                    Rule::QueuedDataSurvivesRst,
                ],
            ),
        ],
    },
    Situation {
        id: "read-after-close",
        title: "A read after the peer closed",
        socket: Plan {
            steps: "write:5 sleep:100 read read",
            scenarios: &["client write 5; server read 5; server close"],
            words: "the client writes 5 bytes; the server reads them and closes (FIN); the \
                    client reads 100 ms later, and again",
        },
        http: Plan {
            steps: "get",
            scenarios: &["client write request; server read 65536; server write 40; server close"],
            words: "one GET request; the server closes the connection (FIN) in the middle of \
                    the response (40 of its 44 bytes sent)",
        },
        rules: &[
            (Said::Eof, &[Rule::CloseSendsFin, Rule::FinReadsAsEof]),
            (Said::Reset, &[Rule::RstLeavesEconnreset]),
            (Said::Epipe, &[Rule::RstAfterFinLeavesEpipe]),
            (Said::Answer, &[Rule::FinReadsAsEof]),
        ],
    },
];

/// A client: a runtime's API, and how to run the client of `examples/runtimes/` that uses it.
#[derive(Debug)]
pub struct Api {
    /// Its name on the command line and in the results (`python-socket`).
    pub id: &'static str,
    /// The runtime, as the chapter names it.
    pub runtime: &'static str,
    /// The API, as the chapter names it (`socket`, `http.client`).
    pub api: &'static str,
    /// Whether it speaks HTTP (the situation's HTTP plan) rather than a plain socket.
    pub http: bool,
    /// The command, run from the repository, to which the plan and the address are added.
    pub command: &'static [&'static str],
    /// A command that prints the runtime's version on its first line (stdout or stderr).
    pub version: &'static [&'static str],
    /// The Debian package the runtime comes from, for the chapter.
    pub from: &'static str,
}

/// Every client, in the chapter's order.
pub const APIS: &[Api] = &[
    api(
        "python-socket",
        "Python",
        "socket",
        false,
        PY,
        &["python3", "examples/runtimes/client.py", "socket"],
        &["python3", "--version"],
    ),
    api(
        "python-http-client",
        "Python",
        "http.client",
        true,
        PY,
        &["python3", "examples/runtimes/client.py", "http.client"],
        &["python3", "--version"],
    ),
    api(
        "python-requests",
        "Python",
        "requests",
        true,
        PY,
        &["python3", "examples/runtimes/client.py", "requests"],
        &[
            "python3",
            "-c",
            "import requests, sys; print(f'requests {requests.__version__} (Python {sys.version.split()[0]})')",
        ],
    ),
    api(
        "go-net",
        "Go",
        "net",
        false,
        GO,
        &["go", "run", "examples/runtimes/client.go", "net"],
        &["go", "version"],
    ),
    api(
        "go-net-http",
        "Go",
        "net/http",
        true,
        GO,
        &["go", "run", "examples/runtimes/client.go", "net/http"],
        &["go", "version"],
    ),
    api(
        "node-net",
        "Node.js",
        "net",
        false,
        NODE,
        &["node", "examples/runtimes/client.js", "net"],
        &["node", "--version"],
    ),
    api(
        "node-http",
        "Node.js",
        "http",
        true,
        NODE,
        &["node", "examples/runtimes/client.js", "http"],
        &["node", "--version"],
    ),
    api(
        "java-socket",
        "Java",
        "java.net.Socket",
        false,
        JAVA,
        &["java", "examples/runtimes/Client.java", "socket"],
        &["java", "-version"],
    ),
    api(
        "java-http-client",
        "Java",
        "java.net.http.HttpClient",
        true,
        JAVA,
        &["java", "examples/runtimes/Client.java", "http"],
        &["java", "-version"],
    ),
    api(
        "curl",
        "curl",
        "curl",
        true,
        CURL,
        &["sh", "examples/runtimes/curl.sh"],
        &["curl", "--version"],
    ),
    api(
        "rust-std",
        "Rust",
        "std::net::TcpStream",
        false,
        RUST,
        &["target/release/examples/runtimes", "std"],
        &["rustc", "--version"],
    ),
    api(
        "rust-tokio",
        "Rust",
        "tokio::net::TcpStream",
        false,
        RUST,
        &["target/release/examples/runtimes", "tokio"],
        &["rustc", "--version"],
    ),
    api(
        "rust-hyper",
        "Rust",
        "hyper (hyper-util's pooled client)",
        true,
        RUST,
        &["target/release/examples/runtimes", "hyper"],
        &["rustc", "--version"],
    ),
];

/// Where each runtime comes from, said once per runtime in the chapter.
const PY: &str = "`python3` (`python3-requests` for requests)";
const GO: &str = "`golang-go`";
const NODE: &str = "`nodejs`";
const JAVA: &str = "`default-jdk-headless`";
const CURL: &str = "`curl`";
const RUST: &str = "none: `cargo build --release --example runtimes` here";

const fn api(
    id: &'static str,
    runtime: &'static str,
    name: &'static str,
    http: bool,
    from: &'static str,
    command: &'static [&'static str],
    version: &'static [&'static str],
) -> Api {
    Api {
        id,
        runtime,
        api: name,
        http,
        command,
        version,
        from,
    }
}

impl Api {
    /// The API named `id`.
    pub fn by_id(id: &str) -> Option<&'static Api> {
        APIS.iter().find(|a| a.id == id)
    }

    /// Its plan in `situation`.
    pub fn plan<'a>(&self, situation: &'a Situation) -> &'a Plan {
        if self.http {
            &situation.http
        } else {
            &situation.socket
        }
    }
}

impl Situation {
    /// The situation named `id`.
    pub fn by_id(id: &str) -> Option<&'static Situation> {
        SITUATIONS.iter().find(|s| s.id == id)
    }

    /// The rules behind an answer of kind `said` here.
    pub fn rules_for(&self, said: Said) -> &'static [Rule] {
        self.rules
            .iter()
            .find(|(s, _)| *s == said)
            .map_or(&[], |(_, r)| r)
    }
}

/// One cell: what a client printed in a situation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The client ([`Api::id`]).
    pub api: String,
    /// The situation ([`Situation::id`]).
    pub situation: String,
    /// Every line the client printed, ports masked (`127.0.0.1:PORT`).
    pub printed: Vec<String>,
    /// The decisive line: the first with an error, else the first EOF, else the last.
    pub decisive: String,
    /// What it says, for the rules.
    pub said: Said,
    /// How many connections the client made (a retry makes two).
    pub connections: usize,
}

/// A runtime's version, as its version command printed it; `None` where it is not installed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// The client ([`Api::id`]).
    pub api: String,
    /// Its version line.
    pub version: Option<String>,
}

/// Everything measured, as `docs/runtimes/results.json` stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The format's version: 1.
    pub schema: u32,
    /// The Linux release the cells were measured on.
    pub kernel: String,
    /// The day (UTC), `YYYY-MM-DD`.
    pub date: String,
    /// Each client's runtime version, or that it is missing.
    pub versions: Vec<Version>,
    /// One per client and situation measured.
    pub cells: Vec<Cell>,
}

impl Results {
    /// Results measured today on the running kernel.
    pub fn now(versions: Vec<Version>, cells: Vec<Cell>) -> Results {
        let stamp = crate::stamp::Stamp::now();
        Results {
            schema: 1,
            kernel: stamp.kernel,
            date: stamp.date,
            versions,
            cells,
        }
    }
}

/// The one command that measures one cell again and shows it.
pub fn command(api: &Api, situation: &Situation) -> String {
    format!("rstlab runtimes --only {}/{}", api.id, situation.id)
}

/// `line` with every loopback port masked, so that cells compare across runs.
pub fn mask_ports(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("127.0.0.1:") {
        let after = at + "127.0.0.1:".len();
        out.push_str(&rest[..after]);
        let digits = rest[after..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        if digits > 0 {
            out.push_str("PORT");
        }
        rest = &rest[after + digits..];
    }
    out.push_str(rest);
    out
}

/// The decisive line of what a client printed: the first error, else the first EOF, else the
/// last line.
pub fn decisive(printed: &[String]) -> String {
    printed
        .iter()
        .find(|l| l.contains("ERROR "))
        .or_else(|| printed.iter().find(|l| l.contains("EOF")))
        .or_else(|| printed.last())
        .cloned()
        .unwrap_or_else(|| "(printed nothing)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_masked_and_lines_read() {
        assert_eq!(
            mask_ports("write tcp 127.0.0.1:40052->127.0.0.1:36299: write: broken pipe"),
            "write tcp 127.0.0.1:PORT->127.0.0.1:PORT: write: broken pipe"
        );
        assert_eq!(
            Said::of("write 5: ERROR BrokenPipeError: [Errno 32] Broken pipe"),
            Said::Epipe
        );
        assert_eq!(
            Said::of("read: ERROR java.net.SocketException: Connection reset"),
            Said::Reset
        );
        assert_eq!(Said::of("read: EOF (Ok(0))"), Said::Eof);
        assert_eq!(Said::of("get: 200 \"hello\\n\""), Said::Answer);
        let printed = ["write 5: ok".to_string(), "read: EOF (x)".to_string()];
        assert_eq!(decisive(&printed), "read: EOF (x)");
    }

    #[test]
    fn every_situation_has_rules_for_every_answer_and_plays() {
        for s in SITUATIONS {
            for said in [Said::Epipe, Said::Reset, Said::Eof, Said::Answer] {
                assert!(!s.rules_for(said).is_empty(), "{} {said:?}", s.id);
            }
            for plan in [&s.socket, &s.http] {
                let mut builder = crate::peer::Peer::builder();
                for scenario in plan.scenarios {
                    builder = builder.scenario(scenario);
                }
                let peer = builder.start().unwrap_or_else(|e| panic!("{}: {e}", s.id));
                drop(peer);
            }
        }
    }
}
