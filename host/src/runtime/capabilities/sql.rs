//! `strata:host/sql`: parameterized statements at the granted level, each
//! bounded by the request's deadline. Refusals are `sql-error` values the
//! guest handles, never traps.

use crate::data::{Caller, RowSet, SqlError, SqlValue};
use crate::runtime::bindings::sql as wit;
use crate::runtime::state::HostState;

fn from_wit(value: wit::Value) -> SqlValue {
    match value {
        wit::Value::Null => SqlValue::Null,
        wit::Value::Boolean(v) => SqlValue::Bool(v),
        wit::Value::Int(v) => SqlValue::Int(v),
        wit::Value::Float(v) => SqlValue::Float(v),
        wit::Value::Text(v) => SqlValue::Text(v),
        wit::Value::Bytes(v) => SqlValue::Bytes(v),
        wit::Value::Timestamp(v) => SqlValue::Timestamp(v),
    }
}

fn to_wit(value: SqlValue) -> wit::Value {
    match value {
        SqlValue::Null => wit::Value::Null,
        SqlValue::Bool(v) => wit::Value::Boolean(v),
        SqlValue::Int(v) => wit::Value::Int(v),
        SqlValue::Float(v) => wit::Value::Float(v),
        SqlValue::Text(v) => wit::Value::Text(v),
        SqlValue::Bytes(v) => wit::Value::Bytes(v),
        SqlValue::Timestamp(v) => wit::Value::Timestamp(v),
    }
}

fn to_wit_error(error: SqlError) -> wit::SqlError {
    match error {
        SqlError::Denied(m) => wit::SqlError::Denied(m),
        SqlError::Invalid(m) => wit::SqlError::Invalid(m),
        SqlError::Constraint(m) => wit::SqlError::Constraint(m),
        SqlError::Unavailable(m) => wit::SqlError::Unavailable(m),
        SqlError::Timeout(m) | SqlError::Other(m) => wit::SqlError::Other(m),
    }
}

fn to_wit_rows(set: RowSet) -> wit::RowSet {
    wit::RowSet {
        columns: set.columns,
        rows: set
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(to_wit).collect())
            .collect(),
        truncated: set.truncated,
    }
}

impl crate::runtime::state::SqlCapability {
    /// The grant and deadline every statement of this request runs under.
    fn caller(&self) -> Caller {
        Caller {
            grant: self.grants.sql,
            deadline: Some(self.deadline),
        }
    }
}

impl wit::Host for HostState {
    async fn query(
        &mut self,
        statement: String,
        params: Vec<wit::Value>,
    ) -> wasmtime::Result<Result<wit::RowSet, wit::SqlError>> {
        let params: Vec<SqlValue> = params.into_iter().map(from_wit).collect();
        let outcome = self
            .sql
            .database
            .query(self.sql.caller(), &statement, &params)
            .await;
        if let Err(e) = &outcome {
            tracing::debug!(component = &*self.log.component, error = %e, "sql query failed");
        }
        Ok(outcome.map(to_wit_rows).map_err(to_wit_error))
    }

    async fn execute(
        &mut self,
        statement: String,
        params: Vec<wit::Value>,
    ) -> wasmtime::Result<Result<u64, wit::SqlError>> {
        let params: Vec<SqlValue> = params.into_iter().map(from_wit).collect();
        let outcome = self
            .sql
            .database
            .execute(self.sql.caller(), &statement, &params)
            .await;
        if let Err(e) = &outcome {
            tracing::debug!(component = &*self.log.component, error = %e, "sql execute failed");
        }
        Ok(outcome.map_err(to_wit_error))
    }
}
