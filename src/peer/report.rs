//! What the peer did and saw on each connection, beside what the oracle predicts.

use std::fmt;
use std::net::SocketAddr;

use serde::Serialize;

use super::forecast::Forecast;
use crate::check::report::ResetRow;
use crate::outcome::Outcome;
use crate::rules::Rule;
use crate::scenario::Who;
use crate::tcp::TcpState;

/// What the peer did or saw for one step.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeerSaw {
    /// A `server` step: the peer made the call and the kernel answered this.
    Called {
        /// The call's result.
        outcome: Outcome,
        /// The TCP state of the peer's socket right after the call, while it still holds it.
        state: Option<TcpState>,
    },
    /// A `client` step whose effect the peer saw arrive.
    Seen {
        /// What arrived, in words.
        what: String,
        /// How long the peer waited for it, in milliseconds.
        waited_ms: f64,
    },
    /// A `client` write whose arrival the peer saw, but not its bytes: its socket was closed,
    /// so what reached it (the bytes, or an RST instead) could not be counted. Neither
    /// agreement nor disagreement: the report says "not checked", and why.
    Uncounted {
        /// What the peer saw, in words.
        what: String,
        /// How long the peer waited for it, in milliseconds.
        waited_ms: f64,
        /// Why the bytes were not counted.
        why: String,
    },
    /// A `client` step whose effect did not arrive: the wait ran out, or something else
    /// arrived that rules it out. Never taken as agreement.
    NotSeen {
        /// How long the peer waited, in milliseconds.
        waited_ms: f64,
        /// Why it gave up, and what it saw last.
        why: String,
    },
    /// A `client` step that nothing on the peer's side can observe any more (for example, the
    /// peer's socket is gone), or a pause of your program. Neither agreement nor disagreement.
    Unobservable {
        /// Why.
        why: String,
    },
    /// The step was not played: an earlier one was not seen, or the peer was stopped.
    NotRun {
        /// Why.
        why: String,
    },
}

/// What the oracle predicts for one step of a connection: an outcome, or nothing, and why.
///
/// In JSON an outcome is its string (`"ok(5)"`, `"EPIPE"`), as everywhere; no prediction is
/// `null` (the step's `oracle` field then says `not predicted: <why>`). Never an [`Outcome`]
/// the kernel could return: a step the oracle does not predict can neither agree nor disagree.
#[derive(Clone, Debug, PartialEq)]
pub enum Predicted {
    /// The oracle predicts this outcome of the actor's call.
    Outcome(Outcome),
    /// The oracle predicts nothing for this step: past a `client write request` whose length is
    /// not known yet, or past where its model stops (on the link). The text says why.
    NotPredicted(String),
}

impl Predicted {
    /// The predicted outcome, if there is one.
    pub fn outcome(&self) -> Option<&Outcome> {
        match self {
            Predicted::Outcome(outcome) => Some(outcome),
            Predicted::NotPredicted(_) => None,
        }
    }
}

impl PartialEq<Outcome> for Predicted {
    /// A prediction equals an outcome when it predicts exactly that outcome.
    fn eq(&self, other: &Outcome) -> bool {
        self.outcome() == Some(other)
    }
}

impl fmt::Display for Predicted {
    /// The outcome (`ok(5)`), or `not predicted: <why>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicted::Outcome(outcome) => write!(f, "{outcome}"),
            Predicted::NotPredicted(why) => write!(f, "not predicted: {why}"),
        }
    }
}

impl Serialize for Predicted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.outcome().serialize(serializer)
    }
}

/// One step of the scenario on one connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepReport {
    /// 1-based step number.
    pub step: usize,
    /// The step as written (without its `=>` expectation).
    pub text: String,
    /// Who acts: `server` steps are the peer's calls, `client` steps your program's (`actor`
    /// in JSON, its name since the format's first version).
    #[serde(rename = "actor")]
    pub who: Who,
    /// When the call returned or the arrival was seen, in milliseconds since the connection was
    /// accepted; `None` when the step was not played.
    pub at_ms: Option<f64>,
    /// What the peer did or saw.
    pub peer: PeerSaw,
    /// What the oracle predicts the actor's kernel answers to the call: for a `client` step,
    /// what your program's call returned. [`Predicted::NotPredicted`] where the oracle predicts
    /// nothing (past a request whose length is not known, or past where its model stops).
    pub predicted: Predicted,
    /// The rules behind the prediction, in the order the oracle applied them.
    pub rules: Vec<Rule>,
    /// The prediction in plain words, from your program's point of view.
    pub oracle: String,
    /// Whether the step went as the scenario says: a `server` call returned what the oracle
    /// predicts, a `client` step was seen. `None` where there is nothing to compare, or the
    /// peer could not check it ([`PeerSaw::Uncounted`]).
    pub as_scripted: Option<bool>,
}

