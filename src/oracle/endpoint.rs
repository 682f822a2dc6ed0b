//! One end of the connection as the Linux kernel keeps it: what a call does to it, and what an
//! arriving segment does to it. Pure: segments go out through [`Effects`], time is passed in.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Effects, Wired};
use crate::oracle::kernel::{Change, Kernel};
use crate::outcome::{Errno, Outcome, PollEvents};
use crate::reasons::{Expected, RstReason};
use crate::rules::Rule;
use crate::scenario::{End, How};
use crate::tcp::TcpState;

/// The initial congestion window, in segments (`TCP_INIT_CWND`).
pub(super) const INIT_CWND: usize = 10;
/// How far past `rcv_nxt` a segment may start and still be in the receive window. Within the
/// language's bounds (64 KiB per direction) every segment the peer can send is inside it.
const WINDOW: u32 = 1 << 20;

/// The longest a delayed ACK of a FIN waits on loopback: `TCP_DELACK_MIN` (40 ms), a tick, and
/// the timer's slack, with room to spare.
const DELAYED_ACK_AT_MOST: Duration = Duration::from_millis(80);

/// Who holds a kernel socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Life {
    /// The application holds the fd.
    Open,
    /// The application closed it; the kernel keeps it to finish the connection.
    Orphan,
    /// The kernel destroyed it: segments find no socket.
    Gone,
}

/// The mini-socket that answers for a connection after its full socket is gone
/// (`inet_timewait_sock`): `tcp_time_wait()` makes one for an orphan whose FIN is acknowledged
/// (substate FIN_WAIT2) and for any socket that has seen both FINs (TIME_WAIT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stub {
    /// Our FIN is acknowledged; the peer's has not come.
    FinWait2,
    /// Both FINs done.
    TimeWait,
}

/// A segment this end sent and that is not acknowledged yet.
#[derive(Clone, Copy, Debug)]
pub(super) struct Unacked {
    pub(super) end: u32,
    pub(super) sent: Duration,
}

/// One end of the connection; sequence numbers are relative to its SYN (the first byte is 1).
#[derive(Clone, Debug)]
pub(super) struct Endpoint {
    pub(super) me: End,
    /// The kernel whose behaviour this end follows.
    kernel: Kernel,
    pub(super) life: Life,
    pub(super) state: TcpState,
    /// A mini-socket answering for the connection in place of the full socket.
    pub(super) stub: Option<Stub>,
    /// Payload bytes per segment.
    mss: usize,
    pub(super) snd_una: u32,
    pub(super) snd_nxt: u32,
    /// Bytes written but not sent: the congestion window is full.
    pub(super) unsent: usize,
    /// A FIN waits behind `unsent` bytes.
    pub(super) fin_pending: bool,
    /// Our FIN has been sent: its sequence number.
    pub(super) fin_seq: Option<u32>,
    /// The rule behind our FIN, for when it leaves after waiting for the window.
    fin_rule: Rule,
    pub(super) unacked: VecDeque<Unacked>,
    pub(super) cwnd: usize,
    /// `tcp_cwnd_validate()`'s memory: whether the last window was cwnd-limited, the most
    /// packets out in it, and where it ends.
    is_cwnd_limited: bool,
    max_packets_out: usize,
    cwnd_usage_seq: u32,
    pub(super) rcv_nxt: u32,
    /// Bytes in `sk_receive_queue` not yet read.
    pub(super) unread: usize,
    /// Out-of-order segments: (seq, len, fin).
    ofo: Vec<(u32, usize, bool)>,
    /// `SOCK_DONE`: the peer's FIN has arrived.
    pub(super) fin_received: bool,
    /// `RCV_SHUTDOWN`.
    pub(super) rcv_shutdown: bool,
    /// `SEND_SHUTDOWN`.
    pub(super) snd_shutdown: bool,
    /// `sk_err`: the pending error.
    pub(super) error: Option<Errno>,
    /// An RST this end sent was lost on the link.
    pub(super) rst_lost: bool,
    /// The ACK of a FIN this end receives waits for the delayed-ACK timer or for this end's
    /// next segment: on loopback, whose route has no `quickack` (`tcp_fin()` enters pingpong
    /// mode). The link's routes have it.
    delays_fin_ack: bool,
    /// Our FIN was acknowledged by a late ACK ([`Wired::late`]): in the kernel this socket (or
    /// the full socket behind its FIN_WAIT2 mini-socket) is still in FIN_WAIT1 until the peer's
    /// next segment, or the timer, brings that ACK; and for how much longer the timer may not
    /// have fired.
    fin_acked_late: Option<Duration>,
}

