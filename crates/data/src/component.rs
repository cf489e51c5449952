//! Running a component's statement: its grant, then its time limit.
//!
//! A component statement is untrusted and bounded by its request, so before
//! any engine sees it the grant picks the pool it may run on and the
//! request's deadline caps how long it may take; both engines then receive
//! the same checked [`Statement`](crate::guard::Statement).

use std::time::{Duration, Instant};

use crate::database::{Backend, Database};
use crate::error::SqlError;
use crate::guard::{self, Access, SqlGrant, Statement};
use crate::value::{RowSet, SqlValue};

/// Who runs a component statement: the grant, and when its request must be
/// done (the statement stops then, or at the host-wide timeout if sooner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Picks the pool the statement runs on; [`SqlGrant::None`] refuses it.
    pub grant: SqlGrant,
    /// When the caller's request must be done; `None` leaves only the
    /// host-wide statement timeout.
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

impl Database {
    /// Runs a component's statement and returns at most the row limit.
    /// A read-write grant may use it for `INSERT ... RETURNING`.
    pub async fn query(
        &self,
        caller: impl Into<Caller>,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<RowSet, SqlError> {
        let statement = self.checked(caller.into(), Access::Read, statement, params)?;
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
        let statement = self.checked(caller.into(), Access::Write, statement, params)?;
        match &self.backend {
            Backend::Postgres(pools) => pools.execute(&statement).await,
            Backend::Sqlite(pools) => pools.execute(&statement).await,
        }
    }

    /// `text` checked against the caller's grant for `access`, with the
    /// time it may run.
    fn checked<'a>(
        &self,
        caller: Caller,
        access: Access,
        text: &'a str,
        params: &'a [SqlValue],
    ) -> Result<Statement<'a>, SqlError> {
        Ok(Statement {
            text,
            params,
            mode: guard::check(caller.grant, access)?,
            timeout: self.timeout(caller.deadline)?,
        })
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
