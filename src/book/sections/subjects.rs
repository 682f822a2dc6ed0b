//! "Subjects": the rules grouped by what they are about, each linked to its section.

use std::fmt::Write as _;

use crate::rules::Rule;

use crate::book::page::{Page, link};

pub(super) fn render(page: &mut Page) {
    let md = &mut page.md;
    let subjects: &[(&str, &[Rule])] = &[
        (
            "The seed: write, write, EPIPE",
            &[
                Rule::WriteAfterPeerCloseSucceeds,
                Rule::ClosedSocketAnswersDataWithRst,
                Rule::RstAfterFinLeavesEpipe,
            ],
        ),
        (
            "FIN or RST on close: unread data, SO_LINGER 0",
            &[
                Rule::CloseSendsFin,
                Rule::CloseWithUnreadDataSendsRst,
                Rule::AbortSendsRst,
            ],
        ),
        (
            "The pending error: reported once (ECONNRESET or EPIPE), then EPIPE / EOF",
            &[
                Rule::RstLeavesEconnreset,
                Rule::RstAfterFinLeavesEpipe,
                Rule::PendingErrorReportedOnce,
                Rule::WriteOnClosedConnectionFails,
                Rule::ReadAfterResetReturnsEof,
            ],
        ),
        ("Data queued before an RST", &[Rule::QueuedDataSurvivesRst]),
        (
            "EOF, repeated; EOF before the error",
            &[Rule::FinReadsAsEof, Rule::EofBeforePendingError],
        ),
        (
            "Half-close: the peer keeps writing",
            &[Rule::HalfClosePeerKeepsWriting],
        ),
        (
            "shutdown(SHUT_RD) on Linux",
            &[Rule::ShutdownReadStillReceives],
        ),
        ("shutdown(SHUT_RDWR)", &[Rule::ShutdownBothResetsOnData]),
        (
            "Our own shutdown(SHUT_WR)",
            &[Rule::WriteAfterShutdownWriteFails, Rule::FinIsSentOnce],
        ),
        (
            "Roles reversed (the client closes, the server writes)",
            &[
                Rule::WriteAfterPeerCloseSucceeds,
                Rule::RstEndsAClosedSocketSilently,
            ],
        ),
        (
            "Shutdown or close on a reset connection",
            &[
                Rule::ShutdownOnClosedConnection,
                Rule::CloseAfterResetSendsNothing,
                Rule::TokioShutdownHidesEnotconn,
            ],
        ),
        (
            "Both FINs: an orderly end",
            &[Rule::BothFinsCloseTheConnection],
        ),
        (
            "Timing on loopback: nothing moves between steps",
            &[Rule::SleepChangesNothing],
        ),
        (
            "Timing on a link: the broken pipe takes a round trip",
            &[
                Rule::SegmentsArriveAfterTheDelay,
                Rule::WritesWithinARoundTripSucceed,
                Rule::WriteWhileFinInFlightFindsEstablished,
                Rule::CloseBeforeDataArrivesSendsFin,
            ],
        ),
        (
            "Loss on a link",
            &[
                Rule::DropLosesSegments,
                Rule::CutLosesSegments,
                Rule::LostRstIsAnsweredByANewRst,
                Rule::RstOutOfPlaceDrawsChallengeAck,
                Rule::OutOfOrderDataWaits,
                Rule::NoSocketAnswersEvenAnAckWithRst,
            ],
        ),
        (
            "The send queue behind the congestion window",
            &[Rule::CwndHoldsBackData, Rule::RstDiscardsUnsentData],
        ),
        ("SIGPIPE", &[Rule::WriteEpipeRaisesSigpipe]),
        (
            "The baseline",
            &[
                Rule::WriteQueuesData,
                Rule::ReadTakesQueued,
                Rule::ReadWouldBlock,
            ],
        ),
    ];
    let _ = writeln!(md, "| subject | rules |\n|---|---|");
    for (subject, rules) in subjects {
        let links: Vec<String> = rules.iter().map(|r| link(*r)).collect();
        let _ = writeln!(md, "| {subject} | {} |", links.join(", "));
    }
    md.push('\n');
}
