//! The stamp of stored evidence (the book, the runtimes' results): the kernel it ran on and the
//! day, the only parts of a book that differ between two runs on one machine.

use std::time::{SystemTime, UNIX_EPOCH};

/// The kernel release and the date of the run.
pub struct Stamp {
    /// The kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
}

impl Stamp {
    /// The running kernel, today.
    pub fn now() -> Stamp {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string());
        let days = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        Stamp {
            kernel,
            date: civil_date(days as i64),
        }
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_416), "2025-11-24");
    }
}
