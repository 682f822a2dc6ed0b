//! Text the user wrote, shown back in an error message: quoted, and never long.

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
