//! The questions people ask about broken pipes, each answered by the rules it rests on and by
//! scenarios the reader can run (`rstlab run`), with what to do in their own code. The rules
//! book renders them as its section "Questions people ask" ([`render`]); `tests/questions.rs`
//! runs every scenario on real sockets, on both backends, and holds the kernel to the oracle and
//! to every `=>` line.
//!
//! ```
//! use rstlab::questions::QUESTIONS;
//! for question in QUESTIONS {
//!     assert!(!question.scenarios()?.is_empty());
//! }
//! # Ok::<(), rstlab::scenario::ParseError>(())
//! ```

use std::fmt::Write as _;

use crate::check::verify::{VerifyError, verify};
use crate::outcome::Outcome;
use crate::rules::Rule;
use crate::run::{Backend, Runner, Trace};
use crate::scenario::{ParseError, Scenario};

/// Where a question is asked: an issue or a discussion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// How the book names it (`tokio#2234`).
    pub label: &'static str,
    /// Its address.
    pub url: &'static str,
}

/// A question people ask, with its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// The question, as people ask it: the section's heading.
    pub question: &'static str,
    /// Where it is asked.
    pub sources: &'static [Source],
    /// The answer, in Markdown; it names the rules it rests on.
    pub answer: &'static str,
    /// What to do in your own code, in Markdown.
    pub advice: &'static str,
    /// The rules the answer rests on, in the order it cites them.
    pub rules: &'static [Rule],
    /// Scenarios that show the answer, with `=>` lines; a scenario with `link` steps runs on
    /// the emulated link.
    pub scenarios: &'static [&'static str],
}

impl Question {
    /// The question's scenarios, parsed.
    pub fn scenarios(&self) -> Result<Vec<Scenario>, ParseError> {
        self.scenarios.iter().map(|text| text.parse()).collect()
    }

    /// The anchor of its heading, as GitHub makes it: lower case, punctuation dropped, spaces
    /// as hyphens.
    ///
    /// ```
    /// let q = &rstlab::questions::QUESTIONS[0];
    /// assert_eq!(q.anchor(), "my-write-succeeded-but-the-peer-never-got-the-data-how");
    /// ```
    pub fn anchor(&self) -> String {
        crate::text::anchor(self.question)
    }
}

const CARBON_C_RELAY_284: Source = Source {
    label: "grobian/carbon-c-relay#284",
    url: "https://github.com/grobian/carbon-c-relay/pull/284",
};
const ELASTICSEARCH_34405: Source = Source {
    label: "elastic/elasticsearch#34405",
    url: "https://github.com/elastic/elasticsearch/issues/34405",
};
const FREERDP_2409: Source = Source {
    label: "FreeRDP/FreeRDP#2409",
    url: "https://github.com/FreeRDP/FreeRDP/pull/2409",
};
const GRPC_PROPOSAL_95: Source = Source {
    label: "grpc/proposal#95",
    url: "https://github.com/grpc/proposal/pull/95",
};
const REACTOR_NETTY_3175: Source = Source {
    label: "reactor/reactor-netty#3175",
    url: "https://github.com/reactor/reactor-netty/issues/3175",
};
const GATLING_3609: Source = Source {
    label: "gatling/gatling#3609",
    url: "https://github.com/gatling/gatling/issues/3609",
};
const TOKIO_2234: Source = Source {
    label: "tokio#2234",
    url: "https://github.com/tokio-rs/tokio/issues/2234",
};
const TOKIO_2228: Source = Source {
    label: "tokio#2228",
    url: "https://github.com/tokio-rs/tokio/issues/2228",
};
const GO_15735: Source = Source {
    label: "golang/go#15735",
    url: "https://github.com/golang/go/issues/15735",
};
const GO_28607: Source = Source {
    label: "golang/go#28607",
    url: "https://github.com/golang/go/issues/28607",
};
const MYSQL_657: Source = Source {
    label: "go-sql-driver/mysql#657",
    url: "https://github.com/go-sql-driver/mysql/issues/657",
};
const RUST_93992: Source = Source {
    label: "rust-lang/rust#93992",
    url: "https://github.com/rust-lang/rust/issues/93992",
};
const SO_4584904: Source = Source {
    label: "Stack Overflow: What causes the Broken Pipe error?",
    url: "https://stackoverflow.com/questions/4584904/what-causes-the-broken-pipe-error",
};
const OTP_730: Source = Source {
    label: "erlang/otp#730",
    url: "https://github.com/erlang/otp/pull/730",
};
const RUST_62569: Source = Source {
    label: "rust-lang/rust#62569",
    url: "https://github.com/rust-lang/rust/issues/62569",
};

