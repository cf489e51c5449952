//! The SQL grant, turned into the pool a statement runs on.
//!
//! This check never reads the statement. An earlier version tried to tell
//! reads from writes and count statements by scanning the text, and a
//! quote inside a comment was enough to hide a second statement from it.
//! Whatever a statement does is now judged by the engine that runs it: the
//! read-only pool cannot write (see the module documentation of
//! [`super`]), both pools run exactly one statement per call, and neither
//! can reach the host's tables. What remains here is what needs no SQL
//! knowledge: no grant means no database, and a read-only grant has no
//! `execute`.

use serde::Deserialize;

use std::time::Duration;

use super::SqlError;
use crate::value::SqlValue;

/// SQL access a component is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SqlGrant {
    /// No database access at all (the default).
    #[default]
    None,
    /// Only statements that cannot change data.
    ReadOnly,
    /// Reads and writes.
    ReadWrite,
}

/// Whether the access is a read (`query`) or a write (`execute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// Which component pool, with its engine-enforced rights, runs a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    ReadOnly,
    ReadWrite,
}

/// The pool `grant` sends an `access` to, or why it may not run at all.
pub(crate) fn check(grant: SqlGrant, access: Access) -> Result<Mode, SqlError> {
    match (grant, access) {
        (SqlGrant::None, _) => Err(SqlError::Denied(
            "this component has no SQL grant (manifest: sql = \"read-only\" or \"read-write\")"
                .into(),
        )),
        (SqlGrant::ReadOnly, Access::Write) => Err(SqlError::Denied(
            "this component's SQL grant is read-only; execute is not allowed".into(),
        )),
        (SqlGrant::ReadOnly, Access::Read) => Ok(Mode::ReadOnly),
        (SqlGrant::ReadWrite, _) => Ok(Mode::ReadWrite),
    }
}

/// A component statement, checked against its grant, ready for a pool.
pub(crate) struct Statement<'a> {
    pub(crate) text: &'a str,
    pub(crate) params: &'a [SqlValue],
    pub(crate) mode: Mode,
    pub(crate) timeout: Duration,
}

impl Statement<'_> {
    /// The error for a statement stopped at its timeout.
    pub(crate) fn timed_out(&self) -> SqlError {
        SqlError::Timeout(format!(
            "the statement timed out after {} ms (its request's deadline or STRATA_SQL_STATEMENT_TIMEOUT_MS)",
            self.timeout.as_millis()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_grant_refuses_everything() {
        for access in [Access::Read, Access::Write] {
            assert!(matches!(
                check(SqlGrant::None, access),
                Err(SqlError::Denied(_))
            ));
        }
    }

    #[test]
    fn a_read_only_grant_reads_on_the_read_only_pool_and_never_executes() {
        assert_eq!(check(SqlGrant::ReadOnly, Access::Read), Ok(Mode::ReadOnly));
        assert!(matches!(
            check(SqlGrant::ReadOnly, Access::Write),
            Err(SqlError::Denied(_))
        ));
    }

    #[test]
    fn a_read_write_grant_uses_the_read_write_pool_for_both() {
        for access in [Access::Read, Access::Write] {
            assert_eq!(check(SqlGrant::ReadWrite, access), Ok(Mode::ReadWrite));
        }
    }
}
