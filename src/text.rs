//! Text shown back to people: what the user wrote, quoted in an error message and never long
//! ([`quote`]); a Markdown heading's anchor ([`anchor`]); a link time in milliseconds
//! ([`millis`]); a typed reason as its sentence in JSON ([`serialize_display`]).

/// The longest piece of a token that an error message shows.
pub(crate) const QUOTED_CHARS: usize = 32;

/// `text` quoted for an error message, as Rust's `{:?}` would, but never long: past
/// 32 characters, only the first 32 and the whole length in bytes. A 10 MB token gives
/// a one-line error, not 10 MB of it.
///
/// ```
/// use rstlab::text::quote;
/// assert_eq!(quote("bob"), "\"bob\"");
/// assert_eq!(quote(&"x".repeat(1000)), format!("\"{}\"… (1000 bytes)", "x".repeat(32)));
/// ```
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &text[..cut], text.len()),
    }
}

/// The anchor of a Markdown heading, as GitHub makes it: lower case, punctuation dropped, spaces
/// as hyphens. The rules book links its sections with it; the README links the book's
/// questions.
///
/// ```
/// assert_eq!(rstlab::text::anchor("Why EPIPE here and ECONNRESET there?"), "why-epipe-here-and-econnreset-there");
/// ```
pub fn anchor(title: &str) -> String {
    title
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// A link time in milliseconds, to the microsecond: whole milliseconds bare, others with three
/// decimals, as the timeline and the captures show times.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(rstlab::text::millis(Duration::from_millis(20)), "20ms");
/// assert_eq!(rstlab::text::millis(Duration::from_nanos(161_871_149)), "161.871ms");
/// ```
pub fn millis(t: std::time::Duration) -> String {
    let us = t.as_micros();
    if us % 1000 == 0 {
        format!("{}ms", us / 1000)
    } else {
        format!("{:.3}ms", us as f64 / 1000.0)
    }
}

/// Serializes a value as its `Display` text (serde's `serialize_with`): a typed reason that
/// JSON shows as the sentence a person reads.
pub fn serialize_display<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
