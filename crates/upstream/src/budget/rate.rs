//! The manifest's `rate = "30/min"`: tokens per period.
//!
//! Operators copy rates from an upstream's pricing page ("30 calls a
//! minute"), so the syntax says exactly that rather than asking for a
//! per-second float that would round a quota up or down.

use std::fmt;
use std::time::Duration;

use super::BudgetError;

/// Most tokens a rate may name per period: far above any upstream's quota,
/// low enough that the arithmetic (and the Lua script's doubles) stay exact.
const MAX_TOKENS: u32 = 1_000_000;

/// `tokens` calls per `period`; always at least one token per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    tokens: u32,
    period: Duration,
}

impl Rate {
    /// Parses `N/unit`: `s`, `sec`, `second`, `min`, `minute`, `h`, `hour`
    /// (plurals too); `N` is a positive whole number.
    pub fn parse(text: &str) -> Result<Self, BudgetError> {
        let bad = || BudgetError::BadRate(text.to_string());
        let (count, unit) = text.split_once('/').ok_or_else(bad)?;
        let tokens: u32 = count.trim().parse().map_err(|_| bad())?;
        let unit = unit.trim().to_ascii_lowercase();
        let period = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(1),
            "min" | "mins" | "minute" | "minutes" => Duration::from_secs(60),
            "h" | "hr" | "hrs" | "hour" | "hours" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        if tokens == 0 {
            return Err(BudgetError::ZeroRate(text.to_string()));
        }
        if tokens > MAX_TOKENS {
            return Err(BudgetError::BadRate(text.to_string()));
        }
        Ok(Self { tokens, period })
    }

    /// Tokens added per period (the `N` of `N/unit`).
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// The period, in whole milliseconds.
    pub fn period_ms(&self) -> u64 {
        self.period.as_millis() as u64
    }

    /// Tokens added per millisecond.
    pub(crate) fn per_ms(&self) -> f64 {
        f64::from(self.tokens) / self.period_ms() as f64
    }
}

/// As written in the manifest's canonical form: `30/min`.
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_spelling_names_its_period() {
        for (text, tokens, secs) in [
            ("5/s", 5, 1),
            ("5/sec", 5, 1),
            ("5/second", 5, 1),
            ("30/min", 30, 60),
            ("30/minute", 30, 60),
            ("30/minutes", 30, 60),
            (" 30 / MIN ", 30, 60),
            ("1000/h", 1000, 3600),
            ("1000/hour", 1000, 3600),
        ] {
            let rate = Rate::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(rate.tokens(), tokens, "{text}");
            assert_eq!(rate.period_ms(), secs * 1000, "{text}");
        }
    }

    #[test]
    fn a_zero_rate_is_its_own_error() {
        assert_eq!(
            Rate::parse("0/min"),
            Err(BudgetError::ZeroRate("0/min".into()))
        );
    }

    #[test]
    fn malformed_rates_are_refused() {
        for bad in [
            "",
            "30",
            "30/",
            "/min",
            "x/min",
            "-1/min",
            "1.5/s",
            "30/day",
            "30/ms",
            "30/ss",
            "30/min/s",
            "2000000/s",
        ] {
            assert!(
                matches!(Rate::parse(bad), Err(BudgetError::BadRate(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_canonical_form_round_trips() {
        for text in ["5/s", "30/min", "100/h"] {
            assert_eq!(Rate::parse(text).expect(text).to_string(), text);
        }
    }
}
