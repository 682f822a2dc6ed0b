//! A scenario as written: [`Script`], with each step's place ([`Span`]) and the client's
//! requests (`client write request`).

use super::parse::parse;
use super::*;

/// Where a step is in the scenario text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the step's first word, in characters.
    pub column: usize,
    /// The step's bytes in the text, from its first word to the end of its last.
    pub bytes: std::ops::Range<usize>,
}

/// A scenario as written: its steps, where each one is in the text ([`Span`]), and which of
/// its client writes are `client write request`, the client's request whatever its length.
///
/// `client write request` is for the peer ([`crate::peer`], `rstlab serve`, `rstlab exec`),
/// which plays the server against a real program: it waits for the request to arrive (for
/// HTTP, to the end of its headers and body) and takes its length from what arrived. Nothing
/// else can give it a length, so [`Script::into_scenario`] (and [`Scenario::parse`], what
/// `rstlab run` reads) refuses it with its place.
///
/// ```
/// use rstlab::scenario::Script;
/// let script = Script::parse("client write request\nserver read 65536; server close").unwrap();
/// assert_eq!(script.requests(), [0]);
/// assert_eq!((script.spans()[2].line, script.spans()[2].column), (2, 20));
/// assert_eq!(script.written(0), "client write request");
/// let refused = script.into_scenario().unwrap_err();
/// assert_eq!((refused.line, refused.column), (1, 14));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The steps, each request as a write of one byte (its least length).
    pub(super) shape: Scenario,
    /// Where each step is in the text; empty for a script made from a [`Scenario`].
    pub(super) spans: Vec<Span>,
    /// The 0-based indexes of the `client write request` steps, in order, with the column of
    /// the word `request`.
    pub(super) requests: Vec<(usize, usize)>,
}

/// The word that stands for the client's request's length in `client write request`.
pub const REQUEST: &str = "request";

impl Script {
    /// Parses the text form, `client write request` included.
    pub fn parse(text: &str) -> Result<Script, ParseError> {
        parse(text)
    }

    /// The steps, with each `client write request` as `client write 1` (the least length a
    /// request has): for what does not depend on byte counts (who acts, in which order, what
    /// the peer can play). The oracle needs the real counts: ask it about
    /// [`Script::with_lengths`] once they are known.
    pub fn shape(&self) -> &Scenario {
        &self.shape
    }

    /// Where each step is in the text, one per step; empty when the script was not parsed.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Where step `index` (0-based) is in the text.
    pub fn span(&self, index: usize) -> Option<&Span> {
        self.spans.get(index)
    }

    /// The 0-based indexes of the `client write request` steps, in order.
    pub fn requests(&self) -> Vec<usize> {
        self.requests.iter().map(|&(i, _)| i).collect()
    }

    /// Whether step `index` (0-based) is a `client write request`.
    pub fn is_request(&self, index: usize) -> bool {
        self.requests.iter().any(|&(i, _)| i == index)
    }

    /// The scenario with the requests' lengths: `lengths[k]` for the k-th request, its least
    /// length (1) for those not given. Checked against the language's bounds again.
    pub fn with_lengths(&self, lengths: &[usize]) -> Result<Scenario, InvalidStep> {
        let mut steps = self.shape.steps().to_vec();
        for (&(i, _), &n) in self.requests.iter().zip(lengths) {
            steps[i].op = Op::Write(n);
        }
        Scenario::new(steps)
    }

    /// The scenario, when no step is a request; else the error of `rstlab run`'s parser: the
    /// oracle cannot predict a write whose length nobody gives.
    pub fn into_scenario(self) -> Result<Scenario, ParseError> {
        match self.requests.first() {
            None => Ok(self.shape),
            Some(&(i, column)) => Err(ParseError {
                line: self.spans.get(i).map_or(1, |s| s.line),
                column,
                message: format!(
                    "`client write {REQUEST}` has no byte count, and the oracle needs one: only the peer (`rstlab serve`, `rstlab exec`, `rstlab::peer`) plays it, counting the bytes that arrive; here give the count (`client write 68`)"
                ),
            }),
        }
    }

    /// Step `index` (0-based) as written, without its `=>` expectation: `client write request`
    /// for a request.
    pub fn written(&self, index: usize) -> String {
        let Some(step) = self.shape.steps().get(index) else {
            return String::new();
        };
        if self.is_request(index) {
            format!("{} write {REQUEST}", step.who)
        } else {
            format!("{} {}", step.who, step.op)
        }
    }

    /// The script on one line, steps separated by `; `.
    pub fn to_inline(&self) -> String {
        self.lines().collect::<Vec<_>>().join("; ")
    }

    /// Each step as written, with its expectation.
    fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.shape.steps().iter().enumerate().map(|(i, step)| {
            let mut line = self.written(i);
            if let Some(expect) = &step.expect {
                line += &format!(" => {expect}");
            }
            line
        })
    }
}

impl fmt::Display for Script {
    /// One step per line, each ending in a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

impl From<Scenario> for Script {
    /// A script without places or requests.
    fn from(shape: Scenario) -> Script {
        Script {
            shape,
            spans: Vec::new(),
            requests: Vec::new(),
        }
    }
}