/// One accepted connection and the scenario played on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectionReport {
    /// 1-based, in the order the peer accepted the connections.
    pub number: usize,
    /// Your program's address (its end of the connection).
    pub client: SocketAddr,
    /// The scenario played, on one line.
    pub scenario: String,
    /// One entry per step.
    pub steps: Vec<StepReport>,
    /// Where the connection did not follow the scenario: more bytes than the scenario's
    /// `client write`s, a FIN before the scenario's client ended, a failed call of the peer.
    pub deviations: Vec<String>,
    /// What the peer did with its socket after the last step.
    pub after: String,
    /// What your program's next calls on this connection get, by the oracle.
    pub forecast: Forecast,
    /// From accept to the end of the connection's play, in milliseconds.
    pub duration_ms: f64,
    /// Its RSTs, and why each was sent (`resets`, `reasons_missing` in JSON).
    #[serde(flatten)]
    pub reasons: ConnectionResets,
}

/// The RSTs of a connection, either way, and why each was sent: the reason the sender's kernel
/// stated (`tcp/tcp_send_reset`) beside the oracle's, as `rstlab run` shows them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConnectionResets {
    /// The RSTs in order: the oracle's predicted ones paired with the kernel's (steps 1-based;
    /// one the oracle did not predict is given the last step played).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resets: Vec<ResetRow>,
    /// Why the kernel's reasons are missing or not checked, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons_missing: Option<String>,
    /// `reasons_missing` is the whole peer's (it could not read reasons at all): the report of
    /// the peer says it once ([`Report::reasons_missing`]), not each connection's table.
    #[serde(skip)]
    pub peer_wide: bool,
}

impl ConnectionReport {
    /// Every step went as the scenario says (see [`StepReport::as_scripted`]) and nothing
    /// deviated. Steps that cannot be observed do not count against it.
    pub fn as_scripted(&self) -> bool {
        self.deviations.is_empty() && self.steps.iter().all(|s| s.as_scripted != Some(false))
    }
}

/// A connection the peer accepted and reset at once, without playing the scenario on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refused {
    /// Its client's address.
    pub client: SocketAddr,
    /// Why it was not played.
    pub why: String,
}

/// Everything the peer did, from [`Peer::finish`](super::Peer::finish) or
/// [`Peer::stop`](super::Peer::stop).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The address the peer listened on.
    pub addr: SocketAddr,
    /// The connections it played, in accept order.
    pub connections: Vec<ConnectionReport>,
    /// The connections it reset without playing (`max_connections`, or stopped).
    pub refused: Vec<Refused>,
    /// Problems of the peer itself (an accept that failed, a thread that did not end).
    pub problems: Vec<String>,
    /// Why the peer could not read the kernel's reasons for RSTs at all (not root, no tracefs,
    /// a kernel before 6.10), when it could not.
    pub reasons_missing: Option<String>,
}

impl Report {
    /// At least one connection was played, every one as scripted, none was refused and the
    /// peer had no problem of its own.
    pub fn as_scripted(&self) -> bool {
        !self.connections.is_empty()
            && self.connections.iter().all(ConnectionReport::as_scripted)
            && self.refused.is_empty()
            && self.problems.is_empty()
    }

    /// One line: how many connections, how many as scripted, refused, problems.
    pub fn summary(&self) -> String {
        if self.connections.is_empty() && self.refused.is_empty() {
            return format!("no client connected to {}", self.addr);
        }
        let scripted = self.connections.iter().filter(|c| c.as_scripted()).count();
        let mut out = format!(
            "{} connection{} played, {scripted} as scripted",
            self.connections.len(),
            plural(self.connections.len())
        );
        if !self.refused.is_empty() {
            out += &format!(", {} refused", self.refused.len());
        }
        if !self.problems.is_empty() {
            out += &format!(
                ", {} problem{}",
                self.problems.len(),
                plural(self.problems.len())
            );
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Milliseconds, with more digits the shorter they are.
pub(crate) fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} ms")
    } else if value < 1000.0 {
        format!("{value:.1} ms")
    } else {
        format!("{:.2} s", value / 1000.0)
    }
}

