//! What the oracle says your program's kernel answered, and answers next, in plain words.
//!
//! Nothing here is written down per scenario: every sentence is built from
//! [`oracle::predict`](crate::oracle::predict()) on the scenario, or on the scenario extended with
//! hypothetical calls of the client (`client write 1`, `client read 65536`) for what comes next.

use serde::Serialize;

use crate::oracle::{self, PredictedStep, SegmentKind};
use crate::outcome::{Errno, Outcome};
use crate::rules::Rule;
use crate::scenario::{End, Op, Scenario, Step, bounds};

/// One hypothetical call of your program after the scenario, as the oracle predicts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The call, in the scenario language (`write 1`, `read 65536`).
    pub call: String,
    /// What the kernel answers.
    pub outcome: Outcome,
    /// For a write that succeeds: the peer's kernel answers the bytes with RST, so no
    /// application ever reads them.
    pub lost: bool,
    /// The rules behind the answer, in the order the oracle applied them.
    pub rules: Vec<Rule>,
}

/// What your program's next calls on the connection get, once the scenario is over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Forecast {
    /// The next two writes, one after the other.
    pub writes: Vec<Call>,
    /// Reads one after the other (instead of the writes), until one returns no data.
    pub reads: Vec<Call>,
    /// A request and its response (instead of the above): one write, then reads until one
    /// returns no data. What a request/response client on a pooled connection does next.
    pub request: Vec<Call>,
    /// All of it in plain words, one sentence per kind of call.
    pub sentences: Vec<String>,
    /// The sentences on one line.
    pub summary: String,
}

/// Reads at most this many times in a row: the language's bounds keep at most
/// [`bounds::MAX_BYTES_PER_DIRECTION`] bytes queued, which one read of [`bounds::MAX_IO`] takes.
const MAX_READS: usize = 4;

impl Forecast {
    /// No forecast, and why, in one sentence.
    pub(crate) fn unknown(why: String) -> Forecast {
        Forecast {
            writes: Vec::new(),
            reads: Vec::new(),
            request: Vec::new(),
            sentences: vec![why.clone()],
            summary: why,
        }
    }

