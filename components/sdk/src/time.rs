//! UTC calendar conversions without a date crate.
//!
//! Guests only need to show and parse UTC timestamps; pulling in a full date
//! library (and its time-zone data) for that would dwarf the components.

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// A broken-down UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

impl DateTime {
    /// Splits microseconds since the Unix epoch (negative values are before
    /// 1970).
    pub fn from_unix_micros(micros: i64) -> Self {
        let secs = micros.div_euclid(MICROS_PER_SEC);
        let sub = micros.rem_euclid(MICROS_PER_SEC) as u32;
        let days = secs.div_euclid(SECS_PER_DAY);
        let of_day = secs.rem_euclid(SECS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: (of_day / 3600) as u32,
            minute: (of_day / 60 % 60) as u32,
            second: (of_day % 60) as u32,
            micros: sub,
        }
    }

    pub fn from_unix_secs(secs: i64) -> Self {
        Self::from_unix_micros(secs.saturating_mul(MICROS_PER_SEC))
    }

    /// `2024-03-01T12:30:00Z` (seconds precision).
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2024-03-01 12:30 UTC`, for people.
    pub fn display_minutes(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }

    /// `2024-03-01`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// English month name, for long-form dates in pages.
    pub fn month_name(&self) -> &'static str {
        const NAMES: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        NAMES
            .get(self.month.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("?")
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01, the inverse of
/// [`civil_from_days`].
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD[T| ]HH:MM:SS[.ffffff][Z|±HH:MM]` (no offset means UTC)
/// into microseconds since the epoch; `None` for anything else.
pub fn parse_datetime_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }

    let mut rest = &text[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in frac.bytes().take(digits).enumerate() {
            if i < 6 {
                micros = micros * 10 + i64::from(c - b'0');
            }
        }
        for _ in digits..6 {
            micros *= 10;
        }
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest
                .get(1..)?
                .split_once(':')
                .unwrap_or((rest.get(1..3)?, rest.get(3..)?));
            let parse = |s: &str| -> Option<i64> {
                (s.len() == 2 && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
            };
            sign * (parse(h)? * 3600 + parse(m)? * 60)
        }
    };

    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * MICROS_PER_SEC + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(
            DateTime::from_unix_micros(0).rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        // 2024-02-29 is a leap day.
        assert_eq!(
            DateTime::from_unix_secs(1_709_210_096).rfc3339(),
            "2024-02-29T12:34:56Z"
        );
        assert_eq!(
            DateTime::from_unix_micros(-1).rfc3339(),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn civil_round_trips() {
        for days in [-800_000, -1, 0, 59, 60, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn parses_sqlite_and_rfc3339_text() {
        assert_eq!(parse_datetime_micros("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_datetime_micros("2024-02-29T12:34:56.5Z"),
            Some(1_709_210_096_500_000)
        );
        assert_eq!(
            parse_datetime_micros("2024-02-29T14:34:56+02:00"),
            Some(1_709_210_096_000_000)
        );
        assert_eq!(parse_datetime_micros("2024-02-29"), None);
        assert_eq!(parse_datetime_micros("2024-13-01 00:00:00"), None);
        assert_eq!(parse_datetime_micros("2024-01-01 00:00:00 junk"), None);
    }

    #[test]
    fn display_forms() {
        let t = DateTime::from_unix_secs(1_709_210_096);
        assert_eq!(t.display_minutes(), "2024-02-29 12:34 UTC");
        assert_eq!(t.date(), "2024-02-29");
        assert_eq!(t.month_name(), "February");
    }
}