impl Endpoint {
    pub(super) fn established(
        me: End,
        mss: usize,
        kernel: Kernel,
        delays_fin_ack: bool,
    ) -> Endpoint {
        Endpoint {
            me,
            kernel,
            life: Life::Open,
            state: TcpState::Established,
            stub: None,
            mss,
            snd_una: 1,
            snd_nxt: 1,
            unsent: 0,
            fin_pending: false,
            fin_seq: None,
            fin_rule: Rule::CloseSendsFin,
            unacked: VecDeque::new(),
            cwnd: INIT_CWND,
            is_cwnd_limited: false,
            max_packets_out: 0,
            cwnd_usage_seq: 1,
            rcv_nxt: 1,
            unread: 0,
            ofo: Vec::new(),
            fin_received: false,
            rcv_shutdown: false,
            snd_shutdown: false,
            error: None,
            rst_lost: false,
            delays_fin_ack,
            fin_acked_late: None,
        }
    }

    /// `sleep D`: a delayed ACK of a FIN (`TCP_DELACK_MIN`, 40 ms, plus a tick and the timer's
    /// slack: 80 ms at most) has left by the end of it; before, it may have or not.
    pub(super) fn time_passes(&mut self, d: Duration) {
        if let Some(left) = self.fin_acked_late {
            self.fin_acked_late = left.checked_sub(d).filter(|l| !l.is_zero());
        }
    }

    /// When the oldest unacknowledged segment was sent.
    pub(super) fn oldest_unacked(&self) -> Option<Duration> {
        self.unacked.front().map(|u| u.sent)
    }

    /// What `tcp_done()` leaves: CLOSE, both directions shut, the write queue gone; an orphan is
    /// destroyed.
    pub(super) fn done(&mut self) {
        self.stub = None;
        self.state = TcpState::Close;
        self.rcv_shutdown = true;
        self.snd_shutdown = true;
        self.unsent = 0;
        self.fin_pending = false;
        self.unacked.clear();
        self.ofo.clear();
        if self.life == Life::Orphan {
            self.life = Life::Gone;
        }
    }

    pub(super) fn segment(&self, seq: u32, len: usize) -> Wired {
        Wired {
            from: self.me,
            seq,
            ack: Some(self.rcv_nxt),
            len,
            fin: false,
            rst: None,
            late: false,
        }
    }

    fn send_ack(&self, fx: &mut Effects) {
        fx.emit(self.segment(self.snd_nxt, 0), None);
    }

    /// `tcp_write_xmit()`: sends what the congestion window allows (one packet per segment:
    /// the link's devices take one segment per packet), the FIN riding on the last data segment
    /// when it waits behind data. From 6.10 a FIN waits for the window like data
    /// (`tcp_cwnd_test()`); before, the segment that carries it goes past a full window
    /// ([`Change::FinObeysCwnd`]).
    fn transmit(&mut self, now: Duration, rule: Rule, fx: &mut Effects) {
        let mut sent = 0;
        loop {
            let window_open = self.unacked.len() < self.cwnd;
            let final_fin = self.fin_pending && self.unsent <= self.mss;
            let fin_passes = final_fin && !self.kernel.has(Change::FinObeysCwnd);
            if !(self.unsent > 0 || self.fin_pending) || !(window_open || fin_passes) {
                break;
            }
            if !window_open {
                fx.rule(Rule::FinPassesFullCwnd);
            }
            let len = self.unsent.min(self.mss);
            let mut seg = self.segment(self.snd_nxt, len);
            self.unsent -= len;
            self.snd_nxt += len as u32;
            if self.unsent == 0 && self.fin_pending {
                seg.fin = true;
                self.fin_pending = false;
                self.fin_seq = Some(self.snd_nxt);
                self.snd_nxt += 1;
            }
            self.unacked.push_back(Unacked {
                end: self.snd_nxt,
                sent: now,
            });
            let why = if len == 0 { self.fin_rule } else { rule };
            fx.emit(seg, Some(why));
            sent += 1;
        }
        if self.unsent > 0 || self.fin_pending {
            fx.rule(Rule::CwndHoldsBackData);
        }
        let limited = self.unacked.len() >= self.cwnd;
        if sent > 0 || limited {
            // tcp_cwnd_validate().
            if !before(self.snd_una, self.cwnd_usage_seq)
                || limited
                || (!self.is_cwnd_limited && self.unacked.len() > self.max_packets_out)
            {
                self.is_cwnd_limited = limited;
                self.max_packets_out = self.unacked.len();
                self.cwnd_usage_seq = self.snd_nxt;
            }
        }
    }