const ROCKET_2783: Source = Source {
    label: "rwf2/Rocket#2783",
    url: "https://github.com/rwf2/Rocket/issues/2783",
};
const LIBEVENT_321: Source = Source {
    label: "libevent/libevent#321",
    url: "https://github.com/libevent/libevent/issues/321",
};

/// Every question, in the order the book asks them.
pub const QUESTIONS: &[Question] = &[
    Question {
        question: "My write succeeded but the peer never got the data: how?",
        sources: &[TOKIO_2234, RUST_93992, MYSQL_657],
        answer: "A write that succeeds means one thing: the kernel copied the bytes into the \
            socket's send buffer. The peer's close sends a FIN, which says only that the peer \
            sends no more, so writes go on succeeding ([`write-after-peer-close-succeeds`]); \
            the peer's kernel answers the bytes with RST, because no one will ever read them \
            ([`closed-socket-answers-data-with-rst`]); only a write after that RST has come back \
            fails ([`rst-after-fin-leaves-epipe`]). On loopback the RST is back before the next \
            call, so exactly one write is lost, as in tokio#2234. Across a network every write \
            within about a round trip of the peer's close succeeds and is lost \
            ([`writes-within-a-round-trip-succeed`]). `flush` changes nothing: it returns when \
            the kernel has the bytes.",
        advice: "Read a successful write as \"queued\", never as \"delivered\". If you need \
            to know, the peer must answer (see the question on delivery below); without an \
            answer, treat the request as possibly lost, and resend only what may be repeated.",
        rules: &[
            Rule::WriteAfterPeerCloseSucceeds,
            Rule::ClosedSocketAnswersDataWithRst,
            Rule::RstAfterFinLeavesEpipe,
            Rule::WritesWithinARoundTripSucceed,
        ],
        scenarios: &[
            "# tokio#2234 on loopback: message_1 is read, the server stops, message_2 is lost.\n\
             client write 9 => ok(9)     # message_1\n\
             server read 9 => ok(9)\n\
             server close => ok          # the server stops\n\
             client write 9 => ok(9)     # message_2: accepted, answered with RST\n\
             client write 9 => EPIPE     # message_3: the first error\n",
            "# The same across a 10 ms link: two writes are accepted and lost.\n\
             link delay 10ms\n\
             server close => ok\n\
             client write 5 => ok(5)     # the FIN is still on its way\n\
             client sleep 10ms           # the FIN arrives; the 5 bytes reach a closed socket\n\
             client write 5 => ok(5)     # accepted: the RST is on its way\n\
             client sleep 10ms           # the RST arrives\n\
             client write 5 => EPIPE\n",
        ],
    },
    Question {
        question: "Can I know the peer closed before I write?",
        sources: &[GO_15735, GO_28607, TOKIO_2228],
        answer: "Only once the news has arrived. poll(2) and epoll report the peer's FIN as \
            `IN|RDHUP` (a read would return EOF) ([`fin-shows-as-rdhup`]), and an RST as `ERR` \
            and `HUP` ([`pending-error-shows-as-err`], [`closed-connection-shows-hup`]). `OUT` \
            is there in every case and promises nothing \
            ([`poll-out-says-nothing-of-the-peer`]). While the FIN is still on its way, nothing \
            local shows it ([`poll-cannot-see-a-fin-in-flight`]): a check before a write races \
            with the peer's close, so it narrows the window without closing it. And a FIN is not \
            a refusal: a peer that only shut down its sending side still reads, and writes after \
            its FIN succeed ([`write-after-peer-close-succeeds`]). With tokio, \
            `TcpStream::ready()` answers from a cache of epoll's events, not from the socket: it \
            can say readable when the bytes are gone ([`tokio-readable-until-would-block`]) and \
            keep an error that a call has already taken ([`tokio-error-readiness-stays`]).",
        advice: "Before sending on a connection that sat idle (a pooled connection), poll it \
            with `POLLIN | POLLRDHUP` and a zero timeout, or read it without blocking: `RDHUP`, \
            `HUP`, `ERR`, a read of 0 or an error mean it is gone; discard it. Then still handle \
            EPIPE and ECONNRESET on the request itself as \"maybe not sent\", and retry only \
            requests that may run twice. In tokio, `ready(Interest::READABLE)` and \
            `Ready::is_read_closed()` show the FIN; a read or a `peek` that returns 0 is the sure \
            answer.",
        rules: &[
            Rule::FinShowsAsRdhup,
            Rule::PendingErrorShowsAsErr,
            Rule::ClosedConnectionShowsHup,
            Rule::PollOutSaysNothingOfThePeer,
            Rule::PollCannotSeeAFinInFlight,
            Rule::WriteAfterPeerCloseSucceeds,
            Rule::TokioReadableUntilWouldBlock,
            Rule::TokioErrorReadinessStays,
        ],
        scenarios: &[
            "# What poll shows of the server's close, across a 10 ms link.\n\
             link delay 10ms\n\
             client poll => OUT\n\
             server close => ok\n\
             client poll => OUT                   # the FIN is on its way: nothing shows it\n\
             client sleep 10ms\n\
             client poll => IN|OUT|RDHUP          # the FIN has arrived: a read returns EOF\n\
             client read 1 => eof\n\
             client write 1 => ok(1)              # still accepted\n\
             client sleep 20ms                    # the closed server's RST comes back\n\
             client poll => IN|OUT|RDHUP|ERR|HUP\n\
             client error => EPIPE\n",
        ],
    },
    Question {
        question: "How do I know my bytes were delivered to the peer application?",
        sources: &[TOKIO_2234, RUST_93992],
        answer: "TCP does not tell you. The peer's kernel acknowledges bytes when they arrive, \
            before its application reads them, and the socket API does not show even that. Only \
            an answer from the peer application proves it read them. The half-close pattern \
            makes the end of what you send explicit: `shutdown(SHUT_WR)` sends a FIN after the \
            last byte and keeps the connection open for the answer \
            ([`half-close-peer-keeps-writing`]); the peer reads until EOF \
            ([`fin-reads-as-eof`]), answers, and closes; you read the answer, then EOF. A clean \
            EOF proves that the peer closed with nothing of yours unread: had it closed with \
            unread bytes, its kernel would have sent RST instead of FIN \
            ([`close-with-unread-data-sends-rst`]) and your read would fail with ECONNRESET \
            (the second scenario). It does not prove that the peer did anything with the \
            bytes, and bytes still on their way when the peer closes are not unread yet: its \
            close sends FIN, and those bytes draw an RST later \
            ([`close-timing-decides-fin-or-rst`]).",
        advice: "Make the peer confirm what it received: a response, a count, a checksum. With \
            half-close: `shutdown(Shutdown::Write)` after the last byte, then read until EOF, \
            and treat ECONNRESET at any point as \"not everything was read\". A successful \
            `close()`, even with SO_LINGER and a timeout, says at most that the peer's kernel \
            acknowledged the bytes, never that its application read them.",
        rules: &[
            Rule::HalfClosePeerKeepsWriting,
            Rule::FinReadsAsEof,
            Rule::CloseWithUnreadDataSendsRst,
            Rule::CloseBeforeDataArrivesSendsFin,
        ],
        scenarios: &[
            "# The half-close pattern: the answer is the proof.\n\
             client write 5 => ok(5)        # queued at the server: its application read nothing yet\n\
             client shutdown write => ok    # a FIN after the bytes: that is all\n\
             server read 10 => ok(5)\n\
             server read 10 => eof          # the server has read everything, up to the FIN\n\
             server write 2 => ok(2)        # its answer\n\
             server close => ok             # nothing unread: FIN\n\
             client read 10 => ok(2)        # the answer\n\
             client read 10 => eof          # a clean end\n",
            "# The server closes without reading: RST, and the client learns it.\n\
             client write 5 => ok(5)\n\
             client shutdown write => ok\n\
             server close => ok             # 5 bytes unread: RST instead of FIN\n\
             client read 10 => ECONNRESET\n",
        ],
    },
    Question {
        question: "The server answered and closed without reading my whole request: why a reset?",
        sources: &[ROCKET_2783, LIBEVENT_321],
        answer: "A server that refuses a request early (413 Payload Too Large, 401 before the \
            upload, an error in a handler) often answers and closes while part of the request \
            is still unread in its receive queue. A close with unread bytes sends RST instead of \
            FIN ([`close-with-unread-data-sends-rst`]), and the RST leaves ECONNRESET on the \
            client's socket ([`rst-leaves-econnreset`]). The client's next call that looks \
            takes that error, once ([`pending-error-reported-once`]): a client still writing its \
            body gets \"connection reset by peer\" on the write, and calls after it EPIPE \
            ([`write-on-closed-connection-fails-epipe`]). The answer is not lost on Linux: the \
            bytes that arrived before the RST stay readable ([`queued-data-survives-rst`]), so a \
            client that reads after the failed write gets the whole response (the first \
            scenario); but a client that reads first gets the response, then ECONNRESET instead \
            of a clean EOF (the second). Most HTTP clients write the whole body before they \
            read, so they report the reset and never look at the 413. Across a network it also \
            depends on timing: request bytes still on their way when the server closes are not \
            unread yet, so the close sends FIN and those bytes draw an RST later \
            ([`close-timing-decides-fin-or-rst`]).",
        advice: "Server side: after refusing a request, read and discard what is left of it for \
            a bounded time before closing (Apache's and nginx's lingering close), or \
            `shutdown(SHUT_WR)` after the answer and read until EOF; send `Connection: close` \
            with the answer. Client side: on ECONNRESET or EPIPE while sending a body, still try \
            to read a response before giving up; send `Expect: 100-continue` with large bodies so \
            that the server can refuse before you send them.",
        rules: &[
            Rule::CloseWithUnreadDataSendsRst,
            Rule::RstLeavesEconnreset,
            Rule::PendingErrorReportedOnce,
            Rule::WriteOnClosedConnectionFails,
            Rule::QueuedDataSurvivesRst,
            Rule::CloseBeforeDataArrivesSendsFin,
        ],
        scenarios: &[
            "# The client sends a 100-byte request; the server reads the first 20 (the headers),\n\
             # answers, and closes with 80 bytes unread.\n\
             client write 100 => ok(100)\n\
             server read 20 => ok(20)\n\
             server write 30 => ok(30)       # the answer: 413 Payload Too Large\n\
             server close => ok              # 80 bytes unread: RST instead of FIN\n\
             client write 10 => ECONNRESET   # the rest of the body: connection reset by peer\n\
             client read 100 => ok(30)       # the answer is still there\n\
             client read 100 => eof\n",
            "# The same, read first: the answer, then the reset instead of EOF.\n\
             client write 100 => ok(100)\n\
             server read 20 => ok(20)\n\
             server write 30 => ok(30)\n\
             server close => ok\n\
             client read 100 => ok(30)\n\
             client read 100 => ECONNRESET\n\
             client write 10 => EPIPE\n",
        ],
    },
    Question {
        question: "Why EPIPE here and ECONNRESET there?",
        sources: &[SO_4584904, TOKIO_2234],
        answer: "Both mean the connection is over; which one a write returns depends on what \
            arrived before the RST. An RST that finds the socket in CLOSE_WAIT, after the \
            peer's FIN, leaves EPIPE ([`rst-after-fin-leaves-epipe`]); an RST with no FIN before \
            it leaves ECONNRESET ([`rst-leaves-econnreset`]). Either error is reported once, to \
            the first call that looks ([`pending-error-reported-once`]); after that every write \
            fails with EPIPE, because the connection is closed \
            ([`write-on-closed-connection-fails-epipe`]), and so does every write after your own \
            `shutdown(SHUT_WR)` ([`write-after-shutdown-write-fails-epipe`]). So a peer that \
            closed normally and then received data gives EPIPE; a peer that aborted (SO_LINGER \
            0), or closed with bytes unread, gives ECONNRESET.",
        advice: "Handle EPIPE and ECONNRESET alike: the connection is over and whatever you \
            wrote since the peer's last answer may be lost. Do not read the peer's intent into \
            which of the two you got; the order in which its FIN and RST arrived decides it.",
        rules: &[
            Rule::RstAfterFinLeavesEpipe,
            Rule::RstLeavesEconnreset,
            Rule::PendingErrorReportedOnce,
            Rule::WriteOnClosedConnectionFails,
            Rule::WriteAfterShutdownWriteFails,
        ],
        scenarios: &[
            "# FIN, then RST: EPIPE.\n\
             server close => ok             # FIN: the client is in CLOSE_WAIT\n\
             client write 1 => ok(1)        # the closed server answers with RST\n\
             client write 1 => EPIPE\n",
            "# RST alone: ECONNRESET, once; then EPIPE.\n\
             server abort => ok             # RST, no FIN\n\
             client write 1 => ECONNRESET\n\
             client write 1 => EPIPE\n",
        ],
    },
    Question {
        question: "Why did my read return EOF although the peer reset?",
        sources: &[OTP_730, SO_4584904],
        answer: "Linux answers a read in a fixed order: bytes still queued first \
            ([`queued-data-survives-rst`]), then the peer's FIN as EOF, and only then the \
            pending error ([`eof-before-pending-error`]). When the FIN arrived before the RST, \
            reads return EOF and leave the error for the next write or for SO_ERROR. And once \
            any call has reported the error, reads return EOF \
            ([`read-after-reset-returns-eof`]). So EOF does not mean the peer closed cleanly.",
        advice: "Let the protocol mark where a message ends (a length prefix, a terminator): \
            EOF in the middle of a message is an error, whatever TCP says. To tell a clean \
            close from a reset after EOF, ask `getsockopt(SO_ERROR)` (`take_error()` in Rust), \
            which returns the pending error and clears it \
            ([`so-error-takes-the-pending-error`]); it cannot show a reset that has not arrived \
            yet.",
        rules: &[
            Rule::QueuedDataSurvivesRst,
            Rule::EofBeforePendingError,
            Rule::ReadAfterResetReturnsEof,
            Rule::SoErrorTakesThePendingError,
        ],
        scenarios: &[
            "# FIN, then RST: the reads say EOF, the error waits.\n\
             server close => ok\n\
             client write 1 => ok(1)        # the closed server answers with RST\n\
             client read 1 => eof           # the FIN comes first\n\
             client error => EPIPE          # the RST's error was pending all along\n\
             client read 1 => eof\n",
            "# An RST alone: the first read reports it, the next ones say EOF.\n\
             server write 3 => ok(3)\n\
             server abort => ok\n\
             client read 5 => ok(3)         # bytes that came before the RST\n\
             client read 5 => ECONNRESET\n\
             client read 5 => eof\n",
        ],
    },
    Question {
        question: "The server restarted: why ECONNRESET on my next request?",
        sources: &[REACTOR_NETTY_3175, GATLING_3609],
        answer: "A host that restarts comes back without the sockets it had, and tells nobody: \
            your kernel still holds the connection as open, and nothing will change that until \
            you send ([`reboot-forgets-the-connection`]). The request is written whole, since \
            the write only queues it (`ok`); the server's kernel finds no socket for it (or the \
            listening socket of the restarted server, which takes no data) and answers with \
            RST ([`closed-socket-answers-data-with-rst`]). An RST before any FIN leaves \
            ECONNRESET ([`rst-leaves-econnreset`]), which the next call takes, once \
            ([`pending-error-reported-once`]); after that the connection is gone, and a write \
            fails with EPIPE ([`write-on-closed-connection-fails-epipe`]), a read sees its end.",
        advice: "A connection taken from a pool may be dead however healthy it looks: the first \
            error can come only after the request is written. Retry an idempotent request once \
            on a fresh connection when a reused one fails with ECONNRESET or EPIPE before any \
            byte of the answer came; drop idle connections before the server would.",
        rules: &[
            Rule::RebootForgetsTheConnection,
            Rule::ClosedSocketAnswersDataWithRst,
            Rule::RstLeavesEconnreset,
            Rule::PendingErrorReportedOnce,
            Rule::WriteOnClosedConnectionFails,
        ],
        scenarios: &[
            "# A request and its answer, then the server's host restarts.\n\
             client write 1 => ok(1)\n\
             server read 1 => ok(1)\n\
             server write 1 => ok(1)\n\
             client read 1 => ok(1)\n\
             server reboot => ok\n\
             client write 1 => ok(1)        # the next request: written, answered with RST\n\
             client read 1 => ECONNRESET    # where the answer was awaited\n\
             client read 1 => eof\n",
            "# Writing on: the RST's error once, then EPIPE.\n\
             server reboot => ok\n\
             client write 1 => ok(1)\n\
             client write 1 => ECONNRESET\n\
             client write 1 => EPIPE\n",
        ],
    },
    Question {
        question: "My writes succeeded for 15 minutes after the server died: why?",
        sources: &[CARBON_C_RELAY_284, ELASTICSEARCH_34405],
        answer: "A host that crashes, or a cable or a route that fails, sends nothing: your \
            kernel cannot tell a silent peer from a slow one. A write only queues its bytes, so \
            it succeeds; the kernel sends them, and when no ACK comes it sends them again, with \
            the tail loss probe first and then the retransmission timer, each time waiting \
            twice as long, up to 2 minutes ([`lost-data-is-retransmitted`]). Writes meanwhile \
            are queued behind the byte being resent, and succeed too. Linux gives up only once \
            `tcp_retries2`'s time has passed since the first retransmission: 924.6 s at the \
            default 15, which with the wait before it makes about 15.5 minutes. Then the \
            socket's error is ETIMEDOUT and the connection is closed without a word on the \
            wire ([`silent-peer-times-out`]): the next call takes ETIMEDOUT, once \
            ([`pending-error-reported-once`]), and every write after it fails with EPIPE \
            ([`write-on-closed-connection-fails-epipe`]).",
        advice: "Do not wait for the kernel: put a deadline on every answer you await, in your \
            own code, and close the connection when it passes. To make the kernel give up \
            sooner on unacknowledged data, set `TCP_USER_TIMEOUT` (next question).",
        rules: &[
            Rule::LostDataIsRetransmitted,
            Rule::SilentPeerTimesOut,
            Rule::PendingErrorReportedOnce,
            Rule::WriteOnClosedConnectionFails,
        ],
        scenarios: &[
            "# The server's host vanishes after one request. Runs in the kernel's own time (the\n\
             # lane, `--kernel`): the sleeps pass in a second.\n\
             client write 1 => ok(1)\n\
             server read 1 => ok(1)\n\
             link cut                     # the server's host is gone\n\
             client write 1 => ok(1)      # the next request: queued, sent, lost\n\
             client sleep 5m\n\
             client write 1 => ok(1)      # five minutes on: still queued\n\
             client sleep 10m\n\
             client write 1 => ok(1)      # fifteen minutes on: still queued\n\
             client sleep 1m\n\
             client write 1 => ETIMEDOUT  # the kernel gave up\n\
             client write 1 => EPIPE\n",
        ],
    },
    Question {
        question: "How do I find out sooner that the peer is gone?",
        sources: &[FREERDP_2409, GRPC_PROPOSAL_95],
        answer: "Two socket options make the kernel give up sooner, each on one kind of \
            silence. `TCP_USER_TIMEOUT` bounds how long sent data may stay unacknowledged: the \
            retransmission timer gives up once that much time has passed since its first \
            retransmission, instead of `tcp_retries2`'s 15 minutes \
            ([`silent-peer-times-out`]). It does nothing for a connection with nothing to \
            send. Keepalive covers that one: after IDLE without a segment received, the kernel \
            sends a probe every INTERVAL, and after COUNT unanswered it resets the connection \
            and the next call gets ETIMEDOUT ([`keepalive-times-out-a-silent-peer`]). At \
            Linux's defaults (7,200 s, 75 s, 9) that is 2 hours and 11 minutes; and while data \
            is unacknowledged keepalive sends no probe, so the user timeout is the one that \
            counts then. Setting either sends nothing ([`timer-options-send-nothing`]).",
        advice: "Set both on connections that must notice a dead peer: `TCP_USER_TIMEOUT` a \
            little above the longest stall your network may show, and keepalive with an IDLE \
            below the idle timeout of any NAT or load balancer on the path. An application \
            heartbeat with its own deadline does both jobs and works on every platform.",
        rules: &[
            Rule::SilentPeerTimesOut,
            Rule::KeepaliveTimesOutASilentPeer,
            Rule::TimerOptionsSendNothing,
        ],
        scenarios: &[
            "# TCP_USER_TIMEOUT 2 s: ETIMEDOUT about 2.4 s after the write, not 15 minutes.\n\
             client set user-timeout 2s => ok\n\
             client write 1 => ok(1)\n\
             server read 1 => ok(1)\n\
             link cut\n\
             client write 1 => ok(1)\n\
             client sleep 2s\n\
             client write 1 => ok(1)      # still within the user timeout: queued\n\
             client sleep 1s\n\
             client write 1 => ETIMEDOUT\n",
            "# Keepalive (IDLE 10 s, every 2 s, 3 probes) on an idle connection: ETIMEDOUT about\n\
             # 16 s after the last segment received; a read finds it.\n\
             client set keepalive 10s 2s 3 => ok\n\
             client write 1 => ok(1)\n\
             server read 1 => ok(1)\n\
             link cut\n\
             client sleep 12s\n\
             client read 1 => EAGAIN      # probes are out, unanswered\n\
             client sleep 8s\n\
             client read 1 => ETIMEDOUT\n",
        ],
    },
    Question {
        question: "Why is my process killed by SIGPIPE?",
        sources: &[RUST_62569, SO_4584904],
        answer: "A write that fails with EPIPE also raises SIGPIPE, unless it was sent with \
            `MSG_NOSIGNAL`, and SIGPIPE's default action ends the process \
            ([`write-epipe-raises-sigpipe`]); a write that fails with ECONNRESET raises \
            nothing. So the process dies exactly where the scenario's last write fails with EPIPE, \
            the RST having come after the FIN ([`rst-after-fin-leaves-epipe`]). Rust's \
            runtime sets SIGPIPE to ignored before `main`, and std's `TcpStream` (which tokio \
            writes through) sends with `MSG_NOSIGNAL`: a Rust program sees the error. A C \
            program that calls `write(2)`, or a Rust program that restores SIGPIPE's default \
            and writes to the fd directly, dies. The book's SIGPIPE experiment runs each case \
            on this kernel.",
        advice: "In C, send with `MSG_NOSIGNAL` or ignore SIGPIPE at start-up. In Rust, keep \
            the runtime's default in servers (restoring SIGPIPE is for command-line tools \
            writing to pipes, rust-lang/rust#62569). Either way, handle EPIPE as a connection \
            that is over.",
        rules: &[Rule::WriteEpipeRaisesSigpipe, Rule::RstAfterFinLeavesEpipe],
        scenarios: &["# The write that would raise SIGPIPE.\n\
             server close => ok\n\
             client write 1 => ok(1)        # answered with RST\n\
             client write 1 => EPIPE        # with write(2) and SIGPIPE's default: the end\n"],
    },
];

