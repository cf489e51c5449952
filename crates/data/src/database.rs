//! The handle the rest of the host holds, whichever engine is behind it.
//!
//! Callers should not care whether `DATABASE_URL` is set: this picks the
//! engine once at start and sends each call to it. The host's own
//! statements are here; component statements, which need a grant and a
//! deadline, are in [`crate::component`].

use std::path::Path;
use std::time::Duration;

use crate::error::{OpenError, SqlError};
use crate::settings::PoolSettings;
use crate::value::{RowSet, SqlValue};
use crate::{postgres, sqlite};

pub(crate) enum Backend {
    Postgres(postgres::Pools),
    Sqlite(sqlite::Pools),
}

/// See the crate documentation.
pub struct Database {
    pub(crate) backend: Backend,
    pub(crate) row_limit: usize,
    pub(crate) statement_timeout: Duration,
}

impl Database {
    /// Connects to Postgres, applies migrations and provisions the login
    /// roles component statements run as.
    pub async fn postgres(url: &str, settings: PoolSettings) -> Result<Self, OpenError> {
        Ok(Self::with(
            Backend::Postgres(postgres::Pools::open(url, &settings).await?),
            &settings,
        ))
    }

    /// Opens (creating if needed) the SQLite app file at `path` and the
    /// host file beside it, and applies migrations.
    pub async fn sqlite(path: &Path, settings: PoolSettings) -> Result<Self, OpenError> {
        Ok(Self::with(
            Backend::Sqlite(sqlite::Pools::open(path, &settings).await?),
            &settings,
        ))
    }

    fn with(backend: Backend, settings: &PoolSettings) -> Self {
        Self {
            backend,
            row_limit: settings.row_limit,
            statement_timeout: settings.statement_timeout,
        }
    }

    /// `postgres` or `sqlite`, for health output.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// A trivial round trip on the host pool, for health checks.
    pub async fn ping(&self) -> Result<(), SqlError> {
        match &self.backend {
            Backend::Postgres(pools) => pools.ping().await,
            Backend::Sqlite(pools) => pools.ping().await,
        }
    }

    /// Runs a host statement (never a guest's) on the host pool and returns
    /// all its rows.
    pub async fn host_query(
        &self,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<RowSet, SqlError> {
        match &self.backend {
            Backend::Postgres(pools) => pools.host_query(statement, params).await,
            Backend::Sqlite(pools) => pools.host_query(statement, params).await,
        }
    }

    /// Runs host statements in order in one transaction on the host pool:
    /// all take effect or none does, and host transactions of every
    /// instance sharing the database run one at a time (Postgres: an
    /// advisory lock; SQLite: its single writer). Returns each statement's
    /// rows.
    pub async fn host_transaction(
        &self,
        statements: &[(&str, Vec<SqlValue>)],
    ) -> Result<Vec<RowSet>, SqlError> {
        match &self.backend {
            Backend::Postgres(pools) => pools.host_transaction(statements).await,
            Backend::Sqlite(pools) => pools.host_transaction(statements).await,
        }
    }

    /// Whether component statements can run, or why not (Postgres without
    /// the component login roles, when no component needed them at start).
    pub fn component_sql(&self) -> Result<(), String> {
        match &self.backend {
            Backend::Postgres(pools) => pools.components.as_ref().map(drop).map_err(Clone::clone),
            Backend::Sqlite(_) => Ok(()),
        }
    }

    /// Runs a host write on the host pool; returns the rows affected.
    pub async fn host_execute(
        &self,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<u64, SqlError> {
        match &self.backend {
            Backend::Postgres(pools) => pools.host_execute(statement, params).await,
            Backend::Sqlite(pools) => pools.host_execute(statement, params).await,
        }
    }
}
