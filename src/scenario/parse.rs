//! The text form: the lexer and the parser, which records where each step is, and the one
//! duration syntax.

use super::*;

/// A scenario text that does not parse, with where and why.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

/// A word of the input, the column it starts at and its byte offset in its line.
#[derive(Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    column: usize,
    byte: usize,
}

pub(super) fn parse(text: &str) -> Result<Script, ParseError> {
    let mut steps = Vec::new();
    let mut spans = Vec::new();
    let mut requests = Vec::new();
    let mut line_start = 0;
    for (line_index, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line_no = line_index + 1;
        let code = line.split('#').next().unwrap_or("");
        let mut start = 0;
        for segment in code.split(';') {
            let end = start + segment.len();
            let tokens = tokenize(code, start, end);
            start = end + 1;
            let (Some(first), Some(last)) = (tokens.first(), tokens.last()) else {
                continue;
            };
            let end_column = char_column(code, end);
            let (step, request) =
                parse_step(&tokens, end_column).map_err(|(column, message)| ParseError {
                    line: line_no,
                    column,
                    message,
                })?;
            if let Some(column) = request {
                requests.push((steps.len(), column));
            }
            spans.push(Span {
                line: line_no,
                column: first.column,
                bytes: line_start + first.byte..line_start + last.byte + last.text.len(),
            });
            steps.push(step);
        }
        line_start += raw.len();
    }
    let shape = Scenario::new(steps).map_err(|e| {
        let span = &spans[e.step - 1];
        ParseError {
            line: span.line,
            column: span.column,
            message: e.invalid.to_string(),
        }
    })?;
    Ok(Script {
        shape,
        spans,
        requests,
    })
}

/// The 1-based character column of byte offset `byte` in `line`.
fn char_column(line: &str, byte: usize) -> usize {
    line.get(..byte.min(line.len()))
        .map_or(byte, |prefix| prefix.chars().count())
        + 1
}

/// Splits `line[start..end]` into whitespace-separated words, with their columns in `line`.
fn tokenize(line: &str, start: usize, end: usize) -> Vec<Token<'_>> {
    let segment = &line[start..end];
    let mut tokens = Vec::new();
    let mut word_start = None;
    for (i, c) in segment.char_indices().chain([(segment.len(), ' ')]) {
        match (c.is_whitespace(), word_start) {
            (true, Some(s)) => {
                tokens.push(Token {
                    text: &segment[s..i],
                    column: char_column(line, start + s),
                    byte: start + s,
                });
                word_start = None;
            }
            (false, None) => word_start = Some(i),
            _ => {}
        }
    }
    tokens
}

type StepError = (usize, String);