impl PeerSaw {
    /// The table cell for this.
    fn cell(&self) -> String {
        match self {
            PeerSaw::Called { outcome, state } => match state {
                Some(state) => format!("{outcome} ({state})"),
                None => outcome.to_string(),
            },
            PeerSaw::Seen { what, .. } => what.clone(),
            PeerSaw::Uncounted { what, .. } => what.clone(),
            PeerSaw::NotSeen { why, .. } => format!("NOT SEEN: {why}"),
            PeerSaw::Unobservable { why } => format!("not observable: {why}"),
            PeerSaw::NotRun { why } => format!("not played: {why}"),
        }
    }
}

impl fmt::Display for ConnectionReport {
    /// A table, one row per step, then why a step was not checked, the deviations, what happened after the last step and
    /// the forecast.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "connection {} from {} ({})",
            self.number,
            self.client,
            ms(self.duration_ms)
        )?;
        let rows: Vec<Vec<String>> = self
            .steps
            .iter()
            .map(|s| {
                let oracle = match s.who {
                    Who::Client => s.oracle.clone(),
                    _ => s.predicted.to_string(),
                };
                vec![
                    s.step.to_string(),
                    s.text.clone(),
                    s.at_ms.map_or("-".to_string(), ms),
                    s.peer.cell(),
                    oracle,
                    match (s.as_scripted, &s.peer) {
                        (Some(true), _) => "yes",
                        (Some(false), _) => "NO",
                        (None, PeerSaw::Uncounted { .. }) => "not checked",
                        (None, _) => "-",
                    }
                    .to_string(),
                    s.rules
                        .iter()
                        .map(|r| r.id())
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect();
        f.write_str(&crate::table::render(
            &[
                "#",
                "step",
                "at",
                "the peer did / saw",
                "the oracle (for a client step: your call)",
                "as scripted",
                "rule",
            ],
            &rows,
        ))?;
        for s in &self.steps {
            if let PeerSaw::Uncounted { why, .. } = &s.peer {
                writeln!(f, "step {} not checked: {why}", s.step)?;
            }
        }
        f.write_str(&self.reasons.table())?;
        for d in &self.deviations {
            writeln!(f, "deviation: {d}")?;
        }
        writeln!(f, "after the scenario: {}", self.after)?;
        writeln!(
            f,
            "what your program's next calls on this connection get, by the oracle:"
        )?;
        for sentence in &self.forecast.sentences {
            writeln!(f, "  {sentence}")?;
        }
        writeln!(
            f,
            "{}",
            if self.as_scripted() {
                "as scripted: the connection followed the scenario"
            } else {
                "NOT as scripted: see above"
            }
        )
    }
}

impl ConnectionResets {
    /// Why each RST, in the words of `rstlab run`'s table: the kernel's reason (`-` where it
    /// was not recorded), the oracle's, whether they agree; then why the kernel's are missing,
    /// unless that is the whole peer's.
    fn table(&self) -> String {
        if self.resets.is_empty() {
            return String::new();
        }
        let mut out = "why each RST (the kernel's own reason, from its tcp/tcp_send_reset event, \
                       and the oracle's; server: the peer, client: your program):\n"
            .to_string();
        out += &ResetRow::table(&self.resets, self.reasons_missing.is_none());
        match &self.reasons_missing {
            Some(why) if !self.peer_wide => {
                out += &format!("the kernel's reasons are not checked: {why}\n");
            }
            _ => {}
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.connections {
            writeln!(f, "{c}")?;
        }
        for r in &self.refused {
            writeln!(f, "refused: connection from {}: {}", r.client, r.why)?;
        }
        for p in &self.problems {
            writeln!(f, "problem: {p}")?;
        }
        if let Some(why) = &self.reasons_missing {
            writeln!(f, "{}", reasons_missing_line(why))?;
        }
        writeln!(f, "{}", self.summary())
    }
}

/// The one line that says why no connection's RST shows the kernel's reason.
pub fn reasons_missing_line(why: &str) -> String {
    format!("the kernel's reasons for RSTs are not shown (the oracle's are): {why}")
}