    /// `write(2)`: `tcp_sendmsg_locked()`.
    ///
    /// Data is accepted only in ESTABLISHED and CLOSE_WAIT. In any other state the write waits
    /// for a connection in `sk_stream_wait_connect()`, which returns the pending error if there
    /// is one (consuming it) and EPIPE otherwise. In an accepting state, `SEND_SHUTDOWN` or a
    /// pending error fail with EPIPE through `sk_stream_error()`, which also prefers (and
    /// consumes) a pending error.
    pub(super) fn write(&mut self, n: usize, now: Duration, fx: &mut Effects) -> Outcome {
        let accepting = matches!(self.state, TcpState::Established | TcpState::CloseWait);
        if !accepting || self.snd_shutdown || self.error.is_some() {
            if let Some(error) = self.error.take() {
                fx.rule(Rule::PendingErrorReportedOnce);
                return Outcome::Err(error);
            }
            fx.rule(if self.state == TcpState::Close {
                Rule::WriteOnClosedConnectionFails
            } else {
                Rule::WriteAfterShutdownWriteFails
            });
            return Outcome::Err(Errno::EPIPE);
        }
        let rule = if self.state == TcpState::CloseWait {
            Rule::WriteAfterPeerCloseSucceeds
        } else {
            Rule::WriteQueuesData
        };
        self.unsent += n;
        self.transmit(now, rule, fx);
        Outcome::Bytes(n)
    }

    /// `read(2)` without waiting: `tcp_recvmsg_locked()`, whose order of tests is the whole
    /// story: queued bytes first, then `SOCK_DONE` (EOF), then `sk_err` (consumed), then
    /// `RCV_SHUTDOWN` (EOF), then CLOSE (ENOTCONN), then EAGAIN.
    pub(super) fn read(&mut self, n: usize, fx: &mut Effects) -> Outcome {
        if self.unread > 0 {
            let k = n.min(self.unread);
            self.unread -= k;
            fx.rule(Rule::ReadTakesQueued);
            if self.error.is_some() || self.state == TcpState::Close {
                fx.rule(Rule::QueuedDataSurvivesRst);
            }
            return Outcome::Bytes(k);
        }
        if self.fin_received {
            fx.rule(Rule::FinReadsAsEof);
            if self.error.is_some() {
                fx.rule(Rule::EofBeforePendingError);
            }
            return Outcome::Eof;
        }
        if let Some(error) = self.error.take() {
            fx.rule(Rule::PendingErrorReportedOnce);
            return Outcome::Err(error);
        }
        if self.rcv_shutdown {
            fx.rule(if self.state == TcpState::Close {
                Rule::ReadAfterResetReturnsEof
            } else {
                Rule::ShutdownReadStillReceives
            });
            return Outcome::Eof;
        }
        if self.state == TcpState::Close {
            fx.rule(Rule::ReadAfterResetReturnsEof);
            return Outcome::Err(Errno::ENOTCONN);
        }
        fx.rule(Rule::ReadWouldBlock);
        Outcome::Err(Errno::EAGAIN)
    }

    /// `tcp_poll()`: the events poll(2) reports for this socket (asked for `POLLIN | POLLPRI |
    /// POLLOUT | POLLRDHUP`; `POLLERR` and `POLLHUP` always come), read from its state alone:
    /// - HUP when both directions are shut (`sk_shutdown == SHUTDOWN_MASK`) or in CLOSE;
    /// - IN and RDHUP when the receiving direction is shut (`RCV_SHUTDOWN`);
    /// - IN when bytes wait in the receive queue (`tcp_stream_is_readable()`);
    /// - OUT always: the connection is never in SYN_SENT or SYN_RECV, `SEND_SHUTDOWN` gives OUT
    ///   unconditionally, and within the language's bounds the send buffer always has room;
    /// - PRI never (no urgent data);
    /// - ERR when an error is pending (`sk_err`).
    pub(super) fn poll(&self) -> PollEvents {
        let mut events = PollEvents::OUT;
        if (self.rcv_shutdown && self.snd_shutdown) || self.state == TcpState::Close {
            events |= PollEvents::HUP;
        }
        if self.rcv_shutdown {
            events |= PollEvents::IN | PollEvents::RDHUP;
        }
        if self.unread > 0 {
            events |= PollEvents::IN;
        }
        if self.error.is_some() {
            events |= PollEvents::ERR;
        }
        events
    }