/// One step, and the column of the word `request` when it is `client write request`.
fn parse_step(tokens: &[Token<'_>], end_column: usize) -> Result<(Step, Option<usize>), StepError> {
    let mut cursor = Cursor {
        tokens,
        next: 0,
        end_column,
    };
    const ACTORS: &str = "an actor (`client`, `server` or `link`)";
    let actor = match cursor.word(ACTORS)? {
        t if t.text == "client" => Who::Client,
        t if t.text == "server" => Who::Server,
        t if t.text == "link" => Who::Link,
        t => return Err(unexpected(t, ACTORS)),
    };
    let names: Vec<&str> = OpKind::for_actor(actor).map(OpKind::name).collect();
    let expected = format!(
        "{} ({})",
        if actor == Who::Link {
            "a link op"
        } else {
            "an op"
        },
        one_of(&names)
    );
    let op_token = cursor.word(&expected)?;
    let Some(kind) = OpKind::for_actor(actor).find(|k| k.name() == op_token.text) else {
        return Err(unexpected(op_token, &expected));
    };
    let mut request = None;
    let arg = match kind.param() {
        Param::None => Arg::None,
        Param::Count if actor == Who::Client && kind == OpKind::Write => {
            if let Some(word) = cursor.peek().filter(|t| t.text == REQUEST) {
                cursor.next += 1;
                request = Some(word.column);
                // Its least length, until the peer sees what arrives.
                Arg::Count(1)
            } else {
                Arg::Count(cursor.count(&format!(
                    "a byte count (a whole number, at least 1) or `{REQUEST}` (the client's request, whatever its length)"
                ))?)
            }
        }
        Param::Count => Arg::Count(cursor.count(if kind == OpKind::Write {
            "a byte count (a whole number, at least 1; `request` is for `client write` only)"
        } else {
            COUNT
        })?),
        Param::How => {
            let expected = one_of(&["read", "write", "both"]);
            let word = cursor.word(&expected)?;
            match How::ALL.into_iter().find(|h| h.as_str() == word.text) {
                Some(how) => Arg::How(how),
                None => return Err(unexpected(word, &expected)),
            }
        }
        Param::Duration(_) => Arg::Duration(cursor.duration()?),
        Param::Setting => Arg::Setting(cursor.setting()?),
    };
    let Some(op) = kind.with(arg) else {
        unreachable!("the argument is parsed by the op's own parameter")
    };
    if let Err(invalid) = op.check_bounds() {
        let at = cursor.tokens[cursor.next - 1].column;
        return Err((at, invalid.to_string()));
    }
    let step = finish_step(actor, op, cursor, tokens, end_column, request.is_some())?;
    Ok((step, request))
}

const COUNT: &str = "a byte count (a whole number, at least 1)";

/// `a`, `` `a` or `b` ``, `` `a`, `b` or `c` ``: words for an error message.
fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The optional `=> outcome` after an op, and its shape check.
fn finish_step(
    who: Who,
    op: Op,
    mut cursor: Cursor<'_, '_>,
    tokens: &[Token<'_>],
    end_column: usize,
    request: bool,
) -> Result<Step, StepError> {
    let mut expect = None;
    if let Some(arrow) = cursor.peek() {
        if arrow.text != "=>" {
            return Err(unexpected(arrow, "`=>` or the end of the step"));
        }
        cursor.next += 1;
        let outcome = cursor.word(OUTCOMES)?;
        expect = Some(parse_outcome(outcome)?);
        if let Some(extra) = cursor.peek() {
            return Err(unexpected(extra, "the end of the step"));
        }
    }
    let step = Step { who, op, expect };
    let at = tokens.last().map_or(end_column, |t| t.column);
    // No expectation at all: the request's length, and so its write's result, is known only
    // when it arrives.
    if request && let Some(expect) = &step.expect {
        return Err((
            at,
            format!(
                "`client write {REQUEST}` takes no expectation: the length of the client's request is known only when it arrives, so `=> {expect}` cannot be checked: leave the expectation out, or give the count (`client write 68`)"
            ),
        ));
    }
    // Shape errors of the expectation point at the arrow's outcome, bound errors at the step.
    if let Some(expect) = &step.expect
        && !step.op.can_end_as(expect)
    {
        return Err((
            at,
            Invalid::ImpossibleExpectation {
                op: step.op.clone(),
                expect: expect.clone(),
            }
            .to_string(),
        ));
    }
    Ok(step)
}

const OUTCOMES: &str = "an outcome (`ok`, `ok(N)`, `eof`, an errno name such as `EPIPE`, or poll events such as `IN|OUT` or `none`)";

fn parse_outcome(token: Token<'_>) -> Result<Outcome, StepError> {
    let text = token.text;
    let event_word = |w: &str| PollEvents::NAMED.iter().any(|(_, name)| *name == w);
    if text == "none" || text.contains('|') || event_word(text) {
        return text
            .parse::<PollEvents>()
            .map(Outcome::Ready)
            .map_err(|e| (token.column, e.to_string()));
    }
    if text == "ok" {
        return Ok(Outcome::Ok);
    }
    if text == "eof" {
        return Ok(Outcome::Eof);
    }
    if let Some(inner) = text.strip_prefix("ok(").and_then(|t| t.strip_suffix(')')) {
        return match inner.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Outcome::Bytes(n)),
            _ => Err((
                token.column + 3,
                format!(
                    "expected a byte count of at least 1 inside `ok(...)`, found {}",
                    quote(inner)
                ),
            )),
        };
    }
    if let Some(errno) = Errno::from_name(text) {
        return Ok(Outcome::Err(errno));
    }
    if text.len() > 1 && text.starts_with('E') && text.chars().all(|c| c.is_ascii_uppercase()) {
        let known: Vec<&str> = Errno::KNOWN.iter().filter_map(|e| e.name()).collect();
        return Err((
            token.column,
            format!(
                "unknown errno name {}; known names: {}",
                quote(text),
                known.join(", ")
            ),
        ));
    }
    Err(unexpected(token, OUTCOMES))
}

fn unexpected(token: Token<'_>, expected: &str) -> StepError {
    (
        token.column,
        format!("expected {expected}, found {}", quote(token.text)),
    )
}

