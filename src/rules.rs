//! The rule catalogue: every rule the oracle applies, with a stable id, a one-line statement,
//! the kernel mechanism behind it and its canonical scenarios.
//!
//! The oracle ([`crate::oracle`]) names, for every outcome and every segment it predicts, the
//! rules that decided it; a run can therefore count how often each rule was exercised and
//! whether the kernel agreed each time. The canonical scenarios live in `scenarios/<id>.scenario`
//! with `=>` expectations, and `cargo test` runs them all on real sockets.
//!
//! Kernel functions are those of Linux 6.x, `net/ipv4/tcp*.c`, `net/ipv4/af_inet.c` and
//! `net/core/stream.c`.

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

macro_rules! rules {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $id:literal {
            statement: $statement:literal,
            mechanism: $mechanism:literal,
        }
    )*) => {
        /// A rule of the Linux TCP stack, as the oracle applies it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $(
                $(#[doc = $doc])*
                $variant,
            )*
        }

        impl Rule {
            /// Every rule, in catalogue order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            /// The stable id: the rule's name in traces, in RULES.md and in `scenarios/`.
            pub fn id(self) -> &'static str {
                match self {
                    $(Rule::$variant => $id,)*
                }
            }

            /// What the rule says, in one line.
            pub fn statement(self) -> &'static str {
                match self {
                    $(Rule::$variant => $statement,)*
                }
            }

            /// Where the behaviour comes from: kernel functions and RFC sections.
            pub fn mechanism(self) -> &'static str {
                match self {
                    $(Rule::$variant => $mechanism,)*
                }
            }

            /// The canonical scenario's text, `scenarios/<id>.scenario`, with its `=>`
            /// expectations and comments ([`Rule::scenario`] is the same, parsed).
            pub fn canonical(self) -> &'static str {
                match self {
                    $(Rule::$variant => include_str!(concat!("../scenarios/", $id, ".scenario")),)*
                }
            }
        }
    };
}

