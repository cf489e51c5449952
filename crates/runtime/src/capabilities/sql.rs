//! `strata:host/sql`: parameterized statements at the granted level, each
//! bounded by the request's deadline. Refusals are `sql-error` values the
//! guest handles, never traps.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker};

use strata_data::{Caller, Database, RowSet, SqlError, SqlValue};

use super::{Grants, Instance, Services};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        interfaces: "import strata:host/sql@0.1.2;",
        imports: { default: async | trappable },
        trappable_error_type: {
            "strata:host/sql.sql-error" => strata_data::SqlError,
        },
    });
}

use bindings::strata::host::sql as wit;

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

/// SQL access at the granted level, until the request's deadline: a
/// statement still running then is stopped by the database.
pub(crate) struct SqlContext {
    database: Arc<Database>,
    component: Arc<str>,
    grants: Arc<Grants>,
    deadline: Instant,
}

impl SqlContext {
    pub(super) fn new(services: &Services, instance: &Instance<'_>) -> Self {
        Self {
            database: services.database.clone(),
            component: instance.component.clone(),
            grants: instance.grants.clone(),
            deadline: instance.deadline,
        }
    }

    /// The grant and deadline every statement of this request runs under.
    fn caller(&self) -> Caller {
        Caller {
            grant: self.grants.sql,
            deadline: Some(self.deadline),
        }
    }
}

pub(super) fn link<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut SqlContext,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<SqlContext>>(linker, get)
}

impl wit::Host for SqlContext {
    async fn query(
        &mut self,
        statement: String,
        params: Vec<wit::Value>,
    ) -> Result<wit::RowSet, SqlError> {
        let params: Vec<SqlValue> = params.into_iter().map(from_wit).collect();
        self.database
            .query(self.caller(), &statement, &params)
            .await
            .inspect_err(
                |e| tracing::debug!(component = &*self.component, error = %e, "sql query failed"),
            )
            .map(to_wit_rows)
    }

    async fn execute(
        &mut self,
        statement: String,
        params: Vec<wit::Value>,
    ) -> Result<u64, SqlError> {
        let params: Vec<SqlValue> = params.into_iter().map(from_wit).collect();
        self.database
            .execute(self.caller(), &statement, &params)
            .await
            .inspect_err(
                |e| tracing::debug!(component = &*self.component, error = %e, "sql execute failed"),
            )
    }

    /// Every database refusal or failure is the guest's to handle; none
    /// traps.
    fn convert_sql_error(&mut self, error: SqlError) -> wasmtime::Result<wit::SqlError> {
        Ok(match error {
            SqlError::Denied(m) => wit::SqlError::Denied(m),
            SqlError::Invalid(m) => wit::SqlError::Invalid(m),
            SqlError::Constraint(m) => wit::SqlError::Constraint(m),
            SqlError::Unavailable(m) => wit::SqlError::Unavailable(m),
            SqlError::Timeout(m) | SqlError::Other(m) => wit::SqlError::Other(m),
        })
    }
}
