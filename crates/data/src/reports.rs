//! The reports table, for publishing a new report from the admin API.

use serde::Deserialize;

use super::{Database, SqlError, SqlValue};

/// A report as an analyst submits it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// Ticker, 1 to 20 bytes of letters, digits and `-` (see [`validate`](Self::validate)).
    pub symbol: String,
    /// Timeframe label, 1 to 10 bytes.
    pub timeframe: String,
    /// Headline, 1 to 200 bytes.
    pub title: String,
    /// Trusted HTML fragment (analysts are authenticated operators).
    pub body: String,
}

impl NewReport {
    /// Checks the fields; the message names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        let short = |name: &str, value: &str, max: usize| {
            if value.trim().is_empty() || value.len() > max {
                Err(format!("'{name}' must be 1 to {max} bytes"))
            } else {
                Ok(())
            }
        };
        short("symbol", &self.symbol, 20)?;
        short("timeframe", &self.timeframe, 10)?;
        short("title", &self.title, 200)?;
        short("body", &self.body, 200_000)?;
        if !self
            .symbol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err("'symbol' must be letters, digits and '-'".into());
        }
        Ok(())
    }
}

/// Inserts `report` (created now) and returns its id. The host publishes
/// on its own pool, with no component grant involved.
pub async fn insert(db: &Database, report: &NewReport) -> Result<i64, SqlError> {
    let rows = db
        .host_query(
            "INSERT INTO reports (symbol, timeframe, title, body, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                SqlValue::Text(report.symbol.to_lowercase()),
                SqlValue::Text(report.timeframe.clone()),
                SqlValue::Text(report.title.clone()),
                SqlValue::Text(report.body.clone()),
                SqlValue::Timestamp(chrono::Utc::now().timestamp_micros()),
            ],
        )
        .await?;
    match rows.rows.first().and_then(|row| row.first()) {
        Some(SqlValue::Int(id)) => Ok(*id),
        _ => Err(SqlError::Other("the insert returned no id".into())),
    }
}