    /// The rules behind [`Endpoint::poll`]'s answer: one per part of the mask that says
    /// something.
    pub(super) fn poll_rules(&self, fx: &mut Effects) {
        let events = self.poll();
        if !self.rcv_shutdown {
            fx.rule(Rule::PollInWhileBytesQueued);
        }
        if events.contains(PollEvents::RDHUP) && !events.contains(PollEvents::HUP) {
            fx.rule(Rule::FinShowsAsRdhup);
        }
        if events.contains(PollEvents::HUP) {
            fx.rule(Rule::ClosedConnectionShowsHup);
        }
        if events.contains(PollEvents::ERR) {
            fx.rule(Rule::PendingErrorShowsAsErr);
        }
        let accepting = matches!(self.state, TcpState::Established | TcpState::CloseWait);
        if !accepting || self.snd_shutdown || self.error.is_some() {
            fx.rule(Rule::PollOutSaysNothingOfThePeer);
        }
    }

    /// `getsockopt(SO_ERROR)`: `sock_error()`, which returns the pending error and clears it.
    pub(super) fn take_error(&mut self, fx: &mut Effects) -> Outcome {
        fx.rule(Rule::SoErrorTakesThePendingError);
        match self.error.take() {
            Some(error) => {
                fx.rule(Rule::PendingErrorReportedOnce);
                Outcome::Err(error)
            }
            None => Outcome::Ok,
        }
    }

    /// `tcp_close_state()` and `tcp_send_fin()`: moves to the state after our FIN and sends it,
    /// or queues it behind unsent data; false when a FIN was already sent.
    fn send_fin(&mut self, now: Duration, rule: Rule, fx: &mut Effects) -> bool {
        match self.state {
            TcpState::Established => self.state = TcpState::FinWait1,
            TcpState::CloseWait => self.state = TcpState::LastAck,
            _ => return false,
        }
        self.fin_pending = true;
        self.fin_rule = rule;
        fx.rule(rule);
        self.transmit(now, Rule::WriteQueuesData, fx);
        true
    }

    /// `shutdown(2)`: `inet_shutdown()` and `tcp_shutdown()`. The flags are set even on a closed
    /// connection, which answers ENOTCONN; only the write direction sends anything (FIN).
    pub(super) fn shutdown(&mut self, how: How, now: Duration, fx: &mut Effects) -> Outcome {
        self.rcv_shutdown |= how.shuts_read();
        self.snd_shutdown |= how.shuts_write();
        if self.state == TcpState::Close {
            fx.rule(Rule::ShutdownOnClosedConnection);
            return Outcome::Err(Errno::ENOTCONN);
        }
        if how == How::Read {
            fx.rule(Rule::ShutdownReadStillReceives);
        }
        if how.shuts_write() {
            let rule = if how == How::Both {
                Rule::ShutdownBothResetsOnData
            } else {
                Rule::HalfClosePeerKeepsWriting
            };
            if !self.send_fin(now, rule, fx) {
                fx.rule(Rule::FinIsSentOnce);
            }
        }
        Outcome::Ok
    }

    /// The host restarts: the socket is destroyed in repair mode (`tcp_disconnect()` sends
    /// nothing for a socket under repair) and whatever it held is gone with it. What the peer
    /// sends from now on meets no socket here.
    pub(super) fn forget(&mut self, fx: &mut Effects) -> Outcome {
        self.unread = 0;
        self.done();
        self.life = Life::Gone;
        fx.rule(Rule::RebootForgetsTheConnection);
        Outcome::Ok
    }

