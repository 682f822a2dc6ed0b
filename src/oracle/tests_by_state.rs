//! What an endpoint does with each kind of segment, state by state: a table of unit tests in
//! the manner of smoltcp's tests grouped by TCP state.
//!
//! Scenarios reach most cells, but not all: with every step settled before the next, a peer
//! that was reset or closed never sends again, so three of [`Model::deliver`]'s branches were
//! never taken in 900,000 generated scenarios: a socket that is gone answering data or a FIN
//! with RST, data reaching an open socket in CLOSE, and a FIN reaching a socket in CLOSE. They
//! are not dead code: segments still in flight when the other side acts (which a network that
//! delays segments produces) reach exactly those cells. So each cell is set up directly here.
//!
//! The table drives `deliver` alone: the receiver's replies stay in `in_flight`, undelivered,
//! so each row shows one segment's effect and nothing after it.

use super::*;

/// One cell of the table: a receiver in some state gets one segment from the client.
struct Cell {
    /// What the row tests, for failure messages.
    name: &'static str,
    /// The server's endpoint before the segment arrives.
    receiver: Endpoint,
    /// The client's TCP state when it sent the segment (the one an ACK of its FIN moves on).
    sender: TcpState,
    /// The segment.
    segment: SegmentKind,
    /// The server's state and life afterwards.
    after: (TcpState, Life),
    /// The server's pending error afterwards.
    error: Option<Errno>,
    /// The bytes queued for the server's application afterwards.
    unread: usize,
    /// What the server sends back.
    replies: &'static [SegmentKind],
    /// The rules the delivery applied, in order.
    rules: &'static [Rule],
    /// The client's state afterwards.
    sender_after: TcpState,
}

/// An endpoint in `state`, held as `life` says, with no data queued and no error.
fn end(state: TcpState, life: Life) -> Endpoint {
    Endpoint {
        life,
        state,
        ..Endpoint::established()
    }
}

/// An endpoint after its own `shutdown write` (FIN sent and acknowledged).
fn half_closed(rcv_shutdown: bool, life: Life) -> Endpoint {
    Endpoint {
        snd_shutdown: true,
        rcv_shutdown,
        ..end(TcpState::FinWait2, life)
    }
}

/// An endpoint the kernel finished with (`tcp_done()`): CLOSE, both directions shut.
fn done(life: Life) -> Endpoint {
    Endpoint {
        rcv_shutdown: true,
        snd_shutdown: true,
        ..end(TcpState::Close, life)
    }
}

use SegmentKind::{Data, Fin, Rst};
use TcpState::{Close, CloseWait, Established, FinWait1, FinWait2, LastAck};

