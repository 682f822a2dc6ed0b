//! The divergences known so far, by simulator: what the reports mark as known, and what
//! `cargo test` (`tests/sim.rs`) pins, so that a simulator release that fixes one makes a test
//! fail and say so. Nothing here is read by the simulators' adapters: it describes results,
//! it does not produce them.

use super::Signature;

/// A known divergence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// The simulator (`turmoil`).
    pub simulator: &'static str,
    /// The rules behind Linux's answer, joined by `, ` (see [`Signature::rules`]).
    pub rules: &'static str,
    /// The op (`write`, `read`, `shutdown write`, …).
    pub op: &'static str,
    /// Linux's answer (`ok(N)` for any count).
    pub linux: &'static str,
    /// The simulator's answer (`ok(N)` for any count).
    pub sim: &'static str,
    /// A scenario that shows it: its last step diverges.
    pub scenario: &'static str,
    /// What is known of it.
    pub note: &'static str,
}

impl Known {
    /// Its signature, as [`super::signature`] computes it.
    pub fn signature(&self) -> Signature {
        Signature {
            rules: self.rules.to_string(),
            op: self.op.to_string(),
            linux: self.linux.to_string(),
            simulator: self.sim.to_string(),
        }
    }
}

/// Every known divergence.
pub const KNOWN: &[Known] = &[
    Known {
        simulator: "turmoil",
        rules: "read-takes-queued",
        op: "read",
        linux: "ok(N)",
        sim: "ok(N)",
        scenario: "client write 1; client write 1; server read 3",
        note: "turmoil delivers each write as one message and a read returns at most one \
               message's bytes; Linux returns every queued byte up to the size asked",
    },
    Known {
        simulator: "turmoil",
        rules: "read-takes-queued, queued-data-survives-rst",
        op: "read",
        linux: "ok(N)",
        sim: "ok(N)",
        scenario: "server write 1; server write 1; server close; client write 1; client read 2",
        note: "the same one-message-per-read, on bytes queued before an RST",
    },
    Known {
        simulator: "turmoil",
        rules: "pending-error-reported-once",
        op: "write",
        linux: "ECONNRESET",
        sim: "EPIPE",
        scenario: "client write 1; server close; client write 1",
        note: "after an RST turmoil removes the stream from the host and every write fails with \
               BrokenPipe, the first included; Linux reports the RST's ECONNRESET once, then EPIPE",
    },
    Known {
        simulator: "turmoil",
        rules: "read-after-reset-returns-eof",
        op: "read",
        linux: "eof",
        sim: "ECONNRESET",
        scenario: "client write 1; server close; client read 1; client read 1",
        note: "turmoil's reads fail with ConnectionReset for ever after an RST; Linux reports it \
               once, then reads return EOF",
    },
    Known {
        simulator: "turmoil",
        rules: "shutdown-on-closed-connection-enotconn, tokio-shutdown-hides-enotconn",
        op: "shutdown write",
        linux: "ok",
        sim: "ENOTCONN",
        scenario: "client shutdown write; server shutdown write; client shutdown write",
        note: "a second shutdown fails with NotConnected in turmoil; tokio on Linux returns Ok \
               (it hides the kernel's ENOTCONN)",
    },
    Known {
        simulator: "turmoil",
        rules: "shutdown-on-closed-connection-enotconn, tokio-shutdown-hides-enotconn",
        op: "shutdown write",
        linux: "ok",
        sim: "EPIPE",
        scenario: "client write 1; server close; client shutdown write",
        note: "after an RST turmoil's shutdown fails with BrokenPipe; tokio on Linux returns Ok",
    },
    Known {
        simulator: "turmoil-net",
        rules: "read-takes-queued, queued-data-survives-rst",
        op: "read",
        linux: "ok(N)",
        sim: "ECONNRESET",
        scenario: "server write 1; client write 1; client close; server read 1",
        note: "turmoil-net empties the receive buffer on an RST (reads see the error, not the \
               bytes); Linux keeps the queued bytes readable before the error",
    },
    Known {
        simulator: "turmoil-net",
        rules: "pending-error-reported-once",
        op: "write",
        linux: "EPIPE",
        sim: "ok(N)",
        scenario: "server close; client write 1; client write 1",
        note: "the seed article: in turmoil-net no RST answers the data sent to the peer that \
               closed, so writes go on succeeding where Linux's second write fails with EPIPE",
    },
    Known {
        simulator: "turmoil-net",
        rules: "read-after-reset-returns-eof",
        op: "read",
        linux: "eof",
        sim: "ECONNRESET",
        scenario: "client write 1; server close; client read 1; client read 1",
        note: "a reset is permanent in turmoil-net: every read after it fails with \
               ConnectionReset; Linux reports it once, then reads return EOF",
    },
    Known {
        simulator: "turmoil-net",
        rules: "write-on-closed-connection-fails-epipe",
        op: "write",
        linux: "EPIPE",
        sim: "ECONNRESET",
        scenario: "client write 1; server close; client read 1; client write 1",
        note: "a reset is permanent in turmoil-net: every write after it fails with \
               ConnectionReset; Linux, once it has reported the RST, gives EPIPE",
    },
    Known {
        simulator: "turmoil-net",
        rules: "shutdown-on-closed-connection-enotconn, tokio-shutdown-hides-enotconn",
        op: "shutdown write",
        linux: "ok",
        sim: "ECONNRESET",
        scenario: "client write 1; server close; client shutdown write",
        note: "after an RST turmoil-net's shutdown fails with ConnectionReset; tokio on Linux \
               returns Ok (it hides the kernel's ENOTCONN)",
    },
];

/// The note of the known divergence of `simulator` with `signature`.
pub fn note(simulator: &str, signature: &Signature) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|k| k.simulator == simulator && k.signature() == *signature)
        .map(|k| k.note)
}
