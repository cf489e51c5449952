//! SQLite: an app file for component tables and a host file for host state.
//!
//! `STRATA_SQLITE_PATH` (say `strata.db`) is the app file: `reports` and
//! whatever read-write components create. The host file beside it
//! (`strata.host.db`, see [`host_file`]) holds the deployment log and the
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

mod policy;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};
use sqlx::{Connection, Executor};

use super::guard::Mode;
use super::{OpenError, PoolSettings, RowSet, SqlError, SqlValue, Statement, value};

/// Virtual machine steps between two deadline checks: a check is a clock
/// read, a few thousand steps are a few microseconds of work.
const PROGRESS_STEPS: i32 = 1000;

/// The host file for app file `path`: `strata.db` -> `strata.host.db`.
pub(crate) fn host_file(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "strata".into());
    let name = match path.extension() {
        Some(ext) => format!("{stem}.host.{}", ext.to_string_lossy()),
        None => format!("{stem}.host"),
    };
    path.with_file_name(name)
}

/// Maps an SQLite result code (primary or extended) and message.
fn engine_error(code: i32, message: String) -> SqlError {
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
fn error(error: sqlx::Error) -> SqlError {
    let sqlx::Error::Database(db) = &error else {
        return SqlError::from(error);
    };
    if let Some(constraint) = SqlError::constraint(db.as_ref()) {
        return constraint;
    }
    let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
    engine_error(code, db.message().to_string())
}

/// The pools of one SQLite installation.
pub(crate) struct Pools {
    host: SqlitePool,
    read_only: SqlitePool,
    read_write: SqlitePool,
}

impl Pools {
    /// Migrates both files (moving host rows out of an older app file),
    /// then opens the host pool and the (lazy) component pools.
    pub(crate) async fn open(path: &Path, settings: &PoolSettings) -> Result<Self, OpenError> {
        let host_path = host_file(path);
        let host_name = host_path
            .to_str()
            .ok_or_else(|| {
                OpenError::Setup(sqlx::Error::Configuration(
                    format!("the SQLite path {} is not UTF-8", host_path.display()).into(),
                ))
            })?
            .to_string();
        let base = SqliteConnectOptions::new().busy_timeout(settings.acquire_timeout);
        let writable = |file: &Path| {
            base.clone()
                .filename(file)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
        };

        let mut conn = SqliteConnection::connect_with(&writable(&host_path))
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("./migrations/sqlite-host")
            .run(&mut conn)
            .await?;
        conn.close().await.map_err(OpenError::Connect)?;

        let mut conn = SqliteConnection::connect_with(&writable(path))
            .await
            .map_err(OpenError::Connect)?;
        move_host_rows(&mut conn, &host_name)
            .await
            .map_err(OpenError::Setup)?;
        sqlx::migrate!("./migrations/sqlite").run(&mut conn).await?;
        conn.close().await.map_err(OpenError::Connect)?;

        let host = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(move |conn, _| {
                let host_name = host_name.clone();
                Box::pin(async move {
                    sqlx::query("ATTACH DATABASE ?1 AS strata")
                        .bind(host_name)
                        .execute(conn)
                        .await
                        .map(drop)
                })
            })
            .connect_with(writable(path))
            .await
            .map_err(OpenError::Connect)?;
        let app = base.filename(path);
        Ok(Self {
            host,
            read_only: component_pool(
                app.clone().read_only(true).pragma("query_only", "ON"),
                Mode::ReadOnly,
                settings,
            ),
            read_write: component_pool(app, Mode::ReadWrite, settings),
        })
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
            value::decode_sqlite,
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

/// Copies the deployment log and blobs an older layout kept in the app
/// file into the host file, keeping ids; running it again changes nothing.
async fn move_host_rows(conn: &mut SqliteConnection, host_file: &str) -> Result<(), sqlx::Error> {
    let legacy: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM main.sqlite_master WHERE type = 'table' AND name = 'deployments'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if legacy == 0 {
        return Ok(());
    }
    sqlx::query("ATTACH DATABASE ?1 AS strata")
        .bind(host_file)
        .execute(&mut *conn)
        .await?;
    let mut tx = conn.begin().await?;
    tx.execute(
        "INSERT OR IGNORE INTO strata.component_blobs (hash, bytes, size, created_at) \
         SELECT hash, bytes, size, created_at FROM main.component_blobs",
    )
    .await?;
    tx.execute(
        "INSERT OR IGNORE INTO strata.deployments (id, component, action, hash, source, created_at) \
         SELECT id, component, action, hash, source, created_at FROM main.deployments ORDER BY id",
    )
    .await?;
    tx.commit().await?;
    conn.execute("DETACH DATABASE strata").await?;
    tracing::info!("moved the deployment log and component blobs into the host file");
    Ok(())
}

/// A lazily opened pool of component connections for `mode`.
fn component_pool(
    options: SqliteConnectOptions,
    mode: Mode,
    settings: &PoolSettings,
) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                let mut handle = conn.lock_handle().await?;
                policy::install(&mut handle, mode).map_err(|e| sqlx::Error::Configuration(e.into()))
            })
        })
        .after_release(|conn, _| {
            Box::pin(async move {
                let mut handle = conn.lock_handle().await?;
                handle.remove_progress_handler();
                Ok(policy::is_idle(&mut handle))
            })
        })
        .connect_lazy_with(options)
}

/// Stops a running statement at its deadline or when dropped.
struct Watch {
    state: Arc<WatchState>,
}

#[derive(Default)]
struct WatchState {
    /// The caller stopped waiting (its future was dropped).
    abandoned: AtomicBool,
    /// The handler stopped the statement.
    stopped: AtomicBool,
}

impl Watch {
    /// Checks the statement and installs the progress handler that stops it.
    async fn arm(conn: &mut SqliteConnection, statement: &Statement<'_>) -> Result<Self, SqlError> {
        let mut handle = conn.lock_handle().await.map_err(error)?;
        policy::check_statement(&mut handle, statement.text, statement.mode)?;
        let state = Arc::new(WatchState::default());
        let deadline = Instant::now() + statement.timeout;
        let seen = state.clone();
        handle.set_progress_handler(PROGRESS_STEPS, move || {
            let go_on = !seen.abandoned.load(Ordering::Relaxed) && Instant::now() < deadline;
            if !go_on {
                seen.stopped.store(true, Ordering::Relaxed);
            }
            go_on
        });
        Ok(Self { state })
    }

    /// The statement's outcome, told apart from a stop at the deadline.
    fn finish<T>(
        self,
        outcome: Result<T, SqlError>,
        statement: &Statement<'_>,
    ) -> Result<T, SqlError> {
        match outcome {
            Err(_) if self.state.stopped.load(Ordering::Relaxed) => Err(statement.timed_out()),
            other => other,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.state.abandoned.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::host_file;
    use std::path::Path;

    #[test]
    fn the_host_file_sits_beside_the_app_file() {
        assert_eq!(
            host_file(Path::new("strata.db")),
            Path::new("strata.host.db")
        );
        assert_eq!(
            host_file(Path::new("/var/lib/app/data.sqlite")),
            Path::new("/var/lib/app/data.host.sqlite")
        );
        assert_eq!(host_file(Path::new("db")), Path::new("db.host"));
    }
}