/// What one run of a scenario showed: for [`render`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// The backend that ran it.
    pub backend: Backend,
    /// What each step returned.
    pub outcomes: Vec<Outcome>,
    /// Whether the kernel did what the oracle predicted and what the `=>` lines expect.
    pub agrees: bool,
}

impl Shown {
    /// Runs `scenario` with `runner` (whose network must suit it: the link for a scenario with
    /// `link` steps) and checks it against the oracle's prediction for the runner's backend and
    /// against its `=>` lines.
    ///
    /// ```
    /// use rstlab::questions::{Shown, QUESTIONS};
    /// use rstlab::run::{Backend, Runner};
    /// let scenario = &QUESTIONS[0].scenarios()?[0];
    /// let shown = Shown::run(&mut Runner::new(Backend::Std)?, scenario)?;
    /// assert!(shown.agrees);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run(runner: &mut Runner, scenario: &Scenario) -> Result<Shown, VerifyError> {
        let v = verify(runner, scenario)?;
        Ok(Shown::of(
            runner.backend(),
            scenario,
            &v.trace,
            v.disagreement.is_none(),
        ))
    }

    /// What `trace`, a run of `scenario` on `backend`, showed; `agrees` is the check's verdict.
    pub fn of(backend: Backend, scenario: &Scenario, trace: &Trace, agrees: bool) -> Shown {
        Shown {
            backend,
            outcomes: trace.steps.iter().map(|s| s.outcome.clone()).collect(),
            agrees: agrees && trace.steps.len() == scenario.steps().len(),
        }
    }
}

