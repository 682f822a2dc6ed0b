//! The value parser of the count flags (`--cases` of `explore` and `kernels`): a whole number,
//! at least 1, with a message that says which of the three a value is not.

/// A count of cases, at least 1.
pub fn cases(text: &str) -> Result<u64, String> {
    if text.starts_with('-') {
        return Err(format!(
            "a number of cases cannot be negative, found {}: give at least 1",
            rstlab::scenario::quote(text)
        ));
    }
    match text.parse::<u64>() {
        Ok(0) => Err("0 cases is nothing to explore: give at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "expected a number of cases (a whole number, at least 1), found {}",
            rstlab::scenario::quote(text)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_a_whole_number_of_at_least_one() {
        assert!(cases("0").unwrap_err().contains("at least 1"));
        assert!(cases("-1").unwrap_err().contains("cannot be negative"));
        assert!(cases("x").unwrap_err().contains("whole number"));
        assert_eq!(cases("7"), Ok(7));
    }
}
