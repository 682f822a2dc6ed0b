//! The value parsers of the duration flags, for every command: the language's syntax
//! (`rstlab::scenario::parse_duration`: `250us`, `20ms`, `1.5s`, `2m`, `1h`), each with its
//! bounds. The flags that take them also take values that begin with `-` (`allow_hyphen_values`),
//! so that `--delay -30ms` reaches the parser, which says that durations cannot be negative,
//! instead of clap's tip to write `-- -30ms`.

use std::time::Duration;

use rstlab::scenario::{bounds::MAX_DELAY, parse_duration};

/// Any duration, 0 included.
pub fn any(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// A duration longer than 0: a timeout or a deadline.
pub fn positive(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(format!(
            "a duration longer than 0 (such as `500ms` or `5s`), not {}",
            rstlab::scenario::quote(text)
        ));
    }
    Ok(d)
}

/// A one-way delay of the link, from 0 to the language's bound for `link delay`.
pub fn delay(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d > MAX_DELAY {
        return Err(format!(
            "a delay of at most {} ms (the language's bound for `link delay`)",
            MAX_DELAY.as_millis()
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_keeps_its_bounds_and_the_one_syntax() {
        assert_eq!(delay("20ms"), Ok(Duration::from_millis(20)));
        assert!(delay("101ms").unwrap_err().contains("at most 100 ms"));
        assert!(delay("20").is_err());
        assert!(positive("0s").unwrap_err().contains("longer than 0"));
        assert_eq!(positive("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(any("0s"), Ok(Duration::ZERO));
        for text in ["-30ms", "-1s"] {
            for parse in [any, positive, delay] {
                assert!(
                    parse(text).unwrap_err().contains("cannot be negative"),
                    "{text}"
                );
            }
        }
    }
}
