//! What an endpoint does with each kind of segment, state by state: a table of cells in the
//! manner of smoltcp's tests grouped by TCP state, each cell a scenario on the link.
//!
//! On loopback every step settles before the next, so a peer that was reset or closed never
//! sends again, and three cells were never reached in 900,000 generated loopback scenarios: a
//! socket that is gone receiving data or a FIN, and an open socket in CLOSE receiving data or a
//! FIN. On the link a delay keeps segments in flight while the other side acts, which reaches
//! each of them; every cell here is such a scenario, checked through the public model only
//! (`predict`), so it holds whatever the endpoints' internals become.

use super::*;

/// One cell: a scenario whose last step delivers the segment, and what the model must say of
/// that step.
struct Cell {
    /// The receiver's state × the arriving segment.
    name: &'static str,
    /// The scenario; its last step is the one that delivers the segment.
    scenario: &'static str,
    /// Rules the last step must apply.
    rules: &'static [Rule],
    /// The states each held socket settles in after the last step (client, server).
    states: [Option<TcpState>; 2],
}

fn cells() -> Vec<Cell> {
    use TcpState::*;
    vec![
        Cell {
            name: "gone × data: RST back",
            scenario: "link delay 10ms; server abort; client write 1; client sleep 10ms",
            rules: &[Rule::ClosedSocketAnswersDataWithRst],
            states: [Some(Close), None],
        },
        Cell {
            name: "gone × FIN: RST back",
            scenario: "link delay 10ms; server abort; client shutdown write; client sleep 10ms",
            rules: &[Rule::ClosedSocketAnswersDataWithRst],
            states: [Some(Close), None],
        },
        Cell {
            name: "CLOSE (open) × data: RST back",
            scenario: "link delay 10ms; client shutdown both; server write 1; server write 1; \
                       client sleep 10ms",
            rules: &[
                Rule::ShutdownBothResetsOnData,
                Rule::ClosedSocketAnswersDataWithRst,
            ],
            // The client's RSTs are still on their way: the server is where the FIN left it.
            states: [Some(Close), Some(CloseWait)],
        },
        Cell {
            name: "CLOSE (open) × FIN: RST back",
            scenario: "link delay 10ms; client shutdown both; server write 1; \
                       server shutdown write; client sleep 10ms",
            rules: &[
                Rule::ShutdownBothResetsOnData,
                Rule::ClosedSocketAnswersDataWithRst,
            ],
            // Both FINs crossed: the server is CLOSING, the RSTs still on their way.
            states: [Some(Close), Some(Closing)],
        },
    ]
}

#[test]
fn every_cell_answers_as_the_table_says() {
    for cell in cells() {
        let scenario: Scenario = cell.scenario.parse().expect(cell.name);
        let prediction = predict(&scenario, &crate::oracle::Settings::default());
        assert_eq!(prediction.beyond, None, "{}", cell.name);
        let last = prediction.steps.last().expect(cell.name);
        for rule in cell.rules {
            assert!(last.rules.contains(rule), "{}: {:?}", cell.name, last.rules);
        }
        assert_eq!(last.states, cell.states, "{}", cell.name);
    }
}
