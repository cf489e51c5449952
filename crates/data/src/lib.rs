//! The database: Postgres when `DATABASE_URL` is set, an embedded SQLite
//! file otherwise, both migrated at start with the same schema.
//!
//! Who may do what is enforced by the database engine, never by reading
//! the statement: each kind of caller has its own pool, so no session
//! state, mode or setting crosses from one kind to another.
//!
//! | pool | used by | what the engine enforces |
//! |---|---|---|
//! | host | the host itself: deployment log, component blobs, report publishing ([`Database::host_query`]) | nothing beyond the host's own login |
//! | read-only | components granted `sql = "read-only"` | Postgres: a login role with `SELECT` only, in a `READ ONLY` transaction; SQLite: a `mode=ro` + `query_only` connection with an authorizer that admits reads only |
//! | read-write | components granted `sql = "read-write"` | Postgres: a login role with DML on the app tables and `CREATE` in `public`; SQLite: an authorizer that admits DML and DDL on the component's own tables |
//!
//! Host state lives where component SQL cannot reach it: the `strata`
//! schema on Postgres (the component roles have no rights on it), a
//! separate file on SQLite (`<name>.host.<ext>` beside the app file; the
//! component connections can never ATTACH it). See [`postgres`] and
//! [`sqlite`] for the details of each engine.
//!
//! The rule for component tables: every component with an SQL grant sees
//! the same app tables, Postgres schema `public` and the SQLite app file;
//! name them unqualified. The tables the host's migrations made there
//! (`reports`) may be read, and written under a read-write grant, but not
//! altered, dropped, indexed or given triggers. A read-write component may
//! create tables (indexes, views) of its own, which read-only components
//! can then read; on Postgres the read-write role owns them. `strata` (the
//! host's schema or file), `_sqlx_migrations` (the migration ledger) and
//! `sqlite_*` are never a component's.
//!
//! Component statements go through [`Database::query`] and
//! [`Database::execute`]: parameters are bound (never spliced), a call
//! runs exactly one statement (Postgres' extended protocol refuses more;
//! on SQLite the host prepares the statement and refuses any tail), rows
//! are capped, and every statement stops at the earlier of its request's
//! deadline and the host-wide statement timeout.

mod guard;
pub mod reports;
mod value;

use std::path::Path;
use std::time::{Duration, Instant};

use thiserror::Error;

pub use guard::Access;
pub use postgres::component_role_names;
pub use value::{RowSet, SqlValue};

pub use guard::SqlGrant;

/// Binds `$params` to `$query` in order.
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

/// Collects at most `limit` rows from a row stream, noting truncation;
/// `$error` maps the driver's errors.
macro_rules! collect_rows {
    ($stream:expr, $decode:path, $limit:expr, $error:path) => {{
        use futures::TryStreamExt as _;
        let mut stream = $stream;
        let mut set = RowSet::default();
        while let Some(row) = stream.try_next().await.map_err($error)? {
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

mod postgres;
mod sqlite;

/// Why a statement did not run. Each maps to a `strata:host/sql` error.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SqlError {
    /// The caller's grant does not allow it (refused by the engine).
    #[error("denied: {0}")]
    Denied(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("constraint violated: {0}")]
    Constraint(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The statement was stopped at its deadline.
    #[error("timeout: {0}")]
    Timeout(String),
    #[error("database error: {0}")]
    Other(String),
}

/// The errors every engine maps the same way: pool, I/O and decoding. A
/// statement's own errors go through its engine's mapping instead, which
/// knows its codes (`postgres::error`, `sqlite::error`).
impl From<sqlx::Error> for SqlError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => SqlError::Unavailable(error.to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. } => SqlError::Invalid(error.to_string()),
            sqlx::Error::Database(db) => SqlError::Other(db.message().to_string()),
            _ => SqlError::Other(error.to_string()),
        }
    }
}

impl SqlError {
    /// A constraint violation, if the engine reported one.
    fn constraint(db: &dyn sqlx::error::DatabaseError) -> Option<Self> {
        (db.is_unique_violation()
            || db.is_foreign_key_violation()
            || db.is_check_violation()
            || matches!(db.kind(), sqlx::error::ErrorKind::NotNullViolation))
        .then(|| SqlError::Constraint(db.message().to_string()))
    }
}

/// Why the database could not be opened at start.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot prepare the database: {0}")]
    Setup(#[source] sqlx::Error),
    /// The login roles component SQL runs as could not be provisioned.
    #[error("database roles for component SQL: {0}")]
    Roles(String),
}

/// Pool sizing and limits.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections of each pool (host, read-only, read-write).
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Most rows a query returns to a guest.
    pub row_limit: usize,
    /// Longest a component statement may run, whatever its deadline.
    pub statement_timeout: Duration,
    /// Whether start must fail when the component roles (Postgres) cannot
    /// be provisioned: true when some component has an SQL grant.
    pub require_component_roles: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            row_limit: 1000,
            statement_timeout: Duration::from_secs(5),
            require_component_roles: true,
        }
    }
}

