//! Opening an installation: two files, migrated, and three pools.
//!
//! Host state must sit where component connections can never reach it, so
//! opening is where the host file is placed, attached only to the host
//! pool, and where each component pool gets its policy installed on every
//! connection before it is lent out.

use std::path::{Path, PathBuf};

use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};

use super::{Pools, policy, upgrade};
use crate::guard::Mode;
use crate::{OpenError, PoolSettings};

/// The host file for app file `path`: `strata.db` -> `strata.host.db`.
pub(super) fn host_file(path: &Path) -> PathBuf {
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
        upgrade::move_host_rows(&mut conn, &host_name)
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
