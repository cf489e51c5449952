//! Typed SQL values crossing the guest boundary, and their conversion to and
//! from each backend's rows.

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::SqlError;

/// A value bound to or read from a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`, of any column type.
    Null,
    /// Postgres `BOOL`, or an SQLite column declared `BOOLEAN`.
    Bool(bool),
    /// Any integer column, widened to 64 bits.
    Int(i64),
    /// Any floating-point column, widened to 64 bits.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes (`BYTEA`, `BLOB`).
    Bytes(Vec<u8>),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
}

/// Rows of a query, already converted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowSet {
    /// Column names in result order; empty when no row came back.
    pub columns: Vec<String>,
    /// Rows, each with one value per column, at most the row limit.
    pub rows: Vec<Vec<SqlValue>>,
    /// True when the statement had more rows than the row limit and the rest
    /// were dropped.
    pub truncated: bool,
}

pub(super) fn timestamp_from_micros(micros: i64) -> Result<DateTime<Utc>, SqlError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| SqlError::Invalid(format!("timestamp {micros} is out of range")))
}

/// Parses the text forms SQLite stores timestamps in.
fn parse_sqlite_timestamp(text: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_micros());
    }
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|naive| naive.and_utc().timestamp_micros())
}

fn unsupported(column: &str, type_name: &str) -> SqlError {
    SqlError::Invalid(format!(
        "column '{column}' has type {type_name}, which has no SQL value mapping; cast it to text, \
         integer, float, boolean, bytes or timestamp"
    ))
}

pub(super) fn columns_of<R: Row>(row: &R) -> Vec<String> {
    row.columns().iter().map(|c| c.name().to_string()).collect()
}

pub(super) fn decode_pg(row: &PgRow) -> Result<Vec<SqlValue>, SqlError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i).map_err(SqlError::from)?;
        if raw.is_null() {
            values.push(SqlValue::Null);
            continue;
        }
        let type_name = column.type_info().name().to_string();
        let value = match type_name.as_str() {
            "BOOL" => SqlValue::Bool(row.try_get(i)?),
            "INT2" => SqlValue::Int(i64::from(row.try_get::<i16, _>(i)?)),
            "INT4" => SqlValue::Int(i64::from(row.try_get::<i32, _>(i)?)),
            "INT8" => SqlValue::Int(row.try_get(i)?),
            "FLOAT4" => SqlValue::Float(f64::from(row.try_get::<f32, _>(i)?)),
            "FLOAT8" => SqlValue::Float(row.try_get(i)?),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => SqlValue::Text(row.try_get(i)?),
            "BYTEA" => SqlValue::Bytes(row.try_get(i)?),
            "TIMESTAMPTZ" => {
                SqlValue::Timestamp(row.try_get::<DateTime<Utc>, _>(i)?.timestamp_micros())
            }
            "TIMESTAMP" => SqlValue::Timestamp(
                row.try_get::<NaiveDateTime, _>(i)?
                    .and_utc()
                    .timestamp_micros(),
            ),
            other => return Err(unsupported(column.name(), other)),
        };
        values.push(value);
    }
    Ok(values)
}

pub(super) fn decode_sqlite(row: &SqliteRow) -> Result<Vec<SqlValue>, SqlError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i).map_err(SqlError::from)?;
        if raw.is_null() {
            values.push(SqlValue::Null);
            continue;
        }
        // The declared type says what the column means (a TIMESTAMP stored
        // as text); the storage class says how the value is held.
        let declared = column.type_info().name().to_ascii_uppercase();
        let storage = raw.type_info().name().to_ascii_uppercase();
        let value = if declared.contains("TIME") || declared == "DATE" {
            match storage.as_str() {
                "INTEGER" => {
                    SqlValue::Timestamp(row.try_get::<i64, _>(i)?.saturating_mul(1_000_000))
                }
                _ => {
                    let text: String = row.try_get(i)?;
                    let micros = parse_sqlite_timestamp(&text).ok_or_else(|| {
                        SqlError::Invalid(format!(
                            "column '{}' holds '{text}', which is not a timestamp",
                            column.name()
                        ))
                    })?;
                    SqlValue::Timestamp(micros)
                }
            }
        } else if declared == "BOOLEAN" {
            SqlValue::Bool(row.try_get(i)?)
        } else {
            match storage.as_str() {
                "INTEGER" | "INT8" | "BOOLEAN" => SqlValue::Int(row.try_get(i)?),
                "REAL" => SqlValue::Float(row.try_get(i)?),
                "TEXT" | "DATETIME" | "DATE" | "TIME" => SqlValue::Text(row.try_get(i)?),
                "BLOB" => SqlValue::Bytes(row.try_get(i)?),
                other => return Err(unsupported(column.name(), other)),
            }
        };
        values.push(value);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::parse_sqlite_timestamp;

    #[test]
    fn sqlite_timestamps_parse_in_the_forms_sqlite_writes() {
        let expected = 1_763_452_800_000_000; // 2025-11-18T08:00:00Z
        assert_eq!(
            parse_sqlite_timestamp("2025-11-18T08:00:00Z"),
            Some(expected)
        );
        assert_eq!(
            parse_sqlite_timestamp("2025-11-18 08:00:00"),
            Some(expected)
        );
        assert_eq!(parse_sqlite_timestamp("yesterday"), None);
    }
}