fn cells() -> Vec<Cell> {
    vec![
        // ESTABLISHED
        Cell {
            name: "ESTABLISHED, data: queued",
            receiver: end(Established, Life::Open),
            sender: Established,
            segment: Data(3),
            after: (Established, Life::Open),
            error: None,
            unread: 3,
            replies: &[],
            rules: &[],
            sender_after: Established,
        },
        Cell {
            name: "ESTABLISHED, FIN: CLOSE_WAIT, the sender's FIN acknowledged",
            receiver: end(Established, Life::Open),
            sender: FinWait1,
            segment: Fin,
            after: (CloseWait, Life::Open),
            error: None,
            unread: 0,
            replies: &[],
            rules: &[],
            sender_after: FinWait2,
        },
        Cell {
            name: "ESTABLISHED, RST: CLOSE with ECONNRESET pending",
            receiver: end(Established, Life::Open),
            sender: Close,
            segment: Rst,
            after: (Close, Life::Open),
            error: Some(Errno::ECONNRESET),
            unread: 0,
            replies: &[],
            rules: &[Rule::RstLeavesEconnreset],
            sender_after: Close,
        },
        Cell {
            name: "ESTABLISHED after shutdown read, data: still queued",
            receiver: Endpoint {
                rcv_shutdown: true,
                ..end(Established, Life::Open)
            },
            sender: Established,
            segment: Data(2),
            after: (Established, Life::Open),
            error: None,
            unread: 2,
            replies: &[],
            rules: &[Rule::ShutdownReadStillReceives],
            sender_after: Established,
        },
        // CLOSE_WAIT
        Cell {
            name: "CLOSE_WAIT, RST: CLOSE with EPIPE pending",
            receiver: Endpoint {
                fin_received: true,
                rcv_shutdown: true,
                ..end(CloseWait, Life::Open)
            },
            sender: Close,
            segment: Rst,
            after: (Close, Life::Open),
            error: Some(Errno::EPIPE),
            unread: 0,
            replies: &[],
            rules: &[Rule::RstAfterFinLeavesEpipe],
            sender_after: Close,
        },
        // FIN_WAIT2, open
        Cell {
            name: "FIN_WAIT2 (half-closed), data: queued",
            receiver: half_closed(false, Life::Open),
            sender: CloseWait,
            segment: Data(4),
            after: (FinWait2, Life::Open),
            error: None,
            unread: 4,
            replies: &[],
            rules: &[Rule::HalfClosePeerKeepsWriting],
            sender_after: CloseWait,
        },
        Cell {
            name: "FIN_WAIT2 (half-closed), FIN: CLOSE (TIME_WAIT moves to a stub)",
            receiver: half_closed(false, Life::Open),
            sender: LastAck,
            segment: Fin,
            after: (Close, Life::Open),
            error: None,
            unread: 0,
            replies: &[],
            // Both ends apply it (the receiver, then the sender on the ACK): named once.
            rules: &[Rule::BothFinsCloseTheConnection],
            sender_after: Close,
        },
        Cell {
            name: "FIN_WAIT2 after shutdown both, data: reset, RST back",
            receiver: half_closed(true, Life::Open),
            sender: CloseWait,
            segment: Data(1),
            after: (Close, Life::Open),
            error: Some(Errno::ECONNRESET),
            unread: 0,
            replies: &[Rst],
            rules: &[Rule::ShutdownBothResetsOnData],
            sender_after: CloseWait,
        },
        // FIN_WAIT2, closed by the application (an orphan)
        Cell {
            name: "FIN_WAIT2 orphan, data: destroyed, RST back",
            receiver: half_closed(true, Life::Orphan),
            sender: CloseWait,
            segment: Data(1),
            after: (Close, Life::Gone),
            error: None,
            unread: 0,
            replies: &[Rst],
            rules: &[Rule::ClosedSocketAnswersDataWithRst],
            sender_after: CloseWait,
        },
        Cell {
            name: "FIN_WAIT2 orphan, FIN: a TIME_WAIT stub",
            receiver: half_closed(true, Life::Orphan),
            sender: LastAck,
            segment: Fin,
            after: (Close, Life::Gone),
            error: None,
            unread: 0,
            replies: &[],
            // Both ends apply it (the receiver, then the sender on the ACK): named once.
            rules: &[Rule::BothFinsCloseTheConnection],
            sender_after: Close,
        },
        Cell {
            name: "FIN_WAIT2 orphan, RST: destroyed silently",
            receiver: half_closed(true, Life::Orphan),
            sender: Close,
            segment: Rst,
            after: (Close, Life::Gone),
            error: None,
            unread: 0,
            replies: &[],
            rules: &[Rule::RstEndsAClosedSocketSilently],
            sender_after: Close,
        },
        // LAST_ACK, an orphan
        Cell {
            name: "LAST_ACK orphan, RST: destroyed silently",
            receiver: Endpoint {
                fin_received: true,
                rcv_shutdown: true,
                snd_shutdown: true,
                ..end(LastAck, Life::Orphan)
            },
            sender: Close,
            segment: Rst,
            after: (Close, Life::Gone),
            error: None,
            unread: 0,
            replies: &[],
            rules: &[Rule::RstEndsAClosedSocketSilently],
            sender_after: Close,
        },
        // CLOSE, still held by the application: the kernel no longer finds the connection, so
        // anything but an RST is answered with RST (`tcp_v4_send_reset()`).
        Cell {
            name: "CLOSE (open), data: RST back, nothing queued (never reached by a scenario)",
            receiver: done(Life::Open),
            sender: Established,
            segment: Data(1),
            after: (Close, Life::Open),
            error: None,
            unread: 0,
            replies: &[Rst],
            rules: &[Rule::ClosedSocketAnswersDataWithRst],
            sender_after: Established,
        },
        Cell {
            name: "CLOSE (open), FIN: RST back (never reached by a scenario)",
            receiver: done(Life::Open),
            sender: FinWait1,
            segment: Fin,
            after: (Close, Life::Open),
            error: None,
            unread: 0,
            replies: &[Rst],
            rules: &[Rule::ClosedSocketAnswersDataWithRst],
            // No ACK of the FIN: the sender stays where it was.
            sender_after: FinWait1,
        },
        Cell {
            name: "CLOSE (open), RST: ignored, the first error stays",
            receiver: Endpoint {
                error: Some(Errno::ECONNRESET),
                ..done(Life::Open)
            },
            sender: Close,
            segment: Rst,
            after: (Close, Life::Open),
            error: Some(Errno::ECONNRESET),
            unread: 0,
            replies: &[],
            rules: &[],
            sender_after: Close,
        },
        // Gone: destroyed, or a TIME_WAIT stub.
        Cell {
            name: "gone, data: RST back (never reached by a scenario)",
            receiver: done(Life::Gone),
            sender: Established,
            segment: Data(1),
            after: (Close, Life::Gone),
            error: None,
            unread: 0,
            replies: &[Rst],
            rules: &[Rule::ClosedSocketAnswersDataWithRst],
            sender_after: Established,
        },
        Cell {
            name: "gone, FIN: RST back (never reached by a scenario)",
            receiver: done(Life::Gone),
            sender: FinWait1,
            segment: Fin,
            after: (Close, Life::Gone),
            error: None,
            unread: 0,
            replies: &[Rst],
            rules: &[Rule::ClosedSocketAnswersDataWithRst],
            sender_after: FinWait1,
        },
        Cell {
            name: "gone, RST: dropped",
            receiver: done(Life::Gone),
            sender: Close,
            segment: Rst,
            after: (Close, Life::Gone),
            error: None,
            unread: 0,
            replies: &[],
            rules: &[],
            sender_after: Close,
        },
    ]
}

