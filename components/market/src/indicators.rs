//! Technical indicators over a series of closing prices (oldest first).
//!
//! Pure functions with no host access, so they are unit-tested natively.

use std::fmt;

/// The indicators the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indicator {
    Rsi,
    Sma,
    Ema,
}

impl Indicator {
    /// Listed in 400 responses so clients can correct the request.
    pub const SUPPORTED: &'static str = "rsi, sma, ema";

    /// Case-insensitive name lookup.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "rsi" => Some(Indicator::Rsi),
            "sma" => Some(Indicator::Sma),
            "ema" => Some(Indicator::Ema),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Indicator::Rsi => "rsi",
            Indicator::Sma => "sma",
            Indicator::Ema => "ema",
        }
    }

    /// Fewest prices that give a value: RSI needs `period` price changes,
    /// i.e. one more price than the averages do.
    pub fn min_points(self, period: usize) -> usize {
        match self {
            Indicator::Rsi => period + 1,
            Indicator::Sma | Indicator::Ema => period,
        }
    }
}

/// An indicator value and how many prices went into it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Computed {
    pub value: f64,
    pub points_used: usize,
}

/// The series is too short for the requested period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotEnoughData {
    pub needed: usize,
    pub available: usize,
}

impl fmt::Display for NotEnoughData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not enough price points: need {}, have {}",
            self.needed, self.available
        )
    }
}

/// Computes `indicator` over `closes`. SMA uses only the last `period`
/// prices; EMA and RSI are recursive and use the whole series (more history
/// makes them converge).
pub fn compute(
    indicator: Indicator,
    closes: &[f64],
    period: usize,
) -> Result<Computed, NotEnoughData> {
    let needed = indicator.min_points(period).max(1);
    let short = NotEnoughData {
        needed,
        available: closes.len(),
    };
    let (value, points_used) = match indicator {
        Indicator::Sma => (sma(closes, period), period),
        Indicator::Ema => (ema(closes, period), closes.len()),
        Indicator::Rsi => (rsi(closes, period), closes.len()),
    };
    value
        .map(|value| Computed { value, points_used })
        .ok_or(short)
}

/// Mean of the last `period` values.
pub fn sma(values: &[f64], period: usize) -> Option<f64> {
    if period == 0 || values.len() < period {
        return None;
    }
    let window = &values[values.len() - period..];
    Some(window.iter().sum::<f64>() / period as f64)
}

/// Exponential moving average with alpha `2 / (period + 1)`, seeded with the
/// SMA of the first `period` values.
pub fn ema(values: &[f64], period: usize) -> Option<f64> {
    if period == 0 || values.len() < period {
        return None;
    }
    let alpha = 2.0 / (period as f64 + 1.0);
    let seed = values[..period].iter().sum::<f64>() / period as f64;
    Some(
        values[period..]
            .iter()
            .fold(seed, |ema, &price| alpha * price + (1.0 - alpha) * ema),
    )
}

/// Relative Strength Index with Wilder's smoothing: the first average gain
/// and loss are plain means over `period` changes, later ones are
/// `(previous * (period - 1) + current) / period`.
pub fn rsi(values: &[f64], period: usize) -> Option<f64> {
    if period == 0 || values.len() < period + 1 {
        return None;
    }
    let changes: Vec<f64> = values.windows(2).map(|w| w[1] - w[0]).collect();
    let n = period as f64;
    let (first, rest) = changes.split_at(period);
    let mut avg_gain = first.iter().map(|c| c.max(0.0)).sum::<f64>() / n;
    let mut avg_loss = first.iter().map(|c| (-c).max(0.0)).sum::<f64>() / n;
    for change in rest {
        avg_gain = (avg_gain * (n - 1.0) + change.max(0.0)) / n;
        avg_loss = (avg_loss * (n - 1.0) + (-change).max(0.0)) / n;
    }
    Some(if avg_loss == 0.0 {
        // A flat series has no direction: report the neutral midpoint.
        if avg_gain == 0.0 { 50.0 } else { 100.0 }
    } else {
        100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.01
    }

    /// Wilder RSI example as published by StockCharts ("RSI" ChartSchool
    /// article), 14 periods over 33 closes.
    const WILDER: [f64; 33] = [
        44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61,
        46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35,
        44.03, 44.18, 44.22, 44.57, 43.42, 42.66, 43.13,
    ];

    #[test]
    fn sma_of_one_to_five() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(sma(&values, 5), Some(3.0));
        assert_eq!(sma(&values, 2), Some(4.5));
        assert_eq!(sma(&values, 6), None);
    }

    #[test]
    fn ema_by_hand() {
        // Seed SMA(1,2,3) = 2, alpha = 0.5: 4 -> 3, 5 -> 4.
        assert_eq!(ema(&[1.0, 2.0, 3.0, 4.0, 5.0], 3), Some(4.0));
        // With exactly `period` values the EMA is the seed.
        assert_eq!(ema(&[2.0, 4.0], 2), Some(3.0));
    }

    #[test]
    fn ema_matches_stockcharts_ten_day_example() {
        let closes = [
            22.27, 22.19, 22.08, 22.17, 22.18, 22.13, 22.23, 22.43, 22.24, 22.29, 22.15, 22.39,
            22.38, 22.61, 23.36, 24.05, 23.75, 23.83, 23.95, 23.63, 23.82, 23.87, 23.65, 23.19,
            23.10, 23.33, 22.68, 23.10, 22.40, 22.17,
        ];
        let value = ema(&closes, 10).unwrap();
        assert!(close(value, 22.92), "{value}");
    }

    #[test]
    fn rsi_of_strictly_rising_series_is_100() {
        let rising: Vec<f64> = (1..=30).map(f64::from).collect();
        assert_eq!(rsi(&rising, 14), Some(100.0));
    }

    #[test]
    fn rsi_of_falling_and_flat_series() {
        let falling: Vec<f64> = (1..=30).rev().map(f64::from).collect();
        assert_eq!(rsi(&falling, 14), Some(0.0));
        assert_eq!(rsi(&[5.0; 20], 14), Some(50.0));
    }

    #[test]
    fn rsi_matches_wilder_textbook_example() {
        // First value (15 closes). StockCharts prints 70.53 because it rounds
        // the intermediate averages; unrounded it is 70.46.
        let first = rsi(&WILDER[..15], 14).unwrap();
        assert!(close(first, 70.46), "{first}");
        let last = rsi(&WILDER, 14).unwrap();
        assert!(close(last, 37.79), "{last}");
    }

    #[test]
    fn compute_reports_points_and_shortfalls() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            compute(Indicator::Sma, &values, 3),
            Ok(Computed {
                value: 4.0,
                points_used: 3
            })
        );
        assert_eq!(
            compute(Indicator::Rsi, &values, 5),
            Err(NotEnoughData {
                needed: 6,
                available: 5
            })
        );
        assert_eq!(
            compute(Indicator::Ema, &values, 5).map(|c| c.points_used),
            Ok(5)
        );
    }

    #[test]
    fn indicator_names_are_case_insensitive() {
        assert_eq!(Indicator::parse("RSI"), Some(Indicator::Rsi));
        assert_eq!(Indicator::parse("Ema"), Some(Indicator::Ema));
        assert_eq!(Indicator::parse("macd"), None);
    }
}
