//! Postgres' SQLSTATE codes as the errors callers see.
//!
//! A guest must be able to tell a refusal by its role from a timeout or a
//! syntax error, and Postgres only says which by its five-character code.

use crate::SqlError;

/// Maps a Postgres error to what the guest sees.
pub(super) fn error(error: sqlx::Error) -> SqlError {
    let sqlx::Error::Database(db) = &error else {
        return SqlError::from(error);
    };
    if let Some(constraint) = SqlError::constraint(db.as_ref()) {
        return constraint;
    }
    let message = db.message().to_string();
    match db.code().as_deref() {
        // insufficient_privilege, read_only_sql_transaction
        Some("42501" | "25006") => SqlError::Denied(message),
        // query_canceled: statement_timeout (or an operator's cancel)
        Some("57014") => SqlError::Timeout(message),
        Some("42601") if message.contains("multiple commands") => SqlError::Invalid(format!(
            "only one statement per call is allowed ({message})"
        )),
        // syntax errors, unknown names, unsupported features
        Some(code) if code.starts_with("42") || code.starts_with("0A") => {
            SqlError::Invalid(message)
        }
        _ => SqlError::Other(message),
    }
}