    /// `close(2)`, with SO_LINGER {on, 0} when `abort`: `__tcp_close()`. Unread data is checked
    /// first, then zero linger, then the orderly FIN. `peer_sent` is the peer's `snd_nxt`: data
    /// it sent that has not arrived yet is not unread, so it cannot turn the FIN into an RST.
    pub(super) fn close(
        &mut self,
        abort: bool,
        peer_sent: u32,
        now: Duration,
        fx: &mut Effects,
    ) -> Outcome {
        self.life = Life::Orphan;
        self.rcv_shutdown = true;
        self.snd_shutdown = true;
        let unread = std::mem::take(&mut self.unread);
        if self.state == TcpState::Close {
            self.life = Life::Gone;
            fx.rule(Rule::CloseAfterResetSendsNothing);
            return Outcome::Ok;
        }
        // tcp_need_reset(), and tcp_disconnect()'s own addition: in CLOSING or LAST_ACK with
        // something not yet sent (snd_nxt != write_seq), an abort resets too.
        let synchronized = matches!(
            self.state,
            TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::FinWait2
        ) || (matches!(self.state, TcpState::Closing | TcpState::LastAck)
            && (self.unsent > 0 || self.fin_pending));
        if unread > 0 || (abort && synchronized) {
            // __tcp_close() checks unread data first; an abort goes through tcp_disconnect(),
            // where tcp_need_reset() covers the synchronized states and the rest is
            // CLOSING or LAST_ACK with something unsent.
            let (rule, reason) = if unread > 0 {
                (
                    Rule::CloseWithUnreadDataSendsRst,
                    RstReason::TcpAbortOnClose,
                )
            } else if matches!(self.state, TcpState::Closing | TcpState::LastAck) {
                (Rule::AbortSendsRst, RstReason::TcpDisconnectWithData)
            } else {
                (Rule::AbortSendsRst, RstReason::TcpState)
            };
            if self.unsent > 0 {
                fx.rule(Rule::RstDiscardsUnsentData);
            }
            // tcp_send_active_reset(): seq = snd_nxt, with the ACK of what arrived.
            let mut seg = self.segment(self.snd_nxt, 0);
            // The peer's delayed ACK of our FIN may cross it ([`Expected::crossed`]).
            seg.rst = Some(Expected {
                crossed: self.fin_acked_late.is_some(),
                ..reason.into()
            });
            self.done();
            self.life = Life::Gone;
            fx.emit(seg, Some(rule));
        } else if abort {
            self.done();
            self.life = Life::Gone;
            fx.rule(Rule::CloseAfterResetSendsNothing);
        } else if self.state == TcpState::FinWait2 {
            // Our FIN is already acknowledged: a FIN_WAIT2 mini-socket takes over at once.
            self.fin_wait2_stub();
            fx.rule(Rule::FinIsSentOnce);
        } else if self.send_fin(now, Rule::CloseSendsFin, fx) {
            if peer_sent != self.rcv_nxt && !self.fin_received {
                fx.rule(Rule::CloseBeforeDataArrivesSendsFin);
            }
        } else {
            fx.rule(Rule::FinIsSentOnce);
        }
        Outcome::Ok
    }