/// Who runs a component statement: the grant, and when its request must be
/// done (the statement stops then, or at the host-wide timeout if sooner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub grant: SqlGrant,
    pub deadline: Option<Instant>,
}

impl From<SqlGrant> for Caller {
    fn from(grant: SqlGrant) -> Self {
        Self {
            grant,
            deadline: None,
        }
    }
}

enum Backend {
    Postgres(postgres::Pools),
    Sqlite(sqlite::Pools),
}

/// See the module documentation.
pub struct Database {
    backend: Backend,
    row_limit: usize,
    statement_timeout: Duration,
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

    /// Runs a component's statement and returns at most the row limit.
    /// A read-write grant may use it for `INSERT ... RETURNING`.
    pub async fn query(
        &self,
        caller: impl Into<Caller>,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<RowSet, SqlError> {
        let caller = caller.into();
        let mode = guard::check(caller.grant, Access::Read)?;
        let statement = Statement {
            text: statement,
            params,
            mode,
            timeout: self.timeout(caller.deadline)?,
        };
        match &self.backend {
            Backend::Postgres(pools) => pools.query(&statement, self.row_limit).await,
            Backend::Sqlite(pools) => pools.query(&statement, self.row_limit).await,
        }
    }

    /// Runs a component's write; returns the rows affected.
    pub async fn execute(
        &self,
        caller: impl Into<Caller>,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<u64, SqlError> {
        let caller = caller.into();
        let mode = guard::check(caller.grant, Access::Write)?;
        let statement = Statement {
            text: statement,
            params,
            mode,
            timeout: self.timeout(caller.deadline)?,
        };
        match &self.backend {
            Backend::Postgres(pools) => pools.execute(&statement).await,
            Backend::Sqlite(pools) => pools.execute(&statement).await,
        }
    }

    /// How long a statement may run: until its request's deadline, and no
    /// longer than the host-wide statement timeout.
    fn timeout(&self, deadline: Option<Instant>) -> Result<Duration, SqlError> {
        let left = deadline.map_or(self.statement_timeout, |deadline| {
            deadline.saturating_duration_since(Instant::now())
        });
        let timeout = left.min(self.statement_timeout);
        if timeout < Duration::from_millis(1) {
            return Err(SqlError::Timeout(
                "the statement timed out: its request's deadline has passed".into(),
            ));
        }
        Ok(timeout)
    }
}

/// A component statement, checked against its grant, ready for a pool.
struct Statement<'a> {
    text: &'a str,
    params: &'a [SqlValue],
    mode: guard::Mode,
    timeout: Duration,
}

impl Statement<'_> {
    /// The error for a statement stopped at its timeout.
    fn timed_out(&self) -> SqlError {
        SqlError::Timeout(format!(
            "the statement timed out after {} ms (its request's deadline or STRATA_SQL_STATEMENT_TIMEOUT_MS)",
            self.timeout.as_millis()
        ))
    }
}