/// Writes the section "Questions people ask" in Markdown: for each question its heading, its
/// sources, the answer, what to do, the rules (linked to their sections in the book), and each
/// scenario with what `shown` reports of its runs (nothing when `shown` returns no run).
///
/// ```
/// let mut md = String::new();
/// rstlab::questions::render(&mut md, |_| Vec::new());
/// assert!(md.starts_with("## Questions people ask\n"));
/// assert!(md.contains("### Why EPIPE here and ECONNRESET there?"));
/// assert!(md.contains("[tokio#2234](https://github.com/tokio-rs/tokio/issues/2234)"));
/// ```
pub fn render(out: &mut String, mut shown: impl FnMut(&Scenario) -> Vec<Shown>) {
    out.push_str("## Questions people ask\n\n");
    for q in QUESTIONS {
        let _ = writeln!(out, "- [{}](#{})", q.question, q.anchor());
    }
    out.push('\n');
    for q in QUESTIONS {
        let _ = writeln!(out, "### {}\n", q.question);
        let sources: Vec<String> = q
            .sources
            .iter()
            .map(|s| format!("[{}]({})", s.label, s.url))
            .collect();
        let _ = writeln!(out, "Asked in {}.\n", sources.join(", "));
        let _ = writeln!(out, "{}\n", link_rules(q.answer));
        let _ = writeln!(out, "**In your code.** {}\n", link_rules(q.advice));
        let rules: Vec<String> = q
            .rules
            .iter()
            .map(|r| format!("[`{}`](#{})", r.id(), r.id()))
            .collect();
        let _ = writeln!(out, "Rules: {}.\n", rules.join(", "));
        for text in q.scenarios {
            let Ok(scenario) = text.parse::<Scenario>() else {
                continue;
            };
            let _ = writeln!(out, "```text\n{}\n```\n", text.trim_end());
            let runs = shown(&scenario);
            if runs.is_empty() {
                continue;
            }
            let mut header = String::from("| step |");
            let mut rule = String::from("|---|");
            for run in &runs {
                let _ = write!(header, " {} |", run.backend);
                rule.push_str("---|");
            }
            let _ = writeln!(out, "{header}\n{rule}");
            for (i, step) in scenario.steps().iter().enumerate() {
                let mut row = format!("| `{} {}` |", step.who, step.op);
                for run in &runs {
                    match run.outcomes.get(i) {
                        Some(o) => {
                            let _ = write!(row, " `{o}` |");
                        }
                        None => row.push_str(" did not run |"),
                    }
                }
                let _ = writeln!(out, "{row}");
            }
            let verdicts: Vec<String> = runs
                .iter()
                .map(|r| {
                    let verdict = if r.agrees { "agrees" } else { "DISAGREES" };
                    format!("{}: {verdict}", r.backend)
                })
                .collect();
            let _ = writeln!(
                out,
                "\nThe kernel against the oracle and the `=>` lines: {}.\n",
                verdicts.join(", ")
            );
        }
    }
}