    /// What this end's kernel does with a segment from the peer: `tcp_v4_rcv()` and on.
    /// `delay_or_hold` says whether the link's time can separate events (for the model's
    /// bounds).
    pub(super) fn receive(&mut self, seg: Wired, now: Duration, fx: &mut Effects) {
        // Any segment from the peer carries the ACK a late one stands for; a late ACK itself
        // starts the wait.
        let late_before = std::mem::replace(
            &mut self.fin_acked_late,
            seg.late.then_some(DELAYED_ACK_AT_MOST),
        );
        if let Some(stub) = self.stub {
            let reason = data_after_close(late_before.is_some(), false);
            self.stub_receive(stub, seg, reason, fx);
            return;
        }
        if self.life == Life::Gone || self.state == TcpState::Close {
            // No socket for these addresses: tcp_v4_send_reset() answers all but an RST, with
            // the sequence number the segment acknowledged.
            if seg.rst.is_none() {
                let rule = if self.rst_lost {
                    Rule::LostRstIsAnsweredByANewRst
                } else if seg.len > 0 || seg.fin {
                    Rule::ClosedSocketAnswersDataWithRst
                } else {
                    Rule::NoSocketAnswersEvenAnAckWithRst
                };
                // The server still listens on the connection's port: its listening socket
                // meets the segment and answers its ACK (tcp_rcv_state_process(), LISTEN).
                // The client's port has no socket at all.
                let reason = match self.me {
                    End::Server => RstReason::TcpFlags,
                    End::Client => RstReason::NoSocket,
                };
                fx.emit(reset_for(self.me, &seg, reason), Some(rule));
            }
            return;
        }
        let end = seg.seq + seg.len as u32 + u32::from(seg.fin);
        // tcp_sequence(): the segment must overlap the window.
        let acceptable = (seg.len == 0 && !seg.fin && seg.seq == self.rcv_nxt)
            || (!before(end, self.rcv_nxt) && !after(seg.seq, self.rcv_nxt + WINDOW))
            || (seg.rst.is_some() && seg.seq == self.rcv_nxt);
        if seg.rst.is_some() {
            // tcp_validate_incoming(), RFC 5961 §3.2: an RST resets only at exactly rcv_nxt
            // (or rcv_nxt - 1 after the peer's FIN); elsewhere in the window it draws a
            // challenge ACK, outside it is dropped.
            let after_fin = seg.seq.wrapping_add(1) == self.rcv_nxt
                && matches!(
                    self.state,
                    TcpState::CloseWait | TcpState::LastAck | TcpState::Closing
                );
            if seg.seq == self.rcv_nxt || after_fin {
                self.reset(fx);
            } else if acceptable {
                fx.rule(Rule::RstOutOfPlaceDrawsChallengeAck);
                self.send_ack(fx);
            } else {
                fx.rule(Rule::RstOutOfPlaceDrawsChallengeAck);
            }
            return;
        }
        if !acceptable {
            // Old or far-out data: a duplicate ACK (tcp_send_dupack()).
            self.send_ack(fx);
            return;
        }
        if let Some(ack) = seg.ack {
            // tcp_rcv_state_process() (every state but ESTABLISHED): before 6.9, an ACK older
            // than snd_una (tcp_ack() returns 0) makes the whole segment unacceptable: a
            // challenge ACK, and its data and FIN are dropped ([`Change::AcceptsOldAckWhileClosing`]).
            // When the segment carried data or a FIN, the challenge ACK reaches its sender as a
            // duplicate ACK, where the model stops (loss recovery): no rule of its own.
            let closing = matches!(
                self.state,
                TcpState::FinWait1
                    | TcpState::FinWait2
                    | TcpState::Closing
                    | TcpState::LastAck
                    | TcpState::CloseWait
            );
            if closing
                && before(ack, self.snd_una)
                && !self.kernel.has(Change::AcceptsOldAckWhileClosing)
            {
                self.send_ack(fx);
                return;
            }
            self.on_ack(ack, seg.len == 0 && !seg.fin, seg.fin, fx);
        }
        if let Some(stub) = self.stub {
            // The ACK ended the orphan: the mini-socket takes the rest of the segment (it looks
            // at the acknowledgement number only to answer with an RST). In the kernel the
            // full socket still handles this segment (tcp_rcv_state_process(), FIN_WAIT1: new
            // data after close() is TCP_ABORT_ON_DATA); the outcome is the same.
            if seg.len > 0 || seg.fin {
                self.stub_receive(stub, seg, data_after_close(false, true), fx);
            }
            return;
        }
        if self.life == Life::Gone || self.state == TcpState::Close {
            return;
        }
        // "New data" as tcp_rcv_state_process() counts it: anything that takes sequence space,
        // ending past rcv_nxt before its FIN (a FIN after a gap counts too).
        let new_data = end != seg.seq && after(end - u32::from(seg.fin), self.rcv_nxt);
        if new_data
            && self.rcv_shutdown
            && matches!(self.state, TcpState::FinWait1 | TcpState::FinWait2)
        {
            // tcp_rcv_state_process(): data after our half-duplex close: tcp_reset() here,
            // and the RST reply (LINUX_MIB_TCPABORTONDATA).
            let rule = if self.life == Life::Open {
                self.error = Some(Errno::ECONNRESET);
                Rule::ShutdownBothResetsOnData
            } else if self.rst_lost {
                Rule::LostRstIsAnsweredByANewRst
            } else {
                Rule::ClosedSocketAnswersDataWithRst
            };
            self.done();
            fx.emit(
                reset_for(self.me, &seg, RstReason::TcpAbortOnData),
                Some(rule),
            );
            return;
        }
        if seg.len == 0 && !seg.fin {
            self.push_pending(now, fx);
            return;
        }
        let established = self.state == TcpState::Established;
        // Whether tcp_fin() already sent the ACK (a FIN crossing ours): its tcp_send_ack()
        // clears the scheduled ACK, so tcp_ack_snd_check() sends no second one.
        let mut acked = false;
        if matches!(
            self.state,
            TcpState::CloseWait | TcpState::Closing | TcpState::LastAck | TcpState::TimeWait
        ) {
            // The peer's FIN came first: nothing after it is queued.
        } else if seg.seq == self.rcv_nxt {
            // tcp_data_queue().
            acked |= self.accept_in_order(seg.len, seg.fin, fx);
            let mut progress = true;
            while progress {
                progress = false;
                if let Some(i) = self.ofo.iter().position(|&(s, _, _)| s == self.rcv_nxt) {
                    let (_, len, fin) = self.ofo.remove(i);
                    acked |= self.accept_in_order(len, fin, fx);
                    progress = true;
                }
            }
        } else if after(seg.seq, self.rcv_nxt) {
            fx.rule(Rule::OutOfOrderDataWaits);
            if !self.ofo.iter().any(|&(s, _, _)| s == seg.seq) {
                self.ofo.push((seg.seq, seg.len, seg.fin));
            }
        }
        // tcp_data_snd_check(), then tcp_ack_snd_check(): what the ACK let out carries the
        // acknowledgement; otherwise, quick ACK (the route's `quickack`): every data segment or
        // FIN is acknowledged at once, by the TIME_WAIT stub when the FIN ended the socket.
        let sent = self.push_pending(now, fx);
        if !sent && !acked && (self.life != Life::Gone || self.stub.is_some()) {
            let mut ack = self.segment(self.snd_nxt, 0);
            ack.late = self.delays_fin_ack && established && self.state == TcpState::CloseWait;
            fx.emit(ack, None);
        }
    }

