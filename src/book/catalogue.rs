//! Reading a book back: the rules it states ([`catalogue_in`], held to [`catalogue`] by a test),
//! and the book with what differs between two runs on one machine hidden ([`mask_volatile`]).

use crate::rules::Rule;

/// A rule as the book states it: what a test compares between the catalogue and the book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleEntry {
    /// The stable id.
    pub id: String,
    /// The one-line statement.
    pub statement: String,
    /// The mechanism and its source.
    pub mechanism: String,
    /// The canonical scenario, as in `scenarios/<id>.scenario` (trimmed).
    pub scenario: String,
}

/// The catalogue's rules, as a book must state them.
pub fn catalogue() -> Vec<RuleEntry> {
    Rule::ALL
        .iter()
        .map(|r| RuleEntry {
            id: r.id().to_string(),
            statement: r.statement().to_string(),
            mechanism: r.mechanism().to_string(),
            scenario: r.canonical().trim().to_string(),
        })
        .collect()
}

/// The rules a book states, in its order: every `### id` section under `## Rules`.
///
/// ```
/// let book = "## Rules\n\n### a-rule\n\n> Says this.\n\n**Mechanism.** That.\n\n\
///             **Canonical scenario**:\n\n```text\nserver close\n```\n\n## After\n";
/// let rules = rstlab::book::catalogue_in(book);
/// assert_eq!(rules.len(), 1);
/// assert_eq!((rules[0].id.as_str(), rules[0].scenario.as_str()), ("a-rule", "server close"));
/// ```
pub fn catalogue_in(markdown: &str) -> Vec<RuleEntry> {
    let start = if markdown.starts_with("## Rules\n") {
        0
    } else {
        match markdown.find("\n## Rules\n") {
            Some(at) => at + 1,
            None => return Vec::new(),
        }
    };
    let rest = &markdown[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end]
        .split("\n### ")
        .skip(1)
        .map(|section| {
            let id = section.lines().next().unwrap_or("").trim().to_string();
            let statement = section
                .lines()
                .find_map(|l| l.strip_prefix("> "))
                .unwrap_or("")
                .to_string();
            let mechanism = section
                .lines()
                .find_map(|l| l.strip_prefix("**Mechanism.** "))
                .unwrap_or("")
                .to_string();
            let scenario = section
                .find("**Canonical scenario**")
                .and_then(|at| {
                    let after = &section[at..];
                    let open = after.find("```text\n")? + "```text\n".len();
                    let close = after[open..].find("\n```")?;
                    Some(after[open..open + close].trim().to_string())
                })
                .unwrap_or_default();
            RuleEntry {
                id,
                statement,
                mechanism,
                scenario,
            }
        })
        .collect()
}

/// The book with what differs between two runs on one machine hidden, and nothing else: the
/// kernel release and the date of the run, which the book states as "Linux `RELEASE`, DATE".
/// Every count stays: the same catalogue, options and kernel give the same runs, so two books
/// that differ in any number (`ok(1)` against `ok(2)`, 5 runs against 6) differ under this mask.
///
/// ```
/// use rstlab::book::mask_volatile;
/// assert_eq!(
///     mask_volatile("on Linux `6.1.0-arch`, 2026-11-25: 17 runs"),
///     mask_volatile("on Linux `6.18.44`, 2027-01-02: 17 runs"),
/// );
/// assert_ne!(mask_volatile("Linux `6.1`, 2026-11-25: `ok(1)`"), mask_volatile("Linux `6.1`, 2026-11-25: `ok(2)`"));
/// ```
pub fn mask_volatile(markdown: &str) -> String {
    const RELEASE: &str = "Linux `";
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(at) = rest.find(RELEASE) {
        let (before, after) = rest.split_at(at + RELEASE.len());
        out.push_str(before);
        let Some(end) = after.find('`') else {
            rest = after;
            break;
        };
        out.push_str("#`");
        rest = &after[end + 1..];
        // The date follows the release: ", YYYY-MM-DD".
        if let Some(date) = rest.strip_prefix(", ")
            && is_date(date)
        {
            out.push_str(", ####-##-##");
            rest = &date[10..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether `text` starts with a date, `YYYY-MM-DD`.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_the_release_and_the_date_only() {
        assert_eq!(
            mask_volatile("on Linux `6.1`, 2026-11-30: 12 of 345 runs, `ok(1)`"),
            "on Linux `#`, ####-##-##: 12 of 345 runs, `ok(1)`"
        );
        assert_eq!(
            mask_volatile("no kernel here, 2026-11-30"),
            "no kernel here, 2026-11-30"
        );
        // A release without a date after it keeps what follows.
        assert_eq!(mask_volatile("Linux `6.1`: 3"), "Linux `#`: 3");
        assert_eq!(mask_volatile("Linux `unterminated"), "Linux `unterminated");
    }
}
