//! SQLite's result codes as the errors callers see.
//!
//! SQLite reports refusals, read-only writes, interrupts and locks all as
//! bare codes; a guest needs to know which is its own fault, which a
//! timeout and which the database being busy, and the statement checks
//! (which see codes before sqlx does) need the same mapping.

use crate::SqlError;

/// Maps an SQLite result code (primary or extended) and message.
pub(super) fn engine_error(code: i32, message: String) -> SqlError {
    use libsqlite3_sys as ffi;
    match code & 0xff {
        // Refused while the statement ran (VACUUM's internal ATTACH, a
        // pragma_* function): SQLite says only "not authorized".
        ffi::SQLITE_AUTH if message == "not authorized" || message == "authorization denied" => {
            SqlError::Denied(
                "this component's SQL grant does not allow what the statement does \
                 (PRAGMA, ATTACH, VACUUM and the like are refused)"
                    .into(),
            )
        }
        ffi::SQLITE_AUTH => SqlError::Denied(message),
        ffi::SQLITE_READONLY => SqlError::Denied(format!(
            "this component's SQL grant is read-only ({message})"
        )),
        ffi::SQLITE_INTERRUPT => SqlError::Timeout(message),
        // syntax errors, unknown tables and functions
        ffi::SQLITE_ERROR | ffi::SQLITE_RANGE | ffi::SQLITE_TOOBIG => SqlError::Invalid(message),
        ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED | ffi::SQLITE_CANTOPEN | ffi::SQLITE_IOERR => {
            SqlError::Unavailable(message)
        }
        _ => SqlError::Other(message),
    }
}

/// Maps a driver error to what the caller sees.
pub(super) fn error(error: sqlx::Error) -> SqlError {
    let sqlx::Error::Database(db) = &error else {
        return SqlError::from(error);
    };
    if let Some(constraint) = SqlError::constraint(db.as_ref()) {
        return constraint;
    }
    let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
    engine_error(code, db.message().to_string())
}
