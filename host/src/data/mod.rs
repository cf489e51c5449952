//! The database: a pooled Postgres connection when `DATABASE_URL` is set, an
//! embedded SQLite file otherwise, both migrated at start with the same
//! schema. Components reach it only through [`Database::query`] and
//! [`Database::execute`], which bind parameters (never splice them), apply
//! the component's grant, and cap the rows returned.

mod guard;
pub mod reports;
mod value;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Acquire, Executor};
use thiserror::Error;

pub use guard::Access;
pub use value::{RowSet, SqlValue};

use crate::config::SqlGrant;

/// Why a statement did not run. Each maps to a `strata:host/sql` error.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SqlError {
    #[error("denied: {0}")]
    Denied(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("constraint violated: {0}")]
    Constraint(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for SqlError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) => {
                let message = db.message().to_string();
                if db.is_unique_violation()
                    || db.is_foreign_key_violation()
                    || db.is_check_violation()
                    || matches!(db.kind(), sqlx::error::ErrorKind::NotNullViolation)
                {
                    SqlError::Constraint(message)
                } else if db.code().is_some_and(|code| code.starts_with("42")) {
                    // SQLSTATE class 42: syntax error or access rule violation.
                    SqlError::Invalid(message)
                } else {
                    SqlError::Other(message)
                }
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => SqlError::Unavailable(error.to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. } => SqlError::Invalid(error.to_string()),
            _ => SqlError::Other(error.to_string()),
        }
    }
}

/// Why the database could not be opened at start.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Pool sizing and limits.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Most rows a query returns to a guest.
    pub row_limit: usize,
}

enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// See the module documentation.
pub struct Database {
    pool: Pool,
    row_limit: usize,
}

macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                SqlValue::Null => query.bind(None::<String>),
                SqlValue::Bool(v) => query.bind(*v),
                SqlValue::Int(v) => query.bind(*v),
                SqlValue::Float(v) => query.bind(*v),
                SqlValue::Text(v) => query.bind(v.as_str()),
                SqlValue::Bytes(v) => query.bind(v.as_slice()),
                SqlValue::Timestamp(v) => query.bind(value::timestamp_from_micros(*v)?),
            };
        }
        query
    }};
}

/// Collects at most `limit` rows from a row stream, noting truncation.
macro_rules! collect_rows {
    ($stream:expr, $decode:path, $limit:expr) => {{
        let mut stream = $stream;
        let mut set = RowSet::default();
        while let Some(row) = stream.try_next().await? {
            if set.rows.len() == $limit {
                set.truncated = true;
                break;
            }
            if set.columns.is_empty() {
                set.columns = value::columns_of(&row);
            }
            set.rows.push($decode(&row)?);
        }
        set
    }};
}

impl Database {
    /// Connects to Postgres and applies migrations.
    pub async fn postgres(url: &str, settings: PoolSettings) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url).map_err(OpenError::Connect)?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool: Pool::Postgres(pool),
            row_limit: settings.row_limit,
        })
    }

    /// Opens (creating if needed) a SQLite file and applies migrations.
    pub async fn sqlite(path: &Path, settings: PoolSettings) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(settings.acquire_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
            row_limit: settings.row_limit,
        })
    }

    /// `postgres` or `sqlite`, for health output.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => "postgres",
            Pool::Sqlite(_) => "sqlite",
        }
    }

    /// A trivial round trip, for health checks.
    pub async fn ping(&self) -> Result<(), SqlError> {
        match &self.pool {
            Pool::Postgres(pool) => pool.execute("SELECT 1").await.map(drop)?,
            Pool::Sqlite(pool) => pool.execute("SELECT 1").await.map(drop)?,
        }
        Ok(())
    }

    /// Runs a read under `grant`, returning at most the row limit.
    pub async fn query(
        &self,
        grant: SqlGrant,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<RowSet, SqlError> {
        let read_only = guard::check(statement, grant, Access::Read)?;
        let limit = self.row_limit;
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let mut tx = conn.begin().await?;
                if read_only {
                    tx.execute("SET TRANSACTION READ ONLY").await?;
                }
                let set = {
                    let query = bind_all!(sqlx::query(statement), params);
                    collect_rows!(query.fetch(&mut *tx), value::decode_pg, limit)
                };
                tx.commit().await?;
                Ok(set)
            }
            Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                if read_only {
                    conn.execute("PRAGMA query_only = ON").await?;
                }
                let outcome: Result<RowSet, SqlError> = async {
                    let query = bind_all!(sqlx::query(statement), params);
                    Ok(collect_rows!(
                        query.fetch(&mut *conn),
                        value::decode_sqlite,
                        limit
                    ))
                }
                .await;
                if read_only {
                    conn.execute("PRAGMA query_only = OFF").await?;
                }
                outcome
            }
        }
    }

    /// Runs a write under `grant`; returns the rows affected.
    pub async fn execute(
        &self,
        grant: SqlGrant,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<u64, SqlError> {
        guard::check(statement, grant, Access::Write)?;
        let affected = match &self.pool {
            Pool::Postgres(pool) => bind_all!(sqlx::query(statement), params)
                .execute(pool)
                .await?
                .rows_affected(),
            Pool::Sqlite(pool) => bind_all!(sqlx::query(statement), params)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(affected)
    }
}