/// Every `` [`rule-id`] `` of `prose` that names a rule, made a link to the rule's section.
fn link_rules(prose: &str) -> String {
    let mut out = String::with_capacity(prose.len() * 2);
    let mut rest = prose;
    while let Some(open) = rest.find("[`") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after.find("`]") {
            Some(close) if Rule::from_id(&after[..close]).is_some() => {
                let id = &after[..close];
                let _ = write!(out, "[`{id}`](#{id})");
                rest = &after[close + 2..];
            }
            _ => {
                out.push_str("[`");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_question_parses_cites_its_rules_and_has_a_source() {
        for q in QUESTIONS {
            let scenarios = q
                .scenarios()
                .unwrap_or_else(|e| panic!("{}: {e}", q.question));
            assert!(!scenarios.is_empty(), "{}", q.question);
            for s in &scenarios {
                let expecting = s.steps().iter().filter(|s| s.expect.is_some()).count();
                assert!(
                    expecting * 2 >= s.steps().len(),
                    "{}: too few `=>`",
                    q.question
                );
            }
            assert!(!q.sources.is_empty(), "{}", q.question);
            for rule in q.rules {
                let cited = format!("[`{}`]", rule.id());
                assert!(
                    q.answer.contains(&cited) || q.advice.contains(&cited),
                    "{}: {} is listed but not cited",
                    q.question,
                    rule.id()
                );
            }
            for word in q
                .answer
                .split("[`")
                .skip(1)
                .chain(q.advice.split("[`").skip(1))
            {
                let id = word.split('`').next().unwrap_or("");
                assert!(
                    q.rules.iter().any(|r| r.id() == id),
                    "{}: cites {id}, which is not in its rules",
                    q.question
                );
            }
        }
    }

    #[test]
    fn rule_citations_become_links() {
        let md = link_rules("succeed ([`write-queues-data`]); and [`fin-reads-as-eof`], so");
        assert_eq!(
            md,
            "succeed ([`write-queues-data`](#write-queues-data)); and \
             [`fin-reads-as-eof`](#fin-reads-as-eof), so"
        );
    }

    #[test]
    fn the_section_shows_each_run() {
        let mut md = String::new();
        render(&mut md, |s| {
            vec![Shown {
                backend: Backend::Std,
                outcomes: crate::oracle::predict(s, &crate::oracle::Settings::default())
                    .steps
                    .into_iter()
                    .map(|p| p.outcome)
                    .collect(),
                agrees: true,
            }]
        });
        assert!(md.contains("| `client write 9` | `ok(9)` |"), "{md}");
        assert!(md.contains("std: agrees"));
        assert_eq!(md.matches("\n### ").count(), QUESTIONS.len());
    }
}