    /// Sends what waits behind the congestion window, if the socket can still send; whether
    /// anything left.
    fn push_pending(&mut self, now: Duration, fx: &mut Effects) -> bool {
        let alive = self.life != Life::Gone && self.state != TcpState::Close;
        if alive && (self.unsent > 0 || self.fin_pending) {
            let before = self.snd_nxt;
            self.transmit(now, Rule::WriteQueuesData, fx);
            return self.snd_nxt != before;
        }
        false
    }

    /// Queues in-order bytes and processes an in-order FIN; whether that FIN was ACKed on its
    /// own segment already ([`Endpoint::fin`]).
    fn accept_in_order(&mut self, len: usize, fin: bool, fx: &mut Effects) -> bool {
        if len > 0 {
            self.unread += len;
            self.rcv_nxt += len as u32;
            if self.rcv_shutdown && !self.fin_received {
                fx.rule(Rule::ShutdownReadStillReceives);
            } else if matches!(self.state, TcpState::FinWait1 | TcpState::FinWait2) {
                fx.rule(Rule::HalfClosePeerKeepsWriting);
            }
        }
        if fin {
            self.rcv_nxt += 1;
            return self.fin(fx);
        }
        false
    }

    /// `tcp_fin()`: the peer's FIN, in order; whether it sent an ACK of its own.
    fn fin(&mut self, fx: &mut Effects) -> bool {
        match self.state {
            TcpState::Established => {
                self.state = TcpState::CloseWait;
                self.fin_received = true;
                self.rcv_shutdown = true;
            }
            TcpState::FinWait1 => {
                // Both FINs crossed: tcp_fin() ACKs at once, on its own segment, and waits in
                // CLOSING until ours is acknowledged.
                self.send_ack(fx);
                self.state = TcpState::Closing;
                self.fin_received = true;
                self.rcv_shutdown = true;
                return true;
            }
            TcpState::FinWait2 => {
                self.fin_received = true;
                self.time_wait(fx);
            }
            _ => {}
        }
        false
    }

    /// `tcp_time_wait()`: a TIME_WAIT stub takes over (an orphan is replaced by it); an open
    /// socket is left in CLOSE.
    fn time_wait(&mut self, fx: &mut Effects) {
        self.done();
        self.stub = Some(Stub::TimeWait);
        fx.rule(Rule::BothFinsCloseTheConnection);
    }

    /// `tcp_time_wait(sk, TCP_FIN_WAIT2, …)`: an orphan whose FIN is acknowledged is replaced
    /// by a FIN_WAIT2 mini-socket (`tcp_fin_timeout` is not longer than TIME_WAIT).
    fn fin_wait2_stub(&mut self) {
        // The stub keeps the sequence numbers (`done()` leaves them) and answers from now on.
        self.done();
        self.stub = Some(Stub::FinWait2);
    }

    /// `tcp_timewait_state_process()`: what a mini-socket does with a segment; `reason`: why
    /// new data draws an RST ([`data_after_close`]).
    fn stub_receive(&mut self, stub: Stub, seg: Wired, reason: Expected, fx: &mut Effects) {
        let end = seg.seq + seg.len as u32 + u32::from(seg.fin);
        // tcp_in_window() against [rcv_nxt, rcv_nxt + window].
        let (s_win, e_win) = (self.rcv_nxt, self.rcv_nxt + WINDOW);
        let in_window = seg.seq == s_win
            || (after(end, s_win) && before(seg.seq, e_win))
            || (seg.seq == e_win && seg.seq == end);
        match stub {
            Stub::FinWait2 => {
                if !in_window {
                    if seg.rst.is_none() {
                        self.send_ack(fx);
                    }
                } else if seg.rst.is_some() {
                    self.stub = None;
                    fx.rule(Rule::RstEndsAClosedSocketSilently);
                } else if !after(end, self.rcv_nxt) || end == seg.seq {
                    // A duplicate or a bare ACK.
                } else if !seg.fin || end != self.rcv_nxt + 1 {
                    // New data (or a FIN after a gap) after our half-duplex close: RST.
                    self.stub = None;
                    let rule = if self.rst_lost {
                        Rule::LostRstIsAnsweredByANewRst
                    } else {
                        Rule::ClosedSocketAnswersDataWithRst
                    };
                    fx.emit(reset_for(self.me, &seg, reason), Some(rule));
                } else {
                    self.rcv_nxt = end;
                    self.fin_received = true;
                    self.stub = Some(Stub::TimeWait);
                    fx.rule(Rule::BothFinsCloseTheConnection);
                    self.send_ack(fx);
                }
            }
            Stub::TimeWait => {
                let in_place = seg.seq == self.rcv_nxt && (end == seg.seq || seg.rst.is_some());
                if in_place {
                    if seg.rst.is_some() {
                        self.stub = None;
                    }
                } else if seg.rst.is_none() {
                    // Out of window: every segment is ACKed (tcp_timewait_check_oow_rate_limit()).
                    self.send_ack(fx);
                }
            }
        }
    }