    /// The forecast for `scenario`: what the client's next calls get after its last step.
    ///
    /// ```
    /// use rstlab::peer::forecast::Forecast;
    /// use rstlab::{Errno, Outcome, Scenario};
    /// let s: Scenario = "client write 5; server read 5; server close".parse().unwrap();
    /// let f = Forecast::of(&s);
    /// assert_eq!(f.writes[0].outcome, Outcome::Bytes(1));
    /// assert!(f.writes[0].lost);
    /// assert_eq!(f.writes[1].outcome, Outcome::Err(Errno::EPIPE));
    /// assert_eq!(f.reads[0].outcome, Outcome::Eof);
    /// ```
    pub fn of(scenario: &Scenario) -> Forecast {
        let writes = extend(scenario, &[Op::Write(1), Op::Write(1)], false);
        let reads = extend(scenario, &[], true);
        let request = extend(scenario, &[Op::Write(1)], true);
        let sentences = match (&writes, &reads, &request) {
            (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => vec![why.clone()],
            (Ok(w), Ok(r), Ok(q)) => sentences(w, r, q),
        };
        Forecast {
            writes: writes.unwrap_or_default(),
            reads: reads.unwrap_or_default(),
            request: request.unwrap_or_default(),
            summary: sentences.join(" "),
            sentences,
        }
    }
}

/// Predicts `scenario` followed by the client's `ops`, then (when `then_read`) by reads until
/// one returns no data; returns the hypothetical calls only.
fn extend(scenario: &Scenario, ops: &[Op], then_read: bool) -> Result<Vec<Call>, String> {
    if let Some(end) = scenario
        .steps()
        .iter()
        .find(|s| s.who == End::Client && s.op.ends_socket())
    {
        return Err(format!(
            "Your program ended its socket (`{end}`): it makes no further calls on this connection."
        ));
    }
    let mut steps = scenario.steps().to_vec();
    let base = steps.len();
    steps.extend(ops.iter().map(|op| Step::new(End::Client, op.clone())));
    let mut reads = 0;
    loop {
        let extended = Scenario::new(steps.clone()).map_err(|e| {
            format!(
                "The next calls are not predicted: with them the scenario breaks the language's bounds ({e})."
            )
        })?;
        let prediction = oracle::predict(&extended, &oracle::Settings::default());
        // The model may stop before the first hypothetical call (on the scenario itself, as
        // after a `link cut` whose lost segments draw duplicate ACKs): nothing to forecast.
        let predicted = prediction.steps.get(base..).unwrap_or_default();
        if let (true, Some(beyond)) = (predicted.is_empty(), &prediction.beyond) {
            return Err(format!(
                "The next calls are not predicted: {}.",
                beyond.reason
            ));
        }
        let calls: Vec<Call> = extended.steps()[base..]
            .iter()
            .zip(predicted)
            .map(|(step, predicted)| Call {
                call: step.op.to_string(),
                outcome: predicted.outcome.clone(),
                lost: is_lost(predicted),
                rules: predicted.rules.clone(),
            })
            .collect();
        let last_was_data = calls
            .last()
            .is_some_and(|c| c.call.starts_with("read") && matches!(c.outcome, Outcome::Bytes(_)));
        let want_read = then_read && (reads == 0 || last_was_data) && reads < MAX_READS;
        if !want_read {
            return Ok(calls);
        }
        steps.push(Step::new(End::Client, Op::Read(bounds::MAX_IO)));
        reads += 1;
    }
}

/// A write's bytes are lost when the peer's kernel answers them with RST.
fn is_lost(predicted: &PredictedStep) -> bool {
    matches!(predicted.outcome, Outcome::Bytes(_))
        && predicted
            .segments
            .iter()
            .any(|s| s.from == End::Server && s.kind == SegmentKind::Rst)
}

/// An errno with the words C's `strerror` gives it, for the errors this story is about.
fn error_words(errno: Errno) -> String {
    let words = match errno {
        Errno::EPIPE => " (broken pipe)",
        Errno::ECONNRESET => " (connection reset by peer)",
        Errno::ENOTCONN => " (transport endpoint is not connected)",
        _ => "",
    };
    format!("{errno}{words}")
}

/// What a write that returned `outcome` means, e.g. "succeeds, but the bytes are lost …".
fn write_words(outcome: &Outcome, lost: bool) -> String {
    match outcome {
        Outcome::Bytes(_) if lost => {
            "succeeds, but its bytes are lost: the peer's kernel answers them with RST".to_string()
        }
        Outcome::Bytes(_) => "succeeds".to_string(),
        Outcome::Err(e) => format!("fails with {}", error_words(*e)),
        other => format!("returns {other}"),
    }
}

/// What a read that returned `outcome` means.
fn read_words(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Bytes(n) => format!(
            "returns data (the {n} bytes the peer wrote, less what your program has read already)"
        ),
        Outcome::Eof => "returns EOF (0 bytes)".to_string(),
        Outcome::Err(Errno::EAGAIN) => {
            "finds nothing (EAGAIN if non-blocking; a blocking read waits)".to_string()
        }
        Outcome::Err(e) => format!("fails with {}", error_words(*e)),
        other => format!("returns {other}"),
    }
}

fn reads_words(reads: &[&Call]) -> String {
    let words: Vec<String> = reads.iter().map(|c| read_words(&c.outcome)).collect();
    words.join(", then ")
}

fn sentences(writes: &[Call], reads: &[Call], request: &[Call]) -> Vec<String> {
    let mut out = Vec::new();
    if let [first, rest @ ..] = writes {
        let mut sentence = format!(
            "Your next write {}",
            write_words(&first.outcome, first.lost)
        );
        for call in rest {
            sentence += &format!("; the one after {}", write_words(&call.outcome, call.lost));
        }
        out.push(sentence + ".");
    }
    let read_calls: Vec<&Call> = reads.iter().collect();
    if !read_calls.is_empty() {
        out.push(format!("A read instead {}.", reads_words(&read_calls)));
    }
    if let [write, rest @ ..] = request {
        let rest: Vec<&Call> = rest.iter().collect();
        out.push(format!(
            "A request instead (a write, then reads): the write {}; the read {}.",
            write_words(&write.outcome, write.lost),
            reads_words(&rest)
        ));
    }
    out
}

