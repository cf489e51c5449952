//! Failures as callers see them, whichever engine ran the statement.
//!
//! Guests get a `strata:host/sql` error and the host decides what to do at
//! start-up from an open error; neither should have to know which engine
//! it talks to, so both engines map their errors onto these.

use thiserror::Error;

/// Why a statement did not run. Each maps to a `strata:host/sql` error.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SqlError {
    /// The caller's grant does not allow it (refused by the engine).
    #[error("denied: {0}")]
    Denied(String),
    /// The statement cannot run as written: a syntax error, an unknown name,
    /// more than one statement, or a value or column type with no SQL value
    /// mapping.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A unique, foreign-key, check or NOT NULL constraint refused the write.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// The database could not be reached or is busy: no free connection, I/O or
    /// protocol trouble, a busy or locked SQLite file, or component roles that
    /// are not set up. Worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The statement was stopped at its deadline.
    #[error("timeout: {0}")]
    Timeout(String),
    /// Anything else the engine reported, with its message.
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
    pub(crate) fn constraint(db: &dyn sqlx::error::DatabaseError) -> Option<Self> {
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
    /// The database could not be connected to or opened (including a
    /// malformed Postgres URL).
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// A schema migration failed, or the database holds migrations this
    /// build does not know.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Preparing an SQLite installation failed: a path that is not UTF-8, or
    /// moving host rows out of an older app file.
    #[error("cannot prepare the database: {0}")]
    Setup(#[source] sqlx::Error),
    /// The login roles component SQL runs as could not be provisioned.
    #[error("database roles for component SQL: {0}")]
    Roles(String),
}