    /// `tcp_ack()`: the peer acknowledges up to `ack`.
    fn on_ack(&mut self, ack: u32, pure: bool, seg_fin: bool, fx: &mut Effects) {
        if after(ack, self.snd_una) && !after(ack, self.snd_nxt) {
            self.snd_una = ack;
            let before = self.unacked.len();
            while self.unacked.front().is_some_and(|u| !after(u.end, ack)) {
                self.unacked.pop_front();
            }
            let acked = before - self.unacked.len();
            // tcp_reno_cong_avoid(): in slow start, one more segment per segment acknowledged,
            // but only while the window is in use (tcp_is_cwnd_limited()).
            if self.is_cwnd_limited || self.cwnd < 2 * self.max_packets_out {
                self.cwnd += acked;
            }
            if self.fin_seq.is_some_and(|f| after(ack, f)) {
                match self.state {
                    TcpState::FinWait1 if self.life == Life::Orphan && !seg_fin => {
                        self.fin_wait2_stub();
                    }
                    TcpState::FinWait1 => self.state = TcpState::FinWait2,
                    TcpState::Closing => self.time_wait(fx),
                    TcpState::LastAck => {
                        self.done();
                        fx.rule(Rule::BothFinsCloseTheConnection);
                    }
                    _ => {}
                }
            }
        } else if pure && ack == self.snd_una && !self.unacked.is_empty() {
            // tcp_fastretrans_alert(): without SACK each duplicate ACK counts as a segment that
            // left the network (tcp_add_reno_sack()), which lets out what waits behind the
            // window, and the third starts a fast retransmit; whether an ACK counts depends on
            // the window it advertises. Even one changes what a later write may send (the
            // Reno "SACK" it adds counts until the hole is filled), so the model stops here;
            // a challenge ACK from a kernel before 6.9 is one.
            fx.beyond(super::Limit::LossRecovery);
        }
    }

    /// `tcp_reset()`: an acceptable RST arrives.
    fn reset(&mut self, fx: &mut Effects) {
        if self.state == TcpState::Close {
            return;
        }
        if self.life == Life::Orphan {
            self.done();
            fx.rule(Rule::RstEndsAClosedSocketSilently);
            return;
        }
        let (error, rule) = if self.state == TcpState::CloseWait {
            (Errno::EPIPE, Rule::RstAfterFinLeavesEpipe)
        } else {
            (Errno::ECONNRESET, Rule::RstLeavesEconnreset)
        };
        self.error = Some(error);
        self.done();
        fx.rule(rule);
    }
}

/// Why new data for a closed socket draws an RST: the full socket, still in FIN_WAIT1 while the
/// ACK of its FIN has not arrived, aborts on it (`tcp_rcv_state_process()`, FIN_WAIT1:
/// TCP_ABORT_ON_DATA); the FIN_WAIT2 mini-socket that replaced it answers it
/// (`tcp_timewait_state_process()`: TCP_TIMEWAIT_SOCKET). `acked_by_it`: the segment itself
/// brings that ACK; `acked_late`: a delayed ACK brought it, whose timer races with the segment,
/// so either may answer.
fn data_after_close(acked_late: bool, acked_by_it: bool) -> Expected {
    match (acked_by_it, acked_late) {
        (true, _) => RstReason::TcpAbortOnData.into(),
        (false, true) => Expected {
            reason: RstReason::TcpAbortOnData,
            or: Some(RstReason::TcpTimewaitSocket),
            crossed: false,
        },
        (false, false) => RstReason::TcpTimewaitSocket.into(),
    }
}

/// The RST `tcp_v4_send_reset()` sends in answer to `seg`: its sequence number is what `seg`
/// acknowledged.
fn reset_for(me: End, seg: &Wired, reason: impl Into<Expected>) -> Wired {
    Wired {
        from: me,
        seq: seg.ack.unwrap_or(0),
        ack: None,
        len: 0,
        fin: false,
        rst: Some(reason.into()),
        late: false,
    }
}

/// `before(a, b)` of the kernel: sequence-number order, modulo 2^32.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `after(a, b)` of the kernel.
fn after(a: u32, b: u32) -> bool {
    before(b, a)
}
