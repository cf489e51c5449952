//! SQLite: an app file for component tables and a host file for host state.
//!
//! `STRATA_SQLITE_PATH` (say `strata.db`) is the app file: `reports` and
//! whatever read-write components create. The host file beside it
//! (`strata.host.db`, see [`open::host_file`]) holds the deployment log and the
//! component blobs. The host pool opens the app file and attaches the host
//! file as schema `strata`, so host statements name `strata.deployments`
//! on both engines. The component pools open the app file alone and can
//! never attach another ([`policy`]), so the host file is out of their
//! reach whatever they send.
//!
//! Component connections: read-only ones are opened `mode=ro` with
//! `query_only` on; both kinds get the authorizer and limits of
//! [`policy`]. Each call first compiles the statement on its connection
//! and refuses a second statement ([`policy::check_statement`]), then
//! runs it under a progress handler that stops it at its timeout, or as
//! soon as the caller stops waiting (the request hit its deadline and its
//! future was dropped); otherwise sqlx's worker thread would finish the
//! statement for nobody. The handler is removed when the connection goes
//! back to its pool.
//!
//! Upgrade: before the host file existed, the deployment log and blobs
//! lived in the app file. At start their rows are copied into the host
//! file (idempotently, ids kept), then app migration 0004 drops them.

mod error;
mod open;
mod policy;
mod upgrade;
mod watch;

use sqlx::Executor;
use sqlx::sqlite::SqlitePool;

use crate::guard::Mode;
use crate::guard::Statement;
use crate::{RowSet, SqlError, SqlValue, value};
use error::error;
use watch::Watch;

/// The pools of one SQLite installation.
pub(crate) struct Pools {
    pub(super) host: SqlitePool,
    pub(super) read_only: SqlitePool,
    pub(super) read_write: SqlitePool,
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
            value::decode_sqlite,
            usize::MAX,
            error
        ))
    }

    pub(crate) async fn host_transaction(
        &self,
        statements: &[(&str, Vec<SqlValue>)],
    ) -> Result<Vec<RowSet>, SqlError> {
        let mut tx = self.host.begin().await.map_err(error)?;
        let mut results = Vec::with_capacity(statements.len());
        for (text, params) in statements {
            let query = bind_all!(sqlx::query(text), params);
            results.push(collect_rows!(
                query.fetch(&mut *tx),
                value::decode_sqlite,
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

    fn component(&self, mode: Mode) -> &SqlitePool {
        match mode {
            Mode::ReadOnly => &self.read_only,
            Mode::ReadWrite => &self.read_write,
        }
    }

    pub(crate) async fn query(
        &self,
        statement: &Statement<'_>,
        limit: usize,
    ) -> Result<RowSet, SqlError> {
        let mut conn = self
            .component(statement.mode)
            .acquire()
            .await
            .map_err(error)?;
        let watch = Watch::arm(&mut conn, statement).await?;
        let outcome = async {
            let query = bind_all!(sqlx::query(statement.text), statement.params);
            Ok::<_, SqlError>(collect_rows!(
                query.fetch(&mut *conn),
                value::decode_sqlite,
                limit,
                error
            ))
        }
        .await;
        watch.finish(outcome, statement)
    }

    pub(crate) async fn execute(&self, statement: &Statement<'_>) -> Result<u64, SqlError> {
        let mut conn = self
            .component(statement.mode)
            .acquire()
            .await
            .map_err(error)?;
        let watch = Watch::arm(&mut conn, statement).await?;
        let outcome = async {
            let query = bind_all!(sqlx::query(statement.text), statement.params);
            Ok::<_, SqlError>(
                query
                    .execute(&mut *conn)
                    .await
                    .map_err(error)?
                    .rows_affected(),
            )
        }
        .await;
        watch.finish(outcome, statement)
    }
}
