//! What the peer can play: the steps it refuses before it listens, each with its place.

use std::time::Duration;

use thiserror::Error;

use super::{PeerError, realtime};
use crate::scenario::{End, How, Op, Script, Step, Who};

/// A step the peer cannot play, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{place}`{text}` cannot be played against your program: {reason}", place = self.place())]
pub struct Unplayable {
    /// 1-based step number.
    pub step: usize,
    /// 1-based line and column of the step in the scenario text, when the peer had the text.
    pub position: Option<(usize, usize)>,
    /// Which scenario, 1-based, when the peer was given several.
    pub scenario: Option<usize>,
    /// The step.
    pub text: String,
    /// Why.
    pub reason: String,
}

impl Unplayable {
    fn place(&self) -> String {
        let which = self
            .scenario
            .map_or(String::new(), |n| format!("scenario {n}, "));
        match self.position {
            Some((line, column)) => format!("{which}line {line}, column {column}: "),
            None => format!("{which}step {}: ", self.step),
        }
    }
}

/// Why the peer cannot play `step`, if it cannot; `on_link`: the peer is on the real-time
/// link, where `link` steps are played.
fn unplayable_reason(step: &Step, on_link: bool) -> Option<String> {
    // Every actor and op is named (no catch-all): an op or actor the language gains does not
    // compile here until it is decided whether the peer plays it.
    match (step.who, &step.op) {
        (Who::Link, Op::Link(_)) if on_link => None,
        (Who::Link, Op::Link(_)) => Some(
            "a `link` step needs the emulated link, and this peer listens on loopback: `rstlab exec` plays it"
                .to_string(),
        ),
        (Who::Client, Op::Read(_)) => Some(
            "a read takes bytes out of your program's own receive queue and sends nothing, so the peer cannot see it happen"
                .to_string(),
        ),
        (Who::Client, Op::Shutdown(How::Read)) => Some(
            "shutdown(SHUT_RD) sends nothing, so the peer cannot see it happen".to_string(),
        ),
        (
            Who::Client | Who::Server,
            Op::Write(_) | Op::Close | Op::Abort | Op::Shutdown(_) | Op::Sleep(_),
        ) => None,
        (Who::Server, Op::Read(_)) => None,
        (Who::Client, Op::Set(_)) => Some(
            "setting a socket option on your program's socket sends nothing, so the peer cannot see it happen"
                .to_string(),
        ),
        (Who::Server, Op::Set(_)) => None,
        (Who::Client | Who::Server, Op::Reboot) => Some(
            "a reboot makes a host forget its socket (TCP_REPAIR, then close), and the peer does not play it yet: run the scenario with `rstlab run`"
                .to_string(),
        ),
        // Ops the peer has no call or observation for, and pairs the language refuses.
        (Who::Client | Who::Server, Op::Poll | Op::Error | Op::Link(_))
        | (
            Who::Link,
            Op::Write(_)
            | Op::Read(_)
            | Op::Close
            | Op::Abort
            | Op::Reboot
            | Op::Shutdown(_)
            | Op::Sleep(_)
            | Op::Poll
            | Op::Error
            | Op::Set(_),
        ) => Some(format!(
            "the peer plays `server` steps and observes `client` steps; `{} {}` is neither",
            step.who, step.op
        )),
    }
}

/// Checks that the peer can play every step of `script`.
///
/// ```
/// use rstlab::peer;
/// use rstlab::scenario::Script;
/// let s = Script::parse("client write 1; server close; client read 1").unwrap();
/// let refused = peer::check_playable(&s).unwrap_err();
/// assert_eq!(refused.step, 3);
/// assert_eq!(refused.position, Some((1, 31)));
/// assert!(refused.reason.contains("sends nothing"));
/// ```
pub fn check_playable(script: &Script) -> Result<(), Unplayable> {
    check(script, None)
}

/// Checks that the peer can play every step of `script` on the real-time link, whose delay
/// before the first step is `delay`. Besides what [`check_playable`] refuses (but `link` steps),
/// it refuses what makes no sense when time is real: a `client` step while the link holds
/// segments or is cut (the peer sees a step when it arrives, and nothing arrives), and a
/// `link drop` with no delay in force and nothing held (what it catches would be a matter of
/// microseconds).
///
/// ```
/// use std::time::Duration;
/// use rstlab::peer;
/// use rstlab::scenario::Script;
/// let s = Script::parse("client write 1; link hold; server close; link drop").unwrap();
/// assert!(peer::check_playable(&s).is_err()); // no link
/// assert!(peer::check_playable_on_link(&s, Duration::ZERO).is_ok());
/// let s = Script::parse("link hold; client write 1").unwrap();
/// let refused = peer::check_playable_on_link(&s, Duration::from_millis(20)).unwrap_err();
/// assert_eq!(refused.step, 2);
/// ```
pub fn check_playable_on_link(script: &Script, delay: Duration) -> Result<(), Unplayable> {
    check(script, Some(delay))
}