/// Parses a duration: a number, then its unit, with nothing between. The number is a whole
/// number or a decimal fraction (`1.5`); the unit is `us` (or `µs`), `ms`, `s`, `m` or `h`, and
/// cannot be left out. The result must be a whole number of microseconds, the finest unit.
/// This is the one duration syntax of rstlab: `sleep D` in a scenario and every duration flag
/// of the command line (`explore --time`, `serve --timeout`, `exec --delay`, …) read it here.
/// A duration cannot be negative: `-30ms` is refused as such.
///
/// ```
/// use std::time::Duration;
/// use rstlab::scenario::parse_duration;
/// assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert!(parse_duration("3").unwrap_err().contains("with its unit"));
/// assert!(parse_duration("0.5us").unwrap_err().contains("microsecond"));
/// assert!(parse_duration("-30ms").unwrap_err().contains("cannot be negative"));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "a duration (a number and a unit: `250us`, `5ms`, `1.5s`, `2m`, `1h`)";
    if text.starts_with('-') {
        return Err(format!(
            "a duration cannot be negative, found {}: give 0 or more, such as `30ms`",
            quote(text)
        ));
    }
    let number_len = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (number.contains('.') && !digits(fraction)) {
        return Err(format!("expected {EXPECTED}, found {}", quote(text)));
    }
    let nanos_per_unit: u128 = match unit {
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => {
            return Err(format!(
                "expected a duration with its unit, found {}: add one of us, ms, s, m or h (`{}s`)",
                quote(text),
                if number.len() <= QUOTED_CHARS {
                    number
                } else {
                    "5"
                }
            ));
        }
        _ => {
            return Err(format!(
                "unknown unit {} in the duration {}: use us, ms, s, m or h",
                quote(unit),
                quote(text)
            ));
        }
    };
    let too_large = || format!("the duration {} is too large", quote(text));
    // Exact decimal arithmetic in nanoseconds: no float rounding, so `0.1s` is 100ms exactly.
    let fraction = fraction.trim_end_matches('0');
    if whole.len() > 24 || fraction.len() > 24 {
        return Err(too_large());
    }
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_large())?
    };
    let fraction_nanos = fraction.checked_mul(nanos_per_unit).ok_or_else(too_large)?;
    let nanos = whole
        .checked_mul(nanos_per_unit)
        .and_then(|n| n.checked_add(fraction_nanos / scale))
        .ok_or_else(too_large)?;
    if fraction_nanos % scale != 0 || nanos % 1_000 != 0 {
        return Err(format!(
            "the duration {} is finer than a microsecond, the finest unit",
            quote(text)
        ));
    }
    let seconds = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_large())?;
    Ok(Duration::new(seconds, (nanos % 1_000_000_000) as u32))
}

struct Cursor<'t, 'a> {
    tokens: &'t [Token<'a>],
    next: usize,
    end_column: usize,
}

impl<'a> Cursor<'_, 'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).copied()
    }

    fn word(&mut self, expected: &str) -> Result<Token<'a>, StepError> {
        match self.peek() {
            Some(t) if t.text != "=>" => {
                self.next += 1;
                Ok(t)
            }
            Some(t) => Err(unexpected(t, expected)),
            None => Err((
                self.end_column,
                format!("expected {expected}, found the end of the step"),
            )),
        }
    }

    /// `user-timeout D` or `keepalive IDLE INTERVAL COUNT`, after `set`.
    fn setting(&mut self) -> Result<Setting, StepError> {
        let expected = format!("a socket option ({})", one_of(&Setting::NAMES));
        let word = self.word(&expected)?;
        match word.text {
            "user-timeout" => Ok(Setting::UserTimeout(self.duration()?)),
            "keepalive" => {
                let idle = self.duration()?;
                let interval = self.duration()?;
                const COUNT: &str = "keepalive's COUNT (a whole number of probes, 1 to 127)";
                let token = self.word(COUNT)?;
                let count = token
                    .text
                    .parse::<u32>()
                    .map_err(|_| unexpected(token, COUNT))?;
                Ok(Setting::Keepalive {
                    idle,
                    interval,
                    count,
                })
            }
            _ => Err(unexpected(word, &expected)),
        }
    }

    fn count(&mut self, expected: &str) -> Result<usize, StepError> {
        let token = self.word(expected)?;
        token.text.parse().map_err(|e: std::num::ParseIntError| {
            // All digits, but past what a number can hold: it is a whole number, only too large.
            if *e.kind() == std::num::IntErrorKind::PosOverflow {
                (
                    token.column,
                    format!(
                        "{} is too large: {} bytes is the bound per step",
                        quote(token.text),
                        super::bounds::MAX_IO
                    ),
                )
            } else {
                unexpected(token, expected)
            }
        })
    }

    fn duration(&mut self) -> Result<Duration, StepError> {
        let token = self.word("a duration such as `250us`, `5ms` or `1.5s`")?;
        parse_duration(token.text).map_err(|e| (token.column, e))
    }
}