rules! {
    /// The baseline: data moves.
    WriteQueuesData = "write-queues-data" {
        statement: "A write on an open connection succeeds whole; the bytes wait in the peer's receive queue.",
        mechanism: "tcp_sendmsg_locked() copies the bytes into the send queue and tcp_push() sends them; the peer's tcp_data_queue() appends them to sk_receive_queue and ACKs. RFC 9293 §3.10.4 (SEND).",
    }
    /// Reads take what is queued.
    ReadTakesQueued = "read-takes-queued" {
        statement: "A read returns the bytes already queued, up to the size asked, across segment boundaries.",
        mechanism: "tcp_recvmsg_locked() walks sk_receive_queue and copies until the buffer is full or the queue is empty. RFC 9293 §3.10.5 (RECEIVE).",
    }
    /// Nothing to read.
    ReadWouldBlock = "read-empty-would-block" {
        statement: "A non-blocking read with nothing queued, no FIN and no pending error fails with EAGAIN.",
        mechanism: "tcp_recvmsg_locked(): with an empty queue, no SOCK_DONE, no sk_err, no RCV_SHUTDOWN and a zero timeout it returns -EAGAIN.",
    }
    /// Orderly close.
    CloseSendsFin = "close-sends-fin" {
        statement: "close() with nothing unread sends FIN; the peer moves to CLOSE_WAIT.",
        mechanism: "__tcp_close(): tcp_close_state() (ESTABLISHED -> FIN_WAIT1, CLOSE_WAIT -> LAST_ACK) then tcp_send_fin(); the peer's tcp_fin() enters CLOSE_WAIT. RFC 9293 §3.6.",
    }
    /// EOF, again and again.
    FinReadsAsEof = "fin-reads-as-eof" {
        statement: "Once a FIN has arrived and the bytes before it are read, every read returns 0 (EOF).",
        mechanism: "tcp_fin() sets SOCK_DONE and RCV_SHUTDOWN; tcp_recvmsg_locked() returns 0 when the queue is empty and SOCK_DONE is set. RFC 9293 §3.10.7.4 (FIN bit).",
    }
    /// The seed's first half.
    WriteAfterPeerCloseSucceeds = "write-after-peer-close-succeeds" {
        statement: "A write after the peer's FIN (CLOSE_WAIT) still succeeds: a FIN only says the peer sends no more.",
        mechanism: "tcp_sendmsg_locked() accepts data in TCPF_ESTABLISHED | TCPF_CLOSE_WAIT. RFC 9293 §3.6 (half-close).",
    }
    /// The seed's RST.
    ClosedSocketAnswersDataWithRst = "closed-socket-answers-data-with-rst" {
        statement: "Data reaching a socket that can no longer read (closed, or shut down both ways) is answered with RST.",
        mechanism: "tcp_rcv_state_process(), FIN_WAIT1/FIN_WAIT2 with RCV_SHUTDOWN: new data -> tcp_reset() and a RST reply (LINUX_MIB_TCPABORTONDATA); a FIN_WAIT2 timewait socket does the same in tcp_timewait_state_process(). RFC 1122 §4.2.2.13.",
    }
    /// Unread data turns FIN into RST.
    CloseWithUnreadDataSendsRst = "close-with-unread-data-sends-rst" {
        statement: "close() with unread bytes in the receive queue sends RST instead of FIN.",
        mechanism: "__tcp_close(): data_was_unread -> tcp_set_state(TCP_CLOSE) and tcp_send_active_reset() (LINUX_MIB_TCPABORTONCLOSE). RFC 2525 §2.17, RFC 1122 §4.2.2.13.",
    }
    /// SO_LINGER 0.
    AbortSendsRst = "abort-sends-rst" {
        statement: "close() with SO_LINGER {on, 0} on a synchronized connection sends RST and no FIN.",
        mechanism: "__tcp_close(): SOCK_LINGER with sk_lingertime 0 -> tcp_disconnect(), which sends tcp_send_active_reset() when tcp_need_reset(state) (ESTABLISHED, CLOSE_WAIT, FIN_WAIT1, FIN_WAIT2). RFC 9293 §3.10.4 (ABORT).",
    }
    /// A host that restarts forgets its connections.
    RebootForgetsTheConnection = "reboot-forgets-the-connection" {
        statement: "A host that restarts comes back without its sockets: nothing is sent when they vanish, and the next segment of the connection that reaches the host draws an RST.",
        mechanism: "rstlab closes the socket in repair mode (TCP_REPAIR): tcp_close() -> tcp_disconnect(), which skips tcp_send_active_reset() for a socket under repair, and the socket is destroyed. A later segment finds no socket: tcp_v4_rcv() -> tcp_v4_send_reset() (NO_SOCKET), or the listening socket of a server restarted on the same port, whose tcp_rcv_state_process() refuses an ACK in LISTEN (TCP_FLAGS). RFC 9293 §3.5.2 (half-open connections).",
    }
    /// `set` is state until time passes.
    TimerOptionsSendNothing = "timer-options-send-nothing" {
        statement: "Setting TCP_USER_TIMEOUT or keepalive sends nothing and changes no outcome at once: they act only once time passes (data unacknowledged or a closed window for the user timeout, a connection idle for IDLE for keepalive).",
        mechanism: "do_tcp_setsockopt(): TCP_USER_TIMEOUT stores icsk_user_timeout, read by tcp_write_timeout(), tcp_probe_timer() and tcp_keepalive_timer(); sock_setsockopt(SO_KEEPALIVE) -> tcp_set_keepalive() arms the keepalive timer keepalive_time_when() ahead; TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT store their values (tcp_sock_set_keepidle_locked() re-arms the timer). No segment leaves until a timer expires.",
    }
    /// The vanished peer: retransmissions, then ETIMEDOUT.
    LostDataIsRetransmitted = "lost-data-is-retransmitted" {
        statement: "Data the peer does not acknowledge is sent again: the tail loss probe once, about 200 ms after the send, then the retransmission timer, each time waiting twice as long (up to 120 s).",
        mechanism: "tcp_schedule_loss_probe() and tcp_send_loss_probe() resend the last segment after about 2 RTT plus rto_min with one segment out; tcp_retransmit_timer() -> tcp_enter_loss() (the congestion window falls to one segment) and tcp_retransmit_skb() resend the first unacknowledged segment, and icsk_rto doubles up to TCP_RTO_MAX (tcp_backoff). RFC 6298 §5, RFC 8985 §7 (tail loss probe).",
    }
    /// The vanished peer's end.
    SilentPeerTimesOut = "silent-peer-times-out" {
        statement: "A peer that never answers again ends the connection with ETIMEDOUT: once tcp_retries2's time (924.6 s at the default 15, about 15.5 minutes) has passed since the first retransmission, or TCP_USER_TIMEOUT if set, the kernel gives up. Every write until then succeeds; the next call that looks gets ETIMEDOUT once, and later writes EPIPE.",
        mechanism: "tcp_retransmit_timer() -> tcp_write_timeout(): retransmits_timed_out() measures the time since retrans_stamp against tcp_model_timeout(tcp_retries2) or icsk_user_timeout (to which tcp_clamp_rto_to_user_timeout() shortens the last wait); then tcp_write_err() stores ETIMEDOUT in sk_err and tcp_done() closes the socket, sending nothing. RFC 9293 §3.8.3 (R2), RFC 5482 (user timeout).",
    }
    /// Keepalive finds the silence.
    KeepaliveTimesOutASilentPeer = "keepalive-times-out-a-silent-peer" {
        statement: "With keepalive on, an idle connection whose peer went silent ends after IDLE + COUNT x INTERVAL without a segment received: the kernel sends an RST it cannot deliver, and the next read gets ETIMEDOUT.",
        mechanism: "tcp_keepalive_timer(): once keepalive_time_elapsed() reaches keepalive_time_when(), tcp_write_wakeup() sends a probe every keepalive_intvl_when(); when icsk_probes_out reaches keepalive_probes() (or TCP_USER_TIMEOUT has passed with a probe out), tcp_send_active_reset() (TCP_KEEPALIVE_TIMEOUT from 6.12) and tcp_write_err() (ETIMEDOUT, tcp_done()). RFC 1122 §4.2.3.6.",
    }
    /// Why the seed sees EPIPE and not ECONNRESET.
    RstAfterFinLeavesEpipe = "rst-after-fin-leaves-epipe" {
        statement: "An RST that arrives after the peer's FIN (in CLOSE_WAIT) leaves EPIPE pending, not ECONNRESET.",
        mechanism: "tcp_reset(): case TCP_CLOSE_WAIT: err = EPIPE; then tcp_done_with_error() stores it in sk_err.",
    }
    /// The classic reset.
    RstLeavesEconnreset = "rst-leaves-econnreset" {
        statement: "An RST that arrives before any FIN (ESTABLISHED, FIN_WAIT1, FIN_WAIT2) leaves ECONNRESET pending.",
        mechanism: "tcp_reset(): default: err = ECONNRESET; tcp_done_with_error() stores it in sk_err and closes the socket. RFC 9293 §3.10.7.4 (RST bit).",
    }
    /// sock_error() clears.
    PendingErrorReportedOnce = "pending-error-reported-once" {
        statement: "The pending error is reported once, by the first read or write that looks at it; then it is gone.",
        mechanism: "sock_error() reads and clears sk_err with xchg(); tcp_recvmsg_locked() and sk_stream_wait_connect() (for writes) both call it.",
    }
    /// EOF hides the error from reads.
    EofBeforePendingError = "eof-before-pending-error" {
        statement: "After a FIN, reads return EOF and leave a pending error untouched: the next write reports it.",
        mechanism: "tcp_recvmsg_locked() tests SOCK_DONE before sk_err; tcp_sendmsg_locked() -> sk_stream_wait_connect() -> sock_error().",
    }
    /// Queued data outlives the RST.
    QueuedDataSurvivesRst = "queued-data-survives-rst" {
        statement: "Bytes that arrived before an RST can still be read; the error comes after them.",
        mechanism: "tcp_reset() purges the write queue only; tcp_recvmsg_locked() copies from sk_receive_queue before it looks at sk_err.",
    }
    /// After the error, EOF.
    ReadAfterResetReturnsEof = "read-after-reset-returns-eof" {
        statement: "After an RST's error has been reported, reads return 0 (EOF), not an error.",
        mechanism: "tcp_done() sets sk_shutdown = SHUTDOWN_MASK; tcp_recvmsg_locked() returns 0 on RCV_SHUTDOWN before it tests TCP_CLOSE.",
    }
    /// After the error, EPIPE.
    WriteOnClosedConnectionFails = "write-on-closed-connection-fails-epipe" {
        statement: "Once the connection is closed (reset, or both FINs exchanged) and no error is pending, every write fails with EPIPE.",
        mechanism: "tcp_sendmsg_locked(): state not ESTABLISHED/CLOSE_WAIT -> sk_stream_wait_connect() returns -EPIPE when sk_err is 0; sk_stream_error() raises SIGPIPE unless MSG_NOSIGNAL.",
    }
    /// Own FIN.
    WriteAfterShutdownWriteFails = "write-after-shutdown-write-fails-epipe" {
        statement: "After our own shutdown(SHUT_WR) every write fails with EPIPE.",
        mechanism: "tcp_sendmsg_locked(): FIN_WAIT1/FIN_WAIT2 -> sk_stream_wait_connect() -> -EPIPE; or SEND_SHUTDOWN -> -EPIPE. POSIX shutdown(2).",
    }
    /// Half-close.
    HalfClosePeerKeepsWriting = "half-close-peer-keeps-writing" {
        statement: "shutdown(SHUT_WR) sends FIN but keeps receiving: the peer's writes still succeed and can be read.",
        mechanism: "tcp_shutdown() sends FIN only; in FIN_WAIT2 without RCV_SHUTDOWN tcp_rcv_state_process() falls through to tcp_data_queue(). RFC 9293 §3.6.",
    }
    /// SHUT_RD is nearly a no-op.
    ShutdownReadStillReceives = "shutdown-read-still-receives" {
        statement: "On Linux shutdown(SHUT_RD) sends nothing: the peer's writes succeed and their bytes are still readable; an empty queue reads as EOF.",
        mechanism: "inet_shutdown() only sets RCV_SHUTDOWN; tcp_shutdown() ignores it; ESTABLISHED data still goes to tcp_data_queue(); tcp_recvmsg_locked() copies queued bytes before testing RCV_SHUTDOWN.",
    }
    /// SHUT_RDWR then data.
    ShutdownBothResetsOnData = "shutdown-both-resets-on-data" {
        statement: "After shutdown(SHUT_RDWR), data from the peer is answered with RST and our own socket is reset too (ECONNRESET pending).",
        mechanism: "tcp_rcv_state_process(), FIN_WAIT2 with RCV_SHUTDOWN: tcp_reset() on our socket (err ECONNRESET) and a RST reply. RFC 1122 §4.2.2.13.",
    }
    /// ENOTCONN.
    ShutdownOnClosedConnection = "shutdown-on-closed-connection-enotconn" {
        statement: "shutdown() on a connection that is already closed (reset, or both FINs done) fails with ENOTCONN and sends nothing.",
        mechanism: "inet_shutdown(): case TCP_CLOSE: err = -ENOTCONN.",
    }
    /// Both FINs.
    BothFinsCloseTheConnection = "both-fins-close-the-connection" {
        statement: "When both sides have sent FIN, the connection is closed: the open socket is in CLOSE, reads return EOF, writes EPIPE.",
        mechanism: "tcp_fin() in FIN_WAIT2 -> tcp_time_wait() -> tcp_done(); the ACK in LAST_ACK -> tcp_done(). RFC 9293 §3.6.",
    }
    /// RSTs are never answered.
    RstEndsAClosedSocketSilently = "rst-ends-a-closed-socket-silently" {
        statement: "An RST that reaches a socket the application already closed destroys it silently; nothing answers an RST.",
        mechanism: "tcp_reset() on an orphan -> tcp_done() -> inet_csk_destroy_sock(); a timewait socket is killed in tcp_timewait_state_process(). RFC 9293 §3.10.7.1.",
    }
    /// Nothing to send.
    CloseAfterResetSendsNothing = "close-after-reset-sends-nothing" {
        statement: "Closing or aborting a socket that is already closed (reset, or both FINs done) sends nothing.",
        mechanism: "__tcp_close(): TCP_CLOSE -> adjudge_to_death without a segment; tcp_disconnect() sends RST only when tcp_need_reset(state).",
    }
    /// FIN already sent.
    FinIsSentOnce = "fin-is-sent-once" {
        statement: "After our own FIN, close() and shutdown(SHUT_WR) send nothing more; a closed socket then lingers in FIN_WAIT2 and resets any new data.",
        mechanism: "tcp_close_state() and tcp_shutdown() act only in ESTABLISHED and CLOSE_WAIT; __tcp_close() turns a FIN_WAIT2 orphan into a timewait socket (tcp_time_wait()).",
    }
    /// An API difference, not a kernel rule.
    TokioShutdownHidesEnotconn = "tokio-shutdown-hides-enotconn" {
        statement: "tokio's AsyncWriteExt::shutdown() returns Ok where shutdown(2) fails with ENOTCONN (the connection is already closed).",
        mechanism: "tokio::net::TcpStream's poll_shutdown() calls shutdown_std(), which maps io::ErrorKind::NotConnected to Ok(()); the kernel's ENOTCONN comes from inet_shutdown(), case TCP_CLOSE.",
    }
    /// Timing.
    SleepChangesNothing = "sleep-changes-nothing" {
        statement: "On a quiescent connection a pause changes nothing: no TCP timer that decides an outcome fires within the language's bound.",
        mechanism: "The shortest relevant timers are tcp_fin_timeout and TIME_WAIT (60 s); delayed ACKs change no outcome. The bound is scenario::bounds::MAX_SLEEP.",
    }
    /// Time on the link: a segment is a delay away.
    SegmentsArriveAfterTheDelay = "segments-arrive-after-the-delay" {
        statement: "On a link with a one-way delay, a segment reaches the peer's kernel one delay after it was sent (held segments: one delay after their release): until then the peer shows nothing of it.",
        mechanism: "Propagation delay, emulated by rstlab's link (crate::net::link): each segment is due at its send time plus the delay in force; due segments arrive in order of due time, then order sent. RFC 9293 §3.4 (sequence numbers order what arrives).",
    }
    /// The broken pipe across a link.
    WritesWithinARoundTripSucceed = "writes-within-a-round-trip-succeed" {
        statement: "After the peer closes, every write succeeds until the peer's RST has come back: on a link, all writes within about one round trip of the close succeed, and their bytes are lost.",
        mechanism: "tcp_sendmsg_locked() checks only the local state (ESTABLISHED or CLOSE_WAIT); the peer's FIN, and the RST its kernel answers the first data with (tcp_rcv_state_process(), LINUX_MIB_TCPABORTONDATA), each take a one-way delay to arrive. tokio#2234.",
    }
    /// The FIN still on its way.
    WriteWhileFinInFlightFindsEstablished = "write-while-fin-in-flight-finds-established" {
        statement: "A write while the peer's FIN is still on its way finds the connection ESTABLISHED: nothing local says the peer has closed.",
        mechanism: "tcp_fin() moves to CLOSE_WAIT only when the FIN arrives; until then tcp_sendmsg_locked() sees TCP_ESTABLISHED. RFC 9293 §3.6.",
    }
    /// The keep-alive race.
    CloseBeforeDataArrivesSendsFin = "close-timing-decides-fin-or-rst" {
        statement: "Whether a close sends FIN or RST depends on whether the peer's data had arrived: data still on its way is not unread, so the close sends FIN, and the data then draws an RST; the peer sees EOF, then EPIPE, instead of ECONNRESET.",
        mechanism: "__tcp_close() counts only bytes in sk_receive_queue (data_was_unread); data arriving later at the orphan in FIN_WAIT1/FIN_WAIT2 is answered by tcp_reset() and an RST (LINUX_MIB_TCPABORTONDATA). hyper#3553, golang/go#22158.",
    }
    /// A lost RST is not the end.
    LostRstIsAnsweredByANewRst = "lost-rst-is-answered-by-a-new-rst" {
        statement: "When an RST is lost, the next segment that reaches the dead connection draws a new RST: a lost RST costs one more write that succeeds.",
        mechanism: "RSTs are never retransmitted (RFC 9293 §3.5.2); a segment for which no socket exists is answered by tcp_v4_send_reset() with the sequence number it acknowledged.",
    }
    /// The send queue behind the congestion window.
    CwndHoldsBackData = "congestion-window-holds-back-data" {
        statement: "On a fresh connection at most 10 segments are in flight; bytes beyond the congestion window wait in the send queue until ACKs come back. From Linux 6.10 a FIN waits too; before, it passes a full window (final-fin-passes-full-congestion-window).",
        mechanism: "tcp_write_xmit() sends while tcp_cwnd_test() allows (TCP_INIT_CWND = 10, RFC 6928); tcp_ack() grows the window in slow start (tcp_slow_start(), RFC 5681 §3.1) and pushes more.",
    }
    /// Before 6.10, the FIN does not wait for the window.
    FinPassesFullCwnd = "final-fin-passes-full-congestion-window" {
        statement: "Before Linux 6.10, a close or shutdown whose FIN would wait for a full congestion window sends it at once, one segment past the window (alone, or on the last unsent segment); from 6.10 it waits for ACKs like data.",
        mechanism: "tcp_cwnd_test() let a one-segment skb carrying FIN through whatever the window (\"Don't be strict about the congestion window for the final FIN\"); commit 22555032c513 (Linux 6.10) removed the exception.",
    }
    /// Even an ACK draws an RST from a port with no socket.
    NoSocketAnswersEvenAnAckWithRst = "no-socket-answers-even-an-ack-with-rst" {
        statement: "A segment that reaches a port where no socket exists any more is answered with RST, even a bare ACK: on a link, the ACK of data that arrived after the sender aborted comes back as an RST.",
        mechanism: "tcp_v4_rcv(): no socket found -> tcp_v4_send_reset() for every segment without RST, seq = the segment's ack_seq. RFC 9293 §3.5.2 (reset generation, case 1).",
    }
    /// RST throws the send queue away.
    RstDiscardsUnsentData = "rst-discards-unsent-data" {
        statement: "An RST sent by close or abort throws away the bytes still waiting in the send queue: they never leave, although every write of them succeeded.",
        mechanism: "__tcp_close() / tcp_disconnect() send tcp_send_active_reset() at snd_nxt and tcp_write_queue_purge() drops the unsent skbs. Why web servers do a lingering close (RFC 7230 §6.6).",
    }
    /// RFC 5961.
    RstOutOfPlaceDrawsChallengeAck = "rst-out-of-place-draws-challenge-ack" {
        statement: "An RST whose sequence number is not exactly the next one expected (for example because data before it was lost) does not reset: it draws a challenge ACK, which the dead peer answers with an RST that does.",
        mechanism: "tcp_validate_incoming(): an RST resets only if seq == rcv_nxt (or rcv_nxt - 1 after a FIN, tcp_reset_check()); otherwise in the window tcp_send_challenge_ack(), outside it discarded. RFC 5961 §3.2.",
    }
    /// A hole in the byte stream.
    OutOfOrderDataWaits = "out-of-order-data-waits" {
        statement: "Data that arrives after a gap (an earlier segment was lost) waits in the out-of-order queue: a read does not see it, and a FIN behind the gap is not yet an EOF.",
        mechanism: "tcp_data_queue(): a segment past rcv_nxt goes to tcp_data_queue_ofo() and draws an immediate duplicate ACK; only tcp_ofo_queue() moves it to sk_receive_queue once the gap is filled.",
    }
    /// Loss.
    DropLosesSegments = "drop-loses-segments" {
        statement: "A segment lost on the link never arrives; within the model's bounds nothing is retransmitted (a real kernel retransmits after 200 ms at the earliest).",
        mechanism: "rstlab's link drops what is in flight or held; the sender's retransmission timer (tcp_retransmit_timer(), at least tcp_rto_min) fires later than any scenario the oracle accepts.",
    }
    /// A partition.
    CutLosesSegments = "cut-loses-segments" {
        statement: "While the link is cut (a partition, or a host that vanished) every segment is lost, both ways, including those already on their way; a write still succeeds, its bytes waiting in the send queue for a retransmission that, within the model's bounds, has not happened yet.",
        mechanism: "rstlab's link loses what is in flight or held at `link cut` and every packet the devices give it until `link restore`; the kernel knows nothing of it: tcp_sendmsg_locked() queues and sends the bytes, and only the retransmission timer (tcp_retransmit_timer(), at least tcp_rto_min, 200 ms) sends them again.",
    }
    /// The signal behind "broken pipe". The oracle never names it (the runner always sends with
    /// MSG_NOSIGNAL); its evidence is [`crate::sigpipe`]'s experiment in a child process.
    WriteEpipeRaisesSigpipe = "write-epipe-raises-sigpipe" {
        statement: "A write that fails with EPIPE also raises SIGPIPE, which kills a process that has not ignored it; Rust's std ignores SIGPIPE and sends with MSG_NOSIGNAL, so a Rust program only sees the error. A write that fails with ECONNRESET raises nothing.",
        mechanism: "tcp_sendmsg_locked() -> sk_stream_error(): err == -EPIPE and no MSG_NOSIGNAL -> send_sig(SIGPIPE); ECONNRESET from sock_error() raises nothing. Rust's runtime init (std's unix reset_sigpipe()) sets SIGPIPE to SIG_IGN before main unless built with -Zon-broken-pipe; std's TcpStream::write calls send(fd, buf, len, MSG_NOSIGNAL). POSIX write(2), signal(7).",
    }
    /// Readiness, the baseline: the receive queue decides IN.
    PollInWhileBytesQueued = "poll-in-while-bytes-queued" {
        statement: "While the receiving direction is open, poll reports IN exactly while bytes wait in the receive queue, and OUT: IN goes away once reads have taken every byte.",
        mechanism: "tcp_poll(): tcp_stream_is_readable() -> tcp_epollin_ready(): rcv_nxt - copied_seq >= SO_RCVLOWAT (1); bytes still out of order do not count. EPOLLOUT from __sk_stream_is_writeable() (room in the send buffer).",
    }
    /// OUT is no promise.
    PollOutSaysNothingOfThePeer = "poll-out-says-nothing-of-the-peer" {
        statement: "poll reports OUT on every connected socket, even where a write fails: after our own shutdown(SHUT_WR), after an RST, after both FINs. OUT says only that a write would not block, never that it succeeds.",
        mechanism: "tcp_poll(): with SEND_SHUTDOWN, EPOLLOUT unconditionally; without it, EPOLLOUT when __sk_stream_is_writeable() finds room in the send buffer. Nothing in tcp_poll() looks at whether tcp_sendmsg_locked() would accept data.",
    }
    /// The peer's FIN, as poll shows it.
    FinShowsAsRdhup = "fin-shows-as-rdhup" {
        statement: "After the peer's FIN (or our own shutdown(SHUT_RD)) poll reports IN|RDHUP with OUT, and no HUP: the socket reads EOF but is still writable.",
        mechanism: "tcp_fin() (and inet_shutdown()) set RCV_SHUTDOWN; tcp_poll(): RCV_SHUTDOWN -> EPOLLIN | EPOLLRDNORM | EPOLLRDHUP; EPOLLHUP needs sk_shutdown == SHUTDOWN_MASK or TCP_CLOSE (\"poll() doesn't have a notion of HUP in just one direction\", net/ipv4/tcp.c).",
    }
    /// Both directions over.
    ClosedConnectionShowsHup = "closed-connection-shows-hup" {
        statement: "poll reports HUP once both directions are shut: after an RST, after both FINs, after our own shutdown(SHUT_RDWR); always with IN|RDHUP, and still OUT.",
        mechanism: "tcp_poll(): sk_shutdown == SHUTDOWN_MASK || state == TCP_CLOSE -> EPOLLHUP; tcp_done() sets sk_shutdown = SHUTDOWN_MASK and TCP_CLOSE; inet_shutdown(SHUT_RDWR) sets both flags.",
    }
    /// ERR is the pending error.
    PendingErrorShowsAsErr = "pending-error-shows-as-err" {
        statement: "poll reports ERR while an error is pending and stops as soon as a call has reported it (a read, a write or SO_ERROR): ERR is sk_err, not a memory of the RST.",
        mechanism: "tcp_poll(): sk_err (or a non-empty error queue) -> EPOLLERR; sock_error() clears sk_err with xchg() when a call reports it.",
    }
    /// SO_ERROR consumes.
    SoErrorTakesThePendingError = "so-error-takes-the-pending-error" {
        statement: "getsockopt(SO_ERROR) returns the pending error and clears it, like a failing read or write: afterwards reads return EOF and writes fail with EPIPE, the error is never reported again; with nothing pending it returns 0.",
        mechanism: "sk_getsockopt(SO_ERROR): -sock_error(sk), which is xchg(&sk->sk_err, 0), then sk_err_soft (set only by ICMP errors and retransmission timeouts, never within the language's bounds).",
    }
    /// The link: nothing local knows.
    PollCannotSeeAFinInFlight = "poll-cannot-see-a-fin-in-flight" {
        statement: "While the peer's FIN is still on its way, poll shows nothing of it: no RDHUP, no HUP. \"Did the peer close?\" can only be answered about what has arrived; a check before a write races with the FIN, and the write can fail all the same.",
        mechanism: "tcp_poll() reads only local state: RCV_SHUTDOWN is set by tcp_fin() when the FIN arrives, one delay after the peer's close. golang/go#15735, tokio#2228.",
    }
    /// tokio caches readiness.
    TokioReadableUntilWouldBlock = "tokio-readable-until-would-block" {
        statement: "tokio's TcpStream::ready() keeps reporting readable after reads have taken every byte, until a read returns WouldBlock: its readiness is a cache of epoll's edges, where poll(2) asks the socket.",
        mechanism: "mio registers the socket with EPOLLET; tokio's ScheduledIo ORs each event into its readiness, and only Registration::try_io() clears READABLE, when the call returns WouldBlock (clear_readiness()). A read that returns bytes clears nothing.",
    }
    /// tokio never forgets an error.
    TokioErrorReadinessStays = "tokio-error-readiness-stays" {
        statement: "tokio's TcpStream::ready(Interest::ERROR) keeps reporting an error after a read, a write or take_error() has reported and cleared it: no call clears ERROR from tokio's cached readiness.",
        mechanism: "tokio's try_read()/try_write() clear only the readiness of their own interest (READABLE or WRITABLE; ScheduledIo::clear_readiness()); Ready::ERROR, set from EPOLLERR by Ready::from_mio(), stays until the stream is dropped. SO_ERROR (take_error()) is getsockopt and touches no readiness.",
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Rule {
    /// A rule by its id, as [`Rule::id`] gives it.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rule, D::Error> {
        let id = String::deserialize(deserializer)?;
        Rule::from_id(&id)
            .ok_or_else(|| serde::de::Error::custom(format!("no rule has the id {id}")))
    }
}

impl Rule {
    /// The canonical scenario, parsed once for the whole process: the book, the surveys and
    /// the simulators all run this one value. The files are compiled in and a test parses every
    /// one (`every_canonical_scenario_parses_and_expects_something`), so a file that does not
    /// parse is a bug of this build, not an input error.
    ///
    /// ```
    /// use rstlab::Rule;
    /// let seed = Rule::ClosedSocketAnswersDataWithRst.scenario();
    /// assert_eq!(seed.steps().len(), 5);
    /// assert!(std::ptr::eq(seed, Rule::ClosedSocketAnswersDataWithRst.scenario()));
    /// ```
    pub fn scenario(self) -> &'static Scenario {
        static PARSED: OnceLock<Vec<Scenario>> = OnceLock::new();
        let all = PARSED.get_or_init(|| {
            Rule::ALL
                .iter()
                .map(|rule| {
                    Scenario::parse(rule.canonical()).unwrap_or_else(|e| {
                        panic!("scenarios/{}.scenario does not parse: {e}", rule.id())
                    })
                })
                .collect()
        });
        let index = Rule::ALL
            .iter()
            .position(|&r| r == self)
            .expect("Rule::ALL holds every rule");
        &all[index]
    }

    /// Looks a rule up by its id.
    ///
    /// ```
    /// use rstlab::Rule;
    /// assert_eq!(Rule::from_id("rst-after-fin-leaves-epipe"), Some(Rule::RstAfterFinLeavesEpipe));
    /// assert_eq!(Rule::from_id("no-such-rule"), None);
    /// ```
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn rule_ids_are_unique() {
        let mut ids: Vec<_> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
    }

    #[test]
    fn every_canonical_scenario_parses_and_expects_something() {
        for rule in Rule::ALL {
            let s = Scenario::parse(rule.canonical())
                .unwrap_or_else(|e| panic!("scenarios/{}.scenario: {e}", rule.id()));
            assert!(
                s.steps().iter().any(|step| step.expect.is_some()),
                "scenarios/{}.scenario has no `=>` expectation",
                rule.id()
            );
        }
    }
}