/// Delivers one segment from the client to `cell.receiver` and checks everything it changed.
fn check(cell: Cell) {
    let mut model = Model::new();
    model.ends[Actor::Server.index()] = cell.receiver;
    model.ends[Actor::Client.index()].state = cell.sender;
    let mut fx = Effects {
        rules: Vec::new(),
        segments: Vec::new(),
        in_flight: VecDeque::new(),
    };
    let segment = Segment {
        from: Actor::Client,
        kind: cell.segment,
        rule: Rule::WriteQueuesData,
    };
    model.deliver(segment, &mut fx);
    let server = &model.ends[Actor::Server.index()];
    let name = cell.name;
    assert_eq!((server.state, server.life), cell.after, "{name}");
    assert_eq!(server.error, cell.error, "{name}: pending error");
    assert_eq!(server.unread, cell.unread, "{name}: queued bytes");
    let replies: Vec<SegmentKind> = fx.in_flight.iter().map(|s| s.kind).collect();
    assert_eq!(replies, cell.replies, "{name}: replies");
    assert!(
        fx.in_flight.iter().all(|s| s.from == Actor::Server),
        "{name}: a reply comes from the receiver"
    );
    assert_eq!(fx.rules, cell.rules, "{name}: rules");
    assert_eq!(
        model.ends[Actor::Client.index()].state,
        cell.sender_after,
        "{name}: the sender's state"
    );
}

#[test]
fn every_state_handles_every_segment_as_the_table_says() {
    let cells = cells();
    assert!(cells.len() >= 18);
    for cell in cells {
        check(cell);
    }
}

#[test]
fn the_three_cells_no_scenario_reaches_each_answer_with_rst() {
    let unreached: Vec<Cell> = cells()
        .into_iter()
        .filter(|c| c.name.contains("never reached by a scenario"))
        .collect();
    // Gone × {data, FIN}, open CLOSE × data, open CLOSE × FIN.
    assert_eq!(unreached.len(), 4);
    for cell in unreached {
        assert_eq!(cell.replies, [Rst], "{}", cell.name);
        check(cell);
    }
}
