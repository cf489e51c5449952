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
//! way back to the pool ([`RESET_SESSION`]). `DISCARD ALL` would do the
//! same but also drop sqlx's cached prepared statements, so its parts are
//! listed one by one instead.

mod roles;

use std::str::FromStr;

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use roles::component_role_names;

use super::guard::Mode;
use super::{OpenError, PoolSettings, RowSet, SqlError, SqlValue, Statement, value};

/// What a component session may have changed that outlives its transaction.
const RESET_SESSION: &str = "RESET ALL; CLOSE ALL; UNLISTEN *; \
     SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

/// The pools of one Postgres database.
pub(crate) struct Pools {
    host: PgPool,
    /// The component pools, or why there are none (roles not provisioned
    /// and no component needed them at start).
    components: Result<ComponentPools, String>,
}

struct ComponentPools {
    read_only: PgPool,
    read_write: PgPool,
}

/// Maps a Postgres error to what the guest sees.
fn error(error: sqlx::Error) -> SqlError {
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

impl Pools {
    /// Connects, migrates and provisions the component roles. Failing to
    /// provision them is fatal only when `settings` requires them.
    pub(crate) async fn open(url: &str, settings: &PoolSettings) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url).map_err(OpenError::Connect)?;
        let host = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("./migrations/postgres").run(&host).await?;
        let components = match roles::provision(&host).await {
            Ok(logins) => Ok(ComponentPools {
                read_only: component_pool(&options, &logins.read_only, settings),
                read_write: component_pool(&options, &logins.read_write, settings),
            }),
            Err(e) if settings.require_component_roles => {
                return Err(OpenError::Roles(e.to_string()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "no component has an SQL grant; component SQL stays unavailable");
                Err(e.to_string())
            }
        };
        Ok(Self { host, components })
    }

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

/// Says which deadline stopped a statement.
fn stopped(error: SqlError, statement: &Statement<'_>) -> SqlError {
    match error {
        SqlError::Timeout(_) => statement.timed_out(),
        other => other,
    }
}

/// Opens the statement's transaction, read-only for a read-only grant,
/// with the statement's timeout local to it: one round trip.
async fn begin(
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
async fn finish(tx: sqlx::Transaction<'_, sqlx::Postgres>, mode: Mode) -> Result<(), SqlError> {
    match mode {
        Mode::ReadOnly => tx.rollback().await,
        Mode::ReadWrite => tx.commit().await,
    }
    .map_err(error)
}

/// A lazily connecting pool that logs in as `login` and resets every
/// connection it gets back.
fn component_pool(
    options: &PgConnectOptions,
    login: &roles::Login,
    settings: &PoolSettings,
) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .after_release(|conn, _| {
            Box::pin(async move {
                conn.execute(RESET_SESSION).await?;
                Ok(true)
            })
        })
        .connect_lazy_with(
            options
                .clone()
                .username(&login.role)
                .password(&login.password)
                .application_name(&format!("strata component ({})", login.grant)),
        )
}