/// What the oracle says the client's kernel answered to the client's own step, in plain words:
/// "your write returned ok(78), but its bytes are lost: …".
pub(crate) fn client_call_words(step: &Step, predicted: &PredictedStep) -> String {
    let sent = |kind: fn(&SegmentKind) -> bool| {
        predicted
            .segments
            .iter()
            .any(|s| s.from == End::Client && kind(&s.kind))
    };
    match (&step.op, &predicted.outcome) {
        (Op::Write(_), Outcome::Bytes(n)) if is_lost(predicted) => format!(
            "your write returned ok({n}), but its bytes are lost: the peer's kernel answered them with RST"
        ),
        (Op::Write(_), outcome) => format!("your write returned {}", describe(outcome)),
        (Op::Sleep(_), _) => "a pause in your program".to_string(),
        (op, Outcome::Ok) => {
            let what = if sent(|k| *k == SegmentKind::Rst) {
                "sent RST"
            } else if sent(|k| *k == SegmentKind::Fin) {
                "sent FIN"
            } else {
                "sent nothing"
            };
            // The oracle cannot see your program's reads, so it takes the peer's bytes as unread;
            // a program that read them sends FIN instead.
            let unread = if predicted.rules.contains(&Rule::CloseWithUnreadDataSendsRst) {
                " (FIN if your program read what the peer sent: the peer cannot see reads)"
            } else {
                ""
            };
            format!("your {} returned ok and {what}{unread}", op.name())
        }
        (op, outcome) => format!("your {} returned {}", op.name(), describe(outcome)),
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Err(e) => error_words(*e),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(text: &str) -> Forecast {
        Forecast::of(&text.parse().unwrap())
    }

    #[test]
    fn after_the_server_closes_the_next_write_is_lost_and_the_one_after_fails_with_epipe() {
        let f = forecast("client write 3; server read 3; server write 4; server close");
        assert!(f.writes[0].lost);
        assert_eq!(f.writes[1].outcome, Outcome::Err(Errno::EPIPE));
        let reads: Vec<_> = f.reads.iter().map(|c| c.outcome.clone()).collect();
        assert_eq!(reads, [Outcome::Bytes(4), Outcome::Eof]);
        assert_eq!(f.request.len(), 3, "{f:?}");
        assert!(
            f.summary.starts_with(
                "Your next write succeeds, but its bytes are lost: the peer's kernel answers them with RST; the one after fails with EPIPE (broken pipe)."
            ),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("then returns EOF"), "{}", f.summary);
    }

    #[test]
    fn a_scenario_the_model_stops_in_has_no_forecast_and_says_why() {
        // The FIN after the lost bytes draws a duplicate ACK: the model stops at step 6, before
        // any hypothetical call (this indexed past the prediction's end).
        let f = forecast(
            "client write 1; server read 1; link cut; server write 3; link restore; server close",
        );
        assert!(f.writes.is_empty() && f.reads.is_empty(), "{f:?}");
        assert!(
            f.summary
                .starts_with("The next calls are not predicted: a duplicate ACK"),
            "{}",
            f.summary
        );
    }

    #[test]
    fn after_a_reset_the_next_read_fails_with_econnreset() {
        let f = forecast("client write 3; server close");
        assert_eq!(f.reads[0].outcome, Outcome::Err(Errno::ECONNRESET));
        assert_eq!(f.writes[0].outcome, Outcome::Err(Errno::ECONNRESET));
        assert!(!f.writes[0].lost);
    }

    #[test]
    fn nothing_is_forecast_after_the_client_closed() {
        let f = forecast("client close");
        assert!(f.writes.is_empty() && f.reads.is_empty());
        assert!(f.summary.contains("no further calls"), "{}", f.summary);
    }

    #[test]
    fn a_scenario_at_the_bound_says_why_nothing_is_forecast() {
        let f = forecast("client write 65536");
        assert!(f.summary.contains("bounds"), "{}", f.summary);
    }

    #[test]
    fn the_clients_own_calls_are_described_from_the_prediction() {
        let s: Scenario = "server close; client write 2; client close"
            .parse()
            .unwrap();
        let p = oracle::predict(&s, &oracle::Settings::default());
        let words: Vec<String> = s
            .steps()
            .iter()
            .zip(&p.steps)
            .skip(1)
            .map(|(step, predicted)| client_call_words(step, predicted))
            .collect();
        assert!(words[0].contains("lost"), "{words:?}");
        assert_eq!(words[1], "your close returned ok and sent nothing");
        let s: Scenario = "server write 2; client close".parse().unwrap();
        let p = oracle::predict(&s, &oracle::Settings::default());
        let words = client_call_words(&s.steps()[1], &p.steps[1]);
        assert!(
            words.starts_with("your close returned ok and sent RST (FIN if"),
            "{words}"
        );
    }
}
