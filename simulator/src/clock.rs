//! Time source and timestamp formatting.
//!
//! All market data is a pure function of a whole-second unix timestamp, so
//! the clock is the single place where "now" enters the simulator. Tests and
//! benchmarks that need byte-identical responses can pin it with
//! [`Clock::Fixed`].

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the simulator gets the current time from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// Wall-clock time, truncated to whole seconds so that repeated calls
    /// within the same second see identical prices.
    #[default]
    System,
    /// A frozen unix timestamp (seconds); every request sees the same market.
    Fixed(u64),
}

impl Clock {
    /// Current unix time in whole seconds.
    pub fn now_secs(self) -> u64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                // A clock before 1970 is a broken host, not a request error;
                // fall back to the epoch rather than panicking.
                .unwrap_or(0),
            Clock::Fixed(secs) => secs,
        }
    }
}

/// Formats a unix timestamp as RFC 3339 in UTC, e.g. `2024-05-01T12:00:00.000Z`.
///
/// Hand-rolled (civil-from-days) to avoid a date crate dependency; the format
/// mirrors CoinGecko's `last_updated` field including the millisecond part.
pub fn rfc3339(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Converts days since 1970-01-01 into a proleptic Gregorian `(year, month, day)`.
///
/// Howard Hinnant's algorithm, restricted to non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn formats_leap_day() {
        // 2024-02-29T12:34:56Z
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56.000Z");
    }

    #[test]
    fn fixed_clock_does_not_move() {
        assert_eq!(Clock::Fixed(5).now_secs(), 5);
    }
}
