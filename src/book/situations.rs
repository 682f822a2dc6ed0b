//! The situations of the summary table ("What the next write and read return"): each a way a
//! connection can end, run with the client's next write and, on a fresh connection, its next
//! read.

use crate::scenario::{ParseError, Scenario};

/// One row of the summary table: a way the connection got where it is, and the client's next
/// write and next read, each on a fresh connection.
pub(super) struct Situation {
    /// How the connection got where it is.
    pub(super) what: &'static str,
    /// The steps that got it there, `;`-separated (empty: none).
    pub(super) steps: &'static str,
    /// What the next write and read return by the rules that "How to read it" states: the book
    /// prints that summary only when the kernel answered exactly these.
    pub(super) write: &'static str,
    /// See `write`.
    pub(super) read: &'static str,
}

/// The table's rows, in its order.
pub(super) const SITUATIONS: &[Situation] = &[
    Situation {
        what: "open, nothing queued",
        steps: "",
        write: "ok(1)",
        read: "EAGAIN",
    },
    Situation {
        what: "peer closed cleanly (FIN), nothing written since",
        steps: "server close",
        write: "ok(1)",
        read: "eof",
    },
    Situation {
        what: "peer closed cleanly, our write answered with RST (the seed)",
        steps: "server close; client write 1",
        write: "EPIPE",
        read: "eof",
    },
    Situation {
        what: "peer closed with our data unread (RST)",
        steps: "client write 1; server close",
        write: "ECONNRESET",
        read: "ECONNRESET",
    },
    Situation {
        what: "peer aborted (SO_LINGER 0: RST)",
        steps: "server abort",
        write: "ECONNRESET",
        read: "ECONNRESET",
    },
    Situation {
        what: "peer sent 2 bytes, then aborted",
        steps: "server write 2; server abort",
        write: "ECONNRESET",
        read: "ok(2)",
    },
    Situation {
        what: "peer half-closed (shutdown write: FIN)",
        steps: "server shutdown write",
        write: "ok(1)",
        read: "eof",
    },
    Situation {
        what: "peer shut down reading (shutdown read)",
        steps: "server shutdown read",
        write: "ok(1)",
        read: "EAGAIN",
    },
    Situation {
        what: "peer shut down both ways",
        steps: "server shutdown both",
        write: "ok(1)",
        read: "eof",
    },
    Situation {
        what: "peer shut down both ways, our write answered with RST",
        steps: "server shutdown both; client write 1",
        write: "EPIPE",
        read: "eof",
    },
    Situation {
        what: "we half-closed (shutdown write)",
        steps: "client shutdown write",
        write: "EPIPE",
        read: "EAGAIN",
    },
    Situation {
        what: "we shut down reading (shutdown read)",
        steps: "client shutdown read",
        write: "ok(1)",
        read: "eof",
    },
    Situation {
        what: "both sides sent FIN",
        steps: "client shutdown write; server close",
        write: "EPIPE",
        read: "eof",
    },
    Situation {
        what: "RST already reported, by a read",
        steps: "server abort; client read 1",
        write: "EPIPE",
        read: "eof",
    },
    Situation {
        what: "RST already reported, by a write",
        steps: "server abort; client write 1",
        write: "EPIPE",
        read: "eof",
    },
];

/// The call that follows a situation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// `client write 1`.
    Write,
    /// `client read 10`.
    Read,
}

impl Next {
    /// Both, in the order the table shows them.
    pub(super) const ALL: [Next; 2] = [Next::Write, Next::Read];

    /// The step, in the language.
    pub(super) fn step(self) -> &'static str {
        match self {
            Next::Write => "client write 1",
            Next::Read => "client read 10",
        }
    }
}

impl Situation {
    /// The situation's steps followed by `next`.
    pub(super) fn scenario(&self, next: Next) -> Result<Scenario, ParseError> {
        let text = if self.steps.is_empty() {
            next.step().to_string()
        } else {
            format!("{}; {}", self.steps, next.step())
        };
        Scenario::parse(&text)
    }

    /// What `next` returns by the rules that "How to read it" states.
    pub(super) fn expected(&self, next: Next) -> &'static str {
        match next {
            Next::Write => self.write,
            Next::Read => self.read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle;

    #[test]
    fn each_situation_expects_what_the_oracle_predicts() {
        for s in SITUATIONS {
            for next in Next::ALL {
                let scenario = s.scenario(next).unwrap();
                let p = oracle::predict(&scenario, &oracle::Settings::default());
                let last = p.steps.last().unwrap().outcome.to_string();
                assert_eq!(last, s.expected(next), "{}; {}", s.steps, next.step());
            }
        }
    }
}
