//! Postgres: one pool per kind of caller, each logging in as its own user.
//!
//! The host pool logs in as `DATABASE_URL`'s user, which owns the schema,
//! runs the migrations and keeps host state in the `strata` schema. The
//! component pools log in as two roles made for this database ([`roles`]):
//! a separate login rather than `SET ROLE`, because a session whose login
//! user is a superuser can always `RESET ROLE` (or `set_config('role', ...)`)
//! its way back.
//!
//! Each component statement runs in its own transaction with
//! `SET LOCAL statement_timeout`, so the server stops it at its deadline
//! even when nobody waits for it any more. A read-only statement runs in a
//! `READ ONLY` transaction that is rolled back (so whatever it set with
//! `set_config` is undone too); a read-write one commits. The extended
//! query protocol, which every component statement uses, refuses a string
//! with more than one statement.
//!
//! Some session state survives a commit: `set_config(..., false)`, `LISTEN`,
//! `WITH HOLD` cursors, session advisory locks (a component holding sqlx's
//! migration lock would stall every new instance's start), temporary
//! tables and sequence caches. Every component connection is reset on its
//! way back to the pool ([`open::RESET_SESSION`]). `DISCARD ALL` would do the
//! same but also drop sqlx's cached prepared statements, so its parts are
//! listed one by one instead.

mod error;
mod open;
mod roles;
mod transaction;

use sqlx::Executor;
use sqlx::postgres::PgPool;

pub use roles::component_role_names;

use crate::guard::Mode;
use crate::guard::Statement;
use crate::{RowSet, SqlError, SqlValue, value};
use error::error;
use transaction::{begin, finish, stopped};

/// The advisory lock every host transaction holds: instances sharing the
/// database commit them one at a time, so ids follow commit order (a
/// deploy's log rows are never interleaved with another's).
const HOST_TRANSACTION_LOCK: i64 = 0x5354_5241_5441_0001;

/// The pools of one Postgres database.
pub(crate) struct Pools {
    pub(super) host: PgPool,
    /// The component pools, or why there are none (roles not provisioned
    /// and no component needed them at start).
    pub(super) components: Result<ComponentPools, String>,
}

pub(super) struct ComponentPools {
    pub(super) read_only: PgPool,
    pub(super) read_write: PgPool,
}

impl Pools {
    pub(crate) async fn ping(&self) -> Result<(), SqlError> {
        self.host.execute("SELECT 1").await.map(drop).map_err(error)
    }

    pub(crate) async fn host_query(
        &self,
        text: &str,
        params: &[SqlValue],
    ) -> Result<RowSet, SqlError> {
        let query = bind_all!(sqlx::query(text), params);
        Ok(collect_rows!(
            query.fetch(&self.host),
            value::decode_pg,
            usize::MAX,
            error
        ))
    }

    pub(crate) async fn host_transaction(
        &self,
        statements: &[(&str, Vec<SqlValue>)],
    ) -> Result<Vec<RowSet>, SqlError> {
        let mut tx = self.host.begin().await.map_err(error)?;
        // A stalled holder must not stop every instance's deploys for good.
        sqlx::query("SET LOCAL lock_timeout = '10s'")
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(HOST_TRANSACTION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        let mut results = Vec::with_capacity(statements.len());
        for (text, params) in statements {
            let query = bind_all!(sqlx::query(text), params);
            results.push(collect_rows!(
                query.fetch(&mut *tx),
                value::decode_pg,
                usize::MAX,
                error
            ));
        }
        tx.commit().await.map_err(error)?;
        Ok(results)
    }

    pub(crate) async fn host_execute(
        &self,
        text: &str,
        params: &[SqlValue],
    ) -> Result<u64, SqlError> {
        let query = bind_all!(sqlx::query(text), params);
        Ok(query
            .execute(&self.host)
            .await
            .map_err(error)?
            .rows_affected())
    }

    fn component(&self, mode: Mode) -> Result<&PgPool, SqlError> {
        let pools = self
            .components
            .as_ref()
            .map_err(|why| SqlError::Unavailable(format!("component SQL is not set up: {why}")))?;
        Ok(match mode {
            Mode::ReadOnly => &pools.read_only,
            Mode::ReadWrite => &pools.read_write,
        })
    }

    pub(crate) async fn query(
        &self,
        statement: &Statement<'_>,
        limit: usize,
    ) -> Result<RowSet, SqlError> {
        let pool = self.component(statement.mode)?;
        let outcome = async {
            let mut tx = begin(pool, statement).await?;
            let query = bind_all!(sqlx::query(statement.text), statement.params);
            let set = collect_rows!(query.fetch(&mut *tx), value::decode_pg, limit, error);
            finish(tx, statement.mode).await?;
            Ok::<_, SqlError>(set)
        }
        .await;
        outcome.map_err(|e| stopped(e, statement))
    }

    pub(crate) async fn execute(&self, statement: &Statement<'_>) -> Result<u64, SqlError> {
        let pool = self.component(statement.mode)?;
        let outcome = async {
            let mut tx = begin(pool, statement).await?;
            let query = bind_all!(sqlx::query(statement.text), statement.params);
            let affected = query
                .execute(&mut *tx)
                .await
                .map_err(error)?
                .rows_affected();
            finish(tx, statement.mode).await?;
            Ok::<_, SqlError>(affected)
        }
        .await;
        outcome.map_err(|e| stopped(e, statement))
    }
}