/// Why the peer cannot count the request of step `index` of `script`: its socket is closed
/// by then.
fn uncountable_request(script: &Script, index: usize) -> Option<String> {
    let steps = script.shape().steps();
    let (at, ended) = steps[..index]
        .iter()
        .enumerate()
        .find(|(_, s)| s.who == End::Server && s.op.ends_socket())?;
    Some(format!(
        "after `{ended}` (step {}) the peer's socket is gone, and nothing on its side counts the bytes that arrive (the closed socket answers the first segment with RST), so the request's length could not be known; give the count here (`client write 68`)",
        at + 1
    ))
}

/// [`check_playable`], or [`check_playable_on_link`] with the link's delay.
fn check(script: &Script, link: Option<Duration>) -> Result<(), Unplayable> {
    let refused = |i: usize, reason: String| Unplayable {
        step: i + 1,
        position: script.span(i).map(|s| (s.line, s.column)),
        scenario: None,
        text: script.written(i),
        reason,
    };
    let scenario = script.shape();
    for (i, step) in scenario.steps().iter().enumerate() {
        if let Some(reason) = unplayable_reason(step, link.is_some()) {
            return Err(refused(i, reason));
        }
        if script.is_request(i)
            && let Some(reason) = uncountable_request(script, i)
        {
            return Err(refused(i, reason));
        }
    }
    if let Some(delay) = link
        && let Some((i, reason)) = realtime::refusal(scenario, delay)
    {
        return Err(refused(i, reason));
    }
    Ok(())
}

/// Parses `text` and checks that the peer can play it; a refusal names the step's line and
/// column in `text`.
///
/// ```
/// use rstlab::peer::{self, PeerError};
/// let err = peer::parse("client write 1\nserver close\n  client read 1").unwrap_err();
/// let PeerError::Unplayable(refused) = err else { panic!("{err}") };
/// assert_eq!(refused.position, Some((3, 3)));
/// ```
pub fn parse(text: &str) -> Result<Script, PeerError> {
    parse_for(text, None)
}

/// Parses `text` and checks that the peer can play it on the real-time link, whose delay before
/// the first step is `delay` ([`check_playable_on_link`]); a refusal names the step's line and
/// column in `text`.
///
/// ```
/// use std::time::Duration;
/// use rstlab::peer::{self, PeerError};
/// let err = peer::parse_on_link("server write 1\nlink drop", Duration::ZERO).unwrap_err();
/// let PeerError::Unplayable(refused) = err else { panic!("{err}") };
/// assert_eq!(refused.position, Some((2, 1)));
/// ```
pub fn parse_on_link(text: &str, delay: Duration) -> Result<Script, PeerError> {
    parse_for(text, Some(delay))
}

fn parse_for(text: &str, link: Option<Duration>) -> Result<Script, PeerError> {
    let script = Script::parse(text)?;
    check(&script, link)?;
    Ok(script)
}

/// Checks every script once, before the peer listens or plays; a refusal names the script
/// (1-based) when there are several.
pub(super) fn check_all(scripts: &[Script], link: Option<Duration>) -> Result<(), PeerError> {
    if scripts.is_empty() {
        return Err(PeerError::NoScenario);
    }
    let many = scripts.len() > 1;
    for (i, s) in scripts.iter().enumerate() {
        check(s, link).map_err(|mut refused| {
            if many {
                refused.scenario = Some(i + 1);
            }
            refused
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_reads_and_read_shutdowns_are_refused_with_their_place() {
        let e = parse("client write 1; server close; client read 1").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 1, column 31: `client read 1` cannot be played"),
            "{e}"
        );
        let e = parse("client shutdown read").unwrap_err();
        assert!(e.to_string().contains("SHUT_RD"), "{e}");
        assert!(parse("server read 1; server shutdown read; client shutdown both").is_ok());
    }

    #[test]
    fn a_bad_scenario_is_a_parse_error() {
        let e = parse("client write").unwrap_err();
        assert!(matches!(e, PeerError::Parse(_)), "{e}");
    }
}
