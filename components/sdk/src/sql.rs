//! Parameterized SQL through the host's pool.
//!
//! Statements use `$1`, `$2`, ... and values are always bound, never spliced
//! into the text, so there is no escaping API here on purpose.

use std::fmt;

use crate::bindings::strata::host::sql as wit;
use crate::time;

pub use wit::Value;

/// Why a statement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlError {
    /// The component's SQL grant does not allow this statement.
    Denied(String),
    /// The statement or its parameters are malformed.
    Invalid(String),
    /// A constraint was violated.
    Constraint(String),
    /// The database is unreachable or the pool is exhausted: worth a 503 and
    /// a retry, unlike the others.
    Unavailable(String),
    Other(String),
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlError::Denied(msg) => write!(f, "statement denied: {msg}"),
            SqlError::Invalid(msg) => write!(f, "invalid statement: {msg}"),
            SqlError::Constraint(msg) => write!(f, "constraint violated: {msg}"),
            SqlError::Unavailable(msg) => write!(f, "database unavailable: {msg}"),
            SqlError::Other(msg) => write!(f, "database error: {msg}"),
        }
    }
}

impl std::error::Error for SqlError {}

impl From<wit::SqlError> for SqlError {
    fn from(err: wit::SqlError) -> Self {
        match err {
            wit::SqlError::Denied(msg) => SqlError::Denied(msg),
            wit::SqlError::Invalid(msg) => SqlError::Invalid(msg),
            wit::SqlError::Constraint(msg) => SqlError::Constraint(msg),
            wit::SqlError::Unavailable(msg) => SqlError::Unavailable(msg),
            wit::SqlError::Other(msg) => SqlError::Other(msg),
        }
    }
}

/// Runs a read statement.
pub fn query(statement: &str, params: &[Value]) -> Result<RowSet, SqlError> {
    let rows = wit::query(statement, params)?;
    Ok(RowSet {
        columns: rows.columns,
        rows: rows.rows,
        truncated: rows.truncated,
    })
}

/// Runs a write statement; returns the number of rows affected.
pub fn execute(statement: &str, params: &[Value]) -> Result<u64, SqlError> {
    Ok(wit::execute(statement, params)?)
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Rows of a query, addressed by column name.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// More rows matched than the host's row limit let through.
    pub truncated: bool,
}

impl RowSet {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }
}

/// Why a column could not be read as the requested type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnError {
    Missing(String),
    Null(String),
    WrongType {
        column: String,
        expected: &'static str,
        found: &'static str,
    },
}

impl fmt::Display for ColumnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnError::Missing(column) => write!(f, "no column {column:?} in result"),
            ColumnError::Null(column) => write!(f, "column {column:?} is null"),
            ColumnError::WrongType {
                column,
                expected,
                found,
            } => write!(f, "column {column:?} is {found}, expected {expected}"),
        }
    }
}

impl std::error::Error for ColumnError {}

/// One row; accessors look columns up by (case-insensitive) name so a handler
/// does not depend on column order.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    /// The raw value of `column`, if the result has that column.
    pub fn get(&self, column: &str) -> Option<&'a Value> {
        let index = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))?;
        self.values.get(index)
    }

    fn non_null(&self, column: &str) -> Result<&'a Value, ColumnError> {
        match self.get(column) {
            None => Err(ColumnError::Missing(column.to_string())),
            Some(Value::Null) => Err(ColumnError::Null(column.to_string())),
            Some(value) => Ok(value),
        }
    }

    fn wrong(column: &str, expected: &'static str, found: &Value) -> ColumnError {
        ColumnError::WrongType {
            column: column.to_string(),
            expected,
            found: type_name(found),
        }
    }

    pub fn get_i64(&self, column: &str) -> Result<i64, ColumnError> {
        match self.non_null(column)? {
            Value::Int(v) => Ok(*v),
            other => Err(Self::wrong(column, "integer", other)),
        }
    }

    /// Accepts integers too, since databases happily return whole-valued
    /// numerics as integers.
    pub fn get_f64(&self, column: &str) -> Result<f64, ColumnError> {
        match self.non_null(column)? {
            Value::Float(v) => Ok(*v),
            Value::Int(v) => Ok(*v as f64),
            other => Err(Self::wrong(column, "float", other)),
        }
    }

    pub fn get_str(&self, column: &str) -> Result<&'a str, ColumnError> {
        match self.non_null(column)? {
            Value::Text(v) => Ok(v),
            other => Err(Self::wrong(column, "text", other)),
        }
    }

    /// Microseconds since the Unix epoch (UTC).
    ///
    /// Besides `timestamp` values this accepts integer microseconds and the
    /// ISO-8601 text SQLite stores for `CURRENT_TIMESTAMP` columns, so the
    /// same handler works on Postgres and on the embedded SQLite file.
    pub fn get_timestamp_micros(&self, column: &str) -> Result<i64, ColumnError> {
        match self.non_null(column)? {
            Value::Timestamp(v) | Value::Int(v) => Ok(*v),
            Value::Text(text) => {
                time::parse_datetime_micros(text).ok_or_else(|| ColumnError::WrongType {
                    column: column.to_string(),
                    expected: "timestamp",
                    found: "unparseable text",
                })
            }
            other => Err(Self::wrong(column, "timestamp", other)),
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) => "integer",
        Value::Float(_) => "float",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
        Value::Timestamp(_) => "timestamp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> RowSet {
        RowSet {
            columns: vec![
                "id".into(),
                "Title".into(),
                "score".into(),
                "created_at".into(),
            ],
            rows: vec![vec![
                Value::Int(7),
                Value::Text("Weekly".into()),
                Value::Int(3),
                Value::Text("2024-03-01 12:30:00".into()),
            ]],
            truncated: false,
        }
    }

    #[test]
    fn accessors_find_columns_by_name() {
        let set = rows();
        let row = set.first().unwrap();
        assert_eq!(row.get_i64("id"), Ok(7));
        assert_eq!(row.get_str("title"), Ok("Weekly"));
        assert_eq!(row.get_f64("score"), Ok(3.0));
        assert_eq!(
            row.get_timestamp_micros("created_at"),
            Ok(1_709_296_200_000_000)
        );
    }

    #[test]
    fn accessor_errors_name_the_column() {
        let set = rows();
        let row = set.first().unwrap();
        assert_eq!(
            row.get_i64("nope"),
            Err(ColumnError::Missing("nope".into()))
        );
        assert!(matches!(
            row.get_i64("title"),
            Err(ColumnError::WrongType {
                expected: "integer",
                found: "text",
                ..
            })
        ));
    }

    #[test]
    fn values_convert_from_rust_types() {
        assert_eq!(Value::from(5i64), Value::Int(5));
        assert_eq!(Value::from("x"), Value::Text("x".into()));
        assert_eq!(Value::from(None::<i64>), Value::Null);
    }
}
