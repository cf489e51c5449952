//! The transaction each component statement runs in.
//!
//! The transaction is what makes the server enforce a read-only grant and
//! the statement's deadline (`SET LOCAL statement_timeout`) even when
//! nobody waits any more, and rolling a read back undoes whatever it set.

use sqlx::postgres::PgPool;

use super::error::error;
use crate::SqlError;
use crate::guard::Mode;
use crate::guard::Statement;

/// Says which deadline stopped a statement.
pub(super) fn stopped(error: SqlError, statement: &Statement<'_>) -> SqlError {
    match error {
        SqlError::Timeout(_) => statement.timed_out(),
        other => other,
    }
}

/// Opens the statement's transaction, read-only for a read-only grant,
/// with the statement's timeout local to it: one round trip.
pub(super) async fn begin(
    pool: &PgPool,
    statement: &Statement<'_>,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, SqlError> {
    let millis = statement.timeout.as_millis().max(1);
    let mode = match statement.mode {
        Mode::ReadOnly => "READ ONLY",
        Mode::ReadWrite => "READ WRITE",
    };
    pool.begin_with(format!(
        "BEGIN {mode}; SET LOCAL statement_timeout = {millis}"
    ))
    .await
    .map_err(error)
}

/// Ends the statement's transaction: a read is rolled back (nothing it did
/// survives), a write commits.
pub(super) async fn finish(
    tx: sqlx::Transaction<'_, sqlx::Postgres>,
    mode: Mode,
) -> Result<(), SqlError> {
    match mode {
        Mode::ReadOnly => tx.rollback().await,
        Mode::ReadWrite => tx.commit().await,
    }
    .map_err(error)
}
